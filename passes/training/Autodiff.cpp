//===- Autodiff.cpp - Reverse-mode automatic differentiation of a Function ------------------===//
//
// The reverse sweep of Autodiff.h: activity and reachability marks, then one pass over the
// nodes from last to first that asks each node's rule for its operands' adjoints and sums them.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/Autodiff.h"

#include "ir/Builder.h"
#include "ir/TextPrinter.h"

#include <fmt/format.h>

namespace nnc {

std::vector<bool> activeValues(const Function &f, const std::vector<ValueId> &wrt) {
  std::vector<bool> active(f.numValueIds(), false);
  for (ValueId v : wrt)
    if (f.isValid(v) && isFloat(f.type(v).dtype))
      active[v.index] = true;
  for (const Node &n : f.nodes()) {
    if (!isFloat(n.type.dtype) || !hasFlag(n.op, OpDifferentiable))
      continue;
    for (ValueId o : n.operands)
      if (active[o.index])
        active[n.result.index] = true;
  }
  return active;
}

std::vector<bool> valuesReaching(const Function &f, ValueId output) {
  std::vector<bool> reaches(f.numValueIds(), false);
  reaches[output.index] = true;
  for (auto it = f.nodes().rbegin(); it != f.nodes().rend(); ++it)
    if (reaches[it->result.index])
      for (ValueId o : it->operands)
        reaches[o.index] = true;
  return reaches;
}

namespace {

/// The error for a node whose op has no usable rule.
Error missingRule(const Function &f, const Node &n, std::string_view why) {
  std::string where = n.loc.valid() ? fmt::format(" (used at line {})", n.loc.line) : "";
  return Error::at(n.loc, fmt::format("cannot differentiate '{}'{}: {} (in {} of @{})", mnemonic(n.op), where, why,
                                      valueName(f, n.result), f.name()));
}

} // namespace

Result<std::vector<ValueId>>
appendGradients(Function &f, ValueId loss, const std::vector<ValueId> &wrt, const GradRuleTable &rules) {
  if (!f.isValid(loss) || !f.type(loss).isScalar() || !isFloat(f.type(loss).dtype))
    return Error::at({}, fmt::format("the loss of @{} must be a float scalar", f.name()));
  for (ValueId v : wrt)
    if (!f.isValid(v) || !isFloat(f.type(v).dtype))
      return Error::at({}, fmt::format("@{}: can only differentiate with respect to float values", f.name()));

  // 1-2. Active values, and the values the loss depends on.
  std::vector<bool> active = activeValues(f, wrt);
  std::vector<bool> reaches = valuesReaching(f, loss);
  const std::vector<Node> forward = f.nodes(); // a copy: the graph grows below

  // 3. Seed and sweep backwards.
  Builder b(f);
  std::vector<ValueId> adjoint(f.numValueIds());
  if (active[loss.index]) {
    b.setLoc(f.definingNode(loss) ? f.definingNode(loss)->loc : SourceLoc{});
    adjoint[loss.index] = b.constantLike(loss, 1.0);
  }
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    const Node &n = *it;
    ValueId g = adjoint[n.result.index];
    if (!active[n.result.index] || !reaches[n.result.index] || !g.valid())
      continue;
    // 4. The rule.
    const GradRule *rule = rules.find(n.op);
    if (!rule)
      return missingRule(f, n, "the op has no gradient rule");
    if (rule->kind == RuleKind::NotDifferentiable)
      return missingRule(f, n, fmt::format("the op is not differentiable: {}", rule->why));
    std::vector<bool> wanted(n.operands.size());
    for (size_t i = 0; i < n.operands.size(); ++i)
      wanted[i] = active[n.operands[i].index];
    b.setLoc(n.loc);
    Cotangents contributions = applyVjp(*rule, b, n, g, wanted);
    // 5. Sum over uses; skip symbolic zeros.
    for (size_t i = 0; i < n.operands.size(); ++i) {
      ValueId c = i < contributions.size() ? contributions[i] : ValueId{};
      if (!c.valid())
        continue;
      ValueId &acc = adjoint[n.operands[i].index];
      acc = acc.valid() ? b.add(acc, c) : c;
    }
  }

  // 6. One gradient per wrt value.
  // A zero gradient is located where the value it belongs to is declared or computed.
  std::vector<ValueId> grads;
  for (ValueId v : wrt) {
    ValueId g = v.index < adjoint.size() ? adjoint[v.index] : ValueId{};
    if (!g.valid()) {
      const Node *d = f.definingNode(v);
      b.setLoc(d ? d->loc : f.isArgument(v) ? f.argument(v).loc : SourceLoc{});
      g = b.constantLike(v, 0.0);
    }
    grads.push_back(g);
  }
  return grads;
}

} // namespace nnc
