//===- EmitWindow.cpp - Convolution and pooling ---------------------------------------------===//
//
// conv2d, its input and weight gradients, max and average pooling and their adjoints: direct
// loop nests over the interpreter's window geometry (stride, padding, the in-bounds test),
// split over threads by batch element, output channel or (batch, channel) plane.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <cmath>

namespace nnc {

using llvm::Value;

/// conv2d and its two adjoints share one loop nest over (n, o, oy, ox, c, ky, kx) with the
/// in-bounds test of the interpreter's Window: y[n,o,oy,ox] += x[n,c,iy,ix] * w[o,c,ky,kx].
void KernelEmitter::emitConv(const Node &n, const RowSplit &split) {
  ValueId x, w, y; // the roles in the forward convolution
  std::vector<int64_t> xs, ws, ys;
  if (n.op == OpKind::Conv2D) {
    x = n.operands[0], w = n.operands[1], y = n.result;
    xs = type(x).shape, ws = type(w).shape, ys = n.type.shape;
  } else if (n.op == OpKind::Conv2DGradInput) { // (dy, w) -> dx
    y = n.operands[0], w = n.operands[1], x = n.result;
    xs = n.type.shape, ws = type(w).shape, ys = type(y).shape;
  } else { // Conv2DGradWeight: (x, dy) -> dw
    x = n.operands[0], y = n.operands[1], w = n.result;
    xs = type(x).shape, ws = n.type.shape, ys = type(y).shape;
  }
  std::vector<int64_t> stride = n.attrs.getInts("stride", {1, 1}), pad = n.attrs.getInts("pad", {0, 0});
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], KH = ws[2], KW = ws[3];
  int64_t OH = ys[2], OW = ys[3];
  fill(n.result, 0);
  // The convolution and the input gradient write batch element ni's output only: their batch
  // is split over threads. The weight gradient sums over the batch, so it is split over the
  // output channels o instead, with the batch inside; each element's terms are added in the
  // same order either way.
  bool weightGrad = n.op == OpKind::Conv2DGradWeight;
  auto point = [&](Value *ni, Value *o) { loops_.forRange(OH, [&](Value *oy) { loops_.forRange(OW, [&](Value *ox) {
    Value *yi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(ni, c64(O)), o), c64(OH)), oy), c64(OW)), ox);
    loops_.forRange(C, [&](Value *c) { loops_.forRange(KH, [&](Value *ky) { loops_.forRange(KW, [&](Value *kx) {
      Value *iy = b_.CreateAdd(b_.CreateSub(b_.CreateMul(oy, c64(stride[0])), c64(pad[0])), ky);
      Value *ix = b_.CreateAdd(b_.CreateSub(b_.CreateMul(ox, c64(stride[1])), c64(pad[1])), kx);
      Value *ok = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c64(0)), b_.CreateICmpSLT(iy, c64(H))),
                               b_.CreateAnd(b_.CreateICmpSGE(ix, c64(0)), b_.CreateICmpSLT(ix, c64(W))));
      ifThen(b_, ok, "inside", "outside", [&] {
        Value *xi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(ni, c64(C)), c), c64(H)), iy), c64(W)), ix);
        Value *wi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(o, c64(C)), c), c64(KH)), ky), c64(KW)), kx);
        Value *target = n.op == OpKind::Conv2D ? yi : n.op == OpKind::Conv2DGradInput ? xi : wi;
        Value *p = n.op == OpKind::Conv2D ? b_.CreateFMul(loadFlat(x, xi), loadFlat(w, wi))
                   : n.op == OpKind::Conv2DGradInput ? b_.CreateFMul(loadFlat(y, yi), loadFlat(w, wi))
                                                    : b_.CreateFMul(loadFlat(y, yi), loadFlat(x, xi));
        storeFlat(n.result, target, b_.CreateFAdd(loadFlat(n.result, target), p));
      });
    }); }); });
  }); }); };
  parallelRows(split, [&](Value *begin, Value *end) {
    loops_.forRange(begin, end, [&](Value *r) {
      loops_.forRange(weightGrad ? N : O, [&](Value *q) { weightGrad ? point(q, r) : point(r, q); });
    });
  });
}

/// maxpool2d, avgpool2d and their adjoints over the interpreter's Window geometry.
void KernelEmitter::emitPool(const Node &n, const RowSplit &split) {
  bool grad = n.op == OpKind::MaxPool2DGrad || n.op == OpKind::AvgPool2DGrad;
  bool isMax = n.op == OpKind::MaxPool2D || n.op == OpKind::MaxPool2DGrad;
  std::vector<int64_t> xs = n.op == OpKind::MaxPool2DGrad ? type(n.operands[0]).shape : grad ? n.type.shape : type(n.operands[0]).shape;
  std::vector<int64_t> ys = n.op == OpKind::MaxPool2DGrad ? type(n.operands[1]).shape : grad ? type(n.operands[0]).shape : n.type.shape;
  std::vector<int64_t> k = n.attrs.getInts("kernel"), s = n.attrs.getInts("stride"), p = n.attrs.getInts("pad", {0, 0});
  int64_t H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
  DType d = n.type.dtype;
  double area = double(k[0] * k[1]);
  fill(n.result, n.op == OpKind::MaxPool2D ? -INFINITY : 0);
  // Each (batch, channel) plane is independent: the planes are split over threads.
  auto plane = [&](Value *nc) { loops_.forRange(OH, [&](Value *oy) { loops_.forRange(OW, [&](Value *ox) {
    Value *yi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(OH)), oy), c64(OW)), ox);
    // For the max adjoint: the first position (row-major) holding the window's maximum.
    Value *best = isMax && grad ? localVar(i64(), c64(-1)) : nullptr;
    loops_.forRange(k[0], [&](Value *ky) { loops_.forRange(k[1], [&](Value *kx) {
      Value *iy = b_.CreateAdd(b_.CreateSub(b_.CreateMul(oy, c64(s[0])), c64(p[0])), ky);
      Value *ix = b_.CreateAdd(b_.CreateSub(b_.CreateMul(ox, c64(s[1])), c64(p[1])), kx);
      Value *ok = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c64(0)), b_.CreateICmpSLT(iy, c64(H))),
                               b_.CreateAnd(b_.CreateICmpSGE(ix, c64(0)), b_.CreateICmpSLT(ix, c64(W))));
      ifThen(b_, ok, "inside", "outside", [&] {
        Value *xi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(H)), iy), c64(W)), ix);
        switch (n.op) {
        case OpKind::MaxPool2D:
          storeFlat(n.result, yi, fmax(loadFlat(n.result, yi), loadFlat(n.operands[0], xi)));
          break;
        case OpKind::AvgPool2D:
          storeFlat(n.result, yi, b_.CreateFAdd(loadFlat(n.result, yi), b_.CreateFDiv(loadFlat(n.operands[0], xi), constantOf(d, area))));
          break;
        case OpKind::AvgPool2DGrad:
          storeFlat(n.result, xi, b_.CreateFAdd(loadFlat(n.result, xi), b_.CreateFDiv(loadFlat(n.operands[0], yi), constantOf(d, area))));
          break;
        default: { // MaxPool2DGrad: track the first maximum
          Value *cur = b_.CreateLoad(i64(), best);
          Value *none = b_.CreateICmpSLT(cur, c64(0));
          Value *safe = b_.CreateSelect(none, xi, cur);
          Value *greater = b_.CreateFCmpOGT(loadFlat(n.operands[0], xi), loadFlat(n.operands[0], safe));
          b_.CreateStore(b_.CreateSelect(b_.CreateOr(none, greater), xi, cur), best);
        }
        }
      });
    }); });
    if (best) {
      Value *at = b_.CreateLoad(i64(), best);
      ifThen(b_, b_.CreateICmpSGE(at, c64(0)), "route", "routed", [&] {
        storeFlat(n.result, at, b_.CreateFAdd(loadFlat(n.result, at), loadFlat(n.operands[1], yi)));
      });
    }
  }); }); };
  parallelRows(split, [&](Value *begin, Value *end) { loops_.forRange(begin, end, plane); });
}

} // namespace nnc
