//===- Activations.cpp - The activations a matrix product's epilogue can apply --------------===//
//
// The rows of the activation table: each derivative as the IR the training graph contains.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Activations.h"

namespace nnc {

namespace {

// d/dx s(x) = s(1 - s)
ValueId sigmoidDerivative(Builder &b, ValueId y) { return b.mul(y, b.sub(b.constantLike(y, 1), y)); }

// d/dx tanh x = 1 - tanh² x
ValueId tanhDerivative(Builder &b, ValueId y) { return b.sub(b.constantLike(y, 1), b.square(y)); }

// d/dx max(x, 0) = [x > 0] = [max(x, 0) > 0], as 0 or 1 in y's float type
ValueId reluDerivative(Builder &b, ValueId y) {
  return b.cast(b.cmp(CmpPredicate::GT, y, b.constantLike(y, 0.0)), b.type(y).dtype);
}

const Activation kActivations[] = {
    {OpKind::Relu, "max(x, 0)", "[y > 0]", reluDerivative},
    {OpKind::Sigmoid, "1 / (1 + e^-x)", "y(1 - y)", sigmoidDerivative},
    {OpKind::Tanh, "tanh x", "1 - y²", tanhDerivative},
};

} // namespace

std::span<const Activation> activations() { return kActivations; }

const Activation *findActivation(OpKind op) {
  for (const Activation &a : kActivations)
    if (a.op == op)
      return &a;
  return nullptr;
}

ValueId activationDerivative(Builder &b, OpKind op, ValueId y) {
  const Activation *a = findActivation(op);
  return a ? a->derivativeAt(b, y) : ValueId{};
}

} // namespace nnc
