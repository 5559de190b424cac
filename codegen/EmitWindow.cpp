//===- EmitWindow.cpp - Pooling -------------------------------------------------------------===//
//
// Max and average pooling and their adjoints: loop nests over the interpreter's window
// geometry (stride, padding, the in-bounds test), split over threads by (batch, channel)
// plane. Convolutions are products of the GEMM routines (codegen/EmitConv.cpp).
//
// The outputs whose whole window lies inside the input — all of them without padding — take a
// fast path: the window's positions are unrolled, with no bounds test and no branch, so the
// loop over a row of outputs vectorizes (strided loads and stores of a window row become
// interleaved vector accesses). The outputs at the border keep the general loop over the
// window with its in-bounds test. Both compute each output with the same operations in the
// same order, so the result does not depend on which path computed it.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <algorithm>
#include <cmath>

namespace nnc {

using llvm::Value;

namespace {

/// The outputs o in [lo, hi) of one axis whose window [o·stride − pad, o·stride − pad + k)
/// lies inside [0, size).
std::pair<int64_t, int64_t> interiorRange(int64_t outSize, int64_t size, int64_t stride, int64_t pad, int64_t k) {
  int64_t lo = std::min(outSize, (pad + stride - 1) / stride);
  int64_t last = size - k + pad; // o·stride ≤ last
  int64_t hi = last < 0 ? 0 : std::min(outSize, last / stride + 1);
  return {lo, std::max(lo, hi)};
}

} // namespace

/// maxpool2d, avgpool2d and their adjoints over the interpreter's Window geometry. The forward
/// ops keep each window's maximum or sum in a register and store it once. The adjoints of
/// windows that tile the input (stride = kernel, no padding) write every input element exactly
/// once, in one pass: the gradient (or its share of the average) inside each window, zero at
/// the other positions of a max window and in the rows and columns no window covers. Overlapping
/// or padded windows clear the result first and add each window's part. A max window's
/// gradient goes to its first maximum in row-major order (the `ogt` recurrence of the
/// interpreter).
void KernelEmitter::emitPool(const Node &n, const RowSplit &split, ValueId into, ValueId reluOf) {
  bool grad = n.op == OpKind::MaxPool2DGrad || n.op == OpKind::AvgPool2DGrad;
  bool isMax = n.op == OpKind::MaxPool2D || n.op == OpKind::MaxPool2DGrad;
  bool relu = reluOf.valid();
  std::vector<int64_t> xs = n.op == OpKind::MaxPool2DGrad ? type(n.operands[0]).shape : grad ? n.type.shape : type(n.operands[0]).shape;
  std::vector<int64_t> ys = n.op == OpKind::MaxPool2DGrad ? type(n.operands[1]).shape : grad ? type(n.operands[0]).shape : n.type.shape;
  std::vector<int64_t> k = n.attrs.getInts("kernel"), s = n.attrs.getInts("stride"), p = n.attrs.getInts("pad", {0, 0});
  int64_t H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  double area = double(k[0] * k[1]);
  bool tiles = grad && s[0] == k[0] && s[1] == k[1] && p[0] == 0 && p[1] == 0;
  // The pooled input: relu(reluOf) is read as reluOf, the ReLU applied after the maximum.
  ValueId x = relu ? reluOf : n.operands[0];
  ValueId dyv = n.op == OpKind::MaxPool2DGrad ? n.operands[1] : n.operands[0];
  if (grad && !tiles)
    fill(into, 0);
  auto reluOfMax = [&](Value *m) { return b_.CreateSelect(b_.CreateFCmpOGT(m, constantOf(d, 0)), m, constantOf(d, 0)); };
  // The flat input index of window position (ky, kx) of output (oy, ox) in plane nc.
  // In-bounds indices never wrap (nsw), which lets the vectorizer see the strides.
  auto inputIndex = [&](Value *nc, Value *oy, Value *ox, Value *ky, Value *kx) {
    Value *iy = b_.CreateNSWAdd(b_.CreateNSWSub(b_.CreateNSWMul(oy, c64(s[0])), c64(p[0])), ky);
    Value *ix = b_.CreateNSWAdd(b_.CreateNSWSub(b_.CreateNSWMul(ox, c64(s[1])), c64(p[1])), kx);
    return std::pair{iy, b_.CreateNSWAdd(b_.CreateNSWMul(b_.CreateNSWAdd(b_.CreateNSWMul(nc, c64(H)), iy), c64(W)), ix)};
  };

  // --- the general path: a loop over the window with the in-bounds test --------------------
  // Each window position (ky, kx) of output (oy, ox): body(xi, ok) with xi the flat index of
  // the input element of plane nc it reads, for positions inside the input.
  auto window = [&](Value *nc, Value *oy, Value *ox, const std::function<void(Value *)> &body) {
    loops_.forRange(k[0], [&](Value *ky) { loops_.forRange(k[1], [&](Value *kx) {
      auto [iy, xi] = inputIndex(nc, oy, ox, ky, kx);
      Value *ix = b_.CreateAdd(b_.CreateSub(b_.CreateMul(ox, c64(s[1])), c64(p[1])), kx);
      Value *ok = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c64(0)), b_.CreateICmpSLT(iy, c64(H))),
                               b_.CreateAnd(b_.CreateICmpSGE(ix, c64(0)), b_.CreateICmpSLT(ix, c64(W))));
      ifThen(b_, ok, "inside", "outside", [&] { body(xi); });
    }); });
  };
  auto general = [&](Value *nc, Value *oy, Value *ox) {
    Value *yi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(OH)), oy), c64(OW)), ox);
    switch (n.op) {
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D: {
      Value *acc = localVar(t, constantOf(d, isMax ? -INFINITY : 0));
      window(nc, oy, ox, [&](Value *xi) {
        Value *v = loadFlat(x, xi), *cur = b_.CreateLoad(t, acc);
        b_.CreateStore(isMax ? fmax(cur, v) : b_.CreateFAdd(cur, b_.CreateFDiv(v, constantOf(d, area))), acc);
      });
      Value *r = b_.CreateLoad(t, acc);
      storeFlat(into, yi, relu ? reluOfMax(r) : r);
      break;
    }
    case OpKind::AvgPool2DGrad: {
      Value *share = b_.CreateFDiv(loadFlat(dyv, yi), constantOf(d, area));
      window(nc, oy, ox, [&](Value *xi) { storeFlat(into, xi, tiles ? share : b_.CreateFAdd(loadFlat(into, xi), share)); });
      break;
    }
    default: { // MaxPool2DGrad: the gradient goes to the first maximum (row-major) of the window
      Value *best = localVar(i64(), c64(-1));
      window(nc, oy, ox, [&](Value *xi) {
        Value *cur = b_.CreateLoad(i64(), best);
        Value *none = b_.CreateICmpSLT(cur, c64(0));
        Value *safe = b_.CreateSelect(none, xi, cur);
        Value *greater = b_.CreateFCmpOGT(loadFlat(x, xi), loadFlat(x, safe));
        b_.CreateStore(b_.CreateSelect(b_.CreateOr(none, greater), xi, cur), best);
      });
      Value *g = loadFlat(dyv, yi);
      Value *at = b_.CreateLoad(i64(), best);
      if (relu) // routed only where the window's maximum is positive (ReLU's derivative at it)
        g = b_.CreateSelect(b_.CreateFCmpOGT(loadFlat(x, b_.CreateSelect(b_.CreateICmpSLT(at, c64(0)), c64(0), at)),
                                             constantOf(d, 0)),
                            g, constantOf(d, 0));
      if (tiles) {
        window(nc, oy, ox, [&](Value *xi) {
          storeFlat(into, xi, b_.CreateSelect(b_.CreateICmpEQ(xi, at), g, constantOf(d, 0)));
        });
        break;
      }
      ifThen(b_, b_.CreateICmpSGE(at, c64(0)), "route", "routed", [&] {
        storeFlat(into, at, b_.CreateFAdd(loadFlat(into, at), g));
      });
    }
    }
  };

  // --- the fast path: the whole window inside, positions unrolled --------------------------
  auto interior = [&](Value *nc, Value *oy, Value *ox) {
    Value *yi = b_.CreateNSWAdd(b_.CreateNSWMul(b_.CreateNSWAdd(b_.CreateNSWMul(nc, c64(OH)), oy), c64(OW)), ox);
    std::vector<Value *> at; // the input index of each window position, row-major
    for (int64_t ky = 0; ky < k[0]; ++ky)
      for (int64_t kx = 0; kx < k[1]; ++kx)
        at.push_back(inputIndex(nc, oy, ox, c64(ky), c64(kx)).second);
    switch (n.op) {
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D: {
      Value *acc = constantOf(d, isMax ? -INFINITY : 0);
      for (Value *xi : at) {
        Value *v = loadFlat(x, xi);
        acc = isMax ? fmax(acc, v) : b_.CreateFAdd(acc, b_.CreateFDiv(v, constantOf(d, area)));
      }
      storeFlat(into, yi, relu ? reluOfMax(acc) : acc);
      break;
    }
    case OpKind::AvgPool2DGrad: {
      Value *share = b_.CreateFDiv(loadFlat(dyv, yi), constantOf(d, area));
      for (Value *xi : at)
        storeFlat(into, xi, tiles ? share : b_.CreateFAdd(loadFlat(into, xi), share));
      break;
    }
    default: { // MaxPool2DGrad
      Value *bestValue = loadFlat(x, at[0]);
      Value *best = c64(0); // the window position of the first maximum
      for (size_t q = 1; q < at.size(); ++q) {
        Value *v = loadFlat(x, at[q]);
        Value *greater = b_.CreateFCmpOGT(v, bestValue);
        bestValue = b_.CreateSelect(greater, v, bestValue);
        best = b_.CreateSelect(greater, c64(int64_t(q)), best);
      }
      Value *g = loadFlat(dyv, yi);
      if (relu)
        g = b_.CreateSelect(b_.CreateFCmpOGT(bestValue, constantOf(d, 0)), g, constantOf(d, 0));
      if (tiles) {
        for (size_t q = 0; q < at.size(); ++q)
          storeFlat(into, at[q], b_.CreateSelect(b_.CreateICmpEQ(best, c64(int64_t(q))), g, constantOf(d, 0)));
        break;
      }
      // Overlapping windows: add to the maximum's element, in the order of the general path.
      Value *xi = at[0];
      for (size_t q = 1; q < at.size(); ++q)
        xi = b_.CreateSelect(b_.CreateICmpEQ(best, c64(int64_t(q))), at[q], xi);
      storeFlat(into, xi, b_.CreateFAdd(loadFlat(into, xi), g));
    }
    }
  };

  // --- the vector path: a row's interior outputs L at a time, for a horizontal stride of 1 or
  // 2 (the forward ops; the adjoints of windows that tile the input). Window column kx of L
  // outputs is a span of stride·L inputs read with stride·... vector loads, its lanes 0,
  // stride, 2·stride, ... picked by a shuffle; a tiling gradient's columns are interleaved
  // back the same way. The same operations in the same order as the scalar paths.
  const unsigned L = lanesOf(t);
  const int64_t S = s[1];
  bool vectorRows = L > 1 && (S == 1 || S == 2) && (!grad || tiles);
  auto *vt = llvm::FixedVectorType::get(t, L);
  llvm::Align align(uint64_t(t->getPrimitiveSizeInBits() / 8));
  auto lanesBelow = [&](int64_t first, Value *limit) { // lanes l with first + l < limit
    // In 32 bits (a row is far shorter): 64-bit lanes take two registers with AVX2.
    llvm::SmallVector<llvm::Constant *, 16> ids;
    for (unsigned l = 0; l < L; ++l)
      ids.push_back(b_.getInt32(uint32_t(first + l)));
    return b_.CreateICmpSLT(llvm::ConstantVector::get(ids),
                            b_.CreateVectorSplat(L, b_.CreateTrunc(limit, b_.getInt32Ty())));
  };
  auto vload = [&](ValueId v, Value *flat, Value *mask) {
    auto *ld = b_.CreateMaskedLoad(vt, elementPtr(v, flat), align, mask, llvm::Constant::getNullValue(vt));
    tagAccess(ld, v);
    return static_cast<Value *>(ld);
  };
  auto vstore = [&](ValueId v, Value *flat, Value *x, Value *mask) {
    tagAccess(b_.CreateMaskedStore(x, elementPtr(v, flat), align, mask), v);
  };
  auto splat = [&](double v) { return b_.CreateVectorSplat(L, constantOf(d, v)); };
  auto vectorChunk = [&](Value *nc, Value *oy, Value *ox0, Value *count) {
    Value *yi0 = b_.CreateNSWAdd(b_.CreateNSWMul(b_.CreateNSWAdd(b_.CreateNSWMul(nc, c64(OH)), oy), c64(OW)), ox0);
    Value *outMask = lanesBelow(0, count);
    // Window column (ky, kx) of the chunk's outputs.
    auto column = [&](int64_t ky, int64_t kx) {
      Value *start = inputIndex(nc, oy, ox0, c64(ky), c64(kx)).second;
      if (S == 1)
        return vload(x, start, outMask);
      Value *limit = b_.CreateNSWSub(b_.CreateNSWMul(count, c64(2)), c64(1));
      Value *lo = vload(x, start, lanesBelow(0, limit));
      Value *hi = vload(x, b_.CreateNSWAdd(start, c64(L)), lanesBelow(L, limit));
      llvm::SmallVector<int, 16> even;
      for (unsigned l = 0; l < L; ++l)
        even.push_back(int(2 * l));
      return b_.CreateShuffleVector(lo, hi, even);
    };
    if (!grad) {
      Value *acc = splat(isMax ? -INFINITY : 0);
      for (int64_t ky = 0; ky < k[0]; ++ky)
        for (int64_t kx = 0; kx < k[1]; ++kx) {
          Value *v = column(ky, kx);
          acc = isMax ? fmax(acc, v) : b_.CreateFAdd(acc, b_.CreateFDiv(v, splat(area)));
        }
      if (relu)
        acc = b_.CreateSelect(b_.CreateFCmpOGT(acc, splat(0)), acc, splat(0));
      return vstore(into, yi0, acc, outMask);
    }
    // A tiling gradient (k[1] = S): every window position gets its share or 0.
    Value *g = vload(dyv, yi0, outMask);
    std::vector<Value *> value; // per window position, row-major
    if (isMax) {
      Value *bestValue = column(0, 0);
      Value *best = b_.CreateVectorSplat(L, b_.getInt32(0));
      for (int64_t q = 1; q < k[0] * k[1]; ++q) {
        Value *v = column(q / k[1], q % k[1]);
        Value *greater = b_.CreateFCmpOGT(v, bestValue);
        bestValue = b_.CreateSelect(greater, v, bestValue);
        best = b_.CreateSelect(greater, b_.CreateVectorSplat(L, b_.getInt32(uint32_t(q))), best);
      }
      if (relu)
        g = b_.CreateSelect(b_.CreateFCmpOGT(bestValue, splat(0)), g, splat(0));
      for (int64_t q = 0; q < k[0] * k[1]; ++q)
        value.push_back(b_.CreateSelect(b_.CreateICmpEQ(best, b_.CreateVectorSplat(L, b_.getInt32(uint32_t(q)))), g, splat(0)));
    } else {
      Value *share = b_.CreateFDiv(g, splat(area));
      value.assign(size_t(k[0] * k[1]), share);
    }
    for (int64_t ky = 0; ky < k[0]; ++ky) {
      Value *start = inputIndex(nc, oy, ox0, c64(ky), c64(0)).second;
      if (S == 1) {
        vstore(into, start, value[size_t(ky * k[1])], outMask);
        continue;
      }
      Value *limit = b_.CreateNSWMul(count, c64(2));
      llvm::SmallVector<int, 16> low, high;
      for (unsigned l = 0; l < L; ++l) {
        low.push_back(int(l % 2 == 0 ? l / 2 : L + l / 2));
        high.push_back(int(l % 2 == 0 ? L / 2 + l / 2 : L + L / 2 + l / 2));
      }
      Value *e = value[size_t(ky * 2)], *o = value[size_t(ky * 2 + 1)];
      vstore(into, start, b_.CreateShuffleVector(e, o, low), lanesBelow(0, limit));
      vstore(into, b_.CreateNSWAdd(start, c64(L)), b_.CreateShuffleVector(e, o, high), lanesBelow(L, limit));
    }
  };
  auto interiorRow = [&](Value *nc, Value *oy, int64_t from, int64_t to) {
    if (!vectorRows) {
      loops_.forRange(c64(from), c64(to), [&](Value *ox) { interior(nc, oy, ox); });
      return;
    }
    // Whole chunks of L outputs, then the partial one: each chunk's count is a constant, so
    // its masks are, and a whole chunk's masked loads and stores fold to plain ones (a masked
    // store is microcoded on AMD's Zen 3).
    int64_t whole = (to - from) / int64_t(L), tail = (to - from) % int64_t(L);
    if (whole > 0)
      loops_.forRange(whole, [&](Value *ci) {
        vectorChunk(nc, oy, b_.CreateNSWAdd(c64(from), b_.CreateNSWMul(ci, c64(L))), c64(L));
      });
    if (tail > 0)
      vectorChunk(nc, oy, c64(from + whole * int64_t(L)), c64(tail));
  };

  auto [oyLo, oyHi] = interiorRange(OH, H, s[0], p[0], k[0]);
  auto [oxLo, oxHi] = interiorRange(OW, W, s[1], p[1], k[1]);
  auto generalRows = [&](Value *nc, int64_t from, int64_t to) {
    if (from < to)
      loops_.forRange(c64(from), c64(to), [&](Value *oy) { loops_.forRange(OW, [&](Value *ox) { general(nc, oy, ox); }); });
  };
  auto generalCols = [&](Value *nc, Value *oy, int64_t from, int64_t to) {
    if (from < to)
      loops_.forRange(c64(from), c64(to), [&](Value *ox) { general(nc, oy, ox); });
  };
  // Each (batch, channel) plane is independent: the planes are split over threads.
  auto plane = [&](Value *nc) {
    if (oxLo == oxHi) { // no output has its whole window inside
      generalRows(nc, 0, OH);
    } else {
      generalRows(nc, 0, oyLo);
      if (oyLo < oyHi)
        loops_.forRange(c64(oyLo), c64(oyHi), [&](Value *oy) {
          generalCols(nc, oy, 0, oxLo);
          interiorRow(nc, oy, oxLo, oxHi);
          generalCols(nc, oy, oxHi, OW);
        });
      generalRows(nc, oyHi, OH);
    }
    if (!tiles)
      return;
    // The input rows and columns beyond the last window get no gradient.
    Value *base = b_.CreateMul(nc, c64(H * W));
    if (OW * k[1] < W)
      loops_.forRange(OH * k[0], [&](Value *iy) { loops_.forRange(W - OW * k[1], [&](Value *j) {
        storeFlat(into, b_.CreateAdd(base, b_.CreateAdd(b_.CreateMul(iy, c64(W)), b_.CreateAdd(c64(OW * k[1]), j))), constantOf(d, 0));
      }); });
    if (OH * k[0] < H)
      loops_.forRange((H - OH * k[0]) * W, [&](Value *j) {
        storeFlat(into, b_.CreateAdd(base, b_.CreateAdd(c64(OH * k[0] * W), j)), constantOf(d, 0));
      });
  };
  parallelRows(split, [&](Value *begin, Value *end) { loops_.forRange(begin, end, plane); });
}

} // namespace nnc
