//===- ForwardMode.cpp - Forward-mode automatic differentiation (Jacobian-vector products) --===//
//
// The forward sweep of ForwardMode.h: one pass over the nodes the output depends on, asking
// each node's rule for the tangent of its result (applyJvp in GradRules.cpp).
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/ForwardMode.h"

#include "ir/Builder.h"
#include "passes/training/Autodiff.h"
#include "ir/TextPrinter.h"

#include <fmt/format.h>

namespace nnc {

Result<ValueId>
appendJvp(Function &f, ValueId output, const std::vector<std::pair<ValueId, ValueId>> &seeds,
          const GradRuleTable &rules) {
  if (!f.isValid(output))
    return Error::at({}, fmt::format("@{}: the output to differentiate does not exist", f.name()));
  // 1. Seeds.
  std::vector<ValueId> tangent(f.numValueIds());
  for (auto [v, t] : seeds) {
    if (!f.isValid(v) || !f.isValid(t) || f.type(v) != f.type(t) || !isFloat(f.type(v).dtype))
      return Error::at({}, fmt::format("@{}: a tangent must be a float value of its value's type", f.name()));
    tangent[v.index] = t;
  }
  std::vector<bool> reaches = valuesReaching(f, output);
  const std::vector<Node> forward = f.nodes(); // a copy: the graph grows below

  // 2. Push tangents forward.
  Builder b(f);
  for (const Node &n : forward) {
    if (!reaches[n.result.index] || !isFloat(n.type.dtype) || !hasFlag(n.op, OpDifferentiable))
      continue;
    std::vector<ValueId> ts(n.operands.size());
    bool any = false;
    for (size_t i = 0; i < n.operands.size(); ++i)
      if (isFloat(f.type(n.operands[i]).dtype) && (ts[i] = tangent[n.operands[i].index]).valid())
        any = true;
    if (!any)
      continue;
    const GradRule *rule = rules.find(n.op);
    if (!rule || rule->kind == RuleKind::NotDifferentiable) {
      std::string where = n.loc.valid() ? fmt::format(" (used at line {})", n.loc.line) : "";
      return Error::at(n.loc, fmt::format("cannot differentiate '{}'{}: the op has no {} (in {} of @{})",
                                          mnemonic(n.op), where, rule ? "derivative by design" : "gradient rule",
                                          valueName(f, n.result), f.name()));
    }
    b.setLoc(n.loc);
    tangent[n.result.index] = applyJvp(*rule, b, n, ts);
  }

  // 3. The output's tangent.
  const Node *out = f.definingNode(output);
  b.setLoc(out ? out->loc : f.isArgument(output) ? f.argument(output).loc : SourceLoc{});
  ValueId t = tangent[output.index];
  return t.valid() ? t : b.constantLike(output, 0.0);
}

} // namespace nnc
