//===- Safetensors.h - Checkpoints in the safetensors format ---------------------------------===//
//
// A checkpoint is a set of named tensors plus a string-to-string metadata map, stored as
// safetensors (the format of Hugging Face's safetensors library, which PyTorch users read with
// safetensors.torch.load_file):
//
//   [8 bytes: N, little-endian uint64]
//   [N bytes: JSON object, padded with spaces to a multiple of 8]
//       {"__metadata__": {"step": "1200", ...},
//        "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   [the data: each tensor's elements, C order, little-endian, at [begin, end) of this block]
//
// Reading checks every field against the real file, so a truncated or corrupt checkpoint is an
// Error naming the file and the problem, never a crash.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/HostTensor.h"

#include <map>
#include <string>
#include <string_view>

namespace nnc {

/// Named tensors and metadata of one checkpoint.
struct Checkpoint {
  std::map<std::string, HostTensor> tensors;
  std::map<std::string, std::string> metadata;

  bool operator==(const Checkpoint &) const = default;
};

/// Metadata keys the runtime writes (values are strings, as the format requires).
namespace checkpoint_keys {
inline constexpr const char *kFormatVersion = "format_version"; ///< "2"
inline constexpr const char *kModel = "model";                  ///< the model's name
inline constexpr const char *kStep = "step";                    ///< train steps done, decimal
inline constexpr const char *kEpoch = "epoch";                  ///< epochs done, decimal
inline constexpr const char *kEpochStep = "epoch_step";         ///< steps done in the next epoch
/// The sums behind the reported loss and accuracy of the epoch in progress, over its steps
/// done (exact: hexadecimal floating point), and its examples so far.
inline constexpr const char *kEpochLossSum = "epoch_loss_sum";
inline constexpr const char *kEpochCorrect = "epoch_correct";
inline constexpr const char *kEpochExamples = "epoch_examples";
inline constexpr const char *kStepsPerEpoch = "steps_per_epoch"; ///< what the schedule counts with
inline constexpr const char *kOptimizer = "optimizer";          ///< the optimizer's name, e.g. "adam"
inline constexpr const char *kSeed = "seed";                    ///< initialization, shuffle and dropout seed
inline constexpr const char *kBatch = "batch";                  ///< minibatch size
inline constexpr const char *kShuffle = "shuffle";              ///< "1" or "0"
inline constexpr const char *kEpochs = "epochs";                ///< the run's planned epochs
inline constexpr const char *kExamples = "examples";            ///< training examples
inline constexpr const char *kNormalize = "normalize";          ///< the data preparation, per input
} // namespace checkpoint_keys

/// The safetensors encoding of `ckpt`: tensors laid out by falling element size then name (so
/// every tensor is aligned to its element size), header padded to 8 bytes. An Error when a
/// tensor's byte count does not match its shape, a name is "__metadata__", or a name or
/// metadata string is not valid UTF-8.
Result<std::string> encodeSafetensors(const Checkpoint &ckpt);
/// Encodes `ckpt` and writes it to `path` atomically.
Result<void> writeSafetensors(const std::string &path, const Checkpoint &ckpt);

/// Decodes safetensors `bytes` as if read from a file named `name` (used in error messages).
/// Dtypes F32, F64, I32, I64 and U8 are supported; any other is an Error.
Result<Checkpoint> parseSafetensors(std::string_view bytes, std::string_view name);
/// Reads the safetensors file at `path`.
Result<Checkpoint> readSafetensors(const std::string &path);

} // namespace nnc
