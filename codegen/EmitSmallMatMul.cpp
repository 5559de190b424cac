//===- EmitSmallMatMul.cpp - Matrix products small enough for L1, as loops in the step ------===//
//
// A product the plan marks inlined (isInlineMatMul: operands and result within L1, a few
// thousand multiply-adds, as in a small model's layers) is computed where it stands in the step,
// without packing, a call of a GEMM routine or the thread pool. Each element of C is the sum of
// op(A)[i][p]·op(B)[p][j] over p in increasing order, so the result does not depend on threads.
// Each sum is a chain of dependent multiply-adds (llvm.fmuladd, which the optimizer leaves in
// order), so the forms keep several sums side by side, and every vectorized access contiguous
// (a gather per multiply-add would cost more than the arithmetic):
//   - narrow C (a classifier's few columns) with a short sum (K·N ≤ kStraightLineTerms): each
//     row's N sums straight-line, the loop over rows vectorized, one row per lane; with A
//     untransposed (its columns strided) and lanes dividing M and K, A's squares are loaded as
//     rows and transposed in registers, and two blocks of rows share a pass;
//   - wide C (at least kRowFormColumns) with B stored untransposed: blocks of rows whose sums
//     stay in registers over the loop along p, each row of B loaded once per block;
//   - wide C with Bᵀ and at most kShortSum terms: along the row of C, B's K elements loaded once
//     for a block of rows whose sums are straight-line code;
//   - otherwise row by row: a narrow row's N sums in registers, or (Bᵀ) each element a dot
//     product along p, vectorized only when both operands are contiguous along p, straight-line
//     and vectorized along the row when K ≤ 16.
// A vectorized loop of a few vectors is covered whole by them (loop()'s `lanes`): a loop of two
// or three vector iterations would have LICM hoist, and spill, the loads they share.
// Loops that would vectorize only through gathers carry llvm.loop.vectorize.enable = false.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelEmitter.h"
#include "codegen/Loops.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Metadata.h>

namespace nnc {

using llvm::Value;

namespace {

/// The narrowest C computed row by row, and the widest kept in registers.
constexpr int64_t kRowFormColumns = 8;
/// The most multiply-adds per row of C (narrow C) emitted as straight-line code so that the
/// loop over rows vectorizes; a transposed B's sums of at most kStraightLineTerms / 8 terms
/// likewise, vectorized along the row.
constexpr int64_t kStraightLineTerms = 128;
/// The longest sum of a wide C written as straight-line code per row, B's K elements of one
/// vector of columns held in registers.
constexpr int64_t kShortSum = 8;
/// The elements of C's rows one pass over B's rows computes (their sums in registers): 4 rows
/// of 16 columns.
constexpr int64_t kRowBlockElements = 64;
/// The vector sums a narrow C's transposed form keeps side by side (each a dependent chain).
constexpr int64_t kNarrowChains = 8;
/// The most vectors a row of C is covered by in one pass of its loop (loop's `lanes`).
constexpr int64_t kWholeVectors = 4;

/// `for (i = 0; i < n; ++i) body(i)` (n ≥ 1), with the loop vectorizer told to leave it
/// scalar when `vectorize` is false, or, with `lanes` > 0, to cover it whole with vectors of
/// that many lanes, one after the other in the loop's body (n a small multiple of `lanes`), so
/// that no loop is left around them.
void loop(llvm::IRBuilderBase &b, int64_t n, const char *name, bool vectorize,
          llvm::function_ref<void(Value *)> body, int64_t lanes = 0) {
  llvm::LLVMContext &ctx = b.getContext();
  llvm::Function *fn = b.GetInsertBlock()->getParent();
  llvm::BasicBlock *pre = b.GetInsertBlock();
  auto *bodyBlock = llvm::BasicBlock::Create(ctx, llvm::Twine(name) + ".loop", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, llvm::Twine(name) + ".exit", fn);
  b.CreateBr(bodyBlock);
  b.SetInsertPoint(bodyBlock);
  llvm::PHINode *i = b.CreatePHI(b.getInt64Ty(), 2, name);
  i->addIncoming(b.getInt64(0), pre);
  body(i);
  Value *next = b.CreateNSWAdd(i, b.getInt64(1));
  i->addIncoming(next, b.GetInsertBlock());
  llvm::BranchInst *latch = b.CreateCondBr(b.CreateICmpSLT(next, b.getInt64(uint64_t(n))), bodyBlock, exit);
  std::vector<llvm::Metadata *> hints{nullptr};
  auto hint = [&](const char *key, llvm::Constant *value) {
    llvm::Metadata *kv[] = {llvm::MDString::get(ctx, key), llvm::ConstantAsMetadata::get(value)};
    hints.push_back(llvm::MDNode::get(ctx, kv));
  };
  if (!vectorize) {
    hint("llvm.loop.vectorize.enable", b.getFalse());
  } else if (lanes > 1 && n % lanes == 0 && n / lanes <= kWholeVectors) {
    hint("llvm.loop.vectorize.width", b.getInt32(uint32_t(lanes)));
    hint("llvm.loop.interleave.count", b.getInt32(uint32_t(n / lanes)));
  }
  if (hints.size() > 1) {
    llvm::MDNode *self = llvm::MDNode::getDistinct(ctx, hints);
    self->replaceOperandWith(0, self);
    latch->setMetadata(llvm::LLVMContext::MD_loop, self);
  }
  b.SetInsertPoint(exit);
}

/// One vector of the n vectors `parts` (of L lanes each) interleaved: element l·n + j is lane l
/// of parts[j].
Value *interleaveVectors(llvm::IRBuilderBase &b, std::vector<Value *> parts) {
  const int n = int(parts.size());
  const int L = int(llvm::cast<llvm::FixedVectorType>(parts[0]->getType())->getNumElements());
  // Concatenate, padding to a power of two with undefined lanes, then pick.
  size_t width = 1;
  while (width < parts.size())
    width *= 2;
  parts.resize(width, llvm::PoisonValue::get(parts[0]->getType()));
  for (int len = L; parts.size() > 1; len *= 2) {
    llvm::SmallVector<int, 64> both;
    for (int e = 0; e < 2 * len; ++e)
      both.push_back(e);
    std::vector<Value *> next;
    for (size_t i = 0; i < parts.size(); i += 2)
      next.push_back(b.CreateShuffleVector(parts[i], parts[i + 1], both));
    parts = std::move(next);
  }
  llvm::SmallVector<int, 64> pick;
  for (int l = 0; l < L; ++l)
    for (int j = 0; j < n; ++j)
      pick.push_back(j * L + l);
  return b.CreateShuffleVector(parts[0], pick);
}

} // namespace

void KernelEmitter::emitInlineMatMul(const Node &n) {
  ValueId a = n.operands[0], b = n.operands[1], c = n.result;
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  const std::vector<int64_t> &as = type(a).shape, &bs = type(b).shape;
  size_t r = as.size();
  int64_t aRows = as[r - 2], aCols = as[r - 1], bRows = bs[r - 2], bCols = bs[r - 1];
  int64_t M = ta ? aCols : aRows, K = ta ? aRows : aCols, N = tb ? bRows : bCols;
  int64_t batches = 1;
  for (size_t d = 0; d + 2 < r; ++d)
    batches *= as[d];
  if (M <= 0 || N <= 0 || batches <= 0)
    return;
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  Value *zero = constantOf(d, 0);
  auto mul = [&](Value *x, int64_t k) { return b_.CreateMul(x, c64(k), "", true, true); };
  auto add = [&](Value *x, Value *y) { return b_.CreateAdd(x, y, "", true, true); };
  // acc + x·y as llvm.fmuladd: fused where the target has FMA, and never reassociated with
  // the terms around it (the builder's fast-math flags allow that for fadd), so each sum runs
  // over p in increasing order whatever form computes it.
  auto fma = [&](Value *acc, Value *x, Value *y) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, acc});
  };
  // The vectorized loops below that are short enough are covered whole by vectors of this
  // many lanes, one after the other (see loop()): a loop of two or three vector iterations
  // would have LICM hoist the loads its iterations share, more than the registers hold.
  const int64_t lanes = lanesOf(t);
  // The batches are a loop in the emitted code, not copies of its body.
  loop(b_, batches, "mm.b", false, [&](Value *bi) {
    // op(A)[i][p] and op(B)[p][j] of batch bi as flat indices.
    auto aIndex = [&](Value *i, Value *p) {
      return add(mul(bi, aRows * aCols), ta ? add(mul(p, aCols), i) : add(mul(i, aCols), p));
    };
    auto bIndex = [&](Value *p, Value *j) {
      return add(mul(bi, bRows * bCols), tb ? add(mul(j, bCols), p) : add(mul(p, bCols), j));
    };
    auto cRowOf = [&](Value *i) { return add(mul(bi, M * N), mul(i, N)); };
    const bool powerOfTwo = lanes >= 2 && (lanes & (lanes - 1)) == 0;
    if (K > 0 && N < kRowFormColumns && K * N <= kStraightLineTerms && !ta && powerOfTwo && M % lanes == 0 &&
        K % lanes == 0) {
      // A narrow C with a short sum and A stored untransposed, vectorized across rows (as
      // below) though A's columns are strided: each square of lanes × lanes elements of A is
      // loaded as rows and transposed in registers, and a block's N columns of C are
      // interleaved into its rows for one store. Each sum is a chain of K dependent
      // multiply-adds: a body computes `group` blocks of rows, so that about kNarrowChains
      // chains run side by side.
      auto *vt = llvm::FixedVectorType::get(t, unsigned(lanes));
      const llvm::Align align(t->getPrimitiveSizeInBits() / 8);
      const int64_t blocks = M / lanes;
      int64_t group = std::max<int64_t>(1, std::min(blocks, kNarrowChains / N));
      while (blocks % group)
        --group;
      loop(b_, blocks / group, "mm.ib", false, [&](Value *ib) {
        std::vector<Value *> first;
        std::vector<std::vector<Value *>> acc;
        for (int64_t g = 0; g < group; ++g) {
          first.push_back(mul(add(mul(ib, group), c64(g)), lanes));
          acc.emplace_back(size_t(N), llvm::Constant::getNullValue(vt));
        }
        for (int64_t p0 = 0; p0 < K; p0 += lanes) {
          std::vector<std::vector<Value *>> columns;
          for (int64_t g = 0; g < group; ++g) {
            std::vector<Value *> rows;
            for (int64_t l = 0; l < lanes; ++l) {
              auto *row =
                  b_.CreateAlignedLoad(vt, elementPtr(a, aIndex(add(first[size_t(g)], c64(l)), c64(p0))), align);
              tagAccess(row, a);
              rows.push_back(row);
            }
            transposeSquare(b_, rows);
            columns.push_back(std::move(rows));
          }
          for (int64_t q = 0; q < lanes; ++q)
            for (int64_t j = 0; j < N; ++j) {
              Value *bv = b_.CreateVectorSplat(unsigned(lanes), loadFlat(b, bIndex(c64(p0 + q), c64(j))));
              for (int64_t g = 0; g < group; ++g)
                acc[size_t(g)][size_t(j)] = fma(acc[size_t(g)][size_t(j)], columns[size_t(g)][size_t(q)], bv);
            }
        }
        for (int64_t g = 0; g < group; ++g)
          tagAccess(b_.CreateAlignedStore(interleaveVectors(b_, acc[size_t(g)]),
                                          elementPtr(c, cRowOf(first[size_t(g)])), align),
                    c);
      });
      return;
    }
    if (K > 0 && N < kRowFormColumns && K * N <= kStraightLineTerms) {
      // A narrow C with a short sum: each row's K·N multiply-adds are straight-line code, so
      // the loop over rows is the innermost loop and vectorizes across rows (op(A)'s column
      // and C's row strided or contiguous, B's elements the same in every lane).
      loop(
          b_, M, "mm.i", true,
          [&](Value *i) {
            Value *cRow = cRowOf(i);
            std::vector<Value *> acc(size_t(N), zero);
            for (int64_t p = 0; p < K; ++p) {
              Value *x = loadFlat(a, aIndex(i, c64(p)));
              for (int64_t j = 0; j < N; ++j)
                acc[size_t(j)] = fma(acc[size_t(j)], x, loadFlat(b, bIndex(c64(p), c64(j))));
            }
            for (int64_t j = 0; j < N; ++j)
              storeFlat(c, add(cRow, c64(j)), acc[size_t(j)]);
          },
          lanes);
      return;
    }
    // Rows i0 .. i0+rows-1 of C by `block`, for blocks of `rows` rows and the rest.
    auto inRowBlocks = [&](int64_t rows, const char *name, llvm::function_ref<void(Value *, int64_t)> block) {
      if (M / rows > 0)
        loop(b_, M / rows, name, false, [&](Value *ib) { block(mul(ib, rows), rows); });
      if (M % rows)
        block(c64(M - M % rows), M % rows);
    };
    if (K > 0 && K <= kShortSum && N >= kRowFormColumns && tb) {
      // A wide C with a short sum and B transposed: along the row of C (vectorized), B's K
      // elements of those columns (read at stride K) are loaded once for a block of rows whose
      // K-term sums are straight-line code.
      int64_t rows = std::min(M, std::max<int64_t>(1, kStraightLineTerms / K));
      inRowBlocks(rows, "mm.ib", [&](Value *i0, int64_t count) {
        loop(
            b_, N, "mm.j", true,
            [&](Value *j) {
              std::vector<Value *> bp;
              for (int64_t p = 0; p < K; ++p)
                bp.push_back(loadFlat(b, bIndex(c64(p), j)));
              for (int64_t r = 0; r < count; ++r) {
                Value *i = add(i0, c64(r)), *sum = zero;
                for (int64_t p = 0; p < K; ++p)
                  sum = fma(sum, loadFlat(a, aIndex(i, c64(p))), bp[size_t(p)]);
                storeFlat(c, add(cRowOf(i), j), sum);
              }
            },
            lanes);
      });
      return;
    }
    if (K > 0 && N >= kRowFormColumns && !tb) {
      // C[i][:] = Σ_p op(A)[i][p] · B[p][:], one row of B at a time for a block of rows of C
      // (their sums in registers across the loop over p, each row of B loaded once).
      int64_t rows = std::min(M, std::max<int64_t>(1, kRowBlockElements / N));
      inRowBlocks(rows, "mm.ib", [&](Value *i0, int64_t count) {
        for (int64_t r = 0; r < count; ++r) {
          Value *cRow = cRowOf(add(i0, c64(r)));
          loop(b_, N, "mm.zero", true, [&](Value *j) { storeFlat(c, add(cRow, j), zero); });
        }
        loop(b_, K, "mm.p", false, [&](Value *p) {
          std::vector<Value *> x;
          for (int64_t r = 0; r < count; ++r)
            x.push_back(loadFlat(a, aIndex(add(i0, c64(r)), p)));
          loop(
              b_, N, "mm.j", true,
              [&](Value *j) {
                Value *bv = loadFlat(b, bIndex(p, j));
                for (int64_t r = 0; r < count; ++r) {
                  Value *at = add(cRowOf(add(i0, c64(r))), j);
                  storeFlat(c, at, fma(loadFlat(c, at), x[size_t(r)], bv));
                }
              },
              lanes);
        });
      });
      return;
    }
    loop(b_, M, "mm.i", false, [&](Value *i) {
      Value *cRow = cRowOf(i);
      if (K <= 0) { // an empty sum
        loop(b_, N, "mm.zero", true, [&](Value *j) { storeFlat(c, add(cRow, j), zero); });
        return;
      }
      if (N < kRowFormColumns) {
        // The row's N sums in registers, one multiply-add each per p.
        std::vector<Value *> acc(static_cast<size_t>(N));
        for (Value *&s : acc)
          s = localVar(t, zero);
        loop(b_, K, "mm.p", false, [&](Value *p) {
          Value *x = loadFlat(a, aIndex(i, p));
          for (int64_t j = 0; j < N; ++j) {
            Value *s = acc[size_t(j)];
            b_.CreateStore(fma(b_.CreateLoad(t, s), x, loadFlat(b, bIndex(p, c64(j)))), s);
          }
        });
        for (int64_t j = 0; j < N; ++j)
          storeFlat(c, add(cRow, c64(j)), b_.CreateLoad(t, acc[size_t(j)]));
        return;
      }
      if (K <= kStraightLineTerms / 8) {
        // A short sum: each element's K multiply-adds straight-line, the loop along the row
        // of C vectorized (B's rows read with stride K).
        loop(b_, N, "mm.j", true, [&](Value *j) {
          Value *sum = zero;
          for (int64_t p = 0; p < K; ++p)
            sum = fma(sum, loadFlat(a, aIndex(i, c64(p))), loadFlat(b, bIndex(c64(p), j)));
          storeFlat(c, add(cRow, j), sum);
        });
        return;
      }
      // C[i][j] = Σ_p op(A)[i][p] · B[j][p]: a dot product per element, contiguous in B.
      loop(b_, N, "mm.j", false, [&](Value *j) {
        Value *s = localVar(t, zero);
        loop(b_, K, "mm.p", !ta, [&](Value *p) {
          b_.CreateStore(fma(b_.CreateLoad(t, s), loadFlat(a, aIndex(i, p)), loadFlat(b, bIndex(p, j))), s);
        });
        storeFlat(c, add(cRow, j), b_.CreateLoad(t, s));
      });
    });
  });
}

} // namespace nnc
