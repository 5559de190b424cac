//===- passes_autodiff_test.cpp - Reverse mode: summing, broadcasts, stability, errors -------===//
//
// The properties of appendGradients that the op-table test does not isolate: adjoints of a value
// used twice are summed, broadcasts are undone by reduction, softmax cross-entropy stays finite
// at logits of +-1000, integer values and targets are never differentiated, only nodes between
// the parameters and the loss are visited, and an op without a rule is an error naming the op
// and its source line.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/Verifier.h"
#include "passes/training/Autodiff.h"
#include "passes/training/ForwardMode.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

using namespace nnc;

namespace {

TensorType f32(std::vector<int64_t> s) { return {DType::F32, std::move(s)}; }

/// Differentiates the `loss` result of `f` with respect to `wrt`, adds the gradients as
/// results "grad0", "grad1", ... and evaluates in f64.
EvalResult gradients(Function &f, const std::vector<ValueId> &wrt, const std::map<std::string, Tensor> &args) {
  auto grads = appendGradients(f, f.findResult("loss"), wrt);
  if (!grads)
    FAIL(grads.message());
  for (size_t i = 0; i < wrt.size(); ++i)
    f.addResult("grad" + std::to_string(i), (*grads)[i]);
  REQUIRE(verify(f).ok());
  auto r = evaluate(f, args, {true, false});
  if (!r)
    FAIL(r.message());
  return *r;
}

ValueId sumAll(Builder &b, ValueId v) {
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < b.type(v).rank(); ++i)
    axes.push_back(i);
  return axes.empty() ? v : b.reduceSum(v, axes);
}

size_t countOps(const Function &f, OpKind op) {
  size_t n = 0;
  for (const Node &node : f.nodes())
    n += node.op == op;
  return n;
}

} // namespace

TEST_CASE("autodiff: the adjoints of a value used several times are summed", "[autodiff]") {
  // loss = sum(x * x + tanh(x)): x is used three times; d/dx = 2x + 1 - tanh(x)^2
  Function f("twice");
  Builder b(f);
  ValueId x = f.addArgument("x", f32({3}), ArgRole::State, true);
  f.addResult("loss", sumAll(b, b.add(b.mul(x, x), b.tanh(x))));
  size_t addsBefore = countOps(f, OpKind::Add);
  Tensor xs(f32({3}), {0.5, -1.0, 2.0});
  EvalResult r = gradients(f, {x}, {{"x", xs}});
  for (size_t i = 0; i < 3; ++i) {
    double v = xs.data[i], t = std::tanh(v);
    CHECK(r.results["grad0"].data[i] == Approx(2 * v + 1 - t * t).epsilon(1e-12));
  }
  CHECK(countOps(f, OpKind::Add) - addsBefore >= 2); // two extra uses, two sums
}

TEST_CASE("autodiff: the adjoint of a broadcast is reduced to the operand's shape", "[autodiff]") {
  // loss = sum(broadcast(b[3] -> [4,3]) * w) + sum(broadcast(c[1,3] -> [4,3]) * w)
  Function f("bcast");
  Builder b(f);
  ValueId bias = f.addArgument("b", f32({3}), ArgRole::State, true);
  ValueId row = f.addArgument("c", f32({1, 3}), ArgRole::State, true);
  ValueId w = f.addArgument("w", f32({4, 3}), ArgRole::Input);
  ValueId lhs = b.mul(b.broadcast(bias, {4, 3}, {1}), w), rhs = b.mul(b.broadcast(row, {4, 3}, {0, 1}), w);
  f.addResult("loss", sumAll(b, b.add(lhs, rhs)));
  Tensor ws(f32({4, 3}), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EvalResult r = gradients(f, {bias, row},
                           {{"b", Tensor::filled(f32({3}), 0.5)}, {"c", Tensor::filled(f32({1, 3}), 0.25)}, {"w", ws}});
  CHECK(r.results["grad0"].type == f32({3}));
  CHECK(r.results["grad1"].type == f32({1, 3}));
  CHECK(r.results["grad0"].data == std::vector<double>{22, 26, 30}); // column sums of w
  CHECK(r.results["grad1"].data == std::vector<double>{22, 26, 30});
}

TEST_CASE("autodiff: softmax cross-entropy at logits of +-1000 has a finite loss and gradient", "[autodiff]") {
  // d/ds mean(sce(s, y)) = (softmax(s) - one_hot(y)) / N, here exactly 0 or -1/2 or +1/2
  for (bool promote : {true, false}) {
    Function f("sce");
    Builder b(f);
    ValueId s = f.addArgument("s", f32({2, 3}), ArgRole::State, true);
    ValueId y = f.addArgument("y", TensorType(DType::I32, {2}), ArgRole::Target);
    f.addResult("loss", b.reduceMean(b.softmaxCrossEntropy(s, y), {0}));
    auto grads = appendGradients(f, f.findResult("loss"), {s});
    REQUIRE(grads.ok());
    f.addResult("grad", (*grads)[0]);
    Tensor logits(f32({2, 3}), {1000, -1000, 0, -1000, 1000, -1000});
    Tensor labels(TensorType(DType::I32, {2}), {1, 1});
    auto out = evaluate(f, {{"s", logits}, {"y", labels}}, {promote, false});
    REQUIRE(out.ok());
    EvalResult &r = *out;
    CHECK(std::isfinite(r.results["loss"].data[0]));
    CHECK(r.results["loss"].data[0] == Approx(1000.0)); // row 0: 1000 - (-1000) = 2000; row 1: 0
    std::vector<double> expected{0.5, -0.5, 0, 0, 0, 0};
    for (size_t i = 0; i < 6; ++i) {
      CHECK(std::isfinite(r.results["grad"].data[i]));
      CHECK(r.results["grad"].data[i] == Approx(expected[i]).margin(1e-12));
    }
  }
}

TEST_CASE("autodiff: integer values, masks and targets are never differentiated", "[autodiff]") {
  // loss = sum(gather(table, ids) * cast(cast(p, i32), f32) + bce(p, t)): gradients flow to the
  // table and to p through bce only; ids, the i32 cast and the target t are not active.
  Function f("ints");
  Builder b(f);
  ValueId table = f.addArgument("table", f32({4, 2}), ArgRole::State, true);
  ValueId p = f.addArgument("p", f32({3, 2}), ArgRole::State, true);
  ValueId ids = f.addArgument("ids", TensorType(DType::I32, {3}), ArgRole::Input);
  ValueId t = f.addArgument("t", f32({3, 2}), ArgRole::Target);
  ValueId rounded = b.cast(b.cast(p, DType::I32), DType::F32);
  ValueId loss = sumAll(b, b.add(b.mul(b.gather(table, ids), rounded), b.bceWithLogits(p, t)));
  f.addResult("loss", loss);
  std::vector<bool> active = activeValues(f, {table, p});
  CHECK(active[table.index]);
  CHECK(active[p.index]);
  CHECK_FALSE(active[ids.index]);
  CHECK_FALSE(active[t.index]);
  CHECK_FALSE(active[rounded.index]);
  Tensor ps(f32({3, 2}), {1.5, -0.5, 2.25, 0.75, -1.25, 0.5});
  Tensor ts(f32({3, 2}), {1, 0, 0, 1, 1, 0});
  EvalResult r = gradients(f, {table, p},
                           {{"table", Tensor::filled(f32({4, 2}), 1)}, {"p", ps},
                            {"ids", Tensor(TensorType(DType::I32, {3}), {2, 0, 3})}, {"t", ts}});
  // d table = the rows of trunc(p), [1, 0], [2, 0], [-1, 0], added into rows 2, 0, 3
  std::vector<double> dTable{2, 0, 0, 0, 1, 0, -1, 0};
  for (size_t i = 0; i < 8; ++i)
    CHECK(r.results["grad0"].data[i] == Approx(dTable[i]).margin(1e-12));
  // d p = sigmoid(p) - t only
  for (size_t i = 0; i < 6; ++i)
    CHECK(r.results["grad1"].data[i] == Approx(1 / (1 + std::exp(-ps.data[i])) - ts.data[i]).epsilon(1e-12));
}

TEST_CASE("autodiff: only nodes between the parameters and the loss are differentiated", "[autodiff]") {
  // An op with no rule off the path from the parameters to the loss is no error.
  GradRuleTable rules = defaultGradRules();
  rules.erase(OpKind::Exp);
  Function f("prune");
  Builder b(f);
  ValueId w = f.addArgument("w", f32({3}), ArgRole::State, true);
  ValueId x = f.addArgument("x", f32({3}), ArgRole::Input);
  ValueId unrelated = b.exp(w); // depends on w, but not used by the loss
  ValueId constant = b.exp(x);  // used by the loss, but does not depend on w
  f.addResult("loss", sumAll(b, b.mul(w, constant)));
  f.addResult("other", unrelated);
  auto grads = appendGradients(f, f.findResult("loss"), {w}, rules);
  CHECK(grads.ok());
}

TEST_CASE("autodiff: an op without a rule is an error naming the op and its source line", "[autodiff]") {
  Function f("missing");
  Builder b(f);
  ValueId w = f.addArgument("w", f32({3}), ArgRole::State, true);
  b.setLoc(SourceLoc{12, 5, 4});
  ValueId y = b.tanh(w);
  b.setLoc({});
  f.addResult("loss", sumAll(b, y));

  GradRuleTable missing = defaultGradRules();
  missing.erase(OpKind::Tanh);
  auto r = appendGradients(f, f.findResult("loss"), {w}, missing);
  REQUIRE(!r.ok());
  const Diagnostic &d = r.error().diagnostics.front();
  CHECK(d.loc.line == 12);
  CHECK(d.message.find("'tanh'") != std::string::npos);
  CHECK(d.message.find("line 12") != std::string::npos);
  CHECK(d.message.find("no gradient rule") != std::string::npos);

  auto jvp = appendJvp(f, f.findResult("loss"), {{w, f.addArgument("tw", f32({3}), ArgRole::Input)}}, missing);
  REQUIRE(!jvp.ok());
  CHECK(jvp.error().diagnostics.front().message.find("line 12") != std::string::npos);

  GradRuleTable declared = defaultGradRules();
  GradRule none{};
  none.op = OpKind::Tanh;
  none.kind = RuleKind::NotDifferentiable;
  none.why = "declared so by this test";
  declared.set(none);
  auto r2 = appendGradients(f, f.findResult("loss"), {w}, declared);
  REQUIRE(!r2.ok());
  CHECK(r2.error().diagnostics.front().message.find("declared so by this test") != std::string::npos);
}

TEST_CASE("autodiff: a loss that does not depend on a parameter gives it a zero gradient", "[autodiff]") {
  Function f("zero");
  Builder b(f);
  ValueId w = f.addArgument("w", f32({2}), ArgRole::State, true);
  ValueId v = f.addArgument("v", f32({2}), ArgRole::State, true);
  f.addResult("loss", sumAll(b, b.square(w)));
  EvalResult r = gradients(f, {w, v}, {{"w", Tensor(f32({2}), {1, 2})}, {"v", Tensor(f32({2}), {3, 4})}});
  CHECK(r.results["grad0"].data == std::vector<double>{2, 4});
  CHECK(r.results["grad1"].data == std::vector<double>{0, 0});
}

TEST_CASE("autodiff: backward nodes are located at the forward node they differentiate", "[autodiff]") {
  // loss = sum(tanh(w) * 3); u does not reach the loss, so its gradient is a zero constant.
  Function f("located");
  Builder b(f);
  ValueId w = f.addArgument("w", f32({3}), ArgRole::State, true, "zeros", SourceLoc{2, 9, 1});
  ValueId u = f.addArgument("u", f32({3}), ArgRole::State, true, "zeros", SourceLoc{3, 9, 1});
  b.setLoc(SourceLoc{5, 7, 4});
  ValueId t = b.tanh(w);
  b.setLoc(SourceLoc{6, 3, 1});
  f.addResult("loss", sumAll(b, b.mul(t, b.constantLike(t, 3))));
  const size_t forward = f.nodes().size();
  auto grads = appendGradients(f, f.findResult("loss"), {w, u});
  REQUIRE(grads.ok());
  const std::vector<ValueId> &g = *grads;
  std::set<uint32_t> lines;
  for (size_t i = forward; i < f.nodes().size(); ++i) {
    CHECK(f.nodes()[i].loc.valid());
    lines.insert(f.nodes()[i].loc.line);
  }
  CHECK(lines.count(5)); // tanh's derivative
  CHECK(lines.count(6)); // the product's and the sum's
  CHECK(f.definingNode(g[0])->loc.line == 5);
  CHECK(f.definingNode(g[1])->op == OpKind::Constant);
  CHECK(f.definingNode(g[1])->loc == SourceLoc{3, 9, 1}); // the zero at its parameter
}
