//===- TrainStep.cpp - The train-step graph: forward, backward and update in one Function ---===//
//
// The steps of buildTrainStep (TrainStep.h) and the assembly of the training Module.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/TrainStep.h"

#include "ir/Builder.h"
#include "passes/training/Autodiff.h"
#include "passes/training/Optimizers.h"

#include <fmt/format.h>

#include <optional>

namespace nnc {

namespace {
Error error(std::string message) { return Error::at({}, std::move(message)); }

/// Steps 3 to 5 of buildTrainStep on `f`: the step counter and learning rate, clipping, and
/// each parameter's update from its gradient `g[i]`, recorded as the parameter's state update.
Result<void> appendUpdate(Function &f, const std::vector<ValueId> &params, std::vector<ValueId> g,
                          const TrainStepConfig &config) {
  const size_t updateStart = f.nodes().size();
  // The update's nodes are located at the train block's settings that make them.
  auto locOf = [&](const char *setting) {
    for (const char *name : {setting, "optimizer", "train"})
      if (auto it = config.settingLocs.find(name); it != config.settingLocs.end() && it->second.valid())
        return it->second;
    return SourceLoc{};
  };

  // 3. Step counter and learning rate.
  Builder b(f);
  b.setLoc(locOf("optimizer"));
  ValueId step =
      f.addArgument(kStepCounter, TensorType(DType::I32, {}), ArgRole::State, false, "zeros", b.loc());
  const OptimizerParams &o = config.optimizer;
  b.setLoc(locOf("schedule"));
  // What the schedule counts with: i32 state the caller sets (the Trainer, from the data set's
  // size), initialized to the configured values; the compiled code holds neither.
  ValueId stepsPerEpoch, totalEpochs;
  if (scheduleNeedsStepsPerEpoch(config.schedule))
    stepsPerEpoch = f.addArgument(kStepsPerEpoch, TensorType(DType::I32, {}), ArgRole::State, false,
                                  fmt::format("constant({})", config.stepsPerEpoch), b.loc());
  if (scheduleNeedsEpochs(config.schedule))
    totalEpochs = f.addArgument(kScheduleEpochs, TensorType(DType::I32, {}), ArgRole::State, false,
                                fmt::format("constant({})", config.totalEpochs), b.loc());
  ValueId lr = appendLearningRate(b, config.schedule, o.lr, step, stepsPerEpoch, totalEpochs);
  b.setLoc(locOf("optimizer"));
  ValueId t = b.add(b.cast(step, DType::F64), b.scalar(1, DType::F64));
  std::map<DType, StepScalars> scalarsOf; // computed once per parameter dtype
  auto scalarsIn = [&](DType dt) {
    if (!scalarsOf.count(dt))
      scalarsOf[dt] = appendStepScalars(b, o, lr, t, dt);
    return scalarsOf[dt];
  };

  // 4. Clipping by the global norm: g <- g * min(1, clip / (||g|| + 1e-6)), ||g|| in f64.
  if (config.clip > 0 && !params.empty()) {
    b.setLoc(locOf("clip"));
    ValueId sumSq;
    for (ValueId gi : g) {
      std::vector<int64_t> all(static_cast<size_t>(f.type(gi).rank()));
      for (size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<int64_t>(i);
      ValueId s = b.square(gi);
      s = all.empty() ? s : b.reduceSum(s, all);
      s = f.type(s).dtype == DType::F64 ? s : b.cast(s, DType::F64);
      sumSq = sumSq.valid() ? b.add(sumSq, s) : s;
    }
    ValueId norm = b.sqrt(sumSq);
    ValueId scale = b.min(b.scalar(1, DType::F64),
                          b.div(b.scalar(config.clip, DType::F64), b.add(norm, b.scalar(1e-6, DType::F64))));
    std::map<DType, ValueId> scaleOf;
    for (ValueId &gi : g) {
      const TensorType type = f.type(gi);
      if (!scaleOf.count(type.dtype))
        scaleOf[type.dtype] = type.dtype == DType::F64 ? scale : b.cast(scale, type.dtype);
      ValueId s = scaleOf[type.dtype];
      gi = b.mul(gi, type.isScalar() ? s : b.broadcast(s, type.shape, {}));
    }
  }

  // 5. The updates.
  b.setLoc(locOf("optimizer"));
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string name = f.argument(params[i]).name;
    ParamUpdateInputs in{name, params[i], g[i], scalarsIn(f.type(params[i]).dtype),
                         o.decoupled > 0 ? locOf("weight_decay") : SourceLoc{}};
    Result<ValueId> updated = appendParameterUpdate(b, o, in);
    if (!updated)
      return std::move(updated).error();
    f.addUpdate(params[i], *updated);
  }
  f.addUpdate(step, b.add(step, b.constant(1, TensorType(DType::I32, {}))));
  f.setStage(updateStart, Stage::Update);
  return {};
}

} // namespace

Result<Function *> buildTrainStep(const Function &forward, const TrainStepConfig &config, Module &module,
                                  const GradRuleTable &rules) {
  if (config.stepsPerEpoch < 1 || config.totalEpochs < 1)
    return error("steps per epoch and epochs must be at least 1");
  if (config.clip < 0)
    return error("the clipping norm must not be negative");
  ValueId loss = forward.findResult("loss");
  if (!loss.valid())
    return error(fmt::format("@{} has no loss to train", forward.name()));
  for (const char *name : {kStepCounter, kStepsPerEpoch, kScheduleEpochs})
    if (forward.findArgument(name))
      return error(fmt::format("the argument '{}' would clash with the step counter and schedule's state", name));

  // 1. The forward graph, results loss and correct.
  Function &f = module.addFunction("train_step");
  f = forward;
  f.setName("train_step");
  f.setStage(0, Stage::Forward);
  std::erase_if(f.results(), [](const FunctionResult &r) { return r.name != "loss" && r.name != "correct"; });

  // 2. Gradients of the trainable parameters.
  std::vector<ValueId> params;
  for (const Argument &a : f.arguments())
    if (a.role == ArgRole::State && a.trainable)
      params.push_back(a.value);
  const size_t backwardStart = f.nodes().size();
  Result<std::vector<ValueId>> grads = appendGradients(f, loss, params, rules);
  if (!grads)
    return std::move(grads).error();
  std::vector<ValueId> g = std::move(*grads);
  f.setStage(backwardStart, Stage::Backward);

  if (Result<void> r = appendUpdate(f, params, std::move(g), config); !r)
    return std::move(r).error();

  // 6. Drop what nothing needs.
  f.removeDeadNodes();
  return &f;
}

Result<void> buildSplitTrainStep(const Function &forward, const TrainStepConfig &config, Module &module,
                                 const GradRuleTable &rules) {
  ValueId loss = forward.findResult("loss");
  if (!loss.valid())
    return error(fmt::format("@{} has no loss to train", forward.name()));
  for (const char *name : {kStepCounter, kStepsPerEpoch, kScheduleEpochs})
    if (forward.findArgument(name))
      return error(fmt::format("the argument '{}' would clash with the step counter and schedule's state", name));
  for (const Argument &a : forward.arguments())
    if (a.name.starts_with(kGradientPrefix))
      return error(fmt::format("the argument '{}' would clash with the gradient inputs of {}", a.name, kApplyStep));

  // train_grad: the forward graph and the gradients, with the forward's own state updates.
  Function &f = module.addFunction(kGradStep);
  f = forward;
  f.setName(kGradStep);
  f.setStage(0, Stage::Forward);
  std::erase_if(f.results(), [](const FunctionResult &r) { return r.name != "loss" && r.name != "correct"; });
  std::vector<ValueId> params;
  for (const Argument &a : f.arguments())
    if (a.role == ArgRole::State && a.trainable)
      params.push_back(a.value);
  const size_t backwardStart = f.nodes().size();
  Result<std::vector<ValueId>> grads = appendGradients(f, loss, params, rules);
  if (!grads)
    return std::move(grads).error();
  const std::vector<ValueId> &g = *grads;
  f.setStage(backwardStart, Stage::Backward);
  for (size_t i = 0; i < params.size(); ++i)
    f.addResult(kGradientPrefix + f.argument(params[i]).name, g[i]);
  f.removeDeadNodes();

  // train_apply: the parameters and their gradients in, the update of train_step out.
  Function &u = module.addFunction(kApplyStep);
  std::vector<ValueId> uParams, uGrads;
  for (ValueId p : params) {
    const Argument &a = f.argument(p);
    uParams.push_back(u.addArgument(a.name, a.type, ArgRole::State, true, a.init, a.loc));
  }
  for (ValueId p : params) {
    const Argument &a = f.argument(p);
    uGrads.push_back(u.addArgument(kGradientPrefix + a.name, a.type, ArgRole::Input, false, {}, a.loc));
  }
  if (Result<void> r = appendUpdate(u, uParams, std::move(uGrads), config); !r)
    return std::move(r).error();
  u.removeDeadNodes();
  return {};
}

Result<Module> buildTrainingModule(const Function &trainForward, const Function &evalForward,
                                   const Function &predictForward, const TrainStepConfig &config) {
  Module m;
  Result<Function *> step = buildTrainStep(trainForward, config, m);
  if (!step)
    return std::move(step).error();
  if (config.split) {
    if (Result<void> split = buildSplitTrainStep(trainForward, config, m); !split)
      return std::move(split).error();
  }
  Function &eval = m.addFunction("eval");
  eval = evalForward;
  eval.setName("eval");
  Function &predict = m.addFunction("predict");
  predict = predictForward;
  predict.setName("predict");
  return m;
}

} // namespace nnc
