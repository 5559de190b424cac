//===- EmitRows.cpp - Reductions, softmax and friends, losses over labeled rows -------------===//
//
// Row-wise kernels that follow the reference interpreter's definitions exactly: reductions over
// any axes, softmax / log_softmax / logsumexp along an axis (max, then the sum of exponentials;
// an all -inf row uses max 0), the losses over rows of scores with an i32 label (NaN for a label
// outside the row, as the interpreter defines it), and the softmax cross-entropy row pass that
// also stores softmax or the loss's gradient (fuse-softmax-loss).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include "codegen/VectorMath.h"

#include <algorithm>
#include <cmath>

namespace nnc {

using llvm::Value;

KernelEmitter::LabeledRow KernelEmitter::rowLabel(ValueId labels, Value *r, int64_t C) {
  Value *label = b_.CreateSExt(loadFlat(labels, r), i64());
  Value *inRange = b_.CreateAnd(b_.CreateICmpSGE(label, c64(0)), b_.CreateICmpSLT(label, c64(C)));
  Value *safe = b_.CreateSelect(inRange, label, c64(0));
  return {label, inRange, safe, b_.CreateMul(r, c64(C)), nullptr};
}

KernelEmitter::LabeledRow KernelEmitter::labeledRow(ValueId s, ValueId labels, Value *r, int64_t C) {
  LabeledRow row = rowLabel(labels, r, C);
  row.picked = loadFlat(s, b_.CreateAdd(row.base, row.safe));
  return row;
}

/// Reductions whose reduced innermost slice has at most this many elements are written as
/// straight-line code per output element (see emitReduce).
constexpr int64_t kStraightSlice = 8;

/// How many leading axes `axes` reduces when it reduces exactly the axes [0, that count) of
/// a rank-`rank` operand; 0 otherwise.
static size_t leadingReduced(std::vector<int64_t> axes, size_t rank) {
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != int64_t(i))
      return 0;
  return std::min(axes.size(), rank);
}

/// `head` followed by the index, as constants, of element `flat` of a tensor of `shape` (with
/// its row-major `strides`).
KernelEmitter::Index KernelEmitter::withElement(Index head, const std::vector<int64_t> &shape,
                                                const std::vector<int64_t> &strides, int64_t flat) {
  for (size_t i = 0; i < shape.size(); ++i)
    head.push_back(c64(flat / strides[i] % shape[i]));
  return head;
}

/// A reduction over any axes. Its operand is read through valueAt, so elementwise producers
/// fused into the reduction (fuse-elementwise) are computed on the way and never stored. When
/// the innermost axes are all reduced, each slice of them is summed in a register (the
/// innermost loop vectorizes, its partial sums reassociated; a slice of at most
/// kStraightSlice elements is straight-line code, and the loop over outputs vectorizes) and
/// then added to the output element. When only leading axes are reduced and the outputs fill
/// less than one vector, each output has an accumulator in a register. Otherwise the output
/// elements accumulate in memory, the innermost kept axis vectorizing across them. The order
/// is fixed by the shape, so results repeat exactly.
void KernelEmitter::emitReduce(const Node &n) {
  ValueId x = n.operands[0];
  const std::vector<int64_t> &shape = type(x).shape;
  std::vector<int64_t> axes = n.attrs.getInts("axes");
  DType d = n.type.dtype;
  bool isMax = n.op == OpKind::ReduceMax;
  auto reduced = [&](size_t i) { return std::find(axes.begin(), axes.end(), int64_t(i)) != axes.end(); };
  // Output strides over the input's dimensions: 0 on reduced axes.
  std::vector<int64_t> keptShape, outStrides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i)
    if (!reduced(i))
      keptShape.push_back(shape[i]);
  std::vector<int64_t> ks = rowMajorStrides(keptShape);
  int64_t count = 1;
  for (size_t i = 0, k = 0; i < shape.size(); ++i) {
    if (!reduced(i))
      outStrides[i] = ks[k++];
    else
      count *= shape[i];
  }
  auto combine = [&](Value *acc, Value *v) -> Value * {
    if (isMax)
      return isFloat(d) ? fmax(acc, v) : b_.CreateIntrinsic(llvm::Intrinsic::smax, {v->getType()}, {acc, v});
    return isFloat(d) ? b_.CreateFAdd(acc, v) : b_.CreateAdd(acc, v);
  };
  double init = isMax ? -INFINITY : 0;
  fill(n.result, init);
  // The reduced innermost axes [inner, rank), summed slice by slice in a register.
  size_t inner = shape.size();
  while (inner > 0 && reduced(inner - 1))
    --inner;
  if (inner < shape.size()) {
    std::vector<int64_t> outer(shape.begin(), shape.begin() + int64_t(inner)),
        slice(shape.begin() + int64_t(inner), shape.end());
    llvm::Type *t = valueType(d);
    // A stored operand's slice is contiguous: one flat loop (a [.., 28, 28] slice vectorizes
    // as 784 elements, not as 28 rows of 28 with a scalar tail each).
    const bool flat = !plan_.fused[x.index] && !plan_.isVirtual[x.index] && !groupValues_.count(x.index);
    int64_t sliceCount = 1;
    for (int64_t e : slice)
      sliceCount *= e;
    std::vector<int64_t> outerStrides = rowMajorStrides(outer), sliceStrides = rowMajorStrides(slice);
    loops_.forShape(outer, [&](const Index &head) {
      Value *acc = localVar(t, constantOf(d, init));
      if (sliceCount <= kStraightSlice && !outer.empty()) {
        // A short slice (the classes of a row) as straight-line code, so that the loop over
        // rows vectorizes, one row per lane, instead of a loop of a few trips per row.
        for (int64_t j = 0; j < sliceCount; ++j)
          b_.CreateStore(combine(b_.CreateLoad(t, acc), valueAt(x, withElement(head, slice, sliceStrides, j))), acc);
      } else if (flat) {
        Value *base = b_.CreateMul(affine(0, outerStrides, head), c64(sliceCount));
        loops_.forRange(sliceCount, [&](Value *j) {
          b_.CreateStore(combine(b_.CreateLoad(t, acc), loadFlat(x, b_.CreateAdd(base, j))), acc);
        });
      } else {
        loops_.forShape(slice, [&](const Index &tail) {
          Index idx = head;
          idx.insert(idx.end(), tail.begin(), tail.end());
          b_.CreateStore(combine(b_.CreateLoad(t, acc), valueAt(x, idx)), acc);
        });
      }
      Value *o = affine(0, outStrides, head);
      storeFlat(n.result, o, combine(loadFlat(n.result, o), b_.CreateLoad(t, acc)));
    });
  } else if (size_t lead = leadingReduced(axes, shape.size()); lead > 0 && lead < shape.size() &&
             n.type.numElements() * int64_t(valueType(d)->getPrimitiveSizeInBits()) < int64_t(opts_.vectorBits)) {
    // The leading axes reduced and a kept tail shorter than one vector (a bias gradient of
    // a few classes): one accumulator per output element, in registers, instead of a
    // load-add-store through memory per input element.
    llvm::Type *t = valueType(d);
    std::vector<int64_t> outer(shape.begin(), shape.begin() + int64_t(lead)), kept(shape.begin() + int64_t(lead), shape.end());
    std::vector<int64_t> keptStrides = rowMajorStrides(kept);
    const int64_t K = n.type.numElements();
    std::vector<Value *> acc;
    for (int64_t k = 0; k < K; ++k)
      acc.push_back(localVar(t, constantOf(d, init)));
    loops_.forShape(outer, [&](const Index &head) {
      for (int64_t k = 0; k < K; ++k)
        b_.CreateStore(combine(b_.CreateLoad(t, acc[size_t(k)]), valueAt(x, withElement(head, kept, keptStrides, k))),
                       acc[size_t(k)]);
    });
    for (int64_t k = 0; k < K; ++k)
      storeFlat(n.result, c64(k), combine(loadFlat(n.result, c64(k)), b_.CreateLoad(t, acc[size_t(k)])));
  } else {
    loops_.forShape(shape, [&](const Index &idx) {
      Value *o = affine(0, outStrides, idx);
      storeFlat(n.result, o, combine(loadFlat(n.result, o), valueAt(x, idx)));
    });
  }
  if (n.op == OpKind::ReduceMean) {
    Value *scale = constantOf(d, 1.0 / double(count));
    loops_.forRange(n.type.numElements(), [&](Value *i) {
      Value *v = loadFlat(n.result, i);
      storeFlat(n.result, i, isFloat(d) ? b_.CreateFMul(v, scale) : b_.CreateSDiv(v, b_.getInt32(int32_t(count))));
    });
  }
}

/// softmax, log_softmax, logsumexp along `axis`: m = max, s = sum e^(x - m), as the
/// interpreter defines them (an all -inf row uses m = 0).
void KernelEmitter::emitNormalize(const Node &n) {
  ValueId x = n.operands[0];
  const std::vector<int64_t> &shape = type(x).shape;
  int64_t axis = n.attrs.getInt("axis");
  int64_t outer = product(std::vector<int64_t>(shape.begin(), shape.begin() + axis)), len = shape[axis],
          inner = product(std::vector<int64_t>(shape.begin() + axis + 1, shape.end()));
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  loops_.forRange(outer, [&](Value *o) {
    loops_.forRange(inner, [&](Value *i) {
      auto at = [&](Value *j) {
        return b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(o, c64(len)), j), c64(inner)), i);
      };
      Value *m = localVar(t, constantOf(d, -INFINITY));
      loops_.forRange(len, [&](Value *j) { b_.CreateStore(fmax(b_.CreateLoad(t, m), loadFlat(x, at(j))), m); });
      Value *mv = b_.CreateLoad(t, m);
      Value *isInf = b_.CreateFCmpOEQ(mv, constantOf(d, -INFINITY));
      b_.CreateStore(b_.CreateSelect(isInf, constantOf(d, 0), mv), m);
      Value *s = localVar(t, constantOf(d, 0));
      loops_.forRange(len, [&](Value *j) {
        Value *e = emitExp(b_, b_.CreateFSub(loadFlat(x, at(j)), b_.CreateLoad(t, m)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, s), e), s);
      });
      Value *mFinal = b_.CreateLoad(t, m);
      Value *sFinal = b_.CreateLoad(t, s);
      if (n.op == OpKind::LogSumExp) {
        storeFlat(n.result, b_.CreateAdd(b_.CreateMul(o, c64(inner)), i),
                  b_.CreateFAdd(mFinal, emitLog(b_, sFinal)));
        return;
      }
      Value *inv = b_.CreateFDiv(constantOf(d, 1), sFinal);
      Value *logS = emitLog(b_, sFinal);
      loops_.forRange(len, [&](Value *j) {
        Value *v = b_.CreateFSub(loadFlat(x, at(j)), mFinal);
        storeFlat(n.result, at(j),
                  n.op == OpKind::Softmax ? b_.CreateFMul(emitExp(b_, v), inv) : b_.CreateFSub(v, logS));
      });
    });
  });
}

/// softmax_cross_entropy(z, y) and softmax(z) — or the gradient scale · (softmax(z) − one_hot(y))
/// — in one pass over each row: m = max z, e_j = e^(z_j − m) (m = 0 for an all −inf row, as
/// softmax defines it), s = Σ e_j; loss = (m − z_y) + log s (NaN for a label outside [0, C) or an
/// all −inf row, as softmax_cross_entropy defines it); softmax_j = e_j · (1/s). The e_j are kept
/// in the partner's row, then scaled in place. m − z_y comes first: with large logits
/// (m = 100, log s = 1.8) m + log s would round to f32's spacing near 100 (7.6e-6) before z_y
/// is subtracted, while m − z_y is exact when z_y is near m.
///
/// With at most kRowsAcrossLanes classes a row is straight-line code over its C values, so the
/// loop over rows is the innermost loop and vectorizes across rows, one row per lane (a
/// classifier with 3 classes otherwise runs its exponentials one scalar or one mostly
/// masked vector at a time). Each row sees the same operations in the same order either way;
/// where the code generator contracts a multiply and an add differently in the two forms, the
/// last bit of a loss can differ.
void KernelEmitter::emitSoftmaxCrossEntropyRows(const Node &n, const RowFusion &rf) {
  ValueId z = n.operands[0], labels = n.operands[1], out = rf.partner;
  int64_t C = type(z).shape.back(), rows = n.type.numElements();
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  // The gradient's entry j: softmax_j − one_hot_j, times the loss's scale.
  auto gradientOf = [&](Value *p, Value *j, Value *label) {
    if (!rf.gradient)
      return p;
    Value *hot = b_.CreateSelect(b_.CreateICmpEQ(j, label), constantOf(d, 1), constantOf(d, 0));
    p = b_.CreateFSub(p, hot);
    return rf.scale != 1 ? b_.CreateFMul(constantOf(d, rf.scale), p) : p;
  };
  if (C <= kRowsAcrossLanes) {
    loops_.forRange(rows, [&](Value *r) {
      // z_y picked by selects, not loaded at a computed index: a gather once vectorized.
      auto [label, inRange, safe, base, none] = rowLabel(labels, r, C);
      std::vector<Value *> zs, es;
      Value *mv = constantOf(d, -INFINITY);
      for (int64_t j = 0; j < C; ++j) {
        zs.push_back(loadFlat(z, b_.CreateAdd(base, c64(j))));
        mv = fmax(mv, zs.back());
      }
      Value *allInf = b_.CreateFCmpOEQ(mv, constantOf(d, -INFINITY));
      Value *shift = b_.CreateSelect(allInf, constantOf(d, 0), mv);
      Value *s = constantOf(d, 0), *picked = zs[0];
      for (int64_t j = 0; j < C; ++j) {
        es.push_back(emitExp(b_, b_.CreateFSub(zs[size_t(j)], shift)));
        s = b_.CreateFAdd(s, es.back());
        if (j > 0)
          picked = b_.CreateSelect(b_.CreateICmpEQ(safe, c64(j)), zs[size_t(j)], picked);
      }
      Value *loss = b_.CreateFAdd(b_.CreateFSub(mv, picked), emitLog(b_, s));
      loss = b_.CreateSelect(b_.CreateOr(allInf, b_.CreateNot(inRange)), constantOf(d, NAN), loss);
      storeFlat(n.result, r, loss);
      Value *inv = b_.CreateFDiv(constantOf(d, 1), s);
      for (int64_t j = 0; j < C; ++j)
        storeFlat(out, b_.CreateAdd(base, c64(j)), gradientOf(b_.CreateFMul(es[size_t(j)], inv), c64(j), label));
    });
    return;
  }
  loops_.forRange(rows, [&](Value *r) {
    auto [label, inRange, safe, base, picked] = labeledRow(z, labels, r, C);
    Value *m = localVar(t, constantOf(d, -INFINITY));
    loops_.forRange(C, [&](Value *j) { b_.CreateStore(fmax(b_.CreateLoad(t, m), loadFlat(z, b_.CreateAdd(base, j))), m); });
    Value *mv = b_.CreateLoad(t, m);
    Value *allInf = b_.CreateFCmpOEQ(mv, constantOf(d, -INFINITY));
    Value *shift = b_.CreateSelect(allInf, constantOf(d, 0), mv);
    Value *sum = localVar(t, constantOf(d, 0));
    loops_.forRange(C, [&](Value *j) {
      Value *at = b_.CreateAdd(base, j);
      Value *e = emitExp(b_, b_.CreateFSub(loadFlat(z, at), shift));
      storeFlat(out, at, e);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sum), e), sum);
    });
    Value *s = b_.CreateLoad(t, sum);
    Value *loss = b_.CreateFAdd(b_.CreateFSub(mv, picked), emitLog(b_, s));
    loss = b_.CreateSelect(b_.CreateOr(allInf, b_.CreateNot(inRange)), constantOf(d, NAN), loss);
    storeFlat(n.result, r, loss);
    Value *inv = b_.CreateFDiv(constantOf(d, 1), s);
    loops_.forRange(C, [&](Value *j) {
      Value *at = b_.CreateAdd(base, j);
      storeFlat(out, at, gradientOf(b_.CreateFMul(loadFlat(out, at), inv), j, label));
    });
  });
}

/// softmax_cross_entropy and multiclass_hinge: one value per row of scores with an i32 label;
/// NaN for a label outside [0, C), as the interpreter defines it.
void KernelEmitter::emitLabeledRows(const Node &n) {
  ValueId s = n.operands[0], labels = n.operands[1];
  int64_t C = type(s).shape.back(), rows = n.type.numElements();
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  loops_.forRange(rows, [&](Value *r) {
    auto [label, inRange, safe, base, picked] = labeledRow(s, labels, r, C);
    Value *result;
    if (n.op == OpKind::SoftmaxCrossEntropy) {
      Value *m = localVar(t, constantOf(d, -INFINITY));
      loops_.forRange(C, [&](Value *j) { b_.CreateStore(fmax(b_.CreateLoad(t, m), loadFlat(s, b_.CreateAdd(base, j))), m); });
      Value *sum = localVar(t, constantOf(d, 0));
      loops_.forRange(C, [&](Value *j) {
        Value *e = emitExp(b_, b_.CreateFSub(loadFlat(s, b_.CreateAdd(base, j)), b_.CreateLoad(t, m)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sum), e), sum);
      });
      result = b_.CreateFAdd(b_.CreateFSub(b_.CreateLoad(t, m), picked), emitLog(b_, b_.CreateLoad(t, sum)));
    } else {
      // sum over j != label of max(0, 1 + s_j - s_label)
      Value *sum = localVar(t, constantOf(d, 0));
      loops_.forRange(C, [&](Value *j) {
        Value *margin = b_.CreateFAdd(constantOf(d, 1), b_.CreateFSub(loadFlat(s, b_.CreateAdd(base, j)), picked));
        Value *term = b_.CreateSelect(b_.CreateICmpEQ(j, safe), constantOf(d, 0), fmax(margin, constantOf(d, 0)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sum), term), sum);
      });
      result = b_.CreateLoad(t, sum);
    }
    storeFlat(n.result, r, b_.CreateSelect(inRange, result, constantOf(d, NAN)));
  });
}

} // namespace nnc
