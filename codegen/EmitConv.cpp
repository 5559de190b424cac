//===- EmitConv.cpp - Convolution and its adjoints on the GEMM routines ---------------------===//
//
// conv2d, conv2d_grad_input and conv2d_grad_weight as products of the packed GEMM routines
// (codegen/Gemm.h), one image at a time, in the NCHW layout of the language:
//
//   forward       col = im2col(x[n])            [C·KH·KW × OH·OW]
//                 y[n] = w · col                 w seen as [O × C·KH·KW]
//   input grad    col = wᵀ · dy[n] then dx[n] = col2im(col), gathering each vector of dx with
//                 any epilogue applied as it is stored; only where the output is larger than
//                 the input (stride 1, padding above (k − 1)/2) col = im2col(dy[n]) with padding
//                 k − 1 − pad, dx[n] = w̃ · col (w̃: w with O and C swapped and the kernel
//                 flipped), which does less work (ConvGeometry::gradInputAsConv)
//   weight grad   dw += dy[n] · colᵀ             col = im2col(x[n]), summed over the batch
//
// A pointwise convolution (1×1, stride 1, no padding) needs no col: x[n] itself is the
// [C × H·W] matrix, so each product reads and writes the tensors in place.
//
// The batch is split over threads (planRowSplit): each block of images has its own scratch
// (ConvScratch: the GEMM packing buffers, col, and for the weight gradient a partial sum of dw),
// at arena + block · ConvScratch::blockBytes(). The forward and input-gradient products of an
// image are computed the same way whatever the split; the weight gradient's partial sums are
// added in block order after the parallel loop, so a result depends on the thread count only,
// never on the run.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <algorithm>

namespace nnc {

using llvm::Value;

namespace {

/// The outputs o in [lo, hi) of one axis whose input o·stride − pad + k lies in [0, size).
std::pair<int64_t, int64_t> insideRange(int64_t outSize, int64_t size, int64_t stride, int64_t pad, int64_t k) {
  auto ceilDiv = [](int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; };
  int64_t lo = std::min(outSize, ceilDiv(pad - k, stride));
  int64_t last = size - 1 + pad - k; // o·stride ≤ last
  int64_t hi = last < 0 ? 0 : std::min(outSize, last / stride + 1);
  return {lo, std::max(lo, hi)};
}

/// The weight gradient of a convolution with C·KH·KW at most this is computed as dot products
/// (emitWeightGradDots), not by the GEMM.
constexpr int64_t kDotsMaxCKK = 64;

} // namespace

/// Walks the im2col matrix of one image: for every row r = (c·KH + ky)·KW + kx, each output
/// row oy whose input row iy is inside the image calls `inside(at, c, iy, kx, lo, hi)`, with
/// `at` the offset of (r, oy·OW) in col and [lo, hi) the columns ox whose input column is
/// inside too; `outside(rowPtrOffset, count)`
/// (when given) gets the runs of col elements (offsets in elements from col's start) that read
/// padding. kx is unrolled, so every column range is a constant and each copy a fixed-size
/// move; ky is a loop whose row range is picked from constants by ky (unrolling it too made
/// each convolution's im2col KH times the code for no speed).
void KernelEmitter::walkIm2col(const ConvGeometry &g, const ColInside &inside,
                               const std::function<void(Value *, int64_t)> &outside) {
  int64_t OW = g.OW, OHW = g.ohw();
  std::vector<int64_t> yLos, yHis;
  for (int64_t ky = 0; ky < g.KH; ++ky) {
    auto [lo, hi] = insideRange(g.OH, g.H, g.strideH, g.padH, ky);
    yLos.push_back(lo);
    yHis.push_back(hi);
  }
  // The entry of `table` at ky, by a chain of selects.
  auto pick = [&](Value *ky, const std::vector<int64_t> &table) {
    Value *v = c64(table[0]);
    for (size_t i = 1; i < table.size(); ++i)
      if (table[i] != table[0])
        v = b_.CreateSelect(b_.CreateICmpEQ(ky, c64(int64_t(i))), c64(table[i]), v);
    return v;
  };
  const bool padAbove = std::any_of(yLos.begin(), yLos.end(), [](int64_t v) { return v > 0; });
  const bool padBelow = std::any_of(yHis.begin(), yHis.end(), [&](int64_t v) { return v < g.OH; });
  loops_.forRange(g.C, [&](Value *c) {
    loops_.forRange(g.KH, [&](Value *ky) {
      Value *yLo = pick(ky, yLos), *yHi = pick(ky, yHis);
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        Value *r = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(c, c64(g.KH)), ky), c64(g.KW)), c64(kx));
        Value *row0 = b_.CreateMul(r, c64(OHW));
        auto [xLo, xHi] = insideRange(g.OW, g.W, g.strideW, g.padW, kx);
        if (xLo == xHi) { // the whole row of col reads padding
          if (outside)
            outside(row0, OHW);
          continue;
        }
        auto padRows = [&](Value *from, Value *to) {
          loops_.forRange(from, to, [&](Value *oy) { outside(b_.CreateAdd(row0, b_.CreateMul(oy, c64(OW))), OW); });
        };
        if (outside && padAbove)
          padRows(c64(0), yLo);
        if (outside && padBelow)
          padRows(yHi, c64(g.OH));
        loops_.forRange(yLo, yHi, [&](Value *oy) {
          Value *at = b_.CreateAdd(row0, b_.CreateMul(oy, c64(OW)));
          if (outside && xLo > 0)
            outside(at, xLo);
          if (outside && xHi < OW)
            outside(b_.CreateAdd(at, c64(xHi)), OW - xHi);
          Value *iy = b_.CreateSub(b_.CreateAdd(b_.CreateMul(oy, c64(g.strideH)), ky), c64(g.padH));
          inside(at, c, iy, kx, xLo, xHi);
        });
      }
    });
  });
}

/// col = im2col(x) for the image at `x` (C×H×W elements of type t) into `col`.
void KernelEmitter::emitIm2col(const ConvGeometry &g, llvm::Type *t, Value *x, Value *col) {
  int64_t bytes = int64_t(t->getPrimitiveSizeInBits() / 8);
  auto outside = [&](Value *at, int64_t count) {
    b_.CreateMemSet(b_.CreateInBoundsGEP(t, col, at), b_.getInt8(0), c64(count * bytes), llvm::MaybeAlign(bytes));
  };
  auto inside = [&](Value *at, Value *c, Value *iy, int64_t kx, int64_t lo, int64_t hi) {
    // Input column of ox: ox·strideW − padW + kx.
    Value *src = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(c, c64(g.H)), iy), c64(g.W)),
                              c64(lo * g.strideW - g.padW + kx));
    Value *dst = b_.CreateAdd(at, c64(lo));
    if (g.strideW == 1) {
      b_.CreateMemCpy(b_.CreateInBoundsGEP(t, col, dst), llvm::MaybeAlign(bytes), b_.CreateInBoundsGEP(t, x, src),
                      llvm::MaybeAlign(bytes), c64((hi - lo) * bytes));
      return;
    }
    loops_.forRange(hi - lo, [&](Value *j) {
      Value *v = b_.CreateLoad(t, b_.CreateInBoundsGEP(t, x, b_.CreateAdd(src, b_.CreateMul(j, c64(g.strideW)))));
      b_.CreateStore(v, b_.CreateInBoundsGEP(t, col, b_.CreateAdd(dst, j)));
    });
  };
  walkIm2col(g, inside, outside);
}

/// An epilogue (codegen/Gemm.h's GemmEpilogueKind, a constant here) on the vector `x` of dx[n]
/// at row (channel) `row`, column `column` of its [C × H·W] matrix, lanes `mask`; `flat` is the
/// vector's element index in the whole tensor, where the aux tensor is read.
Value *KernelEmitter::col2imEpilogue(const Epilogue &ep, llvm::Type *t, llvm::FixedVectorType *vt, Value *x,
                                     Value *mask, Value *row, Value *column, Value *flat) {
  const llvm::Align align{uint64_t(t->getPrimitiveSizeInBits() / 8)};
  Value *zero = llvm::Constant::getNullValue(vt);
  if (ep.bias.valid()) {
    Value *bias = b_.CreateInBoundsGEP(t, ptr_[ep.bias.index], c64(ep.biasOffset));
    if (ep.kind & GemmEpilogueRowBias)
      x = b_.CreateFAdd(x, b_.CreateVectorSplat(vt->getNumElements(), b_.CreateLoad(t, b_.CreateInBoundsGEP(t, bias, row))));
    else if (ep.kind & GemmEpilogueBias)
      x = b_.CreateFAdd(x, b_.CreateMaskedLoad(vt, b_.CreateInBoundsGEP(t, bias, column), align, mask, zero));
  }
  x = emitEpilogueActivation(b_, (ep.kind >> 4) & 15, x);
  if (int32_t grad = (ep.kind >> 8) & 15) {
    Value *y = b_.CreateMaskedLoad(vt, b_.CreateInBoundsGEP(t, ptr_[ep.aux.index], flat), align, mask, zero);
    x = emitEpilogueDerivative(b_, grad, x, y);
  }
  return x;
}

/// dx = col2im(col) for one image: every element of dx (C×H×W) is the sum of the elements of
/// col read from its position; positions in the padding are dropped.
///
/// With stride 1 along x, each vector of a row of dx is gathered in a register: for every
/// (ky, kx) of the kernel, the row oy of col row (c, ky, kx) that reads input row iy, loaded
/// shifted by kx with the lanes outside the image or the output masked off, is added. dx is
/// stored once and never read. (Scattering each run of col into dx instead stores and reloads
/// overlapping, misaligned vectors of dx for consecutive kx, which stalls on every store-to-load
/// forward: that scatter took 0.6 ms of LeNet's 2.4 ms step.) Other strides add element by
/// element into a zeroed dx.
void KernelEmitter::emitCol2im(const ConvGeometry &g, llvm::Type *t, Value *col, Value *dx, const Epilogue *ep,
                               Value *image) {
  const int64_t bytes = int64_t(t->getPrimitiveSizeInBits() / 8);
  const int64_t lanes = lanesOf(t);
  if (g.col2imGathers()) {
    auto *vt = llvm::FixedVectorType::get(t, unsigned(lanes));
    // Lane columns in 32 bits (a row is far shorter): one register per vector of them, where
    // 64-bit lanes take two with AVX2 and every compare on them is split and repacked.
    auto *it = llvm::FixedVectorType::get(b_.getInt32Ty(), unsigned(lanes));
    const llvm::Align align{uint64_t(bytes)};
    Value *zero = llvm::Constant::getNullValue(vt);
    llvm::SmallVector<llvm::Constant *, 16> index;
    for (int64_t l = 0; l < lanes; ++l)
      index.push_back(b_.getInt32(uint32_t(l)));
    Value *laneIndex = llvm::ConstantVector::get(index);
    auto splat = [&](Value *v) { return b_.CreateVectorSplat(unsigned(lanes), v); };
    const int64_t chunks = (g.W + lanes - 1) / lanes, OW = g.OW, OHW = g.ohw();
    loops_.forRange(g.C, [&](Value *c) {
      loops_.forRange(g.H, [&](Value *iy) {
        auto chunk = [&](Value *x0) {
          Value *xs = b_.CreateAdd(splat(b_.CreateTrunc(x0, b_.getInt32Ty())), laneIndex); // the lanes' columns of dx
          Value *inRow = b_.CreateICmpSLT(xs, llvm::ConstantInt::get(it, uint64_t(g.W)));
          Value *acc = zero;
          for (int64_t ky = 0; ky < g.KH; ++ky) {
            // Output row oy reads input row iy through ky when oy·strideH − padH + ky = iy.
            Value *at = b_.CreateAdd(iy, c64(g.padH - ky));
            Value *oy = g.strideH == 1 ? at : b_.CreateSDiv(at, c64(g.strideH));
            Value *valid = b_.CreateAnd(b_.CreateICmpSGE(at, c64(0)), b_.CreateICmpSLT(oy, c64(g.OH)));
            if (g.strideH > 1)
              valid = b_.CreateAnd(valid, b_.CreateICmpEQ(b_.CreateSRem(at, c64(g.strideH)), c64(0)));
            oy = b_.CreateSelect(valid, oy, c64(0));
            Value *rowValid = b_.CreateAnd(inRow, splat(valid));
            for (int64_t kx = 0; kx < g.KW; ++kx) {
              // Lane x reads output column ox = x + padW − kx.
              Value *ox = b_.CreateAdd(xs, llvm::ConstantInt::get(it, uint64_t(g.padW - kx)));
              Value *mask = b_.CreateAnd(rowValid, b_.CreateAnd(b_.CreateICmpSGE(ox, llvm::ConstantInt::get(it, 0)),
                                                                b_.CreateICmpSLT(ox, llvm::ConstantInt::get(it, uint64_t(OW)))));
              Value *r = b_.CreateAdd(b_.CreateMul(c, c64(g.KH * g.KW)), c64(ky * g.KW + kx));
              Value *from = b_.CreateAdd(b_.CreateAdd(b_.CreateMul(r, c64(OHW)), b_.CreateMul(oy, c64(OW))),
                                         b_.CreateAdd(x0, c64(g.padW - kx)));
              // Masked-off lanes may lie before the row: a plain GEP, never dereferenced there.
              acc = b_.CreateFAdd(acc, b_.CreateMaskedLoad(vt, b_.CreateGEP(t, col, from), align, mask, zero));
            }
          }
          Value *at = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(c, c64(g.H)), iy), c64(g.W)), x0);
          Value *to = b_.CreateInBoundsGEP(t, dx, at);
          if (ep) {
            Value *column = b_.CreateAdd(b_.CreateMul(iy, c64(g.W)), x0); // of dx[n] as [C × H·W]
            acc = col2imEpilogue(*ep, t, vt, acc, inRow, c, column, b_.CreateAdd(b_.CreateMul(image, c64(g.C * g.H * g.W)), at));
          }
          if (g.W % lanes == 0)
            b_.CreateAlignedStore(acc, to, align);
          else
            b_.CreateMaskedStore(acc, to, align, inRow);
        };
        if (chunks == 1)
          chunk(c64(0));
        else
          loops_.forRange(chunks, [&](Value *xc) { chunk(b_.CreateMul(xc, c64(lanes))); });
      });
    });
    return;
  }
  b_.CreateMemSet(dx, b_.getInt8(0), c64(g.C * g.H * g.W * bytes), llvm::MaybeAlign(bytes));
  auto inside = [&](Value *at, Value *c, Value *iy, int64_t kx, int64_t lo, int64_t hi) {
    Value *base = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(c, c64(g.H)), iy), c64(g.W)),
                               c64(lo * g.strideW - g.padW + kx));
    Value *from = b_.CreateAdd(at, c64(lo));
    loops_.forRange(hi - lo, [&](Value *j) {
      Value *p = b_.CreateInBoundsGEP(t, dx, b_.CreateAdd(base, b_.CreateMul(j, c64(g.strideW))));
      Value *v = b_.CreateLoad(t, b_.CreateInBoundsGEP(t, col, b_.CreateAdd(from, j)));
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, p), v), p);
    });
  };
  walkIm2col(g, inside, {});
}

/// target[o][r] = (first ? 0 : target[o][r]) + Σ_p dy[o][p]·col[r][p], for dy [O × P] and col
/// [R × P] (P = OH·OW): the weight gradient of one image as dot products along P, for a
/// C·KH·KW too small to fill the GEMM microkernel's columns (which would spend most of its
/// accumulators on padding). Blocks of 2 rows of dy by 4 rows of col keep 8 vector
/// accumulators; each vector of P costs 6 loads for 8 fused multiply-adds.
void KernelEmitter::emitWeightGradDots(const ConvGeometry &g, llvm::Type *t, Value *dy, Value *col, Value *target,
                                       Value *first) {
  const int64_t P = g.ohw(), O = g.O, R = g.ckk(), OB = 2, RB = 4;
  const unsigned lanes = lanesOf(t);
  auto *vt = llvm::FixedVectorType::get(t, lanes);
  const int64_t full = P / int64_t(lanes), tail = P % int64_t(lanes);
  llvm::SmallVector<llvm::Constant *, 16> maskBits;
  for (unsigned l = 0; l < lanes; ++l)
    maskBits.push_back(b_.getInt1(int64_t(l) < tail));
  Value *tailMask = llvm::ConstantVector::get(maskBits);
  Value *zero = llvm::Constant::getNullValue(vt);
  llvm::Align align(uint64_t(t->getPrimitiveSizeInBits() / 8));
  // nO rows of dy from o0 by nR rows of col from r0.
  auto block = [&](Value *o0, int64_t nO, Value *r0, int64_t nR) {
    std::vector<Value *> acc;
    for (int64_t k = 0; k < nO * nR; ++k)
      acc.push_back(localVar(vt, zero));
    auto rowPtr = [&](Value *base, Value *row0, int64_t j, Value *p) {
      return b_.CreateInBoundsGEP(t, base, b_.CreateAdd(b_.CreateMul(b_.CreateAdd(row0, c64(j)), c64(P)), p));
    };
    auto step = [&](Value *p, bool masked) {
      auto ld = [&](Value *ptr) -> Value * {
        if (masked)
          return b_.CreateMaskedLoad(vt, ptr, align, tailMask, zero);
        return b_.CreateAlignedLoad(vt, ptr, align);
      };
      std::vector<Value *> a, c;
      for (int64_t i = 0; i < nO; ++i)
        a.push_back(ld(rowPtr(dy, o0, i, p)));
      for (int64_t j = 0; j < nR; ++j)
        c.push_back(ld(rowPtr(col, r0, j, p)));
      for (int64_t i = 0; i < nO; ++i)
        for (int64_t j = 0; j < nR; ++j) {
          Value *slot = acc[size_t(i * nR + j)];
          Value *sum = b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vt}, {a[size_t(i)], c[size_t(j)], b_.CreateLoad(vt, slot)});
          b_.CreateStore(sum, slot);
        }
    };
    loops_.forRange(full, [&](Value *v) { step(b_.CreateMul(v, c64(lanes)), false); });
    if (tail)
      step(c64(full * int64_t(lanes)), true);
    for (int64_t i = 0; i < nO; ++i)
      for (int64_t j = 0; j < nR; ++j) {
        Value *s = b_.CreateFAddReduce(llvm::ConstantFP::getZero(t), b_.CreateLoad(vt, acc[size_t(i * nR + j)]));
        Value *at = b_.CreateInBoundsGEP(
            t, target, b_.CreateAdd(b_.CreateMul(b_.CreateAdd(o0, c64(i)), c64(R)), b_.CreateAdd(r0, c64(j))));
        b_.CreateStore(b_.CreateSelect(first, s, b_.CreateFAdd(b_.CreateLoad(t, at), s)), at);
      }
  };
  auto rows = [&](Value *o0, int64_t nO) {
    if (R / RB > 0)
      loops_.forRange(R / RB, [&](Value *rb) { block(o0, nO, b_.CreateMul(rb, c64(RB)), RB); });
    if (R % RB)
      block(o0, nO, c64(R / RB * RB), R % RB);
  };
  if (O / OB > 0)
    loops_.forRange(O / OB, [&](Value *ob) { rows(b_.CreateMul(ob, c64(OB)), OB); });
  if (O % OB)
    rows(c64(O / OB * OB), O % OB);
}

void KernelEmitter::emitConv(const Node &n, const RowSplit &split, ValueId into, const Epilogue *ep) {
  ConvGeometry g = convGeometry(fn_, n);
  ConvScratch sc = planConvScratch(fn_, n, split, opts_);
  bool f64 = n.type.dtype == DType::F64;
  llvm::Type *t = valueType(n.type.dtype);
  llvm::Function *gemm = ep ? sgemmEpilogue_ : f64 ? dgemm_ : sgemm_;
  int64_t CKK = g.ckk(), OHW = g.ohw(), HW = g.H * g.W;
  bool pointwise = g.pointwise();
  bool weightGrad = n.op == OpKind::Conv2DGradWeight;
  // C = op(A)·op(B) of M×N×K, on this block's packing scratch. With an epilogue (the forward
  // product, or the input gradient's when it writes dx itself) C is one image of `into`: the
  // bias is per row (an output channel) and the aux tensor is read at C's image.
  auto product = [&](int64_t M, int64_t N, int64_t K, Value *A, int64_t lda, Value *B, int64_t ldb, Value *C,
                     int64_t ldc, Value *flags, Value *scratch, Value *image = nullptr, bool epilogue = true) {
    std::vector<Value *> args{c64(M), c64(N), c64(K), A, c64(lda), B, c64(ldb), C, c64(ldc), flags, scratch};
    Value *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
    if (ep && !epilogue) {
      args.insert(args.end(), {null, null, b_.getInt32(0)});
    } else if (ep) {
      Value *bias = ep->bias.valid() ? b_.CreateInBoundsGEP(t, ptr_[ep->bias.index], c64(ep->biasOffset)) : null;
      Value *aux = ep->aux.valid() ? b_.CreateInBoundsGEP(t, ptr_[ep->aux.index], b_.CreateMul(image, c64(M * N))) : null;
      args.insert(args.end(), {bias, aux, b_.getInt32(ep->kind)});
    }
    b_.CreateCall(gemm, args);
  };
  auto image = [&](ValueId v, Value *ni, int64_t elems) {
    return b_.CreateInBoundsGEP(t, ptr_[v.index], b_.CreateMul(ni, c64(elems)));
  };
  parallelRows(split, [&](Value *begin, Value *end) {
    Value *block = b_.CreateUDiv(begin, c64(split.chunk));
    Value *scratch = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(block, c64(sc.blockBytes())));
    Value *col = b_.CreateInBoundsGEP(b_.getInt8Ty(), scratch, c64(sc.gemmBytes));
    Value *partial = b_.CreateInBoundsGEP(b_.getInt8Ty(), scratch, c64(sc.partialOffset()));
    Value *flipped = b_.CreateInBoundsGEP(b_.getInt8Ty(), partial, c64(sc.partialBytes));
    if (n.op == OpKind::Conv2DGradInput && g.gradInputAsConv()) {
      // w̃[c][o][KH−1−ky][KW−1−kx] = w[o][c][ky][kx], this block's copy.
      Value *w = ptr_[n.operands[1].index];
      int64_t KK = g.KH * g.KW;
      loops_.forRange(g.O * g.C, [&](Value *oc) {
        Value *o = b_.CreateUDiv(oc, c64(g.C)), *c = b_.CreateURem(oc, c64(g.C));
        Value *to = b_.CreateMul(b_.CreateAdd(b_.CreateMul(c, c64(g.O)), o), c64(KK));
        for (int64_t k = 0; k < KK; ++k) {
          Value *v = b_.CreateLoad(t, b_.CreateInBoundsGEP(t, w, b_.CreateAdd(b_.CreateMul(oc, c64(KK)), c64(k))));
          b_.CreateStore(v, b_.CreateInBoundsGEP(t, flipped, b_.CreateAdd(to, c64(KK - 1 - k))));
        }
      });
    }
    loops_.forRange(begin, end, [&](Value *ni) {
      switch (n.op) {
      case OpKind::Conv2D: { // y[n] = w · im2col(x[n])
        Value *x = image(n.operands[0], ni, g.C * HW), *y = image(into, ni, g.O * OHW);
        Value *B = x;
        if (!pointwise)
          emitIm2col(g, t, x, B = col);
        product(g.O, OHW, CKK, ptr_[n.operands[1].index], CKK, B, OHW, y, OHW, b_.getInt32(0), scratch, ni);
        break;
      }
      case OpKind::Conv2DGradInput: { // dx[n] = w̃ · im2col(dy[n]), or col2im(wᵀ · dy[n])
        Value *dy = image(n.operands[0], ni, g.O * OHW), *dx = image(into, ni, g.C * HW);
        Value *w = ptr_[n.operands[1].index];
        if (pointwise) {
          product(g.C, HW, g.O, w, CKK, dy, OHW, dx, HW, b_.getInt32(GemmTransposeA), scratch, ni);
          break;
        }
        if (g.gradInputAsConv()) {
          ConvGeometry tg = g.transposed();
          emitIm2col(tg, t, dy, col);
          product(g.C, HW, tg.ckk(), flipped, tg.ckk(), col, HW, dx, HW, b_.getInt32(0), scratch, ni);
          break;
        }
        // The product writes col, not dx: any epilogue is col2im's, as it stores dx.
        product(CKK, OHW, g.O, w, CKK, dy, OHW, col, OHW, b_.getInt32(GemmTransposeA), scratch, nullptr, false);
        emitCol2im(g, t, col, dx, ep, ni);
        break;
      }
      default: { // Conv2DGradWeight: dw (or this block's partial sum) += dy[n] · im2col(x[n])ᵀ
        Value *x = image(n.operands[0], ni, g.C * HW), *dy = image(n.operands[1], ni, g.O * OHW);
        Value *B = x;
        if (!pointwise)
          emitIm2col(g, t, x, B = col);
        Value *target = split.parallel ? partial : ptr_[n.result.index];
        // The block's first image sets the sum, the others add to it.
        if (CKK <= kDotsMaxCKK) {
          emitWeightGradDots(g, t, dy, B, target, b_.CreateICmpEQ(ni, begin));
          break;
        }
        Value *flags = b_.CreateSelect(b_.CreateICmpEQ(ni, begin), b_.getInt32(GemmTransposeB),
                                       b_.getInt32(GemmTransposeB | GemmAccumulate));
        product(g.O, CKK, OHW, dy, OHW, B, OHW, target, CKK, flags, scratch);
      }
      }
    });
  });
  if (!weightGrad || !split.parallel)
    return;
  // dw = the blocks' partial sums, added in block order.
  std::vector<Value *> partials;
  for (int64_t blk = 0; blk < split.blocks; ++blk)
    partials.push_back(
        b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, c64(blk * sc.blockBytes() + sc.partialOffset())));
  loops_.forRange(g.O * CKK, [&](Value *i) {
    Value *sum = b_.CreateLoad(t, b_.CreateInBoundsGEP(t, partials[0], i));
    for (size_t blk = 1; blk < partials.size(); ++blk)
      sum = b_.CreateFAdd(sum, b_.CreateLoad(t, b_.CreateInBoundsGEP(t, partials[blk], i)));
    storeFlat(n.result, i, sum);
  });
}

} // namespace nnc
