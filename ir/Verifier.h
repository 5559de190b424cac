//===- Verifier.h - Checking the invariants of the graph IR ---------------------------------===//
//
// The verifier checks everything a well-formed Function promises to the passes after it:
// unique function, argument and result names; operands defined before use; canonical attributes
// and a result type equal to the op's shape rule (which also checks operand dtypes); results
// and updates naming existing values; updates only of state arguments, at most one per state,
// of the state's type. Every pass's tests run it on the pass's output.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "support/Result.h"

#include <string>
#include <vector>

namespace nnc {

/// Success when `function` is well formed, else an Error with one diagnostic per problem,
/// located at the offending argument or node where it has a location, e.g.
/// "@train_step: %3 = matmul: result type f32[16,3] differs from the shape rule's f32[16,4]";
/// the Error's message lists the problems one per line.
Result<void> verify(const Function &function);
/// As above for every function, plus duplicate function names.
Result<void> verify(const Module &module);

} // namespace nnc
