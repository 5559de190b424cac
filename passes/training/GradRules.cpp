//===- GradRules.cpp - The one table of derivative rules, one entry per IR op ---------------===//
//
// makeRules() below holds one row per op of ir/Ops.def, each with its maths as a one-line
// comment; a short rule is written in its row, a longer one is a function just above the table.
// The helpers at the top are the shared pieces (broadcasting an adjoint back over reduced axes,
// summing it over broadcast ones, 0/1 indicators). applyVjp and applyJvp at the end turn an
// entry of any kind into the reverse and forward products (see GradRules.h).
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/GradRules.h"

#include "ir/Activations.h"

#include <algorithm>
#include <numeric>

namespace nnc {

namespace {

using V = std::vector<int64_t>;
using K = OpKind;

// --- shared pieces ---------------------------------------------------------------------------

ValueId operand(const Node &n, size_t i) { return n.operands[i]; }
V shapeOf(Builder &b, ValueId v) { return b.type(v).shape; }
bool contains(const V &axes, int64_t a) { return std::find(axes.begin(), axes.end(), a) != axes.end(); }

/// 1 where `a <predicate> c` holds, else 0, in the float type of `a`.
ValueId indicator(Builder &b, CmpPredicate p, ValueId a, ValueId c) {
  return b.cast(b.cmp(p, a, c), b.type(a).dtype);
}
ValueId zerosLike(Builder &b, ValueId v) { return b.constantLike(v, 0.0); }

/// Broadcasts `g`, the result of reducing a `shape`-shaped tensor over `axes` (with or without
/// kept dimensions), back to `shape`: the transpose of reduce_sum.
ValueId expandReduced(Builder &b, ValueId g, const V &shape, const V &axes, bool keepdims) {
  if (shapeOf(b, g) == shape)
    return g;
  V dims;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i)
    if (keepdims || !contains(axes, i))
      dims.push_back(i);
  return b.broadcast(g, shape, dims);
}

/// The transpose of `broadcast(x, shape, dims)`: sums `g` over the result dimensions that are
/// not operand dimensions and over the operand's size-1 dimensions that were stretched, then
/// reshapes to the operand's shape.
ValueId sumToShape(Builder &b, ValueId g, const V &operandShape, const V &dims) {
  const V &out = shapeOf(b, g);
  V axes;
  for (int64_t r = 0; r < static_cast<int64_t>(out.size()); ++r) {
    auto it = std::find(dims.begin(), dims.end(), r);
    if (it == dims.end() || (operandShape[it - dims.begin()] == 1 && out[r] != 1))
      axes.push_back(r);
  }
  ValueId s = axes.empty() ? g : b.reduceSum(g, axes, /*keepdims=*/true);
  return shapeOf(b, s) == operandShape ? s : b.reshape(s, operandShape);
}

/// The reduced axes and keepdims flag of a reduction-like node.
V axesAttr(const Node &n) { return n.attrs.getInts("axes"); }
V lastAxis(Builder &b, const Node &n) { return {b.type(operand(n, 0)).rank() - 1}; }

/// y * (v - sum(v * y, axis)): the Jacobian of y = softmax(x) is diag(y) - y y^T, which is
/// symmetric, so this one product is both the VJP (v = g) and the JVP (v = t).
ValueId softmaxProduct(Builder &b, ValueId y, ValueId v, int64_t axis) {
  ValueId s = b.reduceSum(b.mul(v, y), {axis}, /*keepdims=*/true);
  return b.mul(y, b.sub(v, expandReduced(b, s, shapeOf(b, y), {axis}, true)));
}

/// The one-hot rows of `labels` in the class dimension of `scores` [..., C].
ValueId oneHotLike(Builder &b, ValueId labels, ValueId scores) {
  return b.oneHot(labels, shapeOf(b, scores).back(), b.type(scores).dtype);
}

/// The identity kernel that copies each input channel c to output channel c*K + k, k = the
/// window offset ky*kw + kx: conv2d with it lays out every window of a 2-D pooling op along the
/// channels, e[o, c, ky, kx] = [o == c*K + ky*kw + kx].
ValueId windowKernel(Builder &b, int64_t channels, const V &kernel, DType dtype) {
  int64_t K = kernel[0] * kernel[1];
  TensorType t(DType::I32, {channels * K, channels, kernel[0], kernel[1]});
  auto i32 = [&](int64_t v) { return b.constant(static_cast<double>(v), t); };
  ValueId target = b.add(b.add(b.mul(b.iota(t, 1), i32(K)), b.mul(b.iota(t, 2), i32(kernel[1]))), b.iota(t, 3));
  return b.cast(b.cmp(CmpPredicate::EQ, b.iota(t, 0), target), dtype);
}

/// The windows of a 2-D pooling op over `x` [N,C,H,W] as [N, C, K, OH, OW].
ValueId windows(Builder &b, ValueId x, ValueId kernel, const Node &pool) {
  ValueId p = b.conv2d(x, kernel, pool.attrs.getInts("stride"), pool.attrs.getInts("pad"));
  const V &s = shapeOf(b, p), &xs = shapeOf(b, x);
  return b.reshape(p, {s[0], xs[1], s[1] / xs[1], s[2], s[3]});
}

// --- the rules -------------------------------------------------------------------------------

/// Linear ops: the transpose.
Cotangents transposeNeg(Builder &b, const Node &, ValueId g, const std::vector<bool> &) {
  return {b.neg(g)}; // d/dx -x = -1
}
Cotangents transposeCast(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  return {b.cast(g, b.type(operand(n, 0)).dtype)}; // d/dx cast(x) = 1 (float to float)
}
Cotangents transposeAdd(Builder &, const Node &, ValueId g, const std::vector<bool> &) {
  return {g, g}; // d/da a+b = 1, d/db a+b = 1
}
Cotangents transposeSub(Builder &b, const Node &, ValueId g, const std::vector<bool> &w) {
  return {g, w[1] ? b.neg(g) : ValueId{}}; // d/da a-b = 1, d/db a-b = -1
}
Cotangents transposeSelect(Builder &b, const Node &n, ValueId g, const std::vector<bool> &w) {
  ValueId m = operand(n, 0), z = zerosLike(b, g); // d/da m?a:b = m, d/db m?a:b = !m
  return {{}, w[1] ? b.select(m, g, z) : ValueId{}, w[2] ? b.select(m, z, g) : ValueId{}};
}
Cotangents transposeBroadcast(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // broadcast^T = sum over the created and stretched dimensions
  return {sumToShape(b, g, shapeOf(b, operand(n, 0)), n.attrs.getInts("dims"))};
}
Cotangents transposeReshape(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  return {b.reshape(g, shapeOf(b, operand(n, 0)))}; // reshape^T = reshape back
}
Cotangents transposeTranspose(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  V perm = n.attrs.getInts("perm"), inverse(perm.size()); // transpose^T = inverse permutation
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = static_cast<int64_t>(i);
  return {b.transpose(g, inverse)};
}
Cotangents transposeSlice(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // slice^T = zero padding around the box
  V starts = n.attrs.getInts("starts"), sizes = n.attrs.getInts("sizes"), high;
  const V &in = shapeOf(b, operand(n, 0));
  for (size_t i = 0; i < in.size(); ++i)
    high.push_back(in[i] - starts[i] - sizes[i]);
  return {b.pad(g, starts, high)};
}
Cotangents transposePad(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  return {b.slice(g, n.attrs.getInts("low"), shapeOf(b, operand(n, 0)))}; // pad^T = slice
}
Cotangents transposeConcat(Builder &b, const Node &n, ValueId g, const std::vector<bool> &w) {
  int64_t axis = n.attrs.getInt("axis"), offset = 0; // concat^T = a slice per operand
  Cotangents out(n.operands.size());
  for (size_t i = 0; i < n.operands.size(); ++i) {
    const V &s = shapeOf(b, operand(n, i));
    if (w[i]) {
      V starts(s.size(), 0);
      starts[axis] = offset;
      out[i] = b.slice(g, starts, s);
    }
    offset += s[axis];
  }
  return out;
}
Cotangents transposeReduceSum(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // reduce_sum^T = broadcast over the reduced axes
  return {expandReduced(b, g, shapeOf(b, operand(n, 0)), axesAttr(n), n.attrs.getBool("keepdims"))};
}
Cotangents transposeReduceMean(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // reduce_mean^T = broadcast over the reduced axes / count
  const V &in = shapeOf(b, operand(n, 0));
  int64_t count = 1;
  for (int64_t a : axesAttr(n))
    count *= in[a];
  ValueId e = expandReduced(b, g, in, axesAttr(n), n.attrs.getBool("keepdims"));
  return {b.mul(e, b.constantLike(e, 1.0 / static_cast<double>(count)))};
}
Cotangents transposeGather(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // gather^T = scatter_add of the rows into the table
  return {b.scatterAdd(g, operand(n, 1), shapeOf(b, operand(n, 0))[0]), {}};
}
Cotangents transposeScatterAdd(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  return {b.gather(g, operand(n, 1)), {}}; // scatter_add^T = gather
}
Cotangents transposeAvgPool(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // avgpool2d^T = avgpool2d_grad: dy / area spread over each window
  const Attrs &a = n.attrs;
  return {b.avgPool2dGrad(g, a.getInts("kernel"), a.getInts("stride"), a.getInts("pad"), shapeOf(b, operand(n, 0)))};
}

/// Bilinear ops: the transpose in each operand.
Cotangents bilinearMul(Builder &b, const Node &n, ValueId g, const std::vector<bool> &w) {
  // d/da a*b = b, d/db a*b = a
  return {w[0] ? b.mul(g, operand(n, 1)) : ValueId{}, w[1] ? b.mul(g, operand(n, 0)) : ValueId{}};
}
Cotangents bilinearMatMul(Builder &b, const Node &n, ValueId g, const std::vector<bool> &w) {
  // C = op(A) op(B): d op(A) = dC op(B)^T, d op(B) = op(A)^T dC, transposed back where op = ^T
  ValueId A = operand(n, 0), B = operand(n, 1);
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  ValueId dA, dB;
  if (w[0])
    dA = ta ? b.matmul(B, g, tb, true) : b.matmul(g, B, false, !tb);
  if (w[1])
    dB = tb ? b.matmul(g, A, true, ta) : b.matmul(A, g, !ta, false);
  return {dA, dB};
}
Cotangents bilinearConv(Builder &b, const Node &n, ValueId g, const std::vector<bool> &w) {
  // d/dx conv2d(x, w) = conv2d_grad_input, d/dw conv2d(x, w) = conv2d_grad_weight
  ValueId x = operand(n, 0), k = operand(n, 1);
  V stride = n.attrs.getInts("stride"), pad = n.attrs.getInts("pad");
  const V &ks = shapeOf(b, k);
  return {w[0] ? b.conv2dGradInput(g, k, stride, pad, shapeOf(b, x)) : ValueId{},
          w[1] ? b.conv2dGradWeight(x, g, stride, pad, {ks[2], ks[3]}) : ValueId{}};
}

/// Elementwise ops: the partial derivative of the result in operand i.
/// The derivative of an activation of ir/Activations.h, at its output.
ValueId activationPartial(Builder &b, const Node &n, size_t) { return activationDerivative(b, n.op, n.result); }

ValueId partialDiv(Builder &b, const Node &n, size_t i) {
  ValueId d = operand(n, 1); // d/da a/b = 1/b, d/db a/b = -a/b^2 = -(a/b)/b
  return i == 0 ? b.div(b.constantLike(d, 1), d) : b.neg(b.div(n.result, d));
}
ValueId partialMax(Builder &b, const Node &n, size_t i) {
  // d/da max(a,b) = [a >= b], d/db max(a,b) = [a < b]: ties go to a, as in the interpreter
  return indicator(b, i == 0 ? CmpPredicate::GE : CmpPredicate::LT, operand(n, 0), operand(n, 1));
}
ValueId partialMin(Builder &b, const Node &n, size_t i) {
  // d/da min(a,b) = [a <= b], d/db min(a,b) = [a > b]
  return indicator(b, i == 0 ? CmpPredicate::LE : CmpPredicate::GT, operand(n, 0), operand(n, 1));
}
ValueId partialBce(Builder &b, const Node &n, size_t i) {
  // d/dx bce(x,t) = sigmoid(x) - t (stable: no log of a probability), d/dt bce(x,t) = -x
  ValueId x = operand(n, 0), t = operand(n, 1);
  return i == 0 ? b.sub(b.sigmoid(x), t) : b.neg(x);
}

/// Reductions: the weights G within each reduced slice.
ReductionForm reduceMaxForm(Builder &b, const Node &n) {
  // d/dx max(x) = [x == max] / #maxima (ties share the gradient)
  ValueId x = operand(n, 0);
  V axes = axesAttr(n);
  bool keep = n.attrs.getBool("keepdims");
  ValueId mask = indicator(b, CmpPredicate::EQ, x, expandReduced(b, n.result, shapeOf(b, x), axes, keep));
  ValueId count = b.reduceSum(mask, axes, keep);
  return {b.div(mask, expandReduced(b, count, shapeOf(b, x), axes, keep)), axes, keep};
}
ReductionForm logSumExpForm(Builder &b, const Node &n) {
  // d/dx logsumexp(x) = softmax(x)
  int64_t axis = n.attrs.getInt("axis");
  return {b.softmax(operand(n, 0), axis), {axis}, n.attrs.getBool("keepdims")};
}
ReductionForm softmaxCrossEntropyForm(Builder &b, const Node &n) {
  // d/ds (logsumexp(s) - s[y]) = softmax(s) - one_hot(y): stable, no log of a probability
  ValueId s = operand(n, 0);
  return {b.sub(b.softmax(s, b.type(s).rank() - 1), oneHotLike(b, operand(n, 1), s)), lastAxis(b, n), false};
}
ReductionForm hingeForm(Builder &b, const Node &n) {
  // d/ds_j sum_{k!=y} max(0, 1 + s_k - s_y) = [j != y][1 + s_j - s_y > 0] - [j == y] #violations
  ValueId s = operand(n, 0);
  V last = lastAxis(b, n);
  const V &shape = shapeOf(b, s);
  ValueId hot = oneHotLike(b, operand(n, 1), s);
  ValueId sy = expandReduced(b, b.reduceSum(b.mul(s, hot), last), shape, last, false);
  ValueId margin = b.sub(b.add(b.constantLike(s, 1), s), sy);
  ValueId active = b.mul(indicator(b, CmpPredicate::GT, margin, zerosLike(b, s)), b.sub(b.constantLike(s, 1), hot));
  ValueId violations = expandReduced(b, b.reduceSum(active, last), shape, last, false);
  return {b.sub(active, b.mul(hot, violations)), last, false};
}

/// Custom rules: both products.
Cotangents vjpSoftmax(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  return {softmaxProduct(b, n.result, g, n.attrs.getInt("axis"))}; // dx = y * (g - sum(g * y))
}
ValueId jvpSoftmax(Builder &b, const Node &n, const std::vector<ValueId> &t) {
  return softmaxProduct(b, n.result, t[0], n.attrs.getInt("axis")); // dy = y * (t - sum(t * y))
}
Cotangents vjpLogSoftmax(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // d/dx (x - logsumexp x): dx = g - softmax(x) * sum(g)
  int64_t axis = n.attrs.getInt("axis");
  ValueId p = b.exp(n.result), s = b.reduceSum(g, {axis}, true);
  return {b.sub(g, b.mul(p, expandReduced(b, s, shapeOf(b, g), {axis}, true)))};
}
ValueId jvpLogSoftmax(Builder &b, const Node &n, const std::vector<ValueId> &t) {
  // dy = t - sum(softmax(x) * t)
  int64_t axis = n.attrs.getInt("axis");
  ValueId p = b.exp(n.result), s = b.reduceSum(b.mul(p, t[0]), {axis}, true);
  return b.sub(t[0], expandReduced(b, s, shapeOf(b, t[0]), {axis}, true));
}
Cotangents vjpMaxPool(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // d/dx maxpool(x): dy routed to the (first) maximum of each window
  const Attrs &a = n.attrs;
  return {b.maxPool2dGrad(operand(n, 0), g, a.getInts("kernel"), a.getInts("stride"), a.getInts("pad"))};
}
ValueId jvpMaxPool(Builder &b, const Node &n, const std::vector<ValueId> &t) {
  // dy = t at the maximum of each window (shared among ties), found by laying the windows of x,
  // t and of the valid-position mask out along channels with conv2d
  ValueId x = operand(n, 0);
  const V &xs = shapeOf(b, x);
  ValueId e = windowKernel(b, xs[1], n.attrs.getInts("kernel"), b.type(x).dtype);
  ValueId wx = windows(b, x, e, n), wt = windows(b, t[0], e, n), valid = windows(b, b.constantLike(x, 1), e, n);
  V ws = shapeOf(b, wx);
  ValueId yb = b.broadcast(n.result, ws, {0, 1, 3, 4});
  ValueId hit = b.mul(indicator(b, CmpPredicate::EQ, wx, yb), indicator(b, CmpPredicate::GT, valid, zerosLike(b, valid)));
  return b.div(b.reduceSum(b.mul(hit, wt), {2}), b.reduceSum(hit, {2}));
}

/// Batch normalization. `v` [C] broadcast along axis 1 of x's shape; row r of [2, C] moments.
ValueId perChannel(Builder &b, ValueId v, ValueId x) { return b.broadcast(v, shapeOf(b, x), {1}); }
ValueId momentRow(Builder &b, ValueId m, int64_t r) {
  int64_t C = shapeOf(b, m)[1];
  return b.reshape(b.slice(m, {r, 0}, {1, C}), {C});
}
ValueId momentRows(Builder &b, ValueId mean, ValueId var) {
  int64_t C = shapeOf(b, mean)[0];
  return b.concat({b.reshape(mean, {1, C}), b.reshape(var, {1, C})}, 0);
}
double perChannelCount(Builder &b, ValueId x) {
  return static_cast<double>(b.type(x).numElements()) / static_cast<double>(shapeOf(b, x)[1]);
}
V allButChannels(Builder &b, ValueId x) {
  V axes{0};
  for (int64_t i = 2; i < b.type(x).rank(); ++i)
    axes.push_back(i);
  return axes;
}
Cotangents vjpBatchMoments(Builder &b, const Node &n, ValueId g, const std::vector<bool> &) {
  // mean = Σx / n, var = Σ(x − mean)² / n: dx = g_mean / n + g_var · 2(x − mean) / n (the
  // mean's term in the variance vanishes, Σ(x − mean) = 0)
  ValueId x = operand(n, 0);
  double count = perChannelCount(b, x);
  ValueId centered = b.sub(x, perChannel(b, momentRow(b, n.result, 0), x));
  ValueId g0 = momentRow(b, g, 0), g1 = momentRow(b, g, 1);
  ValueId gm = b.mul(g0, b.constantLike(g0, 1 / count)), gv = b.mul(g1, b.constantLike(g1, 2 / count));
  return {b.add(perChannel(b, gm, x), b.mul(perChannel(b, gv, x), centered))};
}
ValueId jvpBatchMoments(Builder &b, const Node &n, const std::vector<ValueId> &t) {
  // d mean = mean(t), d var = mean(2 (x − mean) t)
  ValueId x = operand(n, 0);
  V axes = allButChannels(b, x);
  ValueId centered = b.sub(x, perChannel(b, momentRow(b, n.result, 0), x));
  ValueId dv = b.reduceMean(b.mul(b.mul(centered, b.constantLike(centered, 2)), t[0]), axes);
  return momentRows(b, b.reduceMean(t[0], axes), dv);
}
/// 1 / sqrt(var + eps) of batch_norm's moments, [C].
ValueId batchNormInverse(Builder &b, const Node &n) {
  ValueId var = momentRow(b, operand(n, 1), 1);
  return b.rsqrt(b.add(var, b.constantLike(var, n.attrs.getFloat("eps"))));
}
Cotangents vjpBatchNorm(Builder &b, const Node &n, ValueId g, const std::vector<bool> &wanted) {
  // y = (x − mean) · inv · gamma + beta, inv = (var + eps)^-1/2, per channel. With the sums
  // S = Σ g and Sx = Σ g (x − mean) over each channel (batch_norm_sums, one pass):
  // dx = g · gamma · inv, d mean = −gamma · inv · S, d var = −gamma · inv³ · Sx / 2,
  // d gamma = inv · Sx, d beta = S.
  ValueId x = operand(n, 0), gamma = operand(n, 2);
  ValueId inv = batchNormInverse(b, n);
  Cotangents out(4);
  if (wanted[0])
    out[0] = b.mul(g, perChannel(b, b.mul(gamma, inv), x));
  if (wanted[1] || wanted[2] || wanted[3]) {
    ValueId sums = b.batchNormSums(g, x, operand(n, 1));
    ValueId S = momentRow(b, sums, 0), Sx = momentRow(b, sums, 1);
    if (wanted[1]) {
      ValueId gi = b.mul(gamma, inv);
      ValueId dm = b.neg(b.mul(gi, S));
      ValueId dv = b.mul(b.mul(gi, b.mul(inv, inv)), b.mul(Sx, b.constantLike(Sx, -0.5)));
      out[1] = momentRows(b, dm, dv);
    }
    if (wanted[2])
      out[2] = b.mul(inv, Sx);
    if (wanted[3])
      out[3] = S;
  }
  return out;
}
ValueId jvpBatchNorm(Builder &b, const Node &n, const std::vector<ValueId> &t) {
  // dy = (tx − t_mean) · inv · gamma − (x − mean) · inv³ · t_var · gamma / 2
  //      + (x − mean) · inv · t_gamma + t_beta
  ValueId x = operand(n, 0), gamma = operand(n, 2);
  ValueId inv = batchNormInverse(b, n);
  ValueId centered = b.sub(x, perChannel(b, momentRow(b, operand(n, 1), 0), x));
  ValueId dy;
  auto addTerm = [&](ValueId term) { dy = dy.valid() ? b.add(dy, term) : term; };
  if (t[0].valid())
    addTerm(b.mul(t[0], perChannel(b, b.mul(gamma, inv), x)));
  if (t[1].valid()) {
    ValueId tm = momentRow(b, t[1], 0), tv = momentRow(b, t[1], 1);
    addTerm(b.neg(perChannel(b, b.mul(tm, b.mul(gamma, inv)), x)));
    ValueId k = b.mul(b.mul(gamma, b.mul(inv, b.mul(inv, inv))), b.mul(tv, b.constantLike(tv, -0.5)));
    addTerm(b.mul(centered, perChannel(b, k, x)));
  }
  if (t[2].valid())
    addTerm(b.mul(centered, perChannel(b, b.mul(inv, t[2]), x)));
  if (t[3].valid())
    addTerm(perChannel(b, t[3], x));
  return dy;
}

/// The table: one entry per op of Ops.def, in its order.
std::vector<GradRule> makeRules() {
  auto entry = [](K op, RuleKind kind) {
    GradRule r{};
    r.op = op;
    r.kind = kind;
    return r;
  };
  auto linear = [&](K op, VjpFn t) { GradRule r = entry(op, RuleKind::Linear); r.vjp = t; return r; };
  auto bilinear = [&](K op, VjpFn t) { GradRule r = entry(op, RuleKind::Bilinear); r.vjp = t; return r; };
  auto elementwise = [&](K op, PartialFn p) { GradRule r = entry(op, RuleKind::Elementwise); r.partial = p; return r; };
  auto reduction = [&](K op, ReductionFn f) { GradRule r = entry(op, RuleKind::Reduction); r.reduction = f; return r; };
  auto custom = [&](K op, VjpFn v, JvpFn j) {
    GradRule r = entry(op, RuleKind::Custom);
    r.vjp = v;
    r.jvp = j;
    return r;
  };
  auto none = [&](K op, std::string_view why) { GradRule r = entry(op, RuleKind::NotDifferentiable); r.why = why; return r; };
  return {
      linear(K::Neg, transposeNeg),
      elementwise(K::Exp, [](Builder &, const Node &n, size_t) { return n.result; }), // d/dx e^x = e^x
      elementwise(K::Log, [](Builder &b, const Node &n, size_t) { // d/dx log x = 1/x
        return b.div(b.constantLike(operand(n, 0), 1), operand(n, 0));
      }),
      elementwise(K::Log1p, [](Builder &b, const Node &n, size_t) { // d/dx log(1+x) = 1/(1+x)
        ValueId x = operand(n, 0);
        return b.div(b.constantLike(x, 1), b.add(b.constantLike(x, 1), x));
      }),
      elementwise(K::Sqrt, [](Builder &b, const Node &n, size_t) { // d/dx sqrt x = 1/(2 sqrt x)
        return b.div(b.constantLike(n.result, 0.5), n.result);
      }),
      elementwise(K::Rsqrt, [](Builder &b, const Node &n, size_t) { // d/dx x^-1/2 = -x^-1/2 / (2x)
        return b.div(b.mul(b.constantLike(n.result, -0.5), n.result), operand(n, 0));
      }),
      elementwise(K::Abs, [](Builder &b, const Node &n, size_t) { // d/dx |x| = sign(x)
        return b.unary(K::Sign, operand(n, 0));
      }),
      none(K::Sign, "piecewise constant: its derivative is 0 wherever it exists"),
      elementwise(K::Square, [](Builder &b, const Node &n, size_t) { // d/dx x^2 = 2x
        return b.mul(b.constantLike(operand(n, 0), 2), operand(n, 0));
      }),
      // Activations a GEMM epilogue can apply take their derivative, written in terms of the
      // output y, from ir/Activations.h, where code generation recognises it: sigmoid y(1-y),
      // tanh 1-y^2, relu [y > 0] (reading y leaves x with one use, so a bias-add fuses).
      elementwise(K::Sigmoid, activationPartial),
      elementwise(K::Tanh, activationPartial),
      elementwise(K::Relu, activationPartial),
      elementwise(K::LeakyRelu, [](Builder &b, const Node &n, size_t) { // d/dx = 1 if x > 0 else alpha
        ValueId x = operand(n, 0);
        return b.select(b.cmp(CmpPredicate::GT, x, zerosLike(b, x)), b.constantLike(x, 1),
                        b.constantLike(x, n.attrs.getFloat("alpha")));
      }),
      elementwise(K::Softplus, [](Builder &b, const Node &n, size_t) { // d/dx log(1+e^x) = sigmoid(x)
        return b.sigmoid(operand(n, 0));
      }),
      elementwise(K::PowC, [](Builder &b, const Node &n, size_t) { // d/dx x^e = e x^(e-1)
        ValueId x = operand(n, 0);
        double e = n.attrs.getFloat("exponent");
        return b.mul(b.constantLike(x, e), b.powc(x, e - 1));
      }),
      linear(K::Cast, transposeCast),
      linear(K::Add, transposeAdd),
      linear(K::Sub, transposeSub),
      bilinear(K::Mul, bilinearMul),
      elementwise(K::Div, partialDiv),
      elementwise(K::Max, partialMax),
      elementwise(K::Min, partialMin),
      none(K::Cmp, "its result is an i1 mask"),
      linear(K::Select, transposeSelect),
      none(K::Constant, "it has no operands"),
      none(K::Iota, "it has no operands"),
      linear(K::Broadcast, transposeBroadcast),
      linear(K::Reshape, transposeReshape),
      linear(K::Transpose, transposeTranspose),
      linear(K::Slice, transposeSlice),
      linear(K::Pad, transposePad),
      linear(K::Concat, transposeConcat),
      linear(K::ReduceSum, transposeReduceSum),
      linear(K::ReduceMean, transposeReduceMean),
      reduction(K::ReduceMax, reduceMaxForm),
      bilinear(K::MatMul, bilinearMatMul),
      custom(K::Softmax, vjpSoftmax, jvpSoftmax),
      custom(K::LogSoftmax, vjpLogSoftmax, jvpLogSoftmax),
      reduction(K::LogSumExp, logSumExpForm),
      none(K::OneHot, "its operand is integer labels"),
      linear(K::Gather, transposeGather),
      linear(K::ScatterAdd, transposeScatterAdd),
      none(K::RandomUniform, "random numbers are constants of the step"),
      none(K::RandomBernoulli, "random numbers are constants of the step"),
      bilinear(K::Conv2D, bilinearConv),
      none(K::Conv2DGradInput, "an adjoint op: second derivatives are not supported"),
      none(K::Conv2DGradWeight, "an adjoint op: second derivatives are not supported"),
      custom(K::MaxPool2D, vjpMaxPool, jvpMaxPool),
      none(K::MaxPool2DGrad, "an adjoint op: second derivatives are not supported"),
      linear(K::AvgPool2D, transposeAvgPool),
      none(K::AvgPool2DGrad, "an adjoint op: second derivatives are not supported"),
      custom(K::BatchMoments, vjpBatchMoments, jvpBatchMoments),
      custom(K::BatchNorm, vjpBatchNorm, jvpBatchNorm),
      none(K::BatchNormSums, "an adjoint op: second derivatives are not supported"),
      reduction(K::SoftmaxCrossEntropy, softmaxCrossEntropyForm),
      elementwise(K::BceWithLogits, partialBce),
      reduction(K::MulticlassHinge, hingeForm),
  };
}

/// The op of `node`, with its attributes, applied to other operands.
ValueId reapply(Builder &b, const Node &node, const std::vector<ValueId> &operands) {
  return b.create(node.op, operands, node.attrs);
}

} // namespace

// --- the table -------------------------------------------------------------------------------

GradRuleTable::GradRuleTable(const std::vector<GradRule> &rules) : byOp_(kNumOpKinds) {
  for (const GradRule &r : rules)
    set(r);
}
const GradRule *GradRuleTable::find(OpKind op) const {
  const auto &r = byOp_[static_cast<size_t>(op)];
  return r ? &*r : nullptr;
}
void GradRuleTable::set(const GradRule &rule) { byOp_[static_cast<size_t>(rule.op)] = rule; }
void GradRuleTable::erase(OpKind op) { byOp_[static_cast<size_t>(op)].reset(); }

const GradRuleTable &defaultGradRules() {
  static const GradRuleTable table(makeRules());
  return table;
}

// --- the products derived from an entry --------------------------------------------------------

Cotangents applyVjp(const GradRule &rule, Builder &b, const Node &node, ValueId g,
                    const std::vector<bool> &wanted) {
  Cotangents out(node.operands.size());
  switch (rule.kind) {
  case RuleKind::Linear:
  case RuleKind::Bilinear:
  case RuleKind::Custom:
    out = rule.vjp(b, node, g, wanted);
    break;
  case RuleKind::Elementwise: // dx_i = g * df/dx_i
    for (size_t i = 0; i < out.size(); ++i)
      if (wanted[i])
        if (ValueId p = rule.partial(b, node, i); p.valid())
          out[i] = b.mul(g, p);
    break;
  case RuleKind::Reduction: { // dx = broadcast(g) * G
    ReductionForm f = rule.reduction(b, node);
    out[0] = b.mul(expandReduced(b, g, shapeOf(b, operand(node, 0)), f.axes, f.keepdims), f.weights);
    break;
  }
  case RuleKind::NotDifferentiable:
    break;
  }
  out.resize(node.operands.size());
  for (size_t i = 0; i < out.size(); ++i)
    if (!wanted[i])
      out[i] = {};
  return out;
}

ValueId applyJvp(const GradRule &rule, Builder &b, const Node &node, const std::vector<ValueId> &tangents) {
  if (std::none_of(tangents.begin(), tangents.end(), [](ValueId t) { return t.valid(); }))
    return {};
  auto sum = [&](ValueId acc, ValueId term) { return acc.valid() ? b.add(acc, term) : term; };
  switch (rule.kind) {
  case RuleKind::Linear: { // dy = L(t): the op itself on the tangents, zeros for constant floats
    std::vector<ValueId> ops = node.operands;
    for (size_t i = 0; i < ops.size(); ++i)
      if (tangents[i].valid())
        ops[i] = tangents[i];
      else if (isFloat(b.type(ops[i]).dtype))
        ops[i] = zerosLike(b, ops[i]);
    return reapply(b, node, ops);
  }
  case RuleKind::Bilinear: { // dy = B(ta, b) + B(a, tb)
    ValueId acc;
    for (size_t i = 0; i < tangents.size(); ++i)
      if (tangents[i].valid()) {
        std::vector<ValueId> ops = node.operands;
        ops[i] = tangents[i];
        acc = sum(acc, reapply(b, node, ops));
      }
    return acc;
  }
  case RuleKind::Elementwise: { // dy = sum_i df/dx_i * t_i
    ValueId acc;
    for (size_t i = 0; i < tangents.size(); ++i)
      if (tangents[i].valid())
        if (ValueId p = rule.partial(b, node, i); p.valid())
          acc = sum(acc, b.mul(p, tangents[i]));
    return acc;
  }
  case RuleKind::Reduction: { // dy = reduce_sum(G * t)
    if (!tangents[0].valid())
      return {};
    ReductionForm f = rule.reduction(b, node);
    return b.reduceSum(b.mul(f.weights, tangents[0]), f.axes, f.keepdims);
  }
  case RuleKind::Custom:
    return rule.jvp(b, node, tangents);
  case RuleKind::NotDifferentiable:
    return {};
  }
  return {};
}

} // namespace nnc
