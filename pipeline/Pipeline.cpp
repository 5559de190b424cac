//===- Pipeline.cpp - A program from source to any stage, each stage computed once ----------===//
//
// Each stage method returns its kept result when there is one and otherwise asks the stage
// before it. The model is lowered once per mode: the Train-mode graph of modelGraph() becomes
// the first function of the training graphs, beside the Eval and Predict lowerings.
//
//===----------------------------------------------------------------------------------------===//
#include "pipeline/Pipeline.h"

#include "codegen/Emitter.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/TextParser.h"
#include "ir/Verifier.h"
#include "passes/optimize/GraphPasses.h"
#include "passes/training/TrainStep.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/Memory.h"
#include "runtime/exec/ThreadPool.h"
#include "support/ReadFile.h"

#include <fmt/format.h>

#include <algorithm>

namespace nnc {

/// What the frontend made of one source: kept while any compilation of it lives, since
/// diagnostics point into the source text.
struct Compilation::Front {
  std::unique_ptr<SourceFile> source;
  Program program;
  TrainConfig config;
  std::string warnings;
};

Compilation::~Compilation() = default;

Result<void> checkPassNames(const CompileSettings &settings) {
  auto unknown = [](const std::string &name) {
    return Error{fmt::format("unknown pass '{}' (--passes=list shows the pipeline)", name)};
  };
  for (const std::string &name : settings.passes)
    if (!findPass(name))
      return unknown(name);
  for (const std::string &name : settings.disabledPasses)
    if (!findPass(name) && !findCodegenPass(name))
      return unknown(name);
  for (const std::string &name : settings.dumpAfter)
    if (!findPass(name))
      return unknown(name);
  return {};
}

Error Compilation::errorFrom(const DiagnosticEngine &diags) const { return Error::from(diags); }

Error Compilation::render(const Error &error) const {
  if (!error.located() || !front_)
    return error;
  DiagnosticEngine diags(front_->source.get());
  report(diags, error);
  return Error::from(diags);
}

std::string Compilation::renderError(SourceLoc loc, const std::string &message) const {
  DiagnosticEngine diags(front_ ? front_->source.get() : nullptr);
  diags.error(loc, message);
  return diags.renderAll();
}

Result<std::unique_ptr<Compilation>> Compilation::fromSource(std::string name, std::string text,
                                                             CompileSettings settings) {
  auto front = std::make_shared<Front>();
  front->source = std::make_unique<SourceFile>(std::move(name), std::move(text));
  DiagnosticEngine diags(front->source.get());
  front->program = parseProgram(*front->source, diags);
  checkProgram(front->program, diags);
  if (diags.hasErrors())
    return Error{diags.renderAll()};
  std::optional<TrainConfig> config = readTrainBlock(front->program, diags);
  if (!config || !applyTrainOverrides(*config, settings.train, diags))
    return Error{diags.renderAll()};
  front->warnings = diags.renderAll();
  front->config = std::move(*config);
  std::unique_ptr<Compilation> c(new Compilation());
  c->batch_ = front->config.batch;
  c->front_ = std::move(front);
  c->settings_ = std::move(settings);
  return c;
}

Result<std::unique_ptr<Compilation>> Compilation::fromFile(const std::string &path, CompileSettings settings) {
  ReadOptions source;
  source.maxBytes = kMaxSourceBytes;
  auto text = readFile(path, source);
  if (!text)
    return text.error();
  return fromSource(path, std::move(*text), std::move(settings));
}

Result<std::unique_ptr<Compilation>> Compilation::fromIrText(std::string name, std::string text,
                                                             CompileSettings settings) {
  SourceFile source(std::move(name), std::move(text));
  Result<Module> module = parseModule(source);
  if (!module)
    return std::move(module).error();
  if (Result<void> wellFormed = verify(*module); !wellFormed) {
    // The verifier's locations point into the .nn source, not into this text: name the file.
    std::string problems;
    for (const Diagnostic &d : wellFormed.error().diagnostics)
      problems += fmt::format("{}: error: {}\n", source.name(), d.message);
    return Error{problems};
  }
  std::unique_ptr<Compilation> c(new Compilation());
  c->settings_ = std::move(settings);
  c->modelGraph_ = std::move(*module);
  return c;
}

std::unique_ptr<Compilation> Compilation::withBatch(int64_t batch, int64_t stepsPerEpoch, bool splitTrainStep,
                                                    std::vector<std::string> functions) const {
  std::unique_ptr<Compilation> c(new Compilation());
  c->front_ = front_;
  c->settings_ = settings_;
  if (!functions.empty())
    c->settings_.functions = std::move(functions);
  c->settings_.stepsPerEpoch = stepsPerEpoch;
  c->settings_.splitTrainStep = settings_.splitTrainStep || splitTrainStep;
  c->batch_ = batch;
  return c;
}

const std::string &Compilation::warnings() const {
  static const std::string none;
  return front_ ? front_->warnings : none;
}

const Program &Compilation::ast() const { return front_->program; }

const TrainConfig &Compilation::trainConfig() const { return front_->config; }

/// The options of one lowering of the model: batch, model and seed from the compilation.
static LowerOptions lowerOptions(const CompileSettings &settings, int64_t batch, uint64_t seed, LowerMode mode) {
  LowerOptions o;
  o.mode = mode;
  o.batch = batch;
  o.modelName = settings.modelName;
  o.seed = seed;
  o.functionName = mode == LowerMode::Train ? "forward" : mode == LowerMode::Eval ? "eval" : "predict";
  return o;
}

/// An Error listing the verifier's problems with `module`, a compiler bug; empty when none.
static std::optional<Error> verifyProblems(const Module &module, std::string_view what) {
  std::string out;
  Result<void> wellFormed = verify(module);
  if (wellFormed)
    return std::nullopt;
  for (const Diagnostic &d : wellFormed.error().diagnostics)
    out += fmt::format("internal error: {} does not verify: {}\n", what, d.message);
  return Error{out};
}

Result<const Module *> Compilation::modelGraph() {
  if (modelGraph_)
    return &*modelGraph_;
  DiagnosticEngine diags(front_->source.get());
  Module module;
  auto options = lowerOptions(settings_, batch_, front_->config.seed, LowerMode::Train);
  std::optional<LoweredModel> lowered = lowerModel(front_->program, options, module, diags);
  if (!lowered || diags.hasErrors())
    return errorFrom(diags);
  if (auto e = verifyProblems(module, "the lowered model"))
    return *e;
  model_ = *lowered;
  module.setSourceName(front_->source->name());
  modelGraph_ = std::move(module);
  return &*modelGraph_;
}

Result<const Module *> Compilation::trainingGraphs() {
  if (trainingGraphs_)
    return &*trainingGraphs_;
  if (!front_)
    return Error{"the training graphs need a .nn model, not textual IR"};
  auto forward = modelGraph();
  if (!forward)
    return forward.error();
  Module lowered = **forward;
  DiagnosticEngine diags(front_->source.get());
  for (LowerMode mode : {LowerMode::Eval, LowerMode::Predict}) {
    auto options = lowerOptions(settings_, batch_, front_->config.seed, mode);
    std::optional<LoweredModel> lm = lowerModel(front_->program, options, lowered, diags);
    if (!lm || diags.hasErrors())
      return errorFrom(diags);
    if (mode == LowerMode::Eval)
      model_ = *lm;
  }
  if (auto e = verifyProblems(lowered, "the lowered model"))
    return *e;
  const TrainConfig &c = front_->config;
  TrainStepConfig step{c.optimizer, c.schedule, c.clip, settings_.stepsPerEpoch, c.epochs, {}};
  step.split = settings_.splitTrainStep;
  if (!front_->program.trains.empty()) { // where the update's nodes are located
    const TrainDecl &block = front_->program.trains.front();
    step.settingLocs["train"] = block.loc;
    for (const TrainSetting &s : block.settings)
      step.settingLocs[s.name] = s.loc;
  }
  // Stable forms before the backward graph is derived: the gradient of log(softmax z) taken
  // through 1 / softmax z is NaN where softmax underflows, that of log_softmax z is not.
  // The stabilize pass runs again on the whole module with the other graph passes.
  bool stabilizing = settings_.optimize && std::find(settings_.disabledPasses.begin(), settings_.disabledPasses.end(),
                                                      "stabilize") == settings_.disabledPasses.end();
  if (stabilizing)
    for (Function &fn : lowered.functions())
      stabilize(fn);
  const auto &fns = lowered.functions();
  Result<Module> built = buildTrainingModule(fns[0], fns[1], fns[2], step);
  if (!built) {
    report(diags, built.error());
    return errorFrom(diags);
  }
  Module &m = *built;
  if (!settings_.functions.empty()) { // only the functions asked for
    const std::vector<std::string> &wanted = settings_.functions;
    Module kept;
    for (const Function &fn : m.functions())
      if (std::find(wanted.begin(), wanted.end(), fn.name()) != wanted.end())
        kept.addFunction(fn.name()) = fn;
    m = std::move(kept);
  }
  m.setSourceName(front_->source->name());
  if (auto e = verifyProblems(m, "the training module"))
    return *e;
  trainingGraphs_ = std::move(m);
  return &*trainingGraphs_;
}

Result<const Module *> Compilation::optimizedGraphs() {
  if (optimizedGraphs_)
    return &*optimizedGraphs_;
  auto input = front_ ? trainingGraphs() : modelGraph();
  if (!input)
    return input.error();
  if (!settings_.optimize) {
    optimizedGraphs_ = **input;
    return &*optimizedGraphs_;
  }
  if (auto r = checkPassNames(settings_); !r)
    return r.error();
  PipelineOptions options;
  options.passes = settings_.passes;
  for (const std::string &name : settings_.disabledPasses)
    if (findPass(name))
      options.disabled.push_back(name);
  options.dumpAfter = settings_.dumpAfter;
  options.printAfterAll = settings_.printAfterAll;
  options.dump = settings_.dump;
  report_ = {};
  Result<Module> optimized = runPipeline(**input, options, &report_);
  if (!optimized)
    return Error{"internal error: " + optimized.message()};
  optimizedGraphs_ = std::move(*optimized);
  return &*optimizedGraphs_;
}

/// Code generation's options for the plan and the text stages.
static EmitOptions emitOptions(const CompileSettings &settings) {
  EmitOptions eo;
  eo.threads = std::max(1, settings.threads);
  disableCodegenPasses(eo, settings.disabledPasses);
  return eo;
}

Result<const std::vector<KernelPlan> *> Compilation::kernelPlan() {
  if (kernelPlan_)
    return &*kernelPlan_;
  auto m = optimizedGraphs();
  if (!m)
    return m.error();
  EmitOptions eo = emitOptions(settings_);
  std::vector<KernelPlan> plans;
  for (const Function &fn : (*m)->functions())
    plans.push_back(planKernels(fn, eo));
  kernelPlan_ = std::move(plans);
  return &*kernelPlan_;
}

Result<std::string> Compilation::llvmText(bool assembly) {
  std::optional<std::string> &kept = assembly ? assembly_ : llvmIr_;
  if (kept)
    return *kept;
  auto m = optimizedGraphs();
  if (!m)
    return m.error();
  Result<std::string> text = emitModuleText(**m, assembly, settings_.disabledPasses);
  if (!text)
    return Error{"code generation failed: " + text.message()};
  kept = std::move(*text);
  return *kept;
}

Result<void> Compilation::checkMemory() {
  auto plans = kernelPlan();
  if (!plans)
    return plans.error();
  MemoryNeeds need = memoryNeeds(*optimizedGraphs_, **plans);
  uint64_t limit = memoryLimit();
  if (need.total() <= limit)
    return {};
  std::string what = fmt::format("batch {} needs {} of memory, more than the {} ({} bytes) this machine "
                                 "allows (physical memory, ulimit, $NNC_MAX_MEMORY); a smaller batch needs less",
                                 batch_, need.describe(), formatBytes(limit), limit);
  if (settings_.train.batch > 0)
    return Error{"--" + what};
  // Name where the batch size came from: the flag, or the train block's setting.
  if (front_ && settings_.train.batch <= 0 && !front_->program.trains.empty())
    for (const TrainSetting &s : front_->program.trains.front().settings)
      if (s.name == "batch") {
        DiagnosticEngine diags(front_->source.get());
        diags.error(s.loc, what);
        return errorFrom(diags);
      }
  return Error{"the default " + what};
}

Result<Executable *> Compilation::executable() {
  if (executable_)
    return executable_.get();
  auto m = optimizedGraphs();
  if (!m)
    return m.error();
  if (auto fits = checkMemory(); !fits)
    return fits.error();
  CompileOptions co;
  co.jit = settings_.jit;
  co.threads = std::max(1, settings_.threads);
  co.useCache = settings_.useObjectCache;
  co.disabledPasses = settings_.disabledPasses;
  co.profile = settings_.profile;
  co.profileTag = fmt::format("batch {}", batch_);
  if (computeThreads() < co.threads)
    setComputeThreads(co.threads);
  auto exe = Executable::compile(**m, co);
  if (!exe)
    return Error{"code generation failed: " + exe.message()};
  executable_ = std::move(*exe);
  return executable_.get();
}

} // namespace nnc
