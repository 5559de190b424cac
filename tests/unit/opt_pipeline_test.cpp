//===- opt_pipeline_test.cpp - The graph pass pipeline on every example ---------------------===//
//
// Differential tests of the graph passes: for every example model (and the golden cnn model,
// which reaches conv, pooling, batchnorm and dropout), the training module built as the driver
// builds it is optimized by the default pipeline, with each pass disabled in turn, and by each
// pass alone. The optimized module must verify and give the interpreter's results and state
// updates of the original within 1e-6 (f32 promoted to f64) over two train steps, plus one call
// of eval and predict; the pipeline must shrink every example. Also: the floating-point safety
// of the simplifier on inf, NaN and -0, the pattern matcher, and the pass manager's errors.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/Verifier.h"
#include "passes/optimize/GraphPasses.h"
#include "passes/optimize/PassManager.h"
#include "passes/optimize/Rewrite.h"
#include "pipeline/Pipeline.h"
#include "passes/training/TrainStep.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

using namespace nnc;

namespace {

std::string readText(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The training module of a .nn file, as the driver and the Trainer make it (batch 4), before
/// the graph pipeline.
Module trainingModule(const std::string &path) {
  CompileSettings settings;
  settings.train.batch = 4;
  auto c = Compilation::fromSource(path, readText(path), settings);
  INFO((c ? std::string() : c.message()));
  REQUIRE(c);
  auto m = (*c)->trainingGraphs();
  INFO((m ? std::string() : m.message()));
  REQUIRE(m);
  return **m;
}

const std::vector<std::string> &modelPaths() {
  static const std::vector<std::string> paths = {
      std::string(NNC_EXAMPLES_DIR) + "/iris.nn", std::string(NNC_EXAMPLES_DIR) + "/fashion_mlp.nn",
      std::string(NNC_EXAMPLES_DIR) + "/regress.nn", std::string(NNC_SOURCE_DIR) + "/tests/golden/check/cnn.nn"};
  return paths;
}

/// Arguments for every argument of `f`: floats uniform in [0.05, 0.5] (positive, so that
/// Adam's second moments and batchnorm's variances are valid), labels 0 or 1, counters 0.
std::map<std::string, Tensor> sampleArguments(const Function &f, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.05, 0.5);
  std::map<std::string, Tensor> args;
  for (const Argument &a : f.arguments()) {
    Tensor t = Tensor::filled(a.type, 0);
    for (size_t i = 0; i < t.data.size(); ++i) {
      if (isFloat(a.type.dtype))
        t.data[i] = uniform(rng);
      else if (a.role != ArgRole::State)
        t.data[i] = static_cast<double>(i % 2);
    }
    args[a.name] = t;
  }
  return args;
}

EvalResult run(const Function &f, const std::map<std::string, Tensor> &args) {
  InterpreterOptions o;
  o.promoteF32ToF64 = true;
  auto r = evaluate(f, args, o);
  if (!r)
    FAIL(f.name() << ": " << r.message());
  return *std::move(r);
}

void requireClose(const std::map<std::string, Tensor> &expected, const std::map<std::string, Tensor> &actual,
                  const std::string &what) {
  REQUIRE(expected.size() == actual.size());
  for (const auto &[name, e] : expected) {
    INFO(what << " " << name);
    REQUIRE(actual.count(name));
    const Tensor &a = actual.at(name);
    REQUIRE(a.type == e.type);
    for (size_t i = 0; i < e.data.size(); ++i) {
      if (std::isnan(e.data[i])) {
        CHECK(std::isnan(a.data[i]));
        continue;
      }
      CHECK(std::abs(a.data[i] - e.data[i]) <= 1e-6 * (1 + std::abs(e.data[i])));
    }
  }
}

/// Two train steps (feeding the updates back) and one eval and predict call of each module,
/// compared.
void requireSameBehaviour(const Module &original, const Module &optimized, const std::string &what) {
  REQUIRE(verify(optimized).ok());
  for (const Function &f : original.functions()) {
    INFO(what << ", function @" << f.name());
    const Function *g = optimized.findFunction(f.name());
    REQUIRE(g);
    std::map<std::string, Tensor> a = sampleArguments(f, 42), b = a;
    int calls = f.name() == "train_step" ? 2 : 1;
    for (int k = 0; k < calls; ++k) {
      EvalResult ra = run(f, a), rb = run(*g, b);
      requireClose(ra.results, rb.results, "result");
      requireClose(ra.updates, rb.updates, "update");
      for (auto &[name, t] : ra.updates)
        a[name] = t;
      for (auto &[name, t] : rb.updates)
        b[name] = t;
    }
  }
}

Module optimize(const Module &m, PipelineOptions options, PipelineReport *report = nullptr) {
  options.verifyEach = true;
  PipelineReport local;
  Result<Module> out = runPipeline(m, options, report ? report : &local);
  INFO((out ? "" : out.message()));
  REQUIRE(out);
  return std::move(*out);
}

size_t countOps(const Module &m) {
  size_t n = 0;
  for (const Function &f : m.functions())
    n += f.nodes().size();
  return n;
}

} // namespace

TEST_CASE("opt: the default pipeline keeps every example's results and updates over two steps", "[opt]") {
  for (const std::string &path : modelPaths()) {
    INFO(path);
    Module original = trainingModule(path);
    PipelineReport report;
    Module optimized = optimize(original, {}, &report);
    REQUIRE(report.stats.size() == defaultPipeline().size());
    requireSameBehaviour(original, optimized, "default pipeline");
    // Fewer ops and fewer intermediate bytes after the pipeline than before, on every example,
    // but for what expand-batchnorm adds on purpose: elementwise ops that code generation fuses
    // into one loop with their users, where the batch_norm node was a tensor of its own.
    int64_t addedOps = 0, addedBytes = 0;
    for (const PassStats &s : report.stats)
      if (s.pass == "expand-batchnorm") {
        addedOps += int64_t(s.opsAfter) - int64_t(s.opsBefore);
        addedBytes += int64_t(s.bytesAfter) - int64_t(s.bytesBefore);
      }
    CHECK(int64_t(report.stats.back().opsAfter) - addedOps < int64_t(report.stats.front().opsBefore));
    CHECK(int64_t(report.stats.back().bytesAfter) - addedBytes < int64_t(report.stats.front().bytesBefore));
    CHECK(report.stats.front().opsBefore == countOps(original));
    CHECK(report.stats.back().opsAfter == countOps(optimized));
    // The pipeline reaches a fixed point: running it again changes nothing.
    PipelineReport again;
    optimize(optimized, {}, &again);
    for (const PassStats &s : again.stats) {
      INFO("second run of " << s.pass);
      CHECK(s.changes == 0);
    }
  }
}

TEST_CASE("opt: each pass disabled in turn, and each pass alone, keeps the results", "[opt]") {
  for (const std::string &path : modelPaths()) {
    INFO(path);
    Module original = trainingModule(path);
    for (const Pass &pass : registeredPasses()) {
      PipelineOptions without;
      without.disabled = {std::string(pass.name)};
      PipelineReport report;
      Module optimized = optimize(original, without, &report);
      for (const PassStats &s : report.stats)
        CHECK(s.pass != pass.name);
      requireSameBehaviour(original, optimized, "without " + std::string(pass.name));

      PipelineOptions alone;
      alone.passes = {std::string(pass.name)};
      requireSameBehaviour(original, optimize(original, alone), "only " + std::string(pass.name));
    }
  }
}

TEST_CASE("opt: simplification keeps inf, NaN and -0 where its rules say exact", "[opt]") {
  // Every result is a rule's left side; the right side must agree bit for bit in the value
  // classes the rules claim, with inf, NaN and signed zeros among the inputs.
  Function f("rules");
  Builder b(f);
  TensorType t(DType::F32, {6});
  ValueId x = f.addArgument("x", t, ArgRole::Input);
  ValueId m = f.addArgument("m", TensorType(DType::I1, {6}), ArgRole::Input);
  ValueId one = b.constant(1, t), zero = b.constant(0, t), minusOne = b.constant(-1, t);
  f.addResult("mul_one", b.mul(one, x));
  f.addResult("div_one", b.div(x, one));
  f.addResult("sub_zero", b.sub(x, zero));
  f.addResult("mul_minus_one", b.mul(x, minusOne));
  f.addResult("neg_neg", b.neg(b.neg(x)));
  f.addResult("sub_self", b.sub(x, x));  // must stay: inf - inf is NaN
  f.addResult("mul_zero", b.mul(x, zero)); // must stay: inf * 0 is NaN
  f.addResult("select_same", b.select(m, x, x));
  f.addResult("cast_roundtrip", b.cast(b.cast(x, DType::F64), DType::F32));
  Function g = f;
  CHECK(simplify(g) > 0);
  eliminateDeadCode(g);
  REQUIRE(verify(g).ok());
  const double inf = INFINITY;
  std::map<std::string, Tensor> args{{"x", Tensor(t, {inf, -inf, NAN, -0.0, 0.0, 1.5})},
                                     {"m", Tensor(TensorType(DType::I1, {6}), {1, 0, 1, 0, 1, 0})}};
  EvalResult before = run(f, args), after = run(g, args);
  for (const auto &[name, e] : before.results) {
    INFO(name);
    const Tensor &a = after.results.at(name);
    for (size_t i = 0; i < e.data.size(); ++i) {
      INFO("element " << i);
      CHECK(std::isnan(a.data[i]) == std::isnan(e.data[i]));
      if (!std::isnan(e.data[i])) {
        CHECK(a.data[i] == e.data[i]);
        CHECK(std::signbit(a.data[i]) == std::signbit(e.data[i]));
      }
    }
  }
  // Only x - x and x * 0 (and the constant 0 they use) are left as ops.
  size_t left = 0;
  for (const Node &n : g.nodes())
    left += n.op != OpKind::Constant && n.op != OpKind::Neg;
  CHECK(left == 2);
}

TEST_CASE("opt: patterns match commutative operands in either order and repeated variables", "[opt]") {
  using namespace rewrite;
  Function f("f");
  TensorType t(DType::F32, {2});
  ValueId x = f.addArgument("x", t, ArgRole::Input), y = f.addArgument("y", t, ArgRole::Input);
  Rewriter rw(f, {});
  ValueId c = rw.constant(3, t);
  int fired = 0;
  std::vector<Rule> rules = {
      rule("sub-self", op(OpKind::Sub, X, X), [&](Rewriter &, const Match &m) { ++fired; return m[X]; }),
      rule("mul-three", op(OpKind::Mul, X, splat(3.0)), [&](Rewriter &, const Match &m) { ++fired; return m[X]; }),
      rule("div-three", op(OpKind::Div, X, splat(3.0)), [&](Rewriter &, const Match &m) { ++fired; return m[X]; }),
  };
  Rewriter r(f, rules);
  CHECK(r.create(OpKind::Sub, {x, x}) == x);
  CHECK(r.create(OpKind::Sub, {x, y}) != x); // different values do not bind one variable
  CHECK(r.create(OpKind::Mul, {x, c}) == x);
  CHECK(r.create(OpKind::Mul, {c, x}) == x); // mul is commutative
  CHECK(r.create(OpKind::Div, {c, x}) != x); // div is not
  CHECK(fired == 3);
  CHECK(r.rewrites() == 3);
}

TEST_CASE("opt: the pass manager rejects unknown passes and measures intermediate bytes", "[opt]") {
  Module m;
  Function &f = m.addFunction("f");
  Builder b(f);
  ValueId x = f.addArgument("x", TensorType(DType::F32, {3, 4}), ArgRole::Input);
  ValueId y = b.cast(x, DType::F64);                                           // 12 * 8
  ValueId mask = b.cmp(CmpPredicate::GT, y, b.constant(0, TensorType(DType::F64, {3, 4}))); // 96 + 12
  f.addResult("mask", mask);
  CHECK(intermediateBytes(f) == 96 + 96 + 12);

  PipelineOptions bad;
  bad.passes = {"simplify", "nonesuch"};
  PipelineReport report;
  Result<Module> unknown = runPipeline(m, bad, &report);
  REQUIRE(!unknown);
  CHECK(unknown.message().find("unknown pass 'nonesuch'") != std::string::npos);

  std::vector<std::string> dumped;
  PipelineOptions dumping;
  dumping.passes = {"cse", "dce"};
  dumping.dumpAfter = {"dce"};
  dumping.dump = [&](const std::string &text) { dumped.push_back(text); };
  REQUIRE(runPipeline(m, dumping));
  REQUIRE(dumped.size() == 1);
  CHECK(dumped[0].starts_with("// ----- after dce -----\nfunc @f("));
}
