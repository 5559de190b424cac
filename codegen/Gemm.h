//===- Gemm.h - Emitter for packed, register-tiled GEMM routines ----------------------------===//
//
// Adds to an LLVM module a matrix-multiply routine in the GotoBLAS/BLIS style: panels of B
// and blocks of A are packed into caller-provided scratch, and a microkernel keeps an MR×NR
// tile of C in vector registers (6×64 floats in 24 zmm registers with AVX-512) while it
// streams the packed panels with broadcasts and fused multiply-adds. An optional epilogue
// rewrites each finished vector of C before it is stored (bias, activation).
//
// The emitted routine (element type T = float for nnc_sgemm, double for nnc_dgemm):
//
//   void name(i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B, i64 ldb,
//             T* C, i64 ldc, i32 flags, T* scratch, <GemmSpec::extraParams>...
//             [, const T* bias, const T* aux, i32 kind  with GemmSpec::activationEpilogue])
//
// computes C = op(A)·op(B), or C += op(A)·op(B) with GemmAccumulate, where op(A) is M×K and
// op(B) is K×N, all row-major: op(A)[i][p] = A[i·lda + p], or A[p·lda + i] with
// GemmTransposeA; op(B)[p][j] = B[p·ldb + j], or B[j·ldb + p] with GemmTransposeB. M, N ≤ 0
// do nothing; K ≤ 0 gives C = 0 (or leaves C) and still runs the epilogue.
//
// Scratch: the train step allocates nothing, so the caller passes `scratch`, at least
// gemmScratchElements(spec, M, N, K) elements of T (64-byte alignment recommended; any
// element alignment works). It is bounded by gemmScratchElements(spec, MC, NC, KC) whatever
// the shape, so one buffer from the memory plan serves every call. Calls on different
// threads need different scratch.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/STLFunctionalExtras.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>
#include <string>

namespace llvm {
class Function;
class Module;
} // namespace llvm

namespace nnc {

/// Bits of the routine's `flags` argument.
enum GemmFlags : int32_t {
  GemmTransposeA = 1, ///< op(A) = Aᵀ: A is stored K×M
  GemmTransposeB = 2, ///< op(B) = Bᵀ: B is stored N×K
  GemmAccumulate = 4, ///< C += op(A)·op(B) instead of C = op(A)·op(B)
};

/// The last argument of a routine emitted with GemmSpec::activationEpilogue: what happens to
/// each finished tile of C, in this order, each step optional. The routine's extra arguments
/// are (const T *bias, const T *aux, i32 kind); aux has C's shape and leading dimension ldc.
enum GemmEpilogueKind : int32_t {
  GemmEpilogueBias = 1,             ///< C[r][c] += bias[c]   (a dense layer's bias, per column)
  GemmEpilogueRowBias = 2,          ///< C[r][c] += bias[r]   (a convolution's, per output channel)
  GemmEpilogueRelu = 1 << 4,        ///< then C = max(C, 0)
  GemmEpilogueSigmoid = 2 << 4,     ///< then C = 1 / (1 + e^-C)
  GemmEpilogueTanh = 3 << 4,        ///< then C = tanh C
  GemmEpilogueReluGrad = 1 << 8,    ///< then C *= [aux > 0]       (ReLU's derivative at its output)
  GemmEpilogueSigmoidGrad = 2 << 8, ///< then C *= aux·(1 − aux)   (sigmoid's, at its output)
  GemmEpilogueTanhGrad = 3 << 8,    ///< then C *= 1 − aux²        (tanh's, at its output)
};

/// The activation of an epilogue kind's field (kind >> 4 & 15: 1 relu, 2 sigmoid, 3 tanh) on
/// the vector x, or x for 0. Shared by the GEMM's tile epilogue and col2im's (EmitConv.cpp).
llvm::Value *emitEpilogueActivation(llvm::IRBuilderBase &b, int32_t activation, llvm::Value *x);
/// x times the derivative of an epilogue kind's field (kind >> 8 & 15, as above) at the
/// activation's output y, or x for 0.
llvm::Value *emitEpilogueDerivative(llvm::IRBuilderBase &b, int32_t derivative, llvm::Value *x, llvm::Value *y);

/// GemmEpilogueKind `kind`, an i32 known only at run time, on the vector x: each step is a
/// branch on its field, in the kind's order. `rowBias` is the row's bias already splat (read
/// only where the kind has GemmEpilogueRowBias); `columnBias` and `aux` load the column bias
/// and the activation's output for x's lanes, and run only where the kind needs them. The
/// GEMM's tile epilogue and col2im's (codegen/ConvRoutines.cpp) use it.
llvm::Value *emitRuntimeEpilogue(llvm::IRBuilderBase &b, llvm::Value *kind, llvm::Value *x, llvm::Value *rowBias,
                                 llvm::function_ref<llvm::Value *()> columnBias,
                                 llvm::function_ref<llvm::Value *()> aux);

/// Transposes in registers the square whose rows are `rows` (n vectors of n lanes, n a power
/// of two): log₂ n rounds of shuffles, each exchanging one bit of the row and the column
/// index. Used by the GEMM's packing of a transposed B and by inline products (EmitSmallMatMul).
void transposeSquare(llvm::IRBuilderBase &b, llvm::MutableArrayRef<llvm::Value *> rows);

/// What an epilogue sees: one vector of a finished C tile, before it is stored.
struct GemmEpilogueArgs {
  llvm::IRBuilderBase &builder;
  llvm::Value *acc;      ///< <lanes x T>: op(A)·op(B) (+ old C with GemmAccumulate)
  llvm::Value *row;      ///< i64: the row of C these lanes belong to
  llvm::Value *col;      ///< i64: the column of C of lane 0
  llvm::Value *laneMask; ///< <lanes x i1>: lanes inside C (masked loads through it are safe)
  llvm::ArrayRef<llvm::Value *> extraArgs; ///< the routine's GemmSpec::extraParams, in order
};

/// Returns the value to store instead of `acc`. Called while the microkernel is emitted, once
/// per vector of the tile; it runs only after the last K block, so exactly once per element.
using GemmEpilogue = std::function<llvm::Value *(const GemmEpilogueArgs &)>;

/// The shape of one emitted GEMM routine.
struct GemmSpec {
  std::string name = "nnc_sgemm";
  bool f64 = false;        ///< element type double instead of float
  unsigned lanes = 16;     ///< vector lanes (16 floats for AVX-512, 8 for AVX2; half for f64)
  unsigned mr = 6;         ///< microkernel rows: broadcasts of A per k step
  unsigned nrVectors = 4;  ///< microkernel columns in vectors: NR = nrVectors·lanes
  int64_t kc = 384;        ///< K block: a packed B micro-panel is KC×NR
  int64_t mc = 144;        ///< M block (a multiple of mr): a packed A block is MC×KC
  int64_t nc = 4096;       ///< N block (a multiple of NR): a packed B panel is KC×NC
  /// Extra parameters appended after `scratch` and handed to the epilogue (e.g. a bias).
  llvm::SmallVector<llvm::Type *, 2> extraParams;
  GemmEpilogue epilogue;   ///< empty: store op(A)·op(B) (+ C) unchanged
  /// Appends the parameters (bias, aux, kind) of GemmEpilogueKind: once a tile of C is finished
  /// (after the last K block) it is rewritten in place while it is still in L1, by a loop
  /// over its rows that the kind selects at run time. kind = 0 leaves C as computed.
  bool activationEpilogue = false;
  /// Read op(A) where it lies instead of packing it: the microkernel broadcasts each element
  /// straight from A (clamping rows beyond M to the last row, whose results it does not
  /// store). Pays when op(B) is one micro-panel (N ≤ NR), where a packed A element would be
  /// used only once; nnc_sgemm_narrow does this.
  bool directA = false;

  unsigned nr() const { return nrVectors * lanes; }

  /// nnc_sgemm (or nnc_dgemm with f64) blocked for a host whose widest vectors have
  /// `vectorBits` bits (Jit::vectorBits()): 6×64 floats with AVX-512 (24 of its 32 registers),
  /// 6×16 with AVX2 and 6×8 with SSE (12 of their 16).
  static GemmSpec forHost(unsigned vectorBits, bool f64 = false);
  /// nnc_sgemm_epilogue: forHost's blocking with the activationEpilogue parameters.
  static GemmSpec withActivationEpilogue(unsigned vectorBits);
  /// nnc_sgemm_narrow: for N ≤ one vector (a classifier's logits): a 12×lanes microkernel, so
  /// no accumulator is spent on columns that do not exist; with the activationEpilogue
  /// parameters (kind 0 for a plain product).
  static GemmSpec narrow(unsigned vectorBits);
};

/// Elements of T the routine needs in `scratch` for this shape:
/// ⌈min(M,MC)/MR⌉·MR·min(K,KC) rounded up to 16, plus min(K,KC)·⌈min(N,NC)/NR⌉·NR.
int64_t gemmScratchElements(const GemmSpec &spec, int64_t M, int64_t N, int64_t K);

/// Emits the routine described by `spec` (and its internal pack and microkernel functions)
/// into `module` and returns it. Algorithm of the emitted code:
///  1. For each column panel jc of NC columns of C:
///  2.   For each K block pc of KC (at least one, so K = 0 still writes C):
///  3.     Pack op(B)[pc.., jc..] into micro-panels of NR columns, each KC×NR row-major,
///         zero-filled beyond N (vector copies, or a transposing scalar copy for Bᵀ).
///  4.     For each row block ic of MC rows: pack op(A)[ic.., pc..] into micro-panels of MR
///         rows, each KC×MR (element [p][i]), zero-filled beyond M (not with directA: the
///         microkernel then reads op(A) from A itself).
///  5.       For each micro-panel jr of B, for each micro-panel ir of A: the microkernel.
///  6. Microkernel: prefetch the C tile; MR×nrVectors vector accumulators start at zero; per k step, load
///     nrVectors vectors of B, broadcast MR elements of A, and fuse MR·nrVectors
///     multiply-adds.
///  7. Store: plain for a tile of all NR columns, lanes beyond N masked off in the last
///     tile of a row of tiles, rows beyond M skipped; old C is added for later
///     K blocks and with GemmAccumulate; after the last K block the epilogue runs.
llvm::Function *emitGemm(llvm::Module &module, const GemmSpec &spec);

} // namespace nnc
