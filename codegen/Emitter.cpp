//===- Emitter.cpp - Graph IR function to one native LLVM function --------------------------===//
//
// The emitter walks the Function's nodes in order and emits one kernel per node into a single
// LLVM function. Algorithm:
//  1. Plan (planAll, planArena): arguments live in `buffers`; reshapes alias their operand;
//     views whose users are all elementwise are virtual (no storage); then the codegen passes:
//     single-use elementwise producers fuse into their elementwise user (plan), matrix
//     products fuse into an epilogue (planEpilogues), softmax cross-entropy takes softmax and
//     its gradient into its row pass (planRowFusion), adjacent elementwise kernels over one
//     shape form loop groups (planGroups), state updates are stored in place (planInPlace).
//     Every other node gets a 64-byte aligned arena block, reused by liveness (planArena),
//     after the GEMM scratch; alias classes give every access scoped-noalias metadata.
//  2. For each kernel, in node order: elementwise kernels (and loop groups) are loop nests
//     over the result shape whose operands are read through Access maps (base, offset, one
//     stride per result dimension): a broadcast has stride 0 where it repeats, a transpose
//     permutes strides, a slice adds an offset. The innermost loop is contiguous, so LLVM
//     vectorizes it; large ones are split over threads.
//  3. Matrix products call the packed GEMM routines (codegen/Gemm); row-wise ops (softmax,
//     losses), reductions, convolution and pooling are loop nests that follow the reference
//     interpreter's definitions.
//  4. Copy results into their buffers and the remaining state updates into their state buffers.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"

#include "codegen/Gemm.h"
#include "codegen/VectorMath.h"
#include "ir/TextPrinter.h"
#include "ir/Random.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>
#include <numeric>

namespace nnc {

using llvm::Value;
using V64 = std::vector<int64_t>;

int64_t storageBytes(DType dtype) {
  switch (dtype) {
  case DType::F32: return 4;
  case DType::F64: return 8;
  case DType::I32: return 4;
  case DType::I1: return 1;
  }
  return 4;
}

static int64_t product(const V64 &v) {
  return std::accumulate(v.begin(), v.end(), int64_t(1), std::multiplies<>());
}

static V64 rowMajorStrides(const V64 &shape) {
  V64 s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

static bool isView(OpKind op) {
  return op == OpKind::Broadcast || op == OpKind::Transpose || op == OpKind::Slice ||
         op == OpKind::Constant;
}

/// Ops computed one element at a time from the same element of each operand.
static bool isElementwiseKernel(OpKind op) {
  return (opFlags(op) & OpElementwise) != 0;
}

bool hasLowering(OpKind op) {
  switch (op) {
#define OP(Name, mnemonic, numOperands, flags, attrs, doc) case OpKind::Name:
#include "ir/Ops.def"
    return true;
  }
  return false;
}

namespace {

/// How a kernel reads a value: element at index i (one entry per dimension of the value) is
/// base[offset + sum(i[d] * strides[d])], or the constant when `isConstant`.
struct Access {
  ValueId base;
  int64_t offset = 0;
  V64 strides;
  bool isConstant = false;
  double constant = 0;
};

class FunctionEmitter {
public:
  FunctionEmitter(const Function &fn, llvm::Module &m, const EmitOptions &opts)
      : fn_(fn), m_(m), ctx_(m.getContext()), b_(ctx_), opts_(opts),
        narrowSpec_(GemmSpec::narrow(opts.vectorBits)) {}

  llvm::Expected<FunctionABI> emit(const std::string &symbol);
  std::string describe();

private:
  const Function &fn_;
  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  const EmitOptions &opts_;
  GemmSpec narrowSpec_;
  llvm::Function *f_ = nullptr;
  llvm::BasicBlock *entry_ = nullptr;
  Value *arena_ = nullptr;

  std::vector<Value *> ptr_;    ///< storage pointer per ValueId index (null when virtual)
  std::vector<bool> virtual_;   ///< read through an Access map, never stored
  std::vector<bool> fused_;     ///< elementwise, computed inside its only user's loop
  std::vector<int64_t> offset_; ///< arena offset of each stored node value (-1: none)
  std::vector<size_t> groupEnd_; ///< per node: the last node of its loop group (itself if alone)
  std::vector<int64_t> inPlace_; ///< per ValueId index: the state whose buffer holds it, or -1
  std::vector<int> aliasClass_;  ///< per ValueId index: storage that may overlap shares a class
  std::vector<llvm::MDNode *> scopeMD_, noaliasMD_; ///< per alias class
  Value *buffers_ = nullptr;
  int64_t arenaBytes_ = 0;
  int64_t gemmScratchOffset_ = -1;
  int64_t gemmScratchBytes_ = 0;
  llvm::Function *sgemm_ = nullptr, *dgemm_ = nullptr;
  GemmSpec sgemmSpec_, dgemmSpec_;
  llvm::Function *sgemmNarrow_ = nullptr;
  /// The routine of `spec`: already in the module, emitted into it, or only declared when
  /// another module provides it (EmitOptions::externalGemm).
  llvm::Function *gemmRoutine(const GemmSpec &spec) {
    if (llvm::Function *f = m_.getFunction(spec.name))
      return f;
    if (!opts_.externalGemm)
      return emitGemm(m_, spec);
    llvm::Type *p = b_.getPtrTy(), *i = i64(), *i32 = b_.getInt32Ty();
    std::vector<llvm::Type *> params{i, i, i, p, i, p, i, p, i, i32, p};
    if (spec.activationEpilogue)
      params.insert(params.end(), {p, p, i32});
    auto *ty = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    return llvm::Function::Create(ty, llvm::Function::ExternalLinkage, spec.name, m_);
  }
  /// True when `n` (an f32 matrix product) has at most one vector of columns and takes the
  /// narrow routine.
  bool isNarrow(const Node &n) const {
    const V64 &bs = type(n.operands[1]).shape;
    int64_t N = n.attrs.getBool("transpose_b") ? bs[bs.size() - 2] : bs[bs.size() - 1];
    return n.type.dtype == DType::F32 && N <= int64_t(narrowSpec_.nr());
  }

  // --- types and constants ---------------------------------------------------------------
  llvm::Type *i64() { return b_.getInt64Ty(); }
  Value *c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  /// The type of one element as it is computed (i1 for masks).
  llvm::Type *valueType(DType d) {
    switch (d) {
    case DType::F32: return b_.getFloatTy();
    case DType::F64: return b_.getDoubleTy();
    case DType::I32: return b_.getInt32Ty();
    case DType::I1: return b_.getInt1Ty();
    }
    return b_.getFloatTy();
  }
  /// The type of one element in memory (a mask byte for i1).
  llvm::Type *memType(DType d) { return d == DType::I1 ? b_.getInt8Ty() : valueType(d); }
  Value *constantOf(DType d, double v) {
    if (isFloat(d))
      return llvm::ConstantFP::get(valueType(d), v);
    if (d == DType::I1)
      return b_.getInt1(v != 0);
    return b_.getInt32(static_cast<uint32_t>(static_cast<int32_t>(v)));
  }
  const TensorType &type(ValueId v) const { return fn_.type(v); }

  // --- memory -----------------------------------------------------------------------------
  Value *elementPtr(ValueId v, Value *flat) {
    return b_.CreateInBoundsGEP(memType(type(v).dtype), ptr_[v.index], flat);
  }
  Value *loadFlat(ValueId v, Value *flat) {
    DType d = type(v).dtype;
    auto *x = b_.CreateLoad(memType(d), elementPtr(v, flat));
    tagAccess(x, v);
    return d == DType::I1 ? b_.CreateICmpNE(x, b_.getInt8(0)) : static_cast<Value *>(x);
  }
  void storeFlat(ValueId v, Value *flat, Value *x) {
    if (type(v).dtype == DType::I1)
      x = b_.CreateZExt(x, b_.getInt8Ty());
    tagAccess(b_.CreateStore(x, elementPtr(v, flat)), v);
  }
  /// Scoped alias metadata: an access to v's storage aliases no storage of another class.
  void tagAccess(llvm::Instruction *inst, ValueId v) { tagClass(inst, aliasClass_.empty() ? -1 : aliasClass_[v.index]); }
  void tagClass(llvm::Instruction *inst, int c) {
    if (c < 0 || size_t(c) >= scopeMD_.size())
      return;
    inst->setMetadata(llvm::LLVMContext::MD_alias_scope, scopeMD_[size_t(c)]);
    inst->setMetadata(llvm::LLVMContext::MD_noalias, noaliasMD_[size_t(c)]);
  }
  /// A scalar slot for loop-carried values; mem2reg turns it into registers.
  Value *localVar(llvm::Type *t, Value *init) {
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    Value *slot = eb.CreateAlloca(t);
    b_.CreateStore(init, slot);
    return slot;
  }

  // --- loops ------------------------------------------------------------------------------
  /// for (i = begin; i < end; ++i) body(i)
  void forRange(Value *begin, Value *end, const std::function<void(Value *)> &body) {
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *header = llvm::BasicBlock::Create(ctx_, "loop", f_);
    auto *bodyBB = llvm::BasicBlock::Create(ctx_, "body", f_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "done", f_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode *iv = b_.CreatePHI(i64(), 2);
    iv->addIncoming(begin, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(iv, end), bodyBB, exit);
    b_.SetInsertPoint(bodyBB);
    int64_t loopsBefore = ++loops_;
    body(iv);
    Value *next = b_.CreateAdd(iv, c64(1), "", true, true);
    iv->addIncoming(next, b_.GetInsertBlock());
    llvm::BranchInst *back = b_.CreateBr(header);
    // A loop around other loops is never unrolled: with static shapes LLVM would otherwise
    // copy whole inner loop nests for small trip counts (a 16-row batch tripled the code).
    // Innermost loops stay free to be vectorized and unrolled.
    if (loops_ > loopsBefore) {
      llvm::MDNode *disable = llvm::MDNode::get(ctx_, llvm::MDString::get(ctx_, "llvm.loop.unroll.disable"));
      llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx_, {nullptr, disable});
      loopId->replaceOperandWith(0, loopId);
      back->setMetadata(llvm::LLVMContext::MD_loop, loopId);
    }
    b_.SetInsertPoint(exit);
  }
  int64_t loops_ = 0; ///< loops emitted so far, to tell outer loops from innermost ones
  void forRange(int64_t n, const std::function<void(Value *)> &body) { forRange(c64(0), c64(n), body); }
  /// Nested loops over `shape`, innermost last; body gets one index per dimension.
  void forShape(const V64 &shape, const std::function<void(const std::vector<Value *> &)> &body) {
    forShapeRows(shape, c64(0), c64(shape.empty() ? 1 : shape[0]), body);
  }
  /// forShape, with the outermost dimension running over [rowBegin, rowEnd) only.
  void forShapeRows(const V64 &shape, Value *rowBegin, Value *rowEnd,
                    const std::function<void(const std::vector<Value *> &)> &body) {
    if (shape.empty())
      return body({});
    forRange(rowBegin, rowEnd, [&](Value *r) {
      std::vector<Value *> idx{r};
      std::function<void(size_t)> level = [&](size_t d) {
        if (d == shape.size()) {
          body(idx);
          return;
        }
        forRange(shape[d], [&](Value *i) {
          idx.push_back(i);
          level(d + 1);
          idx.pop_back();
        });
      };
      level(1);
    });
  }
  /// offset + sum(idx[d] * strides[d]), skipping zero strides.
  Value *affine(int64_t offset, const V64 &strides, const std::vector<Value *> &idx) {
    Value *flat = c64(offset);
    for (size_t d = 0; d < strides.size(); ++d)
      if (strides[d] != 0)
        flat = b_.CreateAdd(flat, strides[d] == 1 ? idx[d] : b_.CreateMul(idx[d], c64(strides[d]), "", true, true), "", true, true);
    return flat;
  }

  // --- access maps ------------------------------------------------------------------------
  Access accessOf(ValueId v) {
    const Node *n = fn_.definingNode(v);
    if (!virtual_[v.index] || !n)
      return Access{v, 0, rowMajorStrides(type(v).shape)};
    return viewAccess(*n);
  }
  /// The access map of a view node, in terms of its operand's access.
  Access viewAccess(const Node &node) {
    const Node *n = &node;
    ValueId v = node.result;
    const V64 &shape = type(v).shape;
    switch (n->op) {
    case OpKind::Constant: {
      Access a{v, 0, V64(shape.size(), 0)};
      a.isConstant = true;
      a.constant = n->attrs.getFloat("value");
      return a;
    }
    case OpKind::Broadcast: {
      Access in = accessOf(n->operands[0]);
      const V64 &inShape = type(n->operands[0]).shape;
      V64 dims = n->attrs.getInts("dims");
      Access out{in.base, in.offset, V64(shape.size(), 0), in.isConstant, in.constant};
      for (size_t d = 0; d < inShape.size(); ++d)
        if (inShape[d] != 1)
          out.strides[dims[d]] = in.strides[d];
      return out;
    }
    case OpKind::Transpose: {
      Access in = accessOf(n->operands[0]);
      V64 perm = n->attrs.getInts("perm");
      Access out = in;
      for (size_t d = 0; d < perm.size(); ++d)
        out.strides[d] = in.strides[perm[d]];
      return out;
    }
    case OpKind::Slice: {
      Access in = accessOf(n->operands[0]);
      V64 starts = n->attrs.getInts("starts");
      for (size_t d = 0; d < starts.size(); ++d)
        in.offset += starts[d] * in.strides[d];
      return in;
    }
    default:
      return Access{v, 0, rowMajorStrides(shape)};
    }
  }
  Value *load(const Access &a, DType d, const std::vector<Value *> &idx) {
    if (a.isConstant)
      return constantOf(d, a.constant);
    return loadFlat(a.base, affine(a.offset, a.strides, idx));
  }

  // --- planning ---------------------------------------------------------------------------
  void planAll();
  void plan();
  void planGroups();
  void planInPlace();
  void planArena();
  void planAliasClasses();
  void bindStorage(Value *buffers, Value *arena);
  bool isKernel(const Node &n) const {
    return !virtual_[n.result.index] && !fused_[n.result.index] && n.op != OpKind::Reshape;
  }
  bool readsDirectly(const Node &n, const std::vector<bool> &set);
  std::vector<ValueId> storageReadBy(const Node &n) {
    std::vector<ValueId> reads;
    collectReads(n, reads);
    return reads;
  }
  std::vector<int64_t> nodeIndex_; ///< per ValueId index: its node's index, -1 for arguments
  std::vector<std::vector<ValueId>> users_; ///< per ValueId index: the nodes that read it
  std::vector<bool> pinned_;                ///< per ValueId index: a result or an update value
  /// An elementwise kernel computed by a GEMM's epilogue: C = op(A)·op(B) then GemmEpilogueKind
  /// `kind` with the bias vector and the aux tensor.
  struct Epilogue {
    ValueId matmul;
    int32_t kind = 0;
    ValueId bias, aux; ///< storage (invalid when unused)
    int64_t biasOffset = 0;
  };
  std::map<uint32_t, Epilogue> epilogue_; ///< by the kernel's ValueId index
  /// softmax_cross_entropy(z, y) computed together with softmax(z) in one pass over each row of
  /// z: the kernel also stores `partner`, which is either softmax(z) itself or its only consumer
  /// `scale · (softmax(z) − one_hot(y))` (the loss's gradient), then with softmax fused away.
  struct RowFusion {
    ValueId partner;
    bool gradient = false;
    double scale = 1;
  };
  std::map<uint32_t, RowFusion> rowFusion_; ///< by the softmax_cross_entropy node's ValueId index
  std::vector<bool> partner_;               ///< per ValueId index: stored by a RowFusion kernel
  void planRowFusion();
  void emitSoftmaxCrossEntropyRows(const Node &n, const RowFusion &rf);
  void planEpilogues();
  bool matchEpilogue(const Node &u, Epilogue &ep);
  int resultClass0_ = 0;            ///< the alias class of result buffer 0 (then 1, 2, ...)
  void collectReads(const Node &n, std::vector<ValueId> &out);
  void collectStorage(ValueId v, std::vector<ValueId> &out);
  int64_t intermediateBytes_ = 0;
  int64_t kernels_ = 0;
  int64_t allocate(int64_t bytes) {
    int64_t at = (arenaBytes_ + 63) / 64 * 64;
    arenaBytes_ = at + bytes;
    return at;
  }

  // --- kernels ----------------------------------------------------------------------------
  void emitNode(const Node &n);
  void emitElementwise(const Node &n);
  void emitLoopGroup(const std::vector<const Node *> &group);
  void parallelRows(int64_t rows, bool large, int64_t granule, const std::function<void(Value *, Value *)> &body);
  void emitGroupRows(const std::vector<const Node *> &group, Value *rowBegin, Value *rowEnd);
  std::map<uint32_t, Value *> groupValues_; ///< values of the loop group's members at this element
  Value *valueAt(ValueId v, const std::vector<Value *> &idx);
  Value *scalarOp(const Node &n, const std::vector<Value *> &x);
  void emitReduce(const Node &n);
  void emitMatMul(const Node &n, ValueId into, const Epilogue *ep = nullptr);
  struct MatMulSplit {
    int64_t M = 0, N = 0, K = 0, blocks = 1, rows = 0, scratchBytes = 0;
  };
  MatMulSplit splitOf(const Node &n) const;
  llvm::FunctionCallee parallelFor();
  llvm::Function *rowBlockTask(llvm::Function *gemm, const MatMulSplit &split, bool ta, int64_t lda,
                               int64_t ldb, int32_t flags, llvm::Type *t, const Epilogue *ep);
  llvm::Function *sgemmEpilogue_ = nullptr;
  void emitNormalize(const Node &n);
  void emitLabeledRows(const Node &n);
  /// Row r of scores s (C per row) with its i32 label: the label, whether it is in [0, C), the
  /// label clamped into range, the row's first element index, and the score at the label.
  struct LabeledRow {
    Value *label, *inRange, *safe, *base, *picked;
  };
  LabeledRow labeledRow(ValueId s, ValueId labels, Value *r, int64_t C) {
    Value *label = b_.CreateSExt(loadFlat(labels, r), i64());
    Value *inRange = b_.CreateAnd(b_.CreateICmpSGE(label, c64(0)), b_.CreateICmpSLT(label, c64(C)));
    Value *safe = b_.CreateSelect(inRange, label, c64(0));
    Value *base = b_.CreateMul(r, c64(C));
    return {label, inRange, safe, base, loadFlat(s, b_.CreateAdd(base, safe))};
  }
  void emitOneHot(const Node &n);
  void emitGather(const Node &n);
  void emitScatterAdd(const Node &n);
  void emitRandom(const Node &n);
  void emitIota(const Node &n);
  void emitPad(const Node &n);
  void emitConcat(const Node &n);
  void emitConv(const Node &n);
  void emitPool(const Node &n);
  void fill(ValueId v, double value);
  void copy(ValueId from, Value *toPtr, int toClass);
  void copyAccess(const Access &a, const TensorType &t, Value *toPtr, int toClass);

  Value *call(llvm::Intrinsic::ID id, Value *x) {
    return b_.CreateIntrinsic(id, {x->getType()}, {x});
  }
  Value *call2(llvm::Intrinsic::ID id, Value *x, Value *y) {
    return b_.CreateIntrinsic(id, {x->getType()}, {x, y});
  }
  Value *fmax(Value *a, Value *b) { return call2(llvm::Intrinsic::maxnum, a, b); }
  Value *fromIndex(Value *i, DType d) {
    return isFloat(d) ? b_.CreateSIToFP(i, valueType(d)) : b_.CreateTrunc(i, valueType(d));
  }
};

void FunctionEmitter::planAll() {
  plan();
  nodeIndex_.assign(fn_.numValueIds(), -1);
  for (size_t i = 0; i < fn_.nodes().size(); ++i)
    nodeIndex_[fn_.nodes()[i].result.index] = int64_t(i);
  planEpilogues();
  planRowFusion();
  planGroups();
  planInPlace();
}

void FunctionEmitter::plan() {
  size_t n = fn_.numValueIds();
  ptr_.assign(n, nullptr);
  virtual_.assign(n, false);
  pinned_.assign(n, false); // read by results or updates: must have storage
  for (const FunctionResult &r : fn_.results())
    pinned_[r.value.index] = true;
  for (const StateUpdate &u : fn_.updates())
    pinned_[u.value.index] = true;
  users_ = fn_.computeUsers();
  const auto &pinned = pinned_;
  const auto &users = users_;
  // A view is virtual when every user reads it elementwise or is itself a virtual view.
  const auto &nodes = fn_.nodes();
  for (size_t k = nodes.size(); k-- > 0;) {
    const Node &node = nodes[k];
    if (!isView(node.op) || pinned[node.result.index])
      continue;
    bool ok = true;
    for (ValueId u : users[node.result.index]) {
      const Node *un = fn_.definingNode(u);
      if (!(isElementwiseKernel(un->op) || (isView(un->op) && virtual_[u.index])))
        ok = false;
    }
    // The random and fill ops have no operands to view; a view of a constant stays constant.
    virtual_[node.result.index] = ok && !users[node.result.index].empty();
  }
  // Producer-consumer fusion: an elementwise node whose only use is by an elementwise node is
  // computed inside that node's loop, element by element, and never stored. A single use means
  // no work (an exp, a log) is ever done twice.
  fused_.assign(n, false);
  for (size_t k = nodes.size(); k-- > 0;) {
    const Node &node = nodes[k];
    const auto &us = users[node.result.index];
    if (!opts_.fuseElementwise || !isElementwiseKernel(node.op) || pinned[node.result.index] || us.size() != 1)
      continue;
    const Node *un = fn_.definingNode(us[0]);
    fused_[node.result.index] = isElementwiseKernel(un->op) && !virtual_[us[0].index];
  }
}

/// Epilogue fusion: an f32 matrix product whose only user is an elementwise kernel of the forms
///   act(M + bias), act(M), M + bias         act: relu, sigmoid, tanh; bias: a broadcast row
///   M * [y > 0], M * y(1 - y), M * (1 - y²)  the derivative of relu, sigmoid, tanh at output y
/// is computed by the GEMM routine with the activation epilogue, straight into the kernel's
/// storage: the product is never stored and the kernel makes no pass of its own over memory.
void FunctionEmitter::planEpilogues() {
  epilogue_.clear();
  if (!opts_.fuseEpilogues)
    return;
  for (const Node &u : fn_.nodes()) {
    if (!isKernel(u) || !isElementwiseKernel(u.op) || u.type.dtype != DType::F32 || u.type.shape.size() != 2)
      continue;
    Epilogue ep;
    if (matchEpilogue(u, ep)) {
      fused_[ep.matmul.index] = true; // computed by u's kernel
      epilogue_[u.result.index] = ep;
    }
  }
}

bool FunctionEmitter::matchEpilogue(const Node &u, Epilogue &ep) {
  const auto &users = users_;
  const auto &pinned = pinned_;
  auto node = [&](ValueId v) { return fn_.definingNode(v); };
  auto fusedOp = [&](ValueId v, OpKind op) {
    const Node *d = node(v);
    return d && d->op == op && fused_[v.index] ? d : nullptr;
  };
  // The product: f32, two-dimensional, u's shape, used only by u.
  auto product = [&](ValueId v) {
    const Node *d = node(v);
    return d && d->op == OpKind::MatMul && d->type.dtype == DType::F32 && d->type.shape == u.type.shape &&
           !pinned[v.index] && users[v.index].size() == 1 && type(d->operands[0]).shape.size() == 2;
  };
  // A row vector broadcast down the rows: read in place, stride 1 along the columns.
  auto bias = [&](ValueId v) {
    const Node *d = node(v);
    if (!d || d->op != OpKind::Broadcast || !virtual_[v.index] || type(d->operands[0]).dtype != DType::F32)
      return false;
    Access a = accessOf(v);
    if (a.isConstant || a.strides.size() != 2 || a.strides[0] != 0 || a.strides[1] != 1 ||
        type(a.base).dtype != DType::F32)
      return false;
    ep.bias = a.base;
    ep.biasOffset = a.offset;
    return true;
  };
  auto constant = [&](ValueId v, double value) {
    const Node *d = node(v);
    if (!d || !virtual_[v.index])
      return false;
    Access a = accessOf(v);
    return a.isConstant && a.constant == value;
  };
  // A stored f32 tensor of u's shape read at the element being computed.
  auto stored = [&](ValueId v) {
    const Node *d = node(v);
    if ((d && (virtual_[v.index] || fused_[v.index] || d->op == OpKind::Reshape)) || type(v).dtype != DType::F32 ||
        type(v).shape != u.type.shape)
      return false;
    ep.aux = v;
    return true;
  };
  auto split = [&](const Node &n, auto &&left, auto &&right) -> std::optional<std::pair<ValueId, ValueId>> {
    if (left(n.operands[0]) && right(n.operands[1]))
      return std::pair{n.operands[0], n.operands[1]};
    if (left(n.operands[1]) && right(n.operands[0]))
      return std::pair{n.operands[1], n.operands[0]};
    return std::nullopt;
  };
  auto act = [&](OpKind op) -> int32_t {
    switch (op) {
    case OpKind::Relu: return GemmEpilogueRelu;
    case OpKind::Sigmoid: return GemmEpilogueSigmoid;
    case OpKind::Tanh: return GemmEpilogueTanh;
    default: return 0;
    }
  };
  auto any = [](ValueId) { return true; };
  if (int32_t a = act(u.op)) { // act(M) or act(M + bias)
    ValueId x = u.operands[0];
    if (product(x)) {
      ep = {x, a, {}, {}, 0};
      return true;
    }
    if (const Node *add = fusedOp(x, OpKind::Add))
      if (auto mb = split(*add, product, bias)) {
        ep.matmul = mb->first;
        ep.kind = a | GemmEpilogueBias;
        return true;
      }
    return false;
  }
  if (u.op == OpKind::Add) { // M + bias
    if (auto mb = split(u, product, bias)) {
      ep.matmul = mb->first;
      ep.kind = GemmEpilogueBias;
      return true;
    }
    return false;
  }
  if (u.op != OpKind::Mul)
    return false;
  auto md = split(u, product, any);
  if (!md)
    return false;
  ep.matmul = md->first;
  ValueId d = md->second;
  if (const Node *cast = fusedOp(d, OpKind::Cast)) { // [y > 0], as f32
    const Node *cmp = fusedOp(cast->operands[0], OpKind::Cmp);
    if (cmp && cmp->attrs.getString("predicate") == "gt" && constant(cmp->operands[1], 0) && stored(cmp->operands[0])) {
      ep.kind = GemmEpilogueReluGrad;
      return true;
    }
    return false;
  }
  if (const Node *m = fusedOp(d, OpKind::Mul)) { // y(1 - y)
    for (int k = 0; k < 2; ++k) {
      ValueId y = m->operands[size_t(k)];
      const Node *sub = fusedOp(m->operands[size_t(1 - k)], OpKind::Sub);
      if (sub && constant(sub->operands[0], 1) && sub->operands[1] == y && stored(y)) {
        ep.kind = GemmEpilogueSigmoidGrad;
        return true;
      }
    }
    return false;
  }
  if (const Node *sub = fusedOp(d, OpKind::Sub)) { // 1 - y²
    const Node *sq = fusedOp(sub->operands[1], OpKind::Square);
    if (constant(sub->operands[0], 1) && sq && stored(sq->operands[0])) {
      ep.kind = GemmEpilogueTanhGrad;
      return true;
    }
  }
  return false;
}

/// Softmax cross-entropy with its gradient: for softmax_cross_entropy(z, y) and a later
/// softmax(z) over the last axis, one kernel at the loss computes, row by row, the max and the
/// sum of exponentials once and stores both the loss and softmax(z). When softmax(z)'s only
/// consumer is the gradient scale · (softmax(z) − one_hot(y)) (or softmax(z) − one_hot(y)) on
/// the same labels, the kernel stores that gradient instead, and softmax(z) is never stored.
void FunctionEmitter::planRowFusion() {
  rowFusion_.clear();
  partner_.assign(fn_.numValueIds(), false);
  if (!opts_.fuseRows)
    return;
  const auto &users = users_;
  const auto &pinned = pinned_;
  const auto &nodes = fn_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &sce = nodes[i];
    if (sce.op != OpKind::SoftmaxCrossEntropy || !isKernel(sce) || !isFloat(sce.type.dtype))
      continue;
    ValueId z = sce.operands[0], y = sce.operands[1];
    int64_t axis = int64_t(type(z).shape.size()) - 1;
    for (ValueId u : users[z.index]) {
      const Node *p = fn_.definingNode(u);
      if (p->op != OpKind::Softmax || p->attrs.getInt("axis") != axis || nodeIndex_[u.index] <= int64_t(i) ||
          !isKernel(*p) || partner_[u.index])
        continue;
      RowFusion rf{u};
      // The gradient: scale · (softmax − one_hot(y)), softmax's only use.
      const auto &pu = users[u.index];
      const Node *g = pu.size() == 1 && !pinned[u.index] ? fn_.definingNode(pu[0]) : nullptr;
      auto oneHotOfY = [&](ValueId v) {
        const Node *d = fn_.definingNode(v);
        return d && d->op == OpKind::OneHot && d->operands[0] == y && d->type == p->type;
      };
      auto isGrad = [&](const Node &sub) {
        return sub.op == OpKind::Sub && sub.operands[0] == u && oneHotOfY(sub.operands[1]);
      };
      if (g && isGrad(*g) && g->type == p->type) {
        if (isKernel(*g)) {
          rf = {g->result, true, 1}; // softmax − one_hot(y) is stored
        } else if (fused_[g->result.index]) {
          // scale · (softmax − one_hot(y)): the sub is fused into a product with a constant.
          const Node *h = fn_.definingNode(users[g->result.index][0]);
          if (h->op == OpKind::Mul && isKernel(*h) && h->type == p->type && !epilogue_.count(h->result.index)) {
            ValueId c = h->operands[0] == g->result ? h->operands[1] : h->operands[0];
            const Node *cn = fn_.definingNode(c);
            if (cn && virtual_[c.index] && accessOf(c).isConstant)
              rf = {h->result, true, accessOf(c).constant};
          }
        }
      }
      if (rf.gradient) {
        fused_[u.index] = true; // computed inside the loss's kernel, never stored
        // So is one_hot(y) when the gradient is all that reads it.
        ValueId oh = fn_.definingNode(users[u.index][0])->operands[1];
        if (users[oh.index].size() == 1 && !pinned[oh.index])
          fused_[oh.index] = true;
      }
      partner_[rf.partner.index] = true;
      rowFusion_[sce.result.index] = rf;
      break;
    }
  }
}

/// Loop fusion: adjacent elementwise kernels over the same shape form one loop group when each
/// reads the earlier members only directly at the element it computes (never through a view
/// or reshape, which could reach an element not yet computed). Nodes without a kernel of their
/// own (views, fused producers, reshapes) may lie between members; any other kernel ends the
/// group.
void FunctionEmitter::planGroups() {
  const auto &nodes = fn_.nodes();
  groupEnd_.resize(nodes.size());
  std::iota(groupEnd_.begin(), groupEnd_.end(), size_t(0));
  if (!opts_.fuseLoops)
    return;
  std::vector<bool> member(fn_.numValueIds(), false);
  std::vector<size_t> group;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (!isKernel(n))
      continue;
    bool elementwise = isElementwiseKernel(n.op) && !epilogue_.count(n.result.index) && !partner_[n.result.index];
    if (!group.empty() && elementwise && n.type.shape == nodes[group[0]].type.shape && readsDirectly(n, member)) {
      group.push_back(i);
      member[n.result.index] = true;
      for (size_t j : group)
        groupEnd_[j] = i;
      continue;
    }
    for (size_t j : group)
      member[nodes[j].result.index] = false;
    group.clear();
    if (elementwise) {
      group.push_back(i);
      member[n.result.index] = true;
    }
  }
}

/// True when every value of `set` that the kernel of `n` reads is read as a plain operand (of
/// `n` or of a producer fused into it), so at the element being computed, never through a
/// view or a reshape.
bool FunctionEmitter::readsDirectly(const Node &n, const std::vector<bool> &set) {
  for (ValueId o : n.operands) {
    if (set[o.index])
      continue;
    const Node *d = fn_.definingNode(o);
    if (!d)
      continue;
    if (fused_[o.index]) {
      if (!readsDirectly(*d, set))
        return false;
      continue;
    }
    if (virtual_[o.index] || d->op == OpKind::Reshape) {
      std::vector<ValueId> owners;
      collectStorage(o, owners);
      for (ValueId w : owners)
        if (set[w.index])
          return false;
    }
  }
  return true;
}

/// In-place updates: a state update computed by an elementwise kernel is stored straight into
/// the state's buffer (no arena block, no copy at the end) when nothing reads the old state
/// afterwards: every kernel that reads it runs before the update's kernel, or in the same loop
/// group at or before it and directly at the element being computed (read before written). The
/// results, copied out at the end, must not read the state.
void FunctionEmitter::planInPlace() {
  size_t count = fn_.numValueIds();
  inPlace_.assign(count, -1);
  if (!opts_.inPlaceUpdates)
    return;
  const auto &nodes = fn_.nodes();
  std::vector<int> updatesOf(count, 0);
  for (const StateUpdate &u : fn_.updates())
    ++updatesOf[u.value.index];
  std::vector<bool> readAtEnd(count, false);
  for (const FunctionResult &r : fn_.results()) {
    std::vector<ValueId> owners;
    collectStorage(r.value, owners);
    for (ValueId o : owners)
      readAtEnd[o.index] = true;
  }
  for (const StateUpdate &u : fn_.updates()) {
    const Node *d = fn_.definingNode(u.value);
    if (u.value == u.state || !d || !isKernel(*d) || !isElementwiseKernel(d->op) || epilogue_.count(u.value.index) ||
        partner_[u.value.index] ||
        updatesOf[u.value.index] != 1 ||
        readAtEnd[u.state.index] || readAtEnd[u.value.index] || !(type(u.value) == type(u.state)))
      continue;
    size_t k = size_t(nodeIndex_[u.value.index]);
    std::vector<bool> state(count, false);
    state[u.state.index] = true;
    bool safe = true;
    for (size_t i = 0; i < nodes.size() && safe; ++i) {
      if (!isKernel(nodes[i]))
        continue;
      std::vector<ValueId> reads = storageReadBy(nodes[i]);
      if (std::find(reads.begin(), reads.end(), u.state) == reads.end())
        continue;
      if (i > k || (groupEnd_[i] == groupEnd_[k] && !readsDirectly(nodes[i], state)))
        safe = false;
    }
    if (safe)
      inPlace_[u.value.index] = int64_t(u.state.index);
  }
}

/// Alias classes for scoped-noalias metadata: every argument buffer is its own class; arena
/// values whose blocks overlap (reuse by liveness) share one; reshapes and in-place updates take
/// the class of the storage they alias. Accesses of different classes never touch the same
/// bytes, which lets LLVM vectorize loops over many buffers without runtime alias checks.
void FunctionEmitter::planAliasClasses() {
  size_t count = fn_.numValueIds();
  aliasClass_.assign(count, -1);
  int classes = 0;
  for (const Argument &a : fn_.arguments())
    aliasClass_[a.value.index] = classes++;
  struct Block {
    int64_t begin, end;
    uint32_t value;
  };
  std::vector<Block> blocks;
  for (const Node &n : fn_.nodes())
    if (offset_[n.result.index] >= 0)
      blocks.push_back({offset_[n.result.index],
                        offset_[n.result.index] + std::max<int64_t>(1, n.type.numElements() * storageBytes(n.type.dtype)),
                        n.result.index});
  std::sort(blocks.begin(), blocks.end(), [](const Block &x, const Block &y) { return x.begin < y.begin; });
  int64_t reach = -1;
  for (const Block &bl : blocks) {
    if (bl.begin >= reach)
      ++classes;
    reach = std::max(reach, bl.end);
    aliasClass_[bl.value] = classes - 1;
  }
  // Reshapes (in node order, so chains resolve) and in-place updates alias other storage.
  for (const Node &n : fn_.nodes()) {
    if (n.op == OpKind::Reshape && !virtual_[n.result.index] && !fused_[n.result.index])
      aliasClass_[n.result.index] = aliasClass_[n.operands[0].index];
    if (inPlace_[n.result.index] >= 0)
      aliasClass_[n.result.index] = aliasClass_[size_t(inPlace_[n.result.index])];
  }
  resultClass0_ = classes;
  classes += int(fn_.results().size());
  llvm::MDBuilder mdb(ctx_);
  llvm::MDNode *domain = mdb.createAnonymousAliasScopeDomain("nnc");
  std::vector<llvm::Metadata *> scopes;
  for (int c = 0; c < classes; ++c)
    scopes.push_back(mdb.createAnonymousAliasScope(domain));
  scopeMD_.clear();
  noaliasMD_.clear();
  for (int c = 0; c < classes; ++c) {
    scopeMD_.push_back(llvm::MDNode::get(ctx_, {scopes[size_t(c)]}));
    std::vector<llvm::Metadata *> others;
    for (int o = 0; o < classes; ++o)
      if (o != c)
        others.push_back(scopes[size_t(o)]);
    noaliasMD_.push_back(llvm::MDNode::get(ctx_, others));
  }
}

/// Storage pointers for every value: arguments from `buffers`, stored nodes in the arena,
/// reshapes their operand's, in-place updates their state's.
void FunctionEmitter::bindStorage(Value *buffers, Value *arena) {
  const auto &args = fn_.arguments();
  for (size_t i = 0; i < args.size(); ++i)
    ptr_[args[i].value.index] = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), buffers, i));
  for (const Node &n : fn_.nodes()) {
    if (virtual_[n.result.index] || fused_[n.result.index])
      continue;
    if (n.op == OpKind::Reshape)
      ptr_[n.result.index] = ptr_[n.operands[0].index];
    else if (inPlace_[n.result.index] >= 0)
      ptr_[n.result.index] = ptr_[size_t(inPlace_[n.result.index])];
    else
      ptr_[n.result.index] = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena, c64(offset_[n.result.index]));
  }
}

/// The values with storage that the kernel of `n` reads, through views, fused producers and
/// reshape aliases.
void FunctionEmitter::collectReads(const Node &n, std::vector<ValueId> &out) {
  for (ValueId o : n.operands)
    collectStorage(o, out);
}

void FunctionEmitter::collectStorage(ValueId v, std::vector<ValueId> &out) {
  const Node *d = fn_.definingNode(v);
  if (d && (virtual_[v.index] || fused_[v.index])) {
    collectReads(*d, out);
    return;
  }
  if (d && d->op == OpKind::Reshape) {
    collectStorage(d->operands[0], out);
    return;
  }
  out.push_back(v);
}

/// Liveness-based memory plan: every stored node gets an arena block that is free from its
/// kernel to the last kernel reading it (results and updates live to the end). Blocks are
/// reused best-fit, so buffers whose lifetimes do not overlap share memory.
void FunctionEmitter::planArena() {
  const auto &nodes = fn_.nodes();
  size_t n = fn_.numValueIds();
  std::vector<int64_t> lastUse(n, -1);
  auto stored = [&](const Node &node) { return isKernel(node); };
  // A loop group runs as one kernel: what its members read stays live to its last member.
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!stored(nodes[i]))
      continue;
    for (ValueId r : storageReadBy(nodes[i]))
      lastUse[r.index] = std::max<int64_t>(lastUse[r.index], int64_t(groupEnd_[i]));
  }
  int64_t end = int64_t(nodes.size());
  auto pinTo = [&](ValueId v) {
    std::vector<ValueId> owners;
    collectStorage(v, owners);
    for (ValueId o : owners)
      lastUse[o.index] = end;
  };
  for (const FunctionResult &r : fn_.results())
    pinTo(r.value);
  for (const StateUpdate &u : fn_.updates())
    pinTo(u.value);

  offset_.assign(n, -1);
  std::vector<std::pair<int64_t, int64_t>> freeBlocks; // (offset, size)
  std::vector<std::vector<ValueId>> dying(nodes.size() + 1);
  // Values read for the last time by kernel i (or its group) are free once it has run.
  auto freeDying = [&](size_t i) {
    for (ValueId v : dying[i]) {
      const Node *d = fn_.definingNode(v);
      freeBlocks.push_back({offset_[v.index], (d->type.numElements() * storageBytes(d->type.dtype) + 63) / 64 * 64});
    }
  };
  // A block for `node`, whose kernel runs at step i.
  auto place = [&](const Node &node, size_t i) {
    int64_t size = (node.type.numElements() * storageBytes(node.type.dtype) + 63) / 64 * 64;
    // Best fit among free blocks, else grow the arena.
    size_t best = freeBlocks.size();
    for (size_t k = 0; k < freeBlocks.size(); ++k)
      if (freeBlocks[k].second >= size && (best == freeBlocks.size() || freeBlocks[k].second < freeBlocks[best].second))
        best = k;
    if (best < freeBlocks.size()) {
      offset_[node.result.index] = freeBlocks[best].first;
      if (freeBlocks[best].second > size)
        freeBlocks[best] = {freeBlocks[best].first + size, freeBlocks[best].second - size};
      else
        freeBlocks.erase(freeBlocks.begin() + long(best));
    } else {
      offset_[node.result.index] = allocate(size);
    }
    int64_t last = lastUse[node.result.index] < 0 ? int64_t(groupEnd_[i]) : lastUse[node.result.index];
    if (last < end)
      dying[size_t(std::max<int64_t>(last, int64_t(i)))].push_back(node.result);
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &node = nodes[i];
    if (!stored(node))
      continue;
    intermediateBytes_ += (node.type.numElements() * storageBytes(node.type.dtype) + 63) / 64 * 64;
    if (partner_[node.result.index])
      continue; // placed with the kernel that stores it
    if (groupEnd_[i] == i)
      ++kernels_; // one loop nest per group
    if (inPlace_[node.result.index] < 0) // else stored in its state's buffer
      place(node, i);
    if (auto it = rowFusion_.find(node.result.index); it != rowFusion_.end())
      place(*fn_.definingNode(it->second.partner), i);
    freeDying(i);
  }
}

void FunctionEmitter::fill(ValueId v, double value) {
  DType d = type(v).dtype;
  forRange(type(v).numElements(), [&](Value *i) { storeFlat(v, i, constantOf(d, value)); });
}

/// Copies the elements of `from` (through its access map) into contiguous storage at toPtr.
void FunctionEmitter::copy(ValueId from, Value *toPtr, int toClass) {
  copyAccess(accessOf(from), type(from), toPtr, toClass);
}

void FunctionEmitter::copyAccess(const Access &a, const TensorType &t, Value *toPtr, int toClass) {
  DType d = t.dtype;
  V64 strides = rowMajorStrides(t.shape);
  forShape(t.shape, [&](const std::vector<Value *> &idx) {
    Value *x = load(a, d, idx);
    if (d == DType::I1)
      x = b_.CreateZExt(x, b_.getInt8Ty());
    tagClass(b_.CreateStore(x, b_.CreateInBoundsGEP(memType(d), toPtr, affine(0, strides, idx))), toClass);
  });
}

Value *FunctionEmitter::scalarOp(const Node &n, const std::vector<Value *> &x) {
  DType d = n.type.dtype;
  bool flt = isFloat(d);
  auto cst = [&](double v) { return constantOf(d, v); };
  switch (n.op) {
  case OpKind::Neg: return flt ? b_.CreateFNeg(x[0]) : b_.CreateNeg(x[0]);
  case OpKind::Exp: return emitExp(b_, x[0]);
  case OpKind::Log: return emitLog(b_, x[0]);
  case OpKind::Log1p: return emitLog1p(b_, x[0]);
  case OpKind::Sqrt: return call(llvm::Intrinsic::sqrt, x[0]);
  case OpKind::Rsqrt: return b_.CreateFDiv(cst(1), call(llvm::Intrinsic::sqrt, x[0]));
  case OpKind::Abs:
    return flt ? call(llvm::Intrinsic::fabs, x[0])
               : b_.CreateIntrinsic(llvm::Intrinsic::abs, {x[0]->getType()}, {x[0], b_.getFalse()});
  case OpKind::Sign: {
    Value *zero = flt ? cst(0) : b_.getInt32(0);
    Value *pos = flt ? b_.CreateFCmpOGT(x[0], zero) : b_.CreateICmpSGT(x[0], zero);
    Value *neg = flt ? b_.CreateFCmpOLT(x[0], zero) : b_.CreateICmpSLT(x[0], zero);
    return b_.CreateSelect(pos, cst(1), b_.CreateSelect(neg, cst(-1), x[0]));
  }
  case OpKind::Square: return flt ? b_.CreateFMul(x[0], x[0]) : b_.CreateMul(x[0], x[0]);
  case OpKind::Sigmoid: return emitSigmoid(b_, x[0]);
  case OpKind::Tanh: return emitTanh(b_, x[0]);
  case OpKind::Relu: return b_.CreateSelect(b_.CreateFCmpOGT(x[0], cst(0)), x[0], cst(0));
  case OpKind::LeakyRelu:
    return b_.CreateSelect(b_.CreateFCmpOGT(x[0], cst(0)), x[0],
                           b_.CreateFMul(x[0], cst(n.attrs.getFloat("alpha", 0.01))));
  case OpKind::Softplus: return emitSoftplus(b_, x[0]);
  case OpKind::PowC: {
    double e = n.attrs.getFloat("exponent");
    if (e == 1) return x[0];
    if (e == 2) return b_.CreateFMul(x[0], x[0]);
    if (e == 0.5) return call(llvm::Intrinsic::sqrt, x[0]);
    if (e == -1) return b_.CreateFDiv(cst(1), x[0]);
    return call2(llvm::Intrinsic::pow, x[0], cst(e));
  }
  case OpKind::Cast: {
    DType from = type(n.operands[0]).dtype;
    Value *v = x[0];
    if (from == d) return v;
    llvm::Type *to = valueType(d);
    if (d == DType::I1)
      return isFloat(from) ? b_.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0))
                           : b_.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
    if (from == DType::I1)
      return flt ? b_.CreateUIToFP(v, to) : b_.CreateZExt(v, to);
    if (isFloat(from) && flt) return b_.CreateFPCast(v, to);
    if (isFloat(from)) // NaN -> 0, saturating, truncating: as the interpreter defines it
      return b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {to, v->getType()}, {v});
    return b_.CreateSIToFP(v, to);
  }
  case OpKind::Add: return flt ? b_.CreateFAdd(x[0], x[1]) : b_.CreateAdd(x[0], x[1]);
  case OpKind::Sub: return flt ? b_.CreateFSub(x[0], x[1]) : b_.CreateSub(x[0], x[1]);
  case OpKind::Mul: return flt ? b_.CreateFMul(x[0], x[1]) : b_.CreateMul(x[0], x[1]);
  case OpKind::Div: {
    if (flt) return b_.CreateFDiv(x[0], x[1]);
    // Integer division by zero gives 0 instead of trapping.
    Value *zero = b_.CreateICmpEQ(x[1], b_.getInt32(0));
    Value *q = b_.CreateSDiv(x[0], b_.CreateSelect(zero, b_.getInt32(1), x[1]));
    return b_.CreateSelect(zero, b_.getInt32(0), q);
  }
  case OpKind::Max:
    return flt ? fmax(x[0], x[1]) : b_.CreateIntrinsic(llvm::Intrinsic::smax, {x[0]->getType()}, {x[0], x[1]});
  case OpKind::Min:
    return flt ? call2(llvm::Intrinsic::minnum, x[0], x[1])
               : b_.CreateIntrinsic(llvm::Intrinsic::smin, {x[0]->getType()}, {x[0], x[1]});
  case OpKind::Cmp: {
    auto p = parseCmpPredicate(n.attrs.getString("predicate")).value_or(CmpPredicate::EQ);
    bool f = isFloat(type(n.operands[0]).dtype);
    using P = llvm::CmpInst::Predicate;
    static const P fp[] = {P::FCMP_OLT, P::FCMP_OLE, P::FCMP_OGT, P::FCMP_OGE, P::FCMP_OEQ, P::FCMP_UNE};
    static const P ip[] = {P::ICMP_SLT, P::ICMP_SLE, P::ICMP_SGT, P::ICMP_SGE, P::ICMP_EQ, P::ICMP_NE};
    int k = static_cast<int>(p);
    return f ? b_.CreateFCmp(fp[k], x[0], x[1]) : b_.CreateICmp(ip[k], x[0], x[1]);
  }
  case OpKind::Select: return b_.CreateSelect(x[0], x[1], x[2]);
  case OpKind::BceWithLogits: {
    // max(x,0) - x*t + log1p(e^-|x|)
    Value *a = call(llvm::Intrinsic::fabs, x[0]);
    Value *l = emitLog1p(b_, emitExp(b_, b_.CreateFNeg(a)));
    return b_.CreateFAdd(b_.CreateFSub(fmax(x[0], cst(0)), b_.CreateFMul(x[0], x[1])), l);
  }
  default:
    return nullptr;
  }
}

/// The element of `v` at `idx`: computed in place for a fused producer, else read through its
/// access map.
Value *FunctionEmitter::valueAt(ValueId v, const std::vector<Value *> &idx) {
  if (auto it = groupValues_.find(v.index); it != groupValues_.end())
    return it->second;
  if (fused_[v.index]) {
    const Node &p = *fn_.definingNode(v);
    std::vector<Value *> x;
    for (ValueId o : p.operands)
      x.push_back(valueAt(o, idx));
    return scalarOp(p, x);
  }
  return load(accessOf(v), type(v).dtype, idx);
}

void FunctionEmitter::emitElementwise(const Node &n) {
  V64 strides = rowMajorStrides(n.type.shape);
  forShape(n.type.shape, [&](const std::vector<Value *> &idx) {
    std::vector<Value *> x;
    for (ValueId o : n.operands)
      x.push_back(valueAt(o, idx));
    storeFlat(n.result, affine(0, strides, idx), scalarOp(n, x));
  });
}

/// The members of a loop group (planGroups), element by element in one loop nest over rows
/// [rowBegin, rowEnd) of their common shape. A member reads an earlier one directly at the
/// same element, so it takes the value just computed rather than loading it back.
void FunctionEmitter::emitGroupRows(const std::vector<const Node *> &group, Value *rowBegin, Value *rowEnd) {
  const V64 &shape = group[0]->type.shape;
  V64 strides = rowMajorStrides(shape);
  forShapeRows(shape, rowBegin, rowEnd, [&](const std::vector<Value *> &idx) {
    Value *flat = affine(0, strides, idx);
    for (const Node *n : group) {
      std::vector<Value *> x;
      for (ValueId o : n->operands)
        x.push_back(valueAt(o, idx));
      Value *y = scalarOp(*n, x);
      storeFlat(n->result, flat, y);
      groupValues_[n->result.index] = y;
    }
    groupValues_.clear();
  });
}

/// An elementwise kernel or loop group: large ones (at least two rows and 2^15 elements) are
/// split into row blocks over threads (parallelRows).
void FunctionEmitter::emitLoopGroup(const std::vector<const Node *> &group) {
  const V64 &shape = group[0]->type.shape;
  int64_t rows = shape.empty() ? 1 : shape[0];
  parallelRows(rows, product(shape) >= (int64_t(1) << 15), shape.size() == 1 ? 64 : 1,
               [&](Value *begin, Value *end) { emitGroupRows(group, begin, end); });
}

/// body(begin, end) computes rows [begin, end) of a kernel whose rows are independent. With
/// threads, `parallel-loops` and `large`, the rows are split into one block per thread (a
/// multiple of `granule` rows): body is emitted into a task function that rebinds every buffer
/// from {buffers, arena} and runs under nnc_parallel_for. Each element is computed the same way
/// whatever the split, so the results do not depend on the thread count.
void FunctionEmitter::parallelRows(int64_t rows, bool large, int64_t granule,
                                   const std::function<void(Value *, Value *)> &body) {
  if (!opts_.parallelLoops || opts_.threads < 2 || rows < 2 || !large)
    return body(c64(0), c64(rows));
  int64_t chunk = (rows + opts_.threads - 1) / opts_.threads;
  chunk = (chunk + granule - 1) / granule * granule;
  int64_t blocks = (rows + chunk - 1) / chunk;
  // void task(ptr ctx, i64 i): rows [i*chunk, min((i+1)*chunk, rows)); ctx = {buffers, arena}.
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64()}, false);
  auto *task = llvm::Function::Create(ty, llvm::Function::InternalLinkage, f_->getName() + ".rows", m_);
  llvm::Function *savedF = f_;
  llvm::BasicBlock *savedEntry = entry_;
  std::vector<Value *> savedPtr = ptr_;
  auto savedIP = b_.saveIP();
  f_ = task;
  entry_ = llvm::BasicBlock::Create(ctx_, "entry", task);
  b_.SetInsertPoint(entry_);
  Value *ctx = task->getArg(0), *i = task->getArg(1);
  Value *buffers = b_.CreateLoad(b_.getPtrTy(), ctx);
  Value *arena = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), ctx, 1));
  bindStorage(buffers, arena);
  Value *begin = b_.CreateMul(i, c64(chunk), "", true, true);
  Value *end = b_.CreateAdd(begin, c64(chunk), "", true, true);
  end = b_.CreateSelect(b_.CreateICmpSLT(end, c64(rows)), end, c64(rows));
  body(begin, end);
  b_.CreateRetVoid();
  f_ = savedF;
  entry_ = savedEntry;
  ptr_ = std::move(savedPtr);
  b_.restoreIP(savedIP);
  llvm::IRBuilder<> eb(entry_, entry_->begin());
  Value *taskCtx = eb.CreateAlloca(b_.getPtrTy(), b_.getInt32(2));
  b_.CreateStore(buffers_, taskCtx);
  b_.CreateStore(arena_, b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), taskCtx, 1));
  b_.CreateCall(parallelFor(), {c64(blocks), task, taskCtx});
}

void FunctionEmitter::emitReduce(const Node &n) {
  ValueId x = n.operands[0];
  const V64 &shape = type(x).shape;
  V64 axes = n.attrs.getInts("axes");
  DType d = n.type.dtype;
  bool isMax = n.op == OpKind::ReduceMax;
  // Output strides over the input's dimensions: 0 on reduced axes.
  V64 keptShape, outStrides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i)
    if (std::find(axes.begin(), axes.end(), int64_t(i)) == axes.end())
      keptShape.push_back(shape[i]);
  V64 ks = rowMajorStrides(keptShape);
  int64_t count = 1;
  for (size_t i = 0, k = 0; i < shape.size(); ++i) {
    if (std::find(axes.begin(), axes.end(), int64_t(i)) == axes.end())
      outStrides[i] = ks[k++];
    else
      count *= shape[i];
  }
  fill(n.result, isMax ? -INFINITY : 0);
  Access a = accessOf(x);
  forShape(shape, [&](const std::vector<Value *> &idx) {
    Value *o = affine(0, outStrides, idx);
    Value *acc = loadFlat(n.result, o);
    Value *v = load(a, d, idx);
    Value *r = isMax ? (isFloat(d) ? fmax(acc, v) : b_.CreateIntrinsic(llvm::Intrinsic::smax, {v->getType()}, {acc, v}))
                     : (isFloat(d) ? b_.CreateFAdd(acc, v) : b_.CreateAdd(acc, v));
    storeFlat(n.result, o, r);
  });
  if (n.op == OpKind::ReduceMean) {
    Value *scale = constantOf(d, 1.0 / double(count));
    forRange(n.type.numElements(), [&](Value *i) {
      Value *v = loadFlat(n.result, i);
      storeFlat(n.result, i, isFloat(d) ? b_.CreateFMul(v, scale) : b_.CreateSDiv(v, b_.getInt32(int32_t(count))));
    });
  }
}

/// How a matrix product is split over threads: `blocks` row blocks of `rows` rows (a multiple
/// of the microkernel's MR), each with `scratchBytes` of its own packing scratch.
FunctionEmitter::MatMulSplit FunctionEmitter::splitOf(const Node &n) const {
  const V64 &as = type(n.operands[0]).shape, &bs = type(n.operands[1]).shape;
  size_t r = as.size();
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  MatMulSplit s;
  s.M = ta ? as[r - 1] : as[r - 2];
  s.K = ta ? as[r - 2] : as[r - 1];
  s.N = tb ? bs[r - 2] : bs[r - 1];
  bool f64 = n.type.dtype == DType::F64;
  const GemmSpec &spec = f64 ? dgemmSpec_ : isNarrow(n) ? narrowSpec_ : sgemmSpec_;
  int64_t mr = spec.mr;
  // Worth splitting only when every block still has real work (about 2 MFLOP).
  int64_t work = s.M * s.N * s.K;
  int64_t blocks = std::min<int64_t>(opts_.threads, (s.M + mr - 1) / mr);
  if (blocks > 1 && work >= (int64_t(1) << 20)) {
    s.blocks = blocks;
    s.rows = ((s.M + blocks - 1) / blocks + mr - 1) / mr * mr;
    s.blocks = (s.M + s.rows - 1) / s.rows;
  } else {
    s.blocks = 1;
    s.rows = s.M;
  }
  s.scratchBytes = (gemmScratchElements(spec, s.rows, s.N, s.K) * (f64 ? 8 : 4) + 63) / 64 * 64;
  return s;
}

/// C = op(A)·op(B) into the storage of `into` (the product itself, or the elementwise kernel
/// its epilogue `ep` computes).
void FunctionEmitter::emitMatMul(const Node &n, ValueId into, const Epilogue *ep) {
  ValueId a = n.operands[0], b = n.operands[1];
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  const V64 &as = type(a).shape, &bs = type(b).shape;
  size_t r = as.size();
  int64_t aRows = as[r - 2], aCols = as[r - 1], bRows = bs[r - 2], bCols = bs[r - 1];
  int64_t M = ta ? aCols : aRows, K = ta ? aRows : aCols, N = tb ? bRows : bCols;
  int64_t batches = product(V64(as.begin(), as.end() - 2));
  bool f64 = n.type.dtype == DType::F64;
  bool narrow = isNarrow(n);
  llvm::Function *gemm = narrow ? sgemmNarrow_ : ep ? sgemmEpilogue_ : f64 ? dgemm_ : sgemm_;
  llvm::Type *t = valueType(n.type.dtype);
  int32_t flags = (ta ? GemmTransposeA : 0) | (tb ? GemmTransposeB : 0);
  Value *scratch = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, c64(gemmScratchOffset_));
  Value *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
  Value *bias = ep && ep->bias.valid() ? b_.CreateInBoundsGEP(t, ptr_[ep->bias.index], c64(ep->biasOffset)) : null;
  Value *aux = ep && ep->aux.valid() ? ptr_[ep->aux.index] : null;
  MatMulSplit split = splitOf(n);
  for (int64_t bi = 0; bi < batches; ++bi) {
    Value *A = b_.CreateInBoundsGEP(t, ptr_[a.index], c64(bi * aRows * aCols));
    Value *B = b_.CreateInBoundsGEP(t, ptr_[b.index], c64(bi * bRows * bCols));
    Value *C = b_.CreateInBoundsGEP(t, ptr_[into.index], c64(bi * M * N));
    if (split.blocks == 1) {
      std::vector<Value *> args{c64(M), c64(N), c64(K), A, c64(aCols), B, c64(bCols), C, c64(N),
                                b_.getInt32(flags), scratch};
      if (ep || narrow)
        args.insert(args.end(), {bias, aux, b_.getInt32(ep ? ep->kind : 0)});
      b_.CreateCall(gemm, args);
      continue;
    }
    // Row block i of C = op(A) rows [i*rows, ...) times op(B), on its own scratch; the
    // context holds A, B, C, the scratch base, the bias and the aux tensor.
    Epilogue none;
    llvm::Function *task = rowBlockTask(gemm, split, ta, aCols, bCols, flags, t, ep ? ep : narrow ? &none : nullptr);
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    Value *ctx = eb.CreateAlloca(b_.getPtrTy(), b_.getInt32(6));
    Value *parts[] = {A, B, C, scratch, bias, aux};
    for (int k = 0; k < 6; ++k)
      b_.CreateStore(parts[k], b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), ctx, k));
    b_.CreateCall(parallelFor(), {c64(split.blocks), task, ctx});
  }
}

llvm::FunctionCallee FunctionEmitter::parallelFor() {
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), {i64(), b_.getPtrTy(), b_.getPtrTy()}, false);
  return m_.getOrInsertFunction(kParallelForSymbol, ty);
}

/// void task(ptr ctx, i64 i): the GEMM of row block i, as nnc_parallel_for calls it.
llvm::Function *FunctionEmitter::rowBlockTask(llvm::Function *gemm, const MatMulSplit &split, bool ta,
                                              int64_t lda, int64_t ldb, int32_t flags, llvm::Type *t,
                                              const Epilogue *ep) {
  auto *ty = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64()}, false);
  auto *f = llvm::Function::Create(ty, llvm::Function::InternalLinkage, f_->getName() + ".rows", m_);
  llvm::IRBuilder<> tb(llvm::BasicBlock::Create(ctx_, "entry", f));
  tb.setFastMathFlags(b_.getFastMathFlags());
  Value *ctx = f->getArg(0), *i = f->getArg(1);
  auto part = [&](int k) { return tb.CreateLoad(tb.getPtrTy(), tb.CreateConstInBoundsGEP1_64(tb.getPtrTy(), ctx, k)); };
  Value *A = part(0), *B = part(1), *C = part(2), *scratch = part(3);
  Value *row0 = tb.CreateMul(i, tb.getInt64(split.rows));
  Value *rows = tb.CreateSelect(tb.CreateICmpSLT(tb.CreateSub(tb.getInt64(split.M), row0), tb.getInt64(split.rows)),
                                tb.CreateSub(tb.getInt64(split.M), row0), tb.getInt64(split.rows));
  // Row r of op(A) starts at A + r*lda, or at column r (A + r) when A is stored transposed.
  Value *Ai = tb.CreateInBoundsGEP(t, A, ta ? row0 : tb.CreateMul(row0, tb.getInt64(lda)));
  Value *Ci = tb.CreateInBoundsGEP(t, C, tb.CreateMul(row0, tb.getInt64(split.N)));
  Value *Si = tb.CreateInBoundsGEP(tb.getInt8Ty(), scratch, tb.CreateMul(i, tb.getInt64(split.scratchBytes)));
  std::vector<Value *> args{rows, tb.getInt64(split.N), tb.getInt64(split.K), Ai, tb.getInt64(lda), B,
                            tb.getInt64(ldb), Ci, tb.getInt64(split.N), tb.getInt32(flags), Si};
  if (ep) {
    // The bias is per column, the same for every block; aux has C's layout.
    Value *aux = part(5);
    Value *auxI = tb.CreateSelect(tb.CreateIsNull(aux), aux,
                                  tb.CreateInBoundsGEP(t, aux, tb.CreateMul(row0, tb.getInt64(split.N))));
    args.insert(args.end(), {part(4), auxI, tb.getInt32(ep->kind)});
  }
  tb.CreateCall(gemm, args);
  tb.CreateRetVoid();
  return f;
}

/// softmax, log_softmax, logsumexp along `axis`: m = max, s = sum e^(x - m), as the
/// interpreter defines them (an all -inf row uses m = 0).
void FunctionEmitter::emitNormalize(const Node &n) {
  ValueId x = n.operands[0];
  const V64 &shape = type(x).shape;
  int64_t axis = n.attrs.getInt("axis");
  int64_t outer = product(V64(shape.begin(), shape.begin() + axis)), len = shape[axis],
          inner = product(V64(shape.begin() + axis + 1, shape.end()));
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  forRange(outer, [&](Value *o) {
    forRange(inner, [&](Value *i) {
      auto at = [&](Value *j) {
        return b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(o, c64(len)), j), c64(inner)), i);
      };
      Value *m = localVar(t, constantOf(d, -INFINITY));
      forRange(len, [&](Value *j) { b_.CreateStore(fmax(b_.CreateLoad(t, m), loadFlat(x, at(j))), m); });
      Value *mv = b_.CreateLoad(t, m);
      Value *isInf = b_.CreateFCmpOEQ(mv, constantOf(d, -INFINITY));
      b_.CreateStore(b_.CreateSelect(isInf, constantOf(d, 0), mv), m);
      Value *s = localVar(t, constantOf(d, 0));
      forRange(len, [&](Value *j) {
        Value *e = emitExp(b_, b_.CreateFSub(loadFlat(x, at(j)), b_.CreateLoad(t, m)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, s), e), s);
      });
      Value *mFinal = b_.CreateLoad(t, m);
      Value *sFinal = b_.CreateLoad(t, s);
      if (n.op == OpKind::LogSumExp) {
        storeFlat(n.result, b_.CreateAdd(b_.CreateMul(o, c64(inner)), i),
                  b_.CreateFAdd(mFinal, emitLog(b_, sFinal)));
        return;
      }
      Value *inv = b_.CreateFDiv(constantOf(d, 1), sFinal);
      Value *logS = emitLog(b_, sFinal);
      forRange(len, [&](Value *j) {
        Value *v = b_.CreateFSub(loadFlat(x, at(j)), mFinal);
        storeFlat(n.result, at(j),
                  n.op == OpKind::Softmax ? b_.CreateFMul(emitExp(b_, v), inv) : b_.CreateFSub(v, logS));
      });
    });
  });
}

/// softmax_cross_entropy(z, y) and softmax(z) — or the gradient scale · (softmax(z) − one_hot(y))
/// — in one pass over each row: m = max z, e_j = e^(z_j − m) (m = 0 for an all −inf row, as
/// softmax defines it), s = Σ e_j; loss = m + log s − z_y (NaN for a label outside [0, C) or an
/// all −inf row, as softmax_cross_entropy defines it); softmax_j = e_j · (1/s). The e_j are kept
/// in the partner's row, then scaled in place.
void FunctionEmitter::emitSoftmaxCrossEntropyRows(const Node &n, const RowFusion &rf) {
  ValueId z = n.operands[0], labels = n.operands[1], out = rf.partner;
  int64_t C = type(z).shape.back(), rows = n.type.numElements();
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  forRange(rows, [&](Value *r) {
    auto [label, inRange, safe, base, picked] = labeledRow(z, labels, r, C);
    Value *m = localVar(t, constantOf(d, -INFINITY));
    forRange(C, [&](Value *j) { b_.CreateStore(fmax(b_.CreateLoad(t, m), loadFlat(z, b_.CreateAdd(base, j))), m); });
    Value *mv = b_.CreateLoad(t, m);
    Value *allInf = b_.CreateFCmpOEQ(mv, constantOf(d, -INFINITY));
    Value *shift = b_.CreateSelect(allInf, constantOf(d, 0), mv);
    Value *sum = localVar(t, constantOf(d, 0));
    forRange(C, [&](Value *j) {
      Value *at = b_.CreateAdd(base, j);
      Value *e = emitExp(b_, b_.CreateFSub(loadFlat(z, at), shift));
      storeFlat(out, at, e);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sum), e), sum);
    });
    Value *s = b_.CreateLoad(t, sum);
    Value *loss = b_.CreateFSub(b_.CreateFAdd(mv, emitLog(b_, s)), picked);
    loss = b_.CreateSelect(b_.CreateOr(allInf, b_.CreateNot(inRange)), constantOf(d, NAN), loss);
    storeFlat(n.result, r, loss);
    Value *inv = b_.CreateFDiv(constantOf(d, 1), s);
    forRange(C, [&](Value *j) {
      Value *at = b_.CreateAdd(base, j);
      Value *p = b_.CreateFMul(loadFlat(out, at), inv);
      if (rf.gradient) {
        Value *hot = b_.CreateSelect(b_.CreateICmpEQ(j, label), constantOf(d, 1), constantOf(d, 0));
        p = b_.CreateFSub(p, hot);
        if (rf.scale != 1)
          p = b_.CreateFMul(constantOf(d, rf.scale), p);
      }
      storeFlat(out, at, p);
    });
  });
}

/// softmax_cross_entropy and multiclass_hinge: one value per row of scores with an i32 label;
/// NaN for a label outside [0, C), as the interpreter defines it.
void FunctionEmitter::emitLabeledRows(const Node &n) {
  ValueId s = n.operands[0], labels = n.operands[1];
  int64_t C = type(s).shape.back(), rows = n.type.numElements();
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  forRange(rows, [&](Value *r) {
    auto [label, inRange, safe, base, picked] = labeledRow(s, labels, r, C);
    Value *result;
    if (n.op == OpKind::SoftmaxCrossEntropy) {
      Value *m = localVar(t, constantOf(d, -INFINITY));
      forRange(C, [&](Value *j) { b_.CreateStore(fmax(b_.CreateLoad(t, m), loadFlat(s, b_.CreateAdd(base, j))), m); });
      Value *sum = localVar(t, constantOf(d, 0));
      forRange(C, [&](Value *j) {
        Value *e = emitExp(b_, b_.CreateFSub(loadFlat(s, b_.CreateAdd(base, j)), b_.CreateLoad(t, m)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sum), e), sum);
      });
      result = b_.CreateFSub(b_.CreateFAdd(b_.CreateLoad(t, m), emitLog(b_, b_.CreateLoad(t, sum))), picked);
    } else {
      // sum over j != label of max(0, 1 + s_j - s_label)
      Value *sum = localVar(t, constantOf(d, 0));
      forRange(C, [&](Value *j) {
        Value *margin = b_.CreateFAdd(constantOf(d, 1), b_.CreateFSub(loadFlat(s, b_.CreateAdd(base, j)), picked));
        Value *term = b_.CreateSelect(b_.CreateICmpEQ(j, safe), constantOf(d, 0), fmax(margin, constantOf(d, 0)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t, sum), term), sum);
      });
      result = b_.CreateLoad(t, sum);
    }
    storeFlat(n.result, r, b_.CreateSelect(inRange, result, constantOf(d, NAN)));
  });
}

void FunctionEmitter::emitOneHot(const Node &n) {
  ValueId labels = n.operands[0];
  int64_t depth = n.attrs.getInt("depth");
  DType d = n.type.dtype;
  forRange(type(labels).numElements(), [&](Value *i) {
    Value *label = b_.CreateSExt(loadFlat(labels, i), i64());
    forRange(depth, [&](Value *k) {
      Value *hit = b_.CreateICmpEQ(label, k);
      storeFlat(n.result, b_.CreateAdd(b_.CreateMul(i, c64(depth)), k),
                b_.CreateSelect(hit, constantOf(d, 1), constantOf(d, 0)));
    });
  });
}

/// Rows of the table for each index; an index outside the table reads zeros.
void FunctionEmitter::emitGather(const Node &n) {
  ValueId table = n.operands[0], idx = n.operands[1];
  int64_t rows = type(table).shape[0];
  int64_t rowSize = product(V64(type(table).shape.begin() + 1, type(table).shape.end()));
  DType d = n.type.dtype;
  forRange(type(idx).numElements(), [&](Value *i) {
    Value *r = b_.CreateSExt(loadFlat(idx, i), i64());
    Value *ok = b_.CreateAnd(b_.CreateICmpSGE(r, c64(0)), b_.CreateICmpSLT(r, c64(rows)));
    Value *safe = b_.CreateSelect(ok, r, c64(0));
    forRange(rowSize, [&](Value *k) {
      Value *v = loadFlat(table, b_.CreateAdd(b_.CreateMul(safe, c64(rowSize)), k));
      storeFlat(n.result, b_.CreateAdd(b_.CreateMul(i, c64(rowSize)), k),
                b_.CreateSelect(ok, v, constantOf(d, 0)));
    });
  });
}

/// The adjoint of gather: rows of updates summed into their index's row; others dropped.
void FunctionEmitter::emitScatterAdd(const Node &n) {
  ValueId upd = n.operands[0], idx = n.operands[1];
  int64_t rows = n.attrs.getInt("rows");
  int64_t rowSize = product(V64(type(upd).shape.begin() + type(idx).rank(), type(upd).shape.end()));
  fill(n.result, 0);
  forRange(type(idx).numElements(), [&](Value *i) {
    Value *r = b_.CreateSExt(loadFlat(idx, i), i64());
    Value *ok = b_.CreateAnd(b_.CreateICmpSGE(r, c64(0)), b_.CreateICmpSLT(r, c64(rows)));
    auto *then = llvm::BasicBlock::Create(ctx_, "scatter", f_);
    auto *next = llvm::BasicBlock::Create(ctx_, "scattered", f_);
    b_.CreateCondBr(ok, then, next);
    b_.SetInsertPoint(then);
    forRange(rowSize, [&](Value *k) {
      Value *o = b_.CreateAdd(b_.CreateMul(r, c64(rowSize)), k);
      storeFlat(n.result, o, b_.CreateFAdd(loadFlat(n.result, o), loadFlat(upd, b_.CreateAdd(b_.CreateMul(i, c64(rowSize)), k))));
    });
    b_.CreateBr(next);
    b_.SetInsertPoint(next);
  });
}

/// The counter-based generator of ir/Random.h, bit for bit.
void FunctionEmitter::emitRandom(const Node &n) {
  auto mix = [&](Value *z) {
    z = b_.CreateXor(z, b_.CreateLShr(z, 30));
    z = b_.CreateMul(z, b_.getInt64(0xbf58476d1ce4e5b9ull));
    z = b_.CreateXor(z, b_.CreateLShr(z, 27));
    z = b_.CreateMul(z, b_.getInt64(0x94d049bb133111ebull));
    return b_.CreateXor(z, b_.CreateLShr(z, 31));
  };
  uint64_t seed = static_cast<uint64_t>(n.attrs.getInt("seed"));
  Value *counter = b_.CreateZExt(loadFlat(n.operands[0], c64(0)), i64());
  Value *k = mix(b_.CreateXor(b_.getInt64(seed), b_.CreateMul(b_.CreateAdd(counter, c64(1)), b_.getInt64(0x9e3779b97f4a7c15ull))));
  DType d = n.type.dtype;
  bool bernoulli = n.op == OpKind::RandomBernoulli;
  double p = n.attrs.getFloat("p");
  forRange(n.type.numElements(), [&](Value *i) {
    Value *bits = b_.CreateTrunc(b_.CreateLShr(mix(b_.CreateAdd(k, b_.CreateMul(b_.CreateAdd(i, c64(1)), b_.getInt64(0xd1b54a32d192ed03ull)))), 32), b_.getInt32Ty());
    Value *top = b_.CreateLShr(bits, 8);
    Value *x;
    if (bernoulli) {
      // uniform < p  <=>  top < ceil(p * 2^24), exact since p * 2^24 is exact in double.
      double limit = std::ceil(std::clamp(p, 0.0, 1.0) * 16777216.0);
      x = b_.CreateSelect(b_.CreateICmpULT(top, b_.getInt32(uint32_t(limit))), constantOf(d, 1), constantOf(d, 0));
    } else {
      x = b_.CreateFMul(b_.CreateUIToFP(top, valueType(d)), constantOf(d, 1.0 / 16777216.0));
    }
    storeFlat(n.result, i, x);
  });
}

void FunctionEmitter::emitIota(const Node &n) {
  int64_t axis = n.attrs.getInt("axis");
  V64 strides = rowMajorStrides(n.type.shape);
  forShape(n.type.shape, [&](const std::vector<Value *> &idx) {
    storeFlat(n.result, affine(0, strides, idx), fromIndex(idx[axis], n.type.dtype));
  });
}

void FunctionEmitter::emitPad(const Node &n) {
  ValueId x = n.operands[0];
  V64 low = n.attrs.getInts("low");
  fill(n.result, 0);
  V64 outStrides = rowMajorStrides(n.type.shape);
  int64_t offset = 0;
  for (size_t d = 0; d < low.size(); ++d)
    offset += low[d] * outStrides[d];
  Access a = accessOf(x);
  forShape(type(x).shape, [&](const std::vector<Value *> &idx) {
    storeFlat(n.result, affine(offset, outStrides, idx), load(a, type(x).dtype, idx));
  });
}

void FunctionEmitter::emitConcat(const Node &n) {
  int64_t axis = n.attrs.getInt("axis"), at = 0;
  V64 outStrides = rowMajorStrides(n.type.shape);
  for (ValueId x : n.operands) {
    Access a = accessOf(x);
    forShape(type(x).shape, [&](const std::vector<Value *> &idx) {
      storeFlat(n.result, affine(at * outStrides[axis], outStrides, idx), load(a, type(x).dtype, idx));
    });
    at += type(x).shape[axis];
  }
}

/// conv2d and its two adjoints share one loop nest over (n, o, oy, ox, c, ky, kx) with the
/// in-bounds test of the interpreter's Window: y[n,o,oy,ox] += x[n,c,iy,ix] * w[o,c,ky,kx].
void FunctionEmitter::emitConv(const Node &n) {
  ValueId x, w, y; // the roles in the forward convolution
  V64 xs, ws, ys;
  if (n.op == OpKind::Conv2D) {
    x = n.operands[0], w = n.operands[1], y = n.result;
    xs = type(x).shape, ws = type(w).shape, ys = n.type.shape;
  } else if (n.op == OpKind::Conv2DGradInput) { // (dy, w) -> dx
    y = n.operands[0], w = n.operands[1], x = n.result;
    xs = n.type.shape, ws = type(w).shape, ys = type(y).shape;
  } else { // Conv2DGradWeight: (x, dy) -> dw
    x = n.operands[0], y = n.operands[1], w = n.result;
    xs = type(x).shape, ws = n.type.shape, ys = type(y).shape;
  }
  V64 stride = n.attrs.getInts("stride", {1, 1}), pad = n.attrs.getInts("pad", {0, 0});
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], KH = ws[2], KW = ws[3];
  int64_t OH = ys[2], OW = ys[3];
  DType d = n.type.dtype;
  fill(n.result, 0);
  // The convolution and the input gradient write batch element ni's output only: their batch
  // is split over threads. The weight gradient sums over the batch, so it is split over the
  // output channels o instead, with the batch inside; each element's terms are added in the
  // same order either way.
  bool weightGrad = n.op == OpKind::Conv2DGradWeight;
  auto point = [&](Value *ni, Value *o) { forRange(OH, [&](Value *oy) { forRange(OW, [&](Value *ox) {
    Value *yi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(ni, c64(O)), o), c64(OH)), oy), c64(OW)), ox);
    forRange(C, [&](Value *c) { forRange(KH, [&](Value *ky) { forRange(KW, [&](Value *kx) {
      Value *iy = b_.CreateAdd(b_.CreateSub(b_.CreateMul(oy, c64(stride[0])), c64(pad[0])), ky);
      Value *ix = b_.CreateAdd(b_.CreateSub(b_.CreateMul(ox, c64(stride[1])), c64(pad[1])), kx);
      Value *ok = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c64(0)), b_.CreateICmpSLT(iy, c64(H))),
                               b_.CreateAnd(b_.CreateICmpSGE(ix, c64(0)), b_.CreateICmpSLT(ix, c64(W))));
      auto *then = llvm::BasicBlock::Create(ctx_, "inside", f_);
      auto *next = llvm::BasicBlock::Create(ctx_, "outside", f_);
      b_.CreateCondBr(ok, then, next);
      b_.SetInsertPoint(then);
      Value *xi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(ni, c64(C)), c), c64(H)), iy), c64(W)), ix);
      Value *wi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(o, c64(C)), c), c64(KH)), ky), c64(KW)), kx);
      Value *target = n.op == OpKind::Conv2D ? yi : n.op == OpKind::Conv2DGradInput ? xi : wi;
      Value *p = n.op == OpKind::Conv2D ? b_.CreateFMul(loadFlat(x, xi), loadFlat(w, wi))
                 : n.op == OpKind::Conv2DGradInput ? b_.CreateFMul(loadFlat(y, yi), loadFlat(w, wi))
                                                  : b_.CreateFMul(loadFlat(y, yi), loadFlat(x, xi));
      storeFlat(n.result, target, b_.CreateFAdd(loadFlat(n.result, target), p));
      b_.CreateBr(next);
      b_.SetInsertPoint(next);
    }); }); });
  }); }); };
  bool large = N * O * OH * OW * C * KH * KW >= (int64_t(1) << 18);
  parallelRows(weightGrad ? O : N, large, 1, [&](Value *begin, Value *end) {
    forRange(begin, end, [&](Value *r) {
      forRange(weightGrad ? N : O, [&](Value *q) { weightGrad ? point(q, r) : point(r, q); });
    });
  });
  (void)d;
}

/// maxpool2d, avgpool2d and their adjoints over the interpreter's Window geometry.
void FunctionEmitter::emitPool(const Node &n) {
  bool grad = n.op == OpKind::MaxPool2DGrad || n.op == OpKind::AvgPool2DGrad;
  bool isMax = n.op == OpKind::MaxPool2D || n.op == OpKind::MaxPool2DGrad;
  V64 xs = n.op == OpKind::MaxPool2DGrad ? type(n.operands[0]).shape : grad ? n.type.shape : type(n.operands[0]).shape;
  V64 ys = n.op == OpKind::MaxPool2DGrad ? type(n.operands[1]).shape : grad ? type(n.operands[0]).shape : n.type.shape;
  V64 k = n.attrs.getInts("kernel"), s = n.attrs.getInts("stride"), p = n.attrs.getInts("pad", {0, 0});
  int64_t NC = xs[0] * xs[1], H = xs[2], W = xs[3], OH = ys[2], OW = ys[3];
  DType d = n.type.dtype;
  llvm::Type *t = valueType(d);
  double area = double(k[0] * k[1]);
  fill(n.result, n.op == OpKind::MaxPool2D ? -INFINITY : 0);
  // Each (batch, channel) plane is independent: the planes are split over threads.
  auto plane = [&](Value *nc) { forRange(OH, [&](Value *oy) { forRange(OW, [&](Value *ox) {
    Value *yi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(OH)), oy), c64(OW)), ox);
    // For the max adjoint: the first position (row-major) holding the window's maximum.
    Value *best = isMax && grad ? localVar(i64(), c64(-1)) : nullptr;
    forRange(k[0], [&](Value *ky) { forRange(k[1], [&](Value *kx) {
      Value *iy = b_.CreateAdd(b_.CreateSub(b_.CreateMul(oy, c64(s[0])), c64(p[0])), ky);
      Value *ix = b_.CreateAdd(b_.CreateSub(b_.CreateMul(ox, c64(s[1])), c64(p[1])), kx);
      Value *ok = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c64(0)), b_.CreateICmpSLT(iy, c64(H))),
                               b_.CreateAnd(b_.CreateICmpSGE(ix, c64(0)), b_.CreateICmpSLT(ix, c64(W))));
      auto *then = llvm::BasicBlock::Create(ctx_, "inside", f_);
      auto *next = llvm::BasicBlock::Create(ctx_, "outside", f_);
      b_.CreateCondBr(ok, then, next);
      b_.SetInsertPoint(then);
      Value *xi = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(nc, c64(H)), iy), c64(W)), ix);
      switch (n.op) {
      case OpKind::MaxPool2D:
        storeFlat(n.result, yi, fmax(loadFlat(n.result, yi), loadFlat(n.operands[0], xi)));
        break;
      case OpKind::AvgPool2D:
        storeFlat(n.result, yi, b_.CreateFAdd(loadFlat(n.result, yi), b_.CreateFDiv(loadFlat(n.operands[0], xi), constantOf(d, area))));
        break;
      case OpKind::AvgPool2DGrad:
        storeFlat(n.result, xi, b_.CreateFAdd(loadFlat(n.result, xi), b_.CreateFDiv(loadFlat(n.operands[0], yi), constantOf(d, area))));
        break;
      default: { // MaxPool2DGrad: track the first maximum
        Value *cur = b_.CreateLoad(i64(), best);
        Value *none = b_.CreateICmpSLT(cur, c64(0));
        Value *safe = b_.CreateSelect(none, xi, cur);
        Value *greater = b_.CreateFCmpOGT(loadFlat(n.operands[0], xi), loadFlat(n.operands[0], safe));
        b_.CreateStore(b_.CreateSelect(b_.CreateOr(none, greater), xi, cur), best);
      }
      }
      b_.CreateBr(next);
      b_.SetInsertPoint(next);
    }); });
    if (best) {
      Value *at = b_.CreateLoad(i64(), best);
      auto *then = llvm::BasicBlock::Create(ctx_, "route", f_);
      auto *next = llvm::BasicBlock::Create(ctx_, "routed", f_);
      b_.CreateCondBr(b_.CreateICmpSGE(at, c64(0)), then, next);
      b_.SetInsertPoint(then);
      storeFlat(n.result, at, b_.CreateFAdd(loadFlat(n.result, at), loadFlat(n.operands[1], yi)));
      b_.CreateBr(next);
      b_.SetInsertPoint(next);
    }
    (void)t;
  }); }); };
  parallelRows(NC, NC * OH * OW * k[0] * k[1] >= (int64_t(1) << 16), 1,
               [&](Value *begin, Value *end) { forRange(begin, end, plane); });
}

void FunctionEmitter::emitNode(const Node &n) {
  switch (n.op) {
  case OpKind::Reshape:
    return; // aliases its operand
  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax: return emitReduce(n);
  case OpKind::MatMul: return emitMatMul(n, n.result);
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
  case OpKind::LogSumExp: return emitNormalize(n);
  case OpKind::SoftmaxCrossEntropy:
  case OpKind::MulticlassHinge: return emitLabeledRows(n);
  case OpKind::OneHot: return emitOneHot(n);
  case OpKind::Gather: return emitGather(n);
  case OpKind::ScatterAdd: return emitScatterAdd(n);
  case OpKind::RandomUniform:
  case OpKind::RandomBernoulli: return emitRandom(n);
  case OpKind::Iota: return emitIota(n);
  case OpKind::Pad: return emitPad(n);
  case OpKind::Concat: return emitConcat(n);
  case OpKind::Conv2D:
  case OpKind::Conv2DGradInput:
  case OpKind::Conv2DGradWeight: return emitConv(n);
  case OpKind::MaxPool2D:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2D:
  case OpKind::AvgPool2DGrad: return emitPool(n);
  case OpKind::Broadcast:
  case OpKind::Transpose:
  case OpKind::Slice:
  case OpKind::Constant:
    // A view that must be stored: copy it through its access map.
    return copyAccess(viewAccess(n), n.type, ptr_[n.result.index], aliasClass_[n.result.index]);
  default:
    return emitElementwise(n);
  }
}

llvm::Expected<FunctionABI> FunctionEmitter::emit(const std::string &symbol) {
  FunctionABI abi;
  abi.symbol = symbol;
  for (const Argument &a : fn_.arguments())
    abi.argTypes.push_back(a.type);
  for (const FunctionResult &r : fn_.results())
    abi.resultTypes.push_back(fn_.type(r.value));

  planAll();
  // GEMM routines, once per module, and their shared scratch in the arena.
  int64_t scratchElems = 0;
  bool needF32 = false, needF64 = false;
  for (const Node &n : fn_.nodes())
    if (n.op == OpKind::MatMul) {
      (n.type.dtype == DType::F64 ? needF64 : needF32) = true;
    }
  // The routines (or their declarations when another module provides them).
  if (needF32) {
    sgemmSpec_ = GemmSpec::forHost(opts_.vectorBits, false);
    sgemm_ = gemmRoutine(sgemmSpec_);
    scratchElems = std::max(scratchElems, gemmScratchElements(sgemmSpec_, sgemmSpec_.mc, sgemmSpec_.nc, sgemmSpec_.kc) * 4);
    sgemmNarrow_ = gemmRoutine(narrowSpec_);
  }
  if (needF64) {
    dgemmSpec_ = GemmSpec::forHost(opts_.vectorBits, true);
    dgemm_ = gemmRoutine(dgemmSpec_);
    scratchElems = std::max(scratchElems, gemmScratchElements(dgemmSpec_, dgemmSpec_.mc, dgemmSpec_.nc, dgemmSpec_.kc) * 8);
  }
  // Epilogue products are f32 matmul nodes, so sgemmSpec_ (the same blocking) sizes their scratch.
  if (!epilogue_.empty())
    sgemmEpilogue_ = gemmRoutine(GemmSpec::withActivationEpilogue(opts_.vectorBits));
  // Bound the scratch by the largest product actually compiled rather than the block sizes.
  if (scratchElems > 0) {
    int64_t need = 0;
    for (const Node &n : fn_.nodes())
      if (n.op == OpKind::MatMul) {
        MatMulSplit split = splitOf(n);
        need = std::max(need, split.blocks * split.scratchBytes);
      }
    gemmScratchBytes_ = need;
    gemmScratchOffset_ = allocate(need);
  }

  auto *fnTy = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), b_.getPtrTy()}, false);
  f_ = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage, symbol, m_);
  f_->addParamAttr(0, llvm::Attribute::NoAlias);
  f_->addParamAttr(1, llvm::Attribute::NoAlias);
  f_->addParamAttr(1, llvm::Attribute::getWithAlignment(ctx_, llvm::Align(64)));
  entry_ = llvm::BasicBlock::Create(ctx_, "entry", f_);
  b_.SetInsertPoint(entry_);
  llvm::FastMathFlags fmf;
  fmf.setAllowReassoc();
  fmf.setNoSignedZeros();
  fmf.setAllowContract();
  fmf.setAllowReciprocal();
  fmf.setApproxFunc();
  b_.setFastMathFlags(fmf);
  Value *buffers = buffers_ = f_->getArg(0);
  arena_ = f_->getArg(1);

  planArena();
  planAliasClasses();
  const auto &args = fn_.arguments();
  bindStorage(buffers, arena_);
  abi.arenaBytes = (arenaBytes_ + 63) / 64 * 64;
  abi.intermediateBytes = intermediateBytes_;
  abi.scratchBytes = gemmScratchBytes_;
  abi.kernels = kernels_;
  abi.fusedOps = std::count(fused_.begin(), fused_.end(), true);

  const auto &nodes = fn_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (!isKernel(n))
      continue; // computed where it is read, or (a reshape) an alias
    if (auto it = epilogue_.find(n.result.index); it != epilogue_.end()) {
      emitMatMul(*fn_.definingNode(it->second.matmul), n.result, &it->second);
      continue;
    }
    if (partner_[n.result.index])
      continue; // stored by the loss's kernel
    if (auto it = rowFusion_.find(n.result.index); it != rowFusion_.end()) {
      emitSoftmaxCrossEntropyRows(n, it->second);
      continue;
    }
    if (!isElementwiseKernel(n.op)) {
      emitNode(n);
      continue;
    }
    std::vector<const Node *> group{&n};
    for (size_t j = i + 1; j <= groupEnd_[i]; ++j)
      if (isKernel(nodes[j]))
        group.push_back(&nodes[j]);
    emitLoopGroup(group);
    i = groupEnd_[i];
  }

  // Results, then state updates written in place. Update values are nodes computed above,
  // so writing one state buffer cannot change the value of another update.
  size_t nargs = args.size();
  for (size_t j = 0; j < fn_.results().size(); ++j) {
    Value *out = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), buffers, nargs + j));
    copy(fn_.results()[j].value, out, resultClass0_ + int(j));
  }
  for (const StateUpdate &u : fn_.updates())
    if (u.value != u.state && inPlace_[u.value.index] < 0)
      copy(u.value, ptr_[u.state.index], aliasClass_[u.state.index]);
  b_.CreateRetVoid();
  return abi;
}

} // namespace

/// One line per kernel: the value it stores and, as an expression, the fused ops and views it
/// computes on the way.
std::string FunctionEmitter::describe() {
  planAll();
  planArena();
  std::vector<std::string> names = valueNames(fn_);
  std::function<std::string(ValueId)> expr = [&](ValueId v) -> std::string {
    const Node *d = fn_.definingNode(v);
    if (!d || !(fused_[v.index] || virtual_[v.index]))
      return names[v.index];
    if (d->op == OpKind::Constant)
      return formatAttr(Attr(d->attrs.getFloat("value")));
    std::string s = std::string(mnemonic(d->op)) + "(";
    for (size_t i = 0; i < d->operands.size(); ++i)
      s += (i ? ", " : "") + expr(d->operands[i]);
    return s + ")";
  };
  std::string out = fmt::format("kernels of @{}: {} kernels, {} fused ops, arena {} bytes for {} bytes of "
                                "intermediates\n",
                                fn_.name(), kernels_, std::count(fused_.begin(), fused_.end(), true),
                                arenaBytes_, intermediateBytes_);
  int k = 0;
  bool inGroup = false; // the previous kernel's loop nest continues with this one
  const auto &nodes = fn_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (!isKernel(n))
      continue;
    std::string body;
    if (isElementwiseKernel(n.op)) {
      // Show the kernel's own op over its (possibly fused) operands.
      body = std::string(mnemonic(n.op)) + "(";
      for (size_t i = 0; i < n.operands.size(); ++i)
        body += (i ? ", " : "") + expr(n.operands[i]);
      body += ")";
    } else {
      body = std::string(mnemonic(n.op));
      for (size_t i = 0; i < n.operands.size(); ++i)
        body += (i ? ", " : " ") + expr(n.operands[i]);
    }
    std::string where = inPlace_[n.result.index] >= 0 ? "in place of " + names[size_t(inPlace_[n.result.index])]
                                                      : fmt::format("@{}", offset_[n.result.index]);
    if (partner_[n.result.index])
      continue; // listed with the loss's kernel
    std::string label = inGroup ? std::string("  +   ") : fmt::format("  k{:<3} ", k++);
    out += fmt::format("{}{} = {} : {}  {}\n", label, names[n.result.index], body, n.type.str(), where);
    if (auto it = rowFusion_.find(n.result.index); it != rowFusion_.end()) {
      const Node &p = *fn_.definingNode(it->second.partner);
      std::string pb = std::string(mnemonic(p.op)) + "(";
      for (size_t o = 0; o < p.operands.size(); ++o)
        pb += (o ? ", " : "") + expr(p.operands[o]);
      out += fmt::format("  +   {} = {}) : {}  @{}\n", names[p.result.index],
                         p.op == OpKind::Softmax ? "softmax(" + expr(p.operands[0]) : pb, p.type.str(),
                         offset_[p.result.index]);
    }
    inGroup = groupEnd_[i] != i;
  }
  return out;
}

std::string describeKernels(const Function &fn, const EmitOptions &options) {
  llvm::LLVMContext ctx;
  llvm::Module m("describe", ctx);
  return FunctionEmitter(fn, m, options).describe();
}

std::span<const CodegenPass> codegenPasses() {
  static const CodegenPass passes[] = {
      {"fuse-elementwise", "compute each single-use elementwise op inside its user's loop", &EmitOptions::fuseElementwise},
      {"fuse-loops", "run adjacent elementwise kernels over one shape in one loop nest", &EmitOptions::fuseLoops},
      {"in-place-updates", "store each state update straight into its state's buffer", &EmitOptions::inPlaceUpdates},
      {"fuse-epilogue", "apply bias, activation and activation derivative as the GEMM stores C", &EmitOptions::fuseEpilogues},
      {"fuse-softmax-loss", "compute softmax cross-entropy and its gradient in one pass over each row", &EmitOptions::fuseRows},
      {"parallel-loops", "split the rows of large elementwise kernels over threads", &EmitOptions::parallelLoops},
  };
  return passes;
}

const CodegenPass *findCodegenPass(std::string_view name) {
  for (const CodegenPass &p : codegenPasses())
    if (name == p.name)
      return &p;
  return nullptr;
}

void disableCodegenPasses(EmitOptions &options, const std::vector<std::string> &names) {
  for (const std::string &name : names)
    if (const CodegenPass *p = findCodegenPass(name))
      options.*(p->enabled) = false;
}

void emitGemmRoutines(llvm::Module &module, unsigned vectorBits) {
  emitGemm(module, GemmSpec::forHost(vectorBits, false));
  emitGemm(module, GemmSpec::forHost(vectorBits, true));
  emitGemm(module, GemmSpec::withActivationEpilogue(vectorBits));
  emitGemm(module, GemmSpec::narrow(vectorBits));
}

llvm::Expected<FunctionABI> emitFunction(const Function &fn, const std::string &symbol,
                                         llvm::Module &module, const EmitOptions &options) {
  for (const Node &n : fn.nodes())
    if (!hasLowering(n.op))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "no lowering for op '%s'",
                                     std::string(mnemonic(n.op)).c_str());
  return FunctionEmitter(fn, module, options).emit(symbol);
}

} // namespace nnc
