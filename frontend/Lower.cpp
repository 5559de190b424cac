//===- Lower.cpp - From the AST of a model to graph IR --------------------------------------===//
//
// lowerModel runs a Lowerer (Lowerer.h) over one model: statements in order, expressions,
// operators with NumPy broadcasting, and calls, which go to a `def` or to the row of a builtin
// (the row's op, or its lowering function in LowerBuiltins.cpp). Layers and `def` calls expand
// in place; a layer names its parameters after the variable it is assigned to, or
// `<layer>_<n>` when it is nested. A statement with an error is reported once, lowering returns
// from it (Lowerer.h) and its name is poisoned, so uses of it later add no follow-on errors. The
// train block's settings are read here too.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lower.h"

#include "frontend/Builtins.h"
#include "frontend/Lowerer.h"
#include "frontend/Sema.h"
#include "frontend/TrainBlock.h"
#include "ir/Builder.h"

#include <fmt/format.h>

#include <utility>

namespace nnc {

double lowering::literalValue(const Expr &e) {
  if (e.kind == Expr::Kind::Unary)
    return -literalValue(*e.args[0]);
  return e.number;
}

using lowering::literalValue;


namespace lowering {

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
  const Builtin *bi = findBuiltin(act, BuiltinKind::Activation);
  if (!bi || !bi->op)
    return fail(loc, fmt::format("unknown activation '{}'", act));
  return applyOp(*bi, {x}, BoundArgs{}, loc);
}

ValueId Lowerer::applyOp(const Builtin &bi, std::vector<ValueId> operands, const BoundArgs &a, SourceLoc loc) {
  Attrs attrs;
  for (const BuiltinParam &p : bi.params) {
    std::string attr(p.attr.empty() ? p.name : p.attr);
    const Expr *v = a.get(p.name);
    if (attr == "axis") {
      std::optional<int64_t> axis = axisArg(a, operands.at(0), loc);
      if (!axis)
        return Failed{};
      attrs.set(attr, *axis);
    } else if (!v || p.type == ParamType::Tensor)
      continue;
    else if (p.type == ParamType::Int)
      attrs.set(attr, static_cast<int64_t>(literal(*v)));
    else if (p.type == ParamType::Number)
      attrs.set(attr, literal(*v));
    else if (p.type == ParamType::Bool)
      attrs.set(attr, v->number != 0);
  }
  return make(loc, *bi.op, std::move(operands), std::move(attrs));
}

ValueId Lowerer::arith(OpKind op, std::string_view verb, Val lhs, Val rhs, SourceLoc loc) {
  if (!lhs.literal && !rhs.literal && type(lhs.value).dtype != type(rhs.value).dtype)
    return fail(loc, fmt::format("cannot {} {} and {}: element types differ", verb, str(lhs.value),
                                 str(rhs.value)));
  if (lhs.literal)
    lhs.value = b_.scalar(*lhs.literal, type(rhs.value).dtype);
  if (rhs.literal)
    rhs.value = b_.scalar(*rhs.literal, type(lhs.value).dtype);
  auto pair = b_.broadcastPair(lhs.value, rhs.value, loc);
  if (!pair)
    return fail(loc, fmt::format("cannot {} {} and {}: shapes do not broadcast", verb, str(lhs.value),
                                 str(rhs.value)));
  auto [a, b] = *pair;
  return make(loc, op, {a, b});
}

std::string Lowerer::initText(const Expr &e) {
  if (e.kind != Expr::Kind::Call)
    return e.text;
  const Builtin *b = findBuiltin(e.text, BuiltinKind::Initializer);
  BoundArgs bound;
  bindArgs(e, *b, bound, diags_);
  std::string args;
  for (const BuiltinParam &p : b->params)
    if (const Expr *v = bound.get(p.name))
      args += fmt::format("{}{}", args.empty() ? "" : ",", literal(*v));
  return fmt::format("{}({})", e.text, args);
}

Val Lowerer::lowerExpr(const Expr &e, const std::string &assignName) {
  // Expressions nest at most 200 deep in the text, but `def` calls stack them: the depth over
  // all expansions bounds lowering's own recursion.
  if (exprDepth_ >= kMaxExpansionDepth) {
    callTooDeep_ = true;
    return fail(e.loc, fmt::format("expressions nested more than {} deep once the function calls are expanded",
                                   kMaxExpansionDepth));
  }
  struct DepthGuard {
    int &depth;
    explicit DepthGuard(int &d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
  } depthGuard(exprDepth_);
  b_.setLoc(e.loc);
  switch (e.kind) {
  case Expr::Kind::Number:
    return Val{{}, e.number};
  case Expr::Kind::Bool:
  case Expr::Kind::String:
    return fail(e.loc, fmt::format("'{}' is not a tensor value", exprToSource(e)));
  case Expr::Kind::Name: {
    if (poisoned_.count(e.text))
      return Failed{}; // its statement's error was reported
    if (auto it = scope_.find(e.text); it != scope_.end())
      return Val{it->second, {}};
    if (auto it = params_.find(prefix_ + e.text); it != params_.end())
      return Val{it->second, {}};
    if (auto it = params_.find(e.text); it != params_.end())
      return Val{it->second, {}};
    return fail(e.loc, fmt::format("unknown name '{}'", e.text));
  }
  case Expr::Kind::Unary: {
    Val x = lowerExpr(*e.args[0]);
    if (x.failed())
      return x;
    if (x.literal)
      return Val{{}, -*x.literal};
    return Val{make(e.loc, OpKind::Neg, {x.value}), {}};
  }
  case Expr::Kind::Binary: {
    Val lhs = lowerExpr(*e.args[0]);
    if (lhs.failed())
      return lhs;
    Val rhs = lowerExpr(*e.args[1]);
    if (rhs.failed())
      return rhs;
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
        return fail(e.loc, "cannot matrix-multiply a number; use '*' to scale");
      return Val{make(e.loc, OpKind::MatMul, {lhs.value, rhs.value}), {}};
    }
  }
  case Expr::Kind::Call:
    return lowerCall(e, assignName);
  }
  return fail(e.loc, "unsupported expression");
}

Val Lowerer::lowerCall(const Expr &e, const std::string &assignName) {
  if (auto it = defs_.find(e.text); it != defs_.end())
    return lowerDefCall(e, *it->second, assignName);
  const Builtin *bi = findBuiltin(e.text);
  if (!bi)
    return fail(e.loc, fmt::format("unknown function '{}'", e.text));
  BoundArgs a;
  if (!bindArgs(e, *bi, a, diags_))
    return Failed{}; // bindArgs reported why
  if (bi->lower)
    return (this->*bi->lower)(e, *bi, a, assignName);
  if (!bi->op)
    return fail(e.loc, fmt::format("'{}' cannot be used here", bi->name));
  std::vector<ValueId> operands;
  for (const BuiltinParam &p : bi->params)
    if (p.type == ParamType::Tensor) {
      ValueId operand = floatArg(a, *bi, p.name);
      if (!operand.valid())
        return Failed{};
      operands.push_back(operand);
    }
  return Val{applyOp(*bi, std::move(operands), a, e.loc), {}};
}

/// A `def` call: its parameters bind to the arguments in a fresh scope; parameters created
/// inside are prefixed with the name the call is assigned to (or `<def>_<n>`).
Val Lowerer::lowerDefCall(const Expr &e, const DefDecl &d, const std::string &assignName) {
  if (fn_.nodes().size() > kMaxLoweredOps)
    return fail(e.loc, fmt::format("the model expands to more than {} operations at this call of '{}'",
                                   kMaxLoweredOps, d.name));
  if (callDepth_ >= kMaxCallDepth) {
    callTooDeep_ = true;
    return fail(e.loc, fmt::format("calls of functions nested more than {} deep at this call of '{}'",
                                   kMaxCallDepth, d.name));
  }
  // The depth counts from here, so that calls nested in the arguments count as well.
  struct DepthGuard {
    int &depth;
    explicit DepthGuard(int &d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
  } depthGuard(callDepth_);
  std::vector<ValueId> args;
  for (const ExprPtr &arg : e.args) {
    ValueId v = tensor(lowerExpr(*arg));
    if (!v.valid())
      return Failed{};
    args.push_back(v);
  }
  // Literal arguments, and size parameters of the caller passed on, bind the size parameters.
  std::unordered_map<std::string, const Expr *> sizes;
  for (size_t i = 0; i < d.params.size() && i < e.args.size(); ++i) {
    const Expr &arg = *e.args[i];
    if (arg.kind == Expr::Kind::Name) {
      if (auto it = sizeArgs_.find(arg.text); it != sizeArgs_.end())
        sizes[d.params[i].first] = it->second;
    } else if (arg.kind == Expr::Kind::Number ||
               (arg.kind == Expr::Kind::Unary && arg.args[0]->kind == Expr::Kind::Number)) {
      sizes[d.params[i].first] = &arg;
    }
  }
  auto savedSizes = std::exchange(sizeArgs_, std::move(sizes));
  auto savedScope = std::move(scope_);
  auto savedPoison = std::move(poisoned_);
  std::string savedPrefix = prefix_;
  prefix_ = layerName(d.name, assignName) + ".";
  scope_.clear();
  poisoned_.clear();
  for (size_t i = 0; i < d.params.size() && i < args.size(); ++i)
    scope_[d.params[i].first] = args[i];
  std::optional<Val> result;
  bool failed = false;
  for (const Stmt &s : d.stmts) {
    if (s.kind == Stmt::Kind::Assign) {
      ValueId v = tensor(lowerExpr(*s.value, s.name));
      if ((failed = !v.valid()))
        break;
      scope_[s.name] = v;
    } else if (s.kind == Stmt::Kind::Return) {
      result = lowerExpr(*s.value);
      failed = result->failed();
      break;
    }
  }
  // A chain too deep gets one note, at its outermost call, not one per level.
  if (failed && (!callTooDeep_ || callDepth_ == 1))
    diags_.note(e.loc, fmt::format("in the call of '{}' here", d.name));
  if (callDepth_ == 1)
    callTooDeep_ = false;
  scope_ = std::move(savedScope);
  poisoned_ = std::move(savedPoison);
  prefix_ = savedPrefix;
  sizeArgs_ = std::move(savedSizes);
  if (failed)
    return Failed{};
  if (!result)
    return fail(d.nameLoc, fmt::format("function '{}' has no 'return'", d.name));
  return *result;
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
  // One statement; false when it failed (its error is reported).
  auto lowerStatement = [&](const Stmt &s) -> bool {
    b_.setLoc(s.loc);
    if (fn_.nodes().size() > kMaxLoweredOps) {
      (void)fail(s.loc, fmt::format("the model expands to more than {} operations here", kMaxLoweredOps));
      return false;
    }
    switch (s.kind) {
    case Stmt::Kind::Input:
    case Stmt::Kind::Target: {
      if (s.kind == Stmt::Kind::Target && opts_.mode == LowerMode::Predict) {
        poisoned_.insert(s.name);
        return true;
      }
      std::optional<TensorType> t = lowerType(*s.type);
      if (!t)
        return false;
      ArgRole role = s.kind == Stmt::Kind::Input ? ArgRole::Input : ArgRole::Target;
      scope_[s.name] = fn_.addArgument(s.name, *t, role, false, {}, s.nameLoc);
      return true;
    }
    case Stmt::Kind::Param: {
      std::optional<TensorType> t = lowerType(*s.type);
      if (!t)
        return false;
      std::string init = s.value ? initText(*s.value) : t->rank() >= 2 ? "glorot_uniform" : "zeros";
      scope_[s.name] = param(s.name, *t, init, s.nameLoc);
      return true;
    }
    case Stmt::Kind::Assign:
    case Stmt::Kind::Output: {
      ValueId v = tensor(lowerExpr(*s.value, s.name));
      if (!v.valid())
        return false;
      scope_[s.name] = v;
      if (s.kind == Stmt::Kind::Output)
        outputs.emplace_back(s.name, v);
      return true;
    }
    case Stmt::Kind::Loss: {
      if (opts_.mode == LowerMode::Predict)
        return true;
      ValueId v = tensor(lowerExpr(*s.value));
      if (!v.valid())
        return false;
      if (type(v).rank() != 0 || !isFloat(type(v).dtype)) {
        (void)fail(s.value->loc, fmt::format("the loss must be a float scalar, but this is {}; "
                                             "average it with mean(...)",
                                             str(v)));
        return false;
      }
      loss = v;
      return true;
    }
    case Stmt::Kind::Return:
      return true;
    }
    return true;
  };
  for (const Stmt &s : model.stmts)
    if (!lowerStatement(s) && !s.name.empty())
      poisoned_.insert(s.name);
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

} // namespace lowering

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
  int64_t batch = options.batch > 0 ? options.batch : trainBlockBatch(program);
  Function &fn = module.addFunction(options.functionName.empty() ? "forward" : options.functionName);
  return lowering::Lowerer(program, options, fn, diags).run(*model, batch);
}

} // namespace nnc
