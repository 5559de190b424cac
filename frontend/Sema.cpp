//===- Sema.cpp - Name, arity and keyword checks on the AST ---------------------------------===//
#include "frontend/Sema.h"

#include "ir/Type.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <unordered_map>

namespace nnc {

static std::string joinNames(const std::vector<std::string_view> &names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + std::string(names[i]);
  return s;
}

/// "an optimizer", "a schedule".
static std::string withArticle(std::string_view noun) {
  bool vowel = !noun.empty() && std::string_view("aeiou").find(noun[0]) != std::string_view::npos;
  return fmt::format("{} {}", vowel ? "an" : "a", noun);
}

static std::string didYouMean(std::string_view name, const std::vector<std::string_view> &candidates) {
  std::string_view best = closestMatch(name, candidates);
  return best.empty() ? "" : fmt::format("; did you mean '{}'?", best);
}

bool bindArgs(const Expr &call, const Builtin &b, BoundArgs &out, DiagnosticEngine &diags) {
  bool ok = true;
  size_t np = b.params.size();
  // A variadic builtin (l1, l2, elastic_net) takes its tensors positionally and its other
  // parameters by keyword only: elastic_net(W, V, l1_ratio = 0.3).
  for (size_t i = 0; i < call.args.size(); ++i) {
    if (i < np && !b.variadic) {
      out.named[std::string(b.params[i].name)] = call.args[i].get();
    } else if (b.variadic) {
      out.rest.push_back(call.args[i].get());
    } else {
      diags.error(call.args[i]->loc,
                  fmt::format("'{}' takes {} argument{} but {} {} given", b.name, np,
                              np == 1 ? "" : "s", call.args.size(),
                              call.args.size() == 1 ? "was" : "were"));
      ok = false;
      break;
    }
  }
  for (const KeywordArg &k : call.kwargs) {
    auto it = std::find_if(b.params.begin(), b.params.end(),
                           [&](const BuiltinParam &p) { return p.name == k.name; });
    if (it == b.params.end()) {
      std::vector<std::string_view> names;
      for (const BuiltinParam &p : b.params)
        names.push_back(p.name);
      diags.error(k.nameLoc,
                  names.empty()
                      ? fmt::format("'{}' takes no keyword arguments, but '{}' was given", b.name, k.name)
                      : fmt::format("'{}' has no argument named '{}'{}", b.name, k.name,
                                    closestMatch(k.name, names).empty()
                                        ? fmt::format("; expected {}", joinNames(names))
                                        : didYouMean(k.name, names)));
      ok = false;
    } else if (out.named.count(k.name)) {
      diags.error(k.nameLoc, fmt::format("argument '{}' of '{}' is given twice", k.name, b.name));
      ok = false;
    } else {
      out.named[k.name] = k.value.get();
    }
  }
  if (!ok)
    return false;
  for (const BuiltinParam &p : b.params)
    if (p.required && !out.named.count(p.name)) {
      diags.error(call.loc, fmt::format("'{}' needs the argument '{}'", b.name, p.name));
      ok = false;
    }
  if (b.variadic && out.rest.empty() && b.kind == BuiltinKind::Penalty) {
    diags.error(call.loc, fmt::format("'{}' needs at least one parameter, e.g. {}(W)", b.name, b.name));
    ok = false;
  }
  return ok;
}

namespace {

/// Where a name was defined and what it is.
struct Symbol {
  SourceLoc loc;
  bool isParam = false;
};

class Checker {
public:
  Checker(const Program &prog, DiagnosticEngine &diags) : prog_(prog), diags_(diags) {
    for (const DefDecl &d : prog.defs)
      defs_.emplace(d.name, &d);
  }

  void run() {
    checkTopLevel();
    for (const DefDecl &d : prog_.defs)
      checkDef(d);
    checkRecursion();
    for (const ModelDecl &m : prog_.models)
      checkModel(m);
    for (const TrainDecl &t : prog_.trains)
      checkTrain(t);
    checkSizeArguments();
  }

private:
  const Program &prog_;
  DiagnosticEngine &diags_;
  std::unordered_map<std::string, const DefDecl *> defs_;
  std::unordered_map<std::string, Symbol> scope_;
  bool inDef_ = false;
  const DefDecl *currentDef_ = nullptr;
  /// A `def` parameter used where a compile-time number is needed (a size, a rate): where, and
  /// as which argument of which builtin.
  struct SizeUse {
    SourceLoc loc;
    std::string what;
    bool integer = true;
  };
  /// Per def, its size parameters by name.
  std::unordered_map<const DefDecl *, std::map<std::string, SizeUse>> sizeParams_;
  /// Every call of a def, with the def it is written in (null in a model).
  std::vector<std::pair<const DefDecl *, const Expr *>> defCalls_;

  bool isParamOf(const DefDecl *d, const std::string &name) const {
    if (!d)
      return false;
    for (const auto &[p, loc] : d->params)
      if (p == name)
        return true;
    return false;
  }

  /// The arguments of size parameters are checked at each call, once every def's size
  /// parameters are known: an integer literal (a number for a rate), or a size parameter of the
  /// def the call is written in, passed on.
  void checkSizeArguments() {
    for (bool changed = true; changed;) { // a def passing its parameter to another def's size
      changed = false;
      for (const auto &[caller, call] : defCalls_) {
        const DefDecl *callee = defs_.at(call->text);
        auto &sizes = sizeParams_[callee];
        for (size_t i = 0; i < callee->params.size() && i < call->args.size(); ++i) {
          auto use = sizes.find(callee->params[i].first);
          const Expr &arg = *call->args[i];
          if (use == sizes.end() || arg.kind != Expr::Kind::Name || !isParamOf(caller, arg.text))
            continue;
          std::string what = use->second.what;
          if (what.find(" (through") == std::string::npos)
            what += fmt::format(" (through '{}')", callee->name);
          changed |= sizeParams_[caller].emplace(arg.text, SizeUse{arg.loc, what, use->second.integer}).second;
        }
      }
    }
    for (const auto &[caller, call] : defCalls_) {
      const DefDecl *callee = defs_.at(call->text);
      const auto &sizes = sizeParams_[callee];
      for (size_t i = 0; i < callee->params.size() && i < call->args.size(); ++i) {
        auto use = sizes.find(callee->params[i].first);
        if (use == sizes.end())
          continue;
        const Expr &arg = *call->args[i];
        if (arg.kind == Expr::Kind::Name && isParamOf(caller, arg.text))
          continue;
        const Expr *lit = arg.kind == Expr::Kind::Unary && arg.args[0]->kind == Expr::Kind::Number ? arg.args[0].get()
                          : arg.kind == Expr::Kind::Number                                          ? &arg
                                                                                                    : nullptr;
        const std::string &param = callee->params[i].first;
        if (!lit || (use->second.integer && !lit->isInteger)) {
          diags_.error(arg.loc, fmt::format("'{}' of '{}' is its {}, so it must be a compile-time {}, found '{}'",
                                            param, callee->name, use->second.what,
                                            use->second.integer ? "integer" : "number", exprToSource(arg)));
          diags_.note(use->second.loc, fmt::format("'{}' is used as {} here", param, use->second.what));
        } else if (use->second.integer && (lit != &arg || lit->number > double(kMaxDim))) {
          diags_.error(arg.loc, fmt::format("'{}' of '{}' is its {}: {} is not a size from 1 to {}", param,
                                            callee->name, use->second.what, exprToSource(arg), kMaxDim));
        }
      }
    }
  }

  void redefinition(SourceLoc loc, SourceLoc prev, std::string_view what, std::string_view name) {
    diags_.error(loc, fmt::format("redefinition of {} '{}'", what, name));
    diags_.note(prev, fmt::format("'{}' was first defined here", name));
  }

  void checkTopLevel() {
    std::unordered_map<std::string, SourceLoc> seen;
    for (const ModelDecl &m : prog_.models)
      if (auto [it, fresh] = seen.emplace(m.name, m.nameLoc); !fresh)
        redefinition(m.nameLoc, it->second, "model", m.name);
    for (const DefDecl &d : prog_.defs) {
      if (findBuiltin(d.name))
        diags_.error(d.nameLoc, fmt::format("'{}' is a builtin {}; give the function another name",
                                            d.name, describe(findBuiltin(d.name)->kind)));
      if (auto [it, fresh] = seen.emplace(d.name, d.nameLoc); !fresh)
        redefinition(d.nameLoc, it->second, "function", d.name);
    }
    if (prog_.trains.size() > 1) {
      diags_.error(prog_.trains[1].loc, "a file may have only one 'train' block");
      diags_.note(prog_.trains[0].loc, "the first 'train' block is here");
    }
  }

  void define(const std::string &name, SourceLoc loc, bool isParam) {
    if (auto it = scope_.find(name); it != scope_.end()) {
      redefinition(loc, it->second.loc, "name", name);
      return;
    }
    if (const Builtin *b = findBuiltin(name); b && b->kind != BuiltinKind::Initializer &&
                                              b->kind != BuiltinKind::Optimizer &&
                                              b->kind != BuiltinKind::Schedule)
      diags_.warning(loc, fmt::format("'{}' hides the builtin {} of the same name", name, describe(b->kind)));
    scope_[name] = Symbol{loc, isParam};
  }

  void checkType(const TypeExpr &t, bool isParam) {
    for (const DimExpr &d : t.dims) {
      if (d.symbol.empty())
        continue;
      if (d.symbol != "B")
        diags_.error(d.loc, fmt::format("unknown dimension '{}': only B, the minibatch size, may be "
                                        "written as a name",
                                        d.symbol));
      else if (isParam)
        diags_.error(d.loc, "a parameter's shape cannot depend on the minibatch size B");
    }
    // The parser bounds each dimension; their product is bounded here, where the type is
    // written (the dimensions named B count as 1; the batch size is checked when it is bound).
    TensorType fixed;
    for (const DimExpr &d : t.dims)
      fixed.shape.push_back(d.symbol.empty() ? d.size : 1);
    if (fixed.numElements() > kMaxElements)
      diags_.error(t.loc, fmt::format("type {} has more than {} elements, the limit of one tensor",
                                      typeToSource(t), kMaxElements));
  }

  void checkModel(const ModelDecl &m) {
    scope_.clear();
    inDef_ = false;
    const Stmt *loss = nullptr;
    for (const Stmt &s : m.stmts) {
      if (s.broken) {
        if (!s.name.empty() && !scope_.count(s.name))
          scope_[s.name] = Symbol{s.nameLoc, s.kind == Stmt::Kind::Param};
        if (s.kind == Stmt::Kind::Loss)
          loss = &s;
        continue;
      }
      switch (s.kind) {
      case Stmt::Kind::Input:
      case Stmt::Kind::Target:
        checkType(*s.type, false);
        define(s.name, s.nameLoc, false);
        break;
      case Stmt::Kind::Param:
        checkType(*s.type, true);
        if (s.type->dtype == "i32")
          diags_.error(s.type->loc, "a parameter must be f32 or f64: i32 values cannot be trained");
        if (s.value)
          checkInitializer(*s.value);
        define(s.name, s.nameLoc, true);
        break;
      case Stmt::Kind::Assign:
      case Stmt::Kind::Output:
        checkExpr(*s.value);
        define(s.name, s.nameLoc, false);
        defineLayerParams(s);
        break;
      case Stmt::Kind::Loss:
        checkExpr(*s.value);
        if (loss) {
          diags_.error(s.loc, fmt::format("model '{}' has a second 'loss'; a model has exactly one", m.name));
          diags_.note(loss->loc, "the first 'loss' is here");
        }
        loss = &s;
        break;
      case Stmt::Kind::Return:
        diags_.error(s.loc, "'return' is only allowed inside a 'def' function");
        break;
      }
    }
    if (!loss)
      diags_.error(m.nameLoc, fmt::format("model '{}' has no 'loss': add a line such as "
                                          "'loss mean(softmax_cross_entropy(logits, y))'",
                                          m.name));
  }

  /// `h1 = dense(...)` makes `h1.weight` and `h1.bias` nameable, e.g. in `l2(h1.weight)`.
  void defineLayerParams(const Stmt &s) {
    if (s.value->kind != Expr::Kind::Call)
      return;
    if (const Builtin *b = findBuiltin(s.value->text); b && b->kind == BuiltinKind::Layer)
      for (std::string_view p : b->creates)
        scope_[s.name + "." + std::string(p)] = Symbol{s.nameLoc, true};
  }

  void checkDef(const DefDecl &d) {
    scope_.clear();
    inDef_ = true;
    currentDef_ = &d;
    for (const auto &[name, loc] : d.params)
      define(name, loc, false);
    bool returned = false;
    for (const Stmt &s : d.stmts) {
      if (s.broken) {
        if (!s.name.empty())
          scope_[s.name] = Symbol{s.nameLoc, false};
        returned |= s.kind == Stmt::Kind::Return;
        continue;
      }
      if (returned)
        diags_.error(s.loc, "statement after 'return' is never reached");
      switch (s.kind) {
      case Stmt::Kind::Assign:
        checkExpr(*s.value);
        define(s.name, s.nameLoc, false);
        defineLayerParams(s);
        break;
      case Stmt::Kind::Return:
        checkExpr(*s.value);
        returned = true;
        break;
      default:
        diags_.error(s.loc, "only assignments and 'return' are allowed inside a 'def' function");
      }
    }
    if (!returned)
      diags_.error(d.nameLoc, fmt::format("function '{}' has no 'return'", d.name));
    inDef_ = false;
    currentDef_ = nullptr;
  }

  /// A function may not call itself, directly or through others: calls are expanded inline.
  /// The search over the call graph keeps its own stack, so that a long chain of functions
  /// calling each other cannot exhaust the native one.
  void checkRecursion() {
    // The calls of each function to functions, in source order.
    std::unordered_map<const DefDecl *, std::vector<const Expr *>> calls;
    for (const DefDecl &d : prog_.defs) {
      std::vector<const Expr *> &out = calls[&d];
      std::function<void(const Expr &)> walk = [&](const Expr &e) {
        if (e.kind == Expr::Kind::Call && defs_.count(e.text))
          out.push_back(&e);
        for (const ExprPtr &a : e.args)
          walk(*a);
        for (const KeywordArg &k : e.kwargs)
          walk(*k.value);
      };
      for (const Stmt &s : d.stmts)
        if (s.value && !s.broken)
          walk(*s.value);
    }
    enum class Visit { New, Active, Done };
    std::unordered_map<const DefDecl *, Visit> state;
    struct Frame {
      const DefDecl *def;
      size_t nextCall;
    };
    for (const DefDecl &root : prog_.defs) {
      if (state[&root] != Visit::New)
        continue;
      state[&root] = Visit::Active;
      std::vector<Frame> stack{{&root, 0}};
      while (!stack.empty()) {
        Frame &top = stack.back();
        const std::vector<const Expr *> &out = calls[top.def];
        if (top.nextCall == out.size()) {
          state[top.def] = Visit::Done;
          stack.pop_back();
          continue;
        }
        const Expr &call = *out[top.nextCall++];
        const DefDecl *callee = defs_.at(call.text);
        Visit &v = state[callee];
        if (v == Visit::Active)
          diags_.error(call.loc, fmt::format("recursive call of '{}': functions are expanded "
                                             "inline and cannot call themselves",
                                             call.text));
        else if (v == Visit::New) {
          v = Visit::Active;
          stack.push_back({callee, 0});
        }
      }
    }
  }

  void checkExpr(const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Number:
    case Expr::Kind::Bool:
      return;
    case Expr::Kind::String:
      diags_.error(e.loc, "a string is not a tensor value");
      return;
    case Expr::Kind::Name:
      checkName(e);
      return;
    case Expr::Kind::Unary:
    case Expr::Kind::Binary:
      for (const ExprPtr &a : e.args)
        checkExpr(*a);
      return;
    case Expr::Kind::Call:
      checkCall(e);
      return;
    }
  }

  void checkName(const Expr &e) {
    if (scope_.count(e.text))
      return;
    if (const Builtin *b = findBuiltin(e.text)) {
      if (b->kind == BuiltinKind::Initializer || b->kind == BuiltinKind::Optimizer ||
          b->kind == BuiltinKind::Schedule)
        diags_.error(e.loc, fmt::format("'{}' is {} and cannot be used in an expression", e.text,
                                        withArticle(describe(b->kind))));
      else
        diags_.error(e.loc, fmt::format("'{}' is {}; call it with arguments, e.g. {}(...)", e.text,
                                        withArticle(describe(b->kind)), e.text));
      return;
    }
    // Past the error limit the message is dropped; skip the search, which is linear in the
    // scope and made a file with many unknown names quadratic.
    std::string hint;
    if (!diags_.atErrorLimit()) {
      std::vector<std::string_view> names;
      for (const auto &[name, sym] : scope_)
        names.push_back(name);
      std::sort(names.begin(), names.end());
      hint = didYouMean(e.text, names);
    }
    diags_.error(e.loc, fmt::format("unknown name '{}'{}", e.text, hint));
  }

  void checkCall(const Expr &e) {
    if (auto it = defs_.find(e.text); it != defs_.end()) {
      const DefDecl &d = *it->second;
      if (!e.kwargs.empty())
        diags_.error(e.kwargs[0].nameLoc,
                     fmt::format("function '{}' takes positional arguments only", d.name));
      else
        defCalls_.emplace_back(inDef_ ? currentDef_ : nullptr, &e);
      if (e.kwargs.empty() && e.args.size() != d.params.size())
        diags_.error(e.loc, fmt::format("function '{}' takes {} argument{} but {} {} given", d.name,
                                        d.params.size(), d.params.size() == 1 ? "" : "s", e.args.size(),
                                        e.args.size() == 1 ? "was" : "were"));
      for (const ExprPtr &a : e.args)
        checkExpr(*a);
      for (const KeywordArg &k : e.kwargs)
        checkExpr(*k.value);
      return;
    }
    const Builtin *b = findBuiltin(e.text);
    if (b && (b->kind == BuiltinKind::Initializer || b->kind == BuiltinKind::Optimizer ||
              b->kind == BuiltinKind::Schedule)) {
      diags_.error(e.loc, fmt::format("'{}' is {} and cannot be used in an expression", e.text,
                                      withArticle(describe(b->kind))));
      return;
    }
    if (!b) {
      std::string hint;
      if (!diags_.atErrorLimit()) {
        std::vector<std::string_view> names =
            builtinNames({BuiltinKind::Op, BuiltinKind::Activation, BuiltinKind::Reduction,
                          BuiltinKind::Loss, BuiltinKind::Penalty, BuiltinKind::Layer});
        for (const auto &[name, def] : defs_)
          names.push_back(name);
        hint = didYouMean(e.text, names);
      }
      diags_.error(e.loc, fmt::format("unknown function '{}'{}", e.text, hint));
      for (const ExprPtr &a : e.args)
        checkExpr(*a);
      return;
    }
    BoundArgs bound;
    if (!bindArgs(e, *b, bound, diags_))
      return;
    for (const BuiltinParam &p : b->params)
      if (const Expr *arg = bound.get(p.name))
        checkArgument(*arg, p.type, p.name);
    for (const Expr *arg : bound.rest) {
      if (b->kind == BuiltinKind::Penalty && arg->kind == Expr::Kind::Name) {
        auto it = scope_.find(arg->text);
        if (it != scope_.end() && !it->second.isParam) {
          diags_.error(arg->loc, fmt::format("'{}' penalizes parameters, but '{}' is not a parameter",
                                             b->name, arg->text));
          continue;
        }
      }
      if (b->kind == BuiltinKind::Penalty && arg->kind != Expr::Kind::Name) {
        diags_.error(arg->loc, fmt::format("'{}' takes parameter names, such as {}(W)", b->name, b->name));
        continue;
      }
      checkExpr(*arg);
    }
  }

  void checkArgument(const Expr &arg, ParamType type, std::string_view name) {
    auto literal = [&](const Expr &a) -> const Expr * {
      if (a.kind == Expr::Kind::Unary && a.args[0]->kind == Expr::Kind::Number)
        return a.args[0].get();
      return a.kind == Expr::Kind::Number ? &a : nullptr;
    };
    // A def's parameter given where a number is needed is a size parameter: its argument is
    // checked at each call (checkSizeArguments).
    if ((type == ParamType::Int || type == ParamType::Number) && inDef_ && arg.kind == Expr::Kind::Name &&
        isParamOf(currentDef_, arg.text)) {
      sizeParams_[currentDef_].emplace(arg.text, SizeUse{arg.loc, fmt::format("'{}'", name), type == ParamType::Int});
      return;
    }
    switch (type) {
    case ParamType::Tensor:
      checkExpr(arg);
      return;
    case ParamType::Int:
      // Every integer argument is a size, a count or an axis: bounding it by the largest
      // dimension keeps the shapes computed from it within the limits of a tensor type.
      if (const Expr *lit = literal(arg); !lit || !lit->isInteger)
        diags_.error(arg.loc, fmt::format("'{}' must be an integer, found '{}'", name, exprToSource(arg)));
      else if (lit->number > double(kMaxDim))
        diags_.error(arg.loc, fmt::format("'{}' is {}, more than {}, the largest size of a dimension",
                                          name, exprToSource(arg), kMaxDim));
      return;
    case ParamType::Number:
      if (!literal(arg))
        diags_.error(arg.loc, fmt::format("'{}' must be a number, found '{}'", name, exprToSource(arg)));
      return;
    case ParamType::Bool:
      if (arg.kind != Expr::Kind::Bool)
        diags_.error(arg.loc, fmt::format("'{}' must be true or false, found '{}'", name, exprToSource(arg)));
      return;
    case ParamType::Activation: {
      std::vector<std::string_view> acts = builtinNames({BuiltinKind::Activation});
      if (arg.kind != Expr::Kind::Name || (arg.text != "none" && !findBuiltin(arg.text, BuiltinKind::Activation))) {
        acts.push_back("none");
        diags_.error(arg.loc, fmt::format("'{}' must name an activation ({}), found '{}'", name,
                                          joinNames(acts), exprToSource(arg)));
      }
      return;
    }
    case ParamType::Initializer:
      checkInitializer(arg);
      return;
    }
  }

  /// init := INITIALIZER | INITIALIZER '(' args ')'
  void checkInitializer(const Expr &e) {
    checkNamedCall(e, BuiltinKind::Initializer, "initializer");
  }

  /// Checks `NAME` or `NAME(args)` naming a builtin of `kind` (initializer, optimizer, schedule).
  void checkNamedCall(const Expr &e, BuiltinKind kind, const char *what) {
    if (e.kind != Expr::Kind::Name && e.kind != Expr::Kind::Call) {
      diags_.error(e.loc, fmt::format("expected {} such as {}, found '{}'", withArticle(what),
                                      builtinNames({kind}).front(), exprToSource(e)));
      return;
    }
    const Builtin *b = findBuiltin(e.text, kind);
    if (!b) {
      std::vector<std::string_view> names = builtinNames({kind});
      std::string_view best = closestMatch(e.text, names);
      diags_.error(e.loc, best.empty() ? fmt::format("unknown {} '{}'; expected {}", what, e.text, joinNames(names))
                                       : fmt::format("unknown {} '{}'; did you mean '{}'?", what, e.text, best));
      return;
    }
    if (e.kind == Expr::Kind::Name) {
      for (const BuiltinParam &p : b->params)
        if (p.required)
          diags_.error(e.loc, fmt::format("{} '{}' needs the argument '{}', e.g. {}({} = ...)", what,
                                          e.text, p.name, e.text, p.name));
      return;
    }
    BoundArgs bound;
    if (!bindArgs(e, *b, bound, diags_))
      return;
    for (const BuiltinParam &p : b->params)
      if (const Expr *arg = bound.get(p.name))
        checkArgument(*arg, p.type, p.name);
  }

  void checkTrain(const TrainDecl &t) {
    std::unordered_map<std::string, SourceLoc> seen;
    for (const TrainSetting &s : t.settings) {
      const TrainSettingSpec *spec = findTrainSetting(s.name);
      if (!spec) {
        std::vector<std::string_view> names;
        for (const TrainSettingSpec &ts : trainSettings())
          names.push_back(ts.name);
        std::string_view best = closestMatch(s.name, names);
        diags_.error(s.loc, best.empty() ? fmt::format("unknown training setting '{}'; expected {}", s.name, joinNames(names))
                                         : fmt::format("unknown training setting '{}'; did you mean '{}'?", s.name, best));
        continue;
      }
      if (auto [it, fresh] = seen.emplace(s.name, s.loc); !fresh) {
        diags_.error(s.loc, fmt::format("training setting '{}' is given twice", s.name));
        diags_.note(it->second, "first given here");
      }
      const Expr &v = *s.value;
      switch (spec->value) {
      case SettingValue::PositiveInt:
        if (v.kind != Expr::Kind::Number || !v.isInteger || v.number < 1)
          diags_.error(v.loc, fmt::format("'{}' must be a positive integer, found '{}'", s.name, exprToSource(v)));
        break;
      case SettingValue::Number:
        if (v.kind != Expr::Kind::Number)
          diags_.error(v.loc, fmt::format("'{}' must be a non-negative number, found '{}'", s.name, exprToSource(v)));
        break;
      case SettingValue::Bool:
        if (v.kind != Expr::Kind::Bool)
          diags_.error(v.loc, fmt::format("'{}' must be true or false, found '{}'", s.name, exprToSource(v)));
        break;
      case SettingValue::String:
        if (v.kind != Expr::Kind::String)
          diags_.error(v.loc, fmt::format("'{}' must be a quoted string, found '{}'", s.name, exprToSource(v)));
        break;
      case SettingValue::Optimizer:
        checkNamedCall(v, BuiltinKind::Optimizer, "optimizer");
        break;
      case SettingValue::Schedule:
        checkNamedCall(v, BuiltinKind::Schedule, "schedule");
        break;
      }
    }
  }
};

} // namespace

void checkProgram(const Program &program, DiagnosticEngine &diags) { Checker(program, diags).run(); }

} // namespace nnc
