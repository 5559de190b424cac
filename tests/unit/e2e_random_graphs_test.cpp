//===- e2e_random_graphs_test.cpp - Random small graphs: JIT against the interpreter --------===//
//
// Graphs of 2 to 6 ops drawn from the op table (one sample instance per op, ir_samples.h),
// deterministically from seeds. Each op takes its operands from the values built so far when
// their types fit — an elementwise op takes any float value, and its other operands are made to
// match through views (broadcast of a row or a column, transpose, slice) that feed it directly
// and so are read in place by the emitter — otherwise from fresh arguments of the sample's
// types. Combinations the Builder's tryCreate rejects are skipped. Every sink is a result; the
// JIT's results must match the interpreter's to a relative 1e-4, integers and masks exactly.
//
//===----------------------------------------------------------------------------------------===//
#include "e2e_support.h"

#include "ir/Builder.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"

#include "ir_samples.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <set>

using namespace nnc;
using namespace nnc::e2e;

namespace {

struct Rng {
  uint64_t seed, n = 0;
  uint32_t next() { return randomBits(seed, 99, n++); }
  size_t below(size_t k) { return k == 0 ? 0 : next() % k; }
  bool chance(double p) { return randomUniform(seed, 98, n++) < p; }
};

struct Generated {
  Function fn{"g"};
  std::map<std::string, Tensor> args;
  std::set<OpKind> ops;
  size_t viewsFeedingElementwise = 0;
};

class GraphGenerator {
public:
  GraphGenerator(uint64_t seed, Generated &g) : rng_{seed}, g_(g), b_(g.fn) {}

  void generate() {
    g_.fn.setName(fmt::format("g{}", rng_.seed));
    pool_.push_back(newArg(shapes_[rng_.below(shapes_.size())]));
    size_t want = 2 + rng_.below(5), made = 0;
    for (int attempts = 0; made < want && attempts < 40; ++attempts)
      made += step() ? 1 : 0;
    // Every value no one uses is a result, so nothing is dead.
    auto users = g_.fn.computeUsers();
    int r = 0;
    for (const Node &n : g_.fn.nodes())
      if (users[n.result.index].empty())
        g_.fn.addResult(fmt::format("r{}", r++), n.result);
  }

private:
  ValueId newArg(const TensorType &t) {
    std::string name = fmt::format("a{}", g_.args.size());
    ValueId v = g_.fn.addArgument(name, t, ArgRole::Input);
    // Positive floats (so log and sqrt mostly stay finite), labels and indices in [0, 2).
    g_.args[name] = randomTensor(t, rng_.next(), 0.2, 2.0, 2);
    return v;
  }

  /// A value of exactly type `t`: often a view (broadcast, transpose or slice of a fresh
  /// argument) when `viewOk`, else a pool value of that type, else a fresh argument.
  ValueId operandOfType(const TensorType &t, bool viewOk, bool &isView) {
    isView = false;
    if (viewOk && isFloat(t.dtype) && t.rank() == 2 && rng_.chance(0.5)) {
      isView = true;
      int64_t r = t.shape[0], c = t.shape[1];
      switch (rng_.below(4)) {
      case 0: return b_.broadcast(newArg({t.dtype, {c}}), {r, c}, {1});
      case 1: return b_.broadcast(newArg({t.dtype, {r, 1}}), {r, c}, {0, 1});
      case 2: return b_.transpose(pickOrNew({t.dtype, {c, r}}), {1, 0});
      default: return b_.slice(pickOrNew({t.dtype, {r + 1, c + 2}}), {1, int64_t(rng_.below(3))}, {r, c});
      }
    }
    return pickOrNew(t);
  }

  ValueId pickOrNew(const TensorType &t) {
    std::vector<ValueId> fits;
    for (ValueId v : pool_)
      if (g_.fn.type(v) == t)
        fits.push_back(v);
    if (!fits.empty() && rng_.chance(0.8))
      return fits[rng_.below(fits.size())];
    return newArg(t);
  }

  bool step() {
    const auto &samples = test::opSamples();
    const test::OpSample &s = samples[rng_.below(samples.size())];
    std::vector<ValueId> operands;
    bool viewFed = false;
    if (hasFlag(s.op, OpElementwise) && !s.operands.empty()) {
      // Any float value of the pool; the other operands of its type (views welcome).
      std::vector<ValueId> floats;
      for (ValueId v : pool_)
        if (isFloat(g_.fn.type(v).dtype))
          floats.push_back(v);
      if (floats.empty())
        return false;
      ValueId first = floats[rng_.below(floats.size())];
      TensorType t = g_.fn.type(first);
      for (size_t i = 0; i < s.operands.size(); ++i) {
        if (s.op == OpKind::Select && i == 0) {
          operands.push_back(pickOrNew({DType::I1, t.shape}));
          continue;
        }
        bool isView = false;
        bool firstSlot = s.op == OpKind::Select ? i == 1 : i == 0;
        if (firstSlot && rng_.chance(0.7)) {
          operands.push_back(first);
        } else {
          operands.push_back(operandOfType(t, true, isView));
          viewFed |= isView;
        }
      }
      // A unary op on a view of the pool: transpose or slice it in place.
      if (s.operands.size() == 1 && t.rank() == 2 && rng_.chance(0.3)) {
        operands[0] = rng_.chance(0.5) ? b_.transpose(first, {1, 0})
                                       : b_.slice(first, {0, 0}, {t.shape[0], std::max<int64_t>(1, t.shape[1] - 1)});
        viewFed = true;
      }
    } else {
      for (const TensorType &t : s.operands) {
        bool isView = false;
        operands.push_back(operandOfType(t, false, isView));
      }
    }
    auto v = b_.tryCreate(s.op, operands, s.attrs);
    if (!v)
      return false; // the combination does not type-check: skip it
    pool_.push_back(*v);
    g_.ops.insert(s.op);
    g_.viewsFeedingElementwise += viewFed ? 1 : 0;
    return true;
  }

  Rng rng_;
  Generated &g_;
  Builder b_;
  std::vector<ValueId> pool_;
  std::vector<TensorType> shapes_ = {test::f32({2, 3}), test::f32({3, 4}), test::f32({4}), test::f32({2, 3}),
                                     test::f32({5, 2}), test::f32({3, 4})};
};

/// True when every float value the interpreter computed is finite: graphs that overflow or take
/// the log of a negative number test IEEE corner cases, not the lowering, and are skipped.
bool allFinite(const EvalResult &r) {
  for (const Tensor &t : r.values)
    for (double v : t.data)
      if (!std::isfinite(v))
        return false;
  return true;
}

} // namespace

TEST_CASE("random graphs of 2-6 ops from the op table agree with the interpreter", "[e2e][differential]") {
  const uint64_t kGraphs = 300, kPerModule = 100;
  size_t compared = 0, skipped = 0, views = 0, nodes = 0, illConditioned = 0, resultsCompared = 0;
  std::set<OpKind> covered;
  double worst = 0;
  std::string worstWhere;
  for (uint64_t first = 0; first < kGraphs; first += kPerModule) {
    Module module;
    std::vector<Generated> graphs(kPerModule);
    std::vector<EvalResult> expected, exact;
    std::vector<size_t> kept;
    for (uint64_t i = 0; i < kPerModule; ++i) {
      Generated &g = graphs[i];
      GraphGenerator(first + i, g).generate();
      if (g.fn.results().empty() || g.ops.size() < 1) {
        ++skipped;
        continue;
      }
      Result<void> wellFormed = verify(g.fn);
      INFO(g.fn.name() << ": " << (wellFormed ? "" : wellFormed.message()));
      REQUIRE(wellFormed);
      InterpreterOptions opts;
      opts.keepAllValues = true;
      auto ref = evaluate(g.fn, g.args, opts);
      if (!ref)
        FAIL(g.fn.name() << ": interpreter: " << ref.message());
      if (!allFinite(*ref)) {
        ++skipped;
        continue;
      }
      expected.push_back(std::move(*ref));
      // The same graph evaluated in f64 throughout: how much f32 rounding alone moves each result.
      InterpreterOptions wide;
      wide.promoteF32ToF64 = true;
      auto ref64 = evaluate(g.fn, g.args, wide);
      REQUIRE(ref64.ok());
      exact.push_back(std::move(*ref64));
      kept.push_back(i);
      module.functions().push_back(g.fn);
    }
    auto exe = Executable::compile(module);
    if (!exe)
      FAIL("compile: " << exe.message());
    for (size_t k = 0; k < kept.size(); ++k) {
      Generated &g = graphs[kept[k]];
      CompiledFunction *cf = (*exe)->function(g.fn.name());
      REQUIRE(cf);
      EvalResult got = runCompiled(g.fn, *cf, g.args);
      for (const auto &[name, want] : expected[k].results) {
        INFO(g.fn.name() << " result " << name << "\n" << printFunction(g.fn));
        const Tensor &have = got.results.at(name);
        // A result that f32 rounding alone changes by more than 1e-3 is rounding noise (e.g.
        // logsumexp(log_softmax(x)), which is 0 up to rounding, fed to rsqrt): any two correct
        // f32 implementations may disagree on it without bound. It is counted, not compared.
        if (isFloat(want.type.dtype) && relativeError(exact[k].results.at(name), want) > 1e-3) {
          ++illConditioned;
          continue;
        }
        ++resultsCompared;
        if (isFloat(want.type.dtype)) {
          double err = relativeError(want, have);
          if (err > worst) {
            worst = err;
            worstWhere = g.fn.name() + " " + name;
          }
          CHECK(err <= 1e-4);
        } else {
          CHECK(identical(want, have));
        }
      }
      ++compared;
      covered.insert(g.ops.begin(), g.ops.end());
      views += g.viewsFeedingElementwise;
      nodes += g.fn.nodes().size();
    }
  }
  WARN(fmt::format("{} random graphs compared ({} nodes, {} with views feeding elementwise ops), {} skipped; "
                   "{} results compared, {} ill-conditioned; {} of {} ops covered; largest relative difference "
                   "{:.2e} ({})",
                   compared, nodes, views, skipped, resultsCompared, illConditioned, covered.size(),
                   test::opSamples().size(), worst, worstWhere));
  CHECK(illConditioned * 20 <= resultsCompared);
  // The generator must really exercise the table, not degenerate into trivial graphs.
  CHECK(compared >= kGraphs * 2 / 3);
  CHECK(views >= 50);
  std::vector<std::string> missing;
  for (const test::OpSample &s : test::opSamples())
    if (!covered.count(s.op))
      missing.push_back(std::string(mnemonic(s.op)));
  INFO("ops never drawn in a compared graph: " << fmt::format("{}", fmt::join(missing, ", ")));
  CHECK(missing.size() <= 3);
}
