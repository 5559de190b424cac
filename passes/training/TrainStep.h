//===- TrainStep.h - The train-step graph: forward, backward and update in one Function -----===//
//
// buildTrainStep turns the Train-mode forward Function of a model (frontend lowerModel with
// LowerMode::Train) into `train_step`: the same inputs, targets and state, plus the optimizer's
// slots and the step counter; results `loss` (and `correct` for classifiers); and state updates
// that write every parameter, slot, counter and running statistic in place. One call of it is
// one step of training. buildTrainingModule adds the `eval` and `predict` functions beside it.
//
// Its configuration holds the train block's optimizer and schedule as resolved values
// (Optimizers.h); the passes do not depend on the frontend, which resolves them.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"
#include "ir/Graph.h"
#include "passes/training/GradRules.h"
#include "passes/training/Optimizers.h"

#include <string>
#include <string_view>

namespace nnc {

/// The training settings the train step is built from: the optimizer and schedule as typed
/// values (resolved once, from the train block, by frontend/TrainBlock.cpp).
struct TrainStepConfig {
  OptimizerParams optimizer; ///< every hyper-parameter, decoupled weight decay included
  ScheduleParams schedule;
  double clip = 0;        ///< clip the gradients to this global norm; 0 = off
  /// Schedules count epochs: the number of train steps per epoch and of epochs in the run, the
  /// initial values of the state kStepsPerEpoch and kScheduleEpochs.
  int64_t stepsPerEpoch = 1;
  int64_t totalEpochs = 1;
  /// Where the train block writes each setting, by name ("optimizer", "schedule", "clip",
  /// "weight_decay"), and the block itself under "train". The update's nodes are located
  /// there: the schedule's at "schedule", clipping at "clip", and so on; a setting the block
  /// does not write falls back to "optimizer", then to "train".
  std::map<std::string, SourceLoc> settingLocs;
  /// Also build the step in two halves, `train_grad` and `train_apply` (buildSplitTrainStep),
  /// for data-parallel training, which sums the gradients of all processes between them.
  bool split = false;
};

/// The name of the step counter, an i32 scalar state: the number of steps done.
inline constexpr const char *kStepCounter = "step";
/// What learning-rate schedules count with, i32 scalar state that no step updates: the train
/// steps per epoch (every schedule but constant) and the run's epochs (cosine). They are
/// initialized to TrainStepConfig's values and set by the caller (the Trainer, once it knows
/// the data set's size), so the compiled step does not depend on them. They are settings of
/// the run, not learned state: checkpoints do not hold them.
inline constexpr const char *kStepsPerEpoch = "schedule.steps_per_epoch";
inline constexpr const char *kScheduleEpochs = "schedule.epochs";
/// True for the names of the schedule's settings above.
inline bool isScheduleSetting(std::string_view name) { return name == kStepsPerEpoch || name == kScheduleEpochs; }

/// Appends to `module` the function `train_step` built from `forward` (a Train-mode lowering
/// with a `loss` result). Errors (no loss, a name clash, a missing
/// gradient rule at some source line) are returned as an Error with one located diagnostic.
///
/// Algorithm:
///   1. Copy `forward`; keep only the results `loss` and `correct`. Its state updates (batchnorm
///      running statistics, the random-number counter) stay.
///   2. Differentiate the loss with respect to every trainable state argument (Autodiff.h).
///   3. Add the step counter `step` (i32, init zeros) and compute the learning rate of the
///      schedule from it and the state `schedule.steps_per_epoch` and `schedule.epochs` (those
///      the schedule reads), t = step + 1 for Adam's bias correction.
///   4. With `clip` > 0, scale all gradients by min(1, clip / (global norm + 1e-6)).
///   5. Append each parameter's optimizer update (Optimizers.h), adding its slots as state,
///      and record it as the parameter's state update; then step <- step + 1.
///   6. Remove the forward nodes no result or update needs (e.g. `probs`).
/// The nodes are marked with their stage (forward, backward, update) for the textual form.
Result<Function *> buildTrainStep(const Function &forward, const TrainStepConfig &config, Module &module,
                                  const GradRuleTable &rules = defaultGradRules());

/// The halves of a train step that data-parallel training runs with a gradient allreduce
/// between them (docs/DISTRIBUTED.md).
inline constexpr const char *kGradStep = "train_grad";
inline constexpr const char *kApplyStep = "train_apply";
/// The gradient of parameter `p` is the result `grad.p` of train_grad and the input `grad.p` of
/// train_apply.
inline constexpr const char *kGradientPrefix = "grad.";

/// Appends to `module` the two halves of the train step of buildTrainStep:
///   - `train_grad`: steps 1 and 2 (forward, backward). Results `loss`, `correct` and, per
///     trainable parameter p in declaration order, its gradient `grad.p`; it updates the
///     forward's own state (batchnorm running statistics, the random-number counter).
///   - `train_apply`: steps 3 to 5 (schedule, clipping, updates). Inputs `grad.p`; state the
///     parameters, their optimizer slots and the step counter, updated in place.
/// train_grad then train_apply on the same gradients is train_step.
Result<void> buildSplitTrainStep(const Function &forward, const TrainStepConfig &config, Module &module,
                                 const GradRuleTable &rules = defaultGradRules());

/// A Module with `train_step` (from the Train-mode lowering), `eval` (the Eval-mode lowering:
/// loss, correct, outputs; dropout off, batchnorm on running statistics) and `predict` (the
/// Predict-mode lowering: outputs); with `config.split`, also `train_grad` and `train_apply`.
Result<Module> buildTrainingModule(const Function &trainForward, const Function &evalForward,
                                   const Function &predictForward, const TrainStepConfig &config);

} // namespace nnc
