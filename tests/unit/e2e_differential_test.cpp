//===- e2e_differential_test.cpp - Whole train steps: JIT against the interpreter -----------===//
//
// For every example model (examples/*.nn, plus the convolutional model of the golden tests,
// which reaches conv2d, pooling, batchnorm and dropout) and every optimizer, the training
// module is built the way Trainer::compileVariant builds it, and three train steps run through
// the interpreter and through the JIT from the same initial state on the same random
// minibatches. Each side carries its own state from step to step; after every step the loss,
// the `correct` count and every updated state tensor must agree to a relative 1e-4 (f32),
// counters exactly. Also: dropout masks are bitwise the same in both, and the eval and predict
// functions of the module agree too.
//
//===----------------------------------------------------------------------------------------===//
#include "conv_configs.h"
#include "e2e_support.h"

#include "ir/Verifier.h"
#include "passes/training/TrainStep.h"
#include "runtime/data/DataSource.h"
#include "runtime/train/Initializers.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <set>

using namespace nnc;
using namespace nnc::e2e;

namespace {

struct OptimizerCase {
  std::string optimizer;
  std::map<std::string, double> args;
  std::string schedule = "constant";
  std::map<std::string, double> scheduleArgs;
  double clip = 0;
  double weightDecay = 0;
};

/// Every optimizer, most with a schedule that changes the learning rate at every step (one step
/// per epoch), two with global-norm clipping small enough to be active. Adagrad, RMSprop and
/// Adam divide by the gradient's running magnitude, so a gradient element that is rounding
/// noise (a sum that cancels, e.g. a bias followed by batchnorm) becomes a full-size step in
/// either direction; their eps is raised to 1e-4 here so that such elements stay small and the
/// comparison measures the compiled code, not the conditioning of the model.
std::vector<OptimizerCase> optimizerCases() {
  return {
      {"sgd", {{"lr", 0.1}, {"weight_decay", 1e-3}}, "step", {{"every", 1}, {"gamma", 0.5}}},
      {"momentum", {{"lr", 0.05}, {"momentum", 0.9}}, "exponential", {{"gamma", 0.8}}},
      {"nesterov", {{"lr", 0.05}, {"momentum", 0.9}}, "constant", {}, 0.5},
      {"adagrad", {{"lr", 0.05}, {"eps", 1e-4}}, "warmup", {{"epochs", 2}}},
      {"rmsprop", {{"lr", 0.01}, {"rho", 0.9}, {"eps", 1e-4}}, "constant", {}, 0, 1e-3},
      {"adam", {{"lr", 0.01}, {"eps", 1e-4}}, "cosine", {{"warmup", 1}}, 0.25},
      {"adamw", {{"lr", 0.01}, {"weight_decay", 0.05}, {"eps", 1e-4}}, "cosine", {{"min_lr", 0.001}}},
  };
}

/// The number of classes of the model's classification loss (the logits' last dimension), or 2.
int64_t classesOf(const Function &fn) {
  for (const Node &n : fn.nodes())
    if (n.op == OpKind::SoftmaxCrossEntropy || n.op == OpKind::MulticlassHinge)
      return fn.type(n.operands[0]).shape.back();
  return 2;
}

/// Builds the training module of `model` for minibatches of `batch`, as the Trainer does.
Module buildModule(const ParsedModel &model, const OptimizerCase &oc, int64_t batch, uint64_t seed) {
  DiagnosticEngine diags(model.file.get());
  Module lowered;
  for (LowerMode mode : {LowerMode::Train, LowerMode::Eval, LowerMode::Predict}) {
    LowerOptions o;
    o.mode = mode;
    o.batch = batch;
    o.seed = seed;
    o.functionName = mode == LowerMode::Train ? "forward" : mode == LowerMode::Eval ? "eval" : "predict";
    REQUIRE(lowerModel(model.program, o, lowered, diags));
  }
  TrainStepConfig tc;
  auto optimizer = resolveOptimizer(oc.optimizer, oc.args, oc.weightDecay);
  auto schedule = resolveSchedule(oc.schedule, oc.scheduleArgs);
  REQUIRE(optimizer.ok());
  REQUIRE(schedule.ok());
  tc.optimizer = *optimizer;
  tc.schedule = *schedule;
  tc.clip = oc.clip;
  tc.stepsPerEpoch = 1;
  tc.totalEpochs = 3;
  const auto &fns = lowered.functions();
  auto built = buildTrainingModule(fns[0], fns[1], fns[2], tc);
  if (!built)
    FAIL("buildTrainingModule: " << built.message());
  Module m = std::move(*built);
  Result<void> wellFormed = verify(m);
  INFO((wellFormed ? std::string() : wellFormed.message()));
  REQUIRE(wellFormed);
  return m;
}


/// A random minibatch for the inputs and targets of `fn`.
std::map<std::string, Tensor> randomBatch(const Function &fn, uint64_t seed, int64_t classes) {
  std::map<std::string, Tensor> batch;
  for (const Argument &a : fn.arguments())
    if (a.role != ArgRole::State)
      batch[a.name] = randomTensor(a.type, seed++, -1, 1, classes);
  return batch;
}



/// The largest |got - want| relative to max |want| (the tensor's scale), for the failure message.
std::string describeWorst(const Tensor &want, const Tensor &got) {
  size_t worst = 0;
  double worstErr = -1, scale = 0;
  for (double w : want.data)
    scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < want.data.size(); ++i)
    if (double e = std::fabs(got.data[i] - want.data[i]); e > worstErr) {
      worstErr = e;
      worst = i;
    }
  return fmt::format("worst element {}: interpreter {} jit {} (tensor scale {})", worst, want.data[worst],
                     got.data[worst], scale);
}

/// Three train steps of `model` for each optimizer case, interpreter against JIT; then eval and
/// predict on the trained state. All the cases' train steps are compiled as one module.
void trainBothWays(const std::string &label, const ParsedModel &model, const std::vector<OptimizerCase> &cases,
                   int64_t batch, Tally &tally, double tol = 1e-4) {
  const uint64_t seed = 11;
  Module all;
  std::vector<Module> modules;
  for (size_t k = 0; k < cases.size(); ++k) {
    modules.push_back(buildModule(model, cases[k], batch, seed));
    for (const Function &fn : modules.back().functions())
      if (fn.name() == "train_step" || k == 0) {
        Function copy = fn;
        copy.setName(fmt::format("{}_{}", fn.name(), k));
        all.functions().push_back(std::move(copy));
      }
  }
  auto exe = Executable::compile(all);
  if (!exe)
    FAIL("compile: " << exe.message());
  for (size_t k = 0; k < cases.size(); ++k) {
    const OptimizerCase &oc = cases[k];
    INFO(label << " with " << oc.optimizer);
    const Module &m = modules[k];
    const Function &train = *m.findFunction("train_step");
    CompiledFunction *cf = (*exe)->function(fmt::format("train_step_{}", k));
    REQUIRE(cf);
    std::map<std::string, Tensor> state;
    for (const Function &fn : m.functions())
      initState(fn, seed, state);
    // refState evolves by the interpreter. Each step, the JIT starts from that same state (so
    // the comparison measures one compiled step, not the drift of two trajectories), and, on a
    // separate state, runs its own trajectory from the initial state, which must stay within
    // 1e-3 of the interpreter's after 3 steps.
    std::map<std::string, Tensor> refState = state, jitState = state;
    int64_t classes = classesOf(train);
    for (int step = 0; step < 3; ++step) {
      std::map<std::string, Tensor> batchArgs = randomBatch(train, 1000 + 17 * uint64_t(step), classes);
      std::map<std::string, Tensor> refArgs = batchArgs, ownArgs = batchArgs;
      refArgs.insert(refState.begin(), refState.end());
      ownArgs.insert(jitState.begin(), jitState.end());
      auto ref = evaluate(train, refArgs);
      if (!ref)
        FAIL("interpreter: " << ref.message());
      const EvalResult &want = *ref;
      EvalResult got = runCompiled(train, *cf, refArgs);
      EvalResult own = runCompiled(train, *cf, ownArgs);
      std::string at = fmt::format("{} {} step {}", label, oc.optimizer, step + 1);
      REQUIRE(want.results.count("loss"));
      REQUIRE(std::isfinite(want.results.at("loss").data[0]));
      for (const auto &[name, value] : want.results)
        expectClose(value, got.results.at(name), at + " result " + name, tol, tally);
      // Every parameter, slot and counter is updated, and agrees.
      for (const Argument &a : train.arguments())
        if (a.role == ArgRole::State && a.trainable)
          CHECK(want.updates.count(a.name) == 1);
      CHECK(want.updates.size() == got.updates.size());
      for (const auto &[name, value] : want.updates) {
        INFO(describeWorst(value, got.updates.at(name)));
        expectClose(value, got.updates.at(name), at + " update " + name, tol, tally);
        refState[name] = value;
        jitState[name] = own.updates.at(name);
      }
    }
    for (const auto &[name, value] : refState) {
      INFO(label << " " << oc.optimizer << ": the JIT's own 3-step trajectory, state " << name);
      if (isFloat(value.type.dtype))
        CHECK(relativeError(value, jitState.at(name)) <= 1e-3);
      else
        CHECK(identical(value, jitState.at(name)));
    }
    // The state really changed: a step that updated nothing would pass the comparisons above.
    for (const Argument &a : train.arguments())
      if (a.role == ArgRole::State && a.trainable) {
        INFO(label << " " << oc.optimizer << ": parameter " << a.name << " did not change in 3 steps");
        CHECK_FALSE(identical(refState.at(a.name), state.at(a.name)));
      }
    CHECK(refState.at(kStepCounter).data[0] == 3);

    if (k != 0)
      continue;
    // Eval and predict on the trained state (the interpreter's), on a fresh batch.
    for (const char *name : {"eval", "predict"}) {
      const Function &fn = *m.findFunction(name);
      CompiledFunction *f = (*exe)->function(fmt::format("{}_0", name));
      REQUIRE(f);
      std::map<std::string, Tensor> args = randomBatch(fn, 5000, classes);
      for (const Argument &a : fn.arguments())
        if (a.role == ArgRole::State)
          args[a.name] = refState.at(a.name);
      auto ref = evaluate(fn, args);
      if (!ref)
        FAIL("interpreter: " << ref.message());
      EvalResult got = runCompiled(fn, *f, args);
      for (const auto &[rname, value] : ref->results)
        expectClose(value, got.results.at(rname), label + " " + name + " " + rname, tol, tally);
    }
  }
}

/// The model's own train block as an optimizer case (eps raised as in optimizerCases()).
OptimizerCase trainBlockCase(const ParsedModel &model) {
  TrainConfig c = trainBlockOf(model);
  if (c.optimizer.kind != OptimizerKind::SGD)
    c.optimizerArgs["eps"] = 1e-4;
  return {c.optimizerName, c.optimizerArgs, c.scheduleName, c.scheduleArgs, c.clip, c.weightDecay};
}

/// Runs `model` (source `text`) with every optimizer (all = true) or with its own train block
/// and Adam with clipping and a cosine schedule (all = false).
void runModel(const std::string &label, const std::string &text, int64_t batch, bool all) {
  ParsedModel model = parseModel(label + ".nn", text);
  INFO(model.diagnostics);
  REQUIRE(model.ok);
  Tally tally;
  std::vector<OptimizerCase> cases;
  if (all) {
    cases = optimizerCases();
  } else {
    cases.push_back(trainBlockCase(model));
    cases.push_back(optimizerCases()[5]);
  }
  trainBothWays(label, model, cases, batch, tally);
  // The largest disagreement seen, for the record (the bound is checked above).
  WARN(fmt::format("{}: largest relative JIT/interpreter difference {:.2e} ({})", label, tally.worst, tally.where));
}

} // namespace

/// The convolutional model of the golden tests (tests/golden/check/cnn.nn) — conv2d, maxpool,
/// batchnorm in training mode, avgpool, dropout, hinge, logsumexp, l1 and l2 — with one change:
/// the convolution has no bias. A bias right before maxpool and batchnorm has a gradient that
/// is the difference of nearly equal terms (batchnorm removes the channel's mean), so its f32
/// value is noise, which Adagrad, RMSprop and Adam then normalize to a full-size step: two
/// correct f32 implementations disagree there by up to 100%. Everything else is the same.
const char *kConvModel = R"(
model cnn {
  input  x : f32[B, 1, 6, 6]
  target y : i32[B]
  c1 = conv2d(x, 3, kernel = 3, pad = 1, act = relu, bias = false)
  p1 = maxpool(c1, 2)
  n1 = batchnorm(p1)
  a1 = avgpool(n1, 3)
  h  = dense(dropout(flatten(a1), 0.3), 5, act = tanh)
  param s : f32[4] = ones
  logits = dense(h, 4) * s
  output probs = softmax(logits)
  loss mean(softmax_cross_entropy(logits, y)) + 1e-3 * l2(s) + 1e-2 * l1(s) + mean(logsumexp(logits)) * 0.1 + mean(hinge(logits, y))
}
train {
  optimizer rmsprop(lr = 0.01)
  schedule step(every = 2)
  clip 1.0
  weight_decay 0.001
}
)";

// The full matrix — every example model with every optimizer — is labelled slow (about 40 s
// in all, mostly the interpreter and LLVM); the quick tier runs every model with its own train
// block and with Adam (clipping, cosine schedule), and the small regression model with every
// optimizer.
TEST_CASE("regress: 3 train steps agree with the interpreter for every optimizer", "[e2e][differential]") {
  runModel("regress", readText(examplePath("regress.nn")), 4, true);
}

TEST_CASE("iris: 3 train steps agree with the interpreter (train block, adam)", "[e2e][differential]") {
  runModel("iris", readText(examplePath("iris.nn")), 16, false);
}

TEST_CASE("fashion_mlp: 3 train steps agree with the interpreter (train block, adam)", "[e2e][differential]") {
  runModel("fashion_mlp", readText(examplePath("fashion_mlp.nn")), 2, false);
}

TEST_CASE("cnn: 3 train steps agree with the interpreter (train block, adam)", "[e2e][differential]") {
  runModel("cnn", kConvModel, 3, false);
}

/// Data augmentation on the input and after layers (so that its gradient matters), with a
/// batchnorm over the augmented convolution.
const char *kAugmentModel = R"(
model augment {
  input  x : f32[B, 2, 6, 5]
  target y : i32[B]
  a  = gaussian_noise(random_flip(random_shift(x, 2)), 0.2)
  c1 = conv2d(a, 3, kernel = 3, pad = 1, act = tanh, bias = false)
  n1 = batchnorm(random_shift(c1, 1))
  h  = dense(gaussian_noise(flatten(random_flip(maxpool(n1, 2))), 0.1), 5, act = relu)
  logits = dense(h, 4)
  output probs = softmax(logits)
  loss mean(softmax_cross_entropy(logits, y))
}
train {
  optimizer adam(lr = 0.01, eps = 1e-4)
  schedule cosine
}
)";

TEST_CASE("augment (shift, flip, noise before and after layers): 3 train steps agree with the interpreter", "[e2e][differential]") {
  runModel("augment", kAugmentModel, 4, false);
}

TEST_CASE("augment: 3 train steps agree for every optimizer", "[e2e][differential][slow]") {
  runModel("augment", kAugmentModel, 4, true);
}

TEST_CASE("batchnorm (convolutional and dense, own momentum and eps): 3 train steps agree with the interpreter", "[e2e][differential]") {
  runModel("batchnorm", testing::kBatchNormModel, 3, false);
}

TEST_CASE("batchnorm: 3 train steps agree for every optimizer", "[e2e][differential][slow]") {
  runModel("batchnorm", testing::kBatchNormModel, 3, true);
}

TEST_CASE("fashion_cnn: 3 train steps agree with the interpreter (train block, adam)", "[e2e][differential]") {
  runModel("fashion_cnn", readText(examplePath("fashion_cnn.nn")), 2, false);
}

// Every convolution and pooling configuration of conv_configs.h (kernel 1 to 7, stride,
// padding, rectangular input, batch 1, bias and activation or not; max and average pooling,
// overlapping and padded windows): the model's own train block (Adam) and Adam with clipping
// for three of them in the quick tier (the batch of one, the stride-1 input gradient computed
// as a convolution, the one through col2im); every configuration with every optimizer in the
// slow one.
TEST_CASE("convolution configurations: 3 train steps agree with the interpreter (adam)", "[e2e][differential][conv]") {
  for (const testing::ConvConfig &c : testing::convConfigs()) {
    if (c.label != "k3_stride2_rect_batch1" && c.label != "k5_maxpool_overlap_pad" && c.label != "k6_stride3")
      continue;
    INFO(c.label);
    runModel(c.label, testing::convConfigModel(c), c.batch, false);
  }
}

TEST_CASE("convolution configurations: 3 train steps agree with the interpreter for every optimizer", "[e2e][differential][conv][slow]") {
  for (const testing::ConvConfig &c : testing::convConfigs()) {
    INFO(c.label);
    runModel(c.label, testing::convConfigModel(c), c.batch, true);
  }
}

TEST_CASE("iris: 3 train steps agree with the interpreter for every optimizer", "[e2e][differential][slow]") {
  runModel("iris", readText(examplePath("iris.nn")), 16, true);
}

TEST_CASE("fashion_mlp: 3 train steps agree with the interpreter for every optimizer", "[e2e][differential][slow]") {
  runModel("fashion_mlp", readText(examplePath("fashion_mlp.nn")), 2, true);
}

TEST_CASE("cnn (conv, pooling, batchnorm, dropout): 3 train steps agree for every optimizer", "[e2e][differential][slow]") {
  runModel("cnn", kConvModel, 3, true);
}

TEST_CASE("every example in examples/ is covered by a train-step differential test", "[e2e][differential]") {
  // A new example model must get its own TEST_CASE above.
  std::vector<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(NNC_EXAMPLES_DIR))
    if (entry.path().extension() == ".nn")
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"fashion_cnn.nn", "fashion_mlp.nn", "iris.nn", "regress.nn"});
}

TEST_CASE("dropout masks are bitwise the same in the JIT and the interpreter, step after step", "[e2e][differential]") {
  const char *source = R"(
model drop {
  input  x : f32[B, 40]
  target y : f32[B, 40]
  h = square(x)
  output o = dropout(h, 0.3)
  loss mean(square(o - y))
}
)";
  ParsedModel model = parseModel("drop.nn", source);
  INFO(model.diagnostics);
  REQUIRE(model.ok);
  DiagnosticEngine diags(model.file.get());
  Module m;
  LowerOptions o;
  o.mode = LowerMode::Train;
  o.batch = 8;
  o.seed = 5;
  REQUIRE(lowerModel(model.program, o, m, diags));
  const Function &fn = m.functions().front();
  REQUIRE(fn.findResult("o").valid());
  auto exe = Executable::compile(m);
  if (!exe)
    FAIL(exe.message());
  CompiledFunction *cf = (*exe)->function(fn.name());
  REQUIRE(cf);
  std::map<std::string, Tensor> args;
  for (const Argument &a : fn.arguments())
    args[a.name] = a.role == ArgRole::State ? Tensor::filled(a.type, 0) : Tensor::filled(a.type, 1.0);
  std::vector<Tensor> masks;
  for (int step = 0; step < 3; ++step) {
    auto ref = evaluate(fn, args);
    if (!ref)
      FAIL(ref.message());
    const EvalResult &want = *ref;
    EvalResult got = runCompiled(fn, *cf, args);
    const Tensor &w = want.results.at("o");
    INFO("step " << step);
    REQUIRE(identical(w, got.results.at("o")));
    // Inverted dropout: kept elements are 1/(1-p), dropped ones 0, about 30% of them dropped.
    size_t dropped = 0;
    for (double v : w.data) {
      CHECK((v == 0 || std::fabs(v - 1 / 0.7) < 1e-6));
      dropped += v == 0;
    }
    CHECK(dropped > w.data.size() / 6);
    CHECK(dropped < w.data.size() / 2);
    masks.push_back(w);
    // The counter advances, identically.
    REQUIRE(want.updates.size() == 1);
    for (const auto &[name, value] : want.updates) {
      REQUIRE(identical(value, got.updates.at(name)));
      CHECK(value.data[0] == args.at(name).data[0] + 1);
      args[name] = value;
    }
  }
  // A new mask at every step.
  CHECK_FALSE(identical(masks[0], masks[1]));
  CHECK_FALSE(identical(masks[1], masks[2]));
}

TEST_CASE("augmentation: shifts, flips and noise as specified, the same in the JIT and the interpreter, identity in eval and predict", "[e2e][differential]") {
  const char *source = R"(
model aug {
  input  x : f32[B, 2, 5, 7]
  target y : f32[B, 2, 5, 7]
  output s = random_shift(x, 2)
  output f = random_flip(x)
  output g = gaussian_noise(x, 0.5)
  loss mean(square(s + f + g - y))
}
)";
  ParsedModel model = parseModel("aug.nn", source);
  INFO(model.diagnostics);
  REQUIRE(model.ok);
  const int64_t N = 64, C = 2, H = 5, W = 7;
  auto lower = [&](LowerMode mode, Module &m) {
    DiagnosticEngine diags(model.file.get());
    LowerOptions o;
    o.mode = mode;
    o.batch = N;
    o.seed = 9;
    REQUIRE(lowerModel(model.program, o, m, diags));
  };
  // x: every element distinct and nonzero, so where each output element came from is known.
  auto at = [&](int64_t n, int64_t c, int64_t h, int64_t w) { return ((n * C + c) * H + h) * W + w; };
  auto initArgs = [&](const Function &fn) {
    std::map<std::string, Tensor> args;
    for (const Argument &a : fn.arguments()) {
      args[a.name] = Tensor::filled(a.type, 0);
      if (a.role == ArgRole::Input)
        for (size_t i = 0; i < args[a.name].data.size(); ++i)
          args[a.name].data[i] = double(i + 1);
    }
    return args;
  };

  // Eval and predict: no random draws, every output is x itself.
  for (LowerMode mode : {LowerMode::Eval, LowerMode::Predict}) {
    Module m;
    lower(mode, m);
    const Function &fn = m.functions().front();
    for (const Node &n : fn.nodes())
      CHECK_FALSE(hasFlag(n.op, OpRandom));
    std::map<std::string, Tensor> args = initArgs(fn);
    auto exe = Executable::compile(m);
    if (!exe)
      FAIL(exe.message());
    EvalResult got = runCompiled(fn, *(*exe)->function(fn.name()), args);
    for (const char *name : {"s", "f", "g"})
      if (got.results.count(name))
        CHECK(identical(got.results.at(name), args.at("x")));
  }

  Module m;
  lower(LowerMode::Train, m);
  const Function &fn = m.functions().front();
  auto exe = Executable::compile(m);
  if (!exe)
    FAIL(exe.message());
  CompiledFunction *cf = (*exe)->function(fn.name());
  REQUIRE(cf);
  std::map<std::string, Tensor> args = initArgs(fn);
  const Tensor &x = args.at("x");
  std::set<int64_t> dys, dxs;
  int flipped = 0;
  std::vector<Tensor> shifts;
  for (int step = 0; step < 3; ++step) {
    INFO("step " << step);
    auto ref = evaluate(fn, args);
    if (!ref)
      FAIL(ref.message());
    EvalResult got = runCompiled(fn, *cf, args);
    const Tensor &s = ref->results.at("s"), &f = ref->results.at("f"), &g = ref->results.at("g");
    // Shifts and flips only move values: bitwise the same in both.
    REQUIRE(identical(s, got.results.at("s")));
    REQUIRE(identical(f, got.results.at("f")));
    shifts.push_back(s);
    for (int64_t n = 0; n < N; ++n) {
      // Exactly one (dy, dx) in [-2, 2]^2 explains example n: s[h, w] = x[h + dy, w + dx], 0 outside.
      int matches = 0;
      for (int64_t dy = -2; dy <= 2; ++dy)
        for (int64_t dx = -2; dx <= 2; ++dx) {
          bool ok = true;
          for (int64_t c = 0; c < C && ok; ++c)
            for (int64_t h = 0; h < H && ok; ++h)
              for (int64_t w = 0; w < W && ok; ++w) {
                int64_t hh = h + dy, ww = w + dx;
                double want = hh >= 0 && hh < H && ww >= 0 && ww < W ? x.data[at(n, c, hh, ww)] : 0.0;
                ok = s.data[at(n, c, h, w)] == want;
              }
          if (ok) {
            ++matches;
            dys.insert(dy);
            dxs.insert(dx);
          }
        }
      CHECK(matches == 1);
      // Flip: example n is x[n] or x[n] mirrored along W, whole.
      bool same = true, mirrored = true;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            same = same && f.data[at(n, c, h, w)] == x.data[at(n, c, h, w)];
            mirrored = mirrored && f.data[at(n, c, h, w)] == x.data[at(n, c, h, W - 1 - w)];
          }
      CHECK(same != mirrored);
      flipped += mirrored;
    }
    // Noise: x + 0.5 z, z standard normal. The JIT's log and sqrt are f32 functions of the
    // same draws, so the noise agrees to f32 rounding.
    std::vector<double> z(g.data.size());
    double mean = 0, var = 0, within1 = 0, within2 = 0;
    for (size_t i = 0; i < z.size(); ++i) {
      double noise = g.data[i] - x.data[i];
      REQUIRE(std::fabs(noise - (got.results.at("g").data[i] - x.data[i])) < 2e-3);
      z[i] = noise / 0.5;
      mean += z[i];
    }
    mean /= double(z.size());
    for (double v : z) {
      var += (v - mean) * (v - mean);
      within1 += std::fabs(v) < 1;
      within2 += std::fabs(v) < 2;
    }
    var /= double(z.size());
    within1 /= double(z.size());
    within2 /= double(z.size());
    // 4480 draws: standard errors 0.015 (mean), 0.021 (variance), 0.007 and 0.003.
    CHECK(std::fabs(mean) < 0.08);
    CHECK(std::fabs(var - 1) < 0.1);
    CHECK(std::fabs(within1 - 0.6827) < 0.035);
    CHECK(std::fabs(within2 - 0.9545) < 0.015);
    // The counter advances, identically.
    for (const auto &[name, value] : ref->updates) {
      REQUIRE(identical(value, got.updates.at(name)));
      args[name] = value;
    }
  }
  // Every shift from -2 to 2 in both directions was drawn; about half the examples flipped;
  // each step drew new shifts.
  CHECK(dys == std::set<int64_t>{-2, -1, 0, 1, 2});
  CHECK(dxs == std::set<int64_t>{-2, -1, 0, 1, 2});
  CHECK(flipped > 3 * N / 2 - 30);
  CHECK(flipped < 3 * N / 2 + 30);
  CHECK_FALSE(identical(shifts[0], shifts[1]));
  CHECK_FALSE(identical(shifts[1], shifts[2]));
}

namespace {

/// The Eval-mode forward pass of `text` for minibatch `x`, `y` (row-major, `batch` rows) with
/// freshly initialized parameters: the interpreter's loss and the JIT's.
void forwardOnRealData(const std::string &label, const std::string &text, int64_t batch,
                       const std::vector<float> &x, const std::vector<double> &y, double lossLo, double lossHi) {
  ParsedModel model = parseModel(label + ".nn", text);
  INFO(label << "\n" << model.diagnostics);
  REQUIRE(model.ok);
  DiagnosticEngine diags(model.file.get());
  Module m;
  LowerOptions o;
  o.mode = LowerMode::Eval;
  o.batch = batch;
  REQUIRE(lowerModel(model.program, o, m, diags));
  const Function &fn = m.functions().front();
  std::map<std::string, Tensor> args;
  initState(fn, 7, args);
  for (const Argument &a : fn.arguments()) {
    if (a.role == ArgRole::Input) {
      REQUIRE(size_t(a.type.numElements()) == x.size());
      args[a.name] = Tensor(a.type, std::vector<double>(x.begin(), x.end()));
    } else if (a.role == ArgRole::Target) {
      REQUIRE(size_t(a.type.numElements()) == y.size());
      args[a.name] = Tensor(a.type, y);
    }
  }
  auto ref = evaluate(fn, args);
  if (!ref)
    FAIL("interpreter: " << ref.message());
  const EvalResult &want = *ref;
  double loss = want.results.at("loss").data[0];
  INFO("interpreter loss " << loss);
  CHECK(std::isfinite(loss));
  CHECK(loss > lossLo);
  CHECK(loss < lossHi);
  auto exe = Executable::compile(m);
  if (!exe)
    FAIL(exe.message());
  EvalResult got = runCompiled(fn, *(*exe)->function(fn.name()), args);
  Tally tally;
  for (const auto &[name, value] : want.results)
    expectClose(value, got.results.at(name), label + " " + name, 1e-5, tally);
  WARN(fmt::format("{} on real data: loss {:.6f}, JIT relative difference {:.2e}", label, loss, tally.worst));
}

} // namespace

TEST_CASE("every example's forward loss on real data: the interpreter computes it, the JIT agrees", "[e2e][differential]") {
  auto iris = loadDataSource(examplePath("iris.csv"), Split::Train);
  REQUIRE(iris);
  REQUIRE(normalizeFeatures(*iris, nullptr, Normalization::Standardize, "iris.csv"));
  // 16 rows from all three classes.
  std::vector<float> x;
  std::vector<double> labels, petal;
  std::vector<float> sepal;
  for (size_t r = 0; r < 16; ++r) {
    size_t i = r * 9;
    x.insert(x.end(), iris->features.begin() + long(i * 4), iris->features.begin() + long(i * 4 + 4));
    labels.push_back(iris->classLabels[i]);
    sepal.insert(sepal.end(), {iris->features[i * 4], iris->features[i * 4 + 1]});
    petal.push_back(iris->features[i * 4 + 2]);
  }
  // Untrained, the loss is near log(3) for 3 classes.
  forwardOnRealData("iris", readText(examplePath("iris.nn")), 16, x, labels, 0.5, 2.5);
  // regress: sepal length and width -> petal length (standardized), 4 rows.
  forwardOnRealData("regress", readText(examplePath("regress.nn")), 4,
                    std::vector<float>(sepal.begin(), sepal.begin() + 8),
                    std::vector<double>(petal.begin(), petal.begin() + 4), 0.0, 5.0);

  auto fashion = loadDataSource("fashion-mnist", Split::Test);
  if (!fashion)
    FAIL("Fashion-MNIST (Debian package dataset-fashion-mnist): " << fashion.message());
  REQUIRE(normalizeFeatures(*fashion, nullptr, Normalization::Auto, "fashion-mnist"));
  REQUIRE(fashion->featureSize() == 784);
  std::vector<float> images(fashion->features.begin(), fashion->features.begin() + 8 * 784);
  std::vector<double> classes(fashion->classLabels.begin(), fashion->classLabels.begin() + 8);
  // Pixels scaled to [0, 1].
  CHECK(*std::max_element(images.begin(), images.end()) <= 1.0f);
  CHECK(*std::max_element(images.begin(), images.end()) > 0.9f);
  // Untrained, near log(10).
  forwardOnRealData("fashion_mlp", readText(examplePath("fashion_mlp.nn")), 8, images, classes, 1.0, 4.0);
}
