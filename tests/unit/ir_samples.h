//===- ir_samples.h - One sample instance of every IR op, for table-driven tests ------------===//
//
// A well-typed instance of each op: operand types, attributes and the result type the shape
// rule must give. The op-table test fails for any op of Ops.def without a sample here, and the
// samples feed the round-trip, verifier and interpreter tests, so a new op is covered by
// adding one line.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Ops.h"

#include <optional>
#include <vector>

namespace nnc::test {

struct OpSample {
  OpKind op;
  std::vector<TensorType> operands;
  Attrs attrs;
  TensorType result;
};

inline TensorType f32(std::vector<int64_t> s) { return {DType::F32, std::move(s)}; }
inline TensorType f64(std::vector<int64_t> s) { return {DType::F64, std::move(s)}; }
inline TensorType i32(std::vector<int64_t> s) { return {DType::I32, std::move(s)}; }
inline TensorType i1(std::vector<int64_t> s) { return {DType::I1, std::move(s)}; }

inline const std::vector<OpSample> &opSamples() {
  using K = OpKind;
  using S = std::string;
  using V = std::vector<int64_t>;
  const TensorType m = f32({2, 3});
  static const std::vector<OpSample> samples = {
      {K::Neg, {m}, {}, m},
      {K::Exp, {m}, {}, m},
      {K::Log, {m}, {}, m},
      {K::Log1p, {m}, {}, m},
      {K::Sqrt, {m}, {}, m},
      {K::Rsqrt, {m}, {}, m},
      {K::Abs, {m}, {}, m},
      {K::Sign, {m}, {}, m},
      {K::Square, {m}, {}, m},
      {K::Sigmoid, {m}, {}, m},
      {K::Tanh, {m}, {}, m},
      {K::Relu, {m}, {}, m},
      {K::LeakyRelu, {m}, {{"alpha", 0.1}}, m},
      {K::Softplus, {m}, {}, m},
      {K::PowC, {m}, {{"exponent", 2.5}}, m},
      {K::Cast, {m}, {{"dtype", S("f64")}}, f64({2, 3})},
      {K::Add, {m, m}, {}, m},
      {K::Sub, {m, m}, {}, m},
      {K::Mul, {m, m}, {}, m},
      {K::Div, {m, m}, {}, m},
      {K::Max, {m, m}, {}, m},
      {K::Min, {m, m}, {}, m},
      {K::Cmp, {m, m}, {{"predicate", S("lt")}}, i1({2, 3})},
      {K::Select, {i1({2, 3}), m, m}, {}, m},
      {K::Constant, {}, {{"value", 1.5}, {"shape", V{2, 2}}}, f32({2, 2})},
      {K::Iota, {}, {{"axis", int64_t(1)}, {"dtype", S("i32")}, {"shape", V{2, 3}}}, i32({2, 3})},
      {K::Broadcast, {f32({3})}, {{"shape", V{2, 3}}, {"dims", V{1}}}, m},
      {K::Reshape, {m}, {{"shape", V{3, 2}}}, f32({3, 2})},
      {K::Transpose, {m}, {{"perm", V{1, 0}}}, f32({3, 2})},
      {K::Slice, {m}, {{"starts", V{0, 1}}, {"sizes", V{2, 2}}}, f32({2, 2})},
      {K::Pad, {m}, {{"low", V{1, 0}}, {"high", V{0, 2}}}, f32({3, 5})},
      {K::Concat, {m, f32({2, 1})}, {{"axis", int64_t(1)}}, f32({2, 4})},
      {K::ReduceSum, {m}, {{"axes", V{1}}}, f32({2})},
      {K::ReduceMean, {m}, {{"axes", V{1}}, {"keepdims", true}}, f32({2, 1})},
      {K::ReduceMax, {m}, {{"axes", V{0, 1}}}, f32({})},
      {K::MatMul, {m, f32({3, 4})}, {}, f32({2, 4})},
      {K::Softmax, {m}, {{"axis", int64_t(1)}}, m},
      {K::LogSoftmax, {m}, {{"axis", int64_t(1)}}, m},
      {K::LogSumExp, {m}, {{"axis", int64_t(1)}}, f32({2})},
      {K::OneHot, {i32({3})}, {{"depth", int64_t(4)}}, f32({3, 4})},
      {K::Gather, {f32({4, 2}), i32({3})}, {}, f32({3, 2})},
      {K::ScatterAdd, {f32({3, 2}), i32({3})}, {{"rows", int64_t(4)}}, f32({4, 2})},
      {K::RandomUniform, {i32({})}, {{"seed", int64_t(7)}, {"shape", V{2, 3}}}, m},
      {K::RandomBernoulli, {i32({})}, {{"seed", int64_t(7)}, {"p", 0.5}, {"shape", V{2, 3}}}, m},
      {K::Conv2D, {f32({1, 1, 4, 4}), f32({2, 1, 3, 3})}, {}, f32({1, 2, 2, 2})},
      {K::Conv2DGradInput, {f32({1, 2, 2, 2}), f32({2, 1, 3, 3})}, {{"input_shape", V{1, 1, 4, 4}}}, f32({1, 1, 4, 4})},
      {K::Conv2DGradWeight, {f32({1, 1, 4, 4}), f32({1, 2, 2, 2})}, {{"kernel", V{3, 3}}}, f32({2, 1, 3, 3})},
      {K::MaxPool2D, {f32({1, 1, 4, 4})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}}, f32({1, 1, 2, 2})},
      {K::MaxPool2DGrad, {f32({1, 1, 4, 4}), f32({1, 1, 2, 2})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}}, f32({1, 1, 4, 4})},
      {K::AvgPool2D, {f32({1, 1, 4, 4})}, {{"kernel", V{3, 3}}, {"stride", V{1, 1}}, {"pad", V{1, 1}}}, f32({1, 1, 4, 4})},
      {K::AvgPool2DGrad, {f32({1, 1, 2, 2})}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}, {"input_shape", V{1, 1, 4, 4}}}, f32({1, 1, 4, 4})},
      {K::BatchMoments, {f32({2, 3, 2})}, {}, f32({2, 3})},
      {K::BatchNorm, {f32({2, 3, 2}), f32({2, 3}), f32({3}), f32({3})}, {{"eps", 0.001}}, f32({2, 3, 2})},
      {K::BatchNormSums, {f32({2, 3, 2}), f32({2, 3, 2}), f32({2, 3})}, {}, f32({2, 3})},
      {K::SoftmaxCrossEntropy, {f32({3, 4}), i32({3})}, {}, f32({3})},
      {K::BceWithLogits, {m, m}, {}, m},
      {K::MulticlassHinge, {f32({3, 4}), i32({3})}, {}, f32({3})},
  };
  return samples;
}

/// The sample of `op`, or nullopt.
inline std::optional<OpSample> sampleOf(OpKind op) {
  for (const OpSample &s : opSamples())
    if (s.op == op)
      return s;
  return std::nullopt;
}

} // namespace nnc::test
