//===- Loops.cpp - Loop, branch and parallel-for helpers shared by the code emitters --------===//
//
// The two loop shapes of codegen/ (see Loops.h), nested loops over shapes and rows, one-armed
// branches, affine indices and the nnc_parallel_for declaration.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Loops.h"

#include "codegen/Emitter.h"

#include <llvm/IR/Module.h>

#include <functional>

namespace nnc {

using llvm::Value;

void forStep(llvm::IRBuilderBase &b, Value *begin, Value *end, int64_t step, const llvm::Twine &name,
             llvm::function_ref<void(Value *)> body) {
  llvm::LLVMContext &ctx = b.getContext();
  llvm::Function *fn = b.GetInsertBlock()->getParent();
  llvm::BasicBlock *pre = b.GetInsertBlock();
  auto *loop = llvm::BasicBlock::Create(ctx, name + ".loop", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, name + ".exit", fn);
  b.CreateCondBr(b.CreateICmpSLT(begin, end), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode *i = b.CreatePHI(b.getInt64Ty(), 2, name);
  i->addIncoming(begin, pre);
  body(i);
  Value *next = b.CreateNSWAdd(i, b.getInt64(uint64_t(step)));
  i->addIncoming(next, b.GetInsertBlock());
  b.CreateCondBr(b.CreateICmpSLT(next, end), loop, exit);
  b.SetInsertPoint(exit);
}

void ifThen(llvm::IRBuilderBase &b, Value *cond, const llvm::Twine &thenName, const llvm::Twine &doneName,
            llvm::function_ref<void()> then) {
  llvm::Function *fn = b.GetInsertBlock()->getParent();
  auto *thenBlock = llvm::BasicBlock::Create(b.getContext(), thenName, fn);
  auto *done = llvm::BasicBlock::Create(b.getContext(), doneName, fn);
  b.CreateCondBr(cond, thenBlock, done);
  b.SetInsertPoint(thenBlock);
  then();
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

llvm::FastMathFlags kernelFastMathFlags() {
  llvm::FastMathFlags fmf;
  fmf.setAllowReassoc();
  fmf.setNoSignedZeros();
  fmf.setAllowContract();
  fmf.setAllowReciprocal();
  fmf.setApproxFunc();
  return fmf;
}

void ifThenElse(llvm::IRBuilderBase &b, Value *cond, llvm::function_ref<void()> then,
                llvm::function_ref<void()> otherwise) {
  llvm::Function *fn = b.GetInsertBlock()->getParent();
  auto *thenBlock = llvm::BasicBlock::Create(b.getContext(), "then", fn);
  auto *elseBlock = llvm::BasicBlock::Create(b.getContext(), "else", fn);
  auto *done = llvm::BasicBlock::Create(b.getContext(), "endif", fn);
  b.CreateCondBr(cond, thenBlock, elseBlock);
  b.SetInsertPoint(thenBlock);
  then();
  b.CreateBr(done);
  b.SetInsertPoint(elseBlock);
  otherwise();
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

Value *ifElse(llvm::IRBuilderBase &b, Value *cond, llvm::function_ref<Value *()> yes, Value *no,
             const llvm::Twine &name) {
  llvm::Function *fn = b.GetInsertBlock()->getParent();
  llvm::BasicBlock *pre = b.GetInsertBlock();
  auto *thenBlock = llvm::BasicBlock::Create(b.getContext(), name + ".then", fn);
  auto *done = llvm::BasicBlock::Create(b.getContext(), name + ".done", fn);
  b.CreateCondBr(cond, thenBlock, done);
  b.SetInsertPoint(thenBlock);
  Value *y = yes();
  llvm::BasicBlock *thenEnd = b.GetInsertBlock();
  b.CreateBr(done);
  b.SetInsertPoint(done);
  llvm::PHINode *phi = b.CreatePHI(y->getType(), 2);
  phi->addIncoming(y, thenEnd);
  phi->addIncoming(no, pre);
  return phi;
}

Value *affineIndex(llvm::IRBuilderBase &b, int64_t offset, const std::vector<int64_t> &strides,
                   const std::vector<Value *> &idx) {
  Value *flat = b.getInt64(uint64_t(offset));
  for (size_t d = 0; d < strides.size(); ++d)
    if (strides[d] != 0)
      flat = b.CreateAdd(flat,
                         strides[d] == 1 ? idx[d] : b.CreateMul(idx[d], b.getInt64(uint64_t(strides[d])), "", true, true),
                         "", true, true);
  return flat;
}

llvm::FunctionCallee parallelForCallee(llvm::Module &module) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *ty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {llvm::Type::getInt64Ty(ctx), ptr, ptr}, false);
  return module.getOrInsertFunction(kParallelForSymbol, ty);
}

void LoopNest::forRange(Value *begin, Value *end, Body body) {
  llvm::LLVMContext &ctx = b_.getContext();
  llvm::Function *fn = b_.GetInsertBlock()->getParent();
  llvm::BasicBlock *pre = b_.GetInsertBlock();
  auto *bodyBB = llvm::BasicBlock::Create(ctx, "body", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, "done", fn);
  // Already rotated: the guard folds to a plain branch for constant ranges (every static
  // shape), and the loop tests at the bottom, so no loop-rotate pass is needed.
  auto *cb = llvm::dyn_cast<llvm::ConstantInt>(begin), *ce = llvm::dyn_cast<llvm::ConstantInt>(end);
  if (cb && ce && cb->getSExtValue() < ce->getSExtValue())
    b_.CreateBr(bodyBB);
  else
    b_.CreateCondBr(b_.CreateICmpSLT(begin, end), bodyBB, exit);
  b_.SetInsertPoint(bodyBB);
  llvm::PHINode *iv = b_.CreatePHI(b_.getInt64Ty(), 2);
  iv->addIncoming(begin, pre);
  int64_t loopsBefore = ++loops_;
  body(iv);
  Value *next = b_.CreateAdd(iv, b_.getInt64(1), "", true, true);
  iv->addIncoming(next, b_.GetInsertBlock());
  llvm::BranchInst *back = b_.CreateCondBr(b_.CreateICmpSLT(next, end), bodyBB, exit);
  if (loops_ > loopsBefore) {
    llvm::MDNode *disable = llvm::MDNode::get(ctx, llvm::MDString::get(ctx, "llvm.loop.unroll.disable"));
    llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx, {nullptr, disable});
    loopId->replaceOperandWith(0, loopId);
    back->setMetadata(llvm::LLVMContext::MD_loop, loopId);
  }
  b_.SetInsertPoint(exit);
}

void LoopNest::forRange(int64_t n, Body body) { forRange(b_.getInt64(0), b_.getInt64(uint64_t(n)), body); }

void LoopNest::forShape(const std::vector<int64_t> &shape, IndexBody body) {
  forShapeRows(shape, b_.getInt64(0), b_.getInt64(uint64_t(shape.empty() ? 1 : shape[0])), body);
}

void LoopNest::forShapeRows(const std::vector<int64_t> &shape, Value *rowBegin, Value *rowEnd, IndexBody body) {
  if (shape.empty())
    return body({});
  forRange(rowBegin, rowEnd, [&](Value *r) {
    std::vector<Value *> idx{r};
    std::function<void(size_t)> level = [&](size_t d) {
      if (d == shape.size()) {
        body(idx);
        return;
      }
      forRange(shape[d], [&](Value *i) {
        idx.push_back(i);
        level(d + 1);
        idx.pop_back();
      });
    };
    level(1);
  });
}

} // namespace nnc
