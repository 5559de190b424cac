//===- ObjectCache.cpp - Compiled objects kept on disk, verified before they are loaded ------===//
#include "runtime/exec/ObjectCache.h"

#include "support/AtomicFile.h"
#include "support/ReadFile.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/Support/SHA256.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace nnc {

namespace {

constexpr std::string_view kMagic = "nnc-object-cache"; // 16 bytes
constexpr uint32_t kFormat = 1;
/// magic, format (4), key digest (32), object size (8), object SHA-256 (32)
constexpr size_t kHeaderBytes = 16 + 4 + 32 + 8 + 32;
/// No object nnc emits comes near this; a larger file is not read.
constexpr uint64_t kMaxEntryBytes = uint64_t(1) << 30;

llvm::ArrayRef<uint8_t> bytesOf(std::string_view s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

std::array<uint8_t, 32> sha256(std::string_view s) { return llvm::SHA256::hash(bytesOf(s)); }

void putU64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t getU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(in[size_t(i)]);
  return v;
}

void warnOnce(const std::string &message) {
  static std::once_flag once;
  std::call_once(once, [&] { std::fprintf(stderr, "nnc: warning: %s\n", message.c_str()); });
}

} // namespace

CacheKey objectCacheKey(std::string_view irText, std::string_view triple, std::string_view cpu,
                        std::string_view features, std::string_view options) {
  llvm::SHA256 h;
  for (std::string_view part : {std::string_view(NNC_VERSION), triple, cpu, features, options, irText}) {
    std::string length;
    putU64(length, part.size());
    h.update(bytesOf(length));
    h.update(bytesOf(part));
  }
  return h.final();
}

Result<void> checkObjectCacheDir(const std::string &dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return Error{fmt::format("cannot use '{}': {}", dir, std::strerror(errno))};
  if (!S_ISDIR(st.st_mode))
    return Error{fmt::format("'{}' is not a directory", dir)};
  if (st.st_uid != ::geteuid())
    return Error{fmt::format("'{}' is owned by user {}, not by this user ({})", dir, st.st_uid, ::geteuid())};
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return Error{fmt::format("'{}' is writable by {} (mode {:04o}); chmod 700 it to use it", dir,
                             st.st_mode & S_IWOTH ? "others" : "its group", st.st_mode & 07777)};
  return {};
}

std::string objectCacheDir() {
  const char *off = std::getenv("NNC_CACHE");
  if (off && (std::string_view(off) == "off" || std::string_view(off) == "0"))
    return {};
  std::string dir;
  if (const char *d = std::getenv("NNC_CACHE_DIR"); d && *d)
    dir = d;
  else if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
    dir = std::string(x) + "/nnc";
  else if (const char *h = std::getenv("HOME"); h && *h)
    dir = std::string(h) + "/.cache/nnc";
  else
    return {};
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  // The parents as any program makes them; the cache itself private.
  for (size_t slash = dir.find('/', 1); slash != std::string::npos; slash = dir.find('/', slash + 1))
    ::mkdir(dir.substr(0, slash).c_str(), 0755);
  ::mkdir(dir.c_str(), 0700);
  if (auto ok = checkObjectCacheDir(dir); !ok) {
    warnOnce(fmt::format("not using the object cache: {}", ok.message()));
    return {};
  }
  return dir;
}

std::string objectCachePath(const std::string &dir, const CacheKey &key) {
  std::string name;
  for (size_t i = 0; i < 16; ++i)
    name += fmt::format("{:02x}", key[i]);
  return fmt::format("{}/{}.o", dir, name);
}

Result<std::optional<std::string>> loadCachedObject(const std::string &dir, const CacheKey &key) {
  std::string path = objectCachePath(dir, key);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return std::optional<std::string>();
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid())
    return Error{fmt::format("cache entry '{}' is not a regular file of this user", path)};
  ReadOptions options;
  options.maxBytes = kMaxEntryBytes;
  auto bytes = readFile(path, options);
  if (!bytes)
    return bytes.error();
  std::string_view all = *bytes;
  if (all.size() < kHeaderBytes || all.substr(0, 16) != kMagic)
    return Error{fmt::format("cache entry '{}' is not an nnc cache entry", path)};
  uint32_t format = 0;
  std::memcpy(&format, all.data() + 16, 4);
  if (format != kFormat)
    return Error{fmt::format("cache entry '{}' has format {}, not {}", path, format, kFormat)};
  if (std::memcmp(all.data() + 20, key.data(), 32) != 0)
    return Error{fmt::format("cache entry '{}' was written for another key", path)};
  uint64_t size = getU64(all.substr(52, 8));
  std::string_view object = all.substr(kHeaderBytes);
  if (size != object.size())
    return Error{fmt::format("cache entry '{}' holds {} bytes of object, its header says {}", path,
                             object.size(), size)};
  std::array<uint8_t, 32> sum = sha256(object);
  if (std::memcmp(all.data() + 60, sum.data(), 32) != 0)
    return Error{fmt::format("cache entry '{}' fails its checksum", path)};
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); // recently used: evicted last
  return std::optional<std::string>(std::string(object));
}

uint64_t objectCacheMaxBytes() {
  if (const char *text = std::getenv("NNC_CACHE_MAX_BYTES"); text && *text) {
    char *end = nullptr;
    unsigned long long v = std::strtoull(text, &end, 10);
    if (*end == '\0' && v > 0)
      return v;
  }
  return uint64_t(1) << 30;
}

void storeCachedObject(const std::string &dir, const CacheKey &key, std::string_view object) {
  std::string entry(kMagic);
  entry.append(reinterpret_cast<const char *>(&kFormat), 4);
  entry.append(reinterpret_cast<const char *>(key.data()), key.size());
  putU64(entry, object.size());
  std::array<uint8_t, 32> sum = sha256(object);
  entry.append(reinterpret_cast<const char *>(sum.data()), sum.size());
  entry.append(object);
  std::string path = objectCachePath(dir, key);
  if (!writeFileAtomically(path, entry))
    return;
  // Evict the least recently used entries beyond the bound (never the one just written).
  struct Entry {
    std::string path;
    int64_t used;
    uint64_t bytes;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (const dirent *e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name.size() != 34 || !name.ends_with(".o"))
        continue;
      std::string full = dir + "/" + std::string(name);
      struct stat st {};
      if (::lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        continue;
      entries.push_back({full, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, uint64_t(st.st_size)});
      total += uint64_t(st.st_size);
    }
    ::closedir(d);
  }
  uint64_t bound = objectCacheMaxBytes();
  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) { return a.used < b.used; });
  for (const Entry &e : entries) {
    if (total <= bound)
      break;
    if (e.path == path)
      continue;
    if (::unlink(e.path.c_str()) == 0)
      total -= e.bytes;
  }
}

} // namespace nnc
