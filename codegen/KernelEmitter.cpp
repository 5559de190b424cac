//===- KernelEmitter.cpp - Builds the LLVM function of a KernelPlan -------------------------===//
//
// The driver of KernelEmitter (see KernelEmitter.h). Algorithm:
//  1. Declare or emit the GEMM routines the plan needs, then create the function
//     `void NAME(void **buffers, char *arena)` with fast-math flags that never assume finite
//     values (reassoc nsz contract arcp afn).
//  2. Make one alias scope per alias class of the plan, and bind every stored value to its
//     storage: arguments to `buffers`, nodes to their arena block after the GEMM scratch,
//     reshapes to their operand's, in-place updates to their state's.
//  3. Emit the plan's kernels in order, each by its kind.
//  4. Copy the results into their buffers and the remaining state updates into their states.
// With EmitOptions::outlineKernels, the largest kernels go into functions of their own, and the
// second half of a large step into one more (step 3).
// With EmitOptions::profile, a call to nnc_profile_mark(k) precedes kernel k, and the copies
// and the return are marked likewise (runtime/exec/Profile.h times the spans between marks).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include <string>

namespace nnc {

using llvm::Value;

KernelEmitter::KernelEmitter(const Function &fn, const KernelPlan &plan, llvm::Module &module,
                             const EmitOptions &options)
    : fn_(fn), plan_(plan), m_(module), ctx_(module.getContext()), opts_(options), b_(ctx_) {}

FunctionABI KernelEmitter::emit(const std::string &symbol) {
  FunctionABI abi;
  abi.symbol = symbol;
  for (const Argument &a : fn_.arguments())
    abi.argTypes.push_back(a.type);
  for (const FunctionResult &r : fn_.results())
    abi.resultTypes.push_back(fn_.type(r.value));
  abi.arenaBytes = plan_.arenaBytes();
  abi.intermediateBytes = plan_.intermediateBytes;
  abi.scratchBytes = plan_.scratchBytes;
  abi.kernels = int64_t(plan_.kernels.size());
  abi.fusedOps = plan_.fusedOps();

  declareGemmRoutines();
  auto *fnTy = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), b_.getPtrTy()}, false);
  f_ = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage, symbol, m_);
  f_->addParamAttr(0, llvm::Attribute::NoAlias);
  f_->addParamAttr(1, llvm::Attribute::NoAlias);
  f_->addParamAttr(1, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
  entry_ = llvm::BasicBlock::Create(ctx_, "entry", f_);
  b_.SetInsertPoint(entry_);
  b_.setFastMathFlags(kernelFastMathFlags());
  buffers_ = f_->getArg(0);
  arena_ = f_->getArg(1);

  makeAliasScopes();
  ptr_.assign(fn_.numValueIds(), nullptr);
  bindStorage(buffers_, arena_);
  llvm::FunctionCallee mark;
  if (opts_.profile)
    mark = m_.getOrInsertFunction(kProfileMarkSymbol, b_.getVoidTy(), b_.getInt32Ty());
  auto profileMark = [&](int64_t k) {
    if (opts_.profile)
      b_.CreateCall(mark, {b_.getInt32(uint32_t(int32_t(k)))});
  };
  auto emitKernels = [&](size_t from, size_t to) {
    for (size_t k = from; k < to; ++k) {
      profileMark(int64_t(k));
      if (outlines(plan_.kernels[k]))
        outline(".k" + std::to_string(k), [&] { emitKernel(plan_.kernels[k]); });
      else
        emitKernel(plan_.kernels[k]);
    }
  };
  size_t half = secondHalf();
  emitKernels(0, half);
  if (half < plan_.kernels.size())
    outline(".tail", [&] { emitKernels(half, plan_.kernels.size()); });
  profileMark(int64_t(plan_.kernels.size()));
  abi.profiled = opts_.profile;

  // Results, then state updates written in place. Update values are nodes computed above,
  // so writing one state buffer cannot change the value of another update.
  size_t nargs = fn_.arguments().size();
  for (size_t j = 0; j < fn_.results().size(); ++j) {
    Value *out = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), buffers_, nargs + j));
    ValueId v = fn_.results()[j].value;
    copyAccess(accessOf(v), type(v), out, plan_.resultClass0 + int(j));
  }
  for (const StateUpdate &u : fn_.updates())
    if (u.value != u.state && plan_.inPlace[u.value.index] < 0)
      copyAccess(accessOf(u.value), type(u.value), ptr_[u.state.index], plan_.aliasClass[u.state.index]);
  profileMark(-1);
  b_.CreateRetVoid();
  return abi;
}

/// Whether kernel `k` is emitted as a function of its own (EmitOptions::outlineKernels): the
/// convolution, pooling and batch-norm kernels, whose nests are the step's largest.
bool KernelEmitter::outlines(const Kernel &k) const {
  if (!opts_.outlineKernels)
    return false;
  switch (k.kind) {
  case KernelKind::Conv:
  case KernelKind::Pool:
  case KernelKind::BatchNorm:
    return true;
  default:
    return false;
  }
}

/// Where a large step is cut in two (EmitOptions::outlineKernels): the kernels from the
/// returned index on go into one function of their own, `SYMBOL.tail`, so that the step's
/// inline kernels (the elementwise loops, products and reductions: what is not outlined one by
/// one) are two functions of about equal size, which Jit::compile can optimize and generate on
/// two threads; one such function bounded the compile of a convolutional step, and of a small
/// model's step full of inline products. Every kernel that is not outlined counts as one:
/// counting a kernel's nodes (as this did) weighed the Iris step's fused optimizer updates over
/// its inline products, which are the most code (360–460 lines of optimized IR each against
/// 20–100), and cut it 1,775 : 855 instructions; by kernels it is 1,293 : 1,337. Functions with
/// fewer than kSplitInlineKernels inline kernels stay whole (returns the kernel count).
size_t KernelEmitter::secondHalf() const {
  size_t n = plan_.kernels.size();
  if (!opts_.outlineKernels)
    return n;
  auto weight = [&](size_t k) -> size_t { return outlines(plan_.kernels[k]) ? 0 : 1; };
  size_t inlineKernels = 0, total = 0;
  for (size_t k = 0; k < n; ++k) {
    inlineKernels += weight(k) > 0;
    total += weight(k);
  }
  if (inlineKernels < kSplitInlineKernels)
    return n;
  size_t sum = 0;
  for (size_t k = 0; k < n; ++k) {
    if (2 * sum >= total)
      return k;
    sum += weight(k);
  }
  return n;
}

/// `body` emitted as a function of its own, `void SYMBOL<suffix>(ptr buffers, ptr arena)`,
/// called here: a convolution, pooling or batch-norm kernel (`.kN`), or the second half of a
/// large step (`.tail`). LLVM then optimizes and generates each function apart (its loop
/// analyses query the dominating conditions of a loop, and in one function those are every
/// kernel before it), and the functions can be compiled in parallel (Jit::compile). A call
/// costs nanoseconds; these functions take microseconds at least.
void KernelEmitter::outline(const std::string &suffix, const std::function<void()> &body) {
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), b_.getPtrTy()}, false);
  auto *fn = llvm::Function::Create(ty, llvm::Function::InternalLinkage, f_->getName() + suffix, m_);
  fn->addFnAttr(llvm::Attribute::NoInline);
  for (unsigned a = 0; a < 2; ++a)
    fn->addParamAttr(a, llvm::Attribute::NoAlias);
  fn->addParamAttr(1, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
  llvm::Function *savedF = f_;
  llvm::BasicBlock *savedEntry = entry_;
  std::vector<Value *> savedPtr = ptr_;
  Value *savedBuffers = buffers_, *savedArena = arena_;
  auto savedIP = b_.saveIP();
  f_ = fn;
  entry_ = llvm::BasicBlock::Create(ctx_, "entry", fn);
  b_.SetInsertPoint(entry_);
  buffers_ = fn->getArg(0);
  arena_ = fn->getArg(1);
  bindStorage(buffers_, arena_);
  body();
  b_.CreateRetVoid();
  f_ = savedF;
  entry_ = savedEntry;
  ptr_ = std::move(savedPtr);
  buffers_ = savedBuffers;
  arena_ = savedArena;
  b_.restoreIP(savedIP);
  b_.CreateCall(fn, {buffers_, arena_});
}

void KernelEmitter::emitKernel(const Kernel &k) {
  const Node &n = node(k.nodes.front());
  switch (k.kind) {
  case KernelKind::Elementwise: return emitLoopGroup(k);
  case KernelKind::MatMul: return emitMatMul(k, n, n.result, nullptr);
  case KernelKind::MatMulEpilogue: {
    const Epilogue &ep = plan_.epilogues.at(n.result.index);
    return emitMatMul(k, *fn_.definingNode(ep.matmul), n.result, &ep);
  }
  case KernelKind::SoftmaxCrossEntropyRows: return emitSoftmaxCrossEntropyRows(n, plan_.rowFusions.at(n.result.index));
  case KernelKind::Reduce: return emitReduce(n);
  case KernelKind::Normalize: return emitNormalize(n);
  case KernelKind::LabeledRows: return emitLabeledRows(n);
  case KernelKind::Conv: {
    if (auto it = plan_.epilogues.find(n.result.index); it != plan_.epilogues.end())
      return emitConv(*fn_.definingNode(it->second.matmul), k.rows, n.result, &it->second);
    return emitConv(n, k.rows, n.result, nullptr);
  }
  case KernelKind::Pool: {
    if (auto it = plan_.poolRelus.find(n.result.index); it != plan_.poolRelus.end())
      return emitPool(*fn_.definingNode(it->second.pool), k.rows, n.result, it->second.pre);
    return emitPool(n, k.rows, n.result, ValueId{});
  }
  case KernelKind::BatchNorm: return emitBatchNorm(n, k.rows);
  case KernelKind::OneHot: return emitOneHot(n);
  case KernelKind::Gather: return emitGather(n);
  case KernelKind::ScatterAdd: return emitScatterAdd(n);
  case KernelKind::Random: return emitRandom(n);
  case KernelKind::Iota: return emitIota(n);
  case KernelKind::Pad: return emitPad(n);
  case KernelKind::Concat: return emitConcat(n);
  case KernelKind::StoredView:
    // A view that must be stored: copy it through its access map.
    return copyAccess(viewAccess(fn_, plan_, n), n.type, ptr_[n.result.index], plan_.aliasClass[n.result.index]);
  }
}

/// One anonymous scope per alias class of the plan, in one domain; an access of class c
/// carries scope c and is noalias with every other.
void KernelEmitter::makeAliasScopes() {
  int classes = plan_.aliasClasses;
  llvm::MDBuilder mdb(ctx_);
  llvm::MDNode *domain = mdb.createAnonymousAliasScopeDomain("nnc");
  std::vector<llvm::Metadata *> scopes;
  for (int c = 0; c < classes; ++c)
    scopes.push_back(mdb.createAnonymousAliasScope(domain));
  scopeMD_.clear();
  noaliasMD_.clear();
  for (int c = 0; c < classes; ++c) {
    scopeMD_.push_back(llvm::MDNode::get(ctx_, {scopes[size_t(c)]}));
    std::vector<llvm::Metadata *> others;
    for (int o = 0; o < classes; ++o)
      if (o != c)
        others.push_back(scopes[size_t(o)]);
    noaliasMD_.push_back(llvm::MDNode::get(ctx_, others));
  }
}

void KernelEmitter::tagClass(llvm::Instruction *inst, int c) {
  if (c < 0 || size_t(c) >= scopeMD_.size())
    return;
  inst->setMetadata(llvm::LLVMContext::MD_alias_scope, scopeMD_[size_t(c)]);
  inst->setMetadata(llvm::LLVMContext::MD_noalias, noaliasMD_[size_t(c)]);
}

/// Storage pointers for every value: arguments from `buffers`, stored nodes in the arena after
/// the GEMM scratch, aliases their operand's (at their offset), in-place updates their state's.
void KernelEmitter::bindStorage(Value *buffers, Value *arena) {
  const auto &args = fn_.arguments();
  for (size_t i = 0; i < args.size(); ++i)
    ptr_[args[i].value.index] = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), buffers, i));
  for (const Node &n : fn_.nodes()) {
    if (plan_.isVirtual[n.result.index] || plan_.fused[n.result.index])
      continue;
    if (plan_.isAlias(n.result))
      ptr_[n.result.index] = b_.CreateInBoundsGEP(b_.getInt8Ty(), ptr_[n.operands[0].index],
                                                  c64(plan_.aliasOffset[n.result.index]));
    else if (plan_.inPlace[n.result.index] >= 0)
      ptr_[n.result.index] = ptr_[size_t(plan_.inPlace[n.result.index])];
    else
      ptr_[n.result.index] =
          b_.CreateInBoundsGEP(b_.getInt8Ty(), arena, c64(plan_.scratchBytes + plan_.offset[n.result.index]));
  }
}

Value *KernelEmitter::loadFlat(ValueId v, Value *flat) {
  DType d = type(v).dtype;
  auto *x = b_.CreateLoad(memType(d), elementPtr(v, flat));
  tagAccess(x, v);
  return d == DType::I1 ? b_.CreateICmpNE(x, b_.getInt8(0)) : static_cast<Value *>(x);
}

void KernelEmitter::storeFlat(ValueId v, Value *flat, Value *x) {
  if (type(v).dtype == DType::I1)
    x = b_.CreateZExt(x, b_.getInt8Ty());
  tagAccess(b_.CreateStore(x, elementPtr(v, flat)), v);
}

void KernelEmitter::sumInOrder(llvm::Type *t, int64_t n, llvm::ArrayRef<Value *> parts,
                               llvm::function_ref<void(Value *i, Value *sum)> store) {
  loops_.forRange(n, [&](Value *i) {
    Value *sum = b_.CreateLoad(t, b_.CreateInBoundsGEP(t, parts[0], i));
    for (Value *p : parts.drop_front())
      sum = b_.CreateFAdd(sum, b_.CreateLoad(t, b_.CreateInBoundsGEP(t, p, i)));
    store(i, sum);
  });
}

Value *KernelEmitter::localVar(llvm::Type *t, Value *init) {
  llvm::IRBuilder<> eb(entry_, entry_->begin());
  Value *slot = eb.CreateAlloca(t);
  b_.CreateStore(init, slot);
  return slot;
}

Value *KernelEmitter::load(const Access &a, DType d, const Index &idx) {
  if (a.isConstant)
    return constantOf(d, a.constant);
  return loadFlat(a.base, affine(a.offset, a.strides, idx));
}

void KernelEmitter::fill(ValueId v, double value) {
  DType d = type(v).dtype;
  loops_.forRange(type(v).numElements(), [&](Value *i) { storeFlat(v, i, constantOf(d, value)); });
}

void KernelEmitter::copyAccess(const Access &a, const TensorType &t, Value *toPtr, int toClass) {
  DType d = t.dtype;
  std::vector<int64_t> strides = rowMajorStrides(t.shape);
  std::vector<Access> reads;
  if (!a.isConstant)
    reads.push_back(a);
  forShapeWalked(t.shape, reads, c64(0), c64(t.shape.empty() ? 1 : t.shape[0]), [&](const Index &idx) {
    Value *x = load(a, d, idx);
    if (d == DType::I1)
      x = b_.CreateZExt(x, b_.getInt8Ty());
    tagClass(b_.CreateStore(x, b_.CreateInBoundsGEP(memType(d), toPtr, affine(0, strides, idx))), toClass);
  });
}

/// body(begin, end) computes rows [begin, end) of a kernel whose rows are independent. When the
/// plan splits them (planRowSplit), body is emitted into a task function that rebinds every
/// buffer from {buffers, arena} and runs under nnc_parallel_for, one block of rows per task.
/// Each element is computed the same way whatever the split, so the results do not depend on
/// the thread count.
void KernelEmitter::parallelRows(const RowSplit &split, const std::function<void(Value *, Value *)> &body) {
  const int64_t rows = split.rows, chunk = split.chunk, blocks = split.blocks;
  if (!split.parallel)
    return body(c64(0), c64(rows));
  // void task(ptr ctx, i64 i): rows [i*chunk, min((i+1)*chunk, rows)); ctx = {buffers, arena}.
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64()}, false);
  auto *task = llvm::Function::Create(ty, llvm::Function::InternalLinkage, f_->getName() + ".rows", m_);
  llvm::Function *savedF = f_;
  llvm::BasicBlock *savedEntry = entry_;
  std::vector<Value *> savedPtr = ptr_;
  Value *savedArena = arena_;
  auto savedIP = b_.saveIP();
  f_ = task;
  entry_ = llvm::BasicBlock::Create(ctx_, "entry", task);
  b_.SetInsertPoint(entry_);
  Value *ctx = task->getArg(0), *i = task->getArg(1);
  Value *buffers = b_.CreateLoad(b_.getPtrTy(), ctx);
  Value *arena = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), ctx, 1));
  bindStorage(buffers, arena);
  arena_ = arena; // the scratch at its start, for kernels that use it (convolution)
  Value *begin = b_.CreateMul(i, c64(chunk), "", true, true);
  Value *end = b_.CreateAdd(begin, c64(chunk), "", true, true);
  end = b_.CreateSelect(b_.CreateICmpSLT(end, c64(rows)), end, c64(rows));
  body(begin, end);
  b_.CreateRetVoid();
  f_ = savedF;
  entry_ = savedEntry;
  ptr_ = std::move(savedPtr);
  arena_ = savedArena;
  b_.restoreIP(savedIP);
  llvm::IRBuilder<> eb(entry_, entry_->begin());
  Value *taskCtx = eb.CreateAlloca(b_.getPtrTy(), b_.getInt32(2));
  b_.CreateStore(buffers_, taskCtx);
  b_.CreateStore(arena_, b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), taskCtx, 1));
  b_.CreateCall(parallelForCallee(m_), {c64(blocks), task, taskCtx});
}

} // namespace nnc
