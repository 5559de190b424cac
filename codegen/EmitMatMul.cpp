//===- EmitMatMul.cpp - Matrix products as calls of the GEMM routines -----------------------===//
//
// A matrix product (batched over leading dimensions) is a call of a packed GEMM routine of
// codegen/Gemm.h: nnc_sgemm / nnc_dgemm, nnc_sgemm_narrow for at most one vector of columns,
// nnc_sgemm_epilogue when the plan fuses the elementwise kernel that reads it. Products the
// plan splits over threads (codegen/KernelPlan.h MatMulSplit) become a grid of row and column
// blocks of C, each a GEMM call on its own packing scratch, run by nnc_parallel_for; or, for
// a small C and a long sum, slices of the sum over K into partial sums that the calling
// thread then adds in block order.
// KernelEmitter::fixedRoutine, here, finds, emits or declares any fixed routine a kernel calls
// (GEMM, convolution, batch norm).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"

#include <llvm/IR/Module.h>

namespace nnc {

using llvm::Value;

/// The fixed routine `name` of signature `type`: already in the module, emitted into it by
/// `emit`, or only declared when another module provides it (EmitOptions::externalGemm).
llvm::Function *KernelEmitter::fixedRoutine(const std::string &name, llvm::FunctionType *type,
                                            const std::function<llvm::Function *()> &emit) {
  if (llvm::Function *f = m_.getFunction(name))
    return f;
  if (!opts_.externalGemm)
    return emit();
  auto *f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, m_);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  return f;
}

/// The GEMM routine of `spec` (codegen/Gemm.h).
llvm::Function *KernelEmitter::gemmRoutine(const GemmSpec &spec) {
  llvm::Type *p = b_.getPtrTy(), *i = i64(), *i32 = b_.getInt32Ty();
  std::vector<llvm::Type *> params{i, i, i, p, i, p, i, p, i, i32, p};
  if (spec.activationEpilogue)
    params.insert(params.end(), {p, p, i32});
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), params, false);
  return fixedRoutine(spec.name, ty, [&] { return emitGemm(m_, spec); });
}

/// The GEMM routines the plan's matrix products call (or their declarations).
void KernelEmitter::declareGemmRoutines() {
  if (plan_.needsF32Gemm) {
    sgemm_ = gemmRoutine(GemmSpec::forHost(opts_.vectorBits, false));
    sgemmNarrow_ = gemmRoutine(GemmSpec::narrow(opts_.vectorBits));
  }
  if (plan_.needsF64Gemm)
    dgemm_ = gemmRoutine(GemmSpec::forHost(opts_.vectorBits, true));
  if (!plan_.epilogues.empty())
    sgemmEpilogue_ = gemmRoutine(GemmSpec::withActivationEpilogue(opts_.vectorBits));
}

/// C = op(A)·op(B) into the storage of `into` (the product itself, or the elementwise kernel
/// its epilogue `ep` computes).
void KernelEmitter::emitMatMul(const Kernel &k, const Node &n, ValueId into, const Epilogue *ep) {
  if (k.inlined && !ep)
    return emitInlineMatMul(n);
  ValueId a = n.operands[0], b = n.operands[1];
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  const std::vector<int64_t> &as = type(a).shape, &bs = type(b).shape;
  size_t r = as.size();
  int64_t aRows = as[r - 2], aCols = as[r - 1], bRows = bs[r - 2], bCols = bs[r - 1];
  int64_t M = ta ? aCols : aRows, K = ta ? aRows : aCols, N = tb ? bRows : bCols;
  int64_t batches = product(std::vector<int64_t>(as.begin(), as.end() - 2));
  bool f64 = n.type.dtype == DType::F64;
  bool narrow = k.narrow;
  llvm::Function *gemm = narrow ? sgemmNarrow_ : ep ? sgemmEpilogue_ : f64 ? dgemm_ : sgemm_;
  llvm::Type *t = valueType(n.type.dtype);
  int32_t flags = (ta ? GemmTransposeA : 0) | (tb ? GemmTransposeB : 0);
  Value *scratch = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, c64(0)); // the arena starts with it
  Value *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
  Value *bias = ep && ep->bias.valid() ? b_.CreateInBoundsGEP(t, ptr_[ep->bias.index], c64(ep->biasOffset)) : null;
  Value *aux = ep && ep->aux.valid() ? ptr_[ep->aux.index] : null;
  const MatMulSplit &split = k.split;
  for (int64_t bi = 0; bi < batches; ++bi) {
    Value *A = b_.CreateInBoundsGEP(t, ptr_[a.index], c64(bi * aRows * aCols));
    Value *B = b_.CreateInBoundsGEP(t, ptr_[b.index], c64(bi * bRows * bCols));
    Value *C = b_.CreateInBoundsGEP(t, ptr_[into.index], c64(bi * M * N));
    if (split.blocks == 1) {
      std::vector<Value *> args{c64(M), c64(N), c64(K), A, c64(aCols), B, c64(bCols), C, c64(N),
                                b_.getInt32(flags), scratch};
      if (ep || narrow)
        args.insert(args.end(), {bias, aux, b_.getInt32(ep ? ep->kind : 0)});
      b_.CreateCall(gemm, args);
      continue;
    }
    // Block i of C: rows of op(A) times columns of op(B), or a slice of the sum over K, on its
    // own scratch; the context holds A, B, C, the scratch base, the bias and the aux tensor.
    Epilogue none;
    llvm::Function *task = blockTask(gemm, split, ta, tb, aCols, bCols, flags, t, ep ? ep : narrow ? &none : nullptr);
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    Value *ctx = eb.CreateAlloca(b_.getPtrTy(), b_.getInt32(6));
    Value *parts[] = {A, B, C, scratch, bias, aux};
    for (int k = 0; k < 6; ++k)
      b_.CreateStore(parts[k], b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), ctx, k));
    b_.CreateCall(parallelForCallee(m_), {c64(split.blocks), task, ctx});
    if (split.kBlocks > 1)
      sumPartials(gemm, split, C, t, ep ? ep : narrow ? &none : nullptr, bias, aux);
  }
}

/// After a split over K: C (block 0's sum) += the other blocks' partial sums, in block order,
/// on the calling thread; then the epilogue, by the same routine over C with no terms
/// (K = 0 with GemmAccumulate keeps C and runs the epilogue on it).
void KernelEmitter::sumPartials(llvm::Function *gemm, const MatMulSplit &split, Value *C, llvm::Type *t,
                                const Epilogue *ep, Value *bias, Value *aux) {
  std::vector<Value *> parts{C};
  for (int64_t blk = 1; blk < split.kBlocks; ++blk)
    parts.push_back(b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, c64(blk * split.scratchBytes + split.partialOffset)));
  sumInOrder(t, split.M * split.N, parts, [&](Value *i, Value *sum) { b_.CreateStore(sum, b_.CreateInBoundsGEP(t, C, i)); });
  if (!ep || ep->kind == 0)
    return;
  // No term is read: C stands in for A and B so that every pointer is a valid one.
  b_.CreateCall(gemm, {c64(split.M), c64(split.N), c64(0), C, c64(split.N), C, c64(split.N), C, c64(split.N),
                       b_.getInt32(GemmAccumulate), arena_, bias, aux, b_.getInt32(ep->kind)});
}

/// void task(ptr ctx, i64 i): the GEMM of block i of the split's grid, as nnc_parallel_for
/// calls it.
llvm::Function *KernelEmitter::blockTask(llvm::Function *gemm, const MatMulSplit &split, bool ta, bool tb,
                                         int64_t lda, int64_t ldb, int32_t flags, llvm::Type *t, const Epilogue *ep) {
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64()}, false);
  auto *f = llvm::Function::Create(ty, llvm::Function::InternalLinkage, f_->getName() + ".blocks", m_);
  llvm::IRBuilder<> tb_(llvm::BasicBlock::Create(ctx_, "entry", f));
  tb_.setFastMathFlags(b_.getFastMathFlags());
  Value *ctx = f->getArg(0), *i = f->getArg(1);
  auto c = [&](int64_t v) { return tb_.getInt64(uint64_t(v)); };
  auto part = [&](int k) { return tb_.CreateLoad(tb_.getPtrTy(), tb_.CreateConstInBoundsGEP1_64(tb_.getPtrTy(), ctx, k)); };
  auto smin = [&](Value *x, Value *y) { return tb_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y); };
  Value *A = part(0), *B = part(1), *C = part(2), *scratch = part(3);
  Value *Si = tb_.CreateInBoundsGEP(tb_.getInt8Ty(), scratch, tb_.CreateMul(i, c(split.scratchBytes)));
  if (split.kBlocks > 1) {
    // Terms k0 … k0 + depth − 1 of the sum: columns of op(A) (A + k0, or rows: A + k0·lda when
    // A is stored transposed) and rows of op(B) (B + k0·ldb, or B + k0 when transposed), into C
    // for block 0 and into the block's partial C otherwise. No epilogue: sumPartials runs it.
    Value *k0 = tb_.CreateMul(i, c(split.depth));
    Value *depth = smin(c(split.depth), tb_.CreateSub(c(split.K), k0));
    Value *Ak = tb_.CreateInBoundsGEP(t, A, ta ? tb_.CreateMul(k0, c(lda)) : k0);
    Value *Bk = tb_.CreateInBoundsGEP(t, B, tb ? k0 : tb_.CreateMul(k0, c(ldb)));
    Value *partial = tb_.CreateInBoundsGEP(tb_.getInt8Ty(), Si, c(split.partialOffset));
    Value *Ck = tb_.CreateSelect(tb_.CreateICmpEQ(i, c(0)), C, partial);
    std::vector<Value *> args{c(split.M), c(split.N), depth, Ak, c(lda), Bk, c(ldb), Ck, c(split.N), tb_.getInt32(flags), Si};
    if (ep) {
      Value *null = llvm::ConstantPointerNull::get(tb_.getPtrTy());
      args.insert(args.end(), {null, null, tb_.getInt32(0)});
    }
    tb_.CreateCall(gemm, args);
    tb_.CreateRetVoid();
    return f;
  }
  Value *row0 = tb_.CreateMul(tb_.CreateUDiv(i, c(split.colBlocks)), c(split.rows));
  Value *col0 = tb_.CreateMul(tb_.CreateURem(i, c(split.colBlocks)), c(split.cols));
  Value *rows = smin(c(split.rows), tb_.CreateSub(c(split.M), row0));
  Value *cols = smin(c(split.cols), tb_.CreateSub(c(split.N), col0));
  // Row r of op(A) starts at A + r*lda, or at column r (A + r) when A is stored transposed;
  // column j of op(B) at B + j, or at row j (B + j*ldb) when B is stored transposed.
  Value *Ai = tb_.CreateInBoundsGEP(t, A, ta ? row0 : tb_.CreateMul(row0, c(lda)));
  Value *Bi = tb_.CreateInBoundsGEP(t, B, tb ? tb_.CreateMul(col0, c(ldb)) : col0);
  Value *cOffset = tb_.CreateAdd(tb_.CreateMul(row0, c(split.N)), col0);
  Value *Ci = tb_.CreateInBoundsGEP(t, C, cOffset);
  std::vector<Value *> args{rows, cols, c(split.K), Ai, c(lda), Bi, c(ldb), Ci, c(split.N), tb_.getInt32(flags), Si};
  if (ep) {
    // The bias is per column (or per row with GemmEpilogueRowBias); aux has C's layout. Either
    // may be null (not used by the kind).
    auto offset = [&](Value *p, Value *by) {
      return tb_.CreateSelect(tb_.CreateIsNull(p), p, tb_.CreateInBoundsGEP(t, p, by));
    };
    Value *biasAt = ep->kind & GemmEpilogueRowBias ? row0 : col0;
    args.insert(args.end(), {offset(part(4), biasAt), offset(part(5), cOffset), tb_.getInt32(ep->kind)});
  }
  tb_.CreateCall(gemm, args);
  tb_.CreateRetVoid();
  return f;
}

} // namespace nnc
