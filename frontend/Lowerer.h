//===- Lowerer.h - The state of lowering one model, and the lowering of each builtin --------===//
//
// Internal to the frontend: lowerModel (Lower.h) creates a Lowerer, which walks one model's
// statements in order. Each expression lowers to a Val: a tensor value, or a number literal
// that takes the type of the tensor it meets (`0.5 * x`). A call of a builtin lowers by its row
// in Builtins.cpp: a row that names an op applies it (applyOp), a row that names a lowering
// function (one of the `lower...` members below, defined in LowerBuiltins.cpp) calls it.
//
// Errors flow by return, as in the parser: `fail` reports a statement's error and returns
// Failed, which each function returns at once as its own kind of failure (a failed Val, an
// invalid ValueId, an empty optional), up to the statement loop, which poisons the statement's
// name and goes on with the next statement; a `def` call on the way adds its "in the call of"
// note. So one mistake gives one error, and nothing after it in the statement is lowered.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/Builtins.h"
#include "frontend/Lower.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <unordered_map>

namespace nnc::lowering {

/// A lowered expression: a tensor, or a number literal whose type is decided by its use;
/// neither when lowering it failed (the error is reported).
struct Val {
  ValueId value;
  std::optional<double> literal;

  bool failed() const { return !value.valid() && !literal; }
};

/// The failure of a lowering function whose error was reported: converts to the failure of
/// each result kind the lowering functions have.
struct Failed {
  operator Val() const { return Val{}; }
  operator ValueId() const { return ValueId{}; }
  template <class T> operator std::optional<T>() const { return std::nullopt; }
};

/// The value of a number literal, negated ones included (`-0.5`).
double literalValue(const Expr &e);

class Lowerer {
public:
  Lowerer(const Program &prog, const LowerOptions &opts, Function &fn, DiagnosticEngine &diags)
      : prog_(prog), opts_(opts), fn_(fn), b_(fn, diags), diags_(diags) {
    for (const DefDecl &d : prog.defs)
      defs_[d.name] = &d;
  }

  std::optional<LoweredModel> run(const ModelDecl &model, int64_t batch);

  // --- the lowering functions builtin rows name (LowerBuiltins.cpp), each (call, row, bound
  // arguments, the name the call is assigned to) -> value, or a failed Val after reporting --------
  Val lowerBroadcasting(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerTranspose(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerFlatten(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerOneHot(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerReduction(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerClassLoss(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerBinaryCrossEntropy(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerSquaredError(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerPenalty(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerElasticNet(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerDense(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);
  Val lowerConv2D(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);
  Val lowerPool(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerDropout(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerRandomShift(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerRandomFlip(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerGaussianNoise(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &);
  Val lowerBatchNorm(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);
  Val lowerEmbedding(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);
  Val lowerRnn(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);

private:
  const Program &prog_;
  const LowerOptions &opts_;
  Function &fn_;
  Builder b_;
  DiagnosticEngine &diags_;
  std::unordered_map<std::string, const DefDecl *> defs_;
  int64_t batch_ = 0;
  DType float_ = DType::F32; ///< the model's float type: that of its first float input

  /// Names visible in the model or in the current `def` call.
  std::unordered_map<std::string, ValueId> scope_;
  std::set<std::string> poisoned_;
  /// Parameters by full name (`h1.weight`), visible everywhere for penalties.
  std::unordered_map<std::string, ValueId> params_;
  std::string prefix_; ///< prepended to parameter names inside `def` calls
  /// Inside a `def` call: its parameters whose arguments are number literals, bound to them
  /// (Sema has checked that every size parameter gets one).
  std::unordered_map<std::string, const Expr *> sizeArgs_;
  int callDepth_ = 0;              ///< `def` calls being expanded, outermost first
  int exprDepth_ = 0;              ///< lowerExpr calls on the native stack, over all expansions
  bool callTooDeep_ = false;       ///< kMaxCallDepth was crossed: notes only at the outermost call
  std::map<std::string, int> layerCount_;
  int randomSites_ = 0;
  ValueId rngCounter_;
  std::vector<StateUpdate> updates_;
  /// The first classification loss's logits [N,C] and i32 labels [N], for "correct".
  ValueId classLogits_, classLabels_;

  /// Reports the error of the statement being lowered; the caller returns the result.
  [[nodiscard]] Failed fail(SourceLoc loc, const std::string &message) {
    diags_.error(loc, message);
    return Failed{};
  }

  const TensorType &type(ValueId v) const { return fn_.type(v); }
  std::string str(ValueId v) const { return type(v).str(); }

  /// Appends a node, turning a shape-rule error into a diagnostic at `loc`; invalid then.
  ValueId make(SourceLoc loc, OpKind op, std::vector<ValueId> operands, Attrs attrs = {}) {
    auto r = b_.tryCreate(op, std::move(operands), std::move(attrs), loc);
    if (!r)
      return fail(loc, r.message());
    return *r;
  }

  std::optional<TensorType> lowerType(const TypeExpr &t) {
    TensorType out;
    out.dtype = t.dtype == "f64" ? DType::F64 : t.dtype == "i32" ? DType::I32 : DType::F32;
    for (const DimExpr &d : t.dims)
      out.shape.push_back(d.symbol.empty() ? d.size : batch_);
    if (auto why = shapeLimitProblem(out.shape))
      return fail(t.loc, fmt::format("type {} with B = {}, the minibatch size (from --batch or the train "
                                     "block), {}", typeToSource(t), batch_, *why));
    return out;
  }

  // --- literal arguments ---------------------------------------------------------------------
  /// The number `e` stands for: a literal, or a size parameter of the `def` being expanded
  /// (bound to its call's literal argument).
  double literal(const Expr &e) const {
    if (e.kind == Expr::Kind::Name)
      if (auto it = sizeArgs_.find(e.text); it != sizeArgs_.end())
        return literalValue(*it->second);
    return literalValue(e);
  }
  int64_t intArg(const BoundArgs &a, std::string_view name, int64_t def) {
    const Expr *e = a.get(name);
    return e ? static_cast<int64_t>(literal(*e)) : def;
  }
  double numArg(const BoundArgs &a, std::string_view name, double def) {
    const Expr *e = a.get(name);
    return e ? literal(*e) : def;
  }
  bool boolArg(const BoundArgs &a, std::string_view name, bool def) {
    const Expr *e = a.get(name);
    return e ? e->number != 0 : def;
  }
  std::optional<int64_t> positiveArg(const BoundArgs &a, std::string_view name, int64_t def, SourceLoc loc) {
    int64_t v = intArg(a, name, def);
    if (v < 1)
      return fail(a.get(name) ? a.get(name)->loc : loc, fmt::format("'{}' must be at least 1, found {}", name, v));
    return v;
  }
  /// An initializer expression as the text recorded on the parameter: `normal(0,0.01)`.
  std::string initArg(const BoundArgs &a, std::string_view def) {
    const Expr *e = a.get("init");
    return e ? initText(*e) : std::string(def);
  }
  std::string initText(const Expr &e);
  /// The `axis` argument (default -1, the last) counted from the front for `x`.
  std::optional<int64_t> axisArg(const BoundArgs &a, ValueId x, SourceLoc loc) {
    return normalizeAxis(x, intArg(a, "axis", -1), a.get("axis") ? a.get("axis")->loc : loc);
  }

  // --- values --------------------------------------------------------------------------------
  /// Turns a Val into a tensor; a literal becomes a scalar of the model's float type.
  ValueId tensor(const Val &v) { return v.literal ? b_.scalar(*v.literal, float_) : v.value; }

  ValueId floatTensor(const Expr &e, std::string_view role) {
    ValueId v = tensor(lowerExpr(e));
    if (!v.valid())
      return Failed{};
    if (!isFloat(type(v).dtype))
      return fail(e.loc, fmt::format("{} must be a float tensor, but '{}' is {}", role, exprToSource(e), str(v)));
    return v;
  }
  /// Tensor argument `name` of builtin `bi`, which must be a float tensor.
  ValueId floatArg(const BoundArgs &a, const Builtin &bi, std::string_view name) {
    return floatTensor(*a.get(name), fmt::format("'{}' of '{}'", name, bi.name));
  }

  std::optional<int64_t> normalizeAxis(ValueId x, int64_t axis, SourceLoc loc) {
    int64_t rank = type(x).rank();
    if (axis < -rank || axis >= rank || rank == 0)
      return fail(loc, fmt::format("axis {} is out of range for {}", axis, str(x)));
    return axis < 0 ? axis + rank : axis;
  }

  /// Applies `op` to two operands after NumPy broadcasting; literals take the other's type.
  /// Neither operand may be a failed Val.
  ValueId arith(OpKind op, std::string_view verb, Val lhs, Val rhs, SourceLoc loc);

  /// Broadcasts a per-feature vector [F] over `like` along dimension `dim`.
  ValueId spread(ValueId v, ValueId like, int64_t dim) {
    return b_.broadcast(v, type(like).shape, {dim});
  }

  Val lowerExpr(const Expr &e, const std::string &assignName = "");
  Val lowerCall(const Expr &e, const std::string &assignName);
  Val lowerDefCall(const Expr &e, const DefDecl &d, const std::string &assignName);
  /// The op of a row that names one: tensor parameters are its operands (float tensors),
  /// literal parameters set its attributes (`axis` counts from the end when negative and is
  /// the last when not given), absent ones keep the op's defaults.
  ValueId applyOp(const Builtin &bi, std::vector<ValueId> operands, const BoundArgs &a, SourceLoc loc);
  /// `act = NAME` of a layer: the activation builtin NAME applied with its defaults.
  ValueId applyActivation(std::string_view act, ValueId x, SourceLoc loc);
  /// Sums `term(w)` over the parameters a penalty names.
  template <typename Term> Val penalize(const Builtin &bi, const BoundArgs &a, Term term);
  ValueId flattenLeading(ValueId x, int64_t keep);
  ValueId param(const std::string &name, TensorType t, std::string init, SourceLoc loc,
                bool trainable = true);
  ValueId counter();
  /// The seed of the next random site (dropout, augmentation) for stream 0; other streams give
  /// further independent seeds of the same site.
  int64_t siteSeed(uint64_t stream);
  ValueId imageArg(const Expr &e, const Builtin &bi, const BoundArgs &a);
  ValueId shiftMatrices(ValueId d, int64_t n, DType dtype);
  std::string layerName(std::string_view kind, const std::string &assignName) {
    if (!assignName.empty())
      return prefix_ + assignName;
    return fmt::format("{}{}_{}", prefix_, kind, ++layerCount_[std::string(kind)]);
  }
  void computeCorrect();
};

} // namespace nnc::lowering
