//===- EmitWindow.cpp - Pooling -------------------------------------------------------------===//
//
// Max and average pooling and their adjoints: loop nests over the interpreter's window
// geometry (stride, padding, the in-bounds test), split over threads by (batch, channel)
// plane. Convolutions are products of the GEMM routines (codegen/EmitConv.cpp).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <cmath>

namespace nnc {

using llvm::Value;

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
