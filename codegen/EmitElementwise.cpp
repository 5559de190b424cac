//===- EmitElementwise.cpp - Elementwise kernels and loop groups ----------------------------===//
//
// An elementwise kernel is one loop nest over its result shape, innermost dimension
// contiguous so that LLVM vectorizes it. Its operands are read through their access maps
// (views read in place) or computed on the spot (producers fused into it), one scalar lowering
// of codegen/ScalarOps.h per op. A loop group runs several such kernels in one nest, each
// member taking the values the earlier ones just computed. Large nests are split by rows over
// threads.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

namespace nnc {

using llvm::Value;

Value *KernelEmitter::scalarOp(const Node &n, const std::vector<Value *> &x) {
  DType operandType = n.operands.empty() ? n.type.dtype : type(n.operands[0]).dtype;
  return scalarLowering(n.op)(b_, ScalarOperands{n, operandType, x});
}

/// The element of `v` at `idx`: taken from the loop group, computed in place for a fused
/// producer, else read through its access map.
Value *KernelEmitter::valueAt(ValueId v, const Index &idx) {
  if (auto it = groupValues_.find(v.index); it != groupValues_.end())
    return it->second;
  if (plan_.fused[v.index]) {
    const Node &p = *fn_.definingNode(v);
    std::vector<Value *> x;
    for (ValueId o : p.operands)
      x.push_back(valueAt(o, idx));
    return scalarOp(p, x);
  }
  return load(accessOf(v), type(v).dtype, idx);
}

/// The members of a loop group, element by element in one loop nest over rows
/// [rowBegin, rowEnd) of their common shape. A member reads an earlier one directly at the
/// same element, so it takes the value just computed rather than loading it back.
void KernelEmitter::emitGroupRows(const std::vector<const Node *> &group, Value *rowBegin, Value *rowEnd) {
  const std::vector<int64_t> &shape = group[0]->type.shape;
  std::vector<int64_t> strides = rowMajorStrides(shape);
  loops_.forShapeRows(shape, rowBegin, rowEnd, [&](const Index &idx) {
    Value *flat = affine(0, strides, idx);
    for (const Node *n : group) {
      std::vector<Value *> x;
      for (ValueId o : n->operands)
        x.push_back(valueAt(o, idx));
      Value *y = scalarOp(*n, x);
      storeFlat(n->result, flat, y);
      groupValues_[n->result.index] = y;
    }
    groupValues_.clear();
  });
}

/// An elementwise kernel or loop group, its rows split over threads as the plan says.
void KernelEmitter::emitLoopGroup(const Kernel &k) {
  std::vector<const Node *> group;
  for (size_t i : k.nodes)
    group.push_back(&node(i));
  parallelRows(k.rows, [&](Value *begin, Value *end) { emitGroupRows(group, begin, end); });
}

} // namespace nnc
