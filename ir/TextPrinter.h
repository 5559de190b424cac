//===- TextPrinter.h - The textual form of the graph IR -------------------------------------===//
//
// Prints modules and functions in the textual IR that Parser.h reads back (docs/IR.md gives
// the grammar). Arguments print as `%name`, node results as `%0`, `%1`, ... in node order, so
// the text is canonical: printing, parsing and printing again gives identical text.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace nnc {

/// The textual form of a whole module: its functions separated by blank lines.
std::string printModule(const Module &module);
/// The textual form of one function:
///
///   func @name(
///       %x: f32[16,4] input,
///       %V: f32[4,16] state trainable init="glorot_uniform" loc(3:9)
///   ) {
///     %0 = matmul %x, %V {transpose_a = false, transpose_b = false} : f32[16,16] loc(12:16)
///     return loss = %12, probs = %9
///     update %V = %31
///   }
std::string printFunction(const Function &function);
/// The name a value has in printFunction's text: `%x` for argument x, `%N` for the N-th node.
/// Invalid values print as `%<invalid>`. O(nodes); meant for messages, not for loops.
std::string valueName(const Function &function, ValueId v);
/// The printed name of every value, indexed by ValueId::index (empty for removed ids).
std::vector<std::string> valueNames(const Function &function);
/// `loc(12:16)`, `loc(12:16-20)` when the span covers columns 16 to 20, empty when invalid.
std::string formatLoc(SourceLoc loc);

} // namespace nnc
