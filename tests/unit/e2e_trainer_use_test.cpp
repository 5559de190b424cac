//===- e2e_trainer_use_test.cpp - A Trainer made to evaluate or predict ----------------------===//
//
// TrainerUse::Evaluate and Predict compile only the function they run, never the train step
// (observed through Trainer::compiledFunctions, what the loaded code holds), and give bitwise
// the loss, accuracy and predictions of a Trainer made to train, from the same checkpoint and
// data, a final partial minibatch included; the checkpoint's feature map comes with them. Asked
// to train, such a Trainer compiles its train step then and continues the run exactly as a
// Trainer made to train does.
//
//===----------------------------------------------------------------------------------------===//
#include "e2e_support.h"

#include "runtime/train/Trainer.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>

using namespace nnc;
using namespace nnc::e2e;
namespace fs = std::filesystem;

namespace {

/// A classifier with batch normalization (running statistics, which eval reads), dropout (the
/// random-number counter, train-step state eval does not read) and momentum (optimizer slots),
/// for 6 features and 3 classes.
const char *kModel = R"(model bn {
  input  x : f32[B, 6]
  target y : i32[B]
  h = relu(batchnorm(dense(x, 12, bias = false)))
  logits = dense(dropout(h, 0.2), 3)
  output probs = softmax(logits)
  loss mean(softmax_cross_entropy(logits, y))
}
train {
  optimizer momentum(lr = 0.05, momentum = 0.9)
  batch 8
  seed 5
}
)";

/// `n` deterministic examples (class: the largest of the first three features).
Dataset examples(size_t n, uint64_t seed) {
  Dataset d;
  d.featureShape = {6};
  d.labelKind = LabelKind::Class;
  for (size_t i = 0; i < n; ++i) {
    float best = -1e9f;
    int32_t label = 0;
    for (size_t f = 0; f < 6; ++f) {
      float v = float(randomUniform(seed, i, f) * 4 - 2);
      d.features.push_back(v);
      if (f < 3 && v > best) {
        best = v;
        label = int32_t(f);
      }
    }
    d.classLabels.push_back(label);
  }
  return d;
}

std::unique_ptr<Trainer> make(TrainerUse use) {
  auto t = Trainer::fromSource("bn.nn", kModel, {}, nullptr, use);
  INFO((t ? std::string() : t.message()));
  REQUIRE(t);
  return std::move(*t);
}

using Compiled = std::map<std::string, std::vector<int64_t>>;

} // namespace

TEST_CASE("a Trainer made to evaluate or predict compiles that function alone, with the results of a full one",
          "[e2e][trainer][use]") {
  fs::path dir = fs::temp_directory_path() / fmt::format("nnc-e2e-use-{}", getpid());
  fs::create_directories(dir);
  std::string checkpoint = (dir / "bn.safetensors").string();

  // A training run's checkpoint: parameters, running statistics, momentum slots, the step and
  // random-number counters, and a feature map.
  {
    auto t = make(TrainerUse::Train);
    t->setFeatureTransform(FeatureTransform{{0.5f, 0, 0, 0, 0, -0.5f}, {2, 1, 1, 1, 1, 0.5f}});
    Dataset train = examples(37, 1); // batches of 8: a partial one of 5
    REQUIRE(t->trainEpoch(train, 0));
    REQUIRE(t->trainEpoch(train, 1));
    REQUIRE(t->save(checkpoint));
  }
  Dataset data = examples(21, 2); // 2 batches of 8 and a partial one of 5

  auto full = make(TrainerUse::Train);
  REQUIRE(full->loadParameters(checkpoint));
  auto evaluator = make(TrainerUse::Evaluate);
  auto predictor = make(TrainerUse::Predict);
  CHECK(evaluator->use() == TrainerUse::Evaluate);
  CHECK(evaluator->compiledFunctions() == Compiled{{"eval", {8}}});
  CHECK(predictor->compiledFunctions() == Compiled{{"predict", {8}}});
  CHECK(evaluator->compileSplit().compiles == 1);
  // A whole checkpoint of a training run loads: its train-step state (slots, counters) is not
  // unknown to a Trainer that has not compiled the train step.
  REQUIRE(evaluator->loadParameters(checkpoint));
  REQUIRE(predictor->loadParameters(checkpoint));
  CHECK(evaluator->parameterNames() == full->parameterNames());
  REQUIRE(evaluator->featureTransform());
  CHECK(evaluator->featureTransform()->shift == full->featureTransform()->shift);
  CHECK(evaluator->featureTransform()->factor == full->featureTransform()->factor);
  // The state eval reads: the parameters and the batchnorm running statistics, as trained.
  std::vector<std::string> evalState = full->parameterNames();
  REQUIRE(evalState.size() >= 4);
  size_t stats = 0;
  for (const std::string &name : full->parameterNames())
    if (name.ends_with(".gamma")) {
      std::string layer = name.substr(0, name.size() - std::strlen(".gamma"));
      for (const char *running : {".running_mean", ".running_var"}) {
        auto trained = full->tensor(layer + running), initial = make(TrainerUse::Train)->tensor(layer + running);
        REQUIRE(trained);
        CHECK(trained->bytes != initial->bytes); // moved by training: the test can tell
        evalState.push_back(layer + running);
        ++stats;
      }
    }
  CHECK(stats == 2);
  for (const std::string &name : evalState) {
    INFO(name);
    auto a = full->tensor(name), b = evaluator->tensor(name);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->bytes == b->bytes);
  }

  // evaluate: the same loss and accuracy, bitwise, with eval alone compiled (for 8 and 5 rows).
  auto want = full->evaluate(data), got = evaluator->evaluate(data);
  REQUIRE(want);
  REQUIRE(got);
  CHECK(got->examples == 21);
  CHECK(got->loss == want->loss);
  CHECK(got->hasAccuracy);
  CHECK(got->accuracy == want->accuracy);
  CHECK(evaluator->compiledFunctions() == Compiled{{"eval", {5, 8}}});

  // predict: the same rows, bitwise, with predict alone compiled.
  std::vector<int64_t> wantShape, gotShape;
  auto wantRows = full->predict(data, wantShape), gotRows = predictor->predict(data, gotShape);
  REQUIRE(wantRows);
  REQUIRE(gotRows);
  CHECK(gotShape == std::vector<int64_t>{21, 3});
  CHECK(gotShape == wantShape);
  CHECK(*gotRows == *wantRows);
  CHECK(predictor->predictOutput() == "probs");
  CHECK(predictor->compiledFunctions() == Compiled{{"predict", {5, 8}}});
  // The other function compiles alone when asked for, with the same results.
  std::vector<int64_t> shape;
  auto evaluatorRows = evaluator->predict(data, shape);
  REQUIRE(evaluatorRows);
  CHECK(*evaluatorRows == *wantRows);
  auto predictorEval = predictor->evaluate(data);
  REQUIRE(predictorEval);
  CHECK(predictorEval->loss == want->loss);
  CHECK(evaluator->compiledFunctions() == Compiled{{"eval", {5, 8}}, {"predict", {5, 8}}});
  CHECK(predictor->compiledFunctions() == Compiled{{"eval", {5, 8}}, {"predict", {5, 8}}});
  // The Trainer made to train compiled eval and predict together, beside its train step.
  CHECK(full->compiledFunctions() == Compiled{{"eval", {5, 8}}, {"predict", {5, 8}}, {"train_step", {8}}});

  // Asked to train, it compiles the train step then: resumed from the checkpoint (load), the
  // run goes on bitwise as that of a Trainer made to train.
  auto resumed = make(TrainerUse::Train);
  REQUIRE(resumed->load(checkpoint));
  REQUIRE(evaluator->load(checkpoint));
  CHECK(evaluator->compiledFunctions().count("train_step") == 1);
  CHECK(evaluator->stepCount() == resumed->stepCount());
  Dataset more = examples(37, 3);
  REQUIRE(resumed->trainEpoch(more, 2));
  REQUIRE(evaluator->trainEpoch(more, 2));
  std::vector<std::string> names = resumed->parameterNames();
  for (const char *name : {"logits.weight.velocity", "step", "rng.counter"})
    names.push_back(name);
  for (const std::string &name : names) {
    INFO(name);
    auto a = resumed->tensor(name), b = evaluator->tensor(name);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->bytes == b->bytes);
  }
  CHECK(evaluator->parameterNames() == resumed->parameterNames());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("a Trainer made to evaluate trains from its initial state when asked to", "[e2e][trainer][use]") {
  // step() compiles the train step on first use; the state it adds (slots, counters) starts
  // from its initializers, so the run is bitwise that of a Trainer made to train.
  auto a = make(TrainerUse::Train), b = make(TrainerUse::Evaluate);
  Dataset data = examples(8, 4);
  for (int s = 0; s < 3; ++s) {
    auto x = a->step(data.features, data.classLabels, {}, 8), y = b->step(data.features, data.classLabels, {}, 8);
    REQUIRE(x);
    REQUIRE(y);
    CHECK(x->loss == y->loss);
  }
  CHECK(b->compiledFunctions() == Compiled{{"eval", {8}}, {"train_step", {8}}});
  for (const std::string &name : a->parameterNames())
    CHECK(a->tensor(name)->bytes == b->tensor(name)->bytes);
}
