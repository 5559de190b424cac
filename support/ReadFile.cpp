//===- ReadFile.cpp - Whole-file reads, plain or gzip-compressed ------------------------------===//
//
// Plain files go through POSIX read; compressed ones through zlib's gz API, which also reads
// uncompressed files unchanged, so one call serves "x.idx" and "x.idx.gz".
//
//===----------------------------------------------------------------------------------------===//
#include "support/ReadFile.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace nnc {

Result<std::string> readFile(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error{fmt::format("cannot open '{}': {}", path, std::strerror(errno))};
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Error{fmt::format("cannot read '{}': it is a directory", path)};
  }
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return Error{fmt::format("cannot read '{}': {}", path, why)};
    }
    if (n == 0)
      break;
    out.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> readMaybeGzipFile(const std::string &path) {
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    return Error{fmt::format("cannot open '{}': {}", path,
                             errno ? std::strerror(errno) : "out of memory")};
  std::string out;
  char chunk[1 << 16];
  for (;;) {
    int n = gzread(f, chunk, sizeof chunk);
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(f, &code);
      if (code == Z_ERRNO)
        why = std::strerror(errno);
      gzclose(f);
      return Error{fmt::format("'{}': byte {} of the decompressed data: {}", path, out.size(), why)};
    }
    if (n == 0)
      break;
    out.append(chunk, static_cast<size_t>(n));
  }
  // gzread returns 0 both at the end and on a stream cut short; gzerror tells them apart.
  int code = 0;
  const char *why = gzerror(f, &code);
  std::string message = code != Z_OK && code != Z_STREAM_END ? why : "";
  gzclose(f);
  if (!message.empty())
    return Error{fmt::format("'{}': byte {} of the decompressed data: {}", path, out.size(), message)};
  return out;
}

} // namespace nnc
