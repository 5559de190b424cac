//===- EmitConv.cpp - Convolution and its adjoints on the GEMM routines ---------------------===//
//
// conv2d, conv2d_grad_input and conv2d_grad_weight as products of the packed GEMM routines
// (codegen/Gemm.h), one image at a time, in the NCHW layout of the language:
//
//   forward       col = im2col(x[n])            [C·KH·KW × OH·OW]
//                 y[n] = w · col                 w seen as [O × C·KH·KW]
//   input grad    col = wᵀ · dy[n]               then dx[n] = col2im(col)
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

} // namespace

/// Walks the im2col matrix of one image: for every row r = (c·KH + ky)·KW + kx, the output rows
/// oy whose input row iy is inside the image call `inside(r, c, ky, kx, oy, iy, lo, hi)`, with
/// [lo, hi) the columns ox whose input column is inside too; `outside(rowPtrOffset, count)`
/// gets the runs of col elements (offsets in elements from col's start) that read padding.
/// ky and kx are unrolled, so every range is a constant.
void KernelEmitter::walkIm2col(const ConvGeometry &g, const ColInside &inside,
                               const std::function<void(Value *, int64_t)> &outside) {
  int64_t OW = g.OW, OHW = g.ohw();
  loops_.forRange(g.C, [&](Value *c) {
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        Value *r = b_.CreateAdd(b_.CreateMul(c, c64(g.KH * g.KW)), c64(ky * g.KW + kx));
        Value *row0 = b_.CreateMul(r, c64(OHW));
        auto [yLo, yHi] = insideRange(g.OH, g.H, g.strideH, g.padH, ky);
        auto [xLo, xHi] = insideRange(g.OW, g.W, g.strideW, g.padW, kx);
        if (xLo == xHi) { // the whole row of col reads padding
          outside(row0, OHW);
          continue;
        }
        if (yLo > 0)
          outside(row0, yLo * OW);
        if (yHi < g.OH)
          outside(b_.CreateAdd(row0, c64(yHi * OW)), (g.OH - yHi) * OW);
        if (yLo == yHi)
          continue;
        loops_.forRange(c64(yLo), c64(yHi), [&](Value *oy) {
          Value *at = b_.CreateAdd(row0, b_.CreateMul(oy, c64(OW)));
          if (xLo > 0)
            outside(at, xLo);
          if (xHi < OW)
            outside(b_.CreateAdd(at, c64(xHi)), OW - xHi);
          Value *iy = b_.CreateAdd(b_.CreateMul(oy, c64(g.strideH)), c64(ky - g.padH));
          inside(at, c, iy, kx, xLo, xHi);
        });
      }
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

/// dx = col2im(col) for one image: dx (C×H×W, zeroed here) += every element of col at the input
/// position it was read from; positions in the padding are dropped.
void KernelEmitter::emitCol2im(const ConvGeometry &g, llvm::Type *t, Value *col, Value *dx) {
  int64_t bytes = int64_t(t->getPrimitiveSizeInBits() / 8);
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
  walkIm2col(g, inside, [](Value *, int64_t) {});
}

void KernelEmitter::emitConv(const Node &n, const RowSplit &split) {
  ConvGeometry g = convGeometry(fn_, n);
  ConvScratch sc = planConvScratch(fn_, n, split, opts_);
  bool f64 = n.type.dtype == DType::F64;
  llvm::Type *t = valueType(n.type.dtype);
  llvm::Function *gemm = f64 ? dgemm_ : sgemm_;
  int64_t CKK = g.ckk(), OHW = g.ohw(), HW = g.H * g.W;
  bool pointwise = g.pointwise();
  bool weightGrad = n.op == OpKind::Conv2DGradWeight;
  // C = op(A)·op(B) of M×N×K, on this block's packing scratch.
  auto product = [&](int64_t M, int64_t N, int64_t K, Value *A, int64_t lda, Value *B, int64_t ldb, Value *C,
                     int64_t ldc, Value *flags, Value *scratch) {
    b_.CreateCall(gemm, {c64(M), c64(N), c64(K), A, c64(lda), B, c64(ldb), C, c64(ldc), flags, scratch});
  };
  auto image = [&](ValueId v, Value *ni, int64_t elems) {
    return b_.CreateInBoundsGEP(t, ptr_[v.index], b_.CreateMul(ni, c64(elems)));
  };
  parallelRows(split, [&](Value *begin, Value *end) {
    Value *block = b_.CreateUDiv(begin, c64(split.chunk));
    Value *scratch = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, b_.CreateMul(block, c64(sc.blockBytes())));
    Value *col = b_.CreateInBoundsGEP(b_.getInt8Ty(), scratch, c64(sc.gemmBytes));
    Value *partial = b_.CreateInBoundsGEP(b_.getInt8Ty(), col, c64(sc.colBytes));
    loops_.forRange(begin, end, [&](Value *ni) {
      switch (n.op) {
      case OpKind::Conv2D: { // y[n] = w · im2col(x[n])
        Value *x = image(n.operands[0], ni, g.C * HW), *y = image(n.result, ni, g.O * OHW);
        Value *B = x;
        if (!pointwise)
          emitIm2col(g, t, x, B = col);
        product(g.O, OHW, CKK, ptr_[n.operands[1].index], CKK, B, OHW, y, OHW, b_.getInt32(0), scratch);
        break;
      }
      case OpKind::Conv2DGradInput: { // dx[n] = col2im(wᵀ · dy[n])
        Value *dy = image(n.operands[0], ni, g.O * OHW), *dx = image(n.result, ni, g.C * HW);
        Value *w = ptr_[n.operands[1].index];
        if (pointwise) {
          product(g.C, HW, g.O, w, CKK, dy, OHW, dx, HW, b_.getInt32(GemmTransposeA), scratch);
          break;
        }
        product(CKK, OHW, g.O, w, CKK, dy, OHW, col, OHW, b_.getInt32(GemmTransposeA), scratch);
        emitCol2im(g, t, col, dx);
        break;
      }
      default: { // Conv2DGradWeight: dw (or this block's partial sum) += dy[n] · im2col(x[n])ᵀ
        Value *x = image(n.operands[0], ni, g.C * HW), *dy = image(n.operands[1], ni, g.O * OHW);
        Value *B = x;
        if (!pointwise)
          emitIm2col(g, t, x, B = col);
        Value *target = split.parallel ? partial : ptr_[n.result.index];
        // The block's first image sets the sum, the others add to it.
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
        b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, c64(blk * sc.blockBytes() + sc.gemmBytes + sc.colBytes)));
  loops_.forRange(g.O * CKK, [&](Value *i) {
    Value *sum = b_.CreateLoad(t, b_.CreateInBoundsGEP(t, partials[0], i));
    for (size_t blk = 1; blk < partials.size(); ++blk)
      sum = b_.CreateFAdd(sum, b_.CreateLoad(t, b_.CreateInBoundsGEP(t, partials[blk], i)));
    storeFlat(n.result, i, sum);
  });
}

} // namespace nnc
