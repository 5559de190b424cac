//===- ReadFile.h - Whole-file reads, plain or gzip-compressed --------------------------------===//
//
// Loaders parse from memory: they read the whole file first, so a header that claims more data
// than there is can be checked against the real size before anything is allocated for it.
//
// Every input is bounded. Only a regular file is read (a directory, device, FIFO or socket is
// an Error naming it), except "-", which reads standard input where a caller allows it; and
// reading stops with an Error at a limit (kMaxInputBytes unless the caller gives another), so
// neither /dev/zero nor a gzip bomb can consume memory without end.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <string>

namespace nnc {

/// The most bytes any input file (or its decompressed content) may have: 4 GiB. Data sets
/// larger than that do not fit nnc's in-memory Dataset anyway.
inline constexpr uint64_t kMaxInputBytes = uint64_t(4) << 30;
/// The most bytes of a model's source text (.nn or .nnir): 64 MiB.
inline constexpr uint64_t kMaxSourceBytes = uint64_t(64) << 20;

struct ReadOptions {
  uint64_t maxBytes = kMaxInputBytes; ///< an Error beyond this many (decompressed) bytes
  bool allowStdin = false;            ///< "-" reads standard input (a pipe or terminal is fine)
};

/// The bytes of the regular file at `path`, or an Error naming it ("cannot open 'x': No such
/// file...", "cannot read 'x': it is a character device, not a regular file", "'x' is larger
/// than the limit of N bytes").
Result<std::string> readFile(const std::string &path, ReadOptions options = {});

/// The decompressed bytes of the gzip file at `path`; a file that is not gzip-compressed is read
/// as it is (zlib's transparent mode). A corrupt or truncated stream is an Error, and so is
/// decompressed content beyond options.maxBytes.
Result<std::string> readMaybeGzipFile(const std::string &path, ReadOptions options = {});

/// Why `path` cannot be read as an input file (empty path, missing, not a regular file), or
/// success. readFile checks the same on the opened descriptor.
Result<void> checkInputPath(const std::string &path, bool allowStdin = false);

} // namespace nnc
