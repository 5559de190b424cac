//===- GradCheck.h - Numerical check of a model's gradients through the interpreter ---------===//
//
// The gradient checker behind `nnc check`: it differentiates a forward Function's loss with
// respect to every trainable parameter (reverse mode), evaluates it in f64 in the interpreter,
// and compares each parameter's gradient with central finite differences on a sample of its
// coordinates; it also checks forward mode against reverse mode: the JVP in a random direction
// v must equal <gradient, v>. Random numbers inside the model (dropout) are drawn with the
// counter given in the arguments, so every evaluation sees the same masks.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "ir/Interpreter.h"
#include "passes/training/GradRules.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nnc {

struct GradCheckOptions {
  /// Largest relative error accepted: |fd - g| / max(|fd|, |g|, absFloor).
  double tolerance = 1e-6;
  /// Below this magnitude gradients are compared absolutely (finite differences cannot resolve
  /// relative errors of values near 0).
  double absFloor = 1e-5;
  /// Coordinates checked per parameter; parameters with at most this many are checked whole.
  int64_t samplesPerParam = 16;
  /// Step h of the fourth-order central difference
  ///   f'(x) ~ (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h,
  /// whose error is O(h^4) plus rounding of order eps |f| / h, so h can be large. A coordinate
  /// that misses is retried with h/10 and h/100, so that a kink (relu, max) within 2h of the
  /// point does not count as an error.
  double step = 1e-3;
  uint64_t seed = 1;
  const GradRuleTable *rules = &defaultGradRules();
};

/// The result for one parameter.
struct ParamGradCheck {
  std::string name;
  TensorType type;
  int64_t checked = 0;     ///< coordinates compared
  double worstError = 0;   ///< the largest relative error among them
  int64_t worstIndex = -1; ///< its flat index
  double finiteDifference = 0, gradient = 0; ///< the two values at worstIndex
};

struct GradCheckReport {
  double loss = 0;
  std::vector<ParamGradCheck> params;
  /// Forward against reverse mode: the JVP in a random direction v and <gradient, v>.
  double jvp = 0, dot = 0, jvpError = 0;
  /// True when every error is within the tolerance.
  bool passed = false;
};

/// Checks the gradients of the `loss` result of `forward` at the arguments `args` (every
/// argument of `forward`, by name). Errors: no loss, no trainable parameter, a missing rule (an
/// error located at the node), an interpreter failure.
Result<GradCheckReport> checkGradients(const Function &forward, const std::map<std::string, Tensor> &args,
                                       const GradCheckOptions &options = {});

/// Random arguments for a gradient check of `forward`, from `seed`: trainable parameters
/// normal(0, 1/sqrt(fan-in)) (0.5 for vectors), other state at its init (1 for "ones", else 0),
/// float inputs normal(0, 1), float targets uniform [0, 1), i32 labels and indices uniform in
/// the range their use implies (the classes of a loss or one_hot, the rows of a gather), i1
/// values 0 or 1. Fails for an i32 argument whose range cannot be told (an error located at the
/// argument's declaration).
Result<std::map<std::string, Tensor>> randomCheckArguments(const Function &forward, uint64_t seed);

} // namespace nnc
