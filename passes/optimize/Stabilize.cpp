//===- Stabilize.cpp - Numerically stable forms of log expressions --------------------------===//
//
// Rewrites a logarithm of an expression that can round to 0 or 1 into an op that computes the
// logarithm directly. It runs on the forward graphs before the backward graph is derived (so
// the gradient is that of the stable form: pipeline/Pipeline.cpp), and again with the other
// graph passes, before fusion, which would otherwise fuse the unstable form.
// Each rule is exact in real arithmetic and more accurate in floating point.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/optimize/GraphPasses.h"
#include "passes/optimize/Rewrite.h"

namespace nnc {

using namespace rewrite;
using K = OpKind;

namespace {

const std::vector<Rule> &stabilizeRules() {
  static const std::vector<Rule> rules = {
      // log(softmax(x, a)) -> log_softmax(x, a)
      //   (softmax underflows to 0 for logits far below the maximum; log_softmax = x - lse(x))
      rule("log-softmax", op(K::Log, op(K::Softmax, X).as(Inner)), [](Rewriter &rw, const Match &m) {
        return rw.create(K::LogSoftmax, {m[X]}, {{"axis", m.node(Inner).attrs.getInt("axis")}});
      }),
      // log(sigmoid(x)) -> -softplus(-x)
      //   (log 1/(1 + e^-x) = -log(1 + e^-x); sigmoid underflows to 0 for x << 0)
      rule("log-sigmoid", op(K::Log, op(K::Sigmoid, X)), [](Rewriter &rw, const Match &m) {
        return rw.create(K::Neg, {rw.create(K::Softplus, {rw.create(K::Neg, {m[X]})})});
      }),
      // log(1 - sigmoid(x)) -> -softplus(x)
      //   (1 - sigmoid x = sigmoid(-x) rounds to 0 for x >> 0; the second half of a
      //   hand-written binary cross-entropy). The 1 is a constant or a broadcast scalar one.
      rule("log-one-minus-sigmoid", op(K::Log, op(K::Sub, splat(1.0), op(K::Sigmoid, X))),
           [](Rewriter &rw, const Match &m) { return rw.create(K::Neg, {rw.create(K::Softplus, {m[X]})}); }),
      rule("log-one-minus-sigmoid", op(K::Log, op(K::Sub, op(K::Broadcast, splat(1.0)), op(K::Sigmoid, X))),
           [](Rewriter &rw, const Match &m) { return rw.create(K::Neg, {rw.create(K::Softplus, {m[X]})}); }),
      // log(1 + x) -> log1p(x)   (1 + x rounds to 1 for |x| below half an ulp of 1)
      rule("log1p", op(K::Log, op(K::Add, splat(1.0), X)), [](Rewriter &rw, const Match &m) {
        return rw.create(K::Log1p, {m[X]});
      }),
  };
  return rules;
}

} // namespace

size_t stabilize(Function &f) { return rewriteToFixedPoint(f, stabilizeRules()); }

} // namespace nnc
