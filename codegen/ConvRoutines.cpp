//===- ConvRoutines.cpp - The convolution's data movement as routines of run-time shape ----===//
//
// The three routines of ConvRoutines.h. Each loads the geometry once and loops with forStep
// (codegen/Loops.h); index arithmetic is i64, lane columns and their masks i32 (a row is far
// shorter than 2³¹, and AVX2 holds eight 32-bit lanes in one register but 64-bit lanes in
// two). Lanes whose element lies outside the image or the row are masked off, so a masked
// load may be given an address before a row's start: it is never dereferenced there.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/ConvRoutines.h"

#include "codegen/Gemm.h"
#include "codegen/KernelPlan.h"
#include "codegen/Loops.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <algorithm>

namespace nnc {

using llvm::Value;

std::array<int64_t, kConvGeometryWords> convGeometryWords(const ConvGeometry &g) {
  std::array<int64_t, kConvGeometryWords> words{};
  words[kConvC] = g.C, words[kConvH] = g.H, words[kConvW] = g.W, words[kConvKH] = g.KH, words[kConvKW] = g.KW;
  words[kConvOH] = g.OH, words[kConvOW] = g.OW, words[kConvStrideH] = g.strideH, words[kConvStrideW] = g.strideW;
  words[kConvPadH] = g.padH, words[kConvPadW] = g.padW, words[kConvO] = g.O;
  return words;
}

int64_t col2imMaskBytes(const ConvGeometry &g) {
  // ⌈W / lanes⌉ · lanes ≤ W + 15 lanes per kx.
  return (g.W + 15) * g.KW * 4;
}

std::string convRoutineName(ConvRoutine routine, bool f64) {
  const char *base = routine == ConvRoutine::Im2col ? "nnc_im2col_" : routine == ConvRoutine::Col2im ? "nnc_col2im_"
                                                                                                      : "nnc_conv_dots_";
  return base + std::string(f64 ? "f64" : "f32");
}

llvm::FunctionType *convRoutineType(llvm::LLVMContext &context, ConvRoutine routine) {
  llvm::Type *p = llvm::PointerType::getUnqual(context), *i32 = llvm::Type::getInt32Ty(context);
  llvm::SmallVector<llvm::Type *, 6> params;
  switch (routine) {
  case ConvRoutine::Im2col: params = {p, p, p}; break;
  case ConvRoutine::Col2im: params = {p, p, p, p, p, i32, p}; break;
  case ConvRoutine::Dots: params = {p, p, p, p, i32}; break;
  }
  return llvm::FunctionType::get(llvm::Type::getVoidTy(context), params, false);
}

namespace {

class ConvRoutineEmitter {
public:
  ConvRoutineEmitter(llvm::Module &module, bool f64, unsigned vectorBits)
      : module(module), ctx(module.getContext()), b(ctx) {
    elem = f64 ? b.getDoubleTy() : b.getFloatTy();
    lanes = std::max(vectorBits, 128u) / (f64 ? 64 : 32);
    vec = llvm::FixedVectorType::get(elem, lanes);
    lanesI32 = llvm::FixedVectorType::get(b.getInt32Ty(), lanes);
    align = llvm::Align(f64 ? 8 : 4);
    // The flags of the model code: a sum's order is fixed by the code, and the reductions
    // across lanes may pair lanes as a tree.
    b.setFastMathFlags(kernelFastMathFlags());
  }

  llvm::Function *emit(ConvRoutine routine, const std::string &name) {
    switch (routine) {
    case ConvRoutine::Im2col: return emitIm2col(name);
    case ConvRoutine::Col2im: return emitCol2im(name);
    case ConvRoutine::Dots: return emitDots(name);
    }
    return nullptr;
  }

private:
  llvm::Module &module;
  llvm::LLVMContext &ctx;
  llvm::IRBuilder<> b;
  llvm::Type *elem;
  unsigned lanes;
  llvm::FixedVectorType *vec, *lanesI32;
  llvm::Align align;
  Value *words[kConvGeometryWords] = {};
  llvm::BasicBlock *entry = nullptr;

  llvm::Function *makeFunction(const std::string &name, ConvRoutine routine) {
    auto *fn = llvm::Function::Create(convRoutineType(ctx, routine), llvm::Function::ExternalLinkage, name, module);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    entry = llvm::BasicBlock::Create(ctx, "entry", fn);
    b.SetInsertPoint(entry);
    return fn;
  }
  void loadGeometry(Value *geometry) {
    for (int w = 0; w < kConvGeometryWords; ++w)
      words[w] = b.CreateAlignedLoad(b.getInt64Ty(), b.CreateConstInBoundsGEP1_64(b.getInt64Ty(), geometry, uint64_t(w)),
                                     llvm::Align(8));
  }
  Value *word(ConvWord w) { return words[w]; }
  Value *c64(int64_t v) { return b.getInt64(uint64_t(v)); }
  Value *add(Value *x, Value *y) { return b.CreateAdd(x, y); }
  Value *sub(Value *x, Value *y) { return b.CreateSub(x, y); }
  Value *mul(Value *x, Value *y) { return b.CreateMul(x, y); }
  Value *at(Value *base, Value *index) { return b.CreateInBoundsGEP(elem, base, index); }
  Value *zeroVec() { return llvm::Constant::getNullValue(vec); }
  Value *smin(Value *x, Value *y) { return b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y); }
  /// An i64 as i32 lanes.
  Value *splat32(Value *v) { return b.CreateVectorSplat(lanes, b.CreateTrunc(v, b.getInt32Ty())); }
  Value *laneIndex() {
    llvm::SmallVector<llvm::Constant *, 16> index;
    for (unsigned l = 0; l < lanes; ++l)
      index.push_back(b.getInt32(l));
    return llvm::ConstantVector::get(index);
  }
  /// The outputs o in [lo, hi) of one axis whose input o·stride − pad + k lies in [0, size).
  std::pair<Value *, Value *> insideRange(Value *outSize, Value *size, Value *stride, Value *pad, Value *k) {
    Value *zero = c64(0);
    Value *first = sub(pad, k); // o·stride ≥ first
    Value *lo = b.CreateSelect(b.CreateICmpSLE(first, zero), zero, b.CreateSDiv(add(first, sub(stride, c64(1))), stride));
    lo = smin(lo, outSize);
    Value *last = sub(add(size, first), c64(1)); // o·stride ≤ last
    Value *hi = b.CreateSelect(b.CreateICmpSLT(last, zero), zero, smin(outSize, add(b.CreateSDiv(last, stride), c64(1))));
    return {lo, b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, lo, hi)};
  }
  /// lo ≤ v < hi, for i64 scalars.
  Value *within(Value *v, Value *lo, Value *hi) { return b.CreateAnd(b.CreateICmpSGE(v, lo), b.CreateICmpSLT(v, hi)); }
  /// A local of type t, in the entry block so that it becomes a register.
  Value *local(llvm::Type *t) {
    llvm::IRBuilder<> e(entry, entry->begin());
    return e.CreateAlloca(t);
  }
  /// Stores v at p: whole when `whole` holds at run time, else the lanes of `mask`.
  void storeVector(Value *v, Value *p, Value *whole, Value *mask) {
    ifThenElse(b, whole, [&] { b.CreateAlignedStore(v, p, align); }, [&] { b.CreateMaskedStore(v, p, align, mask); });
  }

  /// col[(c·KH + ky)·KW + kx][oy·OW + ox] = x[c][oy·sH − pH + ky][ox·sW − pW + kx], or 0 in the
  /// padding: each vector of a col row is one masked load (a masked gather for sW > 1).
  llvm::Function *emitIm2col(const std::string &name) {
    llvm::Function *fn = makeFunction(name, ConvRoutine::Im2col);
    loadGeometry(fn->getArg(0));
    Value *x = fn->getArg(1), *col = fn->getArg(2);
    Value *C = word(kConvC), *H = word(kConvH), *W = word(kConvW), *KH = word(kConvKH), *KW = word(kConvKW),
          *OH = word(kConvOH), *OW = word(kConvOW), *sH = word(kConvStrideH), *sW = word(kConvStrideW),
          *pH = word(kConvPadH), *pW = word(kConvPadW);
    Value *OHW = mul(OH, OW), *index = laneIndex();
    auto nest = [&](bool unitStride) {
      forStep(b, c64(0), C, 1, "c", [&](Value *c) {
        forStep(b, c64(0), KH, 1, "ky", [&](Value *ky) {
          // The output rows whose input row oy·sH − pH + ky lies inside the image.
          auto [yLo, yHi] = insideRange(OH, H, sH, pH, ky);
          forStep(b, c64(0), KW, 1, "kx", [&](Value *kx) {
            Value *row = at(col, mul(add(mul(add(mul(c, KH), ky), KW), kx), OHW));
            Value *shift = sub(kx, pW); // input column of ox: ox·sW + shift
            // The column of vectors at ox0 (all lanes inside the row when `whole`), down the
            // output rows: its lanes' mask is the same in every row.
            auto columns = [&](Value *ox0, bool whole) {
              Value *ox = b.CreateAdd(splat32(ox0), index);
              Value *inRow = b.CreateICmpSLT(ox, splat32(OW));
              Value *ix = b.CreateAdd(unitStride ? ox : b.CreateMul(ox, splat32(sW)), splat32(shift));
              Value *mask = b.CreateAnd(b.CreateICmpSGE(ix, splat32(c64(0))), b.CreateICmpSLT(ix, splat32(W)));
              if (!whole)
                mask = b.CreateAnd(mask, inRow);
              Value *wideIx = unitStride ? nullptr : b.CreateSExt(ix, llvm::FixedVectorType::get(b.getInt64Ty(), lanes));
              auto store = [&](Value *oy, Value *v) {
                Value *p = at(row, add(mul(oy, OW), ox0));
                if (whole)
                  b.CreateAlignedStore(v, p, align);
                else
                  b.CreateMaskedStore(v, p, align, inRow);
              };
              forStep(b, c64(0), yLo, 1, "pad.above", [&](Value *oy) { store(oy, zeroVec()); });
              forStep(b, yLo, yHi, 1, "oy", [&](Value *oy) {
                // Row iy of channel c; lanes before its start are masked off.
                Value *src = b.CreateGEP(elem, x, mul(add(mul(c, H), add(sub(mul(oy, sH), pH), ky)), W));
                Value *v = unitStride
                               ? b.CreateMaskedLoad(vec, b.CreateGEP(elem, src, add(ox0, shift)), align, mask, zeroVec())
                               : b.CreateMaskedGather(vec, b.CreateGEP(elem, src, wideIx), align, mask, zeroVec());
                store(oy, v);
              });
              forStep(b, yHi, OH, 1, "pad.below", [&](Value *oy) { store(oy, zeroVec()); });
            };
            // Whole vectors, the last one ending at the row's end (overlapping the one before,
            // which it rewrites with the same values): masked stores are slow on some CPUs
            // (AMD's). Rows shorter than a vector store masked.
            ifThenElse(b, b.CreateICmpSGE(OW, c64(lanes)), [&] {
              Value *last = sub(OW, c64(lanes));
              forStep(b, c64(0), OW, lanes, "ox", [&](Value *ox0) { columns(smin(ox0, last), true); });
            }, [&] { columns(c64(0), false); });
          });
        });
      });
    };
    ifThenElse(b, b.CreateICmpEQ(sW, c64(1)), [&] { nest(true); }, [&] { nest(false); });
    b.CreateRetVoid();
    return fn;
  }

  /// dx = col2im(col). With sW = 1, for every vector of a row y of dx: for each (ky, kx) the
  /// output row oy with oy·sH − pH + ky = y, loaded shifted by kx with the lanes outside the
  /// image or the output masked off, is added (in ky, kx order); the epilogue `kind` is
  /// applied and dx stored once, never read. Other sW: dx is zeroed and each col element added
  /// where it was read from.
  llvm::Function *emitCol2im(const std::string &name) {
    llvm::Function *fn = makeFunction(name, ConvRoutine::Col2im);
    loadGeometry(fn->getArg(0));
    Value *col = fn->getArg(1), *dx = fn->getArg(2), *bias = fn->getArg(3), *aux = fn->getArg(4), *kind = fn->getArg(5),
          *masks = fn->getArg(6);
    Value *C = word(kConvC), *H = word(kConvH), *W = word(kConvW), *KH = word(kConvKH), *KW = word(kConvKW),
          *OH = word(kConvOH), *OW = word(kConvOW), *sH = word(kConvStrideH), *sW = word(kConvStrideW),
          *pH = word(kConvPadH), *pW = word(kConvPadW);
    Value *OHW = mul(OH, OW), *KK = mul(KH, KW), *index = laneIndex();
    Value *acc = local(vec);
    auto gather = [&] {
      // A row of dx is covered by `chunks` vectors; with W ≥ lanes the last one ends at the
      // row's end (overlapping the one before, whose lanes it computes and stores again with
      // the same values), so every store is whole. Lane x of a chunk reads output column
      // x + pW − kx: the masks of those reads depend on the chunk and kx only, and are
      // computed once into the caller's `masks` (as i32 lanes, all ones or zero; planned
      // scratch rather than the stack, which a wide image would overflow).
      Value *chunks = b.CreateSDiv(add(W, c64(lanes - 1)), c64(lanes));
      Value *whole = b.CreateICmpSGE(W, c64(lanes));
      auto chunkStart = [&](Value *chunk) {
        return b.CreateSelect(whole, smin(mul(chunk, c64(lanes)), sub(W, c64(lanes))), c64(0));
      };
      forStep(b, c64(0), chunks, 1, "mask.chunk", [&](Value *chunk) {
        Value *xs = b.CreateAdd(splat32(chunkStart(chunk)), index);
        Value *inRow = b.CreateICmpSLT(xs, splat32(W));
        forStep(b, c64(0), KW, 1, "mask.kx", [&](Value *kx) {
          Value *ox = b.CreateAdd(xs, splat32(sub(pW, kx)));
          Value *m = b.CreateAnd(inRow, b.CreateAnd(b.CreateICmpSGE(ox, splat32(c64(0))), b.CreateICmpSLT(ox, splat32(OW))));
          // Aligned to its i32 lanes only: the scratch need not be aligned to a vector.
          b.CreateAlignedStore(b.CreateSExt(m, lanesI32), b.CreateInBoundsGEP(lanesI32, masks, add(mul(chunk, KW), kx)),
                               llvm::Align(4));
        });
      });
      Value *hasRowBias = b.CreateICmpNE(b.CreateAnd(kind, b.getInt32(GemmEpilogueRowBias)), b.getInt32(0));
      forStep(b, c64(0), C, 1, "c", [&](Value *c) {
        Value *rowBias = ifElse(b, hasRowBias, [&] {
          return b.CreateVectorSplat(lanes, b.CreateAlignedLoad(elem, at(bias, c), align));
        }, zeroVec(), "bias");
        forStep(b, c64(0), H, 1, "y", [&](Value *y) {
          forStep(b, c64(0), chunks, 1, "x", [&](Value *chunk) {
            Value *x0 = chunkStart(chunk);
            Value *inRow = b.CreateICmpSLT(b.CreateAdd(splat32(x0), index), splat32(W));
            Value *chunkMasks = b.CreateInBoundsGEP(lanesI32, masks, mul(chunk, KW));
            b.CreateStore(zeroVec(), acc);
            forStep(b, c64(0), KH, 1, "ky", [&](Value *ky) {
              Value *from = sub(add(y, pH), ky); // oy·sH when output row oy reads y through ky
              Value *oy = ifElse(b, b.CreateICmpNE(sH, c64(1)), [&] { return b.CreateSDiv(from, sH); }, from, "stride");
              Value *valid = b.CreateAnd(within(oy, c64(0), OH),
                                         b.CreateAnd(b.CreateICmpSGE(from, c64(0)), b.CreateICmpEQ(mul(oy, sH), from)));
              // No output row reads y through ky: nothing to add.
              ifThen(b, valid, "row", "row.done", [&] {
                // Element (x0 + lane) of col row (c, ky, kx), output row oy, at kx = 0.
                Value *rowBase = add(add(mul(mul(add(mul(c, KH), ky), KW), OHW), mul(oy, OW)), add(x0, pW));
                forStep(b, c64(0), KW, 1, "kx", [&](Value *kx) {
                  Value *mask = b.CreateICmpSLT(b.CreateAlignedLoad(lanesI32, b.CreateInBoundsGEP(lanesI32, chunkMasks, kx),
                                                                    llvm::Align(4)),
                                                splat32(c64(0)));
                  Value *p = b.CreateGEP(elem, col, sub(add(rowBase, mul(kx, OHW)), kx));
                  b.CreateStore(b.CreateFAdd(b.CreateLoad(vec, acc), b.CreateMaskedLoad(vec, p, align, mask, zeroVec())), acc);
                });
              });
            });
            Value *flat = add(mul(add(mul(c, H), y), W), x0);
            Value *v = emitRuntimeEpilogue(
                b, kind, b.CreateLoad(vec, acc), rowBias,
                [&] { return b.CreateMaskedLoad(vec, at(bias, add(mul(y, W), x0)), align, inRow, zeroVec()); },
                [&] { return b.CreateMaskedLoad(vec, at(aux, flat), align, inRow, zeroVec()); });
            storeVector(v, at(dx, flat), whole, inRow);
          });
        });
      });
    };
    auto scatter = [&] {
      b.CreateMemSet(dx, b.getInt8(0), mul(mul(mul(C, H), W), c64(int64_t(align.value()))), align);
      forStep(b, c64(0), C, 1, "c", [&](Value *c) {
        forStep(b, c64(0), KH, 1, "ky", [&](Value *ky) {
          forStep(b, c64(0), KW, 1, "kx", [&](Value *kx) {
            Value *row = at(col, mul(add(mul(c, KK), add(mul(ky, KW), kx)), OHW));
            forStep(b, c64(0), OH, 1, "oy", [&](Value *oy) {
              Value *iy = add(sub(mul(oy, sH), pH), ky);
              ifThen(b, within(iy, c64(0), H), "row", "row.done", [&] {
                Value *dxRow = at(dx, mul(add(mul(c, H), iy), W));
                forStep(b, c64(0), OW, 1, "ox", [&](Value *ox) {
                  Value *ix = add(sub(mul(ox, sW), pW), kx);
                  ifThen(b, within(ix, c64(0), W), "col", "col.done", [&] {
                    Value *p = at(dxRow, ix);
                    Value *v = b.CreateAlignedLoad(elem, at(row, add(mul(oy, OW), ox)), align);
                    b.CreateAlignedStore(b.CreateFAdd(b.CreateAlignedLoad(elem, p, align), v), p, align);
                  });
                });
              });
            });
          });
        });
      });
    };
    ifThenElse(b, b.CreateICmpEQ(sW, c64(1)), gather, scatter);
    b.CreateRetVoid();
    return fn;
  }

  /// target[o][r] = (first ? 0 : target[o][r]) + Σ_p dy[o][p]·col[r][p] over P = OH·OW: blocks
  /// of 2 rows of dy by 4 rows of col keep 8 vector sums (6 loads for 8 fused multiply-adds
  /// per vector of P), each reduced across its lanes at the end; the rows left over go one by
  /// one. Every element sums its lanes in the same order whatever its block.
  llvm::Function *emitDots(const std::string &name) {
    llvm::Function *fn = makeFunction(name, ConvRoutine::Dots);
    loadGeometry(fn->getArg(0));
    Value *dy = fn->getArg(1), *col = fn->getArg(2), *target = fn->getArg(3);
    Value *first = b.CreateICmpNE(fn->getArg(4), b.getInt32(0));
    const int64_t OB = 2, RB = 4;
    Value *P = mul(word(kConvOH), word(kConvOW)), *O = word(kConvO);
    Value *R = mul(mul(word(kConvC), word(kConvKH)), word(kConvKW));
    Value *full = b.CreateSDiv(P, c64(lanes)), *tail = b.CreateSRem(P, c64(lanes));
    Value *tailMask = b.CreateICmpSLT(laneIndex(), splat32(tail));
    std::vector<Value *> sums;
    for (int64_t k = 0; k < OB * RB; ++k)
      sums.push_back(local(vec));
    // nO rows of dy from o0 by nR rows of col from r0.
    auto block = [&](Value *o0, int64_t nO, Value *r0, int64_t nR) {
      for (int64_t k = 0; k < nO * nR; ++k)
        b.CreateStore(zeroVec(), sums[size_t(k)]);
      auto step = [&](Value *p, bool masked) {
        auto load = [&](Value *base, Value *row0, int64_t j) -> Value * {
          Value *q = at(base, add(mul(add(row0, c64(j)), P), p));
          if (masked)
            return b.CreateMaskedLoad(vec, q, align, tailMask, zeroVec());
          return b.CreateAlignedLoad(vec, q, align);
        };
        std::vector<Value *> a, c;
        for (int64_t i = 0; i < nO; ++i)
          a.push_back(load(dy, o0, i));
        for (int64_t j = 0; j < nR; ++j)
          c.push_back(load(col, r0, j));
        for (int64_t i = 0; i < nO; ++i)
          for (int64_t j = 0; j < nR; ++j) {
            Value *slot = sums[size_t(i * nR + j)];
            b.CreateStore(b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec},
                                            {a[size_t(i)], c[size_t(j)], b.CreateLoad(vec, slot)}),
                          slot);
          }
      };
      forStep(b, c64(0), full, 1, "p", [&](Value *v) { step(mul(v, c64(lanes)), false); });
      ifThen(b, b.CreateICmpSGT(tail, c64(0)), "tail", "tail.done", [&] { step(mul(full, c64(lanes)), true); });
      for (int64_t i = 0; i < nO; ++i)
        for (int64_t j = 0; j < nR; ++j) {
          Value *s = b.CreateFAddReduce(llvm::ConstantFP::getZero(elem), b.CreateLoad(vec, sums[size_t(i * nR + j)]));
          Value *q = at(target, add(mul(add(o0, c64(i)), R), add(r0, c64(j))));
          b.CreateAlignedStore(b.CreateSelect(first, s, b.CreateFAdd(b.CreateAlignedLoad(elem, q, align), s)), q, align);
        }
    };
    auto rows = [&](Value *o0, int64_t nO) {
      Value *whole = mul(b.CreateSDiv(R, c64(RB)), c64(RB));
      forStep(b, c64(0), whole, RB, "r", [&](Value *r0) { block(o0, nO, r0, RB); });
      forStep(b, whole, R, 1, "r.left", [&](Value *r0) { block(o0, nO, r0, 1); });
    };
    Value *wholeO = mul(b.CreateSDiv(O, c64(OB)), c64(OB));
    forStep(b, c64(0), wholeO, OB, "o", [&](Value *o0) { rows(o0, OB); });
    forStep(b, wholeO, O, 1, "o.left", [&](Value *o0) { rows(o0, 1); });
    b.CreateRetVoid();
    return fn;
  }
};

} // namespace

llvm::Function *emitConvRoutine(llvm::Module &module, ConvRoutine routine, bool f64, unsigned vectorBits,
                                const std::string &prefix) {
  std::string name = convRoutineName(routine, f64);
  return ConvRoutineEmitter(module, f64, vectorBits).emit(routine, prefix + name.substr(std::string_view("nnc_").size()));
}

} // namespace nnc
