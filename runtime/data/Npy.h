//===- Npy.h - NumPy .npy arrays ---------------------------------------------------------------===//
//
// The .npy format: magic "\x93NUMPY", version byte pair (1.0, 2.0 or 3.0), a little-endian header
// length (2 bytes for 1.0, 4 bytes after), a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces to a multiple of
// 64 bytes and ending in '\n', then the raw elements. Supported dtypes: <f4 <f8 <i4 <i8 |u1, in
// C order. Errors name the file and the byte offset.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"
#include "runtime/data/HostTensor.h"

#include <string>
#include <string_view>

namespace nnc {

/// Reads the .npy file at `path`.
Result<HostTensor> readNpy(const std::string &path);
/// Parses .npy `bytes` as if read from a file named `name` (used in error messages).
Result<HostTensor> parseNpy(std::string_view bytes, std::string_view name);

/// The .npy encoding of `t` (version 1.0, or 2.0 when the header needs more than 65535 bytes).
std::string encodeNpy(const HostTensor &t);
/// Writes `t` to `path` atomically.
Result<void> writeNpy(const std::string &path, const HostTensor &t);

/// A data set from two .npy files: `features` of shape (N, ...) of any supported dtype
/// (converted to float), and `labels` of shape (N,) with an integer dtype (class indices) or of
/// shape (N, ...) with a float dtype (targets).
Result<Dataset> loadNpyPair(const std::string &features, const std::string &labels);

} // namespace nnc
