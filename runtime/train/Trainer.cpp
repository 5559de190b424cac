//===- Trainer.cpp - Compile a model and train it: the runtime's C++ API --------------------===//
#include "runtime/train/Trainer.h"

#include "passes/training/TrainStep.h"
#include "pipeline/Pipeline.h"
#include "runtime/data/Batching.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/Storage.h"
#include "runtime/records/Safetensors.h"
#include "runtime/train/Initializers.h"
#include "runtime/train/TrainerParts.h"
#include "ir/NonFinite.h"
#include "support/ReadFile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <future>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace nnc {

Trainer::~Trainer() = default;

static constexpr const char *kFeatureShift = "nnc:feature_shift";
static constexpr const char *kFeatureFactor = "nnc:feature_factor";

namespace {

ElementType elementTypeFor(DType d) {
  switch (d) {
  case DType::F64: return ElementType::F64;
  case DType::I32: return ElementType::I32;
  default: return ElementType::F32;
  }
}

const Argument *argumentWithRole(const Function &fn, ArgRole role) {
  for (const Argument &a : fn.arguments())
    if (a.role == role)
      return &a;
  return nullptr;
}

int64_t perExample(const TensorType &t) {
  int64_t n = 1;
  for (size_t i = 1; i < t.shape.size(); ++i)
    n *= t.shape[i];
  return n;
}

} // namespace

Result<std::unique_ptr<Trainer>> Trainer::fromFile(const std::string &path, const CompileSettings &settings,
                                                   std::shared_ptr<Communicator> comm, TrainerUse use) {
  auto source = Compilation::fromFile(path, settings);
  if (comm && comm->size() > 1) // every process learns of an error in the file
    if (auto r = comm->agree(source ? Result<void>() : Result<void>(source.error())); !r)
      return r.error();
  if (!source)
    return source.error();
  return fromCompilation(std::move(*source), std::move(comm), use);
}

Result<std::unique_ptr<Trainer>> Trainer::fromSource(const std::string &name, std::string text,
                                                     const CompileSettings &settings,
                                                     std::shared_ptr<Communicator> comm, TrainerUse use) {
  auto source = Compilation::fromSource(name, std::move(text), settings);
  if (comm && comm->size() > 1)
    if (auto r = comm->agree(source ? Result<void>() : Result<void>(source.error())); !r)
      return r.error();
  if (!source)
    return source.error();
  return fromCompilation(std::move(*source), std::move(comm), use);
}

Result<std::unique_ptr<Trainer>> Trainer::fromCompilation(std::unique_ptr<Compilation> source,
                                                          std::shared_ptr<Communicator> comm, TrainerUse use) {
  std::unique_ptr<Trainer> t(new Trainer());
  t->comm_ = comm ? std::move(comm) : std::make_shared<LocalCommunicator>();
  t->stepsPerEpoch_ = std::max<int64_t>(1, source->settings().stepsPerEpoch);
  t->source_ = std::move(source);
  t->use_ = use;
  // The minibatch size is the same on every process: all fail alike here.
  if (t->dataParallel() && t->config().batch < t->comm_->size())
    return Error{fmt::format("the minibatch of {} examples cannot be split over {} processes: give each at least "
                             "one (--batch)", t->config().batch, t->comm_->size())};
  // Compile for the main batch size now, so that model errors surface at once: the train step,
  // or only the function the Trainer is made to run.
  if (use == TrainerUse::Train) {
    if (auto r = t->trainStep(); !r)
      return r.error();
    return t;
  }
  Result<void> ok;
  if (auto v = t->evaluation(t->localBatch(), use == TrainerUse::Evaluate ? Part::Eval : Part::Predict); !v)
    ok = v.error();
  if (t->dataParallel())
    ok = t->comm_->agree(std::move(ok));
  if (!ok)
    return ok.error();
  // The train step's state that a checkpoint of a training run holds beside eval's: the
  // Train-mode model graph's state (the random-number counter of dropout) and the step counter.
  t->trainState_.insert(kStepCounter);
  if (auto forward = t->mainProgram().inferCompilations.front()->modelGraph(); forward)
    for (const Function &fn : (*forward)->functions())
      for (const Argument &a : fn.arguments())
        if (a.role == ArgRole::State)
          t->trainState_.insert(a.name);
  return t;
}

Result<void> Trainer::trainStep() {
  if (auto it = programs_.find(localBatch()); it != programs_.end() && it->second->module)
    return {}; // the same on every process: all compiled it at the same call
  Result<void> ok;
  if (auto v = batchProgram(localBatch()); !v)
    ok = v.error();
  if (!dataParallel())
    return ok;
  if (auto r = comm_->agree(std::move(ok)); !r)
    return r;
  return comm_->agree(setUpDataParallel());
}

int64_t Trainer::localBatch() const {
  if (!dataParallel())
    return config().batch;
  return static_cast<int64_t>(shardOf(static_cast<size_t>(config().batch), comm_->rank(), comm_->size()).count);
}

const TrainConfig &Trainer::config() const { return source_->trainConfig(); }

Result<void> Trainer::setStepsPerEpoch(int64_t steps) {
  stepsPerEpoch_ = std::max<int64_t>(1, steps);
  writeScheduleSettings();
  return {};
}

void Trainer::writeScheduleSettings() {
  // The schedule reads them from the state: every compiled batch size sees the new values.
  for (auto [name, value] : {std::pair{kStepsPerEpoch, stepsPerEpoch_}, std::pair{kScheduleEpochs, config().epochs}})
    if (auto it = state_.find(name); it != state_.end())
      writeElement(it->second->bytes.data(), it->second->type.dtype, 0, static_cast<double>(value));
}

std::unique_ptr<Compilation> Trainer::compilationFor(int64_t batch, Part part) const {
  std::vector<std::string> functions;
  switch (part) {
  case Part::Train: functions = {"train_step", kGradStep, kApplyStep}; break;
  case Part::Infer: functions = {"eval", "predict"}; break;
  case Part::Eval: functions = {"eval"}; break;
  case Part::Predict: functions = {"predict"}; break;
  }
  return source_->withBatch(batch, stepsPerEpoch_, part == Part::Train && dataParallel(), std::move(functions));
}

Result<Trainer::CompiledProgram> Trainer::takeCompiled(int64_t batch, Part part) {
  auto p = pending_.find({batch, part});
  if (p == pending_.end())
    return compileProgram(compilationFor(batch, part));
  // Compiled in the background (prefetchBatchProgram): wait for the rest of it, if any.
  auto waiting = std::chrono::steady_clock::now();
  Result<CompiledProgram> r = p->second.get();
  pending_.erase(p);
  double waitMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - waiting).count();
  compileSplit_.waitMs += waitMs;
  if (r) {
    r->background = true;
    r->seconds = waitMs / 1e3; // the training thread's share of it
  }
  return r;
}

Trainer::BatchProgram &Trainer::programSlot(int64_t batch) {
  std::unique_ptr<BatchProgram> &v = programs_[batch];
  if (!v) {
    v = std::make_unique<BatchProgram>();
    v->batch = batch;
  }
  return *v;
}

Result<Trainer::BatchProgram *> Trainer::batchProgram(int64_t batch) {
  if (auto it = programs_.find(batch); it != programs_.end() && it->second->module)
    return it->second.get();
  Result<CompiledProgram> compiled = takeCompiled(batch, Part::Train);
  if (!compiled)
    return compiled.error();
  BatchProgram &v = programSlot(batch);
  if (auto r = installBatchProgram(std::move(*compiled), v); !r) {
    if (v.inferParts == 0) {
      programs_.erase(batch);
    } else { // keep the eval or predict compiled before (TrainerUse::Evaluate, Predict)
      v.compilation.reset();
      v.module = nullptr;
      v.train = v.grad = v.apply = nullptr;
      v.trainB = v.gradB = v.applyB = Binding{};
      setInferenceIO(v);
    }
    return r.error();
  }
  return &v;
}

bool Trainer::hasPart(const BatchProgram &v, Part part) {
  auto has = [&](Part p) { return (v.inferParts >> static_cast<int>(p)) & 1; };
  switch (part) {
  case Part::Train: return v.module != nullptr;
  case Part::Infer: return has(Part::Infer) || (has(Part::Eval) && has(Part::Predict));
  case Part::Eval: return has(Part::Infer) || has(Part::Eval);
  case Part::Predict: return has(Part::Infer) || has(Part::Predict);
  }
  return false;
}

Result<Trainer::BatchProgram *> Trainer::evaluation(int64_t batch, Part part) {
  if (auto it = programs_.find(batch); it != programs_.end() && hasPart(*it->second, part))
    return it->second.get();
  Result<CompiledProgram> compiled = takeCompiled(batch, part);
  if (!compiled)
    return compiled.error();
  BatchProgram &v = programSlot(batch);
  // What the program held before: kept when this install fails (it fails before binding).
  uint8_t parts = v.inferParts;
  size_t compilations = v.inferCompilations.size(), modules = v.inferModules.size();
  if (auto r = installEvaluation(std::move(*compiled), v, part); !r) {
    if (!v.module && parts == 0) {
      programs_.erase(batch);
    } else {
      v.inferParts = parts;
      v.inferModules.resize(modules);
      v.inferCompilations.resize(compilations);
    }
    return r.error();
  }
  return &v;
}

Trainer::BatchProgram &Trainer::mainProgram() const { return *programs_.at(localBatch()); }

void Trainer::prefetchBatchProgram(int64_t batch, Part part) {
  if (!backgroundCompile_ || batch <= 0 || pending_.count({batch, part}))
    return;
  if (auto it = programs_.find(batch); it != programs_.end() && hasPart(*it->second, part))
    return;
  // The compile reads only its own Compilation (and the checked program, shared read-only);
  // each Executable has its own LLVM context and JIT. The main thread trains meanwhile.
  std::unique_ptr<Compilation> c = compilationFor(batch, part);
  pending_[{batch, part}] =
      std::async(std::launch::async, [c = std::move(c)]() mutable { return compileProgram(std::move(c)); });
}

void Trainer::prefetchEvaluation() { prefetchBatchProgram(localBatch(), evalPart()); }

void Trainer::prefetchTail(size_t examples, Part part) {
  size_t batch = static_cast<size_t>(config().batch);
  size_t tail = batch ? examples % batch : 0;
  if (tail == 0)
    return;
  size_t rows = dataParallel() ? shardOf(tail, comm_->rank(), comm_->size()).count : tail;
  prefetchBatchProgram(static_cast<int64_t>(rows), part);
}

Result<Trainer::CompiledProgram> Trainer::compileProgram(std::unique_ptr<Compilation> compilation) {
  CompiledProgram out;
  auto start = std::chrono::steady_clock::now();
  auto ms = [](auto from) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - from).count();
  };
  if (auto graphs = compilation->optimizedGraphs(); !graphs)
    return graphs.error();
  out.graphsMs = ms(start);
  auto jitStart = std::chrono::steady_clock::now();
  if (auto exe = compilation->executable(); !exe)
    return exe.error();
  out.jitMs = ms(jitStart);
  out.seconds = ms(start) / 1e3;
  out.compilation = std::move(compilation);
  return out;
}

void Trainer::account(const CompiledProgram &compiled, const Executable &exe) {
  CompileSplit &s = compileSplit_;
  const CompileTimes &t = exe.times();
  bool first = s.compiles++ == 0;
  s.graphsMs += compiled.graphsMs;
  s.jitMs += compiled.jitMs;
  if (compiled.background)
    s.backgroundMs += compiled.graphsMs + compiled.jitMs;
  s.jit.emitMs += t.emitMs;
  s.jit.gemmLevel = t.gemmLevel;
  for (auto [sum, one] : {std::pair{&s.jit.model, &t.model}, std::pair{&s.jit.gemm, &t.gemm}}) {
    sum->fromCache = one->fromCache && (first || sum->fromCache);
    sum->loadMs += one->loadMs;
    sum->optimizeMs += one->optimizeMs;
    sum->machineCodeMs += one->machineCodeMs;
  }
}

const Function *Trainer::functionOf(const BatchProgram &v, const std::string &name) {
  if (const Function *fn = v.module ? v.module->findFunction(name) : nullptr)
    return fn;
  for (const Module *m : v.inferModules)
    if (const Function *fn = m->findFunction(name))
      return fn;
  return nullptr;
}

std::map<std::string, std::vector<int64_t>> Trainer::compiledFunctions() const {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto &[batch, v] : programs_) // in increasing batch order
    for (auto [name, code] : {std::pair<const char *, CompiledFunction *>{"train_step", v->train},
                              {kGradStep, v->grad}, {kApplyStep, v->apply}, {"eval", v->eval},
                              {"predict", v->predict}})
      if (code)
        out[name].push_back(batch);
  return out;
}

void Trainer::learnModel(Compilation &c) {
  modelName_ = c.model().name;
  hasCorrect_ = c.model().hasCorrect;
  // predict's first result, known before predict compiles: the model graph's results are
  // `loss`, `correct` (classifiers), then the outputs in order, which are predict's.
  if (auto forward = c.modelGraph(); forward && predictOutput_.empty() && !(*forward)->functions().empty())
    for (const FunctionResult &r : (*forward)->functions().front().results())
      if (r.name != "loss" && !(hasCorrect_ && r.name == "correct")) {
        predictOutput_ = r.name;
        break;
      }
}

Result<void> Trainer::addBuffers(const Function &fn, BatchProgram &v) {
  if (auto r = initState(fn); !r)
    return r;
  writeScheduleSettings();
  auto &io = v.io[fn.name()];
  for (const Argument &a : fn.arguments())
    if (a.role != ArgRole::State && !a.name.starts_with(kGradientPrefix)) // gradients: in bucket_
      io["arg:" + a.name].assign(storageSize(a.type), 0);
  for (const FunctionResult &r : fn.results())
    if (!r.name.starts_with(kGradientPrefix))
      io["result:" + r.name].assign(storageSize(fn.type(r.value)), 0);
  return {};
}

Result<void> Trainer::installBatchProgram(CompiledProgram compiled, BatchProgram &v) {
  auto start = std::chrono::steady_clock::now();
  v.compilation = std::move(compiled.compilation);
  auto exe = v.compilation->executable(); // kept by the Compilation: no second compile
  if (!exe)
    return exe.error();
  account(compiled, **exe);
  v.module = *v.compilation->optimizedGraphs();
  learnModel(*v.compilation);
  Executable *code = *exe;
  v.train = code->function("train_step");
  v.grad = code->function(kGradStep);
  v.apply = code->function(kApplyStep);
  for (const Function &fn : v.module->functions())
    if (auto r = addBuffers(fn, v); !r)
      return r;
  if (const Function *train = v.module->findFunction("train_step")) {
    v.input = argumentWithRole(*train, ArgRole::Input);
    v.target = argumentWithRole(*train, ArgRole::Target);
    countIO(v);
  }
  bind(v, v.trainB, v.train, "train_step");
  if (dataParallel() && !bucket_.empty()) { // the first program's are bound by setUpDataParallel,
    bind(v, v.gradB, v.grad, kGradStep);      // which lays out the gradients
    bind(v, v.applyB, v.apply, kApplyStep);
  }
  // A label per time step: `correct` counts labels, and the accuracy is over all of them.
  if (const Argument *y = argumentWithRole(*v.module->findFunction("train_step"), ArgRole::Target);
      y && y->type.dtype == DType::I32)
    labelsPerExample_ = std::max<int64_t>(1, perExample(y->type));
  // The train step's order of the parameters (the data-parallel gradient buffer's), also when
  // eval compiled first.
  params_.clear();
  for (const Argument &a : v.module->findFunction("train_step")->arguments())
    if (a.role == ArgRole::State && a.trainable)
      params_.push_back(a.name);
  compileSeconds_ += compiled.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {};
}

Result<void> Trainer::installEvaluation(CompiledProgram compiled, BatchProgram &v, Part part) {
  auto start = std::chrono::steady_clock::now();
  Compilation &c = *v.inferCompilations.emplace_back(std::move(compiled.compilation));
  auto exe = c.executable(); // kept by the Compilation
  if (!exe)
    return exe.error();
  account(compiled, **exe);
  const Module &m = **c.optimizedGraphs();
  v.inferModules.push_back(&m);
  v.inferParts |= static_cast<uint8_t>(1u << static_cast<int>(part));
  if (modelName_.empty())
    learnModel(c);
  for (const Function &fn : m.functions())
    if (auto r = addBuffers(fn, v); !r)
      return r;
  // The functions this compile has; one compiled before (Part::Eval, then Part::Predict) stays.
  if (CompiledFunction *eval = (*exe)->function("eval")) {
    v.eval = eval;
    bind(v, v.evalB, v.eval, "eval");
  }
  if (CompiledFunction *predict = (*exe)->function("predict")) {
    v.predict = predict;
    bind(v, v.predictB, v.predict, "predict");
  }
  if (!v.module) // no train step
    setInferenceIO(v);
  const Function *predict = functionOf(v, "predict");
  if (predictOutput_.empty() && predict && !predict->results().empty())
    predictOutput_ = predict->results().front().name;
  compileSeconds_ += compiled.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {};
}

void Trainer::countIO(BatchProgram &v) {
  v.inputElements = v.input ? static_cast<size_t>(v.input->type.numElements()) : 0;
  v.targetElements = v.target ? static_cast<size_t>(v.target->type.numElements()) : 0;
}

void Trainer::setInferenceIO(BatchProgram &v) {
  const Function *eval = functionOf(v, "eval"), *fn = eval ? eval : functionOf(v, "predict");
  v.input = fn ? argumentWithRole(*fn, ArgRole::Input) : nullptr;
  v.target = eval ? argumentWithRole(*eval, ArgRole::Target) : nullptr;
  countIO(v);
  // A label per time step: `correct` counts labels, and the accuracy is over all of them.
  if (v.target && v.target->type.dtype == DType::I32)
    labelsPerExample_ = std::max<int64_t>(1, perExample(v.target->type));
  if (params_.empty() && fn)
    for (const Argument &a : fn->arguments())
      if (a.role == ArgRole::State && a.trainable)
        params_.push_back(a.name);
}

/// Creates the state buffers `fn` reads that do not exist yet, from their initializers.
Result<void> Trainer::initState(const Function &fn) {
  for (const Argument &a : fn.arguments()) {
    if (a.role != ArgRole::State)
      continue;
    auto it = state_.find(a.name);
    if (it != state_.end()) {
      if (it->second->type != a.type)
        return Error{fmt::format("internal error: state '{}' is {} in one function and {} in another",
                                 a.name, it->second->type.str(), a.type.str())};
      continue;
    }
    auto s = std::make_unique<State>();
    s->type = a.type;
    s->bytes.assign(storageSize(a.type), 0);
    if (auto r = initializeZeroed(a.init, a.type, config().seed, a.name, s->bytes.data()); !r)
      return r;
    state_[a.name] = std::move(s);
    stateOrder_.push_back(a.name);
  }
  return {};
}

void Trainer::bind(BatchProgram &v, Binding &b, CompiledFunction *code, const std::string &which) {
  b = Binding{};
  const Function *fn = functionOf(v, which);
  if (!code || !fn)
    return;
  b.code = code;
  auto &io = v.io[which];
  for (const Argument &a : fn->arguments()) {
    Binding::Slot slot;
    slot.dtype = a.type.dtype;
    slot.elements = static_cast<size_t>(a.type.numElements());
    if (a.role == ArgRole::State) {
      slot.from = Binding::From::State;
      slot.state = state_.at(a.name).get();
    } else if (a.name.starts_with(kGradientPrefix)) { // train_apply: the summed gradients
      slot.from = Binding::From::Gradient;
      slot.offset = gradOffset_.at(a.name.substr(std::strlen(kGradientPrefix)));
    } else {
      slot.fixed = io["arg:" + a.name].data();
      slot.from = a.role == ArgRole::Input                                ? Binding::From::Features
                  : a.role == ArgRole::Target && a.type.dtype == DType::I32 ? Binding::From::Labels
                                                                          : Binding::From::Targets;
    }
    b.slots.push_back(slot);
  }
  for (const FunctionResult &r : fn->results()) {
    Binding::Slot slot;
    if (r.name.starts_with(kGradientPrefix)) { // train_grad: into the buffer to be summed
      slot.from = Binding::From::Gradient;
      slot.offset = gradOffset_.at(r.name.substr(std::strlen(kGradientPrefix)));
    } else {
      slot.fixed = io["result:" + r.name].data();
      if (r.name == "loss") {
        b.loss = slot.fixed;
        b.lossType = fn->type(r.value).dtype;
      } else if (r.name == "correct") {
        b.correct = slot.fixed;
        b.correctType = fn->type(r.value).dtype;
      }
    }
    b.slots.push_back(slot);
  }
  b.ptrs.assign(b.slots.size(), nullptr);
}

void Trainer::call(BatchProgram &v, Binding &b) { call(b, Rows{v.features, v.targets, v.labels}); }

void Trainer::call(Binding &b, const Rows &rows) {
  for (size_t i = 0; i < b.slots.size(); ++i) {
    const Binding::Slot &s = b.slots[i];
    void *p = s.fixed;
    switch (s.from) {
    case Binding::From::Fixed:
      break;
    case Binding::From::State:
      p = s.state->bytes.data();
      break;
    case Binding::From::Gradient:
      p = bucket_.data() + s.offset;
      break;
    case Binding::From::Labels:
      std::memcpy(p, rows.labels.data(), s.elements * 4);
      break;
    case Binding::From::Features:
    case Binding::From::Targets: {
      std::span<const float> staged = s.from == Binding::From::Features ? rows.features : rows.targets;
      if (s.dtype == DType::F32 && staged.size() == s.elements) {
        // float already: read in place (compiled code never writes its inputs)
        p = const_cast<float *>(staged.data());
        break;
      }
      for (size_t e = 0; e < s.elements; ++e)
        writeElement(p, s.dtype, e, staged[e]);
      break;
    }
    }
    b.ptrs[i] = p;
  }
  b.code->call(b.ptrs.data());
}

/// The number of classes the model's i32 target `y` indexes, read from the ops that take it:
/// softmax_cross_entropy (the logits' last dimension) or one_hot (its depth); 0 when unknown.
static int64_t classesOf(const Function &fn, const Argument &y) {
  ValueId target = y.value;
  for (const Node &n : fn.nodes()) {
    if (n.op == OpKind::SoftmaxCrossEntropy && n.operands.size() == 2 && n.operands[1] == target) {
      const TensorType &logits = fn.type(n.operands[0]);
      if (!logits.shape.empty())
        return logits.shape.back();
    }
    if (n.op == OpKind::OneHot && !n.operands.empty() && n.operands[0] == target)
      return n.attrs.getInt("depth");
  }
  return 0;
}

Result<void> Trainer::checkData(const Dataset &data) const {
  std::string file = data.featureSource.empty() ? std::string() : data.featureSource + ": ";
  if (data.size() == 0)
    return Error{file + "the data set has no examples"};
  // train_step's input and target; without a train step, eval's (the same).
  const BatchProgram &v = mainProgram();
  const Function *fn = functionOf(v, "train_step");
  if (!fn)
    fn = functionOf(v, "eval");
  if (!fn)
    return Error{"internal error: the data is checked against a model with neither train_step nor eval compiled"};
  const Function &train = *fn;
  const Argument *x = argumentWithRole(train, ArgRole::Input);
  const Argument *y = argumentWithRole(train, ArgRole::Target);
  if (!x)
    return Error{fmt::format("model '{}' has no input to feed data to", modelName_)};
  if (static_cast<int64_t>(data.featureSize()) != perExample(x->type))
    return Error{fmt::format("{}the data has {} features per example, but input '{}' is {} ({} per example)", file,
                             data.featureSize(), x->name, x->type.str(), perExample(x->type))};
  if (!y)
    return {};
  std::string labelFile = data.labelSource.empty() ? file : data.labelSource + ": ";
  if (y->type.dtype == DType::I32) {
    if (data.labelKind != LabelKind::Class)
      return Error{fmt::format("{}target '{}' is {}: it needs class labels, but the data has float targets",
                               labelFile, y->name, y->type.str())};
    if (perExample(y->type) != static_cast<int64_t>(data.labelsPerExample()))
      return Error{fmt::format("{}target '{}' is {} ({} labels per example), but the data has {} per example",
                               labelFile, y->name, y->type.str(), perExample(y->type), data.labelsPerExample())};
    // A label outside the model's classes would give a NaN loss (or a wrong one-hot row).
    int64_t k = classesOf(train, *y);
    size_t L = data.labelsPerExample();
    if (k > 0 && static_cast<int64_t>(data.classNames.size()) > k)
      return Error{fmt::format("{}the labels name {} classes ({}), but target '{}' of the model has {}", labelFile,
                               data.classNames.size(), fmt::join(data.classNames, ", "), y->name, k)};
    for (size_t i = 0; i < data.classLabels.size(); ++i) {
      int32_t label = data.classLabels[i];
      if (label < 0 || (k > 0 && label >= k))
        return Error{fmt::format("{}: label {} is outside the model's {} classes (0 to {}) of target '{}'",
                                 data.where(i / L, true), label, k, k - 1, y->name)};
    }
    return {};
  }
  int64_t want = perExample(y->type);
  if (data.labelKind == LabelKind::Class) {
    if (data.labelsPerExample() != 1)
      return Error{fmt::format("{}target '{}' is {}: {} class labels per example need an i32 target", labelFile,
                               y->name, y->type.str(), data.labelsPerExample())};
    if (want != 1 && want != data.numClasses()) {
      // Name the first label past the model's classes when that is the problem.
      for (size_t i = 0; i < data.classLabels.size(); ++i)
        if (data.classLabels[i] >= want)
          return Error{fmt::format("{}: label {} is outside the model's {} classes (0 to {}) of target '{}' ({})",
                                   data.where(i, true), data.classLabels[i], want, want - 1, y->name, y->type.str())};
      return Error{fmt::format("{}target '{}' is {} ({} per example), but the data has {} classes", labelFile,
                               y->name, y->type.str(), want, data.numClasses())};
    }
    return {};
  }
  if (static_cast<int64_t>(data.targetSize()) != want)
    return Error{fmt::format("{}the data has {} target values per example, but target '{}' is {} ({} per example)",
                             labelFile, data.targetSize(), y->name, y->type.str(), want)};
  return {};
}

/// Copies batch `b` of `batcher` (over `data`) into the program's staging buffers, the labels in
/// the form the model's target takes: class indices, the index as a number, or one-hot rows.
Result<size_t> Trainer::stage(BatchProgram &v, const Dataset &data, const Batcher &batcher, size_t b,
                              Shard shard) {
  const Argument *y = v.target;
  size_t rows = shard.count;
  v.features.resize(rows * data.featureSize());
  BatchBuffers out;
  out.features = v.features;
  if (y && data.labelKind == LabelKind::Class && y->type.dtype == DType::I32) {
    v.labels.resize(rows * data.labelsPerExample());
    out.classLabels = v.labels;
  } else if (y && data.labelKind == LabelKind::Class) {
    int64_t per = perExample(y->type);
    v.targets.resize(rows * size_t(per));
    (per == 1 ? out.classValues : out.oneHot) = v.targets;
  } else if (y) {
    v.targets.resize(rows * data.targetSize());
    out.targets = v.targets;
  }
  return batcher.fillRows(b, shard.first, shard.count, out);
}

Result<StepResult> Trainer::step(std::span<const float> features, std::span<const int32_t> classLabels,
                                 std::span<const float> targets, size_t rows) {
  if (rows == 0 && !dataParallel())
    return Error{"a train step needs at least one example"};
  if (auto r = trainStep(); !r) // compiled on first use (TrainerUse::Evaluate, Predict)
    return r.error();
  BatchProgram *vp = nullptr;
  Result<void> checked = [&]() -> Result<void> {
    if (rows == 0) // data-parallel: this process has no rows in this step
      return {};
    auto vr = batchProgram(static_cast<int64_t>(rows));
    if (!vr)
      return vr.error();
    vp = *vr;
    const BatchProgram &v = *vp;
    if (!v.input || features.size() != v.inputElements)
      return Error{fmt::format("step: expected {} feature values for {} rows", v.inputElements, rows)};
    if (v.target && v.target->type.dtype == DType::I32 && classLabels.size() != v.targetElements)
      return Error{fmt::format("step: expected {} class labels", v.targetElements)};
    if (v.target && v.target->type.dtype != DType::I32 && targets.size() != v.targetElements)
      return Error{fmt::format("step: expected {} target values", v.targetElements)};
    return {};
  }();
  if (dataParallel()) { // the exchange reads the minibatch from the program's staging buffers
    if (checked && vp) {
      vp->features.assign(features.begin(), features.end());
      if (vp->target && vp->target->type.dtype == DType::I32)
        vp->labels.assign(classLabels.begin(), classLabels.end());
      else if (vp->target)
        vp->targets.assign(targets.begin(), targets.end());
    }
    bool stopAll = false;
    return exchangeStep(checked ? vp : nullptr, rows, std::move(checked), false, stopAll);
  }
  if (!checked)
    return checked.error();
  BatchProgram &v = *vp;
  call(v.trainB, Rows{features, targets, classLabels});
  StepResult out;
  out.loss = readElement(v.trainB.loss, v.trainB.lossType, 0);
  if (v.trainB.correct)
    out.correct = readElement(v.trainB.correct, v.trainB.correctType, 0);
  return out;
}

Result<double> Trainer::runBatch(const Dataset &data, const Batcher &batcher, size_t b, bool training,
                                BatchTotals &totals, Shard shard) {
  size_t rows = shard.count;
  auto program = training ? batchProgram(static_cast<int64_t>(rows)) : evaluation(static_cast<int64_t>(rows), evalPart());
  if (!program)
    return program.error();
  BatchProgram &v = **program;
  if (auto r = stage(v, data, batcher, b, shard); !r)
    return r.error();
  Binding &bound = training ? v.trainB : v.evalB;
  call(v, bound);
  double loss = 0;
  if (bound.loss)
    loss = readElement(bound.loss, bound.lossType, 0);
  totals.lossSum += loss * double(rows);
  if (bound.correct)
    totals.correct += readElement(bound.correct, bound.correctType, 0);
  totals.examples += rows;
  return loss;
}

EvalStats Trainer::statsOf(const BatchTotals &totals) const {
  EvalStats stats;
  stats.examples = totals.examples;
  if (totals.examples > 0) {
    stats.loss = totals.lossSum / double(totals.examples);
    stats.hasAccuracy = hasCorrect_;
    stats.accuracy = totals.correct / (double(totals.examples) * double(labelsPerExample_));
  }
  return stats;
}

Result<EvalStats> Trainer::trainEpoch(const Dataset &data, uint64_t epoch, const ProgressFn &progress,
                                      const std::atomic<bool> *stop) {
  if (auto r = trainStep(); !r) // compiled on first use (TrainerUse::Evaluate, Predict)
    return r.error();
  if (dataParallel())
    return trainEpochDataParallel(data, epoch, progress, stop);
  if (auto r = checkData(data); !r)
    return r.error();
  Batcher batcher(data, static_cast<size_t>(config().batch), config().seed, config().shuffle);
  batcher.startEpoch(epoch);
  size_t steps = batcher.numBatches();
  if (auto r = setStepsPerEpoch(static_cast<int64_t>(steps)); !r)
    return r.error();
  prefetchTail(data.size()); // compiles while the full minibatches train
  if (position_.epoch != static_cast<int64_t>(epoch) || position_.stepInEpoch > static_cast<int64_t>(steps))
    position_ = RunPosition{static_cast<int64_t>(epoch)};
  BatchTotals totals{position_.lossSum, position_.correct, static_cast<size_t>(position_.examples)};
  auto record = [&](size_t stepsDone) {
    position_.stepInEpoch = static_cast<int64_t>(stepsDone);
    position_.lossSum = totals.lossSum;
    position_.correct = totals.correct;
    position_.examples = static_cast<int64_t>(totals.examples);
  };
  // The last state known to be finite, and where it was: the non-finite guard replays from it.
  size_t s = static_cast<size_t>(position_.stepInEpoch);
  StateCopy good = copyState();
  size_t goodStep = s;
  BatchTotals goodTotals = totals;
  bool stopped = false;
  while (s < steps) {
    if (stop && stop->load()) {
      stopped = true;
      break;
    }
    auto loss = runBatch(data, batcher, s, /*training=*/true, totals, Shard{0, batcher.rowsIn(s)});
    if (!loss)
      return loss.error();
    bool bad = !std::isfinite(*loss);
    // The whole state is checked only every kGuardInterval steps (and copied when finite), so
    // the guard costs a scalar test per step.
    if (!bad && (s + 1 - goodStep >= size_t(kGuardInterval) || s + 1 == steps)) {
      if (stateIsFinite()) {
        copyStateInto(good);
        goodStep = s + 1;
        goodTotals = totals;
      } else {
        bad = true;
      }
    }
    if (bad) {
      totals = goodTotals;
      auto found = findNonFinite(data, batcher, good, goodStep, s, totals);
      if (!found)
        return found.error();
      auto [badStep, what] = *found;
      record(badStep);
      if (nonFinite_ == NonFinitePolicy::Stop)
        return Error{fmt::format("{}\nnote: training stopped; the state is the one before that step (use "
                                 "--on-nonfinite=skip to skip such minibatches)",
                                 what)};
      // A warning, not an error: the first in full, later ones on one line.
      if (size_t e = what.find(": error: "); e != std::string::npos)
        what.replace(e, 9, ": warning: ");
      if (skipped_++ == 0)
        fmt::print(stderr, "{}\nnote: skipping that minibatch (--on-nonfinite=skip)\n", what);
      else
        fmt::print(stderr, "{}; skipped\n", what.substr(0, what.find('\n')));
      s = badStep + 1;
      record(s);
      good = copyState();
      goodStep = s;
      goodTotals = totals;
      continue;
    }
    record(s + 1);
    if (onStep_)
      onStep_(stepCount(), static_cast<int64_t>(epoch), *loss);
    if (progress)
      progress(s + 1, steps, totals.examples ? totals.lossSum / double(totals.examples) : 0.0, totals.examples);
    ++s;
  }
  EvalStats stats = statsOf(totals);
  stats.complete = !stopped;
  if (!stopped)
    position_ = RunPosition{static_cast<int64_t>(epoch) + 1};
  return stats;
}

Trainer::StateCopy Trainer::copyState() const {
  StateCopy copy;
  copyStateInto(copy);
  return copy;
}

void Trainer::copyStateInto(StateCopy &copy) const {
  copy.resize(stateOrder_.size());
  for (size_t i = 0; i < stateOrder_.size(); ++i)
    copy[i] = state_.at(stateOrder_[i])->bytes; // reuses the copy's buffers
}

void Trainer::restoreState(const StateCopy &copy) {
  for (size_t i = 0; i < stateOrder_.size() && i < copy.size(); ++i)
    state_.at(stateOrder_[i])->bytes = copy[i];
}

bool Trainer::stateIsFinite() const {
  // NaN and infinity are the values whose exponent bits are all ones: an integer test that
  // vectorizes, one pass over the state.
  for (const auto &[name, s] : state_) {
    if (s->type.dtype == DType::F32) {
      size_t n = s->bytes.size() / sizeof(uint32_t);
      const uint8_t *p = s->bytes.data();
      uint32_t bad = 0;
      for (size_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, p + i * sizeof(bits), sizeof(bits));
        bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
      }
      if (bad)
        return false;
    } else if (s->type.dtype == DType::F64) {
      size_t n = s->bytes.size() / sizeof(uint64_t);
      const uint8_t *p = s->bytes.data();
      uint64_t bad = 0;
      for (size_t i = 0; i < n; ++i) {
        uint64_t bits;
        std::memcpy(&bits, p + i * sizeof(bits), sizeof(bits));
        bad |= static_cast<uint64_t>((bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
      }
      if (bad)
        return false;
    }
  }
  return true;
}

Result<std::pair<size_t, std::string>> Trainer::findNonFinite(const Dataset &data, const Batcher &batcher,
                                                              const StateCopy &good, size_t goodStep,
                                                              size_t badStep, BatchTotals &totals) {
  restoreState(good);
  for (size_t j = goodStep; j <= badStep; ++j) {
    StateCopy before = copyState();
    BatchTotals t = totals;
    auto loss = runBatch(data, batcher, j, /*training=*/true, t, Shard{0, batcher.rowsIn(j)});
    if (!loss)
      return loss.error();
    if (std::isfinite(*loss) && stateIsFinite()) {
      totals = t;
      continue;
    }
    restoreState(before);
    int64_t stepNumber = stepCount() + 1;
    std::string where = firstNonFiniteOp(data, batcher, j);
    std::string what = std::isfinite(*loss) ? "the state became non-finite" : fmt::format("the loss is {}", *loss);
    std::string at = fmt::format("at step {} (epoch {})", stepNumber, position_.epoch + 1);
    if (where.empty())
      return std::pair{j, fmt::format("{} {}; replaying that minibatch in the reference interpreter found no "
                                      "op producing a non-finite value (the compiled code rounds differently)",
                                      what, at)};
    // `where` is a rendered diagnostic: the step goes into its first line.
    size_t eol = where.find('\n');
    std::string first = where.substr(0, eol), rest = eol == std::string::npos ? "" : where.substr(eol);
    while (!rest.empty() && rest.back() == '\n')
      rest.pop_back();
    return std::pair{j, fmt::format("{} {}{}", first, at, rest)};
  }
  // The compiled step is deterministic, so the replay meets the same value; when it does not,
  // the state is the one after the replayed steps, all finite.
  return Error{fmt::format("internal error: a non-finite value at step {} of epoch {} did not recur when the "
                           "steps were replayed",
                           badStep + 1, position_.epoch + 1)};
}

std::string Trainer::firstNonFiniteOp(const Dataset &data, const Batcher &batcher, size_t b) {
  size_t rows = batcher.rowsIn(b);
  auto program = batchProgram(static_cast<int64_t>(rows));
  if (!program)
    return {};
  BatchProgram &v = **program;
  if (!stage(v, data, batcher, b, Shard{0, rows}))
    return {};
  auto graphs = v.compilation->trainingGraphs();
  if (!graphs)
    return {};
  const Function *fn = (*graphs)->findFunction("train_step");
  if (!fn)
    return {};
  std::map<std::string, Tensor> args;
  for (const Argument &a : fn->arguments()) {
    size_t n = static_cast<size_t>(a.type.numElements());
    Tensor t(a.type, std::vector<double>(n));
    if (a.role == ArgRole::State) {
      auto it = state_.find(a.name);
      if (it == state_.end())
        return {};
      for (size_t i = 0; i < n; ++i)
        t.data[i] = readElement(it->second->bytes.data(), a.type.dtype, i);
    } else if (a.role == ArgRole::Target && a.type.dtype == DType::I32) {
      for (size_t i = 0; i < n && i < v.labels.size(); ++i)
        t.data[i] = v.labels[i];
    } else {
      const std::vector<float> &src = a.role == ArgRole::Input ? v.features : v.targets;
      for (size_t i = 0; i < n && i < src.size(); ++i)
        t.data[i] = src[i];
    }
    args.emplace(a.name, std::move(t));
  }
  auto found = firstNonFinite(*fn, args);
  const std::optional<NonFiniteValue> *bad = found ? &*found : nullptr;
  if (!bad || !*bad)
    return {};
  return v.compilation->renderError((*bad)->node->loc, fmt::format("'{}' produced {}", mnemonic((*bad)->node->op),
                                                                     nonFiniteName((*bad)->value)));
}

Result<void> Trainer::checkEvalData(const Dataset &data) {
  // The data is checked against train_step's input and target, or eval's: without a train
  // step, eval for the minibatch size compiles first.
  if (!functionOf(mainProgram(), "train_step"))
    if (auto v = evaluation(localBatch(), evalPart()); !v)
      return v.error();
  return checkData(data);
}

Result<EvalStats> Trainer::evaluate(const Dataset &data) {
  if (dataParallel())
    return evaluateDataParallel(data);
  if (auto r = checkEvalData(data); !r)
    return r.error();
  Batcher batcher(data, static_cast<size_t>(config().batch), config().seed, /*shuffle=*/false);
  prefetchTail(data.size(), evalPart());
  BatchTotals totals;
  for (size_t b = 0; b < batcher.numBatches(); ++b)
    if (auto r = runBatch(data, batcher, b, /*training=*/false, totals, Shard{0, batcher.rowsIn(b)}); !r)
      return r.error();
  return statsOf(totals);
}

Result<std::vector<float>> Trainer::predict(const Dataset &data, std::vector<int64_t> &shape) {
  auto main = evaluation(localBatch(), predictPart());
  if (!main)
    return main.error();
  const Function *predictFn = functionOf(**main, "predict");
  if (!predictFn)
    return Error{fmt::format("internal error: model '{}' has no predict function", modelName_)};
  const Argument *x = argumentWithRole(*predictFn, ArgRole::Input);
  if (!x || static_cast<int64_t>(data.featureSize()) != perExample(x->type))
    return Error{fmt::format("the data has {} features per example, but the model's input is {}",
                             data.featureSize(), x ? x->type.str() : std::string("missing"))};
  if (predictOutput_.empty())
    return Error{fmt::format("model '{}' has no 'output' to predict", modelName_)};
  size_t n = data.size();
  Batcher batcher(data, static_cast<size_t>(config().batch), config().seed, /*shuffle=*/false);
  prefetchTail(n, predictPart());
  std::vector<float> out;
  for (size_t b = 0; b < batcher.numBatches(); ++b) {
    size_t rows = batcher.rowsIn(b);
    auto vr = evaluation(static_cast<int64_t>(rows), predictPart());
    if (!vr)
      return vr.error();
    BatchProgram &v = **vr;
    v.features.resize(rows * data.featureSize());
    BatchBuffers features;
    features.features = v.features;
    if (auto r = batcher.fill(b, features); !r)
      return r.error();
    call(v, v.predictB);
    const Function &fn = *functionOf(v, "predict");
    ValueId r = fn.findResult(predictOutput_);
    const TensorType &t = fn.type(r);
    auto &buf = v.io["predict"]["result:" + predictOutput_];
    for (int64_t i = 0; i < t.numElements(); ++i)
      out.push_back(float(readElement(buf.data(), t.dtype, size_t(i))));
    shape = t.shape;
  }
  if (!shape.empty())
    shape[0] = static_cast<int64_t>(n);
  return out;
}

std::vector<std::string> Trainer::parameterNames() const { return params_; }

Result<HostTensor> Trainer::tensor(const std::string &name) const {
  auto it = state_.find(name);
  if (it == state_.end())
    return Error{fmt::format("model '{}' has no state tensor '{}'", modelName_, name)};
  const State &s = *it->second;
  HostTensor t;
  t.dtype = elementTypeFor(s.type.dtype);
  t.shape = s.type.shape;
  t.bytes = s.bytes;
  return t;
}

Result<void> Trainer::setTensor(const std::string &name, const HostTensor &value) {
  auto it = state_.find(name);
  if (it == state_.end())
    return Error{fmt::format("model '{}' has no state tensor '{}'", modelName_, name)};
  State &s = *it->second;
  if (value.dtype != elementTypeFor(s.type.dtype) || value.shape != s.type.shape ||
      value.bytes.size() != s.bytes.size())
    return Error{fmt::format("'{}' is {}, but the given tensor is {}{}", name, s.type.str(),
                             elementTypeName(value.dtype), formatShape(value.shape))};
  s.bytes = value.bytes;
  return {};
}

int64_t Trainer::stepCount() const {
  auto it = state_.find(kStepCounter);
  return it == state_.end() ? 0 : static_cast<int64_t>(readElement(it->second->bytes.data(), it->second->type.dtype, 0));
}

namespace {

/// A double as text that reads back to the same bits (hexadecimal floating point).
std::string exactNumber(double x) { return fmt::format("{:a}", x); }

Result<double> numberIn(const std::map<std::string, std::string> &meta, const char *key, const std::string &path) {
  auto it = meta.find(key);
  if (it == meta.end())
    return 0.0;
  char *end = nullptr;
  double x = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != 0)
    return Error{fmt::format("{}: checkpoint metadata '{}' is '{}', not a number", path, key, it->second)};
  return x;
}

} // namespace

Result<void> Trainer::save(const std::string &path, const std::map<std::string, std::string> &metadata) const {
  if (!dataParallel())
    return saveLocal(path, metadata);
  // The state is the same on every process: rank 0 checks and writes it; all learn whether that
  // worked (a non-finite state is refused on every process alike).
  return comm_->agree(comm_->isLeader() ? saveLocal(path, metadata) : Result<void>());
}

Result<void> Trainer::saveLocal(const std::string &path, const std::map<std::string, std::string> &metadata) const {
  if (!stateIsFinite())
    return Error{fmt::format("{}: not written: the state has non-finite values", path)};
  Checkpoint ckpt;
  for (const std::string &name : stateOrder_) {
    if (isScheduleSetting(name)) // the run's settings, set from the data and the train block
      continue;
    auto t = tensor(name);
    if (!t)
      return t.error();
    ckpt.tensors[name] = std::move(*t);
  }
  // The feature map under names no model state can have (':' is not part of a name).
  if (featureMap_) {
    std::vector<int64_t> shape{static_cast<int64_t>(featureMap_->shift.size())};
    ckpt.tensors[kFeatureShift] = HostTensor::of<float>(shape, std::span<const float>(featureMap_->shift));
    ckpt.tensors[kFeatureFactor] = HostTensor::of<float>(shape, std::span<const float>(featureMap_->factor));
  }
  ckpt.metadata = metadata;
  ckpt.metadata[checkpoint_keys::kFormatVersion] = "2";
  ckpt.metadata[checkpoint_keys::kModel] = modelName_;
  ckpt.metadata[checkpoint_keys::kStep] = std::to_string(stepCount());
  ckpt.metadata[checkpoint_keys::kEpoch] = std::to_string(position_.epoch);
  ckpt.metadata[checkpoint_keys::kEpochStep] = std::to_string(position_.stepInEpoch);
  ckpt.metadata[checkpoint_keys::kEpochLossSum] = exactNumber(position_.lossSum);
  ckpt.metadata[checkpoint_keys::kEpochCorrect] = exactNumber(position_.correct);
  ckpt.metadata[checkpoint_keys::kEpochExamples] = std::to_string(position_.examples);
  ckpt.metadata[checkpoint_keys::kStepsPerEpoch] = std::to_string(stepsPerEpoch_);
  ckpt.metadata[checkpoint_keys::kOptimizer] = config().optimizerName;
  ckpt.metadata[checkpoint_keys::kSeed] = std::to_string(config().seed);
  ckpt.metadata[checkpoint_keys::kBatch] = std::to_string(config().batch);
  ckpt.metadata[checkpoint_keys::kShuffle] = config().shuffle ? "1" : "0";
  return writeSafetensors(path, ckpt);
}

Result<Checkpoint> Trainer::readCheckpointBytes(const std::string &path) const {
  if (!dataParallel())
    return readSafetensors(path);
  // Rank 0 reads the file and sends its bytes to every process; each decodes the same bytes, so
  // every later check gives the same answer everywhere.
  Result<std::string> bytes = comm_->isLeader() ? readFile(path) : Result<std::string>(std::string());
  if (auto r = comm_->agree(bytes ? Result<void>() : Result<void>(bytes.error())); !r)
    return r.error();
  return parseSafetensors(comm_->broadcastString(std::move(*bytes), 0), path);
}

Result<Checkpoint> Trainer::readCheckpoint(const std::string &path, const std::vector<std::string> &names) const {
  auto ckpt = readCheckpointBytes(path);
  if (!ckpt)
    return ckpt.error();
  if (auto it = ckpt->metadata.find(checkpoint_keys::kModel);
      it != ckpt->metadata.end() && it->second != modelName_)
    return Error{fmt::format("{}: the checkpoint is of model '{}', not '{}'", path, it->second, modelName_)};
  // A tensor the model does not have means the file is not what the caller thinks it is.
  // Another optimizer's slots of a parameter ("W.velocity" of W) are not unknown: --init-from
  // starts a new run, perhaps with another optimizer.
  auto known = [&](const std::string &name) {
    size_t dot = name.rfind('.');
    return state_.count(name) || trainState_.count(name) || name == kFeatureShift || name == kFeatureFactor ||
           (dot != std::string::npos && state_.count(name.substr(0, dot)));
  };
  if (!allowUnknownTensors_)
    for (const auto &[name, t] : ckpt->tensors)
      if (!known(name))
        return Error{fmt::format("{}: the checkpoint has a tensor '{}' that model '{}' does not have "
                                 "(--allow-unknown-tensors ignores it)",
                                 path, name, modelName_)};
  for (const std::string &name : names) {
    auto it = ckpt->tensors.find(name);
    if (it == ckpt->tensors.end())
      return Error{fmt::format("{}: the checkpoint has no tensor '{}'", path, name)};
    const State &s = *state_.at(name);
    if (it->second.dtype != elementTypeFor(s.type.dtype) || it->second.shape != s.type.shape)
      return Error{fmt::format("{}: tensor '{}' is {}{} in the checkpoint but {} in the model", path, name,
                               elementTypeName(it->second.dtype), formatShape(it->second.shape), s.type.str())};
  }
  auto shift = ckpt->tensors.find(kFeatureShift), factor = ckpt->tensors.find(kFeatureFactor);
  if ((shift == ckpt->tensors.end()) != (factor == ckpt->tensors.end()) ||
      (shift != ckpt->tensors.end() &&
       (shift->second.dtype != ElementType::F32 || factor->second.dtype != ElementType::F32 ||
        shift->second.numel() != factor->second.numel())))
    return Error{fmt::format("{}: the feature map ('{}', '{}') is incomplete or malformed", path, kFeatureShift,
                             kFeatureFactor)};
  return std::move(*ckpt);
}

Result<std::vector<std::string>> Trainer::modelStateNames() const {
  // eval's graph; its code is not needed (compiled, or lowered here without compiling it).
  const Function *eval = functionOf(mainProgram(), "eval");
  std::unique_ptr<Compilation> lowered;
  if (!eval) {
    lowered = compilationFor(localBatch(), Part::Eval);
    auto graphs = lowered->trainingGraphs();
    if (!graphs)
      return graphs.error();
    eval = (*graphs)->findFunction("eval");
  }
  std::vector<std::string> out;
  if (eval)
    for (const Argument &a : eval->arguments())
      if (a.role == ArgRole::State)
        out.push_back(a.name);
  return out;
}

Result<std::map<std::string, std::string>> Trainer::load(const std::string &path) {
  // The whole state of a run, optimizer slots and counters included, is the train step's.
  if (auto r = trainStep(); !r)
    return r.error();
  // Check everything before changing anything, so a mismatched file leaves the state intact.
  std::vector<std::string> names;
  for (const std::string &name : stateOrder_)
    if (!isScheduleSetting(name)) // not in checkpoints (save)
      names.push_back(name);
  auto ckpt = readCheckpoint(path, names);
  if (!ckpt)
    return ckpt.error();
  const auto &meta = ckpt->metadata;
  RunPosition p;
  auto epoch = numberIn(meta, checkpoint_keys::kEpoch, path), step = numberIn(meta, checkpoint_keys::kEpochStep, path),
       lossSum = numberIn(meta, checkpoint_keys::kEpochLossSum, path),
       correct = numberIn(meta, checkpoint_keys::kEpochCorrect, path),
       examples = numberIn(meta, checkpoint_keys::kEpochExamples, path);
  for (auto *r : {&epoch, &step, &lossSum, &correct, &examples})
    if (!*r)
      return r->error();
  if (*epoch < 0 || *step < 0 || *examples < 0)
    return Error{fmt::format("{}: the checkpoint's position (epoch {}, step {}) is negative", path, *epoch, *step)};
  p.epoch = static_cast<int64_t>(*epoch);
  p.stepInEpoch = static_cast<int64_t>(*step);
  p.lossSum = *lossSum;
  p.correct = *correct;
  p.examples = static_cast<int64_t>(*examples);
  for (const std::string &name : names)
    state_.at(name)->bytes = ckpt->tensors.at(name).bytes;
  position_ = p;
  auto shift = ckpt->tensors.find(kFeatureShift), factor = ckpt->tensors.find(kFeatureFactor);
  if (shift != ckpt->tensors.end())
    featureMap_ = FeatureTransform{shift->second.values<float>(), factor->second.values<float>()};
  return meta;
}

Result<std::map<std::string, std::string>> Trainer::loadParameters(const std::string &path) {
  auto modelState = modelStateNames();
  if (!modelState)
    return modelState.error();
  std::vector<std::string> names = std::move(*modelState);
  auto ckpt = readCheckpoint(path, names);
  if (!ckpt)
    return ckpt.error();
  for (const std::string &name : names)
    state_.at(name)->bytes = ckpt->tensors.at(name).bytes;
  auto shift = ckpt->tensors.find(kFeatureShift), factor = ckpt->tensors.find(kFeatureFactor);
  if (shift != ckpt->tensors.end())
    featureMap_ = FeatureTransform{shift->second.values<float>(), factor->second.values<float>()};
  return ckpt->metadata;
}

} // namespace nnc
