//===- Loops.h - Loop, branch and parallel-for helpers shared by the code emitters ----------===//
//
// The control flow every emitter of codegen/ builds: counted loops in the two shapes the code
// uses (LoopNest's loops for kernels, whose outer loops are kept from unrolling, and forStep's
// loops with a step for the GEMM routines; both guarded and tested at the bottom), nested loops over a
// tensor shape or a range of its rows, one-armed branches, the affine index of an element, and
// the runtime's nnc_parallel_for that a split kernel calls. The kernel emitters
// (codegen/KernelEmitter.h) and the GEMM emitter (codegen/Gemm.cpp) both build on these.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <llvm/ADT/STLFunctionalExtras.h>
#include <llvm/ADT/Twine.h>
#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <vector>

namespace nnc {

/// `for (i = begin; i < end; i += step) body(i)`: tested before the first trip and at the
/// bottom; blocks NAME.loop and NAME.exit, induction variable NAME. Leaves the builder after
/// the loop.
void forStep(llvm::IRBuilderBase &b, llvm::Value *begin, llvm::Value *end, int64_t step,
             const llvm::Twine &name, llvm::function_ref<void(llvm::Value *)> body);

/// `if (cond) then()` with blocks `thenName` and `doneName`, leaving the builder after it.
void ifThen(llvm::IRBuilderBase &b, llvm::Value *cond, const llvm::Twine &thenName,
            const llvm::Twine &doneName, llvm::function_ref<void()> then);

/// The fast-math flags of kernel code and the fixed routines: reassociation (so that sums
/// vectorize; each sum's order is then fixed by the code, the same for every run), no signed
/// zeros, contraction, reciprocals, approximate functions. Never nnan or ninf: a max reduction
/// starting at −inf would be poison.
llvm::FastMathFlags kernelFastMathFlags();

/// `if (cond) then() else otherwise()` with blocks then, else and endif, leaving the builder
/// after it.
void ifThenElse(llvm::IRBuilderBase &b, llvm::Value *cond, llvm::function_ref<void()> then,
                llvm::function_ref<void()> otherwise);

/// cond ? yes() : no, as a branch and a phi: yes() may read memory that is valid only when cond
/// holds. Blocks NAME.then and NAME.done.
llvm::Value *ifElse(llvm::IRBuilderBase &b, llvm::Value *cond, llvm::function_ref<llvm::Value *()> yes,
                    llvm::Value *no, const llvm::Twine &name = "ep");

/// offset + Σ idx[d]·strides[d] in i64, skipping zero strides (no wrap: in-bounds indices).
llvm::Value *affineIndex(llvm::IRBuilderBase &b, int64_t offset, const std::vector<int64_t> &strides,
                         const std::vector<llvm::Value *> &idx);

/// `void nnc_parallel_for(i64 n, void (*body)(ptr ctx, i64 i), ptr ctx)`, declared in `module`.
llvm::FunctionCallee parallelForCallee(llvm::Module &module);

/// The loop nests of kernels: `for (i = begin; i < end; ++i)`, emitted rotated (a guard, which is
/// a plain branch for a constant non-empty range, and the test at the bottom), as the model
/// pipeline has no loop-rotate pass. A loop that
/// contains other loops is marked llvm.loop.unroll.disable: with static shapes LLVM would
/// otherwise copy whole inner loop nests for small trip counts (a 16-row batch tripled the
/// code). Innermost loops stay free to be vectorized and unrolled.
class LoopNest {
public:
  explicit LoopNest(llvm::IRBuilderBase &b) : b_(b) {}

  using Body = llvm::function_ref<void(llvm::Value *)>;
  using IndexBody = llvm::function_ref<void(const std::vector<llvm::Value *> &)>;

  /// for (i = begin; i < end; ++i) body(i)
  void forRange(llvm::Value *begin, llvm::Value *end, Body body);
  void forRange(int64_t n, Body body);
  /// Nested loops over `shape`, innermost last; body gets one index per dimension.
  void forShape(const std::vector<int64_t> &shape, IndexBody body);
  /// forShape, with the outermost dimension running over [rowBegin, rowEnd) only.
  void forShapeRows(const std::vector<int64_t> &shape, llvm::Value *rowBegin, llvm::Value *rowEnd,
                    IndexBody body);

private:
  llvm::IRBuilderBase &b_;
  int64_t loops_ = 0; ///< loops emitted so far, to tell outer loops from innermost ones
};

} // namespace nnc
