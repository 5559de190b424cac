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

/// maxpool2d, avgpool2d and their adjoints over the interpreter's Window geometry. The forward
/// ops keep each window's maximum or sum in a register and store it once. The adjoints of
/// windows that tile the input (stride = kernel, no padding) write every input element exactly
/// once, in one pass: the gradient (or its share of the average) inside each window, zero at
/// the other positions of a max window and in the rows and columns no window covers. Overlapping
/// or padded windows clear the result first and add each window's part.
void KernelEmitter::emitPool(const Node &n, const RowSplit &split) {
  bool grad = n.op == OpKind::MaxPool2DGrad || n.op == OpKind::AvgPool2DGrad;
  bool isMax = n.op == OpKind::MaxPool2D || n.op == OpKind::MaxPool2DGrad;
  std::vector<int64_t> xs = n.op == OpKind::MaxPool2DGrad ? type(n.operands[0]).shape : grad ? n.type.shape : type(n.operands[0]).shape;
  std::vector<int64_t> ys = n.op == OpKind::MaxPool2DGrad ? type(n.operands[1]).shape : grad ? type(n.operands[0]).shape : n.type.shape;
  std::vector<int64_t> k = n.attrs.getInts("kernel"), s = n.attrs.getInts("stride"), p = n.attrs.getInts("pad", {0, 0});
  int64_t H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  double area = double(k[0] * k[1]);
  bool tiles = grad && s[0] == k[0] && s[1] == k[1] && p[0] == 0 && p[1] == 0;
  if (grad && !tiles)
    fill(n.result, 0);
  // Each window position (ky, kx) of output (oy, ox): body(xi, ok) with xi the flat index of
  // the input element of plane nc it reads and ok whether it lies inside the input.
  auto window = [&](Value *nc, Value *oy, Value *ox, const std::function<void(Value *)> &body) {
    loops_.forRange(k[0], [&](Value *ky) { loops_.forRange(k[1], [&](Value *kx) {
      Value *iy = b_.CreateAdd(b_.CreateSub(b_.CreateMul(oy, c64(s[0])), c64(p[0])), ky);
      Value *ix = b_.CreateAdd(b_.CreateSub(b_.CreateMul(ox, c64(s[1])), c64(p[1])), kx);
      Value *ok = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c64(0)), b_.CreateICmpSLT(iy, c64(H))),
                               b_.CreateAnd(b_.CreateICmpSGE(ix, c64(0)), b_.CreateICmpSLT(ix, c64(W))));
      ifThen(b_, ok, "inside", "outside", [&] {
        body(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(H)), iy), c64(W)), ix));
      });
    }); });
  };
  // Each (batch, channel) plane is independent: the planes are split over threads.
  auto plane = [&](Value *nc) {
    loops_.forRange(OH, [&](Value *oy) { loops_.forRange(OW, [&](Value *ox) {
      Value *yi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(OH)), oy), c64(OW)), ox);
      switch (n.op) {
      case OpKind::MaxPool2D:
      case OpKind::AvgPool2D: {
        Value *acc = localVar(t, constantOf(d, isMax ? -INFINITY : 0));
        window(nc, oy, ox, [&](Value *xi) {
          Value *x = loadFlat(n.operands[0], xi), *cur = b_.CreateLoad(t, acc);
          b_.CreateStore(isMax ? fmax(cur, x) : b_.CreateFAdd(cur, b_.CreateFDiv(x, constantOf(d, area))), acc);
        });
        storeFlat(n.result, yi, b_.CreateLoad(t, acc));
        break;
      }
      case OpKind::AvgPool2DGrad: {
        Value *share = b_.CreateFDiv(loadFlat(n.operands[0], yi), constantOf(d, area));
        window(nc, oy, ox, [&](Value *xi) {
          storeFlat(n.result, xi, tiles ? share : b_.CreateFAdd(loadFlat(n.result, xi), share));
        });
        break;
      }
      default: { // MaxPool2DGrad: the gradient goes to the first maximum (row-major) of the window
        Value *best = localVar(i64(), c64(-1));
        window(nc, oy, ox, [&](Value *xi) {
          Value *cur = b_.CreateLoad(i64(), best);
          Value *none = b_.CreateICmpSLT(cur, c64(0));
          Value *safe = b_.CreateSelect(none, xi, cur);
          Value *greater = b_.CreateFCmpOGT(loadFlat(n.operands[0], xi), loadFlat(n.operands[0], safe));
          b_.CreateStore(b_.CreateSelect(b_.CreateOr(none, greater), xi, cur), best);
        });
        Value *g = loadFlat(n.operands[1], yi);
        if (tiles) {
          Value *at = b_.CreateLoad(i64(), best);
          window(nc, oy, ox, [&](Value *xi) {
            storeFlat(n.result, xi, b_.CreateSelect(b_.CreateICmpEQ(xi, at), g, constantOf(d, 0)));
          });
          break;
        }
        Value *at = b_.CreateLoad(i64(), best);
        ifThen(b_, b_.CreateICmpSGE(at, c64(0)), "route", "routed", [&] {
          storeFlat(n.result, at, b_.CreateFAdd(loadFlat(n.result, at), g));
        });
      }
      }
    }); });
    if (!tiles)
      return;
    // The input rows and columns beyond the last window get no gradient.
    Value *base = b_.CreateMul(nc, c64(H * W));
    if (OW * k[1] < W)
      loops_.forRange(OH * k[0], [&](Value *iy) { loops_.forRange(W - OW * k[1], [&](Value *j) {
        storeFlat(n.result, b_.CreateAdd(base, b_.CreateAdd(b_.CreateMul(iy, c64(W)), b_.CreateAdd(c64(OW * k[1]), j))), constantOf(d, 0));
      }); });
    if (OH * k[0] < H)
      loops_.forRange((H - OH * k[0]) * W, [&](Value *j) {
        storeFlat(n.result, b_.CreateAdd(base, b_.CreateAdd(c64(OH * k[0] * W), j)), constantOf(d, 0));
      });
  };
  parallelRows(split, [&](Value *begin, Value *end) { loops_.forRange(begin, end, plane); });
}

} // namespace nnc
