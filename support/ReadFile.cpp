//===- ReadFile.cpp - Whole-file reads, plain or gzip-compressed ------------------------------===//
//
// Plain files go through POSIX read; compressed ones through zlib's gz API, which also reads
// uncompressed files unchanged, so one call serves "x.idx" and "x.idx.gz". Both open the file
// with O_NONBLOCK (a FIFO must not block the open), check with fstat that the descriptor is a
// regular file, and count the bytes against the limit as they arrive.
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

namespace {

/// "a directory", "a character device", ... for a file that is not regular.
const char *kindOf(mode_t mode) {
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISCHR(mode))
    return "a character device";
  if (S_ISBLK(mode))
    return "a block device";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

Error notRegular(const std::string &path, mode_t mode) {
  if (S_ISDIR(mode))
    return Error{fmt::format("cannot read '{}': it is a directory", path)};
  return Error{fmt::format("cannot read '{}': it is {}, not a regular file", path, kindOf(mode))};
}

Error tooLarge(const std::string &path, uint64_t limit, const char *what) {
  return Error{fmt::format("cannot read '{}': its {} exceeds the limit of {} bytes", path, what, limit)};
}

/// Opens `path` for reading and checks that it is a regular file no larger than the limit
/// ("-" with allowStdin: standard input, whatever it is). Returns the descriptor.
Result<int> openInput(const std::string &path, const ReadOptions &options) {
  if (path.empty())
    return Error{"an empty file name"};
  if (path == "-" && options.allowStdin) { // a pipe or a terminal: bounded by the limit as it is read
    int fd = ::dup(STDIN_FILENO);
    if (fd < 0)
      return Error{fmt::format("cannot read standard input: {}", std::strerror(errno))};
    return fd;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return Error{fmt::format("cannot open '{}': {}", path, std::strerror(errno))};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Error{fmt::format("cannot read '{}': {}", path, why)};
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return notRegular(path, st.st_mode);
  }
  if (static_cast<uint64_t>(st.st_size) > options.maxBytes) {
    ::close(fd);
    return Error{fmt::format("cannot read '{}': its size, {} bytes, exceeds the limit of {} bytes", path,
                             static_cast<uint64_t>(st.st_size), options.maxBytes)};
  }
  // Back to blocking reads: the descriptor is a regular file, O_NONBLOCK only guarded the open.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

} // namespace

Result<void> checkInputPath(const std::string &path, bool allowStdin) {
  if (path.empty())
    return Error{"an empty file name"};
  if (path == "-" && allowStdin)
    return {};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Error{fmt::format("cannot open '{}': {}", path, std::strerror(errno))};
  if (!S_ISREG(st.st_mode))
    return notRegular(path, st.st_mode);
  return {};
}

Result<std::string> readFile(const std::string &path, ReadOptions options) {
  auto opened = openInput(path, options);
  if (!opened)
    return opened.error();
  int fd = *opened;
  std::string out;
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
    if (out.size() + static_cast<size_t>(n) > options.maxBytes) { // a file that grows, or stdin
      ::close(fd);
      return tooLarge(path, options.maxBytes, "content");
    }
    out.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> readMaybeGzipFile(const std::string &path, ReadOptions options) {
  auto opened = openInput(path, options);
  if (!opened)
    return opened.error();
  errno = 0;
  gzFile f = gzdopen(*opened, "rb"); // owns the descriptor from here on
  if (!f) {
    ::close(*opened);
    return Error{fmt::format("cannot open '{}': {}", path, errno ? std::strerror(errno) : "out of memory")};
  }
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
    if (out.size() + static_cast<size_t>(n) > options.maxBytes) {
      gzclose(f);
      return tooLarge(path, options.maxBytes, "decompressed content");
    }
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
