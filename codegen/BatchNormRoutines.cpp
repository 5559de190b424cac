//===- BatchNormRoutines.cpp - Batch normalization's per-channel passes as fixed routines ---===//
//
// The three routines of BatchNormRoutines.h, written as scalar loops whose innermost loop
// (along a run of L elements) the loop vectorizer turns into vector code: the sums carry the
// model code's fast-math flags (reassociation), so they vectorize with vector accumulators.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/BatchNormRoutines.h"

#include "codegen/Loops.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <functional>

namespace nnc {

using llvm::Value;

std::string batchNormRoutineName(BatchNormRoutine routine, bool f64) {
  const char *base = routine == BatchNormRoutine::Moments ? "nnc_bn_moments_"
                     : routine == BatchNormRoutine::Norm  ? "nnc_bn_norm_"
                                                          : "nnc_bn_sums_";
  return base + std::string(f64 ? "f64" : "f32");
}

llvm::FunctionType *batchNormRoutineType(llvm::LLVMContext &context, BatchNormRoutine routine) {
  llvm::Type *p = llvm::PointerType::getUnqual(context), *i = llvm::Type::getInt64Ty(context);
  llvm::SmallVector<llvm::Type *, 11> params = {i, i, i, i, i};
  switch (routine) {
  case BatchNormRoutine::Moments: params.append({p, p}); break;
  case BatchNormRoutine::Norm: params.append({p, p, p, p, llvm::Type::getDoubleTy(context), p}); break;
  case BatchNormRoutine::Sums: params.append({p, p, p, p}); break;
  }
  return llvm::FunctionType::get(llvm::Type::getVoidTy(context), params, false);
}

llvm::Function *emitBatchNormRoutine(llvm::Module &module, BatchNormRoutine routine, bool f64,
                                     const std::string &prefix) {
  llvm::LLVMContext &ctx = module.getContext();
  std::string name = batchNormRoutineName(routine, f64);
  auto *fn = llvm::Function::Create(batchNormRoutineType(ctx, routine), llvm::Function::ExternalLinkage,
                                    prefix + name.substr(std::string_view("nnc_").size()), module);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::BasicBlock *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  llvm::IRBuilder<> b(entry);
  // The flags of the model code: sums may be reassociated, so they vectorize.
  b.setFastMathFlags(kernelFastMathFlags());
  llvm::Type *t = f64 ? b.getDoubleTy() : b.getFloatTy();
  const llvm::Align align(f64 ? 8 : 4);
  Value *N = fn->getArg(0), *C = fn->getArg(1), *L = fn->getArg(2), *cBegin = fn->getArg(3), *cEnd = fn->getArg(4);
  auto c64 = [&](int64_t v) { return b.getInt64(uint64_t(v)); };
  auto at = [&](Value *base, Value *index) { return b.CreateInBoundsGEP(t, base, index); };
  auto load = [&](Value *base, Value *index) { return b.CreateAlignedLoad(t, at(base, index), align); };
  auto store = [&](Value *x, Value *base, Value *index) { b.CreateAlignedStore(x, at(base, index), align); };
  // Element l of image i's run of channel c.
  auto flat = [&](Value *i, Value *c, Value *l) { return b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(i, C), c), L), l); };
  // Every element of channel c, image by image, each run of L along l.
  auto forChannel = [&](Value *c, const std::function<void(Value *)> &body) {
    forStep(b, c64(0), N, 1, "i", [&](Value *i) {
      forStep(b, c64(0), L, 1, "l", [&](Value *l) { body(flat(i, c, l)); });
    });
  };
  auto local = [&] {
    llvm::IRBuilder<> e(entry, entry->begin());
    return e.CreateAlloca(t);
  };
  // Σ f(element) over channel c, in a local that becomes a register.
  auto channelSum = [&](Value *c, Value *slot, const std::function<Value *(Value *)> &f) {
    b.CreateStore(llvm::ConstantFP::getZero(t), slot);
    forChannel(c, [&](Value *e) { b.CreateStore(b.CreateFAdd(b.CreateLoad(t, slot), f(e)), slot); });
    return b.CreateLoad(t, slot);
  };
  // A double rounded once to T, as the emitter's constants are.
  auto toT = [&](Value *x) { return f64 ? x : b.CreateFPTrunc(x, t); };
  // 1 / (N·L).
  Value *inverseCount =
      toT(b.CreateFDiv(llvm::ConstantFP::get(b.getDoubleTy(), 1.0), b.CreateSIToFP(b.CreateMul(N, L), b.getDoubleTy())));
  Value *sum = local(), *sumX = local();
  forStep(b, cBegin, cEnd, 1, "c", [&](Value *c) {
    Value *second = b.CreateAdd(C, c);
    switch (routine) {
    case BatchNormRoutine::Moments: {
      Value *x = fn->getArg(5), *moments = fn->getArg(6);
      Value *mean = b.CreateFMul(channelSum(c, sum, [&](Value *e) { return load(x, e); }), inverseCount);
      Value *sq = channelSum(c, sumX, [&](Value *e) {
        Value *dev = b.CreateFSub(load(x, e), mean);
        return b.CreateFMul(dev, dev);
      });
      store(mean, moments, c);
      store(b.CreateFMul(sq, inverseCount), moments, second);
      break;
    }
    case BatchNormRoutine::Norm: {
      Value *x = fn->getArg(5), *moments = fn->getArg(6), *gamma = fn->getArg(7), *beta = fn->getArg(8);
      Value *eps = toT(fn->getArg(9)), *y = fn->getArg(10);
      Value *mean = load(moments, c);
      Value *scale = b.CreateFDiv(load(gamma, c),
                                  b.CreateIntrinsic(llvm::Intrinsic::sqrt, {t}, {b.CreateFAdd(load(moments, second), eps)}));
      Value *shift = load(beta, c);
      forChannel(c, [&](Value *e) { store(b.CreateFAdd(b.CreateFMul(b.CreateFSub(load(x, e), mean), scale), shift), y, e); });
      break;
    }
    case BatchNormRoutine::Sums: {
      Value *dy = fn->getArg(5), *x = fn->getArg(6), *moments = fn->getArg(7), *sums = fn->getArg(8);
      Value *mean = load(moments, c);
      b.CreateStore(llvm::ConstantFP::getZero(t), sum);
      b.CreateStore(llvm::ConstantFP::getZero(t), sumX);
      forChannel(c, [&](Value *e) {
        Value *g = load(dy, e);
        b.CreateStore(b.CreateFAdd(b.CreateLoad(t, sum), g), sum);
        b.CreateStore(b.CreateFAdd(b.CreateLoad(t, sumX), b.CreateFMul(g, b.CreateFSub(load(x, e), mean))), sumX);
      });
      store(b.CreateLoad(t, sum), sums, c);
      store(b.CreateLoad(t, sumX), sums, second);
      break;
    }
    }
  });
  b.CreateRetVoid();
  return fn;
}

} // namespace nnc
