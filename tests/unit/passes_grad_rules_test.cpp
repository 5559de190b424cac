//===- passes_grad_rules_test.cpp - Every op's derivative, checked numerically --------------===//
//
// Walks the op table of Ops.def. Every op must have an entry in the gradient rule table, and
// an op is declared not differentiable there exactly when Ops.def does not flag it
// OpDifferentiable. For every differentiable op, the sample instance of ir_samples.h is built
// into  loss = sum(op(x...) * w)  with a random weight w, and on random inputs, in f64 through
// the interpreter: the reverse-mode gradient must match central finite differences in every
// coordinate, and the forward-mode JVP in a random direction must match <gradient, direction>.
// A new op is covered by its sample; no test code is added.
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"
#include "passes/training/Autodiff.h"
#include "passes/training/ForwardMode.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>

using namespace nnc;
using namespace nnc::test;

namespace {

/// The instance of one op as a function of its operands, with gradients and the JVP.
struct OpGraph {
  Function f{"op"};
  std::vector<std::string> floatArgs; ///< the differentiated operands, x0, x1, ...
};

/// Builds loss = sum(op(x...) * w), its gradients (results "grad.xi") and its JVP in the
/// direction of the arguments "tangent.xi" (result "jvp").
OpGraph buildOpGraph(const OpSample &s, const GradRuleTable &rules) {
  OpGraph g;
  Function &f = g.f;
  Builder b(f);
  std::vector<ValueId> operands, wrt;
  for (size_t i = 0; i < s.operands.size(); ++i) {
    std::string name = fmt::format("x{}", i);
    operands.push_back(f.addArgument(name, s.operands[i], ArgRole::Input));
    if (isFloat(s.operands[i].dtype)) {
      wrt.push_back(operands.back());
      g.floatArgs.push_back(name);
    }
  }
  b.setLoc(SourceLoc{7, 3, 2});
  ValueId y = b.create(s.op, operands, s.attrs);
  b.setLoc({});
  ValueId w = f.addArgument("w", f.type(y), ArgRole::Input);
  std::vector<int64_t> all(static_cast<size_t>(f.type(y).rank()));
  for (size_t i = 0; i < all.size(); ++i)
    all[i] = static_cast<int64_t>(i);
  ValueId prod = b.mul(y, w);
  ValueId loss = all.empty() ? prod : b.reduceSum(prod, all);
  f.addResult("loss", loss);
  auto grads = appendGradients(f, loss, wrt, rules);
  if (!grads)
    FAIL(grads.message());
  std::vector<std::pair<ValueId, ValueId>> seeds;
  for (size_t i = 0; i < wrt.size(); ++i) {
    f.addResult("grad." + g.floatArgs[i], (*grads)[i]);
    seeds.emplace_back(wrt[i], f.addArgument("tangent." + g.floatArgs[i], f.type(wrt[i]), ArgRole::Input));
  }
  auto jvp = appendJvp(f, loss, seeds, rules);
  if (!jvp)
    FAIL(jvp.message());
  f.addResult("jvp", *jvp);
  return g;
}

/// The smallest dimension of the sample's float operands and result: i32 operands (labels,
/// indices) draw from [0, that), which every sample keeps in range.
int64_t indexRange(const OpSample &s) {
  int64_t n = INT64_MAX;
  auto consider = [&](const TensorType &t) {
    if (isFloat(t.dtype))
      for (int64_t d : t.shape)
        n = std::min(n, d);
  };
  for (const TensorType &t : s.operands)
    consider(t);
  consider(s.result);
  return n == INT64_MAX ? 1 : n;
}

/// Random data of `type`: floats of magnitude [0.2, 1.2] (positive only when `positive`),
/// i32 in [0, range), i1 0 or 1.
Tensor randomTensor(const TensorType &type, std::mt19937_64 &rng, bool positive, int64_t range) {
  Tensor t = Tensor::filled(type, 0);
  std::uniform_real_distribution<double> mag(0.2, 1.2);
  for (double &v : t.data) {
    if (isFloat(type.dtype))
      v = (positive || rng() % 2 ? 1 : -1) * mag(rng);
    else if (type.dtype == DType::I32)
      v = static_cast<double>(rng() % static_cast<uint64_t>(range));
    else
      v = static_cast<double>(rng() % 2);
  }
  return t;
}

const InterpreterOptions kF64{true, false};

EvalResult run(const Function &f, const std::map<std::string, Tensor> &args) {
  auto r = evaluate(f, args, kF64);
  if (!r)
    FAIL(r.message());
  return *r;
}

bool allFinite(const EvalResult &r) {
  for (const auto &[name, t] : r.results)
    for (double v : t.data)
      if (!std::isfinite(v))
        return false;
  return true;
}

/// Random arguments for the op graph; positive floats when signed ones leave the op's domain.
std::map<std::string, Tensor> randomArgs(const OpSample &s, const Function &f, std::mt19937_64 &rng) {
  for (bool positive : {false, true}) {
    std::map<std::string, Tensor> args;
    for (const Argument &a : f.arguments())
      args[a.name] = randomTensor(a.type, rng, positive, indexRange(s));
    if (allFinite(run(f, args)))
      return args;
  }
  FAIL("no random inputs in the domain of " << mnemonic(s.op));
  return {};
}

} // namespace

TEST_CASE("autodiff: every op has a gradient rule or is declared not differentiable, as Ops.def flags it", "[autodiff]") {
  for (OpKind op : allOpKinds()) {
    INFO("op " << mnemonic(op));
    const GradRule *rule = defaultGradRules().find(op);
    if (!rule) {
      FAIL("op '" << mnemonic(op) << "' has no entry in passes/training/GradRules.cpp");
      continue;
    }
    bool declaredNot = rule->kind == RuleKind::NotDifferentiable;
    CHECK(declaredNot == !hasFlag(op, OpDifferentiable));
    if (declaredNot)
      CHECK(!rule->why.empty());
  }
}

TEST_CASE("autodiff: every differentiable op: reverse mode against finite differences, forward against reverse",
          "[autodiff]") {
  std::mt19937_64 rng(20240611);
  size_t checked = 0;
  for (OpKind op : allOpKinds()) {
    if (!hasFlag(op, OpDifferentiable))
      continue;
    INFO("op " << mnemonic(op));
    auto sample = sampleOf(op);
    REQUIRE(sample);
    OpGraph g = buildOpGraph(*sample, defaultGradRules());
    INFO(printFunction(g.f));
    REQUIRE(verify(g.f).ok());
    std::map<std::string, Tensor> args = randomArgs(*sample, g.f, rng);
    EvalResult base = run(g.f, args);

    // Reverse mode against central differences, every coordinate.
    const double h = 1e-6;
    for (const std::string &x : g.floatArgs) {
      const Tensor &grad = base.results.at("grad." + x);
      for (size_t i = 0; i < args[x].data.size(); ++i) {
        double saved = args[x].data[i];
        args[x].data[i] = saved + h;
        double up = run(g.f, args).results.at("loss").data[0];
        args[x].data[i] = saved - h;
        double down = run(g.f, args).results.at("loss").data[0];
        args[x].data[i] = saved;
        double fd = (up - down) / (2 * h);
        INFO(x << "[" << i << "]: finite difference " << fd << ", reverse mode " << grad.data[i]);
        CHECK(std::fabs(fd - grad.data[i]) <= 1e-6 * std::max(1.0, std::fabs(fd)));
      }
    }
    // Forward mode against reverse mode: JVP(t) = <grad, t>.
    double dot = 0;
    for (const std::string &x : g.floatArgs)
      for (size_t i = 0; i < args[x].data.size(); ++i)
        dot += base.results.at("grad." + x).data[i] * args.at("tangent." + x).data[i];
    double jvp = base.results.at("jvp").data[0];
    INFO("jvp " << jvp << ", <grad, t> " << dot);
    CHECK(std::fabs(jvp - dot) <= 1e-10 * std::max(1.0, std::fabs(dot)));
    ++checked;
  }
  CHECK(checked > 30);
}
