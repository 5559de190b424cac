//===- GradRules.h - The one table of derivative rules, one entry per IR op -----------------===//
//
// Every op of ir/Ops.def has exactly one entry in the table of GradRules.cpp, and both modes
// of automatic differentiation read it: reverse mode (Autodiff.h) asks for vector-Jacobian
// products, forward mode (ForwardMode.h) for Jacobian-vector products. An entry states the
// derivative once, in the least it takes, the way JAX's `deflinear` / `defbilinear` / `defjvp`
// do, and the two products are derived from it here, so the modes cannot drift apart:
//
//   Linear       y = L(x...)         states the transpose L^T; the JVP is L applied to tangents
//   Bilinear     y = B(a, b)         states the transpose in each operand; the JVP is
//                                    B(ta, b) + B(a, tb)
//   Elementwise  y = f(x1, ..., xn)  states the partials df/dxi as tensors; the VJP is
//                                    g * df/dxi, the JVP sum_i df/dxi * ti
//   Reduction    y = reduce(x)       states the weights G = dy/dx within each reduced slice; the
//                                    VJP is broadcast(g) * G, the JVP reduce_sum(G * t)
//   Custom       anything else       states both products (softmax, log_softmax, maxpool2d)
//   NotDifferentiable                says why (cmp, one_hot, random, iota, adjoint ops, ...)
//
// Rules only see the forward node (a copy: the graph grows while they run) and build IR with a
// Builder, so everything they make is type-checked by the ops' shape rules.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Builder.h"
#include "ir/Graph.h"

#include <optional>
#include <string_view>
#include <vector>

namespace nnc {

/// How an entry of the table states its derivative; see the file comment.
enum class RuleKind : uint8_t { Linear, Bilinear, Elementwise, Reduction, Custom, NotDifferentiable };

/// Operand adjoints of one node, one per operand; an invalid ValueId is a symbolic zero.
using Cotangents = std::vector<ValueId>;

/// Reverse products. `g` is the adjoint of the node's result, `wanted[i]` says whether operand
/// i needs its adjoint (rules skip the others). Linear ops give their transpose here, bilinear
/// ops their transpose in each operand, custom ops their VJP.
using VjpFn = Cotangents (*)(Builder &b, const Node &node, ValueId g, const std::vector<bool> &wanted);
/// Elementwise ops: the partial derivative of the result with respect to operand `i`, a tensor
/// of the result's type, or an invalid id when the operand is not differentiable (a mask).
using PartialFn = ValueId (*)(Builder &b, const Node &node, size_t i);
/// Reductions over a slice: the weights G (the operand-0 type) with y = reduce_sum(G * x) to
/// first order within each reduced slice, and the reduced axes with their keepdims flag.
struct ReductionForm {
  ValueId weights;
  std::vector<int64_t> axes;
  bool keepdims = false;
};
using ReductionFn = ReductionForm (*)(Builder &b, const Node &node);
/// Custom forward products: the tangent of the result from the operand tangents (invalid =
/// zero). Called only when some operand tangent is non-zero.
using JvpFn = ValueId (*)(Builder &b, const Node &node, const std::vector<ValueId> &tangents);

/// One entry of the table.
struct GradRule {
  OpKind op;
  RuleKind kind;
  VjpFn vjp = nullptr;             ///< Linear, Bilinear, Custom
  PartialFn partial = nullptr;     ///< Elementwise
  ReductionFn reduction = nullptr; ///< Reduction
  JvpFn jvp = nullptr;             ///< Custom
  std::string_view why;            ///< NotDifferentiable: the reason
};

/// A table of rules indexed by op. The default one (defaultGradRules) covers every op; tests
/// copy it and replace or drop entries to see that the checkers notice.
class GradRuleTable {
public:
  explicit GradRuleTable(const std::vector<GradRule> &rules);
  /// The entry for `op`, or nullptr when the table has none.
  const GradRule *find(OpKind op) const;
  /// Adds or replaces the entry for rule.op.
  void set(const GradRule &rule);
  /// Drops the entry for `op`.
  void erase(OpKind op);

private:
  std::vector<std::optional<GradRule>> byOp_;
};

/// The table of GradRules.cpp.
const GradRuleTable &defaultGradRules();

/// The adjoints of the operands of `node` given the adjoint `g` of its result, derived from
/// `rule` as the file comment says. Entries for unwanted operands are invalid.
Cotangents applyVjp(const GradRule &rule, Builder &b, const Node &node, ValueId g,
                    const std::vector<bool> &wanted);
/// The tangent of the result of `node` given its operands' tangents (invalid = zero), derived
/// from `rule`; invalid when every tangent is zero.
ValueId applyJvp(const GradRule &rule, Builder &b, const Node &node, const std::vector<ValueId> &tangents);

} // namespace nnc
