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
#include "codegen/ConvRoutines.h"
#include "codegen/KernelEmitter.h"

#include <llvm/IR/Module.h>

namespace nnc {

using llvm::Value;

namespace {

/// The weight gradient of a convolution with C·KH·KW at most this is computed as dot products
/// (nnc_conv_dots_T), not by the GEMM.
constexpr int64_t kDotsMaxCKK = 64;

} // namespace

/// The convolution routine `routine` (codegen/ConvRoutines.h) for f32 or f64.
llvm::Function *KernelEmitter::convRoutine(ConvRoutine routine, bool f64) {
  return fixedRoutine(convRoutineName(routine, f64), convRoutineType(m_.getContext(), routine),
                      [&] { return emitConvRoutine(m_, routine, f64, opts_.vectorBits); });
}

/// `g` as the geometry argument of the convolution routines: a constant of the module.
Value *KernelEmitter::geometryConstant(const ConvGeometry &g) {
  auto words = convGeometryWords(g);
  auto *type = llvm::ArrayType::get(i64(), words.size());
  std::vector<llvm::Constant *> values;
  for (int64_t w : words)
    values.push_back(llvm::ConstantInt::get(i64(), uint64_t(w)));
  auto *global = new llvm::GlobalVariable(m_, type, /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage,
                                          llvm::ConstantArray::get(type, values), "conv.geometry");
  global->setAlignment(llvm::Align(8));
  return global;
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
  // The epilogue's arguments (bias, aux, kind) for the image `image` of `imageElements`
  // elements: the bias is per row (an output channel), the aux tensor is read at the image;
  // null, null, 0 without an epilogue.
  auto epilogueArgs = [&](Value *image, int64_t imageElements) -> std::vector<Value *> {
    Value *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
    if (!ep)
      return {null, null, b_.getInt32(0)};
    Value *bias = ep->bias.valid() ? b_.CreateInBoundsGEP(t, ptr_[ep->bias.index], c64(ep->biasOffset)) : null;
    Value *aux = ep->aux.valid() ? b_.CreateInBoundsGEP(t, ptr_[ep->aux.index], b_.CreateMul(image, c64(imageElements)))
                                 : null;
    return {bias, aux, b_.getInt32(uint32_t(ep->kind))};
  };
  // C = op(A)·op(B) of M×N×K, on this block's packing scratch. With an epilogue (the forward
  // product, or the input gradient's when it writes dx itself) C is one image of `into`.
  auto product = [&](int64_t M, int64_t N, int64_t K, Value *A, int64_t lda, Value *B, int64_t ldb, Value *C,
                     int64_t ldc, Value *flags, Value *scratch, Value *image = nullptr, bool epilogue = true) {
    std::vector<Value *> args{c64(M), c64(N), c64(K), A, c64(lda), B, c64(ldb), C, c64(ldc), flags, scratch};
    if (ep) {
      Value *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
      std::vector<Value *> extra = epilogue ? epilogueArgs(image, M * N) : std::vector<Value *>{null, null, b_.getInt32(0)};
      args.insert(args.end(), extra.begin(), extra.end());
    }
    b_.CreateCall(gemm, args);
  };
  auto image = [&](ValueId v, Value *ni, int64_t elems) {
    return b_.CreateInBoundsGEP(t, ptr_[v.index], b_.CreateMul(ni, c64(elems)));
  };
  // The input gradient as col2im(wᵀ · dy[n]) (gathered, or scattered for strides along x).
  const bool viaCol2im = n.op == OpKind::Conv2DGradInput && !pointwise && !g.gradInputAsConv();
  Value *geometry = geometryConstant(n.op == OpKind::Conv2DGradInput && g.gradInputAsConv() ? g.transposed() : g);
  llvm::Function *im2col = pointwise || viaCol2im ? nullptr : convRoutine(ConvRoutine::Im2col, f64);
  llvm::Function *col2im = viaCol2im ? convRoutine(ConvRoutine::Col2im, f64) : nullptr;
  llvm::Function *dots = weightGrad && CKK <= kDotsMaxCKK ? convRoutine(ConvRoutine::Dots, f64) : nullptr;
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
        if (!pointwise) {
          b_.CreateCall(im2col, {geometry, x, col});
          B = col;
        }
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
          b_.CreateCall(im2col, {geometry, dy, col});
          product(g.C, HW, tg.ckk(), flipped, tg.ckk(), col, HW, dx, HW, b_.getInt32(0), scratch, ni);
          break;
        }
        // The product writes col, not dx: any epilogue is col2im's, as it stores dx.
        product(CKK, OHW, g.O, w, CKK, dy, OHW, col, OHW, b_.getInt32(GemmTransposeA), scratch, nullptr, false);
        std::vector<Value *> args{geometry, col, dx};
        std::vector<Value *> extra = epilogueArgs(ni, g.C * HW);
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(b_.CreateInBoundsGEP(b_.getInt8Ty(), scratch, c64(sc.maskOffset()))); // its lane masks
        b_.CreateCall(col2im, args);
        break;
      }
      default: { // Conv2DGradWeight: dw (or this block's partial sum) += dy[n] · im2col(x[n])ᵀ
        Value *x = image(n.operands[0], ni, g.C * HW), *dy = image(n.operands[1], ni, g.O * OHW);
        Value *B = x;
        if (!pointwise) {
          b_.CreateCall(im2col, {geometry, x, col});
          B = col;
        }
        Value *target = split.parallel ? partial : ptr_[n.result.index];
        // The block's first image sets the sum, the others add to it.
        if (dots) {
          b_.CreateCall(dots, {geometry, dy, B, target, b_.CreateZExt(b_.CreateICmpEQ(ni, begin), b_.getInt32Ty())});
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
  sumInOrder(t, g.O * CKK, partials, [&](Value *i, Value *sum) { storeFlat(n.result, i, sum); });
}

} // namespace nnc
