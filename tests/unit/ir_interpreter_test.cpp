//===- ir_interpreter_test.cpp - The reference interpreter against hand-computed values -----===//
//
// Small tensors whose results can be checked by hand for every op, the adjoint identities
// <op(x), dy> = <x, op_grad(dy)> of the gradient ops, f32 rounding versus promotion to f64,
// the random-number scheme, and the errors for bad arguments.
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/Random.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace nnc;
using namespace nnc::test;

namespace {
using S = std::string;
using V = std::vector<int64_t>;
using D = std::vector<double>;

Tensor run(OpKind op, std::vector<Tensor> operands, Attrs attrs = {}, InterpreterOptions options = {}) {
  auto r = evaluateOp(op, operands, std::move(attrs), options);
  if (!r)
    FAIL("evaluateOp(" << mnemonic(op) << ") failed: " << r.message());
  return *r;
}

void checkClose(const Tensor &t, const D &expected, double tol = 1e-6) {
  REQUIRE(t.data.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": " << t.data[i] << " vs " << expected[i]);
    CHECK(std::fabs(t.data[i] - expected[i]) <= tol * std::max(1.0, std::fabs(expected[i])));
  }
}

/// Reproducible pseudo-random data in [-1, 1).
Tensor noise(const TensorType &t, uint64_t seed) {
  Tensor x = Tensor::filled(t, 0);
  for (size_t i = 0; i < x.data.size(); ++i)
    x.data[i] = 2 * randomUniform(seed, 0, i) - 1;
  return x;
}

double dot(const Tensor &a, const Tensor &b) {
  REQUIRE(a.data.size() == b.data.size());
  double s = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    s += a.data[i] * b.data[i];
  return s;
}

const InterpreterOptions f64Exact{true, false};
} // namespace

TEST_CASE("interpreter: elementwise unary ops at hand-checked points", "[ir]") {
  using K = OpKind;
  struct Case {
    OpKind op;
    D in, out;
    Attrs attrs;
  };
  const double ln2 = std::log(2.0);
  std::vector<Case> cases = {
      {K::Neg, {2, -0.5}, {-2, 0.5}, {}},
      {K::Exp, {0, 1}, {1, std::exp(1.0)}, {}},
      {K::Log, {1, std::exp(2.0)}, {0, 2}, {}},
      {K::Log1p, {0, 1e-10}, {0, 1e-10}, {}},
      {K::Sqrt, {4, 2.25}, {2, 1.5}, {}},
      {K::Rsqrt, {4, 0.25}, {0.5, 2}, {}},
      {K::Abs, {-3, 2}, {3, 2}, {}},
      {K::Sign, {-2, 0, 5}, {-1, 0, 1}, {}},
      {K::Square, {3, -0.5}, {9, 0.25}, {}},
      {K::Sigmoid, {0, -1000, 1000}, {0.5, 0, 1}, {}},
      {K::Tanh, {0, 1}, {0, std::tanh(1.0)}, {}},
      {K::Relu, {-1, 2}, {0, 2}, {}},
      {K::LeakyRelu, {-2, 3}, {-0.2, 3}, {{"alpha", 0.1}}},
      {K::Softplus, {0, 1000, -1000}, {ln2, 1000, 0}, {}},
      {K::PowC, {2, 9}, {8, 729}, {{"exponent", 3.0}}},
  };
  for (const Case &c : cases) {
    INFO("op " << mnemonic(c.op));
    checkClose(run(c.op, {{f64({static_cast<int64_t>(c.in.size())}), c.in}}, c.attrs), c.out, 1e-12);
  }
}

TEST_CASE("interpreter: binary ops, compare, select, cast and i32 wrap-around", "[ir]") {
  using K = OpKind;
  Tensor a{f64({3}), {1, -2, 6}}, b{f64({3}), {4, 5, 3}};
  checkClose(run(K::Add, {a, b}), {5, 3, 9});
  checkClose(run(K::Sub, {a, b}), {-3, -7, 3});
  checkClose(run(K::Mul, {a, b}), {4, -10, 18});
  checkClose(run(K::Div, {a, b}), {0.25, -0.4, 2});
  checkClose(run(K::Max, {a, b}), {4, 5, 6});
  checkClose(run(K::Min, {a, b}), {1, -2, 3});
  checkClose(run(K::Cmp, {a, b}, {{"predicate", S("lt")}}), {1, 1, 0});
  checkClose(run(K::Cmp, {a, b}, {{"predicate", S("ge")}}), {0, 0, 1});
  checkClose(run(K::Cmp, {a, a}, {{"predicate", S("eq")}}), {1, 1, 1});
  checkClose(run(K::Select, {{i1({3}), {1, 0, 1}}, a, b}), {1, 5, 6});
  Tensor big{i32({2}), {2147483647, -2147483648.0}};
  checkClose(run(K::Add, {big, {i32({2}), {1, -1}}}), {-2147483648.0, 2147483647});
  checkClose(run(K::Mul, {big, {i32({2}), {2, 1}}}), {-2, -2147483648.0});
  checkClose(run(K::Neg, {big}), {-2147483647, -2147483648.0});
  Tensor reals{f32({5}), {2.7, -2.7, 0, 1e20, -0.5}};
  checkClose(run(K::Cast, {reals}, {{"dtype", S("i32")}}), {2, -2, 0, 2147483647, 0});
  checkClose(run(K::Cast, {reals}, {{"dtype", S("i1")}}), {1, 1, 0, 1, 1});
  checkClose(run(K::Cast, {{i1({2}), {0, 1}}}, {{"dtype", S("f64")}}), {0, 1});
}

TEST_CASE("interpreter: constant, iota, broadcast, reshape, transpose, slice, pad, concat", "[ir]") {
  using K = OpKind;
  checkClose(run(K::Constant, {}, {{"value", 0.5}, {"shape", V{2}}}), {0.5, 0.5});
  checkClose(run(K::Iota, {}, {{"axis", int64_t(0)}, {"dtype", S("i32")}, {"shape", V{2, 2}}}), {0, 0, 1, 1});
  Tensor row{f32({3}), {1, 2, 3}}, col{f32({2, 1}), {10, 20}};
  checkClose(run(K::Broadcast, {row}, {{"shape", V{2, 3}}, {"dims", V{1}}}), {1, 2, 3, 1, 2, 3});
  checkClose(run(K::Broadcast, {col}, {{"shape", V{2, 3}}, {"dims", V{0, 1}}}), {10, 10, 10, 20, 20, 20});
  checkClose(run(K::Broadcast, {{f32({2}), {1, 2}}}, {{"shape", V{2, 2}}, {"dims", V{0}}}), {1, 1, 2, 2});
  Tensor m{f32({2, 3}), {1, 2, 3, 4, 5, 6}};
  Tensor r = run(K::Reshape, {m}, {{"shape", V{3, 2}}});
  CHECK(r.type == f32({3, 2}));
  checkClose(r, {1, 2, 3, 4, 5, 6});
  checkClose(run(K::Transpose, {m}, {{"perm", V{1, 0}}}), {1, 4, 2, 5, 3, 6});
  checkClose(run(K::Slice, {m}, {{"starts", V{0, 1}}, {"sizes", V{2, 2}}}), {2, 3, 5, 6});
  checkClose(run(K::Pad, {m}, {{"low", V{1, 0}}, {"high", V{0, 1}}}), {0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0});
  checkClose(run(K::Concat, {m, col}, {{"axis", int64_t(1)}}), {1, 2, 3, 10, 4, 5, 6, 20});
  checkClose(run(K::Concat, {m, m}, {{"axis", int64_t(0)}}), {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("interpreter: reductions, matmul, softmax family", "[ir]") {
  using K = OpKind;
  Tensor m{f64({2, 3}), {1, 2, 3, 4, 5, 6}};
  checkClose(run(K::ReduceSum, {m}, {{"axes", V{0}}}), {5, 7, 9});
  checkClose(run(K::ReduceMean, {m}, {{"axes", V{1}}, {"keepdims", true}}), {2, 5});
  checkClose(run(K::ReduceMax, {m}, {{"axes", V{0, 1}}}), {6});
  // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
  Tensor b{f64({3, 2}), {7, 8, 9, 10, 11, 12}};
  checkClose(run(K::MatMul, {m, b}), {58, 64, 139, 154});
  Tensor mT{f64({3, 2}), {1, 4, 2, 5, 3, 6}}, bT{f64({2, 3}), {7, 9, 11, 8, 10, 12}};
  checkClose(run(K::MatMul, {mT, bT}, {{"transpose_a", true}, {"transpose_b", true}}), {58, 64, 139, 154});
  Tensor batched{f64({2, 1, 2}), {1, 2, 3, 4}}, eye{f64({2, 2, 2}), {1, 0, 0, 1, 0, 1, 1, 0}};
  checkClose(run(K::MatMul, {batched, eye}), {1, 2, 4, 3});
  Tensor x{f64({3}), {1, 2, 3}};
  checkClose(run(K::Softmax, {x}, {{"axis", int64_t(0)}}), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, 1e-12);
  checkClose(run(K::LogSumExp, {x}, {{"axis", int64_t(0)}}), {3.40760596444438}, 1e-12);
  checkClose(run(K::LogSoftmax, {x}, {{"axis", int64_t(0)}}), {1 - 3.40760596444438, 2 - 3.40760596444438, 3 - 3.40760596444438}, 1e-12);
  // stable for huge logits, along a non-last axis
  Tensor huge{f32({2, 2}), {1000, -1000, 1000, -1000}};
  checkClose(run(K::Softmax, {huge}, {{"axis", int64_t(0)}}), {0.5, 0.5, 0.5, 0.5});
  checkClose(run(K::LogSumExp, {huge}, {{"axis", int64_t(1)}}), {1000, 1000});
}

TEST_CASE("interpreter: one_hot, gather, scatter_add", "[ir]") {
  using K = OpKind;
  checkClose(run(K::OneHot, {{i32({3}), {1, 0, 3}}}, {{"depth", int64_t(3)}}), {0, 1, 0, 1, 0, 0, 0, 0, 0});
  Tensor table{f32({3, 2}), {1, 2, 3, 4, 5, 6}};
  checkClose(run(K::Gather, {table, {i32({3}), {2, 0, 5}}}), {5, 6, 1, 2, 0, 0}); // row 5 does not exist: zeros
  Tensor updates{f32({3, 2}), {1, 2, 3, 4, 5, 6}};
  checkClose(run(K::ScatterAdd, {updates, {i32({3}), {2, 0, 2}}}, {{"rows", int64_t(3)}}), {3, 4, 0, 0, 6, 8});
  // scatter_add is the adjoint of gather: <gather(T, i), U> = <T, scatter_add(U, i)>
  Tensor T = noise(f64({5, 3}), 1), U = noise(f64({4, 2, 3}), 2), idx{i32({4, 2}), {0, 4, 4, 1, 2, 2, 3, 0}};
  CHECK(dot(run(K::Gather, {T, idx}), U) == Approx(dot(T, run(K::ScatterAdd, {U, idx}, {{"rows", int64_t(5)}}))));
}

TEST_CASE("interpreter: conv2d on 4x4 with a 3x3 kernel, and its adjoints", "[ir]") {
  using K = OpKind;
  Tensor x{f32({1, 1, 4, 4}), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
  Tensor ones = Tensor::filled(f32({1, 1, 3, 3}), 1);
  checkClose(run(K::Conv2D, {x, ones}), {45, 54, 81, 90});
  Tensor padded = run(K::Conv2D, {x, ones}, {{"pad", V{1, 1}}});
  CHECK(padded.type == f32({1, 1, 4, 4}));
  CHECK(padded.data[0] == 10); // 0 + 1 + 4 + 5
  CHECK(padded.data[5] == 45);
  checkClose(run(K::Conv2D, {x, ones}, {{"stride", V{2, 2}}, {"pad", V{1, 1}}}), {10, 24, 51, 90});
  Tensor dy = Tensor::filled(f32({1, 1, 2, 2}), 1);
  // each input position gets the number of windows covering it
  checkClose(run(K::Conv2DGradInput, {dy, ones}, {{"input_shape", V{1, 1, 4, 4}}}),
             {1, 2, 2, 1, 2, 4, 4, 2, 2, 4, 4, 2, 1, 2, 2, 1});
  // dw[ky,kx] = sum over the 2x2 outputs of x[oy+ky, ox+kx] = 10 + 16 ky + 4 kx
  checkClose(run(K::Conv2DGradWeight, {x, dy}, {{"kernel", V{3, 3}}}), {10, 14, 18, 26, 30, 34, 42, 46, 50});

  // adjoint identities with several channels, stride and padding, in f64
  Attrs a{{"stride", V{2, 1}}, {"pad", V{1, 2}}};
  Tensor X = noise(f64({2, 3, 5, 6}), 3), W = noise(f64({4, 3, 3, 2}), 4);
  Tensor Y = run(K::Conv2D, {X, W}, a);
  Tensor DY = noise(Y.type, 5);
  Attrs gi = a, gw = a;
  gi.set("input_shape", X.type.shape);
  gw.set("kernel", V{3, 2});
  CHECK(dot(Y, DY) == Approx(dot(X, run(K::Conv2DGradInput, {DY, W}, gi))));
  CHECK(dot(Y, DY) == Approx(dot(W, run(K::Conv2DGradWeight, {X, DY}, gw))));
}

TEST_CASE("interpreter: max and average pooling with their gradients", "[ir]") {
  using K = OpKind;
  Tensor x{f32({1, 1, 4, 4}), {1, 2, 5, 3, 4, 0, 1, 1, 7, 8, 9, 9, 6, 0, 2, 9}};
  Attrs a{{"kernel", V{2, 2}}, {"stride", V{2, 2}}};
  checkClose(run(K::MaxPool2D, {x}, a), {4, 5, 8, 9});
  Tensor dy{f32({1, 1, 2, 2}), {1, 2, 3, 4}};
  // each window's dy goes to its first maximum: 4 at (1,0), 5 at (0,2), 8 at (2,1), 9 at (2,2)
  checkClose(run(K::MaxPool2DGrad, {x, dy}, a), {0, 0, 2, 0, 1, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0});
  checkClose(run(K::AvgPool2D, {x}, a), {1.75, 2.5, 5.25, 7.25});
  Attrs ag = a;
  ag.set("input_shape", V{1, 1, 4, 4});
  checkClose(run(K::AvgPool2DGrad, {dy}, ag), {.25, .25, .5, .5, .25, .25, .5, .5, .75, .75, 1, 1, .75, .75, 1, 1});
  // padding: -inf for max (ignored), zeros counted in the average
  Attrs p{{"kernel", V{3, 3}}, {"stride", V{1, 1}}, {"pad", V{1, 1}}};
  CHECK(run(K::MaxPool2D, {x}, p).data[0] == 4);
  CHECK(run(K::AvgPool2D, {x}, p).data[0] == Approx(7.0 / 9));
  // adjoint identity of avgpool2d_grad with overlapping windows
  Tensor X = noise(f64({2, 2, 5, 5}), 6);
  Attrs o{{"kernel", V{3, 3}}, {"stride", V{2, 2}}, {"pad", V{1, 1}}};
  Tensor Y = run(K::AvgPool2D, {X}, o), DY = noise(Y.type, 7);
  Attrs og = o;
  og.set("input_shape", X.type.shape);
  CHECK(dot(Y, DY) == Approx(dot(X, run(K::AvgPool2DGrad, {DY}, og))));
}

TEST_CASE("interpreter: batch normalization's moments, normalization and sums", "[ir]") {
  using K = OpKind;
  // x [N=2, C=2, L=2]: channel 0 holds 1, 3, 5, 7 (mean 4, variance 5), channel 1 holds 2, 2, 4, 4
  // (mean 3, variance 1).
  Tensor x{f32({2, 2, 2}), {1, 3, 2, 2, 5, 7, 4, 4}};
  Tensor m = run(K::BatchMoments, {x});
  checkClose(m, {4, 3, 5, 1});
  Tensor gamma{f32({2}), {2, 1}}, beta{f32({2}), {1, 0}};
  Attrs a{{"eps", 4.0}}; // sqrt(5 + 4) = 3, sqrt(1 + 4) = sqrt 5
  double r5 = 1 / std::sqrt(5.0);
  checkClose(run(K::BatchNorm, {x, m, gamma, beta}, a),
             {1 - 2, 1 - 2.0 / 3, -r5, -r5, 1 + 2.0 / 3, 1 + 2, r5, r5});
  Tensor dy{f32({2, 2, 2}), {1, 0, 2, 1, 0, 1, 0, 3}};
  // channel 0: Σ dy = 2, Σ dy (x - 4) = -3 + 3 = 0; channel 1: Σ dy = 6, Σ dy (x - 3) = -2 - 1 + 3 = 0
  checkClose(run(K::BatchNormSums, {dy, x, m}), {2, 6, 0, 0});
  Tensor dy2{f32({2, 2, 2}), {0, 1, 0, 0, 2, 0, 1, 0}};
  // channel 0: Σ dy = 3, Σ dy (x - 4) = -1 + 2 = 1; channel 1: Σ dy = 1, Σ dy (x - 3) = 1
  checkClose(run(K::BatchNormSums, {dy2, x, m}), {3, 1, 1, 1});
}

TEST_CASE("interpreter: losses are finite for extreme logits", "[ir]") {
  using K = OpKind;
  Tensor logits{f32({2, 2}), {1000, -1000, -1000, 1000}}, labels{i32({2}), {0, 0}};
  checkClose(run(K::SoftmaxCrossEntropy, {logits, labels}), {0, 2000});
  Tensor small{f64({1, 3}), {1, 2, 3}};
  checkClose(run(K::SoftmaxCrossEntropy, {small, {i32({1}), {2}}}), {3.40760596444438 - 3}, 1e-12);
  CHECK(std::isnan(run(K::SoftmaxCrossEntropy, {small, {i32({1}), {3}}}).data[0])); // label out of range
  Tensor x{f32({3}), {0, 1000, -1000}}, t{f32({3}), {1, 0, 1}};
  checkClose(run(K::BceWithLogits, {x, t}), {std::log(2.0), 1000, 1000});
  Tensor s{f64({2, 3}), {1, 2, 3, 1, 2, 3}};
  checkClose(run(K::MulticlassHinge, {s, {i32({2}), {0, 2}}}), {5, 0}); // (1+2-1)+(1+3-1); 0+0
}

TEST_CASE("interpreter: counter-based random numbers", "[ir]") {
  // golden values: codegen must reproduce Random.h bit for bit
  CHECK(randomBits(0, 0, 0) == 804341063u);
  CHECK(randomBits(7, 1, 2) == 1504424778u);
  CHECK(randomBits(42, 3, 1000) == 4234002432u);
  CHECK(uniformFromBits(0xffffffffu) == 1.0 - 1.0 / 16777216.0);
  using K = OpKind;
  Attrs a{{"seed", int64_t(7)}, {"shape", V{10000}}};
  Tensor u1 = run(K::RandomUniform, {{i32({}), {1}}}, a), u1again = run(K::RandomUniform, {{i32({}), {1}}}, a);
  Tensor u2 = run(K::RandomUniform, {{i32({}), {2}}}, a);
  CHECK(u1 == u1again);
  CHECK(u1.data != u2.data);
  CHECK(u1.data[2] == randomUniform(7, 1, 2));
  double mean = 0;
  for (double v : u1.data) {
    CHECK((v >= 0 && v < 1));
    mean += v / 10000;
  }
  CHECK(mean == Approx(0.5).margin(0.02));
  Attrs b = a;
  b.set("p", 0.3);
  Tensor bern = run(K::RandomBernoulli, {{i32({}), {-1}}}, b); // counter -1 enters as 0xffffffff
  double ones = 0;
  for (size_t i = 0; i < bern.data.size(); ++i) {
    CHECK(bern.data[i] == (randomUniform(7, 0xffffffffu, i) < 0.3 ? 1.0 : 0.0));
    ones += bern.data[i];
  }
  CHECK(ones / 10000 == Approx(0.3).margin(0.02));
}

TEST_CASE("interpreter: f32 rounds after every op, promoteF32ToF64 does not", "[ir]") {
  Module m;
  Function &f = m.addFunction("f");
  Builder b(f);
  ValueId x = f.addArgument("x", f32({}), ArgRole::Input);
  f.addResult("y", b.sub(b.add(x, b.scalar(1e-10)), x));
  std::map<std::string, Tensor> args{{"x", Tensor::scalar(1.0)}};
  auto r32 = *evaluate(f, args);
  auto r64 = *evaluate(f, args, {true, false});
  CHECK(r32.results.at("y").data[0] == 0); // 1 + 1e-10 rounds to 1 in f32
  CHECK(r64.results.at("y").data[0] == Approx(1e-10).epsilon(1e-6));
  // inputs are rounded as well
  auto r = *evaluate(f, {{"x", Tensor::scalar(0.1)}}, {false, true});
  CHECK(r.values[x.index].data[0] == static_cast<double>(0.1f));
}

TEST_CASE("interpreter: evaluates a train step with results and state updates", "[ir]") {
  // one SGD step of linear regression: w <- w - 0.1 * x^T (x w - t) / N
  Module m;
  Function &f = m.addFunction("train_step");
  Builder b(f);
  ValueId x = f.addArgument("x", f64({2, 2}), ArgRole::Input);
  ValueId t = f.addArgument("t", f64({2, 1}), ArgRole::Target);
  ValueId w = f.addArgument("w", f64({2, 1}), ArgRole::State, true, "zeros");
  ValueId err = b.sub(b.matmul(x, w), t);
  f.addResult("loss", b.reduceMean(b.square(err), {0, 1}));
  ValueId grad = b.div(b.matmul(x, err, true), b.constant(2, f64({2, 1})));
  f.addUpdate(w, b.sub(w, b.mul(b.constant(0.1, f64({2, 1})), grad)));
  auto r = evaluate(f, {{"x", {f64({2, 2}), {1, 0, 0, 1}}}, {"t", {f64({2, 1}), {1, 2}}}, {"w", {f64({2, 1}), {0, 0}}}});
  REQUIRE(r.ok());
  auto &res = *r;
  checkClose(res.results.at("loss"), {2.5});
  checkClose(res.updates.at("w"), {0.05, 0.1});
}

TEST_CASE("interpreter: bad arguments are errors, not crashes", "[ir]") {
  Module m;
  Function &f = m.addFunction("f");
  Builder b(f);
  ValueId x = f.addArgument("x", f32({2}), ArgRole::Input);
  ValueId y = f.addArgument("y", i32({2}), ArgRole::Target);
  f.addResult("z", b.gather(b.reshape(x, {2, 1}), y));
  auto error = [&](std::map<std::string, Tensor> args) {
    auto r = evaluate(f, args);
    REQUIRE(!r.ok());
    return r.message();
  };
  Tensor goodX{f32({2}), {1, 2}}, goodY{i32({2}), {0, 1}};
  CHECK(evaluate(f, {{"x", goodX}, {"y", goodY}}).ok());
  CHECK_THAT(error({{"x", goodX}}), Catch::Contains("argument %y of @f is missing"));
  CHECK_THAT(error({{"x", {f32({3}), {1, 2, 3}}}, {"y", goodY}}), Catch::Contains("argument %x has type f32[3], expected f32[2]"));
  CHECK_THAT(error({{"x", {f32({2}), {1}}}, {"y", goodY}}), Catch::Contains("argument %x has 1 elements"));
  CHECK_THAT(error({{"x", goodX}, {"y", {i32({2}), {0, 0.5}}}}), Catch::Contains("which is not an i32"));
  CHECK_THAT(error({{"x", goodX}, {"y", goodY}, {"q", goodX}}), Catch::Contains("@f has no argument %q"));
  auto e = evaluateOp(OpKind::MatMul, {goodX, goodX});
  REQUIRE(!e.ok());
  CHECK_THAT(e.message(), Catch::Contains("cannot matrix-multiply"));
  // a malformed function is refused rather than evaluated
  Module broken;
  Function &g = broken.addFunction("g");
  ValueId gx = g.addArgument("x", f32({2}), ArgRole::Input);
  g.appendNode(Node{OpKind::Exp, {gx}, {}, f32({3}), {}, {}});
  auto r = evaluate(g, {{"x", goodX}});
  REQUIRE(!r.ok());
  CHECK_THAT(r.message(), Catch::Contains("malformed"));
}
