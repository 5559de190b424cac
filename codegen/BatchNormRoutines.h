//===- BatchNormRoutines.h - Batch normalization's per-channel passes as fixed routines -----===//
//
// Over a convolution's output x [N, C, L] (L = the spatial size, more than 1) batch
// normalization's kernels (codegen/EmitBatchNorm.cpp) work channel by channel, each channel N
// runs of L contiguous elements. Like the GEMM and the convolution's routines they depend on
// the shape only, so each pass is one routine of run-time shape, compiled with them (prebuilt
// per CPU level, codegen/GemmLevels.h), for the channels [cBegin, cEnd) of one thread's block:
//
//   void nnc_bn_moments_T(i64 N, i64 C, i64 L, i64 cBegin, i64 cEnd, const T *x, T *moments)
//       moments [2, C]: the mean, then the mean of the squared deviations from it
//   void nnc_bn_norm_T(i64 N, i64 C, i64 L, i64 cBegin, i64 cEnd, const T *x, const T *moments,
//                      const T *gamma, const T *beta, double eps, T *y)
//       y = (x − mean) · gamma / sqrt(var + eps) + beta
//   void nnc_bn_sums_T(i64 N, i64 C, i64 L, i64 cBegin, i64 cEnd, const T *dy, const T *x,
//                      const T *moments, T *sums)
//       sums [2, C]: Σ dy and Σ dy · (x − mean)
//
// Each sum runs over the images in order and along each run as the loop vectorizer lays it
// out, the same for any thread count. T is f32 or f64.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <string>

namespace llvm {
class Function;
class FunctionType;
class LLVMContext;
class Module;
} // namespace llvm

namespace nnc {

enum class BatchNormRoutine { Moments, Norm, Sums };

/// The routine's name as model code calls it: nnc_bn_moments_f32, ...
std::string batchNormRoutineName(BatchNormRoutine routine, bool f64);

/// The routine's signature (above).
llvm::FunctionType *batchNormRoutineType(llvm::LLVMContext &context, BatchNormRoutine routine);

/// Emits the routine into `module` as `prefix` + its name without "nnc_" and returns it.
llvm::Function *emitBatchNormRoutine(llvm::Module &module, BatchNormRoutine routine, bool f64,
                                     const std::string &prefix = "nnc_");

} // namespace nnc
