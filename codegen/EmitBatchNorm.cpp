//===- EmitBatchNorm.cpp - Batch normalization's per-channel kernels ------------------------===//
//
// batch_moments, batch_norm and batch_norm_sums over x [N, C, ...] viewed as [N, C, L], L the
// product of the dimensions after the channel (1 for a dense layer's [N, F]).
//
// With L > 1 (convolutional inputs) each kernel works channel by channel: a channel is N runs
// of L contiguous elements, summed in registers (the run loop vectorizes), and the channels are
// split over threads; each block of channels is a call of a fixed routine of run-time shape
// (codegen/BatchNormRoutines.h). batch_moments makes two passes over a channel (the mean, then
// the squared deviations from it), batch_norm_sums one (both sums together), batch_norm one. With L = 1 the
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

  // L > 1: channel by channel, the channels split over threads, each block a call of the fixed
  // routine of the pass (codegen/BatchNormRoutines.h).
  bool f64 = d == DType::F64;
  BatchNormRoutine routine = n.op == OpKind::BatchMoments ? BatchNormRoutine::Moments
                             : n.op == OpKind::BatchNorm  ? BatchNormRoutine::Norm
                                                          : BatchNormRoutine::Sums;
  llvm::Function *fn = fixedRoutine(batchNormRoutineName(routine, f64), batchNormRoutineType(ctx_, routine),
                                    [&] { return emitBatchNormRoutine(m_, routine, f64); });
  auto base = [&](ValueId v) { return elementPtr(v, c64(0)); };
  parallelRows(split, [&](Value *begin, Value *end) {
    std::vector<Value *> args{c64(N), c64(C), c64(L), begin, end};
    switch (routine) {
    case BatchNormRoutine::Moments: args.insert(args.end(), {base(x), base(n.result)}); break;
    case BatchNormRoutine::Norm:
      args.insert(args.end(), {base(x), base(n.operands[1]), base(n.operands[2]), base(n.operands[3]),
                               llvm::ConstantFP::get(b_.getDoubleTy(), n.attrs.getFloat("eps")), base(n.result)});
      break;
    case BatchNormRoutine::Sums:
      args.insert(args.end(), {base(n.operands[0]), base(x), base(n.operands[2]), base(n.result)});
      break;
    }
    b_.CreateCall(fn, args);
  });
}

} // namespace nnc
