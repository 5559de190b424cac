//===- KernelEmitter.h - Builds the LLVM function of a KernelPlan ---------------------------===//
//
// KernelEmitter builds the one LLVM function of an IR Function from its KernelPlan
// (codegen/KernelPlan.h): it binds every stored value to its buffer or arena block, emits each
// kernel of the plan in order, then copies the results and the remaining state updates out.
// Its state is only what building LLVM needs (the builder, the function being built, the
// storage pointers, the alias metadata and the GEMM routines); every decision is read from the
// plan. The kernels are emitted by kind, each kind in its own file:
//
//   KernelEmitter.cpp     the driver, storage, element access, row splits over threads
//   EmitElementwise.cpp   elementwise kernels and loop groups, with fused producers
//   EmitRows.cpp          reductions, softmax and friends, losses over labeled rows
//   EmitConv.cpp          convolution and its adjoints on the GEMM routines (im2col, col2im)
//   EmitWindow.cpp        pooling
//   EmitBatchNorm.cpp     batch normalization's per-channel passes
//   EmitMatMul.cpp        GEMM calls, epilogues, the split over threads
//   EmitIndexing.cpp      one-hot, gather, scatter-add, random, iota, pad, concat, stored views
//
// over the loops of codegen/Loops.h and the scalar lowerings of codegen/ScalarOps.h.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/BatchNormRoutines.h"
#include "codegen/ConvRoutines.h"
#include "codegen/Gemm.h"
#include "codegen/KernelPlan.h"
#include "codegen/Loops.h"
#include "codegen/ScalarOps.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nnc {

class KernelEmitter {
public:
  KernelEmitter(const Function &fn, const KernelPlan &plan, llvm::Module &module, const EmitOptions &options);

  /// Emits the function `symbol` (and the GEMM routines it needs, once per module).
  FunctionABI emit(const std::string &symbol);

private:
  using Value = llvm::Value;
  using Index = std::vector<Value *>;

  const Function &fn_;
  const KernelPlan &plan_;
  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  const EmitOptions &opts_;
  llvm::IRBuilder<> b_;
  LoopNest loops_{b_};
  llvm::Function *f_ = nullptr;      ///< the function being built (a task function inside a split)
  llvm::BasicBlock *entry_ = nullptr; ///< its entry block, for allocas
  Value *buffers_ = nullptr, *arena_ = nullptr; ///< the arguments of the emitted function
  std::vector<Value *> ptr_;          ///< per value: its storage (null when it has none)
  std::vector<llvm::MDNode *> scopeMD_, noaliasMD_; ///< per alias class
  llvm::Function *sgemm_ = nullptr, *dgemm_ = nullptr, *sgemmNarrow_ = nullptr, *sgemmEpilogue_ = nullptr;
  std::map<uint32_t, Value *> groupValues_; ///< values of the loop group's members at this element

  // --- KernelEmitter.cpp: the driver, storage and element access ---------------------------
  void emitKernel(const Kernel &k);
  bool outlines(const Kernel &k) const;
  /// A function with at least this many kernels that are not outlined is cut in two
  /// (secondHalf).
  static constexpr size_t kSplitInlineKernels = 8;
  size_t secondHalf() const;
  void outline(const std::string &suffix, const std::function<void()> &body);
  void makeAliasScopes();
  void bindStorage(Value *buffers, Value *arena);
  llvm::Function *gemmRoutine(const GemmSpec &spec);
  void parallelRows(const RowSplit &split, const std::function<void(Value *, Value *)> &body);

  static int64_t product(const std::vector<int64_t> &v) {
    int64_t p = 1;
    for (int64_t d : v)
      p *= d;
    return p;
  }
  const Node &node(size_t index) const { return fn_.nodes()[index]; }
  const TensorType &type(ValueId v) const { return fn_.type(v); }
  llvm::Type *i64() { return b_.getInt64Ty(); }
  Value *c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  /// Elements of type `t` in one of the target's widest vectors (EmitOptions::vectorBits), at
  /// least 1.
  unsigned lanesOf(llvm::Type *t) const {
    return std::max(1u, opts_.vectorBits / unsigned(t->getPrimitiveSizeInBits()));
  }
  llvm::Type *valueType(DType d) { return nnc::valueType(ctx_, d); }
  /// The type of one element in memory (a mask byte for i1).
  llvm::Type *memType(DType d) { return d == DType::I1 ? b_.getInt8Ty() : valueType(d); }
  Value *constantOf(DType d, double v) { return nnc::constantOf(b_, d, v); }
  Value *elementPtr(ValueId v, Value *flat) { return b_.CreateInBoundsGEP(memType(type(v).dtype), ptr_[v.index], flat); }
  Value *loadFlat(ValueId v, Value *flat);
  void storeFlat(ValueId v, Value *flat, Value *x);
  /// For i in [0, n): store(i, parts[0][i] + parts[1][i] + …), added in that order (per-thread
  /// partial sums reduced the same way on every run).
  void sumInOrder(llvm::Type *t, int64_t n, llvm::ArrayRef<Value *> parts,
                  llvm::function_ref<void(Value *i, Value *sum)> store);
  /// Scoped alias metadata: an access to v's storage aliases no storage of another class.
  void tagAccess(llvm::Instruction *inst, ValueId v) { tagClass(inst, plan_.aliasClass[v.index]); }
  void tagClass(llvm::Instruction *inst, int c);
  /// A scalar slot for loop-carried values; mem2reg turns it into registers.
  Value *localVar(llvm::Type *t, Value *init);
  Value *affine(int64_t offset, const std::vector<int64_t> &strides, const Index &idx) {
    return affineIndex(b_, offset, strides, idx);
  }
  Access accessOf(ValueId v) const { return nnc::accessOf(fn_, plan_, v); }
  Value *load(const Access &a, DType d, const Index &idx);
  void fill(ValueId v, double value);
  /// Copies the elements read through `a` into contiguous storage at toPtr.
  void copyAccess(const Access &a, const TensorType &t, Value *toPtr, int toClass);
  Value *fmax(Value *a, Value *b) { return b_.CreateIntrinsic(llvm::Intrinsic::maxnum, {a->getType()}, {a, b}); }

  // --- EmitElementwise.cpp -----------------------------------------------------------------
  void emitLoopGroup(const Kernel &k);
  void emitGroupRows(const std::vector<const Node *> &group, Value *rowBegin, Value *rowEnd);
  void groupAccesses(const std::vector<const Node *> &group, std::vector<Access> &out) const;
  /// loops_.forShapeRows(shape, rowBegin, rowEnd, body), with the trailing dimensions that
  /// every access in `accesses` (and a row-major store) walks contiguously as one loop: a
  /// [16, 3] kernel is 48 elements in six vectors rather than sixteen rows of three. `body`
  /// still gets one index per dimension of `shape`.
  void forShapeWalked(const std::vector<int64_t> &shape, const std::vector<Access> &accesses, Value *rowBegin,
                      Value *rowEnd, const std::function<void(const Index &)> &body);
  Value *valueAt(ValueId v, const Index &idx);
  Index withElement(Index head, const std::vector<int64_t> &shape, const std::vector<int64_t> &strides, int64_t flat);
  Value *scalarOp(const Node &n, const std::vector<Value *> &x);

  // --- EmitRows.cpp --------------------------------------------------------------------------
  void emitReduce(const Node &n);
  void emitNormalize(const Node &n);
  void emitLabeledRows(const Node &n);
  /// Rows of at most this many classes are emitted as straight-line code per row, vectorized
  /// across rows (emitSoftmaxCrossEntropyRows). 8 is the widest stride the loop vectorizer
  /// loads as an interleaved group (shuffles of whole vectors); at 10 classes it loaded every
  /// element alone and inserted it into a vector, a 1,000-instruction block that cost each
  /// 10-class model 15-25 ms of compile time to save 2 us a step at batch 32 (0.4% of a
  /// 784-128x4-10 step).
  static constexpr int64_t kRowsAcrossLanes = 8;
  void emitSoftmaxCrossEntropyRows(const Node &n, const RowFusion &rf);
  /// Row r of scores s (C per row) with its i32 label: the label, whether it is in [0, C), the
  /// label clamped into range, the row's first element index, and the score at the label.
  struct LabeledRow {
    Value *label, *inRange, *safe, *base, *picked;
  };
  /// Row r's label of `labels` (sign-extended), whether it is in [0, C), the label or 0 when it
  /// is not, and r·C; picked null.
  LabeledRow rowLabel(ValueId labels, Value *r, int64_t C);
  /// rowLabel, with picked = s[r·C + safe].
  LabeledRow labeledRow(ValueId s, ValueId labels, Value *r, int64_t C);

  // --- EmitConv.cpp ------------------------------------------------------------------------
  /// Convolution `n` into the storage of `into`: its own result, or the elementwise kernel
  /// its GEMM epilogue `ep` computes.
  void emitConv(const Node &n, const RowSplit &split, ValueId into, const Epilogue *ep);
  llvm::Function *fixedRoutine(const std::string &name, llvm::FunctionType *type,
                               const std::function<llvm::Function *()> &emit);
  llvm::Function *convRoutine(ConvRoutine routine, bool f64);
  Value *geometryConstant(const ConvGeometry &g);

  // --- EmitWindow.cpp ----------------------------------------------------------------------
  /// Pooling node `n` into the storage of `into`; with `reluOf` valid, n reads relu(reluOf)
  /// (KernelPlan.h PoolRelu): a max pooling applies the ReLU to each window's maximum, its
  /// gradient routes dy only where that maximum is positive.
  void emitPool(const Node &n, const RowSplit &split, ValueId into, ValueId reluOf);

  // --- EmitBatchNorm.cpp -------------------------------------------------------------------
  void emitBatchNorm(const Node &n, const RowSplit &split);

  // --- EmitMatMul.cpp ----------------------------------------------------------------------
  void declareGemmRoutines();
  void emitMatMul(const Kernel &k, const Node &n, ValueId into, const Epilogue *ep);
  void emitInlineMatMul(const Node &n); // EmitSmallMatMul.cpp
  void sumPartials(llvm::Function *gemm, const MatMulSplit &split, Value *C, llvm::Type *t, const Epilogue *ep,
                   Value *bias, Value *aux);
  llvm::Function *blockTask(llvm::Function *gemm, const MatMulSplit &split, bool ta, bool tb, int64_t lda,
                            int64_t ldb, int32_t flags, llvm::Type *t, const Epilogue *ep);

  // --- EmitIndexing.cpp --------------------------------------------------------------------
  void emitOneHot(const Node &n);
  void emitGather(const Node &n);
  void emitScatterAdd(const Node &n);
  void emitRandom(const Node &n);
  void emitIota(const Node &n);
  void emitPad(const Node &n);
  void emitConcat(const Node &n);
};

} // namespace nnc
