//===- passes_train_step_test.cpp - Optimizers, schedules and the train-step graph ----------===//
//
// Each optimizer's first three steps, run as train_step graphs in the interpreter, against a
// hand-written reference in plain C++ on a model whose gradient is known in closed form; the
// learning rate of each schedule at chosen steps; and, for every example model and optimizer,
// a training Module whose functions verify, whose updates cover every parameter, slot and
// counter, and whose training lowers the loss.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"
#include "passes/training/GradCheck.h"
#include "passes/training/Optimizers.h"
#include "passes/training/TrainStep.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace nnc;

namespace {

using Vec = std::vector<double>;
TensorType f32(std::vector<int64_t> s) { return {DType::F32, std::move(s)}; }

/// loss = sum(x * W) + 0.5 sum(W^2) + 2 s^2, so dW = x + W and ds = 4 s.
Function quadraticModel() {
  Function f("forward");
  Builder b(f);
  ValueId x = f.addArgument("x", f32({2, 3}), ArgRole::Input);
  ValueId W = f.addArgument("W", f32({2, 3}), ArgRole::State, true, "zeros");
  ValueId s = f.addArgument("s", f32({}), ArgRole::State, true, "zeros");
  ValueId linear = b.reduceSum(b.mul(x, W), {0, 1});
  ValueId ridge = b.mul(b.scalar(0.5), b.reduceSum(b.square(W), {0, 1}));
  f.addResult("loss", b.add(b.add(linear, ridge), b.mul(b.scalar(2), b.square(s))));
  return f;
}

/// The reference: the update equations of docs/TRAINING.md, written out in plain C++.
struct Reference {
  std::string optimizer;
  double lr = 0.01, momentum = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, rho = 0.99, l2 = 0, decoupled = 0,
         clip = 0;
  bool nesterov = false;
  std::map<std::string, Vec> slots; ///< by slot argument name

  void step(const Vec &x, Vec &W, Vec &s, int t) {
    Vec gW(W.size()), gs{4 * s[0]};
    for (size_t i = 0; i < W.size(); ++i)
      gW[i] = x[i] + W[i];
    if (clip > 0) {
      double sq = gs[0] * gs[0];
      for (double g : gW)
        sq += g * g;
      double scale = std::min(1.0, clip / (std::sqrt(sq) + 1e-6));
      for (double &g : gW)
        g *= scale;
      gs[0] *= scale;
    }
    update("W", W, gW, t);
    update("s", s, gs, t);
  }

  void update(const std::string &name, Vec &p, Vec g, int t) {
    auto slot = [&](const std::string &suffix) -> Vec & {
      Vec &v = slots[name + "." + suffix];
      v.resize(p.size(), 0.0);
      return v;
    };
    for (size_t i = 0; i < p.size(); ++i) {
      double pi = p[i], gi = g[i] + l2 * pi, d = 0;
      if (optimizer == "sgd") {
        if (momentum > 0) {
          double &v = slot("velocity")[i];
          v = momentum * v + gi;
          d = lr * (nesterov ? gi + momentum * v : v);
        } else {
          d = lr * gi;
        }
      } else if (optimizer == "adagrad") {
        double &acc = slot("sum_sq")[i];
        acc += gi * gi;
        d = lr * gi / (std::sqrt(acc) + eps);
      } else if (optimizer == "rmsprop") {
        double &acc = slot("mean_sq")[i];
        acc = rho * acc + (1 - rho) * gi * gi;
        d = lr * gi / (std::sqrt(acc) + eps);
      } else { // adam, adamw
        double &m = slot("m")[i], &v = slot("v")[i];
        m = beta1 * m + (1 - beta1) * gi;
        v = beta2 * v + (1 - beta2) * gi * gi;
        double mhat = m / (1 - std::pow(beta1, t)), vhat = v / (1 - std::pow(beta2, t));
        d = lr * mhat / (std::sqrt(vhat) + eps);
      }
      p[i] = pi - lr * decoupled * pi - d;
    }
  }
};

/// Runs `steps` calls of train_step, feeding the state updates back.
void runSteps(const Function &step, std::map<std::string, Tensor> &args, int steps, bool promote = true) {
  for (int k = 0; k < steps; ++k) {
    auto r = evaluate(step, args, {promote, false});
    if (!r)
      FAIL(r.message());
    for (auto &[name, t] : r->updates)
      args[name] = t;
  }
}

/// Zero tensors for every state argument that `args` lacks (the optimizer's slots, `step`).
void addZeroState(const Function &f, std::map<std::string, Tensor> &args) {
  for (const Argument &a : f.arguments())
    if (!args.count(a.name))
      args[a.name] = Tensor::filled(a.type, 0);
}

Function &buildStep(const Function &forward, const TrainStepConfig &config, Module &m) {
  auto r = buildTrainStep(forward, config, m);
  if (!r)
    FAIL(r.message());
  Function &f = **r;
  INFO(printFunction(f));
  REQUIRE(verify(f).ok());
  return f;
}

/// A train-step configuration resolved by the tables the train block uses.
TrainStepConfig resolved(const std::string &opt, const std::map<std::string, double> &args,
                         const std::string &schedule = "constant", const std::map<std::string, double> &scheduleArgs = {},
                         double weightDecay = 0) {
  auto o = resolveOptimizer(opt, args, weightDecay);
  auto sc = resolveSchedule(schedule, scheduleArgs);
  if (!o)
    FAIL(o.message());
  if (!sc)
    FAIL(sc.message());
  TrainStepConfig c;
  c.optimizer = *o;
  c.schedule = *sc;
  return c;
}

struct OptimizerCase {
  std::string name;
  TrainStepConfig config;
  Reference ref;
};

std::vector<OptimizerCase> optimizerCases() {
  auto config = [](std::string opt, std::map<std::string, double> args, double clip = 0, double wd = 0) {
    TrainStepConfig c = resolved(opt, args, "constant", {}, wd);
    c.clip = clip;
    return c;
  };
  auto ref = [](std::string opt, double lr) {
    Reference r;
    r.optimizer = std::move(opt);
    r.lr = lr;
    return r;
  };
  std::vector<OptimizerCase> cases;
  cases.push_back({"sgd", config("sgd", {{"lr", 0.1}}), ref("sgd", 0.1)});
  Reference momentum = ref("sgd", 0.1);
  momentum.momentum = 0.8;
  cases.push_back({"sgd with momentum", config("sgd", {{"lr", 0.1}, {"momentum", 0.8}}), momentum});
  Reference nesterov = ref("sgd", 0.05);
  nesterov.momentum = 0.9;
  nesterov.nesterov = true;
  cases.push_back({"nesterov", config("nesterov", {{"lr", 0.05}}), nesterov});
  cases.push_back({"sgd nesterov flag", config("sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1}}), nesterov});
  Reference adagrad = ref("adagrad", 0.1);
  adagrad.eps = 1e-10;
  cases.push_back({"adagrad", config("adagrad", {{"lr", 0.1}}), adagrad});
  Reference rmsprop = ref("rmsprop", 0.01);
  rmsprop.rho = 0.9;
  cases.push_back({"rmsprop", config("rmsprop", {{"lr", 0.01}, {"rho", 0.9}}), rmsprop});
  cases.push_back({"adam", config("adam", {{"lr", 0.01}}), ref("adam", 0.01)});
  Reference adamw = ref("adam", 0.01);
  adamw.decoupled = 0.1;
  cases.push_back({"adamw", config("adamw", {{"lr", 0.01}, {"weight_decay", 0.1}}), adamw});
  Reference adamwDefault = ref("adam", 0.001);
  adamwDefault.decoupled = 0.01;
  cases.push_back({"adamw defaults", config("adamw", {}), adamwDefault});
  Reference l2clip = ref("sgd", 0.1);
  l2clip.l2 = 0.01;
  l2clip.clip = 0.5;
  cases.push_back({"sgd with L2 and clipping", config("sgd", {{"lr", 0.1}, {"weight_decay", 0.01}}, 0.5), l2clip});
  Reference adamDecoupled = ref("adam", 0.01);
  adamDecoupled.decoupled = 0.05;
  adamDecoupled.beta1 = 0.8;
  adamDecoupled.beta2 = 0.9;
  cases.push_back({"adam with decoupled decay",
                   config("adam", {{"lr", 0.01}, {"beta1", 0.8}, {"beta2", 0.9}}, 0, 0.05), adamDecoupled});
  return cases;
}

std::string readExample(const std::string &file) {
  std::ifstream in(std::string(NNC_EXAMPLES_DIR) + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The Train, Eval and Predict lowerings of an example, in that order.
Module lowerExample(const std::string &file, int64_t batch) {
  SourceFile source(file, readExample(file));
  DiagnosticEngine diags(&source);
  Program program = parseProgram(source, diags);
  checkProgram(program, diags);
  Module m;
  for (LowerMode mode : {LowerMode::Train, LowerMode::Eval, LowerMode::Predict}) {
    LowerOptions o;
    o.mode = mode;
    o.batch = batch;
    o.seed = 3;
    o.functionName = mode == LowerMode::Train ? "forward" : mode == LowerMode::Eval ? "eval" : "predict";
    lowerModel(program, o, m, diags);
  }
  INFO(diags.renderAll());
  REQUIRE(!diags.hasErrors());
  return m;
}

} // namespace

TEST_CASE("autodiff: each optimizer's first three steps match a reference computation", "[autodiff]") {
  const Vec x{0.5, -1.0, 2.0, 0.25, 1.5, -0.75};
  for (OptimizerCase &c : optimizerCases()) {
    INFO("optimizer case: " << c.name);
    Function forward = quadraticModel();
    Module m;
    Function &step = buildStep(forward, c.config, m);
    Vec W{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}, s{0.7};
    std::map<std::string, Tensor> args{
        {"x", Tensor(f32({2, 3}), x)}, {"W", Tensor(f32({2, 3}), W)}, {"s", Tensor(f32({}), s)}};
    addZeroState(step, args);
    for (int t = 1; t <= 3; ++t) {
      runSteps(step, args, 1);
      c.ref.step(x, W, s, t);
      INFO("step " << t);
      CHECK(args.at("step").data[0] == t);
      for (size_t i = 0; i < W.size(); ++i)
        CHECK(args.at("W").data[i] == Approx(W[i]).epsilon(1e-12));
      CHECK(args.at("s").data[0] == Approx(s[0]).epsilon(1e-12));
      for (const auto &[name, value] : c.ref.slots) {
        INFO("slot " << name);
        REQUIRE(args.count(name));
        for (size_t i = 0; i < value.size(); ++i)
          CHECK(args.at(name).data[i] == Approx(value[i]).epsilon(1e-12).margin(1e-15));
      }
    }
    // Every slot of the graph is one the reference keeps, and vice versa.
    size_t slots = 0;
    for (const Argument &a : step.arguments())
      slots += a.role == ArgRole::State && !a.trainable && a.name != kStepCounter;
    CHECK(slots == c.ref.slots.size());
  }
}

TEST_CASE("autodiff: learning-rate schedules give the stated rate at chosen steps", "[autodiff]") {
  // loss = p gives dp = 1, so with plain SGD one step from p = 0 leaves p = -lr.
  Function forward("forward");
  ValueId p = forward.addArgument("p", f32({}), ArgRole::State, true, "zeros");
  forward.addResult("loss", p);
  struct Case {
    std::string schedule;
    std::map<std::string, double> args;
    int64_t stepsPerEpoch, epochs;
    std::vector<std::pair<int64_t, double>> expected; ///< (step, lr)
  };
  std::vector<Case> cases = {
      {"constant", {}, 5, 10, {{0, 0.1}, {1000, 0.1}}},
      {"step", {{"every", 2}, {"gamma", 0.5}}, 3, 10, {{0, 0.1}, {5, 0.1}, {6, 0.05}, {11, 0.05}, {12, 0.025}}},
      {"step", {{"every", 1}}, 1, 10, {{0, 0.1}, {1, 0.01}, {2, 0.001}}},
      {"exponential", {{"gamma", 0.9}}, 2, 10, {{0, 0.1}, {1, 0.1}, {2, 0.09}, {5, 0.081}}},
      {"exponential", {}, 1, 10, {{3, 0.1 * 0.95 * 0.95 * 0.95}}},
      {"cosine", {{"min_lr", 0.01}, {"warmup", 2}}, 1, 12,
       {{0, 0.05}, {1, 0.1}, {2, 0.1}, {7, 0.055}, {12, 0.01}, {20, 0.01}}},
      {"cosine", {}, 4, 3, {{0, 0.1}, {4, 0.075}, {8, 0.025}, {12, 0.0}}},
      {"warmup", {{"epochs", 4}}, 10, 10, {{0, 0.025}, {9, 0.025}, {15, 0.05}, {35, 0.1}, {100, 0.1}}},
  };
  // The learning rate one step from `step` = k takes, the schedule reading steps per epoch and
  // epochs from its state (the arguments a schedule does not read are absent).
  auto rateAt = [](const Function &step, int64_t k, int64_t stepsPerEpoch, int64_t epochs) {
    std::map<std::string, Tensor> args{{"p", Tensor::scalar(0)}, {"step", Tensor::scalar(double(k), DType::I32)}};
    if (step.findArgument(kStepsPerEpoch))
      args[kStepsPerEpoch] = Tensor::scalar(double(stepsPerEpoch), DType::I32);
    if (step.findArgument(kScheduleEpochs))
      args[kScheduleEpochs] = Tensor::scalar(double(epochs), DType::I32);
    runSteps(step, args, 1);
    CHECK((!args.count(kStepsPerEpoch) || args.at(kStepsPerEpoch).data[0] == double(stepsPerEpoch))); // not updated
    return -args.at("p").data[0];
  };
  for (const Case &c : cases) {
    INFO("schedule " << c.schedule);
    TrainStepConfig config = resolved("sgd", {{"lr", 0.1}}, c.schedule, c.args);
    config.stepsPerEpoch = c.stepsPerEpoch;
    config.totalEpochs = c.epochs;
    Module m;
    Function &step = buildStep(forward, config, m);
    // The configured values are the state's initial values.
    if (const Argument *a = step.findArgument(kStepsPerEpoch))
      CHECK(a->init == fmt::format("constant({})", c.stepsPerEpoch));
    if (const Argument *a = step.findArgument(kScheduleEpochs))
      CHECK(a->init == fmt::format("constant({})", c.epochs));
    CHECK((step.findArgument(kStepsPerEpoch) != nullptr) == (c.schedule != "constant"));
    CHECK((step.findArgument(kScheduleEpochs) != nullptr) == (c.schedule == "cosine"));
    auto resolved = *resolveSchedule(c.schedule, c.args);
    for (auto [k, lr] : c.expected) {
      INFO("step " << k);
      CHECK(rateAt(step, k, c.stepsPerEpoch, c.epochs) == Approx(lr).epsilon(1e-10).margin(1e-12));
      CHECK(learningRateAt(resolved, 0.1, k, c.stepsPerEpoch, c.epochs) == Approx(lr).epsilon(1e-12).margin(1e-15));
    }
  }
}

TEST_CASE("autodiff: one built step follows the schedule for any steps per epoch and epochs", "[autodiff]") {
  // Steps per epoch and epochs are run-time state: the step built for one data-set size gives
  // the rate of learningRateAt for every other, at every step.
  Function forward("forward");
  ValueId p = forward.addArgument("p", f32({}), ArgRole::State, true, "zeros");
  forward.addResult("loss", p);
  std::vector<std::pair<std::string, std::map<std::string, double>>> schedules = {
      {"step", {{"every", 2}, {"gamma", 0.5}}},
      {"exponential", {{"gamma", 0.9}}},
      {"warmup", {{"epochs", 3}}},
      {"cosine", {{"min_lr", 0.01}, {"warmup", 2}}},
      {"cosine", {}},
  };
  for (const auto &[name, args] : schedules) {
    INFO("schedule " << name);
    TrainStepConfig config = resolved("sgd", {{"lr", 0.1}}, name, args);
    Module m;
    Function &step = buildStep(forward, config, m); // built for 1 step per epoch, 1 epoch
    auto schedule = *resolveSchedule(name, args);
    for (int64_t stepsPerEpoch : {1, 2, 3, 7, 50})
      for (int64_t epochs : {1, 4, 10})
        for (int64_t k : {0, 1, 2, 5, 6, 13, 49, 50, 149, 400}) {
          INFO("steps per epoch " << stepsPerEpoch << ", epochs " << epochs << ", step " << k);
          std::map<std::string, Tensor> state{{"p", Tensor::scalar(0)},
                                              {"step", Tensor::scalar(double(k), DType::I32)},
                                              {kStepsPerEpoch, Tensor::scalar(double(stepsPerEpoch), DType::I32)}};
          if (step.findArgument(kScheduleEpochs))
            state[kScheduleEpochs] = Tensor::scalar(double(epochs), DType::I32);
          runSteps(step, state, 1);
          CHECK(-state.at("p").data[0] ==
                Approx(learningRateAt(schedule, 0.1, k, stepsPerEpoch, epochs)).epsilon(1e-10).margin(1e-12));
        }
  }
}

TEST_CASE("autodiff: bad training settings are errors, not crashes", "[autodiff]") {
  Function forward = quadraticModel();
  // Names and values the resolution tables reject (the train block reports them at the setting).
  auto rejects = [](const auto &r, std::string_view text) {
    REQUIRE(!r.ok());
    INFO(r.message());
    CHECK(r.message().find(text) != std::string::npos);
  };
  rejects(resolveOptimizer("lbfgs", {}), "unknown optimizer 'lbfgs'");
  rejects(resolveOptimizer("sgd", {{"beta1", 0.9}}), "has no hyper-parameter 'beta1'");
  rejects(resolveSchedule("cyclic", {}), "unknown schedule 'cyclic'");
  rejects(resolveOptimizer("adam", {{"beta2", 1.0}}), "must be in [0, 1)");
  // What the train-step builder itself checks.
  auto fails = [&](TrainStepConfig c, std::string_view text) {
    Module m;
    auto r = buildTrainStep(forward, c, m);
    REQUIRE(!r.ok());
    INFO(r.error().diagnostics.front().message);
    CHECK(r.error().diagnostics.front().message.find(text) != std::string::npos);
  };
  TrainStepConfig c;
  c.stepsPerEpoch = 0;
  fails(c, "steps per epoch and epochs must be at least 1");
  c = {};
  c.clip = -1;
  fails(c, "clipping norm must not be negative");
  Function noLoss("forward");
  noLoss.addArgument("w", f32({}), ArgRole::State, true);
  Module m;
  CHECK(!buildTrainStep(noLoss, {}, m).ok());
}

TEST_CASE("autodiff: every example builds a verified training module with every optimizer", "[autodiff]") {
  for (std::string file : {"iris.nn", "regress.nn", "fashion_mlp.nn"})
    for (std::string opt : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}) {
      INFO(file << " with " << opt);
      Module lowered = lowerExample(file, 8);
      TrainStepConfig config = resolved(opt, {}, "cosine", {{"warmup", 1}});
      config.clip = 1;
      config.stepsPerEpoch = 10;
      config.totalEpochs = 5;
      const auto &fns = lowered.functions();
      auto built = buildTrainingModule(fns[0], fns[1], fns[2], config);
      if (!built)
        FAIL(built.message());
      Module &m = *built;
      INFO(printModule(m));
      CHECK(verify(m).ok());
      const Function *step = m.findFunction("train_step");
      REQUIRE(step);
      REQUIRE(m.findFunction("eval"));
      REQUIRE(m.findFunction("predict"));
      CHECK(step->findResult("loss").valid());
      CHECK(step->results().size() == (step->findResult("correct").valid() ? 2u : 1u));
      // Every state argument but the batchnorm running statistics of non-trained models is
      // written in place: parameters, slots, step and random-number counters. The schedule's
      // settings are read only.
      for (const Argument &a : step->arguments()) {
        if (a.role != ArgRole::State)
          continue;
        if (isScheduleSetting(a.name)) {
          for (const StateUpdate &u : step->updates())
            CHECK(u.state != a.value);
          continue;
        }
        INFO("state " << a.name);
        bool updated = false;
        for (const StateUpdate &u : step->updates())
          updated = updated || u.state == a.value;
        CHECK(updated);
      }
      CHECK(m.findFunction("eval")->updates().empty());
      CHECK(m.findFunction("predict")->findResult("loss").valid() == false);
    }
}

TEST_CASE("autodiff: the train step of iris lowers the loss in the interpreter", "[autodiff]") {
  Module lowered = lowerExample("iris.nn", 16);
  TrainStepConfig config = resolved("adam", {{"lr", 0.05}});
  Module m;
  Function &step = buildStep(lowered.functions()[0], config, m);
  auto random = randomCheckArguments(lowered.functions()[0], 11);
  REQUIRE(random.ok());
  std::map<std::string, Tensor> args = *random;
  addZeroState(step, args);
  auto loss = [&] {
    auto r = evaluate(step, args);
    REQUIRE(r.ok());
    return r->results.at("loss").data[0];
  };
  double before = loss();
  runSteps(step, args, 100, /*promote=*/false);
  double after = loss();
  CHECK(after < 0.5 * before);
  CHECK(args.at("step").data[0] == 100);
}

TEST_CASE("train step: stages are marked and every node is located at its source", "[autodiff]") {
  Module lowered = lowerExample("iris.nn", 8);
  const SourceLoc train{19, 1, 5}, optimizer{20, 3, 9}, schedule{21, 3, 8}, clip{22, 3, 4}, decay{23, 3, 12};
  TrainStepConfig config;
  config.optimizer = *resolveOptimizer("adam", {}, /*weightDecay=*/0.01);
  config.schedule = *resolveSchedule("cosine", {});
  config.clip = 1;
  config.settingLocs = {{"train", train}, {"optimizer", optimizer}, {"schedule", schedule}, {"clip", clip},
                        {"weight_decay", decay}};
  Module m;
  Function &f = buildStep(lowered.functions().front(), config, m);
  // The stages follow each other: forward, then backward, then update, none empty.
  std::map<Stage, size_t> count;
  Stage last = Stage::Forward;
  for (const Node &n : f.nodes()) {
    INFO(valueName(f, n.result));
    CHECK(n.stage >= last);
    last = n.stage;
    ++count[n.stage];
    CHECK(n.loc.valid());
  }
  CHECK(count[Stage::None] == 0);
  CHECK(count[Stage::Forward] > 0);
  CHECK(count[Stage::Backward] > 0);
  CHECK(count[Stage::Update] > 0);
  // A backward node is at a line of the model; an update node at the setting that makes it.
  std::map<uint32_t, size_t> updateLines;
  for (const Node &n : f.nodes()) {
    if (n.stage == Stage::Backward)
      CHECK(n.loc.line < train.line);
    if (n.stage == Stage::Update)
      ++updateLines[n.loc.line];
  }
  CHECK(updateLines.size() == 4);
  for (uint32_t line : {optimizer.line, schedule.line, clip.line, decay.line})
    CHECK(updateLines[line] > 0);
  CHECK(f.findArgument(kStepCounter)->loc == optimizer);
  CHECK(f.findArgument("W.m")->loc == optimizer);

  // Settings the block does not write fall back to the optimizer's line, then to the block's.
  config.settingLocs = {{"train", train}};
  Module m2;
  for (const Node &n : buildStep(lowered.functions().front(), config, m2).nodes())
    if (n.stage == Stage::Update)
      CHECK(n.loc == train);
  config.settingLocs = {{"train", train}, {"optimizer", optimizer}};
  Module m3;
  for (const Node &n : buildStep(lowered.functions().front(), config, m3).nodes())
    if (n.stage == Stage::Update)
      CHECK(n.loc == optimizer);
}
