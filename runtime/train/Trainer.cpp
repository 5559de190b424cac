//===- Trainer.cpp - Compile a model and train it: the runtime's C++ API --------------------===//
#include "runtime/train/Trainer.h"

#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Verifier.h"
#include "passes/training/TrainStep.h"
#include "runtime/data/Batching.h"
#include "runtime/exec/Executable.h"
#include "runtime/train/Initializers.h"
#include "support/ReadFile.h"
#include "runtime/records/Safetensors.h"
#include "runtime/train/TrainingModule.h"
#include "runtime/exec/ThreadPool.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>

namespace nnc {

/// The parsed and checked program, kept to lower it again for another batch size.
struct LoadedSource {
  std::unique_ptr<SourceFile> file;
  Program program;
};

/// One state tensor in the layout the compiled code reads and writes.
struct Trainer::State {
  TensorType type;
  std::vector<uint8_t> bytes;
};

/// The functions compiled for one minibatch size, with their staging and result buffers.
struct Trainer::Variant {
  int64_t batch = 0;
  Module module;
  std::unique_ptr<Executable> exe;
  CompiledFunction *train = nullptr, *eval = nullptr, *predict = nullptr;
  /// Per function name: storage of every non-state argument and of every result.
  std::map<std::string, std::map<std::string, std::vector<uint8_t>>> io;
  std::vector<float> features, targets; ///< staged minibatch in float
  std::vector<int32_t> labels;
};

Trainer::~Trainer() = default;

static constexpr const char *kFeatureShift = "nnc:feature_shift";
static constexpr const char *kFeatureFactor = "nnc:feature_factor";

namespace {

Error errorFrom(const DiagnosticEngine &diags) { return Error{diags.renderAll()}; }

/// Bytes of storage for a tensor type as the compiled code lays it out.
size_t storageSize(const TensorType &t) {
  return static_cast<size_t>(std::max<int64_t>(1, t.numElements() * storageBytes(t.dtype)));
}

ElementType elementTypeFor(DType d) {
  switch (d) {
  case DType::F64: return ElementType::F64;
  case DType::I32: return ElementType::I32;
  default: return ElementType::F32;
  }
}

/// Reads element i of a buffer as double.
double readElement(const std::vector<uint8_t> &buf, DType d, size_t i) {
  const uint8_t *p = buf.data() + i * storageBytes(d);
  switch (d) {
  case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
  case DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
  case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
  case DType::I1: return *p != 0;
  }
  return 0;
}

void writeElement(std::vector<uint8_t> &buf, DType d, size_t i, double v) {
  uint8_t *p = buf.data() + i * storageBytes(d);
  switch (d) {
  case DType::F32: { float f = float(v); std::memcpy(p, &f, 4); break; }
  case DType::F64: std::memcpy(p, &v, 8); break;
  case DType::I32: { int32_t x = int32_t(v); std::memcpy(p, &x, 4); break; }
  case DType::I1: *p = v != 0; break;
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

Result<std::unique_ptr<Trainer>> Trainer::fromFile(const std::string &path, const TrainerOptions &options) {
  auto text = readFile(path);
  if (!text)
    return text.error();
  return fromSource(path, std::move(*text), options);
}

Result<std::unique_ptr<Trainer>> Trainer::fromSource(const std::string &name, std::string text,
                                                     const TrainerOptions &options) {
  std::unique_ptr<Trainer> t(new Trainer());
  t->options_ = options;
  t->loaded_ = std::make_unique<LoadedSource>();
  t->loaded_->file = std::make_unique<SourceFile>(name, std::move(text));
  DiagnosticEngine diags(t->loaded_->file.get());
  t->loaded_->program = parseProgram(*t->loaded_->file, diags);
  checkProgram(t->loaded_->program, diags);
  if (diags.hasErrors())
    return errorFrom(diags);
  TrainConfig &c = t->config_;
  c = readTrainConfig(t->loaded_->program);
  if (options.batch > 0)
    c.batch = options.batch;
  if (options.seed)
    c.seed = *options.seed;
  if (options.optimizer && *options.optimizer != c.optimizer) {
    c.optimizer = *options.optimizer;
    double lr = c.optimizerArgs.count("lr") ? c.optimizerArgs["lr"] : -1;
    c.optimizerArgs.clear(); // the other optimizer's hyper-parameters do not carry over
    if (lr > 0)
      c.optimizerArgs["lr"] = lr;
  }
  if (options.lr)
    c.optimizerArgs["lr"] = *options.lr;
  if (options.epochs)
    c.epochs = *options.epochs;
  // Compile for the main batch size now, so that model errors surface at once.
  auto v = t->variant(c.batch);
  if (!v)
    return v.error();
  return t;
}

Result<void> Trainer::setStepsPerEpoch(int64_t steps) {
  steps = std::max<int64_t>(1, steps);
  if (steps == stepsPerEpoch_)
    return {};
  stepsPerEpoch_ = steps;
  // Schedules are compiled into the step; the constant one does not count steps, so its
  // compiled functions stay valid (recompiling them would cost a second for nothing).
  if (config_.schedule == "constant")
    return {};
  variants_.clear();
  // There is always a variant for the main batch size: checkData and predict read its module.
  auto v = variant(config_.batch);
  if (!v)
    return v.error();
  return {};
}

Result<Trainer::Variant *> Trainer::variant(int64_t batch) {
  auto it = variants_.find(batch);
  if (it != variants_.end())
    return it->second.get();
  auto v = std::make_unique<Variant>();
  v->batch = batch;
  if (auto r = compileVariant(batch, *v); !r)
    return r.error();
  return (variants_[batch] = std::move(v)).get();
}

Result<void> Trainer::compileVariant(int64_t batch, Variant &v) {
  auto start = std::chrono::steady_clock::now();
  DiagnosticEngine diags(loaded_->file.get());
  LowerOptions o;
  o.batch = batch;
  o.modelName = options_.modelName;
  o.seed = config_.seed;
  LoweredModel info;
  std::optional<Module> m = lowerTraining(loaded_->program, o, config_, stepsPerEpoch_, diags, &info,
                                          options_.optimize, options_.disabledPasses);
  if (!m)
    return errorFrom(diags);
  modelName_ = info.name;
  hasCorrect_ = info.hasCorrect;
  v.module = std::move(*m);
  CompileOptions co;
  co.jit = options_.jit;
  co.threads = std::max(1, options_.threads);
  co.disabledPasses = options_.disabledPasses;
  if (computeThreads() < co.threads)
    setComputeThreads(co.threads);
  auto exe = Executable::compile(v.module, co);
  if (!exe)
    return Error{"code generation failed: " + exe.message()};
  v.exe = std::move(*exe);
  v.train = v.exe->function("train_step");
  v.eval = v.exe->function("eval");
  v.predict = v.exe->function("predict");
  for (const Function &fn : v.module.functions()) {
    if (auto r = initState(fn); !r)
      return r;
    auto &io = v.io[fn.name()];
    for (const Argument &a : fn.arguments())
      if (a.role != ArgRole::State)
        io["arg:" + a.name].assign(storageSize(a.type), 0);
    for (const FunctionResult &r : fn.results())
      io["result:" + r.name].assign(storageSize(fn.type(r.value)), 0);
  }
  const Function &predict = *v.module.findFunction("predict");
  if (predictOutput_.empty() && !predict.results().empty())
    predictOutput_ = predict.results().front().name;
  if (params_.empty())
    for (const Argument &a : v.module.findFunction("train_step")->arguments())
      if (a.role == ArgRole::State && a.trainable)
        params_.push_back(a.name);
  compileSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {};
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
    auto values = initialValues(a.init, a.type, config_.seed, a.name);
    if (auto *err = std::get_if<std::string>(&values))
      return Error{*err};
    auto s = std::make_unique<State>();
    s->type = a.type;
    s->bytes.assign(storageSize(a.type), 0);
    const auto &vals = std::get<std::vector<double>>(values);
    for (size_t i = 0; i < vals.size(); ++i)
      writeElement(s->bytes, a.type.dtype, i, vals[i]);
    state_[a.name] = std::move(s);
    stateOrder_.push_back(a.name);
  }
  return {};
}

/// Runs one compiled function: arguments from the staged minibatch and the state, results into
/// the variant's result buffers.
Result<void> Trainer::call(Variant &v, CompiledFunction *cf, const std::string &which) {
  const Function &fn = *v.module.findFunction(which);
  auto &io = v.io[which];
  std::vector<void *> ptrs;
  for (const Argument &a : fn.arguments()) {
    if (a.role == ArgRole::State) {
      ptrs.push_back(state_.at(a.name)->bytes.data());
      continue;
    }
    size_t n = static_cast<size_t>(a.type.numElements());
    std::vector<float> &staged = a.role == ArgRole::Input ? v.features : v.targets;
    if (a.type.dtype == DType::F32 && staged.size() == n) {
      ptrs.push_back(staged.data()); // the staged minibatch is float already: read in place
      continue;
    }
    std::vector<uint8_t> &buf = io["arg:" + a.name];
    if (a.role == ArgRole::Target && a.type.dtype == DType::I32) {
      std::memcpy(buf.data(), v.labels.data(), n * 4);
    } else if (a.role == ArgRole::Input) {
      for (size_t i = 0; i < n; ++i)
        writeElement(buf, a.type.dtype, i, v.features[i]);
    } else {
      for (size_t i = 0; i < n; ++i)
        writeElement(buf, a.type.dtype, i, v.targets[i]);
    }
    ptrs.push_back(buf.data());
  }
  for (const FunctionResult &r : fn.results())
    ptrs.push_back(io["result:" + r.name].data());
  cf->call(ptrs.data());
  return {};
}

Result<void> Trainer::checkData(const Dataset &data) const {
  if (data.size() == 0)
    return Error{"the data set has no examples"};
  const Variant &v = *variants_.begin()->second;
  const Function &train = *v.module.findFunction("train_step");
  const Argument *x = argumentWithRole(train, ArgRole::Input);
  const Argument *y = argumentWithRole(train, ArgRole::Target);
  if (!x)
    return Error{fmt::format("model '{}' has no input to feed data to", modelName_)};
  if (static_cast<int64_t>(data.featureSize()) != perExample(x->type))
    return Error{fmt::format("the data has {} features per example, but input '{}' is {} ({} per example)",
                             data.featureSize(), x->name, x->type.str(), perExample(x->type))};
  if (!y)
    return {};
  if (y->type.dtype == DType::I32) {
    if (data.labelKind != LabelKind::Class)
      return Error{fmt::format("target '{}' is {}: it needs class labels, but the data has float targets",
                               y->name, y->type.str())};
    if (perExample(y->type) != 1)
      return Error{fmt::format("target '{}' must be one class index per example, found {}", y->name, y->type.str())};
    // A label outside the model's classes gives a NaN loss in the compiled code, never a
    // stray memory access; a negative one is certainly a data error.
    for (int32_t label : data.classLabels)
      if (label < 0)
        return Error{fmt::format("the data has a negative class label {}", label)};
    return {};
  }
  int64_t want = perExample(y->type);
  if (data.labelKind == LabelKind::Class) {
    if (want != 1 && want != data.numClasses())
      return Error{fmt::format("target '{}' is {} ({} per example), but the data has {} classes",
                               y->name, y->type.str(), want, data.numClasses())};
    return {};
  }
  if (static_cast<int64_t>(data.targetSize()) != want)
    return Error{fmt::format("the data has {} target values per example, but target '{}' is {} ({} per example)",
                             data.targetSize(), y->name, y->type.str(), want)};
  return {};
}

/// Copies examples order[first .. first+rows) into the variant's staging buffers.
Result<size_t> Trainer::stage(Variant &v, const Dataset &data, const std::vector<size_t> &order, size_t first,
                              size_t rows) {
  const Function &train = *v.module.findFunction("train_step");
  const Argument *y = argumentWithRole(train, ArgRole::Target);
  size_t fs = data.featureSize();
  v.features.resize(rows * fs);
  for (size_t r = 0; r < rows; ++r)
    std::memcpy(&v.features[r * fs], &data.features[order[first + r] * fs], fs * sizeof(float));
  if (!y)
    return rows;
  if (data.labelKind == LabelKind::Class) {
    int64_t per = perExample(y->type);
    if (y->type.dtype == DType::I32) {
      v.labels.resize(rows);
      for (size_t r = 0; r < rows; ++r)
        v.labels[r] = data.classLabels[order[first + r]];
    } else {
      // A float target for class data: the class index itself, or its one-hot row.
      v.targets.assign(rows * size_t(per), 0.0f);
      for (size_t r = 0; r < rows; ++r) {
        int32_t label = data.classLabels[order[first + r]];
        if (per == 1)
          v.targets[r] = float(label);
        else if (label >= 0 && label < per)
          v.targets[r * size_t(per) + size_t(label)] = 1.0f;
      }
    }
  } else {
    size_t ts = data.targetSize();
    v.targets.resize(rows * ts);
    for (size_t r = 0; r < rows; ++r)
      std::memcpy(&v.targets[r * ts], &data.targets[order[first + r] * ts], ts * sizeof(float));
  }
  return rows;
}

Result<StepResult> Trainer::step(std::span<const float> features, std::span<const int32_t> classLabels,
                                 std::span<const float> targets, size_t rows) {
  if (rows == 0)
    return Error{"a train step needs at least one example"};
  auto vr = variant(static_cast<int64_t>(rows));
  if (!vr)
    return vr.error();
  Variant &v = **vr;
  const Function &train = *v.module.findFunction("train_step");
  const Argument *x = argumentWithRole(train, ArgRole::Input);
  const Argument *y = argumentWithRole(train, ArgRole::Target);
  if (!x || features.size() != static_cast<size_t>(x->type.numElements()))
    return Error{fmt::format("step: expected {} feature values for {} rows", x ? x->type.numElements() : 0, rows)};
  v.features.assign(features.begin(), features.end());
  if (y) {
    size_t n = static_cast<size_t>(y->type.numElements());
    if (y->type.dtype == DType::I32) {
      if (classLabels.size() != n)
        return Error{fmt::format("step: expected {} class labels", n)};
      v.labels.assign(classLabels.begin(), classLabels.end());
    } else {
      if (targets.size() != n)
        return Error{fmt::format("step: expected {} target values", n)};
      v.targets.assign(targets.begin(), targets.end());
    }
  }
  if (auto r = call(v, v.train, "train_step"); !r)
    return r.error();
  StepResult out;
  auto &io = v.io["train_step"];
  out.loss = readElement(io["result:loss"], train.type(train.findResult("loss")).dtype, 0);
  if (ValueId c = train.findResult("correct"); c.valid())
    out.correct = readElement(io["result:correct"], train.type(c).dtype, 0);
  return out;
}

Result<EvalStats> Trainer::trainEpoch(const Dataset &data, uint64_t epoch, const ProgressFn &progress,
                                      const std::atomic<bool> *stop) {
  if (auto r = checkData(data); !r)
    return r.error();
  size_t n = data.size(), b = static_cast<size_t>(config_.batch);
  size_t steps = (n + b - 1) / b;
  if (auto r = setStepsPerEpoch(static_cast<int64_t>(steps)); !r)
    return r.error();
  std::vector<size_t> order = config_.shuffle ? shuffledOrder(n, config_.seed, epoch) : std::vector<size_t>();
  if (!config_.shuffle)
    for (size_t i = 0; i < n; ++i)
      order.push_back(i);
  EvalStats stats;
  double lossSum = 0, correct = 0;
  for (size_t s = 0; s < steps; ++s) {
    if (stop && stop->load())
      break;
    size_t rows = std::min(b, n - s * b);
    auto vr = variant(static_cast<int64_t>(rows));
    if (!vr)
      return vr.error();
    Variant &v = **vr;
    if (auto r = stage(v, data, order, s * b, rows); !r)
      return r.error();
    if (auto r = call(v, v.train, "train_step"); !r)
      return r.error();
    const Function &train = *v.module.findFunction("train_step");
    auto &io = v.io["train_step"];
    double loss = readElement(io["result:loss"], train.type(train.findResult("loss")).dtype, 0);
    lossSum += loss * double(rows);
    if (ValueId c = train.findResult("correct"); c.valid())
      correct += readElement(io["result:correct"], train.type(c).dtype, 0);
    stats.examples += rows;
    if (progress)
      progress(s + 1, steps, lossSum / double(stats.examples), stats.examples);
  }
  if (stats.examples > 0) {
    stats.loss = lossSum / double(stats.examples);
    stats.hasAccuracy = hasCorrect_;
    stats.accuracy = correct / double(stats.examples);
  }
  return stats;
}

Result<EvalStats> Trainer::evaluate(const Dataset &data) {
  if (auto r = checkData(data); !r)
    return r.error();
  size_t n = data.size(), b = static_cast<size_t>(config_.batch);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  EvalStats stats;
  double lossSum = 0, correct = 0;
  for (size_t first = 0; first < n; first += b) {
    size_t rows = std::min(b, n - first);
    auto vr = variant(static_cast<int64_t>(rows));
    if (!vr)
      return vr.error();
    Variant &v = **vr;
    if (auto r = stage(v, data, order, first, rows); !r)
      return r.error();
    if (auto r = call(v, v.eval, "eval"); !r)
      return r.error();
    const Function &eval = *v.module.findFunction("eval");
    auto &io = v.io["eval"];
    if (ValueId l = eval.findResult("loss"); l.valid())
      lossSum += readElement(io["result:loss"], eval.type(l).dtype, 0) * double(rows);
    if (ValueId c = eval.findResult("correct"); c.valid())
      correct += readElement(io["result:correct"], eval.type(c).dtype, 0);
    stats.examples += rows;
  }
  if (stats.examples > 0) {
    stats.loss = lossSum / double(stats.examples);
    stats.hasAccuracy = hasCorrect_;
    stats.accuracy = correct / double(stats.examples);
  }
  return stats;
}

Result<std::vector<float>> Trainer::predict(const Dataset &data, std::vector<int64_t> &shape) {
  const Function &predictFn = *variants_.begin()->second->module.findFunction("predict");
  const Argument *x = argumentWithRole(predictFn, ArgRole::Input);
  if (!x || static_cast<int64_t>(data.featureSize()) != perExample(x->type))
    return Error{fmt::format("the data has {} features per example, but the model's input is {}",
                             data.featureSize(), x ? x->type.str() : std::string("missing"))};
  if (predictOutput_.empty())
    return Error{fmt::format("model '{}' has no 'output' to predict", modelName_)};
  size_t n = data.size(), b = static_cast<size_t>(config_.batch);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  std::vector<float> out;
  for (size_t first = 0; first < n; first += b) {
    size_t rows = std::min(b, n - first);
    auto vr = variant(static_cast<int64_t>(rows));
    if (!vr)
      return vr.error();
    Variant &v = **vr;
    size_t fs = data.featureSize();
    v.features.resize(rows * fs);
    std::memcpy(v.features.data(), &data.features[first * fs], rows * fs * sizeof(float));
    if (auto r = call(v, v.predict, "predict"); !r)
      return r.error();
    const Function &fn = *v.module.findFunction("predict");
    ValueId r = fn.findResult(predictOutput_);
    const TensorType &t = fn.type(r);
    auto &buf = v.io["predict"]["result:" + predictOutput_];
    for (int64_t i = 0; i < t.numElements(); ++i)
      out.push_back(float(readElement(buf, t.dtype, size_t(i))));
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
  return it == state_.end() ? 0 : static_cast<int64_t>(readElement(it->second->bytes, it->second->type.dtype, 0));
}

Result<void> Trainer::save(const std::string &path, int64_t epochsDone) const {
  Checkpoint ckpt;
  for (const std::string &name : stateOrder_) {
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
  ckpt.metadata[checkpoint_keys::kFormatVersion] = "1";
  ckpt.metadata[checkpoint_keys::kModel] = modelName_;
  ckpt.metadata[checkpoint_keys::kStep] = std::to_string(stepCount());
  ckpt.metadata[checkpoint_keys::kEpoch] = std::to_string(epochsDone);
  ckpt.metadata[checkpoint_keys::kOptimizer] = config_.optimizer;
  return writeSafetensors(path, ckpt);
}

Result<int64_t> Trainer::load(const std::string &path) {
  auto ckpt = readSafetensors(path);
  if (!ckpt)
    return ckpt.error();
  if (auto it = ckpt->metadata.find(checkpoint_keys::kModel);
      it != ckpt->metadata.end() && it->second != modelName_)
    return Error{fmt::format("{}: the checkpoint is of model '{}', not '{}'", path, it->second, modelName_)};
  // Check everything before changing anything, so a mismatched file leaves the state intact.
  for (const std::string &name : stateOrder_) {
    auto it = ckpt->tensors.find(name);
    if (it == ckpt->tensors.end())
      return Error{fmt::format("{}: the checkpoint has no tensor '{}'", path, name)};
    const State &s = *state_.at(name);
    if (it->second.dtype != elementTypeFor(s.type.dtype) || it->second.shape != s.type.shape)
      return Error{fmt::format("{}: tensor '{}' is {}{} in the checkpoint but {} in the model", path, name,
                               elementTypeName(it->second.dtype), formatShape(it->second.shape), s.type.str())};
  }
  for (const std::string &name : stateOrder_)
    state_.at(name)->bytes = ckpt->tensors.at(name).bytes;
  auto shift = ckpt->tensors.find(kFeatureShift), factor = ckpt->tensors.find(kFeatureFactor);
  if (shift != ckpt->tensors.end() && factor != ckpt->tensors.end() && shift->second.dtype == ElementType::F32 &&
      factor->second.dtype == ElementType::F32 && shift->second.numel() == factor->second.numel())
    featureMap_ = FeatureTransform{shift->second.values<float>(), factor->second.values<float>()};
  int64_t epochs = 0;
  if (auto it = ckpt->metadata.find(checkpoint_keys::kEpoch); it != ckpt->metadata.end())
    epochs = std::strtoll(it->second.c_str(), nullptr, 10);
  return epochs;
}

} // namespace nnc
