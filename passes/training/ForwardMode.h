//===- ForwardMode.h - Forward-mode automatic differentiation (Jacobian-vector products) ----===//
//
// appendJvp pushes tangents forward through a Function: given a tangent for each of some
// values (the parameters), it appends the directional derivative of an output in that
// direction, node by node in topological order, from the same rule table as reverse mode
// (GradRules.h). The gradient checker compares it with the reverse-mode gradient: for any
// direction v, JVP(v) = <grad, v>.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"
#include "ir/Graph.h"
#include "passes/training/GradRules.h"

#include <utility>
#include <vector>

namespace nnc {

/// Appends to `function` the tangent of `output` when each value `seeds[i].first` moves in the
/// direction `seeds[i].second` (a value of its type) and returns it (a zero constant of the
/// output's type when the output does not depend on the seeds).
///
/// Algorithm:
///   1. Give each seeded value its tangent; every other value starts with a symbolic zero.
///   2. Walk the nodes that the output depends on in topological order. A node of an op flagged
///      OpDifferentiable with a float result and some non-zero operand tangent gets the tangent
///      its rule derives (applyJvp); an op with no usable rule is an error at its source line.
///      Integer and mask results, and ops without the flag, have zero tangents.
///   3. Return the output's tangent.
Result<ValueId>
appendJvp(Function &function, ValueId output, const std::vector<std::pair<ValueId, ValueId>> &seeds,
          const GradRuleTable &rules = defaultGradRules());

} // namespace nnc
