//===- Builder.h - Checked construction of graph IR nodes -----------------------------------===//
//
// Builder appends nodes to a Function through one checked factory, tryCreate, which puts the
// attributes in canonical form and runs the op's shape rule, returning an error located at the
// node when it would be ill-typed. Front ends use tryCreate, or give the builder their
// DiagnosticEngine: then the first failed create (and so a failed typed convenience) reports a
// located error there, and every failed create returns a poisoned stand-in value, from which
// every later node is built silently as another stand-in, so that one mistake in the source
// gives one diagnostic and no crash. Passes, which build IR known to be well typed, use create without an engine, where a
// failure is a broken invariant of the compiler: an internal error that stops the process. The
// broadcasting helpers turn NumPy-style implicit broadcasting into explicit `broadcast` ops.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "support/Result.h"

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace nnc {

/// Appends nodes to one Function. See the file comment.
class Builder {
public:
  /// A builder for passes: a failed create is an internal error.
  explicit Builder(Function &function) : fn_(function) {}
  /// A builder for front ends: a failed create is reported to `diags` (see the file comment).
  Builder(Function &function, DiagnosticEngine &diags) : fn_(function), diags_(&diags) {}

  Function &function() { return fn_; }
  const TensorType &type(ValueId v) const { return fn_.type(v); }

  /// The location given to nodes created without a valid location (and by the conveniences).
  void setLoc(SourceLoc loc) { loc_ = loc; }
  SourceLoc loc() const { return loc_; }

  /// Appends `op(operands) {attrs}` after canonicalizing attrs and running the shape rule;
  /// returns the new value, or an error at the node's location carrying the rule's message
  /// (then nothing is appended). Invalid operand ids are errors, too. An invalid `loc` means
  /// the builder's current loc. A node with a poisoned operand is a poisoned stand-in.
  Result<ValueId> tryCreate(OpKind op, std::vector<ValueId> operands, Attrs attrs = {},
                            SourceLoc loc = {});
  /// As tryCreate. On failure, a builder with a DiagnosticEngine reports the error there and
  /// returns a poisoned stand-in; one without stops with an internal error (a compiler bug).
  ValueId create(OpKind op, std::vector<ValueId> operands, Attrs attrs = {}, SourceLoc loc = {});
  /// True when `v` is a stand-in for a node that could not be built.
  bool poisoned(ValueId v) const { return v.index < poisoned_.size() && poisoned_[v.index]; }

  // --- typed conveniences: all use create --------------------------------------------------
  ValueId unary(OpKind op, ValueId x) { return create(op, {x}); }
  ValueId binary(OpKind op, ValueId a, ValueId b) { return create(op, {a, b}); }
  ValueId neg(ValueId x) { return unary(OpKind::Neg, x); }
  ValueId exp(ValueId x) { return unary(OpKind::Exp, x); }
  ValueId log(ValueId x) { return unary(OpKind::Log, x); }
  ValueId sqrt(ValueId x) { return unary(OpKind::Sqrt, x); }
  ValueId rsqrt(ValueId x) { return unary(OpKind::Rsqrt, x); }
  ValueId square(ValueId x) { return unary(OpKind::Square, x); }
  ValueId sigmoid(ValueId x) { return unary(OpKind::Sigmoid, x); }
  ValueId tanh(ValueId x) { return unary(OpKind::Tanh, x); }
  ValueId relu(ValueId x) { return unary(OpKind::Relu, x); }
  ValueId leakyRelu(ValueId x, double alpha);
  ValueId powc(ValueId x, double exponent);
  ValueId cast(ValueId x, DType dtype);
  ValueId add(ValueId a, ValueId b) { return binary(OpKind::Add, a, b); }
  ValueId sub(ValueId a, ValueId b) { return binary(OpKind::Sub, a, b); }
  ValueId mul(ValueId a, ValueId b) { return binary(OpKind::Mul, a, b); }
  ValueId div(ValueId a, ValueId b) { return binary(OpKind::Div, a, b); }
  ValueId max(ValueId a, ValueId b) { return binary(OpKind::Max, a, b); }
  ValueId min(ValueId a, ValueId b) { return binary(OpKind::Min, a, b); }
  ValueId cmp(CmpPredicate predicate, ValueId a, ValueId b);
  ValueId select(ValueId mask, ValueId a, ValueId b) { return create(OpKind::Select, {mask, a, b}); }

  /// A tensor of type `type` filled with `value`.
  ValueId constant(double value, const TensorType &type);
  /// A scalar constant.
  ValueId scalar(double value, DType dtype = DType::F32) { return constant(value, {dtype, {}}); }
  /// A constant of the type of `like`.
  ValueId constantLike(ValueId like, double value) { return constant(value, type(like)); }
  ValueId iota(const TensorType &type, int64_t axis);

  ValueId broadcast(ValueId x, std::vector<int64_t> shape, std::vector<int64_t> dims);
  ValueId reshape(ValueId x, std::vector<int64_t> shape);
  ValueId transpose(ValueId x, std::vector<int64_t> perm);
  ValueId slice(ValueId x, std::vector<int64_t> starts, std::vector<int64_t> sizes);
  ValueId pad(ValueId x, std::vector<int64_t> low, std::vector<int64_t> high);
  ValueId concat(std::vector<ValueId> values, int64_t axis);

  ValueId reduceSum(ValueId x, std::vector<int64_t> axes, bool keepdims = false);
  ValueId reduceMean(ValueId x, std::vector<int64_t> axes, bool keepdims = false);
  ValueId reduceMax(ValueId x, std::vector<int64_t> axes, bool keepdims = false);

  ValueId matmul(ValueId a, ValueId b, bool transposeA = false, bool transposeB = false);
  ValueId softmax(ValueId x, int64_t axis);
  ValueId logSoftmax(ValueId x, int64_t axis);
  ValueId logSumExp(ValueId x, int64_t axis, bool keepdims = false);

  ValueId oneHot(ValueId labels, int64_t depth, DType dtype = DType::F32);
  ValueId gather(ValueId table, ValueId indices);
  ValueId scatterAdd(ValueId updates, ValueId indices, int64_t rows);

  /// `shape`-shaped uniform [0,1) numbers of `dtype` from stream `seed` and the i32 scalar
  /// `counter`.
  ValueId randomUniform(ValueId counter, int64_t seed, const TensorType &type);
  ValueId randomBernoulli(ValueId counter, int64_t seed, double p, const TensorType &type);

  /// stride and pad are [height, width].
  ValueId conv2d(ValueId x, ValueId w, std::vector<int64_t> stride = {1, 1},
                 std::vector<int64_t> pad = {0, 0});
  ValueId conv2dGradInput(ValueId dy, ValueId w, std::vector<int64_t> stride,
                          std::vector<int64_t> pad, std::vector<int64_t> inputShape);
  ValueId conv2dGradWeight(ValueId x, ValueId dy, std::vector<int64_t> stride,
                           std::vector<int64_t> pad, std::vector<int64_t> kernel);
  ValueId maxPool2d(ValueId x, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                    std::vector<int64_t> pad = {0, 0});
  ValueId maxPool2dGrad(ValueId x, ValueId dy, std::vector<int64_t> kernel,
                        std::vector<int64_t> stride, std::vector<int64_t> pad = {0, 0});
  ValueId avgPool2d(ValueId x, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                    std::vector<int64_t> pad = {0, 0});
  ValueId avgPool2dGrad(ValueId dy, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                        std::vector<int64_t> pad, std::vector<int64_t> inputShape);

  /// Batch normalization's parts; x is [N, C, ...], the channels along axis 1.
  ValueId batchMoments(ValueId x) { return create(OpKind::BatchMoments, {x}); }
  ValueId batchNorm(ValueId x, ValueId moments, ValueId gamma, ValueId beta, double eps) {
    return create(OpKind::BatchNorm, {x, moments, gamma, beta}, {{"eps", eps}});
  }
  ValueId batchNormSums(ValueId dy, ValueId x, ValueId moments) {
    return create(OpKind::BatchNormSums, {dy, x, moments});
  }

  ValueId softmaxCrossEntropy(ValueId logits, ValueId labels) {
    return create(OpKind::SoftmaxCrossEntropy, {logits, labels});
  }
  ValueId bceWithLogits(ValueId logits, ValueId targets) {
    return create(OpKind::BceWithLogits, {logits, targets});
  }
  ValueId multiclassHinge(ValueId scores, ValueId labels) {
    return create(OpKind::MulticlassHinge, {scores, labels});
  }

  // --- NumPy-style broadcasting --------------------------------------------------------------
  /// Broadcasts `a` and `b` to their common shape by NumPy rules (align trailing dimensions;
  /// a dimension of 1 or a missing one stretches), inserting `broadcast` ops only where a shape
  /// changes. Requires equal dtypes. Errors read "cannot broadcast f32[16,3] with f32[4]".
  Result<std::pair<ValueId, ValueId>> broadcastPair(ValueId a, ValueId b, SourceLoc loc = {});
  /// Broadcasts `v` to `shape` by NumPy rules (returns `v` itself when the shape is already
  /// right). Errors read "cannot broadcast f32[3] to [16,4]".
  Result<ValueId> broadcastTo(ValueId v, const std::vector<int64_t> &shape, SourceLoc loc = {});
  /// The NumPy broadcast of two shapes, or nullopt when they are incompatible.
  static std::optional<std::vector<int64_t>> broadcastShapes(const std::vector<int64_t> &a,
                                                             const std::vector<int64_t> &b);

private:
  /// Appends a poisoned stand-in (an f32 scalar constant) at `loc`.
  ValueId poison(SourceLoc loc);

  Function &fn_;
  DiagnosticEngine *diags_ = nullptr;
  bool reported_ = false; ///< a failed create was reported to diags_
  SourceLoc loc_;
  std::vector<bool> poisoned_; ///< by ValueId::index
};

} // namespace nnc
