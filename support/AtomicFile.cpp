//===- AtomicFile.cpp - Replace a file's content all at once ---------------------------------===//
//
// POSIX steps: mkstemp beside the target, write all, fchmod, fsync, close, rename, then fsync of
// the directory. Each failure unlinks the temporary file and reports the step and errno.
//
//===----------------------------------------------------------------------------------------===//
#include "support/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
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

std::string baseOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

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

} // namespace

Result<void> checkOutputPath(const std::string &path) {
  if (path.empty())
    return Error{"an empty output file name"};
  if (path.back() == '/')
    return Error{fmt::format("cannot write '{}': it names a directory, not a file", path)};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Error{fmt::format("cannot write '{}': it is {}, which nnc does not replace; "
                             "name a regular file", path, kindOf(st.st_mode))};
  std::string dir = directoryOf(path);
  struct stat ds {};
  if (::stat(dir.c_str(), &ds) != 0)
    return Error{fmt::format("cannot write '{}': directory '{}': {}", path, dir, std::strerror(errno))};
  if (!S_ISDIR(ds.st_mode))
    return Error{fmt::format("cannot write '{}': '{}' is not a directory", path, dir)};
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return Error{fmt::format("cannot write '{}': directory '{}': {}", path, dir, std::strerror(errno))};
  return {};
}

int removeStaleTemporaries(const std::string &path) {
  std::string dir = directoryOf(path);
  std::string prefix = baseOf(path) + ".tmp.";
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return 0;
  int removed = 0;
  time_t now = ::time(nullptr);
  while (const dirent *e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (!name.starts_with(prefix) || name.size() != prefix.size() + 6) // mkstemp's XXXXXX
      continue;
    std::string full = (dir == "/" ? "/" : dir + "/") + std::string(name);
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
      continue;
    struct stat st {};
    // A live writer holds its lock; a file just created may not be locked yet, hence the age.
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
        now - st.st_mtime >= kStaleTemporarySeconds && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::unlink(full.c_str()) == 0)
      ++removed;
    ::close(fd);
  }
  ::closedir(d);
  return removed;
}

Result<void> writeFileAtomically(const std::string &path, std::string_view bytes) {
  if (auto ok = checkOutputPath(path); !ok)
    return ok.error();
  removeStaleTemporaries(path);
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0)
    return failure(path, "creating a temporary file");
  (void)::flock(fd, LOCK_EX); // released when the descriptor closes; marks the file as in use
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
