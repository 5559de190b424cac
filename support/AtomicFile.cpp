//===- AtomicFile.cpp - Replace a file's content all at once ---------------------------------===//
//
// POSIX steps: mkstemp beside the target, write all, fchmod, fsync, close, rename, then fsync of
// the directory. Each failure unlinks the temporary file and reports the step and errno.
//
//===----------------------------------------------------------------------------------------===//
#include "support/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace nnc {

namespace {

std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Error failure(const std::string &path, const char *step) {
  return Error{fmt::format("cannot write '{}': {} failed: {}", path, step, std::strerror(errno))};
}

bool writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

} // namespace

Result<void> writeFileAtomically(const std::string &path, std::string_view bytes) {
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0)
    return failure(path, "creating a temporary file");
  const char *tmp = name.data();

  auto abandon = [&](const char *step) {
    Error e = failure(path, step);
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmp);
    return e;
  };

  struct stat old {};
  mode_t mode = ::stat(path.c_str(), &old) == 0 ? (old.st_mode & 07777) : 0644;
  if (!writeAll(fd, bytes))
    return abandon("write");
  if (::fchmod(fd, mode) != 0)
    return abandon("fchmod");
  if (::fsync(fd) != 0)
    return abandon("fsync");
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0)
    return abandon("close");
  if (::rename(tmp, path.c_str()) != 0)
    return abandon("rename");

  // Make the rename durable. Some file systems cannot fsync a directory (EINVAL): the data is
  // already in place then, so only a real I/O error counts.
  int dir = ::open(directoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    int synced = ::fsync(dir);
    int err = errno;
    ::close(dir);
    if (synced != 0 && err == EIO) {
      errno = err;
      return failure(path, "fsync of the directory");
    }
  }
  return {};
}

} // namespace nnc
