//===- Lower.h - From the AST of a model to graph IR ----------------------------------------===//
//
// Lowering turns one checked `model` into an IR Function with static shapes: the batch symbol B
// is bound, NumPy broadcasting becomes explicit `broadcast` ops, layers and `def` calls expand
// into primitive ops and named parameters (`h1.weight`, `h1.bias`), and shape errors become
// diagnostics at the operator that caused them. The same model lowers in three modes: Train
// (dropout draws masks, batchnorm uses batch statistics and updates its running ones), Eval
// (dropout is the identity, batchnorm uses running statistics) and Predict (Eval without
// targets and loss).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/AST.h"
#include "ir/Graph.h"

#include <map>
#include <optional>
#include <string>

namespace nnc {

enum class LowerMode { Train, Eval, Predict };

/// The most operations a lowered model function may have. `def` calls and layers expand as
/// they are lowered, so a few lines can ask for an exponential graph (each `def` calling the
/// previous one twice); lowering checks the count at every `def` call and statement and
/// stops with an error at the call that crosses it. A 10,000-layer MLP has about 40,000.
inline constexpr size_t kMaxLoweredOps = 500'000;

/// The deepest nesting of `def` calls (a function calling a function calling ...): each level
/// is a native stack frame of lowering, so a long chain must stop with an error, not overflow
/// the stack. The same bound as the nesting of an expression (200).
inline constexpr int kMaxCallDepth = 200;
/// The deepest nesting of expressions once `def` calls are expanded (each call's body nests
/// inside the call): lowering recurses once per level, so this bounds its stack.
inline constexpr int kMaxExpansionDepth = 2'000;

struct LowerOptions {
  LowerMode mode = LowerMode::Train;
  int64_t batch = 0;       ///< binds B; 0 = the train block's `batch`, else 32
  std::string modelName;   ///< which model of the file; empty = the only one
  uint64_t seed = 0;       ///< dropout streams are derived from it
  std::string functionName; ///< name of the Function; empty = "forward"
};

/// What lowering learned about the model that later stages need.
struct LoweredModel {
  std::string name;
  /// Result names: "loss" (not in Predict), every `output`, and "correct" (the number of rows
  /// whose largest logit is at the label) when the loss contains a softmax cross-entropy or
  /// hinge on i32 labels.
  bool hasCorrect = false;
  std::string classifierOutput; ///< the `output` name of the class scores, if known
};

/// Lowers the chosen model of `program` into `module` as a new Function. Reports errors to
/// `diags` and returns nullopt if there were any. `program` must have passed checkProgram.
std::optional<LoweredModel> lowerModel(const Program &program, const LowerOptions &options,
                                       Module &module, DiagnosticEngine &diags);

} // namespace nnc
