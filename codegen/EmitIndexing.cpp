//===- EmitIndexing.cpp - One-hot, gather, scatter-add, random numbers, iota, pad, concat ---===//
//
// The kernels that index by value or by position rather than compute: one_hot, gather and its
// adjoint scatter_add (out-of-range indices read zeros and are dropped), the counter-based
// random numbers of ir/Random.h bit for bit, iota, pad and concat.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <algorithm>
#include <cmath>

namespace nnc {

using llvm::Value;

void KernelEmitter::emitOneHot(const Node &n) {
  ValueId labels = n.operands[0];
  int64_t depth = n.attrs.getInt("depth");
  DType d = n.type.dtype;
  loops_.forRange(type(labels).numElements(), [&](Value *i) {
    Value *label = b_.CreateSExt(loadFlat(labels, i), i64());
    loops_.forRange(depth, [&](Value *k) {
      Value *hit = b_.CreateICmpEQ(label, k);
      storeFlat(n.result, b_.CreateAdd(b_.CreateMul(i, c64(depth)), k),
                b_.CreateSelect(hit, constantOf(d, 1), constantOf(d, 0)));
    });
  });
}

/// Rows of the table for each index; an index outside the table reads zeros.
void KernelEmitter::emitGather(const Node &n) {
  ValueId table = n.operands[0], idx = n.operands[1];
  int64_t rows = type(table).shape[0];
  int64_t rowSize = product(std::vector<int64_t>(type(table).shape.begin() + 1, type(table).shape.end()));
  DType d = n.type.dtype;
  loops_.forRange(type(idx).numElements(), [&](Value *i) {
    Value *r = b_.CreateSExt(loadFlat(idx, i), i64());
    Value *ok = b_.CreateAnd(b_.CreateICmpSGE(r, c64(0)), b_.CreateICmpSLT(r, c64(rows)));
    Value *safe = b_.CreateSelect(ok, r, c64(0));
    loops_.forRange(rowSize, [&](Value *k) {
      Value *v = loadFlat(table, b_.CreateAdd(b_.CreateMul(safe, c64(rowSize)), k));
      storeFlat(n.result, b_.CreateAdd(b_.CreateMul(i, c64(rowSize)), k),
                b_.CreateSelect(ok, v, constantOf(d, 0)));
    });
  });
}

/// The adjoint of gather: rows of updates summed into their index's row; others dropped.
void KernelEmitter::emitScatterAdd(const Node &n) {
  ValueId upd = n.operands[0], idx = n.operands[1];
  int64_t rows = n.attrs.getInt("rows");
  int64_t rowSize = product(std::vector<int64_t>(type(upd).shape.begin() + type(idx).rank(), type(upd).shape.end()));
  fill(n.result, 0);
  loops_.forRange(type(idx).numElements(), [&](Value *i) {
    Value *r = b_.CreateSExt(loadFlat(idx, i), i64());
    Value *ok = b_.CreateAnd(b_.CreateICmpSGE(r, c64(0)), b_.CreateICmpSLT(r, c64(rows)));
    ifThen(b_, ok, "scatter", "scattered", [&] {
      loops_.forRange(rowSize, [&](Value *k) {
        Value *o = b_.CreateAdd(b_.CreateMul(r, c64(rowSize)), k);
        storeFlat(n.result, o, b_.CreateFAdd(loadFlat(n.result, o), loadFlat(upd, b_.CreateAdd(b_.CreateMul(i, c64(rowSize)), k))));
      });
    });
  });
}

/// The counter-based generator of ir/Random.h, bit for bit.
void KernelEmitter::emitRandom(const Node &n) {
  auto mix = [&](Value *z) {
    z = b_.CreateXor(z, b_.CreateLShr(z, 30));
    z = b_.CreateMul(z, b_.getInt64(0xbf58476d1ce4e5b9ull));
    z = b_.CreateXor(z, b_.CreateLShr(z, 27));
    z = b_.CreateMul(z, b_.getInt64(0x94d049bb133111ebull));
    return b_.CreateXor(z, b_.CreateLShr(z, 31));
  };
  uint64_t seed = static_cast<uint64_t>(n.attrs.getInt("seed"));
  Value *counter = b_.CreateZExt(loadFlat(n.operands[0], c64(0)), i64());
  Value *k = mix(b_.CreateXor(b_.getInt64(seed), b_.CreateMul(b_.CreateAdd(counter, c64(1)), b_.getInt64(0x9e3779b97f4a7c15ull))));
  DType d = n.type.dtype;
  bool bernoulli = n.op == OpKind::RandomBernoulli;
  double p = n.attrs.getFloat("p");
  loops_.forRange(n.type.numElements(), [&](Value *i) {
    Value *bits = b_.CreateTrunc(b_.CreateLShr(mix(b_.CreateAdd(k, b_.CreateMul(b_.CreateAdd(i, c64(1)), b_.getInt64(0xd1b54a32d192ed03ull)))), 32), b_.getInt32Ty());
    Value *top = b_.CreateLShr(bits, 8);
    Value *x;
    if (bernoulli) {
      // uniform < p  <=>  top < ceil(p * 2^24), exact since p * 2^24 is exact in double.
      double limit = std::ceil(std::clamp(p, 0.0, 1.0) * 16777216.0);
      x = b_.CreateSelect(b_.CreateICmpULT(top, b_.getInt32(uint32_t(limit))), constantOf(d, 1), constantOf(d, 0));
    } else {
      x = b_.CreateFMul(b_.CreateUIToFP(top, valueType(d)), constantOf(d, 1.0 / 16777216.0));
    }
    storeFlat(n.result, i, x);
  });
}

/// The integer index `i` as an element of `d`.
static Value *fromIndex(llvm::IRBuilderBase &b, Value *i, DType d) {
  return isFloat(d) ? b.CreateSIToFP(i, valueType(b.getContext(), d)) : b.CreateTrunc(i, valueType(b.getContext(), d));
}

void KernelEmitter::emitIota(const Node &n) {
  int64_t axis = n.attrs.getInt("axis");
  std::vector<int64_t> strides = rowMajorStrides(n.type.shape);
  loops_.forShape(n.type.shape, [&](const Index &idx) {
    storeFlat(n.result, affine(0, strides, idx), fromIndex(b_, idx[size_t(axis)], n.type.dtype));
  });
}

void KernelEmitter::emitPad(const Node &n) {
  ValueId x = n.operands[0];
  std::vector<int64_t> low = n.attrs.getInts("low");
  fill(n.result, 0);
  std::vector<int64_t> outStrides = rowMajorStrides(n.type.shape);
  int64_t offset = 0;
  for (size_t d = 0; d < low.size(); ++d)
    offset += low[d] * outStrides[d];
  Access a = accessOf(x);
  loops_.forShape(type(x).shape, [&](const Index &idx) {
    storeFlat(n.result, affine(offset, outStrides, idx), load(a, type(x).dtype, idx));
  });
}

void KernelEmitter::emitConcat(const Node &n) {
  int64_t axis = n.attrs.getInt("axis"), at = 0;
  std::vector<int64_t> outStrides = rowMajorStrides(n.type.shape);
  for (ValueId x : n.operands) {
    Access a = accessOf(x);
    loops_.forShape(type(x).shape, [&](const Index &idx) {
      storeFlat(n.result, affine(at * outStrides[axis], outStrides, idx), load(a, type(x).dtype, idx));
    });
    at += type(x).shape[axis];
  }
}

} // namespace nnc
