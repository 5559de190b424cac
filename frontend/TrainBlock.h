//===- TrainBlock.h - The train block, read and resolved to typed settings ------------------===//
//
// A checked program's `train` block becomes one TrainConfig: the minibatch size, epochs, seed
// and data sources as plain values, and the optimizer and learning-rate schedule resolved once,
// here, to the typed values the train-step builder takes (passes/training/Optimizers.h: a kind
// and every hyper-parameter with its default filled in). Command-line flags and API callers
// override settings through applyTrainOverrides, which resolves again with the same tables, so
// a bad value is reported the same way whichever place it came from. The defaults live in those
// tables alone.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/AST.h"
#include "passes/training/Optimizers.h"
#include "support/Diagnostic.h"

#include <map>
#include <optional>
#include <string>

namespace nnc {

/// The `train` block's settings with the optimizer and schedule resolved.
struct TrainConfig {
  /// The optimizer as written ("adam", "momentum", ...) and the hyper-parameters given to it,
  /// kept for messages, checkpoints and for resolving again when a flag overrides one.
  std::string optimizerName = "sgd";
  std::map<std::string, double> optimizerArgs;
  /// The schedule as written ("constant", "cosine", ...) and its given parameters.
  std::string scheduleName = "constant";
  std::map<std::string, double> scheduleArgs;
  /// The resolved optimizer (with the block's `weight_decay` folded in) and schedule.
  OptimizerParams optimizer;
  ScheduleParams schedule;
  int64_t batch = 32;
  int64_t epochs = 10;
  uint64_t seed = 1;
  double clip = 0;          ///< global-norm clipping; 0 = off
  double weightDecay = 0;   ///< decoupled weight decay; 0 = off
  bool shuffle = true;
  std::string data, testData;
  SourceLoc optimizerLoc, scheduleLoc; ///< where each was written; unknown without a block
};

/// What a run asks to change in the train block (flags of `nnc train`, Trainer callers).
struct TrainOverrides {
  int64_t batch = 0; ///< 0 = the block's
  std::optional<uint64_t> seed;
  /// Another optimizer: its hyper-parameters do not carry over, except the learning rate.
  std::optional<std::string> optimizer;
  std::optional<double> lr;
  std::optional<int64_t> epochs;
  std::optional<bool> shuffle;
};

/// Reads the train block of `program` (the defaults when there is none) and resolves its
/// optimizer and schedule; an out-of-range hyper-parameter is an error at the setting.
/// `program` must have passed checkProgram. Returns nullopt after reporting to `diags`.
std::optional<TrainConfig> readTrainBlock(const Program &program, DiagnosticEngine &diags);

/// Applies `overrides` to `config` and resolves the optimizer again when it changed; a value
/// the tables reject is reported to `diags` (without a location: it came from a flag).
bool applyTrainOverrides(TrainConfig &config, const TrainOverrides &overrides, DiagnosticEngine &diags);

/// The train block's `batch` (32 without one), for lowering without a whole TrainConfig.
int64_t trainBlockBatch(const Program &program);

} // namespace nnc
