//===- ShapeRules.cpp - The type/shape rule of every op -------------------------------------===//
//
// Beside the op table of Ops.def, this file states the type/shape rule of each op (inferType).
// A rule checks operand counts, dtypes, ranks, dimensions and attribute values (whose names,
// kinds and defaults the ATTRS column of Ops.def declares), and either returns the result type
// or a message meant for the author of the model, naming the types involved. docs/IR.md states
// the same rules in prose; the two must agree.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Ops.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace nnc {

namespace {

using V = std::vector<int64_t>;
using TypeOrError = Result<TensorType>;
using Types = std::vector<TensorType>;

std::string shapeStr(const V &s) { return formatShape(s); }

/// Null when `shape` is a legal tensor shape, else what is wrong with it (ir/Type.h's limits).
std::optional<std::string> badShape(const V &shape) { return shapeLimitProblem(shape); }

/// Checks that a shape attribute is a legal tensor shape.
std::optional<std::string> checkShapeAttr(OpKind op, std::string_view name, const V &shape) {
  if (auto why = badShape(shape))
    return fmt::format("{}: attribute '{}' = {} {}", mnemonic(op), name, shapeStr(shape), *why);
  return std::nullopt;
}

/// The dtype named by string attribute `name`, or an error.
Result<DType> dtypeAttr(OpKind op, const Attrs &attrs, std::string_view name) {
  std::string text = attrs.getString(name);
  if (auto d = parseDType(text))
    return *d;
  return Error{fmt::format("{}: attribute '{}' = \"{}\" is not a dtype (f32, f64, i32, i1)", mnemonic(op), name, text)};
}

/// Checks that `pair` is a 2-element list with every element >= `min`.
std::optional<std::string> checkPair(OpKind op, std::string_view name, const V &pair, int64_t min) {
  if (pair.size() != 2 || pair[0] < min || pair[1] < min || pair[0] > kMaxDim || pair[1] > kMaxDim)
    return fmt::format("{}: attribute '{}' = {} must be 2 numbers in [{}, {}]", mnemonic(op), name,
                       formatAttr(pair), min, kMaxDim);
  return std::nullopt;
}

/// Output extent of a window of size k, stride s and padding p sliding over n elements.
int64_t windowCount(int64_t n, int64_t k, int64_t s, int64_t p) { return (n + 2 * p - k) / s + 1; }

/// The NCHW output shape of a conv2d/pool window over `in` (rank 4), with output channels
/// `channels`, or an error.
Result<V> windowShape(OpKind op, const V &in, int64_t channels, const V &kernel, const V &stride,
                      const V &pad) {
  V out{in[0], channels, 0, 0};
  for (int i = 0; i < 2; ++i) {
    if (in[2 + i] + 2 * pad[i] < kernel[i])
      return Error{fmt::format("{}: kernel {}x{} does not fit into the padded input {}x{}", mnemonic(op),
                               kernel[0], kernel[1], in[2] + 2 * pad[0], in[3] + 2 * pad[1])};
    out[2 + i] = windowCount(in[2 + i], kernel[i], stride[i], pad[i]);
  }
  return out;
}

/// Checks the kernel/stride/pad attributes shared by the pooling ops.
std::optional<std::string> checkPoolAttrs(OpKind op, const Attrs &a) {
  V kernel = a.getInts("kernel"), stride = a.getInts("stride"), pad = a.getInts("pad");
  if (auto e = checkPair(op, "kernel", kernel, 1))
    return e;
  if (auto e = checkPair(op, "stride", stride, 1))
    return e;
  if (auto e = checkPair(op, "pad", pad, 0))
    return e;
  if (2 * pad[0] > kernel[0] || 2 * pad[1] > kernel[1])
    return fmt::format("{}: padding {} must be at most half the kernel {}", mnemonic(op),
                       formatAttr(pad), formatAttr(kernel));
  return std::nullopt;
}

std::optional<std::string> checkRank4Float(OpKind op, const TensorType &t, std::string_view what) {
  if (t.rank() != 4 || !isFloat(t.dtype))
    return fmt::format("{}: {} must be a float tensor of rank 4 (NCHW), got {}", mnemonic(op), what, t.str());
  return std::nullopt;
}

/// The shape rule proper; attrs are canonical and of the declared kinds.
TypeOrError rule(OpKind op, const Types &in, const Attrs &a) {
  const std::string_view name = mnemonic(op);
  auto err = [&](std::string msg) -> TypeOrError { return Error{std::move(msg)}; };
  auto floatOnly = [&](const TensorType &t) -> std::optional<std::string> {
    if (!isFloat(t.dtype))
      return fmt::format("{} expects a float operand, got {}", name, t.str());
    return std::nullopt;
  };
  auto numeric = [&](const TensorType &t) -> std::optional<std::string> {
    if (t.dtype == DType::I1)
      return fmt::format("{} expects a float or i32 operand, got {}", name, t.str());
    return std::nullopt;
  };
  auto checkAxis = [&](int64_t axis, int64_t rank) -> std::optional<std::string> {
    if (axis < 0 || axis >= rank)
      return fmt::format("{}: axis {} is out of range for rank {}", name, axis, rank);
    return std::nullopt;
  };

  switch (op) {
  case OpKind::Neg:
  case OpKind::Abs:
  case OpKind::Sign:
  case OpKind::Square:
    if (auto e = numeric(in[0]))
      return Error{*e};
    return in[0];
  case OpKind::Exp:
  case OpKind::Log:
  case OpKind::Log1p:
  case OpKind::Sqrt:
  case OpKind::Rsqrt:
  case OpKind::Sigmoid:
  case OpKind::Tanh:
  case OpKind::Relu:
  case OpKind::LeakyRelu:
  case OpKind::Softplus:
  case OpKind::PowC:
    if (auto e = floatOnly(in[0]))
      return Error{*e};
    return in[0];
  case OpKind::Cast: {
    auto d = dtypeAttr(op, a, "dtype");
    if (!d)
      return d.error();
    return TensorType(*d, in[0].shape);
  }

  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
  case OpKind::Div:
  case OpKind::Max:
  case OpKind::Min:
  case OpKind::Cmp: {
    if (in[0] != in[1])
      return err(fmt::format("cannot {} {} and {}: operand types differ (the IR does not broadcast "
                             "implicitly)",
                             name, in[0].str(), in[1].str()));
    if (op == OpKind::Cmp) {
      auto p = parseCmpPredicate(a.getString("predicate"));
      if (!p)
        return err(fmt::format("cmp: predicate \"{}\" is not one of lt, le, gt, ge, eq, ne",
                               a.getString("predicate")));
      if (in[0].dtype == DType::I1 && *p != CmpPredicate::EQ && *p != CmpPredicate::NE)
        return err(fmt::format("cmp: i1 operands can only be compared with eq or ne"));
      return TensorType(DType::I1, in[0].shape);
    }
    if (auto e = op == OpKind::Div ? floatOnly(in[0]) : numeric(in[0]))
      return Error{*e};
    return in[0];
  }
  case OpKind::Select:
    if (in[0].dtype != DType::I1)
      return err(fmt::format("select: the mask must be i1, got {}", in[0].str()));
    if (in[1] != in[2])
      return err(fmt::format("select: the alternatives {} and {} differ in type", in[1].str(), in[2].str()));
    if (in[0].shape != in[1].shape)
      return err(fmt::format("select: mask {} and alternatives {} differ in shape", in[0].str(), in[1].str()));
    return in[1];

  case OpKind::Constant:
  case OpKind::Iota:
  case OpKind::RandomUniform:
  case OpKind::RandomBernoulli: {
    auto d = dtypeAttr(op, a, "dtype");
    if (!d)
      return d.error();
    DType dtype = *d;
    V shape = a.getInts("shape");
    if (auto e = checkShapeAttr(op, "shape", shape))
      return Error{*e};
    if (op == OpKind::Constant) {
      double v = a.getFloat("value");
      if (dtype == DType::I32 && !(v >= -2147483648.0 && v <= 2147483647.0 && v == std::trunc(v)))
        return err(fmt::format("constant: value {} is not an i32", formatAttr(v)));
      if (dtype == DType::I1 && v != 0.0 && v != 1.0)
        return err(fmt::format("constant: value {} is not an i1 (0 or 1)", formatAttr(v)));
    } else if (op == OpKind::Iota) {
      if (auto e = checkAxis(a.getInt("axis"), static_cast<int64_t>(shape.size())))
        return Error{*e};
      if (dtype == DType::I1)
        return err("iota: dtype i1 cannot hold indices");
    } else {
      if (in[0] != TensorType(DType::I32, {}))
        return err(fmt::format("{}: the counter operand must be i32[], got {}", name, in[0].str()));
      if (op == OpKind::RandomUniform && !isFloat(dtype))
        return err(fmt::format("random_uniform: dtype must be f32 or f64, got {}", dtypeName(dtype)));
      double p = op == OpKind::RandomBernoulli ? a.getFloat("p") : 0.0;
      if (!(p >= 0.0 && p <= 1.0))
        return err(fmt::format("random_bernoulli: probability p = {} is not in [0, 1]", formatAttr(p)));
    }
    return TensorType(dtype, shape);
  }

  case OpKind::Broadcast: {
    V shape = a.getInts("shape"), dims = a.getInts("dims");
    if (auto e = checkShapeAttr(op, "shape", shape))
      return Error{*e};
    if (static_cast<int64_t>(dims.size()) != in[0].rank())
      return err(fmt::format("broadcast: dims {} must name one result dimension for each of the {} "
                             "dimensions of {}",
                             formatAttr(dims), in[0].rank(), in[0].str()));
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] < 0 || dims[i] >= static_cast<int64_t>(shape.size()) || (i > 0 && dims[i] <= dims[i - 1]))
        return err(fmt::format("broadcast: dims {} must be increasing and within the rank of {}",
                               formatAttr(dims), shapeStr(shape)));
      if (in[0].shape[i] != 1 && in[0].shape[i] != shape[dims[i]])
        return err(fmt::format("cannot broadcast {} to {}: dimension {} has size {}, not 1 or {}",
                               in[0].str(), shapeStr(shape), i, in[0].shape[i], shape[dims[i]]));
    }
    return TensorType(in[0].dtype, shape);
  }
  case OpKind::Reshape: {
    V shape = a.getInts("shape");
    if (auto e = checkShapeAttr(op, "shape", shape))
      return Error{*e};
    TensorType out(in[0].dtype, shape);
    if (out.numElements() != in[0].numElements())
      return err(fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", in[0].str(),
                             in[0].numElements(), shapeStr(shape), out.numElements()));
    return out;
  }
  case OpKind::Transpose: {
    V perm = a.getInts("perm"), sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    bool isPerm = static_cast<int64_t>(perm.size()) == in[0].rank();
    for (size_t i = 0; isPerm && i < sorted.size(); ++i)
      isPerm = sorted[i] == static_cast<int64_t>(i);
    if (!isPerm)
      return err(fmt::format("transpose: perm {} is not a permutation of the {} dimensions of {}",
                             formatAttr(perm), in[0].rank(), in[0].str()));
    V shape;
    for (int64_t p : perm)
      shape.push_back(in[0].shape[p]);
    return TensorType(in[0].dtype, shape);
  }
  case OpKind::Slice: {
    V starts = a.getInts("starts"), sizes = a.getInts("sizes");
    if (static_cast<int64_t>(starts.size()) != in[0].rank() || sizes.size() != starts.size())
      return err(fmt::format("slice: starts {} and sizes {} need one entry per dimension of {}",
                             formatAttr(starts), formatAttr(sizes), in[0].str()));
    for (size_t i = 0; i < starts.size(); ++i)
      if (starts[i] < 0 || sizes[i] < 1 || starts[i] > in[0].shape[i] - sizes[i])
        return err(fmt::format("slice: starts {} with sizes {} exceeds {} in dimension {}",
                               formatAttr(starts), formatAttr(sizes), in[0].str(), i));
    return TensorType(in[0].dtype, sizes);
  }
  case OpKind::Pad: {
    V low = a.getInts("low"), high = a.getInts("high");
    if (static_cast<int64_t>(low.size()) != in[0].rank() || high.size() != low.size())
      return err(fmt::format("pad: low {} and high {} need one entry per dimension of {}",
                             formatAttr(low), formatAttr(high), in[0].str()));
    V shape = in[0].shape;
    for (size_t i = 0; i < low.size(); ++i) {
      if (low[i] < 0 || high[i] < 0 || low[i] > kMaxDim || high[i] > kMaxDim)
        return err(fmt::format("pad: amounts low {} and high {} must be in [0, {}]", formatAttr(low),
                               formatAttr(high), kMaxDim));
      shape[i] += low[i] + high[i];
    }
    return TensorType(in[0].dtype, shape);
  }
  case OpKind::Concat: {
    int64_t axis = a.getInt("axis");
    if (auto e = checkAxis(axis, in[0].rank()))
      return Error{*e};
    TensorType out = in[0];
    for (size_t k = 1; k < in.size(); ++k) {
      bool ok = in[k].dtype == out.dtype && in[k].rank() == out.rank();
      for (int64_t i = 0; ok && i < out.rank(); ++i)
        ok = i == axis || in[k].shape[i] == out.shape[i];
      if (!ok)
        return err(fmt::format("cannot concatenate {} and {} along axis {}", in[0].str(), in[k].str(), axis));
      out.shape[axis] += in[k].shape[axis];
    }
    return out;
  }

  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax: {
    if (auto e = op == OpKind::ReduceMean ? floatOnly(in[0]) : numeric(in[0]))
      return Error{*e};
    V axes = a.getInts("axes");
    for (size_t i = 0; i < axes.size(); ++i) {
      if (auto e = checkAxis(axes[i], in[0].rank()))
        return Error{*e};
      if (i > 0 && axes[i] <= axes[i - 1])
        return err(fmt::format("{}: axes {} must be increasing without repeats", name, formatAttr(axes)));
    }
    V shape;
    for (int64_t i = 0; i < in[0].rank(); ++i) {
      bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
      if (!reduced)
        shape.push_back(in[0].shape[i]);
      else if (a.getBool("keepdims"))
        shape.push_back(1);
    }
    return TensorType(in[0].dtype, shape);
  }

  case OpKind::MatMul: {
    const TensorType &x = in[0], &y = in[1];
    auto fail = [&](std::string why) {
      return err(fmt::format("cannot matrix-multiply {} by {}: {}", x.str(), y.str(), why));
    };
    if (!isFloat(x.dtype) || x.dtype != y.dtype)
      return fail("operands must be float tensors of one dtype");
    if (x.rank() < 2 || y.rank() < 2)
      return fail("both operands need rank 2 or more");
    if (x.rank() != y.rank())
      return fail(fmt::format("ranks {} and {} differ", x.rank(), y.rank()));
    int64_t r = x.rank();
    V batchX(x.shape.begin(), x.shape.end() - 2), batchY(y.shape.begin(), y.shape.end() - 2);
    if (batchX != batchY)
      return fail(fmt::format("batch dimensions {} and {} differ", shapeStr(batchX), shapeStr(batchY)));
    bool ta = a.getBool("transpose_a"), tb = a.getBool("transpose_b");
    int64_t m = x.shape[r - (ta ? 1 : 2)], k1 = x.shape[r - (ta ? 2 : 1)];
    int64_t k2 = y.shape[r - (tb ? 1 : 2)], n = y.shape[r - (tb ? 2 : 1)];
    if (k1 != k2)
      return fail(fmt::format("inner dimensions {} and {} differ", k1, k2));
    V shape = batchX;
    shape.push_back(m);
    shape.push_back(n);
    return TensorType(x.dtype, shape);
  }
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
  case OpKind::LogSumExp: {
    if (auto e = floatOnly(in[0]))
      return Error{*e};
    int64_t axis = a.getInt("axis");
    if (auto e = checkAxis(axis, in[0].rank()))
      return Error{*e};
    if (op != OpKind::LogSumExp)
      return in[0];
    TensorType out = in[0];
    if (a.getBool("keepdims"))
      out.shape[axis] = 1;
    else
      out.shape.erase(out.shape.begin() + axis);
    return out;
  }

  case OpKind::OneHot: {
    if (in[0].dtype != DType::I32)
      return err(fmt::format("one_hot: labels must be i32, got {}", in[0].str()));
    auto d = dtypeAttr(op, a, "dtype");
    if (!d)
      return d.error();
    int64_t depth = a.getInt("depth");
    if (depth < 1 || depth > kMaxDim)
      return err(fmt::format("one_hot: depth {} must be in [1, {}]", depth, kMaxDim));
    V shape = in[0].shape;
    shape.push_back(depth);
    return TensorType(*d, shape);
  }
  case OpKind::Gather: {
    const TensorType &table = in[0], &idx = in[1];
    if (table.rank() < 1 || table.dtype == DType::I1)
      return err(fmt::format("gather: the table must be a float or i32 tensor of rank >= 1, got {}", table.str()));
    if (idx.dtype != DType::I32)
      return err(fmt::format("gather: indices must be i32, got {}", idx.str()));
    V shape = idx.shape;
    shape.insert(shape.end(), table.shape.begin() + 1, table.shape.end());
    return TensorType(table.dtype, shape);
  }
  case OpKind::ScatterAdd: {
    const TensorType &upd = in[0], &idx = in[1];
    if (auto e = numeric(upd))
      return Error{*e};
    if (idx.dtype != DType::I32)
      return err(fmt::format("scatter_add: indices must be i32, got {}", idx.str()));
    if (upd.rank() < idx.rank() || !std::equal(idx.shape.begin(), idx.shape.end(), upd.shape.begin()))
      return err(fmt::format("scatter_add: the updates {} must start with the shape of the indices {}",
                             upd.str(), idx.str()));
    int64_t rows = a.getInt("rows");
    if (rows < 1 || rows > kMaxDim)
      return err(fmt::format("scatter_add: rows {} must be in [1, {}]", rows, kMaxDim));
    V shape{rows};
    shape.insert(shape.end(), upd.shape.begin() + idx.rank(), upd.shape.end());
    return TensorType(upd.dtype, shape);
  }

  case OpKind::Conv2D:
  case OpKind::Conv2DGradInput:
  case OpKind::Conv2DGradWeight: {
    V stride = a.getInts("stride"), pad = a.getInts("pad");
    if (auto e = checkPair(op, "stride", stride, 1))
      return Error{*e};
    if (auto e = checkPair(op, "pad", pad, 0))
      return Error{*e};
    // Recover x, w and y of the forward convolution y = conv2d(x, w).
    TensorType x, w, y;
    if (op == OpKind::Conv2D) {
      x = in[0], w = in[1];
    } else if (op == OpKind::Conv2DGradInput) {
      y = in[0], w = in[1];
      V shape = a.getInts("input_shape");
      if (shape.size() != 4)
        return err(fmt::format("{}: input_shape {} must have 4 dimensions", name, formatAttr(shape)));
      if (auto e = checkShapeAttr(op, "input_shape", shape))
        return Error{*e};
      x = TensorType(y.dtype, shape);
    } else {
      x = in[0], y = in[1];
      V kernel = a.getInts("kernel");
      if (auto e = checkPair(op, "kernel", kernel, 1))
        return Error{*e};
      w = TensorType(x.dtype, {y.rank() == 4 ? y.shape[1] : 1, x.rank() == 4 ? x.shape[1] : 1, kernel[0], kernel[1]});
    }
    if (auto e = checkRank4Float(op, x, "the input"))
      return Error{*e};
    if (auto e = checkRank4Float(op, w, "the weight"))
      return Error{*e};
    if (x.dtype != w.dtype || x.shape[1] != w.shape[1])
      return err(fmt::format("cannot convolve {} with weight {}: need one dtype and C = {} input channels "
                             "in both",
                             x.str(), w.str(), x.shape[1]));
    auto out = windowShape(op, x.shape, w.shape[0], {w.shape[2], w.shape[3]}, stride, pad);
    if (!out)
      return out.error();
    TensorType expected(x.dtype, *out);
    if (op == OpKind::Conv2D)
      return expected;
    if (y != expected)
      return err(fmt::format("{}: the output gradient {} differs from the convolution's output type {}",
                             name, y.str(), expected.str()));
    return op == OpKind::Conv2DGradInput ? x : w;
  }
  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2DGrad: {
    if (auto e = checkPoolAttrs(op, a))
      return Error{*e};
    TensorType x = in[0];
    if (op == OpKind::AvgPool2DGrad) {
      V shape = a.getInts("input_shape");
      if (shape.size() != 4)
        return err(fmt::format("{}: input_shape {} must have 4 dimensions", name, formatAttr(shape)));
      if (auto e = checkShapeAttr(op, "input_shape", shape))
        return Error{*e};
      x = TensorType(in[0].dtype, shape);
    }
    if (auto e = checkRank4Float(op, x, "the input"))
      return Error{*e};
    auto out = windowShape(op, x.shape, x.shape[1], a.getInts("kernel"), a.getInts("stride"), a.getInts("pad"));
    if (!out)
      return out.error();
    TensorType expected(x.dtype, *out);
    if (op == OpKind::MaxPool2D || op == OpKind::AvgPool2D)
      return expected;
    const TensorType &dy = op == OpKind::MaxPool2DGrad ? in[1] : in[0];
    if (dy != expected)
      return err(fmt::format("{}: the output gradient {} differs from the pooling's output type {}", name,
                             dy.str(), expected.str()));
    return x;
  }

  case OpKind::BatchMoments:
  case OpKind::BatchNorm:
  case OpKind::BatchNormSums: {
    // x is operand 0 (batch_moments, batch_norm) or 1 (batch_norm_sums, after dy).
    const TensorType &x = in[op == OpKind::BatchNormSums ? 1 : 0];
    if (!isFloat(x.dtype) || x.rank() < 2)
      return err(fmt::format("{}: the input must be a float tensor [N, C, ...], got {}", name, x.str()));
    TensorType moments(x.dtype, {2, x.shape[1]}), channel(x.dtype, {x.shape[1]});
    if (op == OpKind::BatchMoments)
      return moments;
    if (in[op == OpKind::BatchNormSums ? 2 : 1] != moments)
      return err(fmt::format("{}: the moments must be {} for the input {}, got {}", name, moments.str(), x.str(),
                             in[op == OpKind::BatchNormSums ? 2 : 1].str()));
    if (op == OpKind::BatchNormSums) {
      if (in[0] != x)
        return err(fmt::format("{}: the output gradient {} differs from the input {}", name, in[0].str(), x.str()));
      return moments;
    }
    if (in[2] != channel || in[3] != channel)
      return err(fmt::format("{}: gamma {} and beta {} must both be {}", name, in[2].str(), in[3].str(), channel.str()));
    if (!(a.getFloat("eps") > 0))
      return err(fmt::format("{}: eps {} must be positive", name, a.getFloat("eps")));
    return x;
  }

  case OpKind::SoftmaxCrossEntropy:
  case OpKind::MulticlassHinge: {
    const TensorType &s = in[0], &labels = in[1];
    if (!isFloat(s.dtype) || s.rank() < 1)
      return err(fmt::format("{}: the scores must be a float tensor [..., classes], got {}", name, s.str()));
    if (labels.dtype != DType::I32)
      return err(fmt::format("{}: labels must be i32 class indices, got {}", name, labels.str()));
    V rows(s.shape.begin(), s.shape.end() - 1);
    if (labels.shape != rows)
      return err(fmt::format("{}: labels {} must have the shape {} of the scores {} without the class "
                             "dimension",
                             name, labels.str(), shapeStr(rows), s.str()));
    return TensorType(s.dtype, rows);
  }
  case OpKind::BceWithLogits:
    if (auto e = floatOnly(in[0]))
      return Error{*e};
    if (in[0] != in[1])
      return err(fmt::format("bce_with_logits: logits {} and targets {} differ in type", in[0].str(), in[1].str()));
    return in[0];
  }
  return err(fmt::format("{} has no shape rule", name));
}

} // namespace

Result<TensorType> inferType(OpKind op, const std::vector<TensorType> &operands, const Attrs &attrs) {
  int n = numOperands(op);
  if (n >= 0 && operands.size() != static_cast<size_t>(n))
    return Error{fmt::format("{} takes {} operand{}, got {}", mnemonic(op), n, n == 1 ? "" : "s", operands.size())};
  if (n < 0 && operands.empty())
    return Error{fmt::format("{} takes at least one operand", mnemonic(op))};
  for (const TensorType &t : operands)
    if (auto why = badShape(t.shape))
      return Error{fmt::format("{}: operand type {} {}", mnemonic(op), t.str(), *why)};
  Attrs canonical = attrs;
  if (Result<void> ok = canonicalizeAttrs(op, canonical); !ok)
    return std::move(ok).error();
  TypeOrError result = rule(op, operands, canonical);
  if (result)
    if (auto why = badShape(result->shape))
      return Error{fmt::format("{}: the result type {} {}", mnemonic(op), result->str(), *why)};
  return result;
}

} // namespace nnc
