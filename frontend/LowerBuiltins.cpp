//===- LowerBuiltins.cpp - The lowering functions that builtin rows name --------------------===//
//
// A builtin that is one IR op names that op in its row of Builtins.cpp and needs nothing here
// (Lowerer::applyOp binds its arguments). The builtins that expand into more than one op, or
// that check their arguments beyond the op's shape rule, name one of the functions below:
// operations with NumPy broadcasting or computed attributes, reductions, losses, penalties and
// layers. A function reads the op of its row where several rows share it (sum, mean and max;
// l1 and l2; maxpool and avgpool; softmax_cross_entropy and hinge).
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lowerer.h"

#include "ir/Random.h"

#include <cmath>
#include <numeric>

namespace nnc::lowering {

// --- operations ------------------------------------------------------------------------------

Val Lowerer::lowerBroadcasting(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  Val lhs = lowerExpr(*a.get("a"));
  if (lhs.failed())
    return lhs;
  Val rhs = lowerExpr(*a.get("b"));
  if (rhs.failed())
    return rhs;
  return Val{arith(*bi.op, fmt::format("take the {} of", bi.name), lhs, rhs, e.loc), {}};
}

Val Lowerer::lowerTranspose(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  ValueId v = floatArg(a, bi, "x");
  if (!v.valid())
    return Failed{};
  int64_t r = type(v).rank();
  if (r < 2)
    return fail(e.loc, fmt::format("transpose needs a tensor of rank 2 or more, found {}", str(v)));
  std::vector<int64_t> perm(r);
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[r - 1], perm[r - 2]);
  return Val{b_.transpose(v, perm), {}};
}

Val Lowerer::lowerFlatten(const Expr &e, const Builtin &, const BoundArgs &a, const std::string &) {
  ValueId v = tensor(lowerExpr(*a.get("x")));
  if (!v.valid())
    return Failed{};
  const std::vector<int64_t> s = type(v).shape;
  if (s.empty())
    return fail(e.loc, "flatten needs a tensor of rank 1 or more");
  int64_t rest = 1;
  for (size_t i = 1; i < s.size(); ++i)
    rest *= s[i];
  return Val{b_.reshape(v, {s[0], rest}), {}};
}

Val Lowerer::lowerOneHot(const Expr &e, const Builtin &, const BoundArgs &a, const std::string &) {
  ValueId labels = tensor(lowerExpr(*a.get("labels")));
  if (!labels.valid())
    return Failed{};
  if (type(labels).dtype != DType::I32)
    return fail(a.get("labels")->loc, fmt::format("one_hot needs i32 labels, found {}", str(labels)));
  std::optional<int64_t> depth = positiveArg(a, "depth", 1, e.loc);
  if (!depth)
    return Failed{};
  return Val{b_.oneHot(labels, *depth, float_), {}};
}

Val Lowerer::lowerReduction(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  ValueId v = floatArg(a, bi, "x");
  if (!v.valid())
    return Failed{};
  std::vector<int64_t> axes;
  if (a.get("axis")) {
    std::optional<int64_t> axis = axisArg(a, v, e.loc);
    if (!axis)
      return Failed{};
    axes = {*axis};
  } else
    for (int64_t i = 0; i < type(v).rank(); ++i)
      axes.push_back(i);
  if (axes.empty())
    return Val{v, {}};
  return Val{make(e.loc, *bi.op, {v}, {{"axes", axes}, {"keepdims", false}}), {}};
}

// --- losses ----------------------------------------------------------------------------------

/// softmax_cross_entropy (op SoftmaxCrossEntropy) and hinge (op MulticlassHinge) over class
/// scores [..., C]: i32 labels give the row op; softmax_cross_entropy also takes probabilities.
Val Lowerer::lowerClassLoss(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  std::string_view n = bi.name;
  SourceLoc loc = e.loc;
  bool hinge = bi.op == OpKind::MulticlassHinge;
  std::string_view first = bi.params[0].name; // "logits" or "scores"
  ValueId logits = floatArg(a, bi, first);
  if (!logits.valid())
    return Failed{};
  ValueId labels = tensor(lowerExpr(*a.get("labels")));
  if (!labels.valid())
    return Failed{};
  const std::vector<int64_t> ls = type(logits).shape;
  if (ls.empty())
    return fail(loc, fmt::format("'{}' needs class scores of rank 1 or more, found {}", first, str(logits)));
  std::vector<int64_t> rows(ls.begin(), ls.end() - 1);
  int64_t classes = ls.back();
  if (type(labels).dtype == DType::I32) {
    if (type(labels).shape != rows)
      return fail(a.get("labels")->loc,
                  fmt::format("labels {} do not match {} {}: expected i32{}", str(labels), first,
                              str(logits), formatShape(rows)));
    int64_t count = 1;
    for (int64_t r : rows)
      count *= r;
    ValueId l2 = ls.size() == 2 ? logits : b_.reshape(logits, {count, classes});
    ValueId y2 = rows.size() == 1 ? labels : b_.reshape(labels, {count});
    ValueId out;
    if (hinge) {
      // max(0, m + s_j - s_y) = m * max(0, 1 + s_j/m - s_y/m): any margin from the unit one.
      double margin = numArg(a, "margin", 1.0);
      if (margin <= 0)
        return fail(a.get("margin")->loc, "'margin' must be positive");
      if (margin == 1.0) {
        out = make(loc, *bi.op, {l2, y2});
      } else {
        ValueId scaled = b_.div(l2, b_.constantLike(l2, margin));
        ValueId h = make(loc, *bi.op, {scaled, y2});
        if (!h.valid())
          return Failed{};
        out = b_.mul(h, b_.constantLike(h, margin));
      }
    } else {
      out = make(loc, *bi.op, {l2, y2});
    }
    if (!out.valid())
      return Failed{};
    if (!classLogits_.valid() && fn_.isArgument(labels) &&
        fn_.argument(labels).role == ArgRole::Target) {
      classLogits_ = l2;
      classLabels_ = y2;
    }
    return Val{rows.size() == 1 ? out : b_.reshape(out, rows), {}};
  }
  if (hinge)
    return fail(a.get("labels")->loc, fmt::format("{} needs i32 class labels, found {}", n, str(labels)));
  // Soft targets: -sum(t * log_softmax(logits)) over the class axis.
  if (type(labels).shape != ls || type(labels).dtype != type(logits).dtype)
    return fail(a.get("labels")->loc,
                fmt::format("labels must be i32{} class indices or {} probabilities, found {}",
                            formatShape(rows), str(logits), str(labels)));
  int64_t last = type(logits).rank() - 1;
  ValueId ls2 = make(loc, OpKind::LogSoftmax, {logits}, {{"axis", last}});
  if (!ls2.valid())
    return Failed{};
  return Val{b_.neg(b_.reduceSum(b_.mul(labels, ls2), {last})), {}};
}

Val Lowerer::lowerBinaryCrossEntropy(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  ValueId logits = floatArg(a, bi, "logits");
  if (!logits.valid())
    return Failed{};
  ValueId t = tensor(lowerExpr(*a.get("targets")));
  if (!t.valid())
    return Failed{};
  if (type(t).dtype == DType::I32)
    t = b_.cast(t, type(logits).dtype);
  if (type(t).shape != type(logits).shape)
    return fail(a.get("targets")->loc, fmt::format("targets {} do not match logits {}", str(t), str(logits)));
  return Val{make(e.loc, *bi.op, {logits, t}), {}};
}

/// (y - t)^2 summed over each example's features.
Val Lowerer::lowerSquaredError(const Expr &e, const Builtin &, const BoundArgs &a, const std::string &) {
  Val y = lowerExpr(*a.get("y"));
  if (y.failed())
    return y;
  Val t = lowerExpr(*a.get("t"));
  if (t.failed())
    return t;
  ValueId diff = arith(OpKind::Sub, "subtract", y, t, e.loc);
  if (!diff.valid())
    return Failed{};
  ValueId sq = b_.square(diff);
  int64_t r = type(sq).rank();
  if (r <= 1)
    return Val{sq, {}};
  std::vector<int64_t> axes(r - 1);
  std::iota(axes.begin(), axes.end(), 1);
  return Val{b_.reduceSum(sq, axes), {}};
}

// --- penalties -------------------------------------------------------------------------------

template <typename Term> Val Lowerer::penalize(const Builtin &bi, const BoundArgs &a, Term term) {
  std::optional<ValueId> total;
  for (const Expr *arg : a.rest) {
    ValueId w = tensor(lowerExpr(*arg));
    if (!w.valid())
      return Failed{};
    if (!fn_.isArgument(w) || !fn_.argument(w).trainable)
      return fail(arg->loc, fmt::format("'{}' penalizes parameters, but '{}' is not one", bi.name, exprToSource(*arg)));
    ValueId t = term(w);
    if (!t.valid())
      return Failed{};
    if (total && type(*total).dtype != type(t).dtype)
      t = b_.cast(t, type(*total).dtype);
    total = total ? b_.add(*total, t) : t;
  }
  return Val{*total, {}};
}

/// l1 (op Abs) and l2 (op Square): the sum of op(w) over the parameters' elements.
Val Lowerer::lowerPenalty(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  return penalize(bi, a, [&](ValueId w) {
    ValueId t = make(e.loc, *bi.op, {w});
    std::vector<int64_t> all(type(w).rank());
    std::iota(all.begin(), all.end(), 0);
    return all.empty() || !t.valid() ? t : b_.reduceSum(t, all);
  });
}

/// l1_ratio * l1 + (1 - l1_ratio) * l2.
Val Lowerer::lowerElasticNet(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  double ratio = numArg(a, "l1_ratio", 0.5);
  if (ratio < 0 || ratio > 1)
    return fail(a.get("l1_ratio")->loc, "'l1_ratio' must be between 0 and 1");
  return penalize(bi, a, [&](ValueId w) {
    std::vector<int64_t> all(type(w).rank());
    std::iota(all.begin(), all.end(), 0);
    auto sumOf = [&](OpKind op) {
      ValueId t = make(e.loc, op, {w});
      return all.empty() || !t.valid() ? t : b_.reduceSum(t, all);
    };
    ValueId l1 = sumOf(OpKind::Abs);
    if (!l1.valid())
      return l1;
    ValueId l2 = sumOf(OpKind::Square);
    if (!l2.valid())
      return l2;
    return b_.add(b_.mul(b_.scalar(ratio, type(w).dtype), l1), b_.mul(b_.scalar(1 - ratio, type(w).dtype), l2));
  });
}

// --- layers ----------------------------------------------------------------------------------

Val Lowerer::lowerDense(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName) {
  SourceLoc loc = e.loc;
  ValueId x = floatTensor(*a.get("x"), "the input of 'dense'");
  if (!x.valid())
    return Failed{};
  b_.setLoc(loc);
  const std::vector<int64_t> xs = type(x).shape;
  if (xs.empty())
    return fail(loc, fmt::format("dense needs an input of rank 1 or more, found {}", str(x)));
  std::optional<int64_t> unitsArg = positiveArg(a, "units", 1, loc);
  if (!unitsArg)
    return Failed{};
  int64_t in = xs.back(), units = *unitsArg;
  DType dt = type(x).dtype;
  std::string name = layerName(bi.name, assignName);
  ValueId w = param(name + ".weight", TensorType(dt, {in, units}), initArg(a, "glorot_uniform"), loc);
  ValueId x2 = xs.size() == 1 ? b_.reshape(x, {1, in}) : flattenLeading(x, in);
  ValueId y = b_.matmul(x2, w);
  if (boolArg(a, "bias", true)) {
    ValueId bias = param(name + ".bias", TensorType(dt, {units}), "zeros", loc);
    y = b_.add(y, spread(bias, y, 1));
  }
  std::vector<int64_t> outShape(xs.begin(), xs.end() - 1);
  outShape.push_back(units);
  if (type(y).shape != outShape)
    y = b_.reshape(y, outShape);
  return Val{applyActivation(a.get("act") ? a.get("act")->text : "none", y, loc), {}};
}

Val Lowerer::lowerConv2D(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName) {
  SourceLoc loc = e.loc;
  ValueId x = floatTensor(*a.get("x"), "the input of 'conv2d'");
  if (!x.valid())
    return Failed{};
  b_.setLoc(loc);
  if (type(x).rank() != 4)
    return fail(loc, fmt::format("conv2d needs an NCHW input [N, C, H, W], found {}", str(x)));
  std::optional<int64_t> filters = positiveArg(a, "filters", 1, loc);
  if (!filters)
    return Failed{};
  std::optional<int64_t> kernel = positiveArg(a, "kernel", 3, loc);
  if (!kernel)
    return Failed{};
  std::optional<int64_t> stride = positiveArg(a, "stride", 1, loc);
  if (!stride)
    return Failed{};
  int64_t c = type(x).shape[1], f = *filters, k = *kernel, s = *stride;
  int64_t p = intArg(a, "pad", 0);
  if (p < 0)
    return fail(a.get("pad")->loc, "'pad' must not be negative");
  std::string name = layerName(bi.name, assignName);
  ValueId w = param(name + ".weight", TensorType(type(x).dtype, {f, c, k, k}), initArg(a, "he_uniform"), loc);
  ValueId y = make(loc, *bi.op, {x, w}, {{"stride", std::vector<int64_t>{s, s}}, {"pad", std::vector<int64_t>{p, p}}});
  if (!y.valid())
    return Failed{};
  if (boolArg(a, "bias", true)) {
    ValueId bias = param(name + ".bias", TensorType(type(x).dtype, {f}), "zeros", loc);
    y = b_.add(y, spread(bias, y, 1));
  }
  return Val{applyActivation(a.get("act") ? a.get("act")->text : "none", y, loc), {}};
}

/// maxpool (op MaxPool2D) and avgpool (op AvgPool2D) over size x size windows.
Val Lowerer::lowerPool(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  SourceLoc loc = e.loc;
  ValueId x = floatTensor(*a.get("x"), fmt::format("the input of '{}'", bi.name));
  if (!x.valid())
    return Failed{};
  if (type(x).rank() != 4)
    return fail(loc, fmt::format("{} needs an NCHW input [N, C, H, W], found {}", bi.name, str(x)));
  std::optional<int64_t> size = positiveArg(a, "size", 2, loc);
  if (!size)
    return Failed{};
  std::optional<int64_t> stride = positiveArg(a, "stride", *size, loc);
  if (!stride)
    return Failed{};
  int64_t k = *size, s = *stride;
  int64_t p = intArg(a, "pad", 0);
  if (p < 0 || p >= k)
    return fail(a.get("pad")->loc, "'pad' must be at least 0 and less than the window size");
  std::vector<int64_t> kk{k, k}, ss{s, s}, pp{p, p};
  return Val{make(loc, *bi.op, {x}, {{"kernel", kk}, {"stride", ss}, {"pad", pp}}), {}};
}

Val Lowerer::lowerDropout(const Expr &e, const Builtin &, const BoundArgs &a, const std::string &) {
  ValueId x = floatTensor(*a.get("x"), "the input of 'dropout'");
  if (!x.valid())
    return Failed{};
  double rate = numArg(a, "rate", 0.5);
  if (rate < 0 || rate >= 1)
    return fail(a.get("rate")->loc, fmt::format("dropout rate must be in [0, 1), found {}", rate));
  if (opts_.mode != LowerMode::Train || rate == 0)
    return Val{x, {}};
  b_.setLoc(e.loc);
  int64_t seed = siteSeed(0);
  // counter() may add an argument, which moves the function's type storage: take both first.
  ValueId count = counter();
  TensorType maskType = type(x);
  ValueId mask = b_.randomBernoulli(count, seed, 1 - rate, maskType);
  return Val{b_.mul(b_.mul(x, mask), b_.constantLike(x, 1 / (1 - rate))), {}};
}

// --- data augmentation: random in the train step, the identity in eval and predict ----------
//
// Each is a composite of existing ops, so autodiff, the interpreter and codegen need nothing
// new, and the gradient through them is exact wherever they are applied: the random draws are
// constants of the step (like dropout's mask), and what multiplies x is a 0/1 matrix.

/// A random layer's seed: every random site of a model (dropout, augmentation) draws from its
/// own stream, the model's seed mixed with the site's number; `stream` tells apart the draws
/// of one site. Stream 0 is the one dropout has always used.
int64_t Lowerer::siteSeed(uint64_t stream) {
  if (stream == 0)
    ++randomSites_;
  uint64_t s = mix64(opts_.seed * 0x9e3779b97f4a7c15ull + uint64_t(randomSites_));
  return static_cast<int64_t>((stream == 0 ? s : mix64(s + stream)) >> 1);
}

/// The NCHW input of random_shift / random_flip, checked.
ValueId Lowerer::imageArg(const Expr &e, const Builtin &bi, const BoundArgs &a) {
  ValueId x = floatTensor(*a.get("x"), fmt::format("the input of '{}'", bi.name));
  if (!x.valid())
    return x;
  if (type(x).rank() != 4) {
    (void)fail(e.loc, fmt::format("{} needs an NCHW input [N, C, H, W], found {}", bi.name, str(x)));
    return {};
  }
  return x;
}

/// Per example, the [n, m] 0/1 matrices with 1 where (row - column) == d[example]:
/// `v @ S` moves column c + d to column c, `S^T @ v` row r + d to row r; indices outside
/// the image select nothing, i.e. zeros come in.
ValueId Lowerer::shiftMatrices(ValueId d, int64_t n, DType dtype) {
  int64_t nb = type(d).shape[0];
  TensorType t(DType::I32, {nb, n, n});
  ValueId row = b_.iota(t, 1), col = b_.iota(t, 2);
  ValueId hit = b_.cmp(CmpPredicate::EQ, b_.sub(row, col), b_.broadcast(d, t.shape, {0}));
  return b_.cast(hit, dtype);
}

/// random_shift(x, pad): each example moved by (dy, dx), each uniform in [-pad, pad], zeros
/// coming in at the edges — the same as a random crop of the image zero-padded by `pad`.
/// Rows and columns move by two batched products with 0/1 shift matrices (x @ Sw, Sh^T @ x).
Val Lowerer::lowerRandomShift(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  ValueId x = imageArg(e, bi, a);
  if (!x.valid())
    return Failed{};
  int64_t pad = intArg(a, "pad", 0);
  const std::vector<int64_t> xs = type(x).shape;
  int64_t nb = xs[0], c = xs[1], h = xs[2], w = xs[3];
  if (pad < 0 || pad >= std::min(h, w))
    return fail(a.get("pad")->loc,
                fmt::format("random_shift 'pad' must be at least 0 and less than the image's height and width ({}x{}), found {}",
                            h, w, pad));
  if (opts_.mode != LowerMode::Train || pad == 0)
    return Val{x, {}};
  b_.setLoc(e.loc);
  int64_t seed = siteSeed(0);
  ValueId count = counter();
  // d = floor(u * (2 pad + 1)) - pad, u in [0, 1): uniform over -pad..pad (the min guards
  // against f32 rounding u * (2 pad + 1) up to 2 pad + 1).
  ValueId u = b_.randomUniform(count, seed, TensorType(float_, {2, nb}));
  ValueId scaled = b_.min(b_.mul(u, b_.constantLike(u, double(2 * pad + 1))), b_.constantLike(u, double(2 * pad)));
  ValueId d = b_.sub(b_.cast(scaled, DType::I32), b_.constant(double(pad), TensorType(DType::I32, {2, nb})));
  ValueId dy = b_.reshape(b_.slice(d, {0, 0}, {1, nb}), {nb});
  ValueId dx = b_.reshape(b_.slice(d, {1, 0}, {1, nb}), {nb});
  // Columns: [N, C*H, W] @ Sw[N, W, W].
  ValueId cols = b_.matmul(b_.reshape(x, {nb, c * h, w}), shiftMatrices(dx, w, type(x).dtype));
  // Rows: Sh^T[N*C, H, H] @ [N*C, H, W], Sh repeated over the channels.
  ValueId sh = b_.reshape(b_.broadcast(shiftMatrices(dy, h, type(x).dtype), {nb, c, h, h}, {0, 2, 3}), {nb * c, h, h});
  ValueId rows = b_.matmul(sh, b_.reshape(cols, {nb * c, h, w}), /*transposeA=*/true);
  return Val{b_.reshape(rows, xs), {}};
}

/// random_flip(x): each example mirrored left to right with probability 1/2 (x @ R, R the
/// [W, W] reversal, where a per-example coin says so).
Val Lowerer::lowerRandomFlip(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  ValueId x = imageArg(e, bi, a);
  if (!x.valid())
    return Failed{};
  if (opts_.mode != LowerMode::Train)
    return Val{x, {}};
  b_.setLoc(e.loc);
  const std::vector<int64_t> xs = type(x).shape;
  int64_t nb = xs[0], w = xs[3];
  int64_t seed = siteSeed(0);
  ValueId count = counter();
  TensorType square(DType::I32, {w, w});
  ValueId reversal = b_.cast(b_.cmp(CmpPredicate::EQ, b_.add(b_.iota(square, 0), b_.iota(square, 1)),
                                    b_.constant(double(w - 1), square)),
                             type(x).dtype);
  ValueId mirrored = b_.reshape(b_.matmul(b_.reshape(x, {nb * xs[1] * xs[2], w}), reversal), xs);
  ValueId coin = b_.randomBernoulli(count, seed, 0.5, TensorType(DType::I1, {nb}));
  return Val{b_.select(b_.broadcast(coin, xs, {0}), mirrored, x), {}};
}

/// gaussian_noise(x, stddev): x + stddev * z, z standard normal per element, by Box-Muller:
/// z = sqrt(-2 ln(1 - u1)) * cos(2 pi u2). cos(2 pi u2) has the distribution of s * cos(pi/2 * u2)
/// with s a fair random sign; on [0, pi/2) the cosine is its Taylor polynomial to degree 12
/// (error below 1e-8), so the noise is elementwise arithmetic that fuses into one loop.
Val Lowerer::lowerGaussianNoise(const Expr &e, const Builtin &, const BoundArgs &a, const std::string &) {
  ValueId x = floatTensor(*a.get("x"), "the input of 'gaussian_noise'");
  if (!x.valid())
    return Failed{};
  double stddev = numArg(a, "stddev", 0.0);
  if (!(stddev >= 0) || !std::isfinite(stddev))
    return fail(a.get("stddev")->loc, fmt::format("gaussian_noise 'stddev' must be a finite number at least 0, found {}", stddev));
  if (opts_.mode != LowerMode::Train || stddev == 0)
    return Val{x, {}};
  b_.setLoc(e.loc);
  int64_t seed = siteSeed(0);
  ValueId count = counter();
  TensorType t = type(x);
  auto k = [&](double v) { return b_.constant(v, t); };
  ValueId u1 = b_.randomUniform(count, seed, t);
  ValueId u2 = b_.randomUniform(count, siteSeed(1), t);
  ValueId sign = b_.randomBernoulli(count, siteSeed(2), 0.5, t);
  ValueId radius = b_.sqrt(b_.mul(k(-2.0), b_.log(b_.sub(k(1.0), u1))));
  ValueId angle = b_.mul(u2, k(M_PI / 2));
  ValueId y = b_.square(angle);
  // cos = sum_i (-1)^i y^i / (2i)!, i = 0..6, by Horner.
  static const double c[] = {1.0, -1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800, 1.0 / 479001600};
  ValueId cosine = k(c[6]);
  for (int i = 5; i >= 0; --i)
    cosine = b_.add(b_.mul(cosine, y), k(c[i]));
  // stddev * (2s - 1) * radius * cosine
  ValueId signed_ = b_.sub(b_.mul(sign, k(2 * stddev)), k(stddev));
  return Val{b_.add(x, b_.mul(signed_, b_.mul(radius, cosine))), {}};
}

Val Lowerer::lowerBatchNorm(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName) {
  SourceLoc loc = e.loc;
  ValueId x = floatTensor(*a.get("x"), "the input of 'batchnorm'");
  if (!x.valid())
    return Failed{};
  b_.setLoc(loc);
  int64_t r = type(x).rank();
  if (r != 2 && r != 4)
    return fail(loc, fmt::format("batchnorm needs [N, F] or [N, C, H, W] input, found {}", str(x)));
  double momentum = numArg(a, "momentum", 0.9), eps = numArg(a, "eps", 1e-5);
  if (momentum < 0 || momentum > 1)
    return fail(a.get("momentum")->loc, "'momentum' must be between 0 and 1");
  if (eps <= 0)
    return fail(a.get("eps")->loc, "'eps' must be positive");
  const std::vector<int64_t> xs = type(x).shape;
  int64_t f = xs[1];
  int64_t count = type(x).numElements() / f;
  DType dt = type(x).dtype;
  std::string name = layerName(bi.name, assignName);
  ValueId gamma = param(name + ".gamma", TensorType(dt, {f}), "ones", loc);
  ValueId beta = param(name + ".beta", TensorType(dt, {f}), "zeros", loc);
  ValueId rm = param(name + ".running_mean", TensorType(dt, {f}), "zeros", loc, false);
  ValueId rv = param(name + ".running_var", TensorType(dt, {f}), "ones", loc, false);
  if (opts_.mode == LowerMode::Train) {
    // Batch statistics in one op, normalization in another: their gradients are per-channel
    // passes (batch_norm_sums), not the reductions autodiff would derive from a composite.
    ValueId moments = b_.batchMoments(x);
    auto row = [&](int64_t r) { return b_.reshape(b_.slice(moments, {r, 0}, {1, f}), {f}); };
    // running <- momentum * running + (1 - momentum) * batch (variance unbiased)
    auto blend = [&](ValueId run, ValueId batch, double scale) {
      return b_.add(b_.mul(run, b_.constantLike(run, momentum)),
                    b_.mul(batch, b_.constantLike(batch, (1 - momentum) * scale)));
    };
    updates_.push_back({rm, blend(rm, row(0), 1.0)});
    updates_.push_back({rv, blend(rv, row(1), count > 1 ? double(count) / double(count - 1) : 1.0)});
    return Val{b_.batchNorm(x, moments, gamma, beta, eps), {}};
  }
  ValueId mean = rm, var = rv;
  ValueId inv = b_.rsqrt(b_.add(var, b_.constantLike(var, eps)));
  ValueId xhat = b_.mul(b_.sub(x, spread(mean, x, 1)), spread(inv, x, 1));
  return Val{b_.add(b_.mul(xhat, spread(gamma, x, 1)), spread(beta, x, 1)), {}};
}

Val Lowerer::lowerEmbedding(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName) {
  ValueId ids = tensor(lowerExpr(*a.get("ids")));
  if (!ids.valid())
    return Failed{};
  if (type(ids).dtype != DType::I32)
    return fail(a.get("ids")->loc, fmt::format("embedding needs i32 ids, found {}", str(ids)));
  std::optional<int64_t> vocab = positiveArg(a, "vocab", 1, e.loc);
  if (!vocab)
    return Failed{};
  std::optional<int64_t> dim = positiveArg(a, "dim", 1, e.loc);
  if (!dim)
    return Failed{};
  ValueId table = param(layerName(bi.name, assignName) + ".weight", TensorType(float_, {*vocab, *dim}),
                        initArg(a, "uniform(-0.05,0.05)"), e.loc);
  return Val{make(e.loc, *bi.op, {table, ids}), {}};
}

/// h_t = act(x_t @ w_x + h_{t-1} @ w_h + bias), h_0 = 0, unrolled over axis 1.
Val Lowerer::lowerRnn(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName) {
  SourceLoc loc = e.loc;
  ValueId x = floatTensor(*a.get("x"), "the input of 'rnn'");
  if (!x.valid())
    return Failed{};
  b_.setLoc(loc);
  if (type(x).rank() != 3)
    return fail(loc, fmt::format("rnn needs a sequence input [N, T, D], found {}", str(x)));
  int64_t nb = type(x).shape[0], steps = type(x).shape[1], d = type(x).shape[2];
  std::optional<int64_t> unitsArg = positiveArg(a, "units", 1, loc);
  if (!unitsArg)
    return Failed{};
  int64_t units = *unitsArg;
  DType dt = type(x).dtype;
  std::string name = layerName(bi.name, assignName);
  ValueId wx = param(name + ".w_x", TensorType(dt, {d, units}), "glorot_uniform", loc);
  ValueId wh = param(name + ".w_h", TensorType(dt, {units, units}), "glorot_uniform", loc);
  ValueId bias = param(name + ".bias", TensorType(dt, {units}), "zeros", loc);
  // All steps' input projections in one matrix product.
  ValueId xw = b_.reshape(b_.matmul(b_.reshape(x, {nb * steps, d}), wx), {nb, steps, units});
  ValueId h = b_.constant(0, TensorType(dt, {nb, units}));
  ValueId biasB = b_.broadcast(bias, {nb, units}, {1});
  std::vector<ValueId> states;
  std::string act = a.get("act") ? a.get("act")->text : "tanh";
  for (int64_t t = 0; t < steps; ++t) {
    ValueId xt = b_.reshape(b_.slice(xw, {0, t, 0}, {nb, 1, units}), {nb, units});
    h = applyActivation(act, b_.add(b_.add(xt, b_.matmul(h, wh)), biasB), loc);
    if (!h.valid())
      return Failed{};
    states.push_back(b_.reshape(h, {nb, 1, units}));
  }
  return Val{states.size() == 1 ? states[0] : b_.concat(states, 1), {}};
}

} // namespace nnc::lowering
