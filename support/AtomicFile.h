//===- AtomicFile.h - Replace a file's content all at once -----------------------------------===//
//
// Checkpoints and logs must never be seen half-written, even after a crash or a full disk: the
// new content goes to a temporary file in the target's directory, is flushed to disk, and is
// renamed over the target (atomic on POSIX file systems); the directory is then flushed so the
// rename itself survives a power cut. A reader sees the old file or the new one, never a mix.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <string>
#include <string_view>

namespace nnc {

/// Replaces the content of `path` with `bytes` atomically (temporary file "path.tmp.XXXXXX",
/// fsync, rename, fsync of the directory). A new file gets mode 0644, an existing one keeps its
/// mode. On failure the target is unchanged, the temporary file is removed, and the Error names
/// `path` and the failing step.
Result<void> writeFileAtomically(const std::string &path, std::string_view bytes);

} // namespace nnc
