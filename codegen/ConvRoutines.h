//===- ConvRoutines.h - The convolution's data movement as routines of run-time shape ------===//
//
// A convolution kernel (codegen/EmitConv.cpp) is a loop over images of GEMM calls around three
// pieces of data movement: im2col, col2im and, for a small C·KH·KW, the weight gradient's dot
// products. Like the GEMM, they do not depend on the model but on a shape, so each is one
// routine that reads the convolution's geometry at run time, compiled with the GEMM routines
// (prebuilt when nnc is built, codegen/GemmLevels.h; else once per JIT) rather than emitted
// again for every convolution of every model:
//
//   void nnc_im2col_T(const i64 *geometry, const T *x, T *col)
//       col [C·KH·KW × OH·OW] = im2col(x [C × H × W]), zero where a window reads padding
//   void nnc_col2im_T(const i64 *geometry, const T *col, T *dx, const T *bias, const T *aux, i32 kind,
//                     i32 *masks)
//       dx [C × H × W] = col2im(col): each element the sum of the col elements read from it;
//       with stride 1 along x each vector of dx is gathered in registers, and `kind`
//       (codegen/Gemm.h GemmEpilogueKind, 0 for none) is applied as it is stored: the row bias
//       is bias[c], the column bias bias[y·W + x], aux has dx's shape. Other strides add
//       element by element into a zeroed dx and take kind 0. `masks` is scratch of
//       col2imMaskBytes(geometry) bytes (the gather's lane masks, computed once per call).
//   void nnc_conv_dots_T(const i64 *geometry, const T *dy, const T *col, T *target, i32 first)
//       target [O × C·KH·KW] = (first ? 0 : target) + dy [O × OH·OW] · colᵀ, as dot products
//       along OH·OW in blocks of 2 rows of dy by 4 rows of col
//
// T is f32 or f64. `geometry` is kConvGeometryWords i64 in the order of ConvWord; the kernel
// passes a constant of its module.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace llvm {
class Function;
class FunctionType;
class LLVMContext;
class Module;
} // namespace llvm

namespace nnc {

struct ConvGeometry;

/// The words of a routine's geometry argument, in order.
enum ConvWord { kConvC, kConvH, kConvW, kConvKH, kConvKW, kConvOH, kConvOW, kConvStrideH, kConvStrideW,
                kConvPadH, kConvPadW, kConvO, kConvGeometryWords };

/// The bytes of nnc_col2im_T's `masks` scratch for `g`: a vector of i32 lanes per kx and per
/// vector of a row of dx, for vectors of up to 16 lanes.
int64_t col2imMaskBytes(const ConvGeometry &g);

/// `g` as the geometry argument of the routines.
std::array<int64_t, kConvGeometryWords> convGeometryWords(const ConvGeometry &g);

enum class ConvRoutine { Im2col, Col2im, Dots };

/// The routine's name as model code calls it: nnc_im2col_f32, nnc_col2im_f64, ...
std::string convRoutineName(ConvRoutine routine, bool f64);

/// The routine's signature (above).
llvm::FunctionType *convRoutineType(llvm::LLVMContext &context, ConvRoutine routine);

/// Emits the routine into `module` as `prefix` + its name without "nnc_", its vectors
/// `vectorBits` wide, and returns it.
llvm::Function *emitConvRoutine(llvm::Module &module, ConvRoutine routine, bool f64, unsigned vectorBits,
                                const std::string &prefix = "nnc_");

} // namespace nnc
