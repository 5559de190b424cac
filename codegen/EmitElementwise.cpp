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

#include <functional>
#include <set>

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

/// Elementwise kernels whose innermost dimension (after merging, see flatSuffix) has at most
/// this many elements write it as straight-line code.
constexpr int64_t kStraightInner = 4;

/// How many trailing dimensions of `shape` one loop can walk in place of a nest: the longest
/// suffix whose every pair of neighbours d, d + 1 satisfies strides[d] = strides[d + 1]·shape[d + 1]
/// in each access in `accesses` (the group's stores are row-major, which always does). Through
/// such a suffix every access is affine in one flat index with its innermost stride.
static size_t flatSuffix(const std::vector<int64_t> &shape, const std::vector<Access> &accesses) {
  for (const Access &a : accesses)
    if (a.strides.size() != shape.size())
      return 1;
  size_t from = shape.empty() ? 0 : shape.size() - 1;
  while (from > 0) {
    size_t d = from - 1;
    bool merges = true;
    for (const Access &a : accesses)
      merges = merges && a.strides[d] == a.strides[d + 1] * shape[d + 1];
    if (!merges)
      break;
    from = d;
  }
  return shape.size() - from;
}

/// The accesses through which the loop group reads stored values: the operands of its members
/// that are neither members nor fused producers, and those of its fused producers likewise.
void KernelEmitter::groupAccesses(const std::vector<const Node *> &group, std::vector<Access> &out) const {
  std::set<uint32_t> members;
  std::function<void(ValueId)> visit = [&](ValueId v) {
    if (members.count(v.index))
      return;
    if (plan_.fused[v.index]) {
      for (ValueId o : fn_.definingNode(v)->operands)
        visit(o);
      return;
    }
    if (Access a = accessOf(v); !a.isConstant)
      out.push_back(std::move(a));
  };
  for (const Node *n : group) {
    for (ValueId o : n->operands)
      visit(o);
    members.insert(n->result.index);
  }
}

/// The members of a loop group, element by element in one loop nest over rows
/// [rowBegin, rowEnd) of their common shape. A member reads an earlier one directly at the
/// same element, so it takes the value just computed rather than loading it back.
void KernelEmitter::emitGroupRows(const std::vector<const Node *> &group, Value *rowBegin, Value *rowEnd) {
  const std::vector<int64_t> &shape = group[0]->type.shape;
  std::vector<int64_t> strides = rowMajorStrides(shape);
  std::vector<Access> accesses;
  groupAccesses(group, accesses);
  auto body = [&](const Index &idx) {
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
  };
  forShapeWalked(shape, accesses, rowBegin, rowEnd, body);
}

void KernelEmitter::forShapeWalked(const std::vector<int64_t> &shape, const std::vector<Access> &accesses,
                                   Value *rowBegin, Value *rowEnd, const std::function<void(const Index &)> &body) {
  const size_t merged = shape.size() < 2 ? 0 : flatSuffix(shape, accesses);
  if (merged < 2 && shape.size() >= 2 && shape.back() <= kStraightInner) {
    // A short innermost dimension (a bias of a few classes along each row) as straight-line
    // code, so that the loop over rows vectorizes rather than a loop of a few trips per row.
    std::vector<int64_t> rows(shape.begin(), shape.end() - 1);
    return loops_.forShapeRows(rows, rowBegin, rowEnd, [&](const Index &head) {
      Index idx = head;
      idx.push_back(nullptr);
      for (int64_t j = 0; j < shape.back(); ++j) {
        idx.back() = c64(j);
        body(idx);
      }
    });
  }
  if (merged < 2)
    return loops_.forShapeRows(shape, rowBegin, rowEnd, body);
  // The merged dimensions [keep, rank) as one index m: the last dimension's index is m and the
  // others merged are 0, which every access (and a row-major store) maps to the same element.
  const size_t keep = shape.size() - merged;
  std::vector<int64_t> walked(shape.begin(), shape.begin() + int64_t(keep));
  int64_t inner = 1; // elements of the merged dimensions
  for (size_t d = keep; d < shape.size(); ++d)
    inner *= shape[d];
  walked.push_back(inner);
  if (keep == 0) { // a row of dimension 0 is a run of inner / shape[0] merged elements
    int64_t row = 1;
    for (size_t d = 1; d < shape.size(); ++d)
      row *= shape[d];
    rowBegin = b_.CreateMul(rowBegin, c64(row));
    rowEnd = b_.CreateMul(rowEnd, c64(row));
  }
  loops_.forShapeRows(walked, rowBegin, rowEnd, [&](const Index &w) {
    Index idx(w.begin(), w.end() - 1);
    while (idx.size() + 1 < shape.size())
      idx.push_back(c64(0));
    idx.push_back(w.back());
    body(idx);
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
