//===- ir_shape_rules_test.cpp - Type/shape rules of every op and their errors --------------===//
//
// The accepted cases come from ir_samples.h (checked in ir_op_table_test.cpp); here each op
// also gets at least one rejected case whose message is checked, plus results that need more
// than one sample (transposed and batched matmul, strided convolution, keepdims, ...).
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include <catch2/catch.hpp>
#include <set>

using namespace nnc;
using namespace nnc::test;

namespace {
using S = std::string;
using V = std::vector<int64_t>;

struct ErrorCase {
  OpKind op;
  std::vector<TensorType> operands;
  Attrs attrs;
  std::string message; ///< a substring of the expected error
};

const std::vector<ErrorCase> &errorCases() {
  using K = OpKind;
  const TensorType m = f32({2, 3});
  static const std::vector<ErrorCase> cases = {
      {K::Neg, {i1({2})}, {}, "neg expects a float or i32 operand, got i1[2]"},
      {K::Exp, {i32({2})}, {}, "exp expects a float operand, got i32[2]"},
      {K::Log, {i32({2})}, {}, "log expects a float operand"},
      {K::Log1p, {i32({2})}, {}, "log1p expects a float operand"},
      {K::Sqrt, {i32({2})}, {}, "sqrt expects a float operand"},
      {K::Rsqrt, {i1({2})}, {}, "rsqrt expects a float operand"},
      {K::Abs, {i1({2})}, {}, "abs expects a float or i32 operand"},
      {K::Sign, {i1({2})}, {}, "sign expects a float or i32 operand"},
      {K::Square, {i1({2})}, {}, "square expects a float or i32 operand"},
      {K::Sigmoid, {i32({2})}, {}, "sigmoid expects a float operand"},
      {K::Tanh, {i32({2})}, {}, "tanh expects a float operand"},
      {K::Relu, {i32({2})}, {}, "relu expects a float operand"},
      {K::LeakyRelu, {m}, {{"alpha", S("x")}}, "attribute 'alpha' of leaky_relu must be a float, got \"x\""},
      {K::Softplus, {i32({2})}, {}, "softplus expects a float operand"},
      {K::PowC, {m}, {}, "powc requires attribute 'exponent'"},
      {K::Cast, {m}, {{"dtype", S("f16")}}, "cast: attribute 'dtype' = \"f16\" is not a dtype"},
      {K::Add, {m, f32({3})}, {}, "cannot add f32[2,3] and f32[3]: operand types differ"},
      {K::Sub, {m, f64({2, 3})}, {}, "cannot sub f32[2,3] and f64[2,3]"},
      {K::Mul, {i1({2}), i1({2})}, {}, "mul expects a float or i32 operand"},
      {K::Div, {i32({2}), i32({2})}, {}, "div expects a float operand, got i32[2]"},
      {K::Max, {m}, {}, "max takes 2 operands, got 1"},
      {K::Min, {m, m, m}, {}, "min takes 2 operands, got 3"},
      {K::Cmp, {m, m}, {{"predicate", S("less")}}, "cmp: predicate \"less\" is not one of"},
      {K::Cmp, {i1({2}), i1({2})}, {{"predicate", S("lt")}}, "i1 operands can only be compared with eq or ne"},
      {K::Select, {m, m, m}, {}, "select: the mask must be i1, got f32[2,3]"},
      {K::Select, {i1({3}), m, m}, {}, "select: mask i1[3] and alternatives f32[2,3] differ in shape"},
      {K::Constant, {}, {{"value", 1.5}, {"dtype", S("i32")}, {"shape", V{2}}}, "constant: value 1.5 is not an i32"},
      {K::Constant, {}, {{"value", 1e20}, {"dtype", S("i32")}, {"shape", V{2}}}, "constant: value 1e+20 is not an i32"},
      {K::Constant, {}, {{"value", 2.0}, {"dtype", S("i1")}, {"shape", V{2}}}, "constant: value 2.0 is not an i1"},
      {K::Constant, {}, {{"value", 1.0}, {"shape", V{2, 0}}}, "attribute 'shape' = [2,0] has a dimension outside"},
      {K::Constant, {}, {{"value", 1.0}, {"shape", V{1 << 30, 1 << 30}}}, "has more than"},
      {K::Constant, {}, {{"shape", V{2}}}, "constant requires attribute 'value'"},
      {K::Iota, {}, {{"axis", int64_t(2)}, {"shape", V{2, 3}}}, "iota: axis 2 is out of range for rank 2"},
      {K::Broadcast, {f32({3})}, {{"shape", V{2, 4}}, {"dims", V{1}}}, "cannot broadcast f32[3] to [2,4]"},
      {K::Broadcast, {f32({3})}, {{"shape", V{3, 3}}, {"dims", V{0, 1}}}, "must name one result dimension for each"},
      {K::Reshape, {m}, {{"shape", V{4}}}, "cannot reshape f32[2,3] (6 elements) to [4] (4 elements)"},
      {K::Transpose, {m}, {{"perm", V{0, 0}}}, "transpose: perm [0, 0] is not a permutation"},
      {K::Slice, {m}, {{"starts", V{1, 2}}, {"sizes", V{2, 2}}}, "slice: starts [1, 2] with sizes [2, 2] exceeds f32[2,3]"},
      {K::Pad, {m}, {{"low", V{-1, 0}}, {"high", V{0, 0}}}, "pad: amounts low [-1, 0]"},
      {K::Concat, {m, f32({3, 3})}, {{"axis", int64_t(1)}}, "cannot concatenate f32[2,3] and f32[3,3] along axis 1"},
      {K::Concat, {}, {{"axis", int64_t(0)}}, "concat takes at least one operand"},
      {K::ReduceSum, {m}, {{"axes", V{1, 0}}}, "reduce_sum: axes [1, 0] must be increasing"},
      {K::ReduceMean, {i32({2})}, {{"axes", V{0}}}, "reduce_mean expects a float operand"},
      {K::ReduceMax, {m}, {{"axes", V{2}}}, "reduce_max: axis 2 is out of range for rank 2"},
      {K::MatMul, {f32({16, 4}), f32({16, 3})}, {},
       "cannot matrix-multiply f32[16,4] by f32[16,3]: inner dimensions 4 and 16 differ"},
      {K::MatMul, {f32({2, 3, 4}), f32({3, 4, 5})}, {}, "batch dimensions [2] and [3] differ"},
      {K::MatMul, {f32({4}), f32({4, 3})}, {}, "both operands need rank 2 or more"},
      {K::MatMul, {f32({2, 2}), f32({2, 2})}, {{"transpose_a", int64_t(1)}}, "attribute 'transpose_a' of matmul must be a bool"},
      {K::Softmax, {m}, {{"axis", int64_t(2)}}, "softmax: axis 2 is out of range for rank 2"},
      {K::LogSoftmax, {m}, {{"axis", int64_t(-1)}}, "log_softmax: axis -1 is out of range"},
      {K::LogSumExp, {i32({3})}, {{"axis", int64_t(0)}}, "logsumexp expects a float operand"},
      {K::OneHot, {f32({3})}, {{"depth", int64_t(4)}}, "one_hot: labels must be i32, got f32[3]"},
      {K::OneHot, {i32({3})}, {{"depth", int64_t(0)}}, "one_hot: depth 0 must be in [1,"},
      {K::Gather, {f32({4, 2}), f32({3})}, {}, "gather: indices must be i32, got f32[3]"},
      {K::ScatterAdd, {f32({2, 2}), i32({3})}, {{"rows", int64_t(4)}}, "must start with the shape of the indices i32[3]"},
      {K::RandomUniform, {f32({})}, {{"seed", int64_t(1)}, {"shape", V{2}}}, "the counter operand must be i32[], got f32[]"},
      {K::RandomBernoulli, {i32({})}, {{"seed", int64_t(1)}, {"p", 1.5}, {"shape", V{2}}}, "probability p = 1.5 is not in [0, 1]"},
      {K::Conv2D, {f32({1, 2, 4, 4}), f32({2, 1, 3, 3})}, {}, "cannot convolve f32[1,2,4,4] with weight f32[2,1,3,3]"},
      {K::Conv2D, {f32({1, 1, 2, 2}), f32({1, 1, 3, 3})}, {}, "kernel 3x3 does not fit into the padded input 2x2"},
      {K::Conv2D, {f32({1, 4, 4}), f32({1, 1, 3, 3})}, {}, "the input must be a float tensor of rank 4 (NCHW)"},
      {K::Conv2DGradInput, {f32({1, 2, 3, 3}), f32({2, 1, 3, 3})}, {{"input_shape", V{1, 1, 4, 4}}},
       "the output gradient f32[1,2,3,3] differs from the convolution's output type f32[1,2,2,2]"},
      {K::Conv2DGradWeight, {f32({1, 1, 4, 4}), f32({1, 2, 2, 2})}, {{"kernel", V{3}}}, "attribute 'kernel' = [3] must be 2 numbers"},
      {K::MaxPool2D, {f32({1, 1, 4, 4})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}, {"pad", V{2, 2}}},
       "padding [2, 2] must be at most half the kernel [2, 2]"},
      {K::MaxPool2D, {f32({1, 1, 4, 4})}, {{"kernel", V{2, 2}}}, "maxpool2d requires attribute 'stride'"},
      {K::MaxPool2DGrad, {f32({1, 1, 4, 4}), f32({1, 1, 3, 3})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}},
       "the output gradient f32[1,1,3,3] differs from the pooling's output type f32[1,1,2,2]"},
      {K::AvgPool2D, {f32({1, 4, 4})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}}, "must be a float tensor of rank 4"},
      {K::AvgPool2DGrad, {f32({1, 1, 2, 2})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}, {"input_shape", V{1, 1, 4}}},
       "input_shape [1, 1, 4] must have 4 dimensions"},
      {K::BatchMoments, {f32({6})}, {}, "the input must be a float tensor [N, C, ...], got f32[6]"},
      {K::BatchNorm, {f32({2, 3, 2}), f32({3, 2}), f32({3}), f32({3})}, {{"eps", 0.001}},
       "the moments must be f32[2,3] for the input f32[2,3,2], got f32[3,2]"},
      {K::BatchNorm, {f32({2, 3}), f32({2, 3}), f32({3}), f32({2})}, {{"eps", 0.001}},
       "gamma f32[3] and beta f32[2] must both be f32[3]"},
      {K::BatchNorm, {f32({2, 3}), f32({2, 3}), f32({3}), f32({3})}, {{"eps", 0.0}}, "eps 0 must be positive"},
      {K::BatchNormSums, {f32({2, 4}), f32({2, 3}), f32({2, 3})}, {},
       "the output gradient f32[2,4] differs from the input f32[2,3]"},
      {K::SoftmaxCrossEntropy, {f32({3, 4}), i32({4})}, {}, "labels i32[4] must have the shape [3] of the scores f32[3,4]"},
      {K::BceWithLogits, {m, f32({3, 2})}, {}, "logits f32[2,3] and targets f32[3,2] differ in type"},
      {K::MulticlassHinge, {f32({3, 4}), f32({3})}, {}, "labels must be i32 class indices, got f32[3]"},
      {K::Add, {m, m}, {{"foo", int64_t(1)}}, "add has no attribute 'foo'"},
  };
  return cases;
}

TensorType typeOf(OpKind op, std::vector<TensorType> operands, Attrs attrs = {}) {
  auto t = inferType(op, operands, attrs);
  if (!t)
    FAIL("unexpected error: " << t.message());
  return *t;
}
} // namespace

TEST_CASE("every op rejects bad operands or attributes with a readable message", "[ir]") {
  std::set<OpKind> covered;
  for (const ErrorCase &c : errorCases()) {
    INFO("op " << mnemonic(c.op) << ", expecting: " << c.message);
    auto t = inferType(c.op, c.operands, c.attrs);
    REQUIRE(!t.ok());
    CHECK_THAT(t.message(), Catch::Contains(c.message));
    covered.insert(c.op);
  }
  for (OpKind op : allOpKinds())
    if (!covered.count(op))
      FAIL("op '" << mnemonic(op) << "' has no rejected case in ir_shape_rules_test.cpp");
}

TEST_CASE("shape rules beyond the samples", "[ir]") {
  using K = OpKind;
  // matmul with transposes and batch dimensions
  CHECK(typeOf(K::MatMul, {f32({3, 2}), f32({3, 4})}, {{"transpose_a", true}}) == f32({2, 4}));
  CHECK(typeOf(K::MatMul, {f32({2, 3}), f32({4, 3})}, {{"transpose_b", true}}) == f32({2, 4}));
  CHECK(typeOf(K::MatMul, {f64({5, 2, 3}), f64({5, 3, 4})}) == f64({5, 2, 4}));
  // strided, padded convolution and pooling: out = (n + 2p - k) / s + 1
  CHECK(typeOf(K::Conv2D, {f32({8, 3, 28, 28}), f32({16, 3, 3, 3})}, {{"pad", V{1, 1}}}) == f32({8, 16, 28, 28}));
  CHECK(typeOf(K::Conv2D, {f32({1, 1, 5, 7}), f32({1, 1, 3, 3})}, {{"stride", V{2, 2}}}) == f32({1, 1, 2, 3}));
  CHECK(typeOf(K::MaxPool2D, {f32({1, 1, 5, 5})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}}) == f32({1, 1, 2, 2}));
  // reductions, logsumexp keepdims, scalars
  CHECK(typeOf(K::ReduceSum, {f32({2, 3, 4})}, {{"axes", V{0, 2}}, {"keepdims", true}}) == f32({1, 3, 1}));
  CHECK(typeOf(K::ReduceSum, {f32({2})}, {{"axes", V{}}}) == f32({2}));
  CHECK(typeOf(K::LogSumExp, {f32({2, 3})}, {{"axis", int64_t(0)}, {"keepdims", true}}) == f32({1, 3}));
  CHECK(typeOf(K::Add, {f32({}), f32({})}) == f32({}));
  CHECK(typeOf(K::Add, {i32({}), i32({})}) == i32({}));
  CHECK(typeOf(K::Cmp, {i1({2}), i1({2})}, {{"predicate", S("ne")}}) == i1({2}));
  // gather of rank-3 tables with rank-2 indices; losses over [batch, time, classes]
  CHECK(typeOf(K::Gather, {f32({96, 4, 2}), i32({8, 5})}) == f32({8, 5, 4, 2}));
  CHECK(typeOf(K::ScatterAdd, {f32({8, 5, 4}), i32({8, 5})}, {{"rows", int64_t(96)}}) == f32({96, 4}));
  CHECK(typeOf(K::SoftmaxCrossEntropy, {f32({8, 32, 96}), i32({8, 32})}) == f32({8, 32}));
  // integers given for float attributes are accepted (canonicalized to floats)
  CHECK(typeOf(K::Constant, {}, {{"value", int64_t(2)}, {"dtype", S("i32")}, {"shape", V{}}}) == i32({}));
  CHECK(typeOf(K::RandomBernoulli, {i32({})}, {{"seed", int64_t(1)}, {"p", 0.9}, {"dtype", S("i1")}, {"shape", V{4}}}) == i1({4}));
}

TEST_CASE("canonicalizeAttrs fills defaults and converts integers for float attributes", "[ir]") {
  Attrs a{{"alpha", int64_t(1)}};
  CHECK(canonicalizeAttrs(OpKind::LeakyRelu, a).ok());
  CHECK(std::holds_alternative<double>(*a.find("alpha")));
  Attrs conv;
  CHECK(canonicalizeAttrs(OpKind::Conv2D, conv).ok());
  CHECK(conv.getInts("stride") == V{1, 1});
  CHECK(conv.getInts("pad") == V{0, 0});
  Attrs bad{{"kernel", V{2, 2}}};
  Result<void> missing = canonicalizeAttrs(OpKind::MaxPool2D, bad);
  REQUIRE(!missing);
  CHECK(missing.message() == "maxpool2d requires attribute 'stride'");
}

TEST_CASE("types and attributes print as the textual IR writes them", "[ir]") {
  CHECK(f32({16, 3}).str() == "f32[16,3]");
  CHECK(f32({}).str() == "f32[]");
  CHECK(i1({16}).str() == "i1[16]");
  CHECK(f32({16, 3}).numElements() == 48);
  CHECK(f32({}).numElements() == 1);
  CHECK(TensorType(DType::F32, {int64_t(1) << 40, int64_t(1) << 40}).numElements() == INT64_MAX);
  CHECK(parseDType("f64") == DType::F64);
  CHECK(!parseDType("f16"));
  CHECK(formatAttr(Attr(1.0)) == "1.0");
  CHECK(formatAttr(Attr(0.1)) == "0.1");
  CHECK(formatAttr(Attr(1e-5)) == "1e-05");
  CHECK(formatAttr(Attr(-std::numeric_limits<double>::infinity())) == "-inf");
  CHECK(formatAttr(Attr(int64_t(-3))) == "-3");
  CHECK(formatAttr(Attr(S("a\"b\\\n"))) == "\"a\\\"b\\\\\\x0a\"");
  CHECK(formatAttr(Attr(V{1, -2})) == "[1, -2]");
  Attrs a{{"b", true}, {"a", int64_t(2)}};
  CHECK(a.str() == "{a = 2, b = true}");
  CHECK(a.getInt("a") == 2);
  CHECK(a.getInt("b", 7) == 7); // wrong kind gives the default
  CHECK(a.getFloat("a") == 2.0);
  CHECK(a.getString("missing", "d") == "d");
}
