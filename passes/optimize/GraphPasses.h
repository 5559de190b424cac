//===- GraphPasses.h - The graph-level optimization passes ----------------------------------===//
//
// The passes the pass manager (PassManager.h) runs over each Function of a training module,
// before fusion and code generation. Each takes a Function, rewrites it in place, keeps it
// well formed (the verifier passes after each), keeps its results and state updates (names,
// order, values up to floating-point rounding documented per rule) and returns the number of
// changes it made: rules applied, nodes merged or nodes removed.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <cstddef>

namespace nnc {

/// Algebraic simplification and constant folding, as declarative rewrite rules run to a fixed
/// point (Simplify.cpp lists each rule with its algebra and its floating-point caveat).
size_t simplify(Function &f);

/// Numerically stable forms: log(softmax x) -> log_softmax x, log(sigmoid x) -> -softplus(-x),
/// log(1 + x) -> log1p x (Stabilize.cpp).
size_t stabilize(Function &f);

/// batch_norm rewritten as elementwise ops over broadcast per-channel rows, after autodiff has
/// used the op for its one-pass gradient, so that it fuses with its users (ExpandBatchNorm.cpp).
size_t expandBatchNorm(Function &f);

/// Common-subexpression elimination by structural hashing: a node with the op, operands,
/// attributes and type of an earlier node is replaced by it (CSE.cpp).
size_t eliminateCommonSubexpressions(Function &f);

/// Dead-code elimination: removes nodes that reach no result and no state update (DCE.cpp).
size_t eliminateDeadCode(Function &f);

} // namespace nnc
