//===- DCE.cpp - Dead-code elimination ------------------------------------------------------===//
//
// A node whose value reaches no result and no state update is dead: every op is pure, so it
// can go. Function::removeDeadNodes marks backwards from the results and updates.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/optimize/GraphPasses.h"

namespace nnc {

size_t eliminateDeadCode(Function &f) { return f.removeDeadNodes(); }

} // namespace nnc
