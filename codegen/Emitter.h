//===- Emitter.h - Graph IR function to one native LLVM function ----------------------------===//
//
// Lowers an IR Function (a train step, an eval or a predict graph) to a single LLVM function
//
//   void NAME(void **buffers, char *arena)
//
// buffers[i] points to the storage of the Function's argument i (inputs, targets and state, in
// argument order), buffers[numArgs + j] to the storage of result j; no two buffers overlap.
// State updates end up in their state argument's buffer (stored there by their kernel, or
// copied at the end of the call). `arena` is scratch of FunctionABI::arenaBytes bytes (64-byte
// aligned) that the caller allocates once: a call allocates nothing and calls nothing of the
// runtime but nnc_parallel_for. Element storage: f32 float, f64 double, i32 int32_t, i1 one
// byte (0 or 1).
//
// Every node becomes a kernel — a loop nest or a GEMM call — except views (broadcast,
// transpose, slice, constant) whose users are all elementwise, which are read in place through
// an affine index map; reshapes, which alias their operand; and what the codegen passes fold
// into other kernels (codegenPasses(): elementwise fusion, shared loop nests, in-place updates,
// GEMM epilogues, the softmax cross-entropy row pass). Intermediates share one arena by
// liveness. docs/CODEGEN.md describes each.
//
// Code generation decides first, then emits: every decision above is a KernelPlan
// (codegen/KernelPlan.h), a plain value computed with no LLVM object, which describeKernels
// prints; KernelEmitter (codegen/KernelEmitter.h) then builds the function from it.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <llvm/Support/Error.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llvm {
class Module;
} // namespace llvm

namespace nnc {

struct KernelPlan; // codegen/KernelPlan.h

/// How a compiled function sees memory; see the file comment.
struct FunctionABI {
  std::string symbol;
  std::vector<TensorType> argTypes;    ///< buffers[i], i < argTypes.size()
  std::vector<TensorType> resultTypes; ///< buffers[argTypes.size() + j]
  int64_t arenaBytes = 0;
  int64_t scratchBytes = 0;      ///< the GEMM packing scratch at the start of the arena
  int64_t intermediateBytes = 0; ///< the sum of all stored intermediates, before reuse
  int64_t kernels = 0;           ///< loop nests (and GEMM calls) emitted
  int64_t fusedOps = 0;          ///< elementwise ops computed inside another op's loop
  bool profiled = false;         ///< calls kProfileMarkSymbol around its kernels (EmitOptions::profile)
};

/// `void nnc_profile_mark(i32 k)`, which profiled code (EmitOptions::profile) calls before its
/// kernel k, with the kernel count before copying its results and state updates, and with -1
/// before it returns; the runtime provides it (runtime/exec/Profile.h).
inline constexpr const char *kProfileMarkSymbol = "nnc_profile_mark";

struct EmitOptions {
  unsigned vectorBits = 512; ///< the host's widest vectors (Jit::vectorBits()), sizes the GEMM
  /// Threads for large matrix products: their rows are split into this many blocks, run by
  /// `void nnc_parallel_for(i64 n, void (*body)(ptr ctx, i64 i), ptr ctx)`, which the code
  /// calls and the runtime provides. 1 = no calls.
  int threads = 1;
  /// Only declare the fixed routines (nnc_sgemm, nnc_im2col_f32, ...: kFixedRoutineNames)
  /// rather than emit them: another module, prebuilt or compiled once, provides them (see
  /// emitFixedRoutines).
  bool externalGemm = false;
  /// Mark the start of every kernel with a call to kProfileMarkSymbol, so that the runtime can
  /// time each kernel (`nnc train --profile`). Off: the code has no such calls.
  bool profile = false;

  // Code generation's own optimizations (see codegenPasses()). Each can be turned off by name
  // with `--disable-pass`, like a graph pass, so that tests and bench/ compare with and without.
  bool fuseElementwise = true; ///< compute single-use elementwise producers in their user's loop
  bool fuseLoops = true;       ///< elementwise kernels over one shape, adjacent, share one loop nest
  bool inPlaceUpdates = true;  ///< a state update is stored straight into its state's buffer
  bool fuseEpilogues = true;   ///< bias, activation and activation derivative in the GEMM's store
  bool fusePoolRelu = true;    ///< maxpool(relu(a)) as relu(maxpool(a)) in the pooling kernels (and its gradient)
  bool fuseRows = true;        ///< softmax cross-entropy, softmax and its gradient in one row pass
  bool parallelLoops = true;   ///< large elementwise kernels split their rows over threads
  bool inlineProducts = true;  ///< matrix products that fit in L1 are loops in the step, not GEMM calls
  bool outlineKernels = true;  ///< convolution, pooling and batch-norm kernels are functions of their own
};

/// One of code generation's optimizations: its name for --disable-pass and --passes=list.
struct CodegenPass {
  const char *name;
  const char *description;
  bool EmitOptions::*enabled;
};
/// Every codegen optimization, in the order they apply.
std::span<const CodegenPass> codegenPasses();
/// The codegen optimization with this name, or nullptr.
const CodegenPass *findCodegenPass(std::string_view name);
/// Turns off the codegen optimizations named in `names` (other names are ignored).
void disableCodegenPasses(EmitOptions &options, const std::vector<std::string> &names);

/// The kernels `fn` compiles to, one line each, with the ops fused into them written as
/// expressions and each kernel's arena offset (`nnc --emit=opt`): the kernel plan
/// (codegen/KernelPlan.h) as text, computed without building any LLVM.
std::string describeKernels(const Function &fn, const EmitOptions &options = {});

/// The fixed routines that functions emitted with externalGemm call, by the names they call:
/// the GEMM routines (codegen/Gemm.h), the convolution's (codegen/ConvRoutines.h) and batch
/// normalization's (codegen/BatchNormRoutines.h). They do not change from model to model.
inline constexpr const char *kFixedRoutineNames[] = {
    "nnc_sgemm",         "nnc_dgemm",         "nnc_sgemm_epilogue", "nnc_sgemm_narrow",  "nnc_im2col_f32",
    "nnc_im2col_f64",    "nnc_col2im_f32",    "nnc_col2im_f64",     "nnc_conv_dots_f32", "nnc_conv_dots_f64",
    "nnc_bn_moments_f32", "nnc_bn_moments_f64", "nnc_bn_norm_f32",   "nnc_bn_norm_f64",   "nnc_bn_sums_f32",
    "nnc_bn_sums_f64"};

/// Emits into `module` the fixed routines that functions emitted with externalGemm call, with
/// `vectorBits`-bit vectors (which also size the GEMM's blocking). Each is named `prefix` followed by its name without the "nnc_"
/// of kFixedRoutineNames: the default keeps the names; the prebuilt routines of each CPU feature
/// level carry the prefix "nnc_<level>_" (codegen/GemmLevels.h).
void emitFixedRoutines(llvm::Module &module, unsigned vectorBits, const std::string &prefix = "nnc_");

/// The external function parallel code calls (see EmitOptions::threads).
inline constexpr const char *kParallelForSymbol = "nnc_parallel_for";

/// Emits `fn` into `module` as function `symbol` (adding the GEMM routines it needs once per
/// module). Fails only for an op the emitter cannot lower, which the op-table test rules out.
/// With `planOut`, the kernel plan it emitted from is moved there.
llvm::Expected<FunctionABI> emitFunction(const Function &fn, const std::string &symbol,
                                         llvm::Module &module, const EmitOptions &options = {},
                                         KernelPlan *planOut = nullptr);

/// The bytes one element of `dtype` occupies in a buffer.
int64_t storageBytes(DType dtype);

/// True when code generation can lower `op`: an elementwise op has a row in the scalar
/// lowering table (codegen/ScalarOps.h), any other op a kernel kind (kernelKindOf in
/// codegen/KernelPlan.h) or, for a reshape, an alias. The op-table test walks this.
bool hasLowering(OpKind op);

} // namespace nnc
