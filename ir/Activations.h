//===- Activations.h - The activations a matrix product's epilogue can apply ----------------===//
//
// One row per activation that code generation can fuse into a GEMM's store: the op, its maths,
// and its derivative written in terms of the activation's output y = f(x), built as graph IR.
// Reading the output rather than x leaves the pre-activation with a single use, so a bias-add
// before the activation fuses into it, and the derivative's product with the incoming gradient
// fuses into the epilogue of the GEMM that computes that gradient. The training graph takes
// these derivatives from here (activationDerivative), and the code generator recognises them
// by comparing with what the same function builds, so the two cannot drift apart.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Builder.h"

#include <span>

namespace nnc {

/// An activation of the table; see the file comment.
struct Activation {
  OpKind op;
  const char *forward;    ///< y = f(x)
  const char *derivative; ///< f'(x) in terms of y
  /// Appends f'(x) computed from `y` = f(x) with `b` and returns it (y's type).
  ValueId (*derivativeAt)(Builder &b, ValueId y);
};

/// Every activation, one row each.
std::span<const Activation> activations();

/// The row of `op`, or nullptr when `op` is not in the table.
const Activation *findActivation(OpKind op);

/// f'(x) for the activation `op` at its output `y` (the node's result), built with `b`: what
/// the gradient rule of `op` multiplies the incoming gradient by. An invalid ValueId when `op`
/// is not in the table.
ValueId activationDerivative(Builder &b, OpKind op, ValueId y);

} // namespace nnc
