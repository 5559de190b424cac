//===- KernelPlan.h - What a function compiles to, decided before any LLVM exists -----------===//
//
// planKernels turns an IR Function into a KernelPlan: every decision code generation makes,
// as a plain value that holds no LLVM object. Which views are read in place through an access
// map, which elementwise ops are computed inside their user's loop, which matrix products a
// GEMM epilogue finishes, which softmax the softmax cross-entropy row pass stores, which
// kernels share a loop nest, which state updates are stored in place, where every stored value
// lives in the arena, the alias classes of the scoped-noalias metadata, and the list of
// kernels in the order they run. describeKernels (`nnc --emit=opt`) prints the plan; the
// kernel emitters (codegen/KernelEmitter.h) build LLVM from it, reading its decisions.
//
// The planning is split by concern: codegen/PlanFusion.cpp (views, elementwise fusion, GEMM
// epilogues, row fusion), codegen/PlanMemory.cpp (loop groups, in-place updates, the arena and
// alias classes), codegen/KernelPlan.cpp (the driver, the kernel list and its listing).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Emitter.h"
#include "ir/Graph.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// How a kernel reads a value: element at index i (one entry per dimension of the value) is
/// base[offset + Σ i[d]·strides[d]], or the constant when `isConstant`.
struct Access {
  ValueId base;
  int64_t offset = 0;
  std::vector<int64_t> strides;
  bool isConstant = false;
  double constant = 0;
};

/// An elementwise kernel computed by a GEMM's epilogue: C = op(A)·op(B), then GemmEpilogueKind
/// `kind` with the bias vector and the aux tensor.
struct Epilogue {
  ValueId matmul;
  int32_t kind = 0;
  ValueId bias, aux; ///< storage (invalid when unused)
  int64_t biasOffset = 0;
};

/// A ReLU moved across max pooling (fuse-pool-relu). Max pooling commutes with a monotone
/// activation, maxpool(relu(a)) = relu(maxpool(a)), so for c = relu(a) read only by p =
/// maxpool2d(c) and, in a train step, by g = maxpool2d_grad(c, dp) whose only user is the
/// derivative product d = g · [c > 0]: the pooling kernel reads a and applies the ReLU to each
/// window's maximum (a quarter of the elements for 2×2 windows), and the gradient's kernel
/// computes d itself as maxpool2d_grad(a, dp) with dp routed only where the window's maximum
/// is positive. c and g are never stored, and the derivative's elementwise kernel disappears.
struct PoolRelu {
  ValueId pool; ///< the maxpool2d (for p) or maxpool2d_grad (for d) node the kernel computes
  ValueId pre;  ///< a, read instead of relu(a)
};

/// softmax_cross_entropy(z, y) computed together with softmax(z) in one pass over each row of
/// z: the kernel also stores `partner`, which is either softmax(z) itself or its only consumer
/// `scale · (softmax(z) − one_hot(y))` (the loss's gradient), then with softmax fused away.
struct RowFusion {
  ValueId partner;
  bool gradient = false;
  double scale = 1;
};

/// How a matrix product is split over threads, in one of two ways.
///  - A grid of `rowBlocks` × `colBlocks` blocks of C, `rows` rows (a multiple of the
///    microkernel's MR) by `cols` columns (a multiple of its NR; the last row and column blocks
///    may be smaller). Block b is row block b / colBlocks, column block b % colBlocks. Every
///    element of C is computed the same way whatever the grid, so results do not depend on it.
///  - Over K (`kBlocks` > 1, for C too small to cut into tiles for every thread): block b sums
///    the `depth` terms from b·depth (the last block fewer) into a partial C of its own (block
///    0 into C itself); the calling thread then adds the partials to C in block order and
///    applies any epilogue. The sum's association depends on kBlocks, which depends on the
///    thread count: results are bitwise the same for a given thread count, and within
///    rounding of one another across thread counts.
/// Each block has `scratchBytes` of its own: its packing scratch, then (K split) its partial C
/// at partialOffset.
struct MatMulSplit {
  int64_t M = 0, N = 0, K = 0, blocks = 1, rows = 0, cols = 0, rowBlocks = 1, colBlocks = 1, scratchBytes = 0;
  int64_t kBlocks = 1, depth = 0, partialOffset = 0;
};

/// How the independent rows of a loop kernel (elementwise, convolution, pooling) are split over
/// threads: with `parallel`, `blocks` tasks of `chunk` rows each (the last may be shorter) out of
/// `rows`, run by nnc_parallel_for; otherwise all rows on the calling thread.
struct RowSplit {
  int64_t rows = 1, chunk = 1, blocks = 1;
  bool parallel = false;
};

/// The geometry of conv2d or one of its adjoints, whatever its role: input x [N, C, H, W],
/// weight w [O, C, KH, KW], output y [N, O, OH, OW], stride and (symmetric) padding per axis.
struct ConvGeometry {
  int64_t N = 0, C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, OH = 0, OW = 0;
  int64_t strideH = 1, strideW = 1, padH = 0, padW = 0;
  int64_t ckk() const { return C * KH * KW; } ///< rows of the im2col matrix
  int64_t ohw() const { return OH * OW; }     ///< its columns
  /// A 1×1 kernel with stride 1 and no padding: the convolution is a plain product on x.
  bool pointwise() const { return KH == 1 && KW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0; }
  /// col2im gathers each vector of a row of dx in registers (codegen/EmitConv.cpp), which
  /// needs stride 1 along x; it then also applies an epilogue (the derivative of the layer
  /// before) as it stores dx. Other strides scatter element by element.
  bool col2imGathers() const { return strideW == 1 && !pointwise(); }
  /// The input gradient is itself a convolution when the stride is 1 and the padding at most
  /// the kernel size − 1: dx = w̃ ∗ dy, w̃ the kernel flipped with O and C swapped (transposed()).
  /// It is computed so only where col2im(wᵀ · dy) would do more work: wᵀ·dy has C·KH·KW ×
  /// OH·OW × O multiply-adds against the convolution's C × H·W × O·KH·KW, so col2im wins
  /// wherever the output is no larger than the input ("same" and "valid" padding), and the
  /// convolution where padding beyond (K − 1)/2 makes the output larger. Measured on LeNet's and
  /// the small VGG's layers, col2im's gather costs less than the convolution's im2col of dy.
  bool gradInputAsConv() const {
    if (strideH != 1 || strideW != 1 || padH >= KH || padW >= KW || pointwise())
      return false;
    return ohw() > H * W;
  }
  /// The geometry of that convolution: input dy [O, OH, OW], output dx [C, H, W], padding
  /// kernel size − 1 − padding.
  ConvGeometry transposed() const {
    ConvGeometry t = *this;
    t.C = O, t.O = C, t.H = OH, t.W = OW, t.OH = H, t.OW = W, t.padH = KH - 1 - padH, t.padW = KW - 1 - padW;
    return t;
  }
};

/// The scratch of one thread's block of a convolution kernel (codegen/EmitConv.cpp), at
/// arena + block · blockBytes(): the GEMM packing scratch, the im2col matrix col [CKK × OH·OW]
/// (none for a pointwise convolution), and for a weight gradient split over threads the
/// block's partial sum of dw [O × CKK]; for an input gradient computed as a convolution
/// (ConvGeometry::gradInputAsConv) col is the im2col of dy and the block also holds the flipped
/// kernel w̃ [C × O·KH·KW].
struct ConvScratch {
  int64_t gemmBytes = 0, colBytes = 0, partialBytes = 0, flippedBytes = 0, maskBytes = 0;
  int64_t blockBytes() const { return gemmBytes + colBytes + partialBytes + flippedBytes + maskBytes; }
  /// Where col2im's lane masks start (codegen/ConvRoutines.h), from the block's start.
  int64_t maskOffset() const { return gemmBytes + colBytes + partialBytes + flippedBytes; }
  /// Where a block's partial weight-gradient sum starts, from the block's start.
  int64_t partialOffset() const { return gemmBytes + colBytes; }
};

/// Which emitter builds a kernel (codegen/KernelEmitter.h lists the file of each).
enum class KernelKind {
  Elementwise,             ///< a loop nest (or loop group) over the result shape
  MatMul,                  ///< GEMM calls
  MatMulEpilogue,          ///< GEMM calls whose epilogue computes an elementwise kernel
  SoftmaxCrossEntropyRows, ///< the loss and softmax (or its gradient) in one pass per row
  Reduce,                  ///< reduce_sum, reduce_mean, reduce_max
  Normalize,               ///< softmax, log_softmax, logsumexp
  LabeledRows,             ///< softmax_cross_entropy, multiclass_hinge
  Conv,                    ///< conv2d and its adjoints
  Pool,                    ///< max and average pooling and their adjoints
  BatchNorm,               ///< batch_moments, batch_norm, batch_norm_sums: per-channel passes
  OneHot,
  Gather,
  ScatterAdd,
  Random,
  Iota,
  Pad,
  Concat,
  StoredView, ///< a view that must be stored: a copy through its access map
};

/// The emitter of a non-elementwise op, or nullopt when no emitter lowers it. Reshape is
/// lowered without a kernel (it aliases its operand), so it has none either.
std::optional<KernelKind> kernelKindOf(OpKind op);

/// One kernel: a loop nest or GEMM calls, storing the results of `nodes`.
struct Kernel {
  KernelKind kind = KernelKind::Elementwise;
  /// Indices into Function::nodes(): the node whose value the kernel stores, or every member
  /// of a loop group in order. An epilogue kernel lists the elementwise node it computes.
  std::vector<size_t> nodes;
  MatMulSplit split; ///< MatMul and MatMulEpilogue: the thread split
  RowSplit rows;     ///< Elementwise, Conv, Pool and BatchNorm: the thread split of the rows
  bool narrow = false; ///< MatMul and MatMulEpilogue: nnc_sgemm_narrow (N ≤ one vector)
  bool inlined = false; ///< MatMul: plain loops in the step (isInlineMatMul), no GEMM call
};

/// Every code generation decision for one Function; see the file comment. Vectors named "per
/// value" are indexed by ValueId::index, "per node" by the index into Function::nodes().
struct KernelPlan {
  // --- values ------------------------------------------------------------------------------
  std::vector<std::vector<ValueId>> users; ///< per value: the nodes that read it
  std::vector<int64_t> nodeIndex;          ///< per value: its node's index, -1 for arguments
  std::vector<bool> pinned;                ///< per value: a result or an update value
  std::vector<bool> isVirtual;             ///< per value: a view read through an Access map
  std::vector<bool> fused;                 ///< per value: computed inside another kernel
  std::vector<bool> partner;               ///< per value: stored by a RowFusion kernel
  /// per value: the byte offset at which it aliases its operand's storage, or -1. A reshape
  /// always aliases (offset 0); so does a stored slice whose elements are contiguous in its
  /// operand (rows of a batch_moments or batch_norm_sums result), unless it is a result or an
  /// update value. An alias has no kernel and no block of its own.
  std::vector<int64_t> aliasOffset;
  std::vector<int64_t> inPlace; ///< per value: the state (ValueId index) whose buffer holds it, or -1
  std::vector<size_t> groupEnd; ///< per node: the last node of its loop group (itself if alone)
  std::map<uint32_t, Epilogue> epilogues;  ///< by the elementwise kernel's ValueId index
  std::map<uint32_t, RowFusion> rowFusions; ///< by the softmax_cross_entropy's ValueId index
  /// by the ValueId index of the value the kernel stores: p = maxpool2d(relu(a)), or the
  /// derivative product d = maxpool2d_grad(relu(a), dp) · [relu(a) > 0]
  std::map<uint32_t, PoolRelu> poolRelus;

  // --- memory ------------------------------------------------------------------------------
  /// The GEMM packing scratch at the start of the arena (every thread's block together), or
  /// the larger scratch of a convolution (ConvScratch, every block together).
  int64_t scratchBytes = 0;
  /// per value: byte offset of a stored node's block from the end of the scratch (-1: none).
  std::vector<int64_t> offset;
  int64_t intermediateArenaBytes = 0; ///< the arena after the scratch, blocks reused by liveness
  int64_t intermediateBytes = 0;      ///< the sum of all stored intermediates, before reuse
  std::vector<int> aliasClass; ///< per value: storage that may overlap shares a class (-1: none)
  int resultClass0 = 0;        ///< the alias class of result buffer 0 (then 1, 2, ...)
  int aliasClasses = 0;        ///< classes in all, the results' included

  // --- kernels -----------------------------------------------------------------------------
  std::vector<Kernel> kernels; ///< in the order they run
  bool needsF32Gemm = false, needsF64Gemm = false;

  /// True when `n` gets storage of its own computed by a kernel (not a view read in place, a
  /// fused producer or an alias).
  bool isKernel(const Node &n) const {
    return !isVirtual[n.result.index] && !fused[n.result.index] && aliasOffset[n.result.index] < 0;
  }
  /// True when `v` aliases its operand's storage (aliasOffset).
  bool isAlias(ValueId v) const { return aliasOffset[v.index] >= 0; }
  /// Bytes of the whole arena (scratch, then the intermediates), a multiple of 64.
  int64_t arenaBytes() const { return scratchBytes + (intermediateArenaBytes + 63) / 64 * 64; }
  /// Elementwise ops computed inside another op's kernel.
  int64_t fusedOps() const;
};

/// The plan of `fn`: every decision of code generation under `options`. Every op of `fn` is
/// expected to have a lowering (hasLowering); emitFunction checks that first.
KernelPlan planKernels(const Function &fn, const EmitOptions &options);

/// How the kernels read `v`: through the access map of a view read in place, else its storage
/// in row-major order.
Access accessOf(const Function &fn, const KernelPlan &plan, ValueId v);
/// The access map of the view node `node`, in terms of its operand's access.
Access viewAccess(const Function &fn, const KernelPlan &plan, const Node &node);

/// Row-major strides of `shape`.
std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape);

// The planning steps, in the order planKernels runs them (PlanFusion.cpp, PlanMemory.cpp).
void planViewsAndFusion(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planPoolRelus(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planEpilogues(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planRowFusion(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planLoopGroups(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planInPlace(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planGemmScratch(const Function &fn, const EmitOptions &options, KernelPlan &plan);
void planArena(const Function &fn, KernelPlan &plan);
void planAliasClasses(const Function &fn, KernelPlan &plan);

/// The thread split of the matrix product `n` (GEMM blocking for options.vectorBits): the grid
/// of at most options.threads blocks whose slowest block is estimated fastest, counting each
/// block's multiply-adds, the packing it repeats (a row block packs all of its B panel, a
/// column block all of its A rows) and the cost of entering the thread pool, or a split over K,
/// which also counts adding the partial sums; one block when no split pays.
MatMulSplit planMatMulSplit(const Function &fn, const Node &n, const EmitOptions &options);
/// The thread split of the rows of loop kernel `k` (Elementwise, Conv or Pool; one block for
/// other kinds): split when the kernel is large enough to pay for the tasks (elementwise 2^15
/// elements, pooling 2^16 window terms, convolution 2^18 multiply-adds), `parallel-loops` is
/// on and there are threads.
RowSplit planRowSplit(const Function &fn, const Kernel &k, const EmitOptions &options);
/// The geometry of the convolution node `n` (Conv2D, Conv2DGradInput or Conv2DGradWeight).
ConvGeometry convGeometry(const Function &fn, const Node &n);
/// The per-block scratch of convolution kernel `n` under the thread split `split`.
ConvScratch planConvScratch(const Function &fn, const Node &n, const RowSplit &split, const EmitOptions &options);
/// True when `n` (a matrix product) is f32 with at most one vector of columns and takes the
/// narrow routine.
bool isNarrowMatMul(const Function &fn, const Node &n, const EmitOptions &options);

/// True when matrix product `n` is computed by plain loops in the step (EmitOptions::
/// inlineProducts): its operands and result together fit in L1 (at most kInlineProductBytes)
/// and it has at most kInlineProductWork multiply-adds, so packing, the call of a GEMM
/// routine and its blocking would cost more than the arithmetic. Such a product gets no GEMM
/// epilogue (its elementwise user is a loop of its own) and no thread split.
bool isInlineMatMul(const Function &fn, const Node &n, const EmitOptions &options);
inline constexpr int64_t kInlineProductBytes = 16 * 1024;
inline constexpr int64_t kInlineProductWork = 16 * 1024;

/// The values with storage that `v` is read from: itself, or through views, fused producers
/// and reshape aliases the values they read.
void collectStorage(const Function &fn, const KernelPlan &plan, ValueId v, std::vector<ValueId> &out);
/// The values with storage that the kernel of `n` reads.
std::vector<ValueId> storageReadBy(const Function &fn, const KernelPlan &plan, const Node &n);

/// The `--emit=opt` listing of `plan`: one line per kernel with the ops fused into it written
/// as expressions and its arena offset.
std::string describePlan(const Function &fn, const KernelPlan &plan);
/// describePlan's lines of each kernel, by kernel index (`  k3   %9 = ...`, then any `+` lines).
std::vector<std::string> describeKernelLines(const Function &fn, const KernelPlan &plan);

} // namespace nnc
