//===- TrainingModule.h - From a checked program to the training module ---------------------===//
//
// The step every user of nnc takes between a checked .nn program and code: lower the model in
// its three modes (Train, Eval, Predict) for one batch size and build the training module —
// `train_step` (forward, backward, update), `eval` and `predict` — from them. The driver's
// `--emit=grad` and the Trainer both come through here.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/Lower.h"
#include "passes/training/TrainStep.h"

#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// The train block's settings in the form the train-step builder takes.
TrainStepConfig trainStepConfig(const TrainConfig &config, int64_t stepsPerEpoch);

/// Lowers the model chosen by `options` (its mode and function name are set here) and builds
/// the verified training module, then, with `optimize`, runs the default graph pipeline
/// (passes/PassManager.h) over it, skipping the graph passes named in `disabledPasses`. Errors go to `diags`; `info`, when given, receives what the
/// Eval-mode lowering learned (model name, classifier).
std::optional<Module> lowerTraining(const Program &program, const LowerOptions &options,
                                    const TrainConfig &config, int64_t stepsPerEpoch,
                                    DiagnosticEngine &diags, LoweredModel *info = nullptr,
                                    bool optimize = false,
                                    const std::vector<std::string> &disabledPasses = {});

} // namespace nnc
