//===- Builder.cpp - Checked construction of graph IR nodes ---------------------------------===//
//
// The checked factory (canonical attributes, then the shape rule), the poisoned stand-ins of a
// front end's builder, the typed conveniences that spell out each op's attributes, and NumPy
// broadcasting lowered to explicit `broadcast` ops.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Builder.h"

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

namespace nnc {

using V = std::vector<int64_t>;

Result<ValueId> Builder::tryCreate(OpKind op, std::vector<ValueId> operands, Attrs attrs,
                                   SourceLoc loc) {
  if (!loc.valid())
    loc = loc_;
  std::vector<TensorType> types;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (!fn_.isValid(operands[i]))
      return Error::at(loc, fmt::format("{}: operand {} is not a value of function @{}", mnemonic(op), i,
                                        fn_.name()));
    types.push_back(fn_.type(operands[i]));
  }
  // The error behind a poisoned operand was reported already; what depends on it is poisoned.
  for (ValueId v : operands)
    if (poisoned(v))
      return poison(loc);
  if (Result<void> canonical = canonicalizeAttrs(op, attrs); !canonical)
    return Error::at(loc, canonical.message());
  Result<TensorType> type = inferType(op, types, attrs);
  if (!type)
    return Error::at(loc, type.message());
  return fn_.appendNode(Node{op, std::move(operands), std::move(attrs), *type, loc, {}});
}

ValueId Builder::create(OpKind op, std::vector<ValueId> operands, Attrs attrs, SourceLoc loc) {
  auto r = tryCreate(op, std::move(operands), std::move(attrs), loc);
  if (r)
    return *r;
  if (!diags_) {
    std::fprintf(stderr, "nnc internal error: building an ill-typed node: %s\n", r.message().c_str());
    std::abort();
  }
  // Only the first failure is reported: a later one is nearly always a consequence of it (a
  // shape read from a stand-in), and the first explains the mistake in the source.
  if (!reported_)
    report(*diags_, r.error());
  reported_ = true;
  return poison(r.error().diagnostics.front().loc);
}

ValueId Builder::poison(SourceLoc loc) {
  ValueId v = fn_.appendNode(Node{OpKind::Constant,
                                  {},
                                  {{"value", 0.0}, {"dtype", std::string("f32")}, {"shape", V{}}},
                                  TensorType(DType::F32, {}),
                                  loc,
                                  {}});
  if (poisoned_.size() <= v.index)
    poisoned_.resize(v.index + 1, false);
  poisoned_[v.index] = true;
  return v;
}

ValueId Builder::leakyRelu(ValueId x, double alpha) { return create(OpKind::LeakyRelu, {x}, {{"alpha", alpha}}); }
ValueId Builder::powc(ValueId x, double exponent) { return create(OpKind::PowC, {x}, {{"exponent", exponent}}); }
ValueId Builder::cast(ValueId x, DType dtype) {
  return create(OpKind::Cast, {x}, {{"dtype", std::string(dtypeName(dtype))}});
}
ValueId Builder::cmp(CmpPredicate predicate, ValueId a, ValueId b) {
  return create(OpKind::Cmp, {a, b}, {{"predicate", std::string(cmpPredicateName(predicate))}});
}

ValueId Builder::constant(double value, const TensorType &type) {
  return create(OpKind::Constant, {},
                {{"value", value}, {"dtype", std::string(dtypeName(type.dtype))}, {"shape", type.shape}});
}
ValueId Builder::iota(const TensorType &type, int64_t axis) {
  return create(OpKind::Iota, {}, {{"axis", axis}, {"dtype", std::string(dtypeName(type.dtype))}, {"shape", type.shape}});
}

ValueId Builder::broadcast(ValueId x, V shape, V dims) {
  return create(OpKind::Broadcast, {x}, {{"shape", std::move(shape)}, {"dims", std::move(dims)}});
}
ValueId Builder::reshape(ValueId x, V shape) { return create(OpKind::Reshape, {x}, {{"shape", std::move(shape)}}); }
ValueId Builder::transpose(ValueId x, V perm) { return create(OpKind::Transpose, {x}, {{"perm", std::move(perm)}}); }
ValueId Builder::slice(ValueId x, V starts, V sizes) {
  return create(OpKind::Slice, {x}, {{"starts", std::move(starts)}, {"sizes", std::move(sizes)}});
}
ValueId Builder::pad(ValueId x, V low, V high) {
  return create(OpKind::Pad, {x}, {{"low", std::move(low)}, {"high", std::move(high)}});
}
ValueId Builder::concat(std::vector<ValueId> values, int64_t axis) {
  return create(OpKind::Concat, std::move(values), {{"axis", axis}});
}

ValueId Builder::reduceSum(ValueId x, V axes, bool keepdims) {
  return create(OpKind::ReduceSum, {x}, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
ValueId Builder::reduceMean(ValueId x, V axes, bool keepdims) {
  return create(OpKind::ReduceMean, {x}, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
ValueId Builder::reduceMax(ValueId x, V axes, bool keepdims) {
  return create(OpKind::ReduceMax, {x}, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}

ValueId Builder::matmul(ValueId a, ValueId b, bool transposeA, bool transposeB) {
  return create(OpKind::MatMul, {a, b}, {{"transpose_a", transposeA}, {"transpose_b", transposeB}});
}
ValueId Builder::softmax(ValueId x, int64_t axis) { return create(OpKind::Softmax, {x}, {{"axis", axis}}); }
ValueId Builder::logSoftmax(ValueId x, int64_t axis) { return create(OpKind::LogSoftmax, {x}, {{"axis", axis}}); }
ValueId Builder::logSumExp(ValueId x, int64_t axis, bool keepdims) {
  return create(OpKind::LogSumExp, {x}, {{"axis", axis}, {"keepdims", keepdims}});
}

ValueId Builder::oneHot(ValueId labels, int64_t depth, DType dtype) {
  return create(OpKind::OneHot, {labels}, {{"depth", depth}, {"dtype", std::string(dtypeName(dtype))}});
}
ValueId Builder::gather(ValueId table, ValueId indices) { return create(OpKind::Gather, {table, indices}); }
ValueId Builder::scatterAdd(ValueId updates, ValueId indices, int64_t rows) {
  return create(OpKind::ScatterAdd, {updates, indices}, {{"rows", rows}});
}

ValueId Builder::randomUniform(ValueId counter, int64_t seed, const TensorType &type) {
  return create(OpKind::RandomUniform, {counter},
                {{"seed", seed}, {"dtype", std::string(dtypeName(type.dtype))}, {"shape", type.shape}});
}
ValueId Builder::randomBernoulli(ValueId counter, int64_t seed, double p, const TensorType &type) {
  return create(OpKind::RandomBernoulli, {counter},
                {{"seed", seed}, {"p", p}, {"dtype", std::string(dtypeName(type.dtype))}, {"shape", type.shape}});
}

ValueId Builder::conv2d(ValueId x, ValueId w, V stride, V pad) {
  return create(OpKind::Conv2D, {x, w}, {{"stride", std::move(stride)}, {"pad", std::move(pad)}});
}
ValueId Builder::conv2dGradInput(ValueId dy, ValueId w, V stride, V pad, V inputShape) {
  return create(OpKind::Conv2DGradInput, {dy, w},
                {{"stride", std::move(stride)}, {"pad", std::move(pad)}, {"input_shape", std::move(inputShape)}});
}
ValueId Builder::conv2dGradWeight(ValueId x, ValueId dy, V stride, V pad, V kernel) {
  return create(OpKind::Conv2DGradWeight, {x, dy},
                {{"stride", std::move(stride)}, {"pad", std::move(pad)}, {"kernel", std::move(kernel)}});
}
ValueId Builder::maxPool2d(ValueId x, V kernel, V stride, V pad) {
  return create(OpKind::MaxPool2D, {x}, {{"kernel", std::move(kernel)}, {"stride", std::move(stride)}, {"pad", std::move(pad)}});
}
ValueId Builder::maxPool2dGrad(ValueId x, ValueId dy, V kernel, V stride, V pad) {
  return create(OpKind::MaxPool2DGrad, {x, dy},
                {{"kernel", std::move(kernel)}, {"stride", std::move(stride)}, {"pad", std::move(pad)}});
}
ValueId Builder::avgPool2d(ValueId x, V kernel, V stride, V pad) {
  return create(OpKind::AvgPool2D, {x}, {{"kernel", std::move(kernel)}, {"stride", std::move(stride)}, {"pad", std::move(pad)}});
}
ValueId Builder::avgPool2dGrad(ValueId dy, V kernel, V stride, V pad, V inputShape) {
  return create(OpKind::AvgPool2DGrad, {dy},
                {{"kernel", std::move(kernel)}, {"stride", std::move(stride)}, {"pad", std::move(pad)},
                 {"input_shape", std::move(inputShape)}});
}

// --- NumPy broadcasting ------------------------------------------------------------------------

std::optional<V> Builder::broadcastShapes(const V &a, const V &b) {
  const V &longer = a.size() >= b.size() ? a : b, &shorter = a.size() >= b.size() ? b : a;
  V out = longer;
  size_t offset = longer.size() - shorter.size();
  for (size_t i = 0; i < shorter.size(); ++i) {
    int64_t x = longer[offset + i], y = shorter[i];
    if (x != y && x != 1 && y != 1)
      return std::nullopt;
    out[offset + i] = x == 1 ? y : x;
  }
  return out;
}

Result<ValueId> Builder::broadcastTo(ValueId v, const V &shape, SourceLoc loc) {
  if (!fn_.isValid(v))
    return Error::at(loc.valid() ? loc : loc_, "broadcast of a value that does not exist");
  const TensorType &t = fn_.type(v);
  if (t.shape == shape || poisoned(v))
    return v;
  auto common = broadcastShapes(t.shape, shape);
  if (t.shape.size() > shape.size() || !common || *common != shape)
    return Error::at(loc.valid() ? loc : loc_, fmt::format("cannot broadcast {} to {}", t.str(), formatShape(shape)));
  V dims;
  for (size_t i = 0; i < t.shape.size(); ++i)
    dims.push_back(static_cast<int64_t>(shape.size() - t.shape.size() + i));
  return tryCreate(OpKind::Broadcast, {v}, {{"shape", shape}, {"dims", dims}}, loc);
}

Result<std::pair<ValueId, ValueId>> Builder::broadcastPair(ValueId a, ValueId b, SourceLoc loc) {
  SourceLoc at = loc.valid() ? loc : loc_;
  if (!fn_.isValid(a) || !fn_.isValid(b))
    return Error::at(at, "broadcast of a value that does not exist");
  if (poisoned(a) || poisoned(b))
    return std::pair{a, b};
  const TensorType &ta = fn_.type(a), &tb = fn_.type(b);
  auto common = broadcastShapes(ta.shape, tb.shape);
  if (!common)
    return Error::at(at, fmt::format("cannot broadcast {} with {}", ta.str(), tb.str()));
  if (ta.dtype != tb.dtype)
    return Error::at(at, fmt::format("cannot broadcast {} with {}: element types differ", ta.str(), tb.str()));
  auto ra = broadcastTo(a, *common, loc);
  if (!ra)
    return std::move(ra).error();
  auto rb = broadcastTo(b, *common, loc);
  if (!rb)
    return std::move(rb).error();
  return std::pair{*ra, *rb};
}

} // namespace nnc
