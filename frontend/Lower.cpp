//===- Lower.cpp - From the AST of a model to graph IR --------------------------------------===//
//
// A Lowerer walks one model's statements in order. Each expression lowers to a Val: a tensor
// value, or a number literal that takes the type of the tensor it meets (`0.5 * x`). Layers
// and `def` calls expand in place; a layer names its parameters after the variable it is
// assigned to, or `<layer>_<n>` when it is nested. A statement with an error is reported once
// and its name is poisoned, so uses of it later add no follow-on errors.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lower.h"

#include "frontend/Builtins.h"
#include "frontend/Sema.h"
#include "ir/Builder.h"
#include "ir/Random.h"

#include <fmt/format.h>

#include <numeric>
#include <set>
#include <unordered_map>

namespace nnc {

static double literalValue(const Expr &e) {
  if (e.kind == Expr::Kind::Unary)
    return -literalValue(*e.args[0]);
  return e.number;
}

TrainConfig readTrainConfig(const Program &program) {
  TrainConfig c;
  if (program.trains.empty())
    return c;
  auto callArgs = [](const Expr &e, const Builtin *b, std::map<std::string, double> &out) {
    if (e.kind != Expr::Kind::Call || !b)
      return;
    for (size_t i = 0; i < e.args.size() && i < b->params.size(); ++i)
      out[std::string(b->params[i].name)] = literalValue(*e.args[i]);
    for (const KeywordArg &k : e.kwargs)
      out[k.name] = literalValue(*k.value);
  };
  for (const TrainSetting &s : program.trains.front().settings) {
    const Expr &v = *s.value;
    if (s.name == "optimizer") {
      c.optimizer = v.text;
      callArgs(v, findBuiltin(v.text, BuiltinKind::Optimizer), c.optimizerArgs);
    } else if (s.name == "schedule") {
      c.schedule = v.text;
      callArgs(v, findBuiltin(v.text, BuiltinKind::Schedule), c.scheduleArgs);
    } else if (s.name == "batch") {
      c.batch = static_cast<int64_t>(v.number);
    } else if (s.name == "epochs") {
      c.epochs = static_cast<int64_t>(v.number);
    } else if (s.name == "seed") {
      c.seed = static_cast<uint64_t>(v.number);
    } else if (s.name == "clip") {
      c.clip = v.number;
    } else if (s.name == "weight_decay") {
      c.weightDecay = v.number;
    } else if (s.name == "shuffle") {
      c.shuffle = v.number != 0;
    } else if (s.name == "data") {
      c.data = v.text;
    } else if (s.name == "test_data") {
      c.testData = v.text;
    }
  }
  return c;
}

namespace {

/// Unwinds the lowering of one statement after its error was reported.
struct LowerError {};

/// A lowered expression: a tensor, or a number literal whose type is decided by its use.
struct Val {
  ValueId value;
  std::optional<double> literal;
};

class Lowerer {
public:
  Lowerer(const Program &prog, const LowerOptions &opts, Function &fn, DiagnosticEngine &diags)
      : prog_(prog), opts_(opts), fn_(fn), b_(fn, diags), diags_(diags) {
    for (const DefDecl &d : prog.defs)
      defs_[d.name] = &d;
  }

  std::optional<LoweredModel> run(const ModelDecl &model, int64_t batch);

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
  std::map<std::string, int> layerCount_;
  int dropoutSites_ = 0;
  ValueId rngCounter_;
  std::vector<StateUpdate> updates_;
  /// The first classification loss's logits [N,C] and i32 labels [N], for "correct".
  ValueId classLogits_, classLabels_;

  [[noreturn]] void fail(SourceLoc loc, const std::string &message) {
    diags_.error(loc, message);
    throw LowerError{};
  }

  const TensorType &type(ValueId v) const { return fn_.type(v); }
  std::string str(ValueId v) const { return type(v).str(); }

  /// Appends a node, turning a shape-rule error into a diagnostic at `loc`.
  ValueId make(SourceLoc loc, OpKind op, std::vector<ValueId> operands, Attrs attrs = {}) {
    auto r = b_.tryCreate(op, std::move(operands), std::move(attrs), loc);
    if (!r)
      fail(loc, r.message());
    return *r;
  }

  TensorType lowerType(const TypeExpr &t) {
    TensorType out;
    out.dtype = t.dtype == "f64" ? DType::F64 : t.dtype == "i32" ? DType::I32 : DType::F32;
    for (const DimExpr &d : t.dims)
      out.shape.push_back(d.symbol.empty() ? d.size : batch_);
    if (auto why = shapeLimitProblem(out.shape))
      fail(t.loc, fmt::format("type {} with B = {}, the minibatch size (from --batch or the train "
                              "block), {}", typeToSource(t), batch_, *why));
    return out;
  }

  // --- literal arguments ---------------------------------------------------------------------
  int64_t intArg(const BoundArgs &a, std::string_view name, int64_t def) {
    const Expr *e = a.get(name);
    return e ? static_cast<int64_t>(literalValue(*e)) : def;
  }
  double numArg(const BoundArgs &a, std::string_view name, double def) {
    const Expr *e = a.get(name);
    return e ? literalValue(*e) : def;
  }
  bool boolArg(const BoundArgs &a, std::string_view name, bool def) {
    const Expr *e = a.get(name);
    return e ? e->number != 0 : def;
  }
  int64_t positiveArg(const BoundArgs &a, std::string_view name, int64_t def, SourceLoc loc) {
    int64_t v = intArg(a, name, def);
    if (v < 1)
      fail(a.get(name) ? a.get(name)->loc : loc, fmt::format("'{}' must be at least 1, found {}", name, v));
    return v;
  }
  /// An initializer expression as the text recorded on the parameter: `normal(0,0.01)`.
  std::string initArg(const BoundArgs &a, std::string_view def) {
    const Expr *e = a.get("init");
    return e ? initText(*e) : std::string(def);
  }
  std::string initText(const Expr &e) {
    if (e.kind != Expr::Kind::Call)
      return e.text;
    const Builtin *b = findBuiltin(e.text, BuiltinKind::Initializer);
    BoundArgs bound;
    bindArgs(e, *b, bound, diags_);
    std::string args;
    for (const BuiltinParam &p : b->params)
      if (const Expr *v = bound.get(p.name))
        args += fmt::format("{}{}", args.empty() ? "" : ",", literalValue(*v));
    return fmt::format("{}({})", e.text, args);
  }

  // --- values --------------------------------------------------------------------------------
  /// Turns a Val into a tensor; a literal becomes a scalar of the model's float type.
  ValueId tensor(const Val &v) { return v.literal ? b_.scalar(*v.literal, float_) : v.value; }

  ValueId floatTensor(const Expr &e, std::string_view role) {
    ValueId v = tensor(lowerExpr(e));
    if (!isFloat(type(v).dtype))
      fail(e.loc, fmt::format("{} must be a float tensor, but '{}' is {}", role, exprToSource(e), str(v)));
    return v;
  }

  ValueId normalizeAxisCheck(ValueId x, int64_t axis, SourceLoc loc, int64_t &out) {
    int64_t rank = type(x).rank();
    if (axis < -rank || axis >= rank || rank == 0)
      fail(loc, fmt::format("axis {} is out of range for {}", axis, str(x)));
    out = axis < 0 ? axis + rank : axis;
    return x;
  }

  /// Applies `op` to two operands after NumPy broadcasting; literals take the other's type.
  ValueId arith(OpKind op, const char *verb, Val lhs, Val rhs, SourceLoc loc) {
    if (!lhs.literal && !rhs.literal && type(lhs.value).dtype != type(rhs.value).dtype)
      fail(loc, fmt::format("cannot {} {} and {}: element types differ", verb, str(lhs.value),
                            str(rhs.value)));
    if (lhs.literal)
      lhs.value = b_.scalar(*lhs.literal, type(rhs.value).dtype);
    if (rhs.literal)
      rhs.value = b_.scalar(*rhs.literal, type(lhs.value).dtype);
    auto pair = b_.broadcastPair(lhs.value, rhs.value, loc);
    if (!pair)
      fail(loc, fmt::format("cannot {} {} and {}: shapes do not broadcast", verb, str(lhs.value),
                            str(rhs.value)));
    auto [a, b] = *pair;
    return make(loc, op, {a, b});
  }

  /// Broadcasts a per-feature vector [F] over `like` along dimension `dim`.
  ValueId spread(ValueId v, ValueId like, int64_t dim) {
    return b_.broadcast(v, type(like).shape, {dim});
  }

  Val lowerExpr(const Expr &e, const std::string &assignName = "");
  Val lowerCall(const Expr &e, const std::string &assignName);
  Val lowerDefCall(const Expr &e, const DefDecl &d, const std::string &assignName);
  Val lowerBuiltin(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);
  Val lowerLayer(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName);
  Val lowerLoss(const Expr &e, const Builtin &bi, const BoundArgs &a);
  ValueId applyActivation(std::string_view act, ValueId x, SourceLoc loc);
  ValueId flattenLeading(ValueId x, int64_t keep);
  ValueId param(const std::string &name, TensorType t, std::string init, SourceLoc loc,
                bool trainable = true);
  ValueId counter();
  std::string layerName(std::string_view kind, const std::string &assignName) {
    if (!assignName.empty())
      return prefix_ + assignName;
    return fmt::format("{}{}_{}", prefix_, kind, ++layerCount_[std::string(kind)]);
  }
  void computeCorrect();
};

ValueId Lowerer::param(const std::string &name, TensorType t, std::string init, SourceLoc loc,
                       bool trainable) {
  if (fn_.findArgument(name))
    diags_.error(loc, fmt::format("two parameters would both be named '{}'", name));
  ValueId v = fn_.addArgument(name, std::move(t), ArgRole::State, trainable, std::move(init), loc);
  if (trainable)
    params_[name] = v;
  return v;
}

/// The step counter that makes every train step draw new random numbers (dropout).
ValueId Lowerer::counter() {
  if (!rngCounter_.valid()) {
    rngCounter_ = fn_.addArgument("rng.counter", TensorType(DType::I32, {}), ArgRole::State,
                                  false, "zeros");
  }
  return rngCounter_;
}

/// [d0, ..., dn-1, k] -> [d0*...*dn-1, k] for the matrix products of dense layers.
ValueId Lowerer::flattenLeading(ValueId x, int64_t keep) {
  const std::vector<int64_t> shape = type(x).shape;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i)
    rows *= shape[i];
  return shape.size() == 2 ? x : b_.reshape(x, {rows, keep});
}

ValueId Lowerer::applyActivation(std::string_view act, ValueId x, SourceLoc loc) {
  if (act.empty() || act == "none")
    return x;
  if (act == "sigmoid") return make(loc, OpKind::Sigmoid, {x});
  if (act == "tanh") return make(loc, OpKind::Tanh, {x});
  if (act == "relu") return make(loc, OpKind::Relu, {x});
  if (act == "softplus") return make(loc, OpKind::Softplus, {x});
  if (act == "leaky_relu") return make(loc, OpKind::LeakyRelu, {x}, {{"alpha", 0.01}});
  int64_t last = type(x).rank() - 1;
  if (act == "softmax") return make(loc, OpKind::Softmax, {x}, {{"axis", last}});
  if (act == "log_softmax") return make(loc, OpKind::LogSoftmax, {x}, {{"axis", last}});
  fail(loc, fmt::format("unknown activation '{}'", act));
}

Val Lowerer::lowerExpr(const Expr &e, const std::string &assignName) {
  b_.setLoc(e.loc);
  switch (e.kind) {
  case Expr::Kind::Number:
    return Val{{}, e.number};
  case Expr::Kind::Bool:
  case Expr::Kind::String:
    fail(e.loc, fmt::format("'{}' is not a tensor value", exprToSource(e)));
  case Expr::Kind::Name: {
    if (poisoned_.count(e.text))
      throw LowerError{};
    if (auto it = scope_.find(e.text); it != scope_.end())
      return Val{it->second, {}};
    if (auto it = params_.find(prefix_ + e.text); it != params_.end())
      return Val{it->second, {}};
    if (auto it = params_.find(e.text); it != params_.end())
      return Val{it->second, {}};
    fail(e.loc, fmt::format("unknown name '{}'", e.text));
  }
  case Expr::Kind::Unary: {
    Val x = lowerExpr(*e.args[0]);
    if (x.literal)
      return Val{{}, -*x.literal};
    return Val{make(e.loc, OpKind::Neg, {x.value}), {}};
  }
  case Expr::Kind::Binary: {
    Val lhs = lowerExpr(*e.args[0]);
    Val rhs = lowerExpr(*e.args[1]);
    b_.setLoc(e.loc);
    if (lhs.literal && rhs.literal && e.op != '@') {
      double x = *lhs.literal, y = *rhs.literal;
      return Val{{}, e.op == '+' ? x + y : e.op == '-' ? x - y : e.op == '*' ? x * y : x / y};
    }
    switch (e.op) {
    case '+': return Val{arith(OpKind::Add, "add", lhs, rhs, e.loc), {}};
    case '-': return Val{arith(OpKind::Sub, "subtract", lhs, rhs, e.loc), {}};
    case '*': return Val{arith(OpKind::Mul, "multiply", lhs, rhs, e.loc), {}};
    case '/': return Val{arith(OpKind::Div, "divide", lhs, rhs, e.loc), {}};
    default:
      if (lhs.literal || rhs.literal)
        fail(e.loc, "cannot matrix-multiply a number; use '*' to scale");
      return Val{make(e.loc, OpKind::MatMul, {lhs.value, rhs.value}), {}};
    }
  }
  case Expr::Kind::Call:
    return lowerCall(e, assignName);
  }
  fail(e.loc, "unsupported expression");
}

Val Lowerer::lowerCall(const Expr &e, const std::string &assignName) {
  if (auto it = defs_.find(e.text); it != defs_.end())
    return lowerDefCall(e, *it->second, assignName);
  const Builtin *bi = findBuiltin(e.text);
  if (!bi)
    fail(e.loc, fmt::format("unknown function '{}'", e.text));
  BoundArgs a;
  if (!bindArgs(e, *bi, a, diags_))
    throw LowerError{};
  if (bi->kind == BuiltinKind::Layer)
    return lowerLayer(e, *bi, a, assignName);
  if (bi->kind == BuiltinKind::Loss)
    return lowerLoss(e, *bi, a);
  return lowerBuiltin(e, *bi, a, assignName);
}

/// A `def` call: its parameters bind to the arguments in a fresh scope; parameters created
/// inside are prefixed with the name the call is assigned to (or `<def>_<n>`).
Val Lowerer::lowerDefCall(const Expr &e, const DefDecl &d, const std::string &assignName) {
  std::vector<ValueId> args;
  for (const ExprPtr &arg : e.args)
    args.push_back(tensor(lowerExpr(*arg)));
  auto savedScope = std::move(scope_);
  auto savedPoison = std::move(poisoned_);
  std::string savedPrefix = prefix_;
  prefix_ = layerName(d.name, assignName) + ".";
  scope_.clear();
  poisoned_.clear();
  for (size_t i = 0; i < d.params.size() && i < args.size(); ++i)
    scope_[d.params[i].first] = args[i];
  std::optional<Val> result;
  try {
    for (const Stmt &s : d.stmts) {
      if (s.kind == Stmt::Kind::Assign)
        scope_[s.name] = tensor(lowerExpr(*s.value, s.name));
      else if (s.kind == Stmt::Kind::Return) {
        result = lowerExpr(*s.value);
        break;
      }
    }
  } catch (LowerError &) {
    diags_.note(e.loc, fmt::format("in the call of '{}' here", d.name));
    scope_ = std::move(savedScope);
    poisoned_ = std::move(savedPoison);
    prefix_ = savedPrefix;
    throw;
  }
  scope_ = std::move(savedScope);
  poisoned_ = std::move(savedPoison);
  prefix_ = savedPrefix;
  if (!result)
    fail(d.nameLoc, fmt::format("function '{}' has no 'return'", d.name));
  return *result;
}

Val Lowerer::lowerBuiltin(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &) {
  std::string_view n = bi.name;
  SourceLoc loc = e.loc;
  auto x = [&](std::string_view name = "x") { return floatTensor(*a.get(name), fmt::format("'{}' of '{}'", name, n)); };
  auto axisOf = [&](ValueId v) {
    int64_t axis = 0;
    normalizeAxisCheck(v, intArg(a, "axis", -1), a.get("axis") ? a.get("axis")->loc : loc, axis);
    return axis;
  };

  if (bi.kind == BuiltinKind::Activation) {
    ValueId v = x();
    if (n == "leaky_relu")
      return Val{make(loc, OpKind::LeakyRelu, {v}, {{"alpha", numArg(a, "alpha", 0.01)}}), {}};
    if (n == "softmax" || n == "log_softmax")
      return Val{make(loc, n == "softmax" ? OpKind::Softmax : OpKind::LogSoftmax, {v}, {{"axis", axisOf(v)}}), {}};
    return Val{applyActivation(n, v, loc), {}};
  }
  if (n == "exp") return Val{make(loc, OpKind::Exp, {x()}), {}};
  if (n == "log") return Val{make(loc, OpKind::Log, {x()}), {}};
  if (n == "sqrt") return Val{make(loc, OpKind::Sqrt, {x()}), {}};
  if (n == "abs") return Val{make(loc, OpKind::Abs, {x()}), {}};
  if (n == "square") return Val{make(loc, OpKind::Square, {x()}), {}};
  if (n == "pow") return Val{make(loc, OpKind::PowC, {x()}, {{"exponent", numArg(a, "p", 1)}}), {}};
  if (n == "maximum" || n == "minimum")
    return Val{arith(n == "maximum" ? OpKind::Max : OpKind::Min, n == "maximum" ? "take the maximum of" : "take the minimum of",
                     lowerExpr(*a.get("a")), lowerExpr(*a.get("b")), loc), {}};
  if (n == "logsumexp") {
    ValueId v = x();
    return Val{make(loc, OpKind::LogSumExp, {v}, {{"axis", axisOf(v)}, {"keepdims", false}}), {}};
  }
  if (n == "matmul")
    return Val{make(loc, OpKind::MatMul, {x("a"), x("b")},
                    {{"transpose_a", boolArg(a, "transpose_a", false)},
                     {"transpose_b", boolArg(a, "transpose_b", false)}}), {}};
  if (n == "transpose") {
    ValueId v = x();
    int64_t r = type(v).rank();
    if (r < 2)
      fail(loc, fmt::format("transpose needs a tensor of rank 2 or more, found {}", str(v)));
    std::vector<int64_t> perm(r);
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[r - 1], perm[r - 2]);
    return Val{b_.transpose(v, perm), {}};
  }
  if (n == "flatten") {
    ValueId v = tensor(lowerExpr(*a.get("x")));
    const std::vector<int64_t> s = type(v).shape;
    if (s.empty())
      fail(loc, "flatten needs a tensor of rank 1 or more");
    int64_t rest = 1;
    for (size_t i = 1; i < s.size(); ++i)
      rest *= s[i];
    return Val{b_.reshape(v, {s[0], rest}), {}};
  }
  if (n == "one_hot") {
    ValueId labels = tensor(lowerExpr(*a.get("labels")));
    if (type(labels).dtype != DType::I32)
      fail(a.get("labels")->loc, fmt::format("one_hot needs i32 labels, found {}", str(labels)));
    return Val{b_.oneHot(labels, positiveArg(a, "depth", 1, loc), float_), {}};
  }
  if (bi.kind == BuiltinKind::Reduction) {
    ValueId v = x();
    std::vector<int64_t> axes;
    if (a.get("axis"))
      axes = {axisOf(v)};
    else
      for (int64_t i = 0; i < type(v).rank(); ++i)
        axes.push_back(i);
    if (axes.empty())
      return Val{v, {}};
    OpKind op = n == "sum" ? OpKind::ReduceSum : n == "mean" ? OpKind::ReduceMean : OpKind::ReduceMax;
    return Val{make(loc, op, {v}, {{"axes", axes}, {"keepdims", false}}), {}};
  }
  if (bi.kind == BuiltinKind::Penalty) {
    double ratio = numArg(a, "l1_ratio", 0.5);
    if (n == "elastic_net" && (ratio < 0 || ratio > 1))
      fail(a.get("l1_ratio")->loc, "'l1_ratio' must be between 0 and 1");
    std::optional<ValueId> total;
    for (const Expr *arg : a.rest) {
      ValueId w = tensor(lowerExpr(*arg));
      if (!fn_.isArgument(w) || !fn_.argument(w).trainable)
        fail(arg->loc, fmt::format("'{}' penalizes parameters, but '{}' is not one", n, exprToSource(*arg)));
      std::vector<int64_t> all(type(w).rank());
      std::iota(all.begin(), all.end(), 0);
      auto sumOf = [&](OpKind op) {
        ValueId t = make(loc, op, {w});
        return all.empty() ? t : b_.reduceSum(t, all);
      };
      ValueId term;
      if (n == "l1")
        term = sumOf(OpKind::Abs);
      else if (n == "l2")
        term = sumOf(OpKind::Square);
      else
        term = b_.add(b_.mul(b_.scalar(ratio, type(w).dtype), sumOf(OpKind::Abs)),
                      b_.mul(b_.scalar(1 - ratio, type(w).dtype), sumOf(OpKind::Square)));
      if (total && type(*total).dtype != type(term).dtype)
        term = b_.cast(term, type(*total).dtype);
      total = total ? b_.add(*total, term) : term;
    }
    return Val{*total, {}};
  }
  fail(loc, fmt::format("'{}' cannot be used here", n));
}

Val Lowerer::lowerLoss(const Expr &e, const Builtin &bi, const BoundArgs &a) {
  std::string_view n = bi.name;
  SourceLoc loc = e.loc;
  if (n == "softmax_cross_entropy" || n == "hinge") {
    const char *first = n == "hinge" ? "scores" : "logits";
    ValueId logits = floatTensor(*a.get(first), fmt::format("'{}' of '{}'", first, n));
    ValueId labels = tensor(lowerExpr(*a.get("labels")));
    const std::vector<int64_t> ls = type(logits).shape;
    if (ls.empty())
      fail(loc, fmt::format("'{}' needs class scores of rank 1 or more, found {}", first, str(logits)));
    std::vector<int64_t> rows(ls.begin(), ls.end() - 1);
    int64_t classes = ls.back();
    if (type(labels).dtype == DType::I32) {
      if (type(labels).shape != rows)
        fail(a.get("labels")->loc,
             fmt::format("labels {} do not match {} {}: expected i32{}", str(labels), first,
                         str(logits), formatShape(rows)));
      int64_t count = 1;
      for (int64_t r : rows)
        count *= r;
      ValueId l2 = ls.size() == 2 ? logits : b_.reshape(logits, {count, classes});
      ValueId y2 = rows.size() == 1 ? labels : b_.reshape(labels, {count});
      ValueId out;
      if (n == "hinge") {
        // max(0, m + s_j - s_y) = m * max(0, 1 + s_j/m - s_y/m): any margin from the unit one.
        double margin = numArg(a, "margin", 1.0);
        if (margin <= 0)
          fail(a.get("margin")->loc, "'margin' must be positive");
        if (margin == 1.0) {
          out = make(loc, OpKind::MulticlassHinge, {l2, y2});
        } else {
          ValueId scaled = b_.div(l2, b_.constantLike(l2, margin));
          ValueId h = make(loc, OpKind::MulticlassHinge, {scaled, y2});
          out = b_.mul(h, b_.constantLike(h, margin));
        }
      } else {
        out = make(loc, OpKind::SoftmaxCrossEntropy, {l2, y2});
      }
      if (!classLogits_.valid() && fn_.isArgument(labels) &&
          fn_.argument(labels).role == ArgRole::Target) {
        classLogits_ = l2;
        classLabels_ = y2;
      }
      return Val{rows.size() == 1 ? out : b_.reshape(out, rows), {}};
    }
    if (n == "hinge")
      fail(a.get("labels")->loc, fmt::format("hinge needs i32 class labels, found {}", str(labels)));
    // Soft targets: -sum(t * log_softmax(logits)) over the class axis.
    if (type(labels).shape != ls || type(labels).dtype != type(logits).dtype)
      fail(a.get("labels")->loc,
           fmt::format("labels must be i32{} class indices or {} probabilities, found {}",
                       formatShape(rows), str(logits), str(labels)));
    int64_t last = type(logits).rank() - 1;
    ValueId ls2 = make(loc, OpKind::LogSoftmax, {logits}, {{"axis", last}});
    return Val{b_.neg(b_.reduceSum(b_.mul(labels, ls2), {last})), {}};
  }
  if (n == "binary_cross_entropy") {
    ValueId logits = floatTensor(*a.get("logits"), "'logits' of 'binary_cross_entropy'");
    ValueId t = tensor(lowerExpr(*a.get("targets")));
    if (type(t).dtype == DType::I32)
      t = b_.cast(t, type(logits).dtype);
    if (type(t).shape != type(logits).shape)
      fail(a.get("targets")->loc, fmt::format("targets {} do not match logits {}", str(t), str(logits)));
    return Val{make(loc, OpKind::BceWithLogits, {logits, t}), {}};
  }
  // squared_error: (y - t)^2 summed over each example's features.
  Val y = lowerExpr(*a.get("y")), t = lowerExpr(*a.get("t"));
  ValueId sq = b_.square(arith(OpKind::Sub, "subtract", y, t, loc));
  int64_t r = type(sq).rank();
  if (r <= 1)
    return Val{sq, {}};
  std::vector<int64_t> axes(r - 1);
  std::iota(axes.begin(), axes.end(), 1);
  return Val{b_.reduceSum(sq, axes), {}};
}

Val Lowerer::lowerLayer(const Expr &e, const Builtin &bi, const BoundArgs &a, const std::string &assignName) {
  std::string_view n = bi.name;
  SourceLoc loc = e.loc;
  bool train = opts_.mode == LowerMode::Train;
  auto actName = [&] { return a.get("act") ? a.get("act")->text : std::string("none"); };

  if (n == "dense") {
    ValueId x = floatTensor(*a.get("x"), "the input of 'dense'");
    b_.setLoc(loc);
    const std::vector<int64_t> xs = type(x).shape;
    if (xs.empty())
      fail(loc, fmt::format("dense needs an input of rank 1 or more, found {}", str(x)));
    int64_t in = xs.back(), units = positiveArg(a, "units", 1, loc);
    DType dt = type(x).dtype;
    std::string name = layerName(n, assignName);
    ValueId w = param(name + ".weight", TensorType(dt, {in, units}), initArg(a, "glorot_uniform"), loc);
    ValueId x2 = xs.size() == 1 ? b_.reshape(x, {1, in}) : flattenLeading(x, in);
    ValueId y = b_.matmul(x2, w);
    if (boolArg(a, "bias", true)) {
      ValueId bias = param(name + ".bias", TensorType(dt, {units}), "zeros", loc);
      y = b_.add(y, spread(bias, y, 1));
    }
    std::vector<int64_t> outShape(xs.begin(), xs.end() - 1);
    outShape.push_back(units);
    if (type(y).shape != outShape)
      y = b_.reshape(y, outShape);
    return Val{applyActivation(actName(), y, loc), {}};
  }
  if (n == "conv2d") {
    ValueId x = floatTensor(*a.get("x"), "the input of 'conv2d'");
    b_.setLoc(loc);
    if (type(x).rank() != 4)
      fail(loc, fmt::format("conv2d needs an NCHW input [N, C, H, W], found {}", str(x)));
    int64_t c = type(x).shape[1], f = positiveArg(a, "filters", 1, loc);
    int64_t k = positiveArg(a, "kernel", 3, loc), s = positiveArg(a, "stride", 1, loc);
    int64_t p = intArg(a, "pad", 0);
    if (p < 0)
      fail(a.get("pad")->loc, "'pad' must not be negative");
    std::string name = layerName(n, assignName);
    ValueId w = param(name + ".weight", TensorType(type(x).dtype, {f, c, k, k}), initArg(a, "he_uniform"), loc);
    ValueId y = make(loc, OpKind::Conv2D, {x, w}, {{"stride", std::vector<int64_t>{s, s}}, {"pad", std::vector<int64_t>{p, p}}});
    if (boolArg(a, "bias", true)) {
      ValueId bias = param(name + ".bias", TensorType(type(x).dtype, {f}), "zeros", loc);
      y = b_.add(y, spread(bias, y, 1));
    }
    return Val{applyActivation(actName(), y, loc), {}};
  }
  if (n == "maxpool" || n == "avgpool") {
    ValueId x = floatTensor(*a.get("x"), fmt::format("the input of '{}'", n));
    if (type(x).rank() != 4)
      fail(loc, fmt::format("{} needs an NCHW input [N, C, H, W], found {}", n, str(x)));
    int64_t k = positiveArg(a, "size", 2, loc), s = positiveArg(a, "stride", k, loc);
    int64_t p = intArg(a, "pad", 0);
    if (p < 0 || p >= k)
      fail(a.get("pad")->loc, "'pad' must be at least 0 and less than the window size");
    std::vector<int64_t> kk{k, k}, ss{s, s}, pp{p, p};
    return Val{make(loc, n == "maxpool" ? OpKind::MaxPool2D : OpKind::AvgPool2D, {x},
                    {{"kernel", kk}, {"stride", ss}, {"pad", pp}}), {}};
  }
  if (n == "flatten")
    return lowerBuiltin(e, bi, a, assignName);
  if (n == "dropout") {
    ValueId x = floatTensor(*a.get("x"), "the input of 'dropout'");
    double rate = numArg(a, "rate", 0.5);
    if (rate < 0 || rate >= 1)
      fail(a.get("rate")->loc, fmt::format("dropout rate must be in [0, 1), found {}", rate));
    if (!train || rate == 0)
      return Val{x, {}};
    b_.setLoc(loc);
    // Each dropout site draws from its own stream: the seed mixed with the site's number.
    int64_t seed = static_cast<int64_t>(mix64(opts_.seed * 0x9e3779b97f4a7c15ull + ++dropoutSites_) >> 1);
    // counter() may add an argument, which moves the function's type storage: take both first.
    ValueId count = counter();
    TensorType maskType = type(x);
    ValueId mask = b_.randomBernoulli(count, seed, 1 - rate, maskType);
    return Val{b_.mul(b_.mul(x, mask), b_.constantLike(x, 1 / (1 - rate))), {}};
  }
  if (n == "batchnorm") {
    ValueId x = floatTensor(*a.get("x"), "the input of 'batchnorm'");
    b_.setLoc(loc);
    int64_t r = type(x).rank();
    if (r != 2 && r != 4)
      fail(loc, fmt::format("batchnorm needs [N, F] or [N, C, H, W] input, found {}", str(x)));
    double momentum = numArg(a, "momentum", 0.9), eps = numArg(a, "eps", 1e-5);
    if (momentum < 0 || momentum > 1)
      fail(a.get("momentum")->loc, "'momentum' must be between 0 and 1");
    if (eps <= 0)
      fail(a.get("eps")->loc, "'eps' must be positive");
    const std::vector<int64_t> xs = type(x).shape;
    int64_t f = xs[1];
    std::vector<int64_t> axes = r == 2 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 2, 3};
    int64_t count = type(x).numElements() / f;
    DType dt = type(x).dtype;
    std::string name = layerName(n, assignName);
    ValueId gamma = param(name + ".gamma", TensorType(dt, {f}), "ones", loc);
    ValueId beta = param(name + ".beta", TensorType(dt, {f}), "zeros", loc);
    ValueId rm = param(name + ".running_mean", TensorType(dt, {f}), "zeros", loc, false);
    ValueId rv = param(name + ".running_var", TensorType(dt, {f}), "ones", loc, false);
    ValueId mean, var;
    if (train) {
      mean = b_.reduceMean(x, axes);
      ValueId diff = b_.sub(x, spread(mean, x, 1));
      var = b_.reduceMean(b_.square(diff), axes);
      // running <- momentum * running + (1 - momentum) * batch (variance unbiased)
      auto blend = [&](ValueId run, ValueId batch, double scale) {
        return b_.add(b_.mul(run, b_.constantLike(run, momentum)),
                      b_.mul(batch, b_.constantLike(batch, (1 - momentum) * scale)));
      };
      updates_.push_back({rm, blend(rm, mean, 1.0)});
      updates_.push_back({rv, blend(rv, var, count > 1 ? double(count) / double(count - 1) : 1.0)});
    } else {
      mean = rm;
      var = rv;
    }
    ValueId inv = b_.rsqrt(b_.add(var, b_.constantLike(var, eps)));
    ValueId xhat = b_.mul(b_.sub(x, spread(mean, x, 1)), spread(inv, x, 1));
    return Val{b_.add(b_.mul(xhat, spread(gamma, x, 1)), spread(beta, x, 1)), {}};
  }
  if (n == "embedding") {
    ValueId ids = tensor(lowerExpr(*a.get("ids")));
    if (type(ids).dtype != DType::I32)
      fail(a.get("ids")->loc, fmt::format("embedding needs i32 ids, found {}", str(ids)));
    int64_t vocab = positiveArg(a, "vocab", 1, loc), dim = positiveArg(a, "dim", 1, loc);
    ValueId table = param(layerName(n, assignName) + ".weight", TensorType(float_, {vocab, dim}),
                          initArg(a, "uniform(-0.05,0.05)"), loc);
    return Val{make(loc, OpKind::Gather, {table, ids}), {}};
  }
  if (n == "rnn") {
    // h_t = act(x_t @ w_x + h_{t-1} @ w_h + bias), h_0 = 0, unrolled over axis 1.
    ValueId x = floatTensor(*a.get("x"), "the input of 'rnn'");
    b_.setLoc(loc);
    if (type(x).rank() != 3)
      fail(loc, fmt::format("rnn needs a sequence input [N, T, D], found {}", str(x)));
    int64_t nb = type(x).shape[0], steps = type(x).shape[1], d = type(x).shape[2];
    int64_t units = positiveArg(a, "units", 1, loc);
    DType dt = type(x).dtype;
    std::string name = layerName(n, assignName);
    ValueId wx = param(name + ".w_x", TensorType(dt, {d, units}), "glorot_uniform", loc);
    ValueId wh = param(name + ".w_h", TensorType(dt, {units, units}), "glorot_uniform", loc);
    ValueId bias = param(name + ".bias", TensorType(dt, {units}), "zeros", loc);
    // All steps' input projections in one matrix product.
    ValueId xw = b_.reshape(b_.matmul(b_.reshape(x, {nb * steps, d}), wx), {nb, steps, units});
    ValueId h = b_.constant(0, TensorType(dt, {nb, units}));
    ValueId biasB = b_.broadcast(bias, {nb, units}, {1});
    std::vector<ValueId> states;
    std::string act = a.get("act") ? a.get("act")->text : "tanh";
    for (int64_t t = 0; t < steps; ++t) {
      ValueId xt = b_.reshape(b_.slice(xw, {0, t, 0}, {nb, 1, units}), {nb, units});
      h = applyActivation(act, b_.add(b_.add(xt, b_.matmul(h, wh)), biasB), loc);
      states.push_back(b_.reshape(h, {nb, 1, units}));
    }
    return Val{states.size() == 1 ? states[0] : b_.concat(states, 1), {}};
  }
  fail(loc, fmt::format("'{}' cannot be used here", n));
}

/// correct = number of rows whose label's logit is the largest: sum(logits[y] >= max(logits)).
void Lowerer::computeCorrect() {
  ValueId logits = classLogits_;
  int64_t classes = type(logits).shape[1];
  ValueId picked = b_.reduceSum(b_.mul(logits, b_.oneHot(classLabels_, classes, type(logits).dtype)), {1});
  ValueId best = b_.reduceMax(logits, {1});
  ValueId hit = b_.cast(b_.cmp(CmpPredicate::GE, picked, best), DType::F32);
  fn_.addResult("correct", b_.reduceSum(hit, {0}));
}

std::optional<LoweredModel> Lowerer::run(const ModelDecl &model, int64_t batch) {
  batch_ = batch;
  size_t errorsBefore = diags_.errorCount();
  LoweredModel out;
  out.name = model.name;
  for (const Stmt &s : model.stmts)
    if ((s.kind == Stmt::Kind::Input) && s.type && s.type->dtype == "f64") {
      float_ = DType::F64;
      break;
    }
  std::optional<ValueId> loss;
  std::vector<std::pair<std::string, ValueId>> outputs;
  for (const Stmt &s : model.stmts) {
    try {
      b_.setLoc(s.loc);
      switch (s.kind) {
      case Stmt::Kind::Input:
        scope_[s.name] = fn_.addArgument(s.name, lowerType(*s.type), ArgRole::Input, false, {}, s.nameLoc);
        break;
      case Stmt::Kind::Target:
        if (opts_.mode == LowerMode::Predict)
          poisoned_.insert(s.name);
        else
          scope_[s.name] = fn_.addArgument(s.name, lowerType(*s.type), ArgRole::Target, false, {}, s.nameLoc);
        break;
      case Stmt::Kind::Param: {
        TensorType t = lowerType(*s.type);
        std::string init = s.value ? initText(*s.value) : t.rank() >= 2 ? "glorot_uniform" : "zeros";
        scope_[s.name] = param(s.name, t, init, s.nameLoc);
        break;
      }
      case Stmt::Kind::Assign:
        scope_[s.name] = tensor(lowerExpr(*s.value, s.name));
        break;
      case Stmt::Kind::Output: {
        ValueId v = tensor(lowerExpr(*s.value, s.name));
        scope_[s.name] = v;
        outputs.emplace_back(s.name, v);
        break;
      }
      case Stmt::Kind::Loss: {
        if (opts_.mode == LowerMode::Predict)
          break;
        ValueId v = tensor(lowerExpr(*s.value));
        if (type(v).rank() != 0 || !isFloat(type(v).dtype))
          fail(s.value->loc, fmt::format("the loss must be a float scalar, but this is {}; "
                                         "average it with mean(...)",
                                         str(v)));
        loss = v;
        break;
      }
      case Stmt::Kind::Return:
        break;
      }
    } catch (LowerError &) {
      if (!s.name.empty())
        poisoned_.insert(s.name);
    }
  }
  if (diags_.errorCount() > errorsBefore)
    return std::nullopt;
  if (loss)
    fn_.addResult("loss", *loss);
  if (classLogits_.valid() && opts_.mode != LowerMode::Predict) {
    computeCorrect();
    out.hasCorrect = true;
  }
  for (auto &[name, v] : outputs) {
    fn_.addResult(name, v);
    if (out.classifierOutput.empty() && classLogits_.valid())
      out.classifierOutput = name;
  }
  for (const StateUpdate &u : updates_)
    fn_.addUpdate(u.state, u.value);
  if (rngCounter_.valid())
    fn_.addUpdate(rngCounter_, b_.add(rngCounter_, b_.constant(1, TensorType(DType::I32, {}))));
  return out;
}

} // namespace

std::optional<LoweredModel> lowerModel(const Program &program, const LowerOptions &options,
                                       Module &module, DiagnosticEngine &diags) {
  const ModelDecl *model = nullptr;
  for (const ModelDecl &m : program.models)
    if (options.modelName.empty() || m.name == options.modelName) {
      if (model && options.modelName.empty()) {
        diags.error(m.nameLoc, fmt::format("the file defines more than one model; choose one with "
                                           "--model (here '{}' and '{}')",
                                           model->name, m.name));
        return std::nullopt;
      }
      model = &m;
      if (!options.modelName.empty())
        break;
    }
  if (!model) {
    diags.error({}, options.modelName.empty() ? std::string("the file defines no model")
                                              : fmt::format("the file defines no model named '{}'", options.modelName));
    return std::nullopt;
  }
  int64_t batch = options.batch > 0 ? options.batch : readTrainConfig(program).batch;
  Function &fn = module.addFunction(options.functionName.empty() ? "forward" : options.functionName);
  return Lowerer(program, options, fn, diags).run(*model, batch);
}

} // namespace nnc
