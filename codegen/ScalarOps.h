//===- ScalarOps.h - One element of each elementwise op, as LLVM IR -------------------------===//
//
// The scalar lowering of every elementwise op of ir/Ops.def: one row each in a table indexed by
// OpKind, computing the result element from the operands' elements. Elementwise kernels, loop
// groups and fused producers (codegen/EmitElementwise.cpp) call it once per element in the
// innermost loop, which LLVM then vectorizes. An elementwise op without a row has no lowering
// (hasLowering is false for it, and the op-table test fails).
//
// Elements are computed in their value type: float, double, i32, and i1 for masks.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>

namespace nnc {

/// The type of one element of `dtype` as it is computed (i1 for masks).
llvm::Type *valueType(llvm::LLVMContext &ctx, DType dtype);
/// The element `value` of `dtype`.
llvm::Value *constantOf(llvm::IRBuilderBase &b, DType dtype, double value);

/// What a scalar lowering sees: the node, the dtype of its first operand, and one element of
/// each operand (in value type).
struct ScalarOperands {
  const Node &node;
  DType operandType;
  llvm::ArrayRef<llvm::Value *> x;
};

/// Emits the result element of an elementwise op.
using ScalarLowering = llvm::Value *(*)(llvm::IRBuilderBase &b, const ScalarOperands &in);

/// The row of `op`, or nullptr when `op` has no scalar lowering (not elementwise, or missing).
ScalarLowering scalarLowering(OpKind op);

} // namespace nnc
