//===- e2e_pipeline_test.cpp - One program through the pipeline's stages --------------------===//
//
// A Compilation computes each stage once and later stages start from the kept one; the train
// block's optimizer and schedule arrive resolved, and overrides go through the same tables.
//
//===----------------------------------------------------------------------------------------===//
#include "e2e_support.h"

#include "ir/TextPrinter.h"
#include "pipeline/Pipeline.h"

#include <catch2/catch.hpp>

using namespace nnc;
using namespace nnc::e2e;
using Catch::Matchers::Contains;

namespace {

const char *kModel = R"(model m {
  input x : f32[B, 4]
  target y : i32[B]
  h = dense(x, 8, act = relu)
  output logits = dense(h, 3)
  loss mean(softmax_cross_entropy(logits, y))
}
train {
  optimizer momentum(lr = 0.05)
  schedule step(every = 2)
  batch 8
}
)";

} // namespace

TEST_CASE("pipeline: each stage is computed once and kept", "[pipeline]") {
  auto c = Compilation::fromSource("m.nn", kModel, {});
  REQUIRE(c);
  Compilation &comp = **c;
  CHECK(comp.batch() == 8);
  auto model = comp.modelGraph();
  REQUIRE(model);
  CHECK(*comp.modelGraph() == *model);
  auto training = comp.trainingGraphs();
  REQUIRE(training);
  CHECK(*comp.trainingGraphs() == *training);
  // The model graph is lowered once: it is the first function of the training lowering, and
  // train_step is built from it.
  REQUIRE((*training)->findFunction("train_step"));
  REQUIRE((*training)->findFunction("eval"));
  REQUIRE((*training)->findFunction("predict"));
  CHECK(comp.model().name == "m");
  CHECK(comp.model().hasCorrect);
  auto optimized = comp.optimizedGraphs();
  REQUIRE(optimized);
  CHECK(*comp.optimizedGraphs() == *optimized);
  CHECK_FALSE(comp.passReport().stats.empty());
  auto plan = comp.kernelPlan();
  REQUIRE(plan);
  CHECK((*plan)->size() == (*optimized)->functions().size());
  CHECK(*comp.kernelPlan() == *plan);
  auto exe = comp.executable();
  REQUIRE(exe);
  CHECK(*comp.executable() == *exe);
}

TEST_CASE("pipeline: another batch size shares the checked program", "[pipeline]") {
  auto c = Compilation::fromSource("m.nn", kModel, {});
  REQUIRE(c);
  std::unique_ptr<Compilation> other = (*c)->withBatch(3, 5);
  CHECK(&other->trainConfig() == &(*c)->trainConfig());
  CHECK(other->batch() == 3);
  CHECK(other->settings().stepsPerEpoch == 5);
  auto model = other->modelGraph();
  REQUIRE(model);
  const Argument *x = (*model)->functions().front().findArgument("x");
  REQUIRE(x);
  CHECK(x->type.shape == std::vector<int64_t>{3, 4});
}

TEST_CASE("pipeline: the train block arrives resolved, flags resolve through the same tables",
          "[pipeline]") {
  auto c = Compilation::fromSource("m.nn", kModel, {});
  REQUIRE(c);
  const TrainConfig &tc = (*c)->trainConfig();
  CHECK(tc.optimizerName == "momentum");
  CHECK(tc.optimizer.kind == OptimizerKind::SGD);
  CHECK(tc.optimizer.momentum == 0.9); // the table's default for "momentum"
  CHECK(tc.optimizer.lr == 0.05);
  CHECK(tc.schedule.kind == ScheduleKind::Step);
  CHECK(tc.schedule.every == 2);
  CHECK(tc.schedule.gamma == 0.1);

  CompileSettings adam;
  adam.train.optimizer = "adam";
  auto a = Compilation::fromSource("m.nn", kModel, adam);
  REQUIRE(a);
  CHECK((*a)->trainConfig().optimizer.kind == OptimizerKind::Adam);
  CHECK((*a)->trainConfig().optimizer.lr == 0.05); // the learning rate carries over
  CHECK((*a)->trainConfig().optimizer.beta2 == 0.999);

  CompileSettings badLr;
  badLr.train.lr = -1;
  auto bad = Compilation::fromSource("m.nn", kModel, badLr);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.message(), Contains("m.nn: error: the learning rate must be positive, found -1"));

  std::string outOfRange = std::string(kModel);
  outOfRange.replace(outOfRange.find("momentum(lr = 0.05)"), 19, "adam(beta1 = 2)");
  auto located = Compilation::fromSource("m.nn", outOfRange, {});
  REQUIRE_FALSE(located);
  CHECK_THAT(located.message(), Contains("m.nn:9:13: error: beta1, beta2 and rho must be in [0, 1), found 2"));
}

TEST_CASE("pipeline: textual IR starts at the model graph", "[pipeline]") {
  auto c = Compilation::fromSource("m.nn", kModel, {});
  REQUIRE(c);
  auto model = (*c)->modelGraph();
  REQUIRE(model);
  std::string text = printModule(**model);
  auto ir = Compilation::fromIrText("m.nnir", text, {});
  REQUIRE(ir);
  CHECK_FALSE((*ir)->hasProgram());
  auto again = (*ir)->modelGraph();
  REQUIRE(again);
  CHECK(printModule(**again) == text);
  CHECK_FALSE((*ir)->trainingGraphs());
  CHECK((*ir)->optimizedGraphs());

  CompileSettings unknown;
  unknown.passes = {"nonesuch"};
  auto withPass = Compilation::fromIrText("m.nnir", text, unknown);
  REQUIRE(withPass);
  auto failed = (*withPass)->optimizedGraphs();
  REQUIRE_FALSE(failed);
  CHECK_THAT(failed.message(), Contains("unknown pass 'nonesuch'"));
}
