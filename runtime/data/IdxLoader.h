//===- IdxLoader.h - MNIST-style IDX files and the built-in Fashion-MNIST --------------------===//
//
// IDX is the format of MNIST and Fashion-MNIST: a big-endian magic 0x000008NN (NN = number of
// dimensions, element type 0x08 = unsigned byte), NN big-endian uint32 dimensions, then the
// bytes in C order. Files may be gzip-compressed. Errors name the file and the byte offset,
// counted in the decompressed stream for a .gz file.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"

#include <string>
#include <string_view>

namespace nnc {

/// The content of one IDX file of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

/// Reads an IDX file (plain or .gz) with element type unsigned byte and 1 to 4 dimensions,
/// checking that the data is exactly as long as the dimensions say.
Result<IdxArray> readIdx(const std::string &path);

/// Loads an MNIST-layout pair: `images` with magic 0x00000803 (N, H, W) and `labels` with magic
/// 0x00000801 (N). Features have shape {1, H, W} and keep the raw pixel values 0..255 (see
/// scaleFeatures in Preprocess.h); labels are class indices.
Result<Dataset> loadIdxPair(const std::string &images, const std::string &labels);

enum class Split : uint8_t { Train, Test };

/// Where Debian's dataset-fashion-mnist package puts its files.
inline constexpr std::string_view kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's training (60000) or test (10000) images from `dir`, with its class names.
/// A missing file is an Error that says to install the package dataset-fashion-mnist.
Result<Dataset> loadFashionMnist(Split split, std::string_view dir = kFashionMnistDir);

/// A data set known by name: "fashion-mnist" is the only one so far.
Result<Dataset> loadBuiltinDataset(std::string_view name, Split split);

} // namespace nnc
