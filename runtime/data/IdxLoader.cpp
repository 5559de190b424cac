//===- IdxLoader.cpp - MNIST-style IDX files and the built-in Fashion-MNIST ------------------===//
//
// The whole (decompressed) file is read first; the header is then checked against its real
// length before any buffer is sized from the header.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/IdxLoader.h"

#include "support/ReadFile.h"

#include <algorithm>
#include <fmt/format.h>
#include <sys/stat.h>

namespace nnc {

static uint32_t bigEndian32(const std::string &bytes, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

Result<IdxArray> readIdx(const std::string &path) {
  auto bytes = readMaybeGzipFile(path);
  if (!bytes)
    return bytes.error();
  const std::string &s = *bytes;
  if (s.size() < 4)
    return Error{fmt::format("{}: byte {}: the file ends inside the 4-byte IDX magic number", path,
                             s.size())};
  uint32_t magic = bigEndian32(s, 0);
  if ((magic >> 16) != 0)
    return Error{fmt::format("{}: byte 0: bad IDX magic number 0x{:08X}: expected 0x000008NN", path,
                             magic)};
  uint32_t type = (magic >> 8) & 0xFF, rank = magic & 0xFF;
  if (type != 0x08)
    return Error{fmt::format("{}: byte 2: IDX element type 0x{:02X} is not supported (only 0x08, "
                             "unsigned byte)", path, type)};
  if (rank < 1 || rank > 4)
    return Error{fmt::format("{}: byte 3: IDX rank {} is not supported (1 to 4)", path, rank)};
  size_t headerSize = 4 + 4 * rank;
  if (s.size() < headerSize)
    return Error{fmt::format("{}: byte {}: the file ends inside the header of {} bytes", path,
                             s.size(), headerSize)};
  IdxArray out;
  uint64_t count = 1;
  for (uint32_t i = 0; i < rank; ++i) {
    uint32_t d = bigEndian32(s, 4 + 4 * i);
    if (d == 0)
      return Error{fmt::format("{}: byte {}: dimension {} is zero", path, 4 + 4 * i, i)};
    if (count > s.size() / d) // count * d > s.size(), without overflow
      return Error{fmt::format("{}: byte {}: the dimensions need more data than the file has ({} "
                               "bytes)", path, 4 + 4 * i, s.size())};
    count *= d;
    out.dims.push_back(d);
  }
  uint64_t have = s.size() - headerSize;
  if (have < count)
    return Error{fmt::format("{}: byte {}: truncated: the dimensions need {} data bytes after the "
                             "{}-byte header, the file has {}", path, s.size(), count, headerSize,
                             have)};
  if (have > count)
    return Error{fmt::format("{}: byte {}: {} unexpected bytes after the {} data bytes", path,
                             headerSize + count, have - count, count)};
  out.data.assign(s.begin() + static_cast<ptrdiff_t>(headerSize), s.end());
  return out;
}

Result<Dataset> loadIdxPair(const std::string &images, const std::string &labels) {
  auto x = readIdx(images);
  if (!x)
    return x.error();
  if (x->dims.size() != 3)
    return Error{fmt::format("{}: byte 0: expected image magic 0x00000803 (3 dimensions), found "
                             "{} dimensions", images, x->dims.size())};
  auto y = readIdx(labels);
  if (!y)
    return y.error();
  if (y->dims.size() != 1)
    return Error{fmt::format("{}: byte 0: expected label magic 0x00000801 (1 dimension), found {} "
                             "dimensions", labels, y->dims.size())};
  if (x->dims[0] != y->dims[0])
    return Error{fmt::format("{} has {} images but {} has {} labels", images, x->dims[0], labels,
                             y->dims[0])};
  Dataset ds;
  ds.featureShape = {1, x->dims[1], x->dims[2]};
  ds.features.assign(x->data.begin(), x->data.end());
  ds.labelKind = LabelKind::Class;
  ds.classLabels.assign(y->data.begin(), y->data.end());
  ds.featureSource = images;
  ds.labelSource = labels;
  return ds;
}

Result<Dataset> loadFashionMnist(Split split, std::string_view dir) {
  std::string prefix = fmt::format("{}/{}", dir, split == Split::Train ? "train" : "t10k");
  std::string images = prefix + "-images-idx3-ubyte.gz", labels = prefix + "-labels-idx1-ubyte.gz";
  for (const std::string &f : {images, labels}) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0)
      return Error{fmt::format("built-in data set 'fashion-mnist': {} not found (install the "
                               "package dataset-fashion-mnist)", f)};
  }
  auto ds = loadIdxPair(images, labels);
  if (!ds)
    return ds;
  ds->classNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (auto ok = ds->validate(); !ok)
    return Error{fmt::format("{}: {}", labels, ok.message())};
  return ds;
}

Result<Dataset> loadBuiltinDataset(std::string_view name, Split split) {
  if (name == "fashion-mnist")
    return loadFashionMnist(split);
  return Error{fmt::format("unknown built-in data set '{}' (known: fashion-mnist)", name)};
}

} // namespace nnc
