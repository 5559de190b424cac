//===- Interpreter.cpp - The reference interpreter of the graph IR --------------------------===//
//
// One kernel per op in the table kKernels, each written as the plain loop of its definition in
// docs/IR.md, computing in double. evaluate() checks the arguments, runs the kernels in node
// order and rounds f32 values to float after every op unless promoteF32ToF64 is set.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Interpreter.h"

#include "ir/Random.h"
#include "ir/Verifier.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <functional>
#include <limits>

namespace nnc {

Tensor Tensor::filled(const TensorType &type, double value) {
  return {type, std::vector<double>(static_cast<size_t>(type.numElements()), value)};
}

double Tensor::at(const std::vector<int64_t> &index) const {
  int64_t flat = 0;
  for (size_t i = 0; i < index.size(); ++i)
    flat = flat * type.shape[i] + index[i];
  return data[static_cast<size_t>(flat)];
}

namespace {

using V = std::vector<int64_t>;
using Operands = std::vector<const Tensor *>;
/// A kernel fills `out` (type set, data sized and zeroed) from the operands and attributes.
using Kernel = std::function<void(const Operands &, const Attrs &, Tensor &)>;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// The interpreter holds every value in memory; larger tensors are refused, not attempted.
constexpr int64_t kMaxInterpreterElements = int64_t(1) << 28;

/// Two's-complement wrap of an integer-valued double into the i32 range.
double wrapI32(double v) { return static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(v)))); }

int64_t product(V::const_iterator begin, V::const_iterator end) {
  int64_t n = 1;
  for (auto it = begin; it != end; ++it)
    n *= *it;
  return n;
}

/// f(i, c) for every element i of x[N, C, ...] in row-major order, c its index along axis 1.
template <class F> void forEachChannel(const TensorType &x, F f) {
  int64_t C = x.shape[1], inner = product(x.shape.begin() + 2, x.shape.end());
  for (int64_t i = 0, n = x.numElements(); i < n; ++i)
    f(static_cast<size_t>(i), (i / inner) % C);
}

/// The multi-index of row-major position `flat` in `shape`.
V unravel(int64_t flat, const V &shape) {
  V index(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    index[i] = flat % shape[i];
    flat /= shape[i];
  }
  return index;
}

/// The row-major position of `index` in `shape`.
int64_t ravel(const V &index, const V &shape) {
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i)
    flat = flat * shape[i] + index[i];
  return flat;
}

/// An elementwise kernel from a function of the operand elements.
Kernel elementwise(std::function<double(const std::vector<double> &, const Attrs &)> f) {
  return [f](const Operands &in, const Attrs &a, Tensor &out) {
    std::vector<double> xs(in.size());
    for (size_t i = 0; i < out.data.size(); ++i) {
      for (size_t k = 0; k < in.size(); ++k)
        xs[k] = in[k]->data[i];
      out.data[i] = f(xs, a);
    }
  };
}
Kernel unary(double (*f)(double)) {
  return elementwise([f](const std::vector<double> &x, const Attrs &) { return f(x[0]); });
}
/// A binary arithmetic kernel; i32 results wrap around like two's complement.
Kernel arithmetic(double (*f)(double, double)) {
  return [f](const Operands &in, const Attrs &, Tensor &out) {
    bool isInt = out.type.dtype == DType::I32;
    for (size_t i = 0; i < out.data.size(); ++i) {
      double r = f(in[0]->data[i], in[1]->data[i]);
      out.data[i] = isInt ? wrapI32(r) : r;
    }
  };
}

/// Calls f(outer, j, inner) for every element of `shape`, split around dimension `axis` into
/// [outer, shape[axis], inner] with position (outer * shape[axis] + j) * inner + inner.
struct AxisSplit {
  int64_t outer, n, inner;
  AxisSplit(const V &shape, int64_t axis)
      : outer(product(shape.begin(), shape.begin() + axis)), n(shape[axis]),
        inner(product(shape.begin() + axis + 1, shape.end())) {}
  int64_t at(int64_t o, int64_t j, int64_t i) const { return (o * n + j) * inner + i; }
};

/// softmax, log_softmax and logsumexp share the stable scheme: m = max, s = sum e^(x - m).
void normalizeAlongAxis(OpKind op, const Tensor &x, int64_t axis, Tensor &out) {
  AxisSplit sp(x.type.shape, axis);
  for (int64_t o = 0; o < sp.outer; ++o)
    for (int64_t i = 0; i < sp.inner; ++i) {
      double m = -kInf;
      for (int64_t j = 0; j < sp.n; ++j)
        m = std::max(m, x.data[sp.at(o, j, i)]);
      if (m == -kInf)
        m = 0; // all -inf: e^(x - 0) = 0 gives logsumexp = -inf
      double s = 0;
      for (int64_t j = 0; j < sp.n; ++j)
        s += std::exp(x.data[sp.at(o, j, i)] - m);
      if (op == OpKind::LogSumExp) {
        out.data[o * sp.inner + i] = m + std::log(s);
        continue;
      }
      for (int64_t j = 0; j < sp.n; ++j) {
        double v = x.data[sp.at(o, j, i)] - m;
        out.data[sp.at(o, j, i)] = op == OpKind::Softmax ? std::exp(v) / s : v - std::log(s);
      }
    }
}

void reduce(OpKind op, const Tensor &x, const Attrs &a, Tensor &out) {
  V axes = a.getInts("axes");
  const V &shape = x.type.shape;
  V outShape; // the output shape with reduced dimensions kept as 1
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
    outShape.push_back(reduced ? 1 : shape[i]);
    count *= reduced ? shape[i] : 1;
  }
  std::fill(out.data.begin(), out.data.end(), op == OpKind::ReduceMax ? -kInf : 0.0);
  for (int64_t flat = 0; flat < static_cast<int64_t>(x.data.size()); ++flat) {
    V idx = unravel(flat, shape);
    for (int64_t axis : axes)
      idx[axis] = 0;
    double &acc = out.data[ravel(idx, outShape)];
    double v = x.data[flat];
    acc = op == OpKind::ReduceMax ? std::fmax(acc, v) : acc + v;
  }
  if (op == OpKind::ReduceMean)
    for (double &v : out.data)
      v /= static_cast<double>(count);
  if (out.type.dtype == DType::I32)
    for (double &v : out.data)
      v = wrapI32(v);
}

void matmul(const Tensor &a, const Tensor &b, const Attrs &attrs, Tensor &out) {
  bool ta = attrs.getBool("transpose_a"), tb = attrs.getBool("transpose_b");
  int64_t r = a.type.rank();
  int64_t aRows = a.type.shape[r - 2], aCols = a.type.shape[r - 1];
  int64_t bRows = b.type.shape[r - 2], bCols = b.type.shape[r - 1];
  int64_t m = ta ? aCols : aRows, k = ta ? aRows : aCols, n = tb ? bRows : bCols;
  int64_t batches = product(a.type.shape.begin(), a.type.shape.end() - 2);
  for (int64_t bi = 0; bi < batches; ++bi) {
    const double *A = a.data.data() + bi * aRows * aCols, *B = b.data.data() + bi * bRows * bCols;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += (ta ? A[p * aCols + i] : A[i * aCols + p]) * (tb ? B[j * bCols + p] : B[p * bCols + j]);
        out.data[(bi * m + i) * n + j] = s;
      }
  }
}

/// The geometry of a 2-D window op over an NCHW input: y[n,c,oy,ox] looks at
/// x[n, ., oy*sh - ph + ky, ox*sw - pw + kx] for ky < kh, kx < kw.
struct Window {
  int64_t N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw;
  Window(const V &in, const V &out, const V &kernel, const V &stride, const V &pad)
      : N(in[0]), C(in[1]), H(in[2]), W(in[3]), OH(out[2]), OW(out[3]), kh(kernel[0]), kw(kernel[1]),
        sh(stride[0]), sw(stride[1]), ph(pad[0]), pw(pad[1]) {}
  /// Calls f(iy, ix, ky, kx) for the in-bounds input positions of output (oy, ox).
  template <typename F> void forEach(int64_t oy, int64_t ox, F f) const {
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx) {
        int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
          f(iy, ix, ky, kx);
      }
  }
};

/// The convolution y = conv2d(x, w) as a sum of products; `visit(xi, wi, yi)` receives the
/// flat positions of every multiplied triple, so the forward and both adjoints share it.
template <typename F> void convolve(const V &x, const V &w, const V &y, const Attrs &a, F visit) {
  Window win(x, y, {w[2], w[3]}, a.getInts("stride"), a.getInts("pad"));
  int64_t O = w[0];
  for (int64_t n = 0; n < win.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < win.OH; ++oy)
        for (int64_t ox = 0; ox < win.OW; ++ox)
          for (int64_t c = 0; c < win.C; ++c)
            win.forEach(oy, ox, [&](int64_t iy, int64_t ix, int64_t ky, int64_t kx) {
              visit(((n * win.C + c) * win.H + iy) * win.W + ix, ((o * win.C + c) * win.kh + ky) * win.kw + kx,
                    ((n * O + o) * win.OH + oy) * win.OW + ox);
            });
}

/// Calls f(xi, yi) for every pooling window element: xi the flat input position, yi the
/// flat output position; windows are visited in output order, elements in row-major order.
template <typename F> void pool(const V &x, const V &y, const Attrs &a, F f) {
  Window win(x, y, a.getInts("kernel"), a.getInts("stride"), a.getInts("pad"));
  for (int64_t nc = 0; nc < win.N * win.C; ++nc)
    for (int64_t oy = 0; oy < win.OH; ++oy)
      for (int64_t ox = 0; ox < win.OW; ++ox)
        win.forEach(oy, ox, [&](int64_t iy, int64_t ix, int64_t, int64_t) {
          f((nc * win.H + iy) * win.W + ix, (nc * win.OH + oy) * win.OW + ox);
        });
}

/// Per row of scores [..., C] with an i32 label: f(row pointer, C, label) or NaN when the label
/// is out of range.
template <typename F> void perLabeledRow(const Tensor &s, const Tensor &labels, Tensor &out, F f) {
  int64_t C = s.type.shape.back();
  for (size_t r = 0; r < out.data.size(); ++r) {
    double label = labels.data[r];
    out.data[r] = label >= 0 && label < static_cast<double>(C) ? f(&s.data[r * C], C, static_cast<int64_t>(label)) : kNaN;
  }
}

double castTo(DType dtype, double v) {
  switch (dtype) {
  case DType::F32:
  case DType::F64: return v;
  case DType::I1: return v != 0 ? 1 : 0;
  case DType::I32:
    if (std::isnan(v))
      return 0;
    return std::clamp(std::trunc(v), -2147483648.0, 2147483647.0);
  }
  return v;
}

double compare(CmpPredicate p, double a, double b) {
  switch (p) {
  case CmpPredicate::LT: return a < b;
  case CmpPredicate::LE: return a <= b;
  case CmpPredicate::GT: return a > b;
  case CmpPredicate::GE: return a >= b;
  case CmpPredicate::EQ: return a == b;
  case CmpPredicate::NE: return a != b;
  }
  return 0;
}

struct KernelEntry {
  OpKind op;
  Kernel kernel;
};

// The kernel table: one entry per op, in the order of Ops.def.
const std::vector<KernelEntry> &kernelTable() {
  using K = OpKind;
  using Xs = const std::vector<double> &;
  static const std::vector<KernelEntry> table = {
      {K::Neg, [](const Operands &in, const Attrs &, Tensor &out) {
         for (size_t i = 0; i < out.data.size(); ++i)
           out.data[i] = out.type.dtype == DType::I32 ? wrapI32(-in[0]->data[i]) : -in[0]->data[i];
       }},
      {K::Exp, unary([](double x) { return std::exp(x); })},
      {K::Log, unary([](double x) { return std::log(x); })},
      {K::Log1p, unary([](double x) { return std::log1p(x); })},
      {K::Sqrt, unary([](double x) { return std::sqrt(x); })},
      {K::Rsqrt, unary([](double x) { return 1.0 / std::sqrt(x); })},
      {K::Abs, [](const Operands &in, const Attrs &, Tensor &out) {
         for (size_t i = 0; i < out.data.size(); ++i)
           out.data[i] = out.type.dtype == DType::I32 ? wrapI32(std::fabs(in[0]->data[i])) : std::fabs(in[0]->data[i]);
       }},
      {K::Sign, unary([](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; })},
      {K::Square, [](const Operands &in, const Attrs &, Tensor &out) {
         for (size_t i = 0; i < out.data.size(); ++i) {
           double x = in[0]->data[i];
           out.data[i] = out.type.dtype == DType::I32 ? wrapI32(static_cast<double>(static_cast<int64_t>(x) * static_cast<int64_t>(x))) : x * x;
         }
       }},
      {K::Sigmoid, unary([](double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); })},
      {K::Tanh, unary([](double x) { return std::tanh(x); })},
      {K::Relu, unary([](double x) { return x > 0 ? x : 0.0; })},
      {K::LeakyRelu, elementwise([](Xs x, const Attrs &a) { return x[0] > 0 ? x[0] : a.getFloat("alpha") * x[0]; })},
      {K::Softplus, unary([](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); })},
      {K::PowC, elementwise([](Xs x, const Attrs &a) { return std::pow(x[0], a.getFloat("exponent")); })},
      {K::Cast, [](const Operands &in, const Attrs &, Tensor &out) {
         for (size_t i = 0; i < out.data.size(); ++i)
           out.data[i] = castTo(out.type.dtype, in[0]->data[i]);
       }},

      {K::Add, arithmetic([](double a, double b) { return a + b; })},
      {K::Sub, arithmetic([](double a, double b) { return a - b; })},
      {K::Mul, [](const Operands &in, const Attrs &, Tensor &out) {
         for (size_t i = 0; i < out.data.size(); ++i) {
           double a = in[0]->data[i], b = in[1]->data[i];
           out.data[i] = out.type.dtype == DType::I32
                             ? wrapI32(static_cast<double>(static_cast<int64_t>(a) * static_cast<int64_t>(b)))
                             : a * b;
         }
       }},
      {K::Div, arithmetic([](double a, double b) { return a / b; })},
      {K::Max, arithmetic([](double a, double b) { return std::fmax(a, b); })},
      {K::Min, arithmetic([](double a, double b) { return std::fmin(a, b); })},
      {K::Cmp, elementwise([](Xs x, const Attrs &a) {
         return compare(*parseCmpPredicate(a.getString("predicate")), x[0], x[1]);
       })},
      {K::Select, elementwise([](Xs x, const Attrs &) { return x[0] != 0 ? x[1] : x[2]; })},

      {K::Constant, [](const Operands &, const Attrs &a, Tensor &out) {
         std::fill(out.data.begin(), out.data.end(), a.getFloat("value"));
       }},
      {K::Iota, [](const Operands &, const Attrs &a, Tensor &out) {
         for (size_t i = 0; i < out.data.size(); ++i)
           out.data[i] = static_cast<double>(unravel(static_cast<int64_t>(i), out.type.shape)[a.getInt("axis")]);
       }},

      {K::Broadcast, [](const Operands &in, const Attrs &a, Tensor &out) {
         V dims = a.getInts("dims");
         const V &inShape = in[0]->type.shape;
         for (size_t i = 0; i < out.data.size(); ++i) {
           V o = unravel(static_cast<int64_t>(i), out.type.shape), x(inShape.size());
           for (size_t d = 0; d < inShape.size(); ++d)
             x[d] = inShape[d] == 1 ? 0 : o[dims[d]];
           out.data[i] = in[0]->data[ravel(x, inShape)];
         }
       }},
      {K::Reshape, [](const Operands &in, const Attrs &, Tensor &out) { out.data = in[0]->data; }},
      {K::Transpose, [](const Operands &in, const Attrs &a, Tensor &out) {
         V perm = a.getInts("perm");
         for (size_t i = 0; i < out.data.size(); ++i) {
           V o = unravel(static_cast<int64_t>(i), out.type.shape), x(perm.size());
           for (size_t d = 0; d < perm.size(); ++d)
             x[perm[d]] = o[d];
           out.data[i] = in[0]->data[ravel(x, in[0]->type.shape)];
         }
       }},
      {K::Slice, [](const Operands &in, const Attrs &a, Tensor &out) {
         V starts = a.getInts("starts");
         for (size_t i = 0; i < out.data.size(); ++i) {
           V x = unravel(static_cast<int64_t>(i), out.type.shape);
           for (size_t d = 0; d < x.size(); ++d)
             x[d] += starts[d];
           out.data[i] = in[0]->data[ravel(x, in[0]->type.shape)];
         }
       }},
      {K::Pad, [](const Operands &in, const Attrs &a, Tensor &out) {
         V low = a.getInts("low");
         for (size_t i = 0; i < in[0]->data.size(); ++i) {
           V o = unravel(static_cast<int64_t>(i), in[0]->type.shape);
           for (size_t d = 0; d < o.size(); ++d)
             o[d] += low[d];
           out.data[ravel(o, out.type.shape)] = in[0]->data[i];
         }
       }},
      {K::Concat, [](const Operands &in, const Attrs &a, Tensor &out) {
         int64_t axis = a.getInt("axis"), offset = 0;
         for (const Tensor *t : in) {
           for (size_t i = 0; i < t->data.size(); ++i) {
             V o = unravel(static_cast<int64_t>(i), t->type.shape);
             o[axis] += offset;
             out.data[ravel(o, out.type.shape)] = t->data[i];
           }
           offset += t->type.shape[axis];
         }
       }},

      {K::ReduceSum, [](const Operands &in, const Attrs &a, Tensor &out) { reduce(K::ReduceSum, *in[0], a, out); }},
      {K::ReduceMean, [](const Operands &in, const Attrs &a, Tensor &out) { reduce(K::ReduceMean, *in[0], a, out); }},
      {K::ReduceMax, [](const Operands &in, const Attrs &a, Tensor &out) { reduce(K::ReduceMax, *in[0], a, out); }},

      {K::MatMul, [](const Operands &in, const Attrs &a, Tensor &out) { matmul(*in[0], *in[1], a, out); }},
      {K::Softmax, [](const Operands &in, const Attrs &a, Tensor &out) {
         normalizeAlongAxis(K::Softmax, *in[0], a.getInt("axis"), out);
       }},
      {K::LogSoftmax, [](const Operands &in, const Attrs &a, Tensor &out) {
         normalizeAlongAxis(K::LogSoftmax, *in[0], a.getInt("axis"), out);
       }},
      {K::LogSumExp, [](const Operands &in, const Attrs &a, Tensor &out) {
         normalizeAlongAxis(K::LogSumExp, *in[0], a.getInt("axis"), out);
       }},

      {K::OneHot, [](const Operands &in, const Attrs &a, Tensor &out) {
         int64_t depth = a.getInt("depth");
         for (size_t i = 0; i < in[0]->data.size(); ++i)
           for (int64_t d = 0; d < depth; ++d)
             out.data[i * depth + d] = in[0]->data[i] == static_cast<double>(d) ? 1 : 0;
       }},
      {K::Gather, [](const Operands &in, const Attrs &, Tensor &out) {
         const Tensor &table = *in[0], &idx = *in[1];
         int64_t rows = table.type.shape[0], rowSize = product(table.type.shape.begin() + 1, table.type.shape.end());
         for (size_t i = 0; i < idx.data.size(); ++i) {
           double r = idx.data[i];
           if (r >= 0 && r < static_cast<double>(rows)) // other rows read as zeros
             std::copy_n(&table.data[static_cast<size_t>(r) * rowSize], rowSize, &out.data[i * rowSize]);
         }
       }},
      {K::ScatterAdd, [](const Operands &in, const Attrs &a, Tensor &out) {
         const Tensor &upd = *in[0], &idx = *in[1];
         int64_t rows = a.getInt("rows"), rowSize = product(upd.type.shape.begin() + idx.type.rank(), upd.type.shape.end());
         for (size_t i = 0; i < idx.data.size(); ++i) {
           double r = idx.data[i];
           if (r >= 0 && r < static_cast<double>(rows)) // other rows are dropped
             for (int64_t k = 0; k < rowSize; ++k)
               out.data[static_cast<size_t>(r) * rowSize + k] += upd.data[i * rowSize + k];
         }
       }},

      {K::RandomUniform, [](const Operands &in, const Attrs &a, Tensor &out) {
         auto seed = static_cast<uint64_t>(a.getInt("seed"));
         auto counter = static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(in[0]->data[0])));
         for (size_t i = 0; i < out.data.size(); ++i)
           out.data[i] = randomUniform(seed, counter, i);
       }},
      {K::RandomBernoulli, [](const Operands &in, const Attrs &a, Tensor &out) {
         auto seed = static_cast<uint64_t>(a.getInt("seed"));
         auto counter = static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(in[0]->data[0])));
         for (size_t i = 0; i < out.data.size(); ++i)
           out.data[i] = randomBernoulli(seed, counter, i, a.getFloat("p"));
       }},

      {K::Conv2D, [](const Operands &in, const Attrs &a, Tensor &out) {
         convolve(in[0]->type.shape, in[1]->type.shape, out.type.shape, a,
                  [&](int64_t xi, int64_t wi, int64_t yi) { out.data[yi] += in[0]->data[xi] * in[1]->data[wi]; });
       }},
      {K::Conv2DGradInput, [](const Operands &in, const Attrs &a, Tensor &out) {
         // dx[xi] = sum over the products x[xi] * w[wi] that formed y[yi] of dy[yi] * w[wi]
         convolve(out.type.shape, in[1]->type.shape, in[0]->type.shape, a,
                  [&](int64_t xi, int64_t wi, int64_t yi) { out.data[xi] += in[0]->data[yi] * in[1]->data[wi]; });
       }},
      {K::Conv2DGradWeight, [](const Operands &in, const Attrs &a, Tensor &out) {
         // dw[wi] = sum of dy[yi] * x[xi]
         convolve(in[0]->type.shape, out.type.shape, in[1]->type.shape, a,
                  [&](int64_t xi, int64_t wi, int64_t yi) { out.data[wi] += in[1]->data[yi] * in[0]->data[xi]; });
       }},
      {K::MaxPool2D, [](const Operands &in, const Attrs &a, Tensor &out) {
         std::fill(out.data.begin(), out.data.end(), -kInf);
         pool(in[0]->type.shape, out.type.shape, a,
              [&](int64_t xi, int64_t yi) { out.data[yi] = std::fmax(out.data[yi], in[0]->data[xi]); });
       }},
      {K::MaxPool2DGrad, [](const Operands &in, const Attrs &a, Tensor &out) {
         // Route dy of each window to the first element (row-major) holding the window's max.
         const Tensor &x = *in[0], &dy = *in[1];
         std::vector<int64_t> argmax(dy.data.size(), -1);
         pool(x.type.shape, dy.type.shape, a, [&](int64_t xi, int64_t yi) {
           if (argmax[yi] < 0 || x.data[xi] > x.data[argmax[yi]])
             argmax[yi] = xi;
         });
         for (size_t yi = 0; yi < dy.data.size(); ++yi)
           out.data[argmax[yi]] += dy.data[yi];
       }},
      {K::AvgPool2D, [](const Operands &in, const Attrs &a, Tensor &out) {
         V k = a.getInts("kernel");
         double area = static_cast<double>(k[0] * k[1]);
         pool(in[0]->type.shape, out.type.shape, a, [&](int64_t xi, int64_t yi) { out.data[yi] += in[0]->data[xi] / area; });
       }},
      {K::AvgPool2DGrad, [](const Operands &in, const Attrs &a, Tensor &out) {
         V k = a.getInts("kernel");
         double area = static_cast<double>(k[0] * k[1]);
         pool(out.type.shape, in[0]->type.shape, a, [&](int64_t xi, int64_t yi) { out.data[xi] += in[0]->data[yi] / area; });
       }},

      {K::BatchMoments, [](const Operands &in, const Attrs &, Tensor &out) {
         const Tensor &x = *in[0];
         int64_t C = x.type.shape[1];
         double count = static_cast<double>(x.data.size()) / static_cast<double>(C);
         forEachChannel(x.type, [&](size_t i, int64_t c) { out.data[c] += x.data[i] / count; });
         forEachChannel(x.type, [&](size_t i, int64_t c) {
           double d = x.data[i] - out.data[c];
           out.data[C + c] += d * d / count;
         });
       }},
      {K::BatchNorm, [](const Operands &in, const Attrs &a, Tensor &out) {
         const Tensor &x = *in[0], &m = *in[1], &gamma = *in[2], &beta = *in[3];
         int64_t C = x.type.shape[1];
         double eps = a.getFloat("eps");
         forEachChannel(x.type, [&](size_t i, int64_t c) {
           out.data[i] = (x.data[i] - m.data[c]) / std::sqrt(m.data[C + c] + eps) * gamma.data[c] + beta.data[c];
         });
       }},
      {K::BatchNormSums, [](const Operands &in, const Attrs &, Tensor &out) {
         const Tensor &dy = *in[0], &x = *in[1], &m = *in[2];
         int64_t C = x.type.shape[1];
         forEachChannel(x.type, [&](size_t i, int64_t c) {
           out.data[c] += dy.data[i];
           out.data[C + c] += dy.data[i] * (x.data[i] - m.data[c]);
         });
       }},

      {K::SoftmaxCrossEntropy, [](const Operands &in, const Attrs &, Tensor &out) {
         perLabeledRow(*in[0], *in[1], out, [](const double *s, int64_t C, int64_t y) {
           double m = *std::max_element(s, s + C), sum = 0;
           for (int64_t j = 0; j < C; ++j)
             sum += std::exp(s[j] - m);
           return m + std::log(sum) - s[y];
         });
       }},
      {K::BceWithLogits, elementwise([](Xs v, const Attrs &) {
         double x = v[0], t = v[1];
         return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x)));
       })},
      {K::MulticlassHinge, [](const Operands &in, const Attrs &, Tensor &out) {
         perLabeledRow(*in[0], *in[1], out, [](const double *s, int64_t C, int64_t y) {
           double sum = 0;
           for (int64_t j = 0; j < C; ++j)
             if (j != y)
               sum += std::max(0.0, 1 + s[j] - s[y]);
           return sum;
         });
       }},
  };
  return table;
}

/// The kernel of `op`, or nullptr.
const Kernel *findKernel(OpKind op) {
  static const std::vector<const Kernel *> byOp = [] {
    std::vector<const Kernel *> v(kNumOpKinds, nullptr);
    for (const KernelEntry &e : kernelTable())
      v[static_cast<size_t>(e.op)] = &e.kernel;
    return v;
  }();
  return byOp[static_cast<size_t>(op)];
}

/// Rounds the elements of an f32 tensor to float precision.
void roundToF32(Tensor &t) {
  for (double &v : t.data)
    v = static_cast<double>(static_cast<float>(v));
}

/// Checks that a tensor is a well-formed value of `type`.
std::optional<std::string> checkTensor(const Tensor &t, const TensorType &type, std::string_view what) {
  if (!(t.type == type))
    return fmt::format("{} has type {}, expected {}", what, t.type.str(), type.str());
  if (type.numElements() > kMaxInterpreterElements)
    return fmt::format("{} of type {} is too large for the interpreter", what, type.str());
  if (static_cast<int64_t>(t.data.size()) != type.numElements())
    return fmt::format("{} has {} elements, its type {} needs {}", what, t.data.size(), type.str(), type.numElements());
  for (double v : t.data) {
    if (type.dtype == DType::I32 && !(v == std::trunc(v) && v >= -2147483648.0 && v <= 2147483647.0))
      return fmt::format("{} of type {} holds {}, which is not an i32", what, type.str(), v);
    if (type.dtype == DType::I1 && v != 0 && v != 1)
      return fmt::format("{} of type {} holds {}, which is not 0 or 1", what, type.str(), v);
  }
  return std::nullopt;
}

/// Runs the kernel of `op` for a result of `type`; an error is located at `loc`.
Result<Tensor> runKernel(OpKind op, const Operands &in, const Attrs &attrs, const TensorType &type,
                         const InterpreterOptions &options, SourceLoc loc = {}) {
  const Kernel *kernel = findKernel(op);
  if (!kernel)
    return Error::at(loc, fmt::format("the interpreter has no kernel for {}", mnemonic(op)));
  if (type.numElements() > kMaxInterpreterElements)
    return Error::at(loc, fmt::format("{} result {} is too large for the interpreter", mnemonic(op), type.str()));
  Tensor out = Tensor::filled(type, 0.0);
  (*kernel)(in, attrs, out);
  if (type.dtype == DType::F32 && !options.promoteF32ToF64)
    roundToF32(out);
  return out;
}

} // namespace

bool hasKernel(OpKind op) { return findKernel(op) != nullptr; }

Result<Tensor> evaluateOp(OpKind op, const std::vector<Tensor> &operands, Attrs attrs,
                          const InterpreterOptions &options) {
  std::vector<TensorType> types;
  Operands in;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (auto e = checkTensor(operands[i], operands[i].type, fmt::format("operand {}", i)))
      return Error{*e};
    types.push_back(operands[i].type);
    in.push_back(&operands[i]);
  }
  if (Result<void> canonical = canonicalizeAttrs(op, attrs); !canonical)
    return std::move(canonical).error();
  Result<TensorType> type = inferType(op, types, attrs);
  if (!type)
    return std::move(type).error();
  return runKernel(op, in, attrs, *type, options);
}

Result<EvalResult> evaluate(const Function &f, const std::map<std::string, Tensor> &args,
                            const InterpreterOptions &options) {
  if (Result<void> wellFormed = verify(f); !wellFormed)
    return Error{fmt::format("cannot evaluate a malformed function: {}",
                             wellFormed.error().diagnostics.front().message)};
  std::vector<Tensor> values(f.numValueIds());
  for (const auto &[name, tensor] : args)
    if (!f.findArgument(name))
      return Error{fmt::format("@{} has no argument %{}", f.name(), name)};
  for (const Argument &a : f.arguments()) {
    auto it = args.find(a.name);
    if (it == args.end())
      return Error{fmt::format("argument %{} of @{} is missing", a.name, f.name())};
    if (auto e = checkTensor(it->second, a.type, fmt::format("argument %{}", a.name)))
      return Error::at(a.loc, *e);
    values[a.value.index] = it->second;
    if (a.type.dtype == DType::F32 && !options.promoteF32ToF64)
      roundToF32(values[a.value.index]);
  }
  for (const Node &n : f.nodes()) {
    Operands in;
    for (ValueId v : n.operands)
      in.push_back(&values[v.index]);
    Result<Tensor> out = runKernel(n.op, in, n.attrs, n.type, options, n.loc);
    if (!out)
      return std::move(out).error();
    values[n.result.index] = std::move(*out);
  }
  EvalResult result;
  for (const FunctionResult &r : f.results())
    result.results[r.name] = values[r.value.index];
  for (const StateUpdate &u : f.updates())
    result.updates[f.argument(u.state).name] = values[u.value.index];
  if (options.keepAllValues)
    result.values = std::move(values);
  return result;
}

} // namespace nnc
