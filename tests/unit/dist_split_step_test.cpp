//===- dist_split_step_test.cpp - Data-parallel training's pieces ----------------------------===//
//
// The train step's halves (train_grad, then train_apply on its gradients) compute exactly what
// train_step computes, checked in the interpreter in f64 on a model with batchnorm, dropout,
// clipping, a schedule and Adam; the shards of a minibatch cover it in rank order; and a
// one-process Communicator's agreement passes errors through. The runs over several processes
// are tests/mpi/ (equivalence with one process, errors, interrupts).
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Interpreter.h"
#include "passes/training/TrainStep.h"
#include "pipeline/Pipeline.h"
#include "runtime/data/Batching.h"
#include "runtime/dist/Communicator.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace nnc;

namespace {

const char *kModel = R"(
model split {
  input  x : f32[B, 6]
  target y : i32[B]
  h      = dense(x, 8, act = relu)
  logits = dense(dropout(batchnorm(h), 0.3), 3)
  loss mean(softmax_cross_entropy(logits, y)) + 1e-3 * l2(h.weight)
}
train {
  optimizer adam(lr = 0.01)
  schedule  cosine
  clip   0.5
  batch  5
  epochs 3
  seed   9
}
)";

/// Deterministic values for every argument of `fn`: labels in {0, 1, 2}, counters 3, other
/// state in [0.1, 0.6) (positive, as Adam's second moment must be), inputs in [-1, 1).
std::map<std::string, Tensor> argumentsFor(const Function &fn) {
  std::map<std::string, Tensor> args;
  uint64_t seed = 1;
  for (const Argument &a : fn.arguments()) {
    SplitMix64 rng(seed++ * 977);
    std::vector<double> v(static_cast<size_t>(a.type.numElements()));
    for (size_t i = 0; i < v.size(); ++i) {
      double u = double(rng.next() >> 11) * 0x1.0p-53;
      if (a.type.dtype == DType::I32)
        v[i] = a.role == ArgRole::Target ? double(i % 3) : 3;
      else
        v[i] = a.role == ArgRole::State ? 0.1 + 0.5 * u : 2 * u - 1;
    }
    args[a.name] = Tensor(a.type, std::move(v));
  }
  return args;
}

} // namespace

TEST_CASE("train_grad then train_apply is train_step", "[dist]") {
  CompileSettings settings;
  settings.splitTrainStep = true;
  auto c = Compilation::fromSource("split.nn", kModel, settings);
  REQUIRE(c);
  std::unique_ptr<Compilation> batch5 = (*c)->withBatch(5, 4, true);
  auto m = batch5->trainingGraphs();
  REQUIRE(m);
  const Function *step = (*m)->findFunction("train_step");
  const Function *grad = (*m)->findFunction(kGradStep);
  const Function *apply = (*m)->findFunction(kApplyStep);
  REQUIRE(step);
  REQUIRE(grad);
  REQUIRE(apply);

  InterpreterOptions f64;
  f64.promoteF32ToF64 = true;
  std::map<std::string, Tensor> args = argumentsFor(*step);
  auto whole = evaluate(*step, args, f64);
  REQUIRE(whole.ok());
  const EvalResult &want = *whole;

  std::map<std::string, Tensor> gradArgs;
  for (const Argument &a : grad->arguments())
    gradArgs[a.name] = args.at(a.name);
  auto first = evaluate(*grad, gradArgs, f64);
  REQUIRE(first.ok());
  const EvalResult &g = *first;
  std::map<std::string, Tensor> applyArgs;
  for (const Argument &a : apply->arguments())
    applyArgs[a.name] = a.role == ArgRole::State ? args.at(a.name) : g.results.at(a.name);
  auto second = evaluate(*apply, applyArgs, f64);
  REQUIRE(second.ok());
  const EvalResult &u = *second;

  // The gradient of every trainable parameter is a result of train_grad and an input of train_apply.
  size_t trainable = 0;
  for (const Argument &a : step->arguments())
    if (a.role == ArgRole::State && a.trainable) {
      ++trainable;
      CHECK(g.results.count(std::string(kGradientPrefix) + a.name) == 1);
    }
  CHECK(trainable == 6); // h and logits weight and bias, batchnorm gamma and beta
  // Loss and correct, and every state train_step updates, the same.
  CHECK(g.results.at("loss").data == want.results.at("loss").data);
  for (const auto &[name, value] : want.updates) {
    INFO("state " << name);
    bool inGrad = g.updates.count(name) > 0, inApply = u.updates.count(name) > 0;
    REQUIRE(inGrad != inApply); // each state is updated by exactly one half
    const Tensor &got = inGrad ? g.updates.at(name) : u.updates.at(name);
    REQUIRE(got.data.size() == value.data.size());
    for (size_t i = 0; i < got.data.size(); ++i)
      CHECK(got.data[i] == Approx(value.data[i]).epsilon(1e-12).margin(1e-15));
  }
  CHECK(want.updates.size() == g.updates.size() + u.updates.size());
  CHECK(g.updates.count("rng.counter") == 1); // dropout's counter moves in the forward half
}

TEST_CASE("the shards of a minibatch cover it in rank order, sizes within one", "[dist]") {
  for (size_t rows : {1u, 5u, 16u, 17u, 128u})
    for (int p : {1, 2, 3, 4, 7}) {
      size_t next = 0, smallest = rows, largest = 0;
      for (int k = 0; k < p; ++k) {
        Shard s = shardOf(rows, k, p);
        CHECK(s.first == next);
        next = s.first + s.count;
        smallest = std::min(smallest, s.count);
        largest = std::max(largest, s.count);
      }
      CHECK(next == rows);
      CHECK(largest - smallest <= 1);
    }
}

TEST_CASE("one process: the collectives change nothing and agreement passes errors through", "[dist]") {
  LocalCommunicator one;
  CHECK(one.size() == 1);
  CHECK(one.isLeader());
  std::vector<float> v{1, 2};
  one.allreduceSum(std::span<float>(v));
  CHECK(v == std::vector<float>{1, 2});
  CHECK(one.agree(Result<void>()));
  auto failed = one.agree(Error{"bad data"});
  REQUIRE(!failed);
  CHECK(failed.message() == "bad data");
  CHECK(one.broadcastString("text", 0) == "text");
  CHECK(one.any(true));
  CHECK(!one.any(false));
}

TEST_CASE("a minibatch is shared by rows through Batcher::fillRows", "[dist]") {
  Dataset d;
  d.features = {0, 1, 2, 3, 4, 5, 6};
  d.featureShape = {1};
  d.labelKind = LabelKind::Target;
  d.targets = {0, 10, 20, 30, 40, 50, 60};
  d.targetShape = {};
  Batcher batcher(d, 4, 7, /*shuffle=*/true);
  batcher.startEpoch(2);
  for (size_t b = 0; b < batcher.numBatches(); ++b) {
    std::vector<float> whole(batcher.rowsIn(b)), wholeT(batcher.rowsIn(b));
    BatchBuffers all;
    all.features = whole;
    all.targets = wholeT;
    REQUIRE(batcher.fill(b, all));
    std::vector<float> joined;
    for (int k = 0; k < 3; ++k) {
      Shard s = shardOf(batcher.rowsIn(b), k, 3);
      std::vector<float> part(s.count), partT(s.count);
      BatchBuffers shard;
      shard.features = part;
      shard.targets = partT;
      REQUIRE(batcher.fillRows(b, s.first, s.count, shard));
      joined.insert(joined.end(), part.begin(), part.end());
    }
    CHECK(joined == whole);
  }
  std::vector<float> one(1);
  BatchBuffers outside;
  outside.features = one;
  CHECK(!batcher.fillRows(0, 4, 1, outside)); // past the batch's 4 rows
}
