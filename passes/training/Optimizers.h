//===- Optimizers.h - Optimizer updates and learning-rate schedules as graph code -----------===//
//
// The optimizers (SGD, momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW) and learning-rate
// schedules (constant, step, exponential, cosine with warm-up, linear warm-up) are written as IR
// appended to the train step, so the update compiles into the same function as the forward and
// backward passes. Hyper-parameters carry the names of the `train` block (frontend/Builtins.cpp)
// and PyTorch's defaults; docs/TRAINING.md states every update equation.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Builder.h"

#include <map>
#include <string>
#include <variant>

namespace nnc {

enum class OptimizerKind : uint8_t { SGD, Adagrad, RMSprop, Adam, AdamW };

/// An optimizer with every hyper-parameter resolved (defaults filled in).
struct OptimizerParams {
  OptimizerKind kind = OptimizerKind::SGD;
  double lr = 0.01;
  double momentum = 0;     ///< SGD
  bool nesterov = false;   ///< SGD
  double beta1 = 0.9;      ///< Adam, AdamW
  double beta2 = 0.999;    ///< Adam, AdamW
  double rho = 0.99;       ///< RMSprop (PyTorch's alpha)
  double eps = 1e-8;       ///< Adagrad 1e-10, others 1e-8
  double l2 = 0;           ///< coupled weight decay: g += l2 * p (every optimizer but AdamW)
  double decoupled = 0;    ///< decoupled weight decay: p -= lr * decoupled * p (AdamW's, or the
                           ///< train block's `weight_decay`)
};

/// Resolves optimizer `name` ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
/// "adamw") with the given hyper-parameters and the train block's decoupled `weightDecay`.
/// Unknown names and out-of-range values are errors.
Result<OptimizerParams> resolveOptimizer(const std::string &name, const std::map<std::string, double> &args,
                                         double weightDecay = 0);

enum class ScheduleKind : uint8_t { Constant, Step, Exponential, Cosine, Warmup };

/// A learning-rate schedule with every parameter resolved. Schedules count whole epochs.
struct ScheduleParams {
  ScheduleKind kind = ScheduleKind::Constant;
  int64_t every = 1;  ///< Step: decay every `every` epochs
  double gamma = 0.1; ///< Step 0.1, Exponential 0.95
  double minLr = 0;   ///< Cosine
  int64_t warmup = 0; ///< Cosine: warm-up epochs; Warmup: its `epochs`
};

/// Resolves schedule `name` ("constant", "step", "exponential", "cosine", "warmup").
Result<ScheduleParams> resolveSchedule(const std::string &name, const std::map<std::string, double> &args);

/// The learning rate of schedule `s` as a host computation, for tests and the docs: `step`
/// steps done, `stepsPerEpoch` steps per epoch, `totalEpochs` epochs in the run.
double learningRateAt(const ScheduleParams &s, double baseLr, int64_t step, int64_t stepsPerEpoch,
                      int64_t totalEpochs);

/// What a schedule counts with besides the step counter: steps per epoch (every schedule but
/// Constant) and the run's epochs (Cosine).
inline bool scheduleNeedsStepsPerEpoch(const ScheduleParams &s) { return s.kind != ScheduleKind::Constant; }
inline bool scheduleNeedsEpochs(const ScheduleParams &s) { return s.kind == ScheduleKind::Cosine; }

/// Appends the learning rate of schedule `s` at the i32 scalar `step` (steps done so far) as
/// an f64 scalar; the same function as learningRateAt, in IR. `stepsPerEpoch` and
/// `totalEpochs` are i32 scalars read at run time (valid where scheduleNeedsStepsPerEpoch and
/// scheduleNeedsEpochs say the schedule reads them), so a change of the data set's size or of
/// the run's epochs changes no compiled code. A value below 1 counts as 1.
ValueId appendLearningRate(Builder &b, const ScheduleParams &s, double baseLr, ValueId step,
                           ValueId stepsPerEpoch, ValueId totalEpochs);

/// The scalars every parameter's update of one dtype shares, computed once per step.
struct StepScalars {
  ValueId lr;              ///< the learning rate, a scalar of the dtype
  ValueId biasCorrection1; ///< Adam, AdamW: 1 - beta1^t, a scalar of the dtype
  ValueId biasCorrection2; ///< Adam, AdamW: 1 - beta2^t
};

/// Appends the shared scalars for parameters of `dtype`: `lr` is the f64 learning rate of the
/// schedule and `t` the 1-based number of this step, an f64 scalar.
StepScalars appendStepScalars(Builder &b, const OptimizerParams &opt, ValueId lr, ValueId t, DType dtype);

/// What one parameter's update needs.
struct ParamUpdateInputs {
  std::string name; ///< the parameter's name; slots are named `<name>.m`, `<name>.velocity`, ...
  ValueId param;    ///< the current value
  ValueId grad;     ///< its gradient (after clipping)
  StepScalars scalars; ///< of the parameter's dtype
  /// Where the weight decay is set; its nodes are located there (at the builder's location
  /// when invalid).
  SourceLoc weightDecayLoc;
};

/// Appends the optimizer update of one parameter to the function of `b` and returns the new
/// parameter value. The optimizer's slots become new state arguments (non-trainable, init
/// "zeros", at the builder's location) with their state updates. Fails when a slot's name is
/// taken (an error at the builder's location). The nodes carry the builder's location: the
/// optimizer's line in the train block.
Result<ValueId> appendParameterUpdate(Builder &b, const OptimizerParams &opt, const ParamUpdateInputs &in);

} // namespace nnc
