//===- Rewrite.h - Declarative rewrite rules over the graph IR ------------------------------===//
//
// The machinery behind the simplifier and the stabilizer: a tiny pattern language in which a
// rewrite rule is one line, `pattern -> replacement`, and a Rewriter that rebuilds a Function
// node by node, trying the rules on every node before it is appended.
//
//   // neg(neg(x)) -> x
//   rule("neg-neg", op(OpKind::Neg, op(OpKind::Neg, X)), [](Rewriter &, const Match &m) { return m[X]; }),
//
// A pattern matches a value by the op that defines it and, recursively, by its operands; `X`,
// `Y`, ... bind values (a variable used twice must bind the same value, so `op(Sub, X, X)`
// matches x - x), `splat(1.0)` matches a `constant` op of value 1, `.as(V)` binds the node of a
// sub-pattern so that the replacement can read its attributes. Operands of commutative ops
// (OpCommutative) match in either order.
//
// Rewriting is a mutator in the style of Halide's IRMutator: the Function is rebuilt in node
// order, so operands are always rewritten before their users and a replacement may build new
// nodes (they land before the node they replace, keeping the topological order that
// Function::replaceAllUsesWith cannot restore). The replacement's nodes go through the rules
// too, so one sweep reaches a fixed point for rules that only shrink the graph; the driver
// sweeps again until nothing changes.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <array>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace nnc::rewrite {

/// A variable of a pattern: a slot that a match binds to a value (and its node, if any).
struct Var {
  uint8_t slot;
};
inline constexpr size_t kNumVars = 8;
inline constexpr Var X{0}, Y{1}, C1{2}, C2{3}, Inner{4}, Outer{5};

/// A pattern over values; see the file comment.
class Pattern {
public:
  enum class Kind : uint8_t {
    Any,    ///< any value
    AnyOp,  ///< any node (only useful as the root of a rule)
    Op,     ///< a node of one op kind with operands matching `operands`
    Splat,  ///< a `constant` node, of value `value` when set
  };

  /// Any value, bound to `v`.
  Pattern(Var v) : kind_(Kind::Any), bind_(v.slot) {}
  Pattern(Kind kind, OpKind op, std::vector<Pattern> operands, std::optional<double> value)
      : kind_(kind), op_(op), operands_(std::move(operands)), value_(value) {}

  /// This pattern, binding the value it matches (and its node) to `v`.
  Pattern as(Var v) const {
    Pattern p = *this;
    p.bind_ = v.slot;
    return p;
  }

  Kind kind() const { return kind_; }
  OpKind op() const { return op_; }
  const std::vector<Pattern> &operands() const { return operands_; }
  std::optional<double> value() const { return value_; }
  int bind() const { return bind_; }

private:
  Kind kind_;
  OpKind op_ = OpKind::Constant;
  std::vector<Pattern> operands_;
  std::optional<double> value_;
  int bind_ = -1;
};

/// `op(operands...)`.
template <typename... P> Pattern op(OpKind kind, P... operands) {
  return Pattern(Pattern::Kind::Op, kind, {Pattern(operands)...}, std::nullopt);
}
/// Any node: the rule decides from the node itself (e.g. constant folding).
inline Pattern anyOp() { return Pattern(Pattern::Kind::AnyOp, OpKind::Constant, {}, std::nullopt); }
/// A `constant` node filled with `value` (any shape and dtype).
inline Pattern splat(double value) { return Pattern(Pattern::Kind::Splat, OpKind::Constant, {}, value); }
/// Any `constant` node, bound to `v`.
inline Pattern splat(Var v) { return Pattern(Pattern::Kind::Splat, OpKind::Constant, {}, std::nullopt).as(v); }

/// What a successful match bound: the root node (not yet part of the function) and, per
/// variable, the value and its defining node (nullptr for arguments and unbound variables).
/// The node pointers point into the function being built: read what a replacement needs from
/// them before it calls Rewriter::create, which may append nodes and move them.
struct Match {
  const Node *root = nullptr;
  std::array<ValueId, kNumVars> values{};
  std::array<const Node *, kNumVars> nodes{};

  ValueId operator[](Var v) const { return values[v.slot]; }
  /// The node bound to `v`; the pattern must have bound an op or splat there.
  const Node &node(Var v) const { return *nodes[v.slot]; }
  /// The value of the splat constant bound to `v`.
  double splatValue(Var v) const;
};

class Rewriter;

/// A rewrite: the replacement value for a matched node, or nullopt when a side condition fails.
/// The replacement must have the type of the matched node.
using Replacement = std::function<std::optional<ValueId>(Rewriter &, const Match &)>;

/// One rewrite rule; the algebra goes in a comment above it.
struct Rule {
  std::string_view name;
  Pattern pattern;
  Replacement replace;
};
inline Rule rule(std::string_view name, Pattern pattern, Replacement replace) {
  return {name, std::move(pattern), std::move(replace)};
}

/// Builds nodes into a Function, applying rules to each node before it is appended.
class Rewriter {
public:
  Rewriter(Function &out, std::span<const Rule> rules) : out_(out), rules_(rules) {}

  /// The value of `op(operands) {attrs}`: the replacement of the first rule that matches, or a
  /// new node. Attributes are canonicalized and the shape rule runs (an ill-typed request is an
  /// internal error, as in Builder::create). An invalid `loc` means the current loc.
  ValueId create(OpKind op, std::vector<ValueId> operands, Attrs attrs = {}, SourceLoc loc = {});
  /// A `constant` of `type` filled with `value` (through the rules, like any node).
  ValueId constant(double value, const TensorType &type);

  const Function &function() const { return out_; }
  const TensorType &type(ValueId v) const { return out_.type(v); }
  /// The node defining `v`, or nullptr for an argument.
  const Node *definingNode(ValueId v) const { return out_.definingNode(v); }
  /// The location new nodes get when created without one.
  void setLoc(SourceLoc loc) { loc_ = loc; }
  /// The stage new nodes are marked with (that of the node being rewritten).
  void setStage(Stage stage) { stage_ = stage; }
  /// How many times a rule replaced a node.
  size_t rewrites() const { return rewrites_; }

private:
  bool match(const Pattern &p, ValueId v, Match &m) const;
  bool matchNode(const Pattern &p, const Node &n, Match &m) const;

  Function &out_;
  std::span<const Rule> rules_;
  SourceLoc loc_;
  Stage stage_ = Stage::None;
  size_t rewrites_ = 0;
  int depth_ = 0; ///< nesting of create calls made by replacements
};

/// The mutator the rewriting passes share: rebuilds `f` into a new Function with the same name,
/// arguments (in order), results and updates, calling `emit(out, node)` for each node in order
/// with the node's operands already mapped to their new values. `emit` returns the new value of
/// the node (a new node, or any value defined earlier in `out`).
Function rebuild(const Function &f, const std::function<ValueId(Function &out, const Node &node)> &emit);

/// Rewrites `f` with `rules` until no rule applies (at most `maxSweeps` sweeps); returns the
/// number of rewrites. `f` is left untouched when no rule applies. Nodes made dead by rewrites
/// stay for dead-code elimination.
size_t rewriteToFixedPoint(Function &f, std::span<const Rule> rules, int maxSweeps = 8);

} // namespace nnc::rewrite
