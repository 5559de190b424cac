//===- passes_grad_check_test.cpp - The gradient checker passes and catches wrong gradients -===//
//
// checkGradients (the engine of `nnc check`) passes on every example model, and fails when one
// rule of the table is corrupted: a wrong reverse rule shows as a finite-difference error in the
// parameters behind it, a wrong forward rule as a forward/reverse mismatch.
//
//===----------------------------------------------------------------------------------------===//
#include "conv_configs.h"
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"
#include "passes/training/GradCheck.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace nnc;

namespace {

/// The Train-mode lowering of the model `text`.
Module lowerText(const std::string &file, const std::string &text, int64_t batch) {
  SourceFile source(file, text);
  DiagnosticEngine diags(&source);
  Program program = parseProgram(source, diags);
  checkProgram(program, diags);
  Module m;
  LowerOptions o;
  o.batch = batch;
  lowerModel(program, o, m, diags);
  INFO(diags.renderAll());
  REQUIRE(!diags.hasErrors());
  return m;
}

/// The Train-mode lowering of an example.
Module lowerExample(const std::string &file, int64_t batch) {
  std::ifstream in(std::string(NNC_EXAMPLES_DIR) + "/" + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return lowerText(file, ss.str(), batch);
}

GradCheckReport check(const Function &forward, const GradCheckOptions &options) {
  auto args = randomCheckArguments(forward, 5);
  if (!args)
    FAIL(args.message());
  auto r = checkGradients(forward, *args, options);
  if (!r)
    FAIL(r.message());
  return *r;
}

const ParamGradCheck &param(const GradCheckReport &r, const std::string &name) {
  for (const ParamGradCheck &p : r.params)
    if (p.name == name)
      return p;
  FAIL("no parameter " << name);
  return r.params.front();
}

} // namespace

TEST_CASE("autodiff: the gradient check passes on every example", "[autodiff]") {
  for (std::string file : {"iris.nn", "regress.nn", "fashion_mlp.nn"}) {
    INFO(file);
    Module m = lowerExample(file, 3);
    GradCheckReport r = check(m.functions().front(), {});
    CHECK(r.passed);
    CHECK(!r.params.empty());
    for (const ParamGradCheck &p : r.params) {
      INFO(p.name);
      CHECK(p.checked == std::min<int64_t>(p.type.numElements(), 16));
      CHECK(p.worstError <= 1e-6);
    }
    CHECK(r.jvpError <= 1e-6);
  }
}

TEST_CASE("autodiff: the gradient check catches a corrupted reverse rule", "[autodiff]") {
  // iris: z = sigmoid(x @ V + c); logits = z @ W + b. A wrong sigmoid derivative, s(1+s)
  // instead of s(1-s), corrupts the gradients of V and c only.
  GradRuleTable corrupt = defaultGradRules();
  GradRule sigmoid = *corrupt.find(OpKind::Sigmoid);
  sigmoid.partial = [](Builder &b, const Node &n, size_t) { return b.mul(n.result, b.add(b.constantLike(n.result, 1), n.result)); };
  corrupt.set(sigmoid);
  Module m = lowerExample("iris.nn", 4);
  GradCheckOptions options;
  options.rules = &corrupt;
  GradCheckReport r = check(m.functions().front(), options);
  CHECK_FALSE(r.passed);
  CHECK(param(r, "V").worstError > 1e-2);
  CHECK(param(r, "c").worstError > 1e-2);
  CHECK(param(r, "W").worstError <= 1e-6);
  CHECK(param(r, "b").worstError <= 1e-6);
  // Both modes share the partial, so forward and reverse still agree with each other.
  CHECK(r.jvpError <= 1e-6);
}

TEST_CASE("autodiff: the gradient check catches a forward rule that disagrees with reverse mode", "[autodiff]") {
  // softmax's JVP replaced by the identity: the reverse gradient stays right, the JVP does not.
  Function f("forward");
  Builder b(f);
  ValueId w = f.addArgument("w", TensorType(DType::F32, {2, 3}), ArgRole::State, true);
  ValueId x = f.addArgument("x", TensorType(DType::F32, {2, 3}), ArgRole::Input);
  f.addResult("loss", b.reduceSum(b.mul(b.softmax(w, 1), x), {0, 1}));
  GradRuleTable corrupt = defaultGradRules();
  GradRule softmax = *corrupt.find(OpKind::Softmax);
  softmax.jvp = [](Builder &, const Node &, const std::vector<ValueId> &t) { return t[0]; };
  corrupt.set(softmax);
  GradCheckOptions options;
  options.rules = &corrupt;
  GradCheckReport r = check(f, options);
  CHECK(param(r, "w").worstError <= 1e-6);
  CHECK(r.jvpError > 1e-2);
  CHECK_FALSE(r.passed);
}

TEST_CASE("autodiff: random check arguments keep labels and indices in range", "[autodiff]") {
  Module m = lowerExample("fashion_mlp.nn", 64);
  auto args = *randomCheckArguments(m.functions().front(), 9);
  const Tensor &y = args.at("y");
  for (double v : y.data)
    CHECK((v >= 0 && v < 10 && v == static_cast<int64_t>(v)));
  CHECK(args.at("rng.counter").data == std::vector<double>{0});

  Function f("forward");
  const SourceLoc declared{3, 9, 3};
  f.addArgument("ids", TensorType(DType::I32, {4}), ArgRole::Input, false, {}, declared);
  auto unknown = randomCheckArguments(f, 1);
  REQUIRE(!unknown.ok());
  CHECK(unknown.message().find("'ids'") != std::string::npos);
  // Located at the argument's declaration, so `nnc check` shows the source line.
  REQUIRE(unknown.error().located());
  CHECK(unknown.error().diagnostics.front().loc == declared);
}

TEST_CASE("autodiff: the gradient check passes on batchnorm over convolutional and dense inputs", "[autodiff][conv]") {
  Module m = lowerText("batchnorm.nn", testing::kBatchNormModel, 3);
  GradCheckReport r = check(m.functions().front(), {});
  CHECK(r.passed);
  CHECK(r.params.size() >= 8); // conv, two batchnorms' gamma and beta, two dense layers
  for (const ParamGradCheck &p : r.params) {
    INFO(p.name);
    CHECK(p.checked > 0);
    CHECK(p.worstError <= 1e-6);
  }
  CHECK(r.jvpError <= 1e-6);
}

TEST_CASE("autodiff: the gradient check passes on every convolution and pooling configuration", "[autodiff][conv]") {
  for (const testing::ConvConfig &c : testing::convConfigs()) {
    INFO(c.label);
    Module m = lowerText(c.label + ".nn", testing::convConfigModel(c), c.batch);
    GradCheckReport r = check(m.functions().front(), {});
    CHECK(r.passed);
    CHECK(r.params.size() >= 4); // both convolutions' weights, and the dense layer's
    for (const ParamGradCheck &p : r.params) {
      INFO(p.name);
      CHECK(p.checked > 0);
      CHECK(p.worstError <= 1e-6);
    }
    CHECK(r.jvpError <= 1e-6);
  }
}
