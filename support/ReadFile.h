//===- ReadFile.h - Whole-file reads, plain or gzip-compressed --------------------------------===//
//
// Loaders parse from memory: they read the whole file first, so a header that claims more data
// than there is can be checked against the real size before anything is allocated for it.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <string>

namespace nnc {

/// The bytes of the file at `path`, or an Error naming it ("cannot open 'x': No such file...").
Result<std::string> readFile(const std::string &path);

/// The decompressed bytes of the gzip file at `path`; a file that is not gzip-compressed is read
/// as it is (zlib's transparent mode). A corrupt or truncated stream is an Error.
Result<std::string> readMaybeGzipFile(const std::string &path);

} // namespace nnc
