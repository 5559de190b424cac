//===- ObjectCache.h - Compiled objects kept on disk, verified before they are loaded --------===//
//
// Machine code is cached per LLVM module in a directory ($NNC_CACHE_DIR, else
// $XDG_CACHE_HOME/nnc, else ~/.cache/nnc; NNC_CACHE=off disables it). Loading an object runs
// its code, so an entry is used only when it verifiably is what nnc wrote for this key
// (docs/CACHE.md has the threat model):
//
//  - the key is a SHA-256 over the unoptimized LLVM IR, the target triple, CPU and features,
//    the JIT's optimization options and nnc's version; the file name is derived from it;
//  - an entry is a header ("nnc-object-cache", format version, the full key digest, the
//    object's size and its SHA-256) followed by the object. It is loaded only when the magic,
//    the key digest, the size and the checksum all match; anything else (a corrupt, truncated,
//    swapped or foreign file) is reported as a warning and the module is compiled again and
//    the entry rewritten;
//  - the directory is created with mode 0700 and used only when it is a directory owned by
//    this user and not writable by group or others (as ssh treats ~/.ssh); otherwise nnc warns
//    and compiles without the cache.
//
// Entries are written atomically (support/AtomicFile). $NNC_CACHE_MAX_BYTES bounds the
// directory's size: after a store, the least recently used entries are removed until the
// entries fit (default 1 GiB).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nnc {

/// The SHA-256 digest that names a cache entry.
using CacheKey = std::array<uint8_t, 32>;

/// The key of `irText` compiled with the given target and options (each part length-prefixed,
/// so no two different inputs give the same byte string).
CacheKey objectCacheKey(std::string_view irText, std::string_view triple, std::string_view cpu,
                        std::string_view features, std::string_view options);

/// The cache directory to use: created (mode 0700) if missing, and checked. Empty when caching
/// is off or the directory cannot be made or is refused; a refusal is warned about on stderr
/// once per process ("nnc: warning: not using the object cache '...': ...").
std::string objectCacheDir();

/// Why `dir` must not be used as an object cache (not a directory, owned by another user,
/// writable by group or others), or success.
Result<void> checkObjectCacheDir(const std::string &dir);

/// The path of `key`'s entry in `dir`.
std::string objectCachePath(const std::string &dir, const CacheKey &key);

/// The object stored for `key` in `dir`, verified. nullopt when there is no entry; an Error
/// says why an existing entry was rejected (the caller warns and recompiles).
Result<std::optional<std::string>> loadCachedObject(const std::string &dir, const CacheKey &key);

/// Stores `object` as `key`'s entry (atomically), then evicts old entries beyond the size
/// bound. Failures are ignored: a cache that cannot be written only costs time.
void storeCachedObject(const std::string &dir, const CacheKey &key, std::string_view object);

/// The bound on the cache directory's entries, in bytes ($NNC_CACHE_MAX_BYTES, default 1 GiB).
uint64_t objectCacheMaxBytes();

} // namespace nnc
