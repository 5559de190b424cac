//===- EmitBatchNorm.cpp - Batch normalization's per-channel kernels ------------------------===//
//
// batch_moments, batch_norm and batch_norm_sums over x [N, C, ...] viewed as [N, C, L], L the
// product of the dimensions after the channel (1 for a dense layer's [N, F]).
//
// With L > 1 (convolutional inputs) each kernel works channel by channel: a channel is N runs
// of L contiguous elements, summed in registers (the run loop vectorizes), and the channels are
// split over threads. batch_moments makes two passes over a channel (the mean, then the squared
// deviations from it), batch_norm_sums one (both sums together), batch_norm one. With L = 1 the
// channels are the contiguous axis: the sums accumulate row by row in the result, vectorized
// across channels, on one thread.
//
// The order of every sum is fixed by the shape, so results repeat exactly for any thread count.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

namespace nnc {

using llvm::Value;

void KernelEmitter::emitBatchNorm(const Node &n, const RowSplit &split) {
  ValueId x = n.op == OpKind::BatchNormSums ? n.operands[1] : n.operands[0];
  const std::vector<int64_t> &xs = type(x).shape;
  int64_t N = xs[0], C = xs[1], L = 1;
  for (size_t i = 2; i < xs.size(); ++i)
    L *= xs[i];
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  Value *inverseCount = constantOf(d, double(C) / double(type(x).numElements()));
  auto flat = [&](Value *i, Value *c, Value *l) {
    return b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(i, c64(C)), c), c64(L)), l);
  };
  // Moments row r of channel c: operand `m` [2, C].
  auto moment = [&](ValueId m, int64_t r, Value *c) { return loadFlat(m, b_.CreateAdd(c64(r * C), c)); };
  // batch_norm's scale gamma / sqrt(var + eps) of channel c.
  auto scaleOf = [&](Value *c) {
    Value *var = b_.CreateFAdd(moment(n.operands[1], 1, c), constantOf(d, n.attrs.getFloat("eps")));
    Value *root = b_.CreateIntrinsic(llvm::Intrinsic::sqrt, {t}, {var});
    return b_.CreateFDiv(loadFlat(n.operands[2], c), root);
  };

  if (L == 1) { // [N, C]: row by row, vectorized across the channels
    if (n.op == OpKind::BatchNorm) {
      loops_.forRange(N, [&](Value *i) { loops_.forRange(C, [&](Value *c) {
        Value *at = flat(i, c, c64(0));
        Value *centered = b_.CreateFSub(loadFlat(x, at), moment(n.operands[1], 0, c));
        storeFlat(n.result, at, b_.CreateFAdd(b_.CreateFMul(centered, scaleOf(c)), loadFlat(n.operands[3], c)));
      }); });
      return;
    }
    fill(n.result, 0);
    // Adds f(element, channel) over the rows into row r of the result.
    auto sumRows = [&](int64_t r, const std::function<Value *(Value *, Value *)> &f) {
      loops_.forRange(N, [&](Value *i) { loops_.forRange(C, [&](Value *c) {
        Value *o = b_.CreateAdd(c64(r * C), c);
        storeFlat(n.result, o, b_.CreateFAdd(loadFlat(n.result, o), f(flat(i, c, c64(0)), c)));
      }); });
    };
    auto scaleRow = [&](int64_t r) {
      loops_.forRange(C, [&](Value *c) {
        Value *o = b_.CreateAdd(c64(r * C), c);
        storeFlat(n.result, o, b_.CreateFMul(loadFlat(n.result, o), inverseCount));
      });
    };
    if (n.op == OpKind::BatchMoments) {
      sumRows(0, [&](Value *at, Value *) { return loadFlat(x, at); });
      scaleRow(0);
      sumRows(1, [&](Value *at, Value *c) {
        Value *dev = b_.CreateFSub(loadFlat(x, at), moment(n.result, 0, c));
        return b_.CreateFMul(dev, dev);
      });
      scaleRow(1);
    } else { // BatchNormSums
      sumRows(0, [&](Value *at, Value *) { return loadFlat(n.operands[0], at); });
      sumRows(1, [&](Value *at, Value *c) {
        return b_.CreateFMul(loadFlat(n.operands[0], at), b_.CreateFSub(loadFlat(x, at), moment(n.operands[2], 0, c)));
      });
    }
    return;
  }

  // L > 1: channel by channel, the channels split over threads.
  // Σ over the channel's elements of f(element index), in a register.
  auto channelSum = [&](Value *c, const std::function<Value *(Value *)> &f) {
    Value *acc = localVar(t, constantOf(d, 0));
    loops_.forRange(N, [&](Value *i) {
      Value *base = flat(i, c, c64(0));
      loops_.forRange(L, [&](Value *l) { b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, acc), f(b_.CreateAdd(base, l))), acc); });
    });
    return b_.CreateLoad(t, acc);
  };
  parallelRows(split, [&](Value *begin, Value *end) {
    loops_.forRange(begin, end, [&](Value *c) {
      Value *second = b_.CreateAdd(c64(C), c);
      switch (n.op) {
      case OpKind::BatchMoments: {
        Value *mean = b_.CreateFMul(channelSum(c, [&](Value *at) { return loadFlat(x, at); }), inverseCount);
        Value *sq = channelSum(c, [&](Value *at) {
          Value *dev = b_.CreateFSub(loadFlat(x, at), mean);
          return b_.CreateFMul(dev, dev);
        });
        storeFlat(n.result, c, mean);
        storeFlat(n.result, second, b_.CreateFMul(sq, inverseCount));
        break;
      }
      case OpKind::BatchNorm: {
        Value *mean = moment(n.operands[1], 0, c), *scale = scaleOf(c), *beta = loadFlat(n.operands[3], c);
        loops_.forRange(N, [&](Value *i) {
          Value *base = flat(i, c, c64(0));
          loops_.forRange(L, [&](Value *l) {
            Value *at = b_.CreateAdd(base, l);
            storeFlat(n.result, at, b_.CreateFAdd(b_.CreateFMul(b_.CreateFSub(loadFlat(x, at), mean), scale), beta));
          });
        });
        break;
      }
      default: { // BatchNormSums: Σ dy and Σ dy (x − mean) in one pass
        Value *mean = moment(n.operands[2], 0, c);
        Value *s = localVar(t, constantOf(d, 0)), *sx = localVar(t, constantOf(d, 0));
        loops_.forRange(N, [&](Value *i) {
          Value *base = flat(i, c, c64(0));
          loops_.forRange(L, [&](Value *l) {
            Value *at = b_.CreateAdd(base, l);
            Value *dy = loadFlat(n.operands[0], at);
            b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, s), dy), s);
            b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sx), b_.CreateFMul(dy, b_.CreateFSub(loadFlat(x, at), mean))), sx);
          });
        });
        storeFlat(n.result, c, b_.CreateLoad(t, s));
        storeFlat(n.result, second, b_.CreateLoad(t, sx));
        break;
      }
      }
    });
  });
}

} // namespace nnc
