//===- AtomicFile.h - Replace a file's content all at once -----------------------------------===//
//
// Checkpoints and logs must never be seen half-written, even after a crash or a full disk: the
// new content goes to a temporary file in the target's directory, is flushed to disk, and is
// renamed over the target (atomic on POSIX file systems); the directory is then flushed so the
// rename itself survives a power cut. A reader sees the old file or the new one, never a mix.
//
// Only regular files are replaced. A path that names an existing device, FIFO, socket or
// directory is refused with an Error and left as it is (renaming over /dev/null would replace
// the device node with a regular file). Commands check their output paths with
// checkOutputPath before any work starts, so a bad --save is reported at once, not after
// training.
//
// A save that is killed leaves its temporary file behind. Each writer holds an exclusive
// flock on its temporary file; the next save to the same path removes every "path.tmp.XXXXXX"
// that no live writer holds and that has not been touched for kStaleTemporarySeconds.
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
/// An existing `path` that is not a regular file is an Error and stays untouched.
Result<void> writeFileAtomically(const std::string &path, std::string_view bytes);

/// Why `path` cannot be written by writeFileAtomically, or success: an empty path, a missing
/// or unwritable directory, or an existing target that is a directory, device, FIFO or socket.
/// Writes nothing.
Result<void> checkOutputPath(const std::string &path);

/// A temporary file unlocked and unmodified for this long belongs to a save that died.
inline constexpr int kStaleTemporarySeconds = 10;

/// Removes the temporary files "path.tmp.XXXXXX" left by interrupted saves to `path` (see
/// above); returns how many it removed.
int removeStaleTemporaries(const std::string &path);

} // namespace nnc
