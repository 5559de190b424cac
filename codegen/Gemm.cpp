//===- Gemm.cpp - Emitter for packed, register-tiled GEMM routines --------------------------===//
//
// Emits four internal packing functions, the microkernel and the blocked driver described in
// Gemm.h. Index arithmetic is i64 throughout; lane masks compare an i32 lane index with the
// number of valid columns. The microkernel is kept out of line (noinline) so its register
// allocation sees only the k loop and the store of one tile.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Gemm.h"

#include "codegen/Loops.h"
#include "codegen/VectorMath.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <cassert>

namespace nnc {

void transposeSquare(llvm::IRBuilderBase &b, llvm::MutableArrayRef<llvm::Value *> rows) {
  const unsigned L = unsigned(rows.size());
  for (unsigned h = L / 2; h >= 1; h /= 2) {
    llvm::SmallVector<int, 16> low(L), high(L);
    for (unsigned k = 0; k < L; ++k) {
      low[k] = (k & h) == 0 ? int(k) : int(L + k - h);
      high[k] = (k & h) == 0 ? int(k + h) : int(L + k);
    }
    for (unsigned i = 0; i < L; ++i)
      if ((i & h) == 0) {
        llvm::Value *x = rows[i], *y = rows[i + h];
        rows[i] = b.CreateShuffleVector(x, y, low);
        rows[i + h] = b.CreateShuffleVector(x, y, high);
      }
  }
}

llvm::Value *emitEpilogueActivation(llvm::IRBuilderBase &b, int32_t activation, llvm::Value *x) {
  llvm::Value *zero = llvm::Constant::getNullValue(x->getType());
  switch (activation) {
  case 1: return b.CreateSelect(b.CreateFCmpOGT(x, zero), x, zero);
  case 2: return emitSigmoid(b, x);
  case 3: return emitTanh(b, x);
  default: return x;
  }
}

llvm::Value *emitEpilogueDerivative(llvm::IRBuilderBase &b, int32_t derivative, llvm::Value *x, llvm::Value *y) {
  llvm::Value *zero = llvm::Constant::getNullValue(y->getType()), *one = llvm::ConstantFP::get(y->getType(), 1.0);
  switch (derivative) {
  case 1: return b.CreateFMul(x, b.CreateSelect(b.CreateFCmpOGT(y, zero), one, zero));
  case 2: return b.CreateFMul(x, b.CreateFMul(y, b.CreateFSub(one, y)));
  case 3: return b.CreateFMul(x, b.CreateFSub(one, b.CreateFMul(y, y)));
  default: return x;
  }
}
llvm::Value *emitRuntimeEpilogue(llvm::IRBuilderBase &b, llvm::Value *kind, llvm::Value *x, llvm::Value *rowBias,
                                 llvm::function_ref<llvm::Value *()> columnBias,
                                 llvm::function_ref<llvm::Value *()> aux) {
  auto has = [&](int32_t bit) { return b.CreateICmpNE(b.CreateAnd(kind, b.getInt32(uint32_t(bit))), b.getInt32(0)); };
  auto field = [&](int shift) { return b.CreateAnd(b.CreateLShr(kind, b.getInt32(uint32_t(shift))), b.getInt32(15)); };
  llvm::Value *hasBias = has(GemmEpilogueBias), *hasRowBias = has(GemmEpilogueRowBias);
  llvm::Value *act = field(4), *grad = field(8);
  x = ifElse(b, hasBias, [&] { return b.CreateFAdd(x, columnBias()); }, x);
  x = ifElse(b, hasRowBias, [&] { return b.CreateFAdd(x, rowBias); }, x);
  for (int32_t a = 1; a <= 3; ++a)
    x = ifElse(b, b.CreateICmpEQ(act, b.getInt32(uint32_t(a))), [&] { return emitEpilogueActivation(b, a, x); }, x);
  for (int32_t d = 1; d <= 3; ++d)
    x = ifElse(b, b.CreateICmpEQ(grad, b.getInt32(uint32_t(d))), [&] { return emitEpilogueDerivative(b, d, x, aux()); }, x);
  return x;
}

namespace {

int64_t roundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

class GemmEmitter {
public:
  GemmEmitter(llvm::Module &module, const GemmSpec &spec)
      : module(module), spec(spec), ctx(module.getContext()), b(ctx) {
    elem = spec.f64 ? b.getDoubleTy() : b.getFloatTy();
    vec = llvm::FixedVectorType::get(elem, spec.lanes);
    i64 = b.getInt64Ty();
    ptr = b.getPtrTy();
    elemAlign = llvm::Align(spec.f64 ? 8 : 4);
    extraTypes.assign(spec.extraParams.begin(), spec.extraParams.end());
    if (spec.activationEpilogue)
      extraTypes.append({ptr, ptr, b.getInt32Ty()});
  }

  llvm::Function *emit() {
    llvm::Function *packBN = emitPackBNormal(), *packBT = emitPackBTransposed();
    llvm::Function *packAN = emitPackANormal(), *packAT = emitPackATransposed();
    if (spec.activationEpilogue)
      tileEpilogue = emitTileEpilogue();
    llvm::Function *micro = emitMicrokernel(Packed);
    llvm::Function *directN = spec.directA ? emitMicrokernel(DirectNormal) : nullptr;
    llvm::Function *directT = spec.directA ? emitMicrokernel(DirectTransposed) : nullptr;
    return emitDriver(packAN, packAT, packBN, packBT, micro, directN, directT);
  }

private:
  llvm::Module &module;
  const GemmSpec &spec;
  llvm::LLVMContext &ctx;
  llvm::IRBuilder<> b;
  llvm::Type *elem, *i64, *ptr;
  llvm::FixedVectorType *vec;
  llvm::Align elemAlign;
  llvm::SmallVector<llvm::Type *, 8> extraTypes; ///< spec.extraParams, then the activation epilogue's
  llvm::Function *tileEpilogue = nullptr;

  /// tile(C, ldc, mr, nr, row0, col0, bias, aux, kind): GemmEpilogueKind on the finished
  /// mr×nr tile at C (whose element [0][0] is C[row0][col0] of the routine's C).
  llvm::Function *emitTileEpilogue() {
    llvm::Function *fn = makeFunction(".tile_epilogue", {ptr, i64, i64, i64, i64, i64, ptr, ptr, b.getInt32Ty()});
    llvm::Value *cp = fn->getArg(0), *ldc = fn->getArg(1), *mr = fn->getArg(2), *nr = fn->getArg(3),
                *row0 = fn->getArg(4), *col0 = fn->getArg(5), *bias = fn->getArg(6), *aux = fn->getArg(7),
                *kind = fn->getArg(8);
    llvm::Value *hasRowBias = b.CreateICmpNE(b.CreateAnd(kind, b.getInt32(GemmEpilogueRowBias)), b.getInt32(0));
    llvm::Value *zero = zeroVec();
    forStep(b, c64(0), mr, 1, "ep.i", [&](llvm::Value *i) {
      llvm::Value *cRow = at(cp, mul(i, ldc));
      llvm::Value *auxRow = at(aux, add(mul(add(row0, i), ldc), col0));
      // The row's bias (a convolution's output channel), read only when the kind has it.
      llvm::Value *rowBias = ifElse(b, hasRowBias, [&] {
        return b.CreateVectorSplat(spec.lanes, b.CreateAlignedLoad(elem, at(bias, add(row0, i)), elemAlign));
      }, zero);
      // Whole vectors with plain loads and stores, then the last partial one masked (a masked
      // store is microcoded on AMD's Zen 3).
      auto rewrite = [&](llvm::Value *j, llvm::Value *mask) {
        auto load = [&](llvm::Value *at) {
          return mask ? static_cast<llvm::Value *>(b.CreateMaskedLoad(vec, at, elemAlign, mask, zero))
                      : b.CreateAlignedLoad(vec, at, elemAlign);
        };
        llvm::Value *cPtr = at(cRow, j);
        llvm::Value *x = emitRuntimeEpilogue(b, kind, load(cPtr), rowBias, [&] { return load(at(bias, add(col0, j))); },
                                             [&] { return load(at(auxRow, j)); });
        if (mask)
          b.CreateMaskedStore(x, cPtr, elemAlign, mask);
        else
          b.CreateAlignedStore(x, cPtr, elemAlign);
      };
      llvm::Value *whole = b.CreateAnd(nr, c64(~int64_t(spec.lanes - 1)));
      forStep(b, c64(0), whole, spec.lanes, "ep.j", [&](llvm::Value *j) { rewrite(j, nullptr); });
      ifThen(b, b.CreateICmpSLT(whole, nr), "ep.tail", "ep.tail.done",
             [&] { rewrite(whole, laneMask(b.CreateNSWSub(nr, whole), 0)); });
    });
    b.CreateRetVoid();
    return fn;
  }

  llvm::Value *c64(int64_t v) { return b.getInt64(uint64_t(v)); }
  llvm::Value *smin(llvm::Value *x, llvm::Value *y) {
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y);
  }
  llvm::Value *smax(llvm::Value *x, llvm::Value *y) {
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, y);
  }
  llvm::Value *at(llvm::Value *base, llvm::Value *index) {
    return b.CreateInBoundsGEP(elem, base, index);
  }
  llvm::Value *mul(llvm::Value *x, llvm::Value *y) { return b.CreateNSWMul(x, y); }
  llvm::Value *add(llvm::Value *x, llvm::Value *y) { return b.CreateNSWAdd(x, y); }
  llvm::Value *zeroVec() { return llvm::ConstantFP::get(vec, 0.0); }

  /// <lanes x i1>: lane l + first < count, for column masks.
  llvm::Value *laneMask(llvm::Value *count, unsigned first) {
    llvm::SmallVector<llvm::Constant *, 16> lanes;
    for (unsigned l = 0; l < spec.lanes; ++l)
      lanes.push_back(b.getInt32(first + l));
    llvm::Value *limit = b.CreateVectorSplat(spec.lanes, b.CreateTrunc(smin(count, c64(1 << 30)),
                                                                       b.getInt32Ty()));
    return b.CreateICmpSLT(llvm::ConstantVector::get(lanes), limit);
  }

  llvm::Function *makeFunction(const std::string &suffix, llvm::ArrayRef<llvm::Type *> params,
                               bool internal = true) {
    auto *type = llvm::FunctionType::get(b.getVoidTy(), params, false);
    auto *fn = llvm::Function::Create(
        type, internal ? llvm::Function::InternalLinkage : llvm::Function::ExternalLinkage,
        spec.name + suffix, module);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    if (internal)
      fn->addFnAttr(llvm::Attribute::NoInline);
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
    return fn;
  }

  /// packB(kc, nc, src, ld, dst) for op(B) = B: src[p·ld + j] → micro-panels of NR columns,
  /// dst[jr·kc + p·NR + j], zero beyond nc. One masked vector copy per lanes columns.
  llvm::Function *emitPackBNormal() {
    llvm::Function *fn = makeFunction(".packB", {i64, i64, ptr, i64, ptr});
    llvm::Value *kc = fn->getArg(0), *nc = fn->getArg(1), *src = fn->getArg(2),
                *ld = fn->getArg(3), *dst = fn->getArg(4);
    const int64_t NR = spec.nr();
    forStep(b, c64(0), nc, NR, "jr", [&](llvm::Value *jr) {
      llvm::Value *nr = b.CreateNSWSub(nc, jr);
      llvm::SmallVector<llvm::Value *, 8> masks;
      for (unsigned v = 0; v < spec.nrVectors; ++v)
        masks.push_back(laneMask(nr, v * spec.lanes));
      llvm::Value *panel = at(dst, mul(jr, kc));
      forStep(b, c64(0), kc, 1, "p", [&](llvm::Value *p) {
        llvm::Value *row = at(src, add(mul(p, ld), jr));
        llvm::Value *out = at(panel, mul(p, c64(NR)));
        for (unsigned v = 0; v < spec.nrVectors; ++v) {
          llvm::Value *x = b.CreateMaskedLoad(vec, at(row, c64(v * spec.lanes)), elemAlign,
                                              masks[v], zeroVec());
          b.CreateAlignedStore(x, at(out, c64(v * spec.lanes)), elemAlign);
        }
      });
    });
    b.CreateRetVoid();
    return fn;
  }

  /// packB for op(B) = Bᵀ: op(B)[p][j] = src[j·ld + p]. Blocks of L×L elements (L = lanes)
  /// are transposed in registers: L rows of src (L columns j of the panel), each read as one
  /// vector along p, are transposed by log2(L) rounds of shuffles — round h exchanges, in rows
  /// i and i+h with (i & h) = 0, the lanes k with (k & h) ≠ 0 of row i and those with
  /// (k & h) = 0 of row i+h — and stored as L vectors along j, one per p. Lanes beyond kc
  /// are masked; columns beyond nc read nothing and store zeros.
  llvm::Function *emitPackBTransposed() {
    llvm::Function *fn = makeFunction(".packBT", {i64, i64, ptr, i64, ptr});
    llvm::Value *kc = fn->getArg(0), *nc = fn->getArg(1), *src = fn->getArg(2),
                *ld = fn->getArg(3), *dst = fn->getArg(4);
    const int64_t NR = spec.nr();
    const unsigned L = spec.lanes;
    assert((L & (L - 1)) == 0 && "lanes must be a power of two");
    forStep(b, c64(0), nc, NR, "jr", [&](llvm::Value *jr) {
      llvm::Value *nr = b.CreateNSWSub(nc, jr);
      llvm::Value *panel = at(dst, mul(jr, kc));
      forStep(b, c64(0), kc, L, "pb", [&](llvm::Value *pb) {
        llvm::Value *pMask = laneMask(b.CreateNSWSub(kc, pb), 0);
        for (int64_t jb = 0; jb < NR; jb += L) {
          llvm::SmallVector<llvm::Value *, 16> rows;
          for (unsigned r = 0; r < L; ++r) {
            llvm::Value *j = c64(jb + r);
            llvm::Value *valid = b.CreateICmpSLT(j, nr);
            llvm::Value *column = at(src, mul(add(jr, smin(j, b.CreateNSWSub(nr, c64(1)))), ld));
            llvm::Value *mask = b.CreateAnd(pMask, b.CreateVectorSplat(L, valid));
            rows.push_back(b.CreateMaskedLoad(vec, at(column, pb), elemAlign, mask, zeroVec()));
          }
          transposeSquare(b, rows);
          // rows[t] now holds op(B)[pb + t][jr + jb .. jr + jb + L): plain stores for a whole
          // block of L steps of p, masked ones (by whether p < kc) for the last partial block.
          auto storeRows = [&](bool whole) {
            for (unsigned t = 0; t < L; ++t) {
              llvm::Value *p = add(pb, c64(t));
              llvm::Value *to = at(panel, add(mul(p, c64(NR)), c64(jb)));
              if (whole)
                b.CreateAlignedStore(rows[t], to, elemAlign);
              else
                b.CreateMaskedStore(rows[t], to, elemAlign, b.CreateVectorSplat(L, b.CreateICmpSLT(p, kc)));
            }
          };
          ifThenElse(b, b.CreateICmpSLE(add(pb, c64(L)), kc), [&] { storeRows(true); }, [&] { storeRows(false); });
        }
      });
    });
    b.CreateRetVoid();
    return fn;
  }

  /// The A packing for op(A) = A (`address` gives src's element): for each micro-panel of MR rows, for each p, MR
  /// elements element(ir, i, p) → dst[ir·kc + p·MR + i], zero for rows beyond mc. Rows
  /// beyond mc read row mc−1 (always valid memory) and select zero.
  llvm::Function *emitPackA(const std::string &suffix,
                            llvm::function_ref<llvm::Value *(llvm::Value *src, llvm::Value *ld,
                                                             llvm::Value *row, llvm::Value *p)>
                                address) {
    llvm::Function *fn = makeFunction(suffix, {i64, i64, ptr, i64, ptr});
    llvm::Value *kc = fn->getArg(0), *mc = fn->getArg(1), *src = fn->getArg(2),
                *ld = fn->getArg(3), *dst = fn->getArg(4);
    const int64_t MR = spec.mr;
    forStep(b, c64(0), mc, MR, "ir", [&](llvm::Value *ir) {
      llvm::Value *mr = b.CreateNSWSub(mc, ir);
      llvm::Value *lastRow = b.CreateNSWSub(mr, c64(1));
      llvm::SmallVector<llvm::Value *, 8> rows, valid;
      for (int64_t i = 0; i < MR; ++i) {
        rows.push_back(add(ir, smin(c64(i), lastRow)));
        valid.push_back(b.CreateICmpSLT(c64(i), mr));
      }
      llvm::Value *panel = at(dst, mul(ir, kc));
      forStep(b, c64(0), kc, 1, "p", [&](llvm::Value *p) {
        llvm::Value *out = at(panel, mul(p, c64(MR)));
        for (int64_t i = 0; i < MR; ++i) {
          llvm::Value *x = b.CreateAlignedLoad(elem, address(src, ld, rows[i], p), elemAlign);
          x = b.CreateSelect(valid[i], x, llvm::ConstantFP::get(elem, 0.0));
          b.CreateAlignedStore(x, at(out, c64(i)), elemAlign);
        }
      });
    });
    b.CreateRetVoid();
    return fn;
  }

  llvm::Function *emitPackANormal() { // op(A)[i][p] = src[i·ld + p]
    return emitPackA(".packA", [&](llvm::Value *src, llvm::Value *ld, llvm::Value *row,
                                   llvm::Value *p) { return at(src, add(mul(row, ld), p)); });
  }
  /// packA for op(A) = Aᵀ: op(A)[i][p] = src[p·ld + i], so the MR elements of one p are
  /// adjacent in src: one masked vector load (lanes beyond mc read nothing and give zero) and
  /// one masked store of MR lanes per p.
  llvm::Function *emitPackATransposed() {
    llvm::Function *fn = makeFunction(".packAT", {i64, i64, ptr, i64, ptr});
    llvm::Value *kc = fn->getArg(0), *mc = fn->getArg(1), *src = fn->getArg(2),
                *ld = fn->getArg(3), *dst = fn->getArg(4);
    const int64_t MR = spec.mr;
    unsigned W = 1;
    while (W < MR)
      W *= 2;
    auto *wide = llvm::FixedVectorType::get(elem, W);
    llvm::SmallVector<llvm::Constant *, 16> laneIds;
    for (unsigned l = 0; l < W; ++l)
      laneIds.push_back(b.getInt32(l));
    llvm::Constant *lanes = llvm::ConstantVector::get(laneIds);
    llvm::Value *storeMask = b.CreateICmpSLT(lanes, b.CreateVectorSplat(W, b.getInt32(uint32_t(MR))));
    forStep(b, c64(0), mc, MR, "ir", [&](llvm::Value *ir) {
      llvm::Value *rows = b.CreateTrunc(smin(b.CreateNSWSub(mc, ir), c64(MR)), b.getInt32Ty());
      llvm::Value *loadMask = b.CreateICmpSLT(lanes, b.CreateVectorSplat(W, rows));
      llvm::Value *panel = at(dst, mul(ir, kc));
      llvm::Value *column = at(src, ir);
      // Each step's W lanes are stored whole (a masked store is microcoded on AMD's Zen 3):
      // the W − MR lanes past the step's MR land on the next step's, which overwrites them;
      // the last step's store is masked, so nothing lands past the micro-panel.
      auto step = [&](llvm::Value *p, bool last) {
        llvm::Value *x = b.CreateMaskedLoad(wide, at(column, mul(p, ld)), elemAlign, loadMask,
                                            llvm::ConstantFP::get(wide, 0.0));
        if (last)
          b.CreateMaskedStore(x, at(panel, mul(p, c64(MR))), elemAlign, storeMask);
        else
          b.CreateAlignedStore(x, at(panel, mul(p, c64(MR))), elemAlign);
      };
      llvm::Value *lastP = b.CreateNSWSub(kc, c64(1));
      forStep(b, c64(0), lastP, 1, "p", [&](llvm::Value *p) { step(p, false); });
      ifThen(b, b.CreateICmpSGE(lastP, c64(0)), "p.last", "p.last.done", [&] { step(lastP, true); });
    });
    b.CreateRetVoid();
    return fn;
  }

  /// Where the microkernel reads op(A): a packed micro-panel, or A itself (GemmSpec::directA),
  /// stored as op(A) (row i at Ap + i·lda) or transposed (row i at Ap + i, step p at p·lda).
  enum AAccess { Packed, DirectNormal, DirectTransposed };

  /// micro(kc, Ap, Bp, C, ldc, mr, nr, loadC, last, row0, col0, [lda,] extra...): the MR×NR
  /// tile of C at (row0, col0) from the packed micro-panel Bp (kc×NR) and the packed
  /// micro-panel Ap (kc×MR), or with a direct access op(A)'s rows at Ap with leading
  /// dimension lda.
  llvm::Function *emitMicrokernel(AAccess access) {
    llvm::SmallVector<llvm::Type *, 16> params = {i64, ptr, ptr, ptr, i64, i64, i64,
                                                  b.getInt1Ty(), b.getInt1Ty(), i64, i64};
    const unsigned firstExtra = access == Packed ? 11 : 12;
    if (access != Packed)
      params.push_back(i64);
    params.append(extraTypes.begin(), extraTypes.end());
    llvm::Function *fn = makeFunction(access == Packed ? ".micro" : access == DirectNormal ? ".micro_a" : ".micro_at",
                                      params);
    llvm::Value *kc = fn->getArg(0), *ap = fn->getArg(1), *bp = fn->getArg(2),
                *cp = fn->getArg(3), *ldc = fn->getArg(4), *mr = fn->getArg(5),
                *nr = fn->getArg(6), *loadC = fn->getArg(7), *last = fn->getArg(8),
                *row0 = fn->getArg(9), *col0 = fn->getArg(10);
    llvm::SmallVector<llvm::Value *, 4> extra;
    for (unsigned e = 0; e < extraTypes.size(); ++e)
      extra.push_back(fn->getArg(firstExtra + e));
    const unsigned MR = spec.mr, NV = spec.nrVectors, L = spec.lanes;
    const int64_t NR = spec.nr();
    // Direct access: row i of op(A) (rows beyond mr read row mr − 1, never stored).
    llvm::SmallVector<llvm::Value *, 16> aRows;
    llvm::Value *lda = access == Packed ? nullptr : fn->getArg(11);
    if (access != Packed)
      for (unsigned i = 0; i < MR; ++i) {
        llvm::Value *row = smin(c64(i), b.CreateNSWSub(mr, c64(1)));
        aRows.push_back(at(ap, access == DirectNormal ? mul(row, lda) : row));
      }

    // Fetch the tile of C into the cache while the k loop runs (a prefetch never faults, so
    // rows beyond mr need no guard): one per cache line, NR·elements bytes per row.
    {
      llvm::Function *prefetch = llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::prefetch, {ptr});
      const int64_t perLine = 64 / (spec.f64 ? 8 : 4);
      for (unsigned i = 0; i < MR; ++i)
        for (int64_t j = 0; j < NR; j += perLine)
          b.CreateCall(prefetch, {at(cp, add(mul(c64(i), ldc), c64(j))), b.getInt32(1), b.getInt32(3), b.getInt32(1)});
    }
    // The k loop: MR·NV accumulators in registers.
    llvm::BasicBlock *entry = b.GetInsertBlock();
    auto *loop = llvm::BasicBlock::Create(ctx, "k.loop", fn);
    auto *store = llvm::BasicBlock::Create(ctx, "store", fn);
    b.CreateCondBr(b.CreateICmpSGT(kc, c64(0)), loop, store);
    b.SetInsertPoint(loop);
    llvm::PHINode *p = b.CreatePHI(i64, 2, "p");
    p->addIncoming(c64(0), entry);
    llvm::SmallVector<llvm::PHINode *, 32> accPhis;
    for (unsigned t = 0; t < MR * NV; ++t) {
      accPhis.push_back(b.CreatePHI(vec, 2, "acc"));
      accPhis.back()->addIncoming(zeroVec(), entry);
    }
    llvm::Value *bRow = at(bp, mul(p, c64(NR)));
    llvm::SmallVector<llvm::Value *, 8> bVecs;
    for (unsigned v = 0; v < NV; ++v)
      bVecs.push_back(b.CreateAlignedLoad(vec, at(bRow, c64(v * L)), elemAlign));
    llvm::Value *aRow = at(ap, mul(p, c64(MR)));
    llvm::Value *aStep = access == DirectTransposed ? mul(p, lda) : p;
    llvm::SmallVector<llvm::Value *, 32> updated(MR * NV);
    for (unsigned i = 0; i < MR; ++i) {
      llvm::Value *aPtr = access == Packed ? at(aRow, c64(i)) : at(aRows[i], aStep);
      llvm::Value *a = b.CreateAlignedLoad(elem, aPtr, elemAlign);
      llvm::Value *aSplat = b.CreateVectorSplat(L, a);
      for (unsigned v = 0; v < NV; ++v) {
        llvm::PHINode *acc = accPhis[i * NV + v];
        updated[i * NV + v] =
            b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec}, {aSplat, bVecs[v], acc});
        acc->addIncoming(updated[i * NV + v], loop);
      }
    }
    llvm::Value *next = add(p, c64(1));
    p->addIncoming(next, loop);
    b.CreateCondBr(b.CreateICmpSLT(next, kc), loop, store);

    // The store: finished accumulators, masks for columns beyond nr.
    b.SetInsertPoint(store);
    llvm::SmallVector<llvm::Value *, 32> accs;
    for (unsigned t = 0; t < MR * NV; ++t) {
      llvm::PHINode *acc = b.CreatePHI(vec, 2, "sum");
      acc->addIncoming(zeroVec(), entry);
      acc->addIncoming(updated[t], loop);
      accs.push_back(acc);
    }
    llvm::SmallVector<llvm::Value *, 8> masks, loadMasks;
    llvm::Value *loadSplat = b.CreateVectorSplat(L, loadC);
    for (unsigned v = 0; v < NV; ++v) {
      masks.push_back(laneMask(nr, v * L));
      loadMasks.push_back(b.CreateAnd(masks.back(), loadSplat));
    }
    // Old C (or −0, the identity of +) plus the sum, through the epilogue, into C. Rows
    // beyond mr are skipped: row i > 0 is stored only when i < mr. A tile of all NR columns
    // (every tile but the last of a row of tiles) uses plain loads and stores: on AMD's Zen 3 a
    // masked 256-bit store is microcoded, and twelve of them cost a 6×16 tile with K = 384
    // several percent of its time.
    llvm::Value *allLanes = llvm::ConstantInt::getTrue(llvm::VectorType::get(b.getInt1Ty(), L, false));
    auto storeRows = [&](bool withEpilogue, bool fullWidth) {
      llvm::BasicBlock *done = llvm::BasicBlock::Create(ctx, "tile.done", fn);
      for (unsigned i = 0; i < MR; ++i) {
        if (i > 0) {
          auto *rowBlock = llvm::BasicBlock::Create(ctx, "row", fn);
          b.CreateCondBr(b.CreateICmpSLT(c64(i), mr), rowBlock, done);
          b.SetInsertPoint(rowBlock);
        }
        llvm::Value *cRow = at(cp, mul(c64(i), ldc));
        for (unsigned v = 0; v < NV; ++v) {
          llvm::Value *cPtr = at(cRow, c64(v * L));
          llvm::Value *negZero = llvm::ConstantFP::get(vec, -0.0);
          llvm::Value *old = fullWidth ? b.CreateSelect(loadC, b.CreateAlignedLoad(vec, cPtr, elemAlign), negZero)
                                       : b.CreateMaskedLoad(vec, cPtr, elemAlign, loadMasks[v], negZero);
          llvm::Value *value = b.CreateFAdd(old, accs[i * NV + v]);
          llvm::Value *mask = fullWidth ? allLanes : masks[v];
          if (withEpilogue)
            value = spec.epilogue(GemmEpilogueArgs{b, value, add(row0, c64(i)), add(col0, c64(v * L)), mask, extra});
          if (fullWidth)
            b.CreateAlignedStore(value, cPtr, elemAlign);
          else
            b.CreateMaskedStore(value, cPtr, elemAlign, mask);
        }
      }
      b.CreateBr(done);
      b.SetInsertPoint(done);
    };
    auto storeTile = [&](bool withEpilogue) {
      ifThenElse(b, b.CreateICmpEQ(nr, c64(NR)), [&] { storeRows(withEpilogue, true); },
                 [&] { storeRows(withEpilogue, false); });
    };
    if (spec.epilogue) {
      auto *plain = llvm::BasicBlock::Create(ctx, "store.plain", fn);
      auto *fused = llvm::BasicBlock::Create(ctx, "store.epilogue", fn);
      auto *exit = llvm::BasicBlock::Create(ctx, "exit", fn);
      b.CreateCondBr(last, fused, plain);
      b.SetInsertPoint(fused);
      storeTile(true);
      b.CreateBr(exit);
      b.SetInsertPoint(plain);
      storeTile(false);
      b.CreateBr(exit);
      b.SetInsertPoint(exit);
    } else {
      storeTile(false);
    }
    if (tileEpilogue) {
      size_t e = spec.extraParams.size();
      llvm::Value *kind = extra[e + 2];
      ifThen(b, b.CreateAnd(last, b.CreateICmpNE(kind, b.getInt32(0))), "tile.epilogue.then", "tile.epilogue.done", [&] {
        b.CreateCall(tileEpilogue, {cp, ldc, mr, nr, row0, col0, extra[e], extra[e + 1], kind});
      });
    }
    b.CreateRetVoid();
    return fn;
  }

  /// The exported routine: the five blocking loops of Gemm.h around the packers and the
  /// microkernel.
  llvm::Function *emitDriver(llvm::Function *packAN, llvm::Function *packAT,
                             llvm::Function *packBN, llvm::Function *packBT,
                             llvm::Function *micro, llvm::Function *directN, llvm::Function *directT) {
    llvm::SmallVector<llvm::Type *, 16> params = {i64, i64, i64, ptr, i64, ptr, i64, ptr, i64,
                                                  b.getInt32Ty(), ptr};
    params.append(extraTypes.begin(), extraTypes.end());
    llvm::Function *fn = makeFunction("", params, /*internal=*/false);
    static const char *names[] = {"M", "N", "K", "A", "lda", "B", "ldb", "C", "ldc", "flags",
                                  "scratch"};
    for (unsigned a = 0; a < 11; ++a)
      fn->getArg(a)->setName(names[a]);
    llvm::Value *M = fn->getArg(0), *N = fn->getArg(1), *K = fn->getArg(2), *A = fn->getArg(3),
                *lda = fn->getArg(4), *B = fn->getArg(5), *ldb = fn->getArg(6),
                *C = fn->getArg(7), *ldc = fn->getArg(8), *flags = fn->getArg(9),
                *scratch = fn->getArg(10);
    llvm::SmallVector<llvm::Value *, 4> extra;
    for (unsigned e = 0; e < extraTypes.size(); ++e)
      extra.push_back(fn->getArg(11 + e));
    const int64_t MR = spec.mr, NR = spec.nr(), KC = spec.kc, MC = spec.mc, NC = spec.nc;

    auto *body = llvm::BasicBlock::Create(ctx, "body", fn);
    auto *ret = llvm::BasicBlock::Create(ctx, "ret", fn);
    b.CreateCondBr(b.CreateAnd(b.CreateICmpSGT(M, c64(0)), b.CreateICmpSGT(N, c64(0))), body, ret);
    b.SetInsertPoint(body);
    auto flag = [&](int32_t bit) {
      return b.CreateICmpNE(b.CreateAnd(flags, b.getInt32(bit)), b.getInt32(0));
    };
    llvm::Value *transA = flag(GemmTransposeA), *transB = flag(GemmTransposeB),
                *accumulate = flag(GemmAccumulate);
    // Scratch layout (gemmScratchElements): the A block, rounded to 16 elements, then B.
    llvm::Value *kcMax = smax(smin(K, c64(KC)), c64(0));
    llvm::Value *mcRounded = mul(b.CreateSDiv(add(smin(M, c64(MC)), c64(MR - 1)), c64(MR)), c64(MR));
    llvm::Value *aElems = b.CreateAnd(add(mul(mcRounded, kcMax), c64(15)), c64(~int64_t(15)));
    llvm::Value *aPack = scratch, *bPack = at(scratch, aElems);

    auto callEither = [&](llvm::Value *cond, llvm::Function *ifTrue, llvm::Function *ifFalse,
                          llvm::ArrayRef<llvm::Value *> argsTrue,
                          llvm::ArrayRef<llvm::Value *> argsFalse) {
      llvm::Function *fnNow = b.GetInsertBlock()->getParent();
      auto *t = llvm::BasicBlock::Create(ctx, "pack.t", fnNow);
      auto *f = llvm::BasicBlock::Create(ctx, "pack.n", fnNow);
      auto *done = llvm::BasicBlock::Create(ctx, "pack.done", fnNow);
      b.CreateCondBr(cond, t, f);
      b.SetInsertPoint(t);
      b.CreateCall(ifTrue, argsTrue);
      b.CreateBr(done);
      b.SetInsertPoint(f);
      b.CreateCall(ifFalse, argsFalse);
      b.CreateBr(done);
      b.SetInsertPoint(done);
    };

    // 1. Column panels of C.
    forStep(b, c64(0), N, NC, "jc", [&](llvm::Value *jc) {
      llvm::Value *nc = smin(c64(NC), b.CreateNSWSub(N, jc));
      // 2. K blocks, as a do-while so that K ≤ 0 still makes one pass.
      llvm::BasicBlock *pre = b.GetInsertBlock();
      auto *kLoop = llvm::BasicBlock::Create(ctx, "pc.loop", fn);
      auto *kExit = llvm::BasicBlock::Create(ctx, "pc.exit", fn);
      b.CreateBr(kLoop);
      b.SetInsertPoint(kLoop);
      llvm::PHINode *pc = b.CreatePHI(i64, 2, "pc");
      pc->addIncoming(c64(0), pre);
      llvm::Value *kc = smax(smin(c64(KC), b.CreateNSWSub(K, pc)), c64(0));
      llvm::Value *loadC = b.CreateOr(b.CreateICmpSGT(pc, c64(0)), accumulate);
      llvm::Value *pcNext = add(pc, c64(KC));
      llvm::Value *last = b.CreateICmpSGE(pcNext, K);
      // 3. Pack op(B)[pc.., jc..].
      callEither(transB, packBT, packBN, {kc, nc, at(B, add(mul(jc, ldb), pc)), ldb, bPack},
                 {kc, nc, at(B, add(mul(pc, ldb), jc)), ldb, bPack});
      // 4. Row blocks of op(A).
      forStep(b, c64(0), M, MC, "ic", [&](llvm::Value *ic) {
        llvm::Value *mc = smin(c64(MC), b.CreateNSWSub(M, ic));
        if (!spec.directA)
          callEither(transA, packAT, packAN, {kc, mc, at(A, add(mul(pc, lda), ic)), lda, aPack},
                     {kc, mc, at(A, add(mul(ic, lda), pc)), lda, aPack});
        // 5. Micro-panels of B, then of A: one microkernel call per MR×NR tile.
        forStep(b, c64(0), nc, NR, "jr", [&](llvm::Value *jr) {
          llvm::Value *nr = smin(c64(NR), b.CreateNSWSub(nc, jr));
          llvm::Value *bPanel = at(bPack, mul(jr, kc));
          llvm::Value *col = add(jc, jr);
          forStep(b, c64(0), mc, MR, "ir", [&](llvm::Value *ir) {
            llvm::Value *mr = smin(c64(MR), b.CreateNSWSub(mc, ir));
            llvm::Value *row = add(ic, ir);
            llvm::Value *cTile = at(C, add(mul(row, ldc), col));
            if (!spec.directA) {
              llvm::SmallVector<llvm::Value *, 16> args = {
                  kc, at(aPack, mul(ir, kc)), bPanel, cTile, ldc, mr, nr, loadC, last, row, col};
              args.append(extra.begin(), extra.end());
              b.CreateCall(micro, args);
              return;
            }
            // op(A)[row][pc] itself: A[row·lda + pc], or A[pc·lda + row] when transposed.
            auto direct = [&](llvm::Function *f, llvm::Value *a) {
              llvm::SmallVector<llvm::Value *, 16> args = {kc, a, bPanel, cTile, ldc, mr, nr,
                                                           loadC, last, row, col, lda};
              args.append(extra.begin(), extra.end());
              b.CreateCall(f, args);
            };
            llvm::Function *fnNow = b.GetInsertBlock()->getParent();
            auto *t = llvm::BasicBlock::Create(ctx, "direct.t", fnNow);
            auto *n = llvm::BasicBlock::Create(ctx, "direct.n", fnNow);
            auto *done = llvm::BasicBlock::Create(ctx, "direct.done", fnNow);
            b.CreateCondBr(transA, t, n);
            b.SetInsertPoint(t);
            direct(directT, at(A, add(mul(pc, lda), row)));
            b.CreateBr(done);
            b.SetInsertPoint(n);
            direct(directN, at(A, add(mul(row, lda), pc)));
            b.CreateBr(done);
            b.SetInsertPoint(done);
          });
        });
      });
      pc->addIncoming(pcNext, b.GetInsertBlock());
      b.CreateCondBr(b.CreateICmpSLT(pcNext, K), kLoop, kExit);
      b.SetInsertPoint(kExit);
    });
    b.CreateBr(ret);
    b.SetInsertPoint(ret);
    b.CreateRetVoid();
    return fn;
  }
};

} // namespace

GemmSpec GemmSpec::forHost(unsigned vectorBits, bool f64) {
  GemmSpec spec;
  spec.f64 = f64;
  spec.name = f64 ? "nnc_dgemm" : "nnc_sgemm";
  spec.lanes = std::max(vectorBits, 128u) / (f64 ? 64 : 32);
  // The tile's accumulators, the B vectors of one k step and a broadcast must fit in the
  // vector registers: 6×4 = 24 of AVX-512's 32, but only 6×2 = 12 of AVX2's (and SSE's) 16;
  // 6×4 there spills accumulators on every k step and halves the rate.
  spec.nrVectors = vectorBits >= 512 ? 4 : 2;
  return spec;
}

GemmSpec GemmSpec::withActivationEpilogue(unsigned vectorBits) {
  GemmSpec spec = forHost(vectorBits, false);
  spec.name = "nnc_sgemm_epilogue";
  spec.activationEpilogue = true;
  return spec;
}

GemmSpec GemmSpec::narrow(unsigned vectorBits) {
  GemmSpec spec = forHost(vectorBits, false);
  spec.name = "nnc_sgemm_narrow";
  spec.mr = 12;
  spec.nrVectors = 1;
  spec.activationEpilogue = true;
  spec.directA = true;
  return spec;
}

int64_t gemmScratchElements(const GemmSpec &spec, int64_t M, int64_t N, int64_t K) {
  int64_t kc = std::clamp<int64_t>(K, 0, spec.kc);
  int64_t m = std::clamp<int64_t>(M, 0, spec.mc), n = std::clamp<int64_t>(N, 0, spec.nc);
  return roundUp(roundUp(m, spec.mr) * kc, 16) + kc * roundUp(n, spec.nr());
}

llvm::Function *emitGemm(llvm::Module &module, const GemmSpec &spec) {
  assert(spec.lanes > 0 && spec.mr > 0 && spec.nrVectors > 0 && spec.kc > 0 && spec.mc > 0 &&
         spec.nc > 0 && "GemmSpec blocking must be positive");
  return GemmEmitter(module, spec).emit();
}

} // namespace nnc
