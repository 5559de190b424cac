//===- Autodiff.h - Reverse-mode automatic differentiation of a Function --------------------===//
//
// appendGradients derives the gradient of a scalar loss with respect to chosen values (the
// trainable parameters) symbolically: it appends the backward computation to the same Function,
// node by node, from the vector-Jacobian rules of GradRules.h, and returns the gradient values.
// The forward values the backward pass needs are simply reused, since both live in one graph.
// A missing rule is an error value naming the op and the source line that used it.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"
#include "ir/Graph.h"
#include "passes/training/GradRules.h"

#include <vector>

namespace nnc {

/// For every value (indexed by ValueId::index): true when it is a float value that depends on
/// one of `wrt` through ops flagged OpDifferentiable in Ops.def. Integer and mask values, and
/// the results of ops without the flag (cmp, random, one_hot, ...), are never active.
std::vector<bool> activeValues(const Function &function, const std::vector<ValueId> &wrt);

/// Per ValueId index: true for `output` and every value it is computed from (both modes of
/// differentiation skip the nodes that do not reach their output).
std::vector<bool> valuesReaching(const Function &function, ValueId output);

/// Appends to `function` the gradient of `loss` (a float scalar) with respect to each of `wrt`
/// (float values, normally trainable state arguments) and returns the gradient values, one per
/// element of `wrt`, each of its type (a zero constant when the loss does not depend on it).
///
/// Algorithm:
///   1. Mark the active values: float values that depend on `wrt` (activeValues).
///   2. Mark the values the loss depends on, walking back from it; only nodes that are both
///      active and reach the loss are differentiated.
///   3. Seed the loss's adjoint with 1 and walk the marked nodes in reverse topological order.
///      A node whose result has no adjoint (a symbolic zero) is skipped.
///   4. For each node, look up its op's rule; an op with no entry, or one declared not
///      differentiable but flagged OpDifferentiable, is an error at the node's source line.
///      The rule gives the operand adjoints; only active operands ask for one.
///   5. Sum the adjoints of values used several times (one `add` per extra use).
///   6. Return the adjoint of each of `wrt`, or a zero constant.
/// Backward nodes carry the source location of the forward node they differentiate.
Result<std::vector<ValueId>>
appendGradients(Function &function, ValueId loss, const std::vector<ValueId> &wrt,
                const GradRuleTable &rules = defaultGradRules());

} // namespace nnc
