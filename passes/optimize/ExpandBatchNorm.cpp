//===- ExpandBatchNorm.cpp - batch_norm as elementwise ops, once its gradient is derived -----===//
//
// batch_norm is an op of its own so that autodiff gives it the one-pass gradient of
// batch_norm_sums. Once the training graph is built its forward value is plain arithmetic per
// element, (x - mean) · scale + beta with scale = gamma / sqrt(var + eps) per channel, and as
// elementwise ops over broadcast views it fuses with the activation that follows (relu, say)
// into one loop: the normalized tensor itself is never stored. The per-channel scale is one
// small kernel over C elements.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/optimize/GraphPasses.h"
#include "passes/optimize/Rewrite.h"

namespace nnc {

using namespace rewrite;
using K = OpKind;

namespace {

const std::vector<Rule> &expandRules() {
  static const std::vector<Rule> rules = {
      // batch_norm(x, m, gamma, beta) -> (x - m[0]) · (gamma · rsqrt(m[1] + eps)) + beta, each
      // per-channel row broadcast along axis 1 (exact up to rounding: one division fewer)
      rule("expand-batch-norm", op(K::BatchNorm, X, Y, C1, C2), [](Rewriter &rw, const Match &m) {
        double eps = m.root->attrs.getFloat("eps");
        const TensorType xt = rw.type(m[X]);
        int64_t C = xt.shape[1];
        DType d = xt.dtype;
        auto row = [&](int64_t r) {
          return rw.create(K::Slice, {m[Y]}, {{"starts", std::vector<int64_t>{r, 0}}, {"sizes", std::vector<int64_t>{1, C}}});
        };
        auto spread = [&](ValueId v) { // [1, C] -> x's shape
          return rw.create(K::Broadcast, {v}, {{"shape", xt.shape}, {"dims", std::vector<int64_t>{0, 1}}});
        };
        TensorType rowType(d, {1, C});
        ValueId gamma = rw.create(K::Reshape, {m[C1]}, {{"shape", std::vector<int64_t>{1, C}}});
        ValueId beta = rw.create(K::Reshape, {m[C2]}, {{"shape", std::vector<int64_t>{1, C}}});
        ValueId inv = rw.create(K::Rsqrt, {rw.create(K::Add, {row(1), rw.constant(eps, rowType)})});
        ValueId scale = rw.create(K::Mul, {gamma, inv});
        ValueId centered = rw.create(K::Sub, {m[X], spread(row(0))});
        return rw.create(K::Add, {rw.create(K::Mul, {centered, spread(scale)}), spread(beta)});
      }),
  };
  return rules;
}

} // namespace

size_t expandBatchNorm(Function &f) { return rewriteToFixedPoint(f, expandRules()); }

} // namespace nnc
