//===- TrainingModule.cpp - From a checked program to the training module -------------------===//
#include "runtime/train/TrainingModule.h"

#include "ir/Verifier.h"
#include "passes/optimize/PassManager.h"

namespace nnc {

TrainStepConfig trainStepConfig(const TrainConfig &config, int64_t stepsPerEpoch) {
  TrainStepConfig c;
  c.optimizer = config.optimizer;
  c.optimizerArgs = config.optimizerArgs;
  c.schedule = config.schedule;
  c.scheduleArgs = config.scheduleArgs;
  c.clip = config.clip;
  c.weightDecay = config.weightDecay;
  c.stepsPerEpoch = stepsPerEpoch;
  c.totalEpochs = config.epochs;
  return c;
}

std::optional<Module> lowerTraining(const Program &program, const LowerOptions &options,
                                    const TrainConfig &config, int64_t stepsPerEpoch,
                                    DiagnosticEngine &diags, LoweredModel *info, bool optimize,
                                    const std::vector<std::string> &disabledPasses) {
  Module lowered;
  for (LowerMode mode : {LowerMode::Train, LowerMode::Eval, LowerMode::Predict}) {
    LowerOptions o = options;
    o.mode = mode;
    o.functionName = mode == LowerMode::Train ? "forward" : mode == LowerMode::Eval ? "eval" : "predict";
    std::optional<LoweredModel> lm = lowerModel(program, o, lowered, diags);
    if (!lm)
      return std::nullopt;
    if (mode == LowerMode::Eval && info)
      *info = *lm;
  }
  for (const std::string &problem : verifyModule(lowered))
    diags.error({}, "internal error: the lowered model does not verify: " + problem);
  if (diags.hasErrors())
    return std::nullopt;
  const auto &fns = lowered.functions();
  TrainStepConfig stepConfig = trainStepConfig(config, stepsPerEpoch);
  if (!program.trains.empty()) {
    stepConfig.settingLocs["train"] = program.trains.front().loc;
    for (const TrainSetting &s : program.trains.front().settings)
      stepConfig.settingLocs[s.name] = s.loc;
  }
  auto built = buildTrainingModule(fns[0], fns[1], fns[2], stepConfig);
  if (auto *d = std::get_if<Diagnostic>(&built)) {
    diags.report(d->severity, d->loc, d->message);
    return std::nullopt;
  }
  Module &m = std::get<Module>(built);
  for (const std::string &problem : verifyModule(m))
    diags.error({}, "internal error: the training module does not verify: " + problem);
  if (diags.hasErrors())
    return std::nullopt;
  if (!optimize)
    return std::move(m);
  PipelineReport report;
  PipelineOptions po;
  for (const std::string &name : disabledPasses)
    if (findPass(name))
      po.disabled.push_back(name);
  std::optional<Module> optimized = runPipeline(std::move(m), po, &report);
  if (!optimized)
    diags.error({}, "internal error: " + report.error);
  return optimized;
}

} // namespace nnc
