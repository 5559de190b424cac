//===- TextPrinter.h - The textual form of the graph IR -------------------------------------===//
//
// Prints modules and functions in the textual IR that TextParser.h reads back (docs/IR.md gives
// the grammar). A module names its source file once (`source "examples/iris.nn"`); `loc(l:c)`
// annotations refer to that file. Arguments print as `%name`, node results as `%0`, `%1`, ...
// in node order; scalar constants print inline at their uses as `f32(0.1)`, with the shortest
// decimal that reads back as the same value; a training function labels where its forward,
// backward and update stages begin. The text is canonical: printing, parsing and printing
// again gives identical text.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// The textual form of a whole module: the `source` line when the module has a source name,
/// then its functions separated by blank lines.
std::string printModule(const Module &module);
/// The textual form of one function:
///
///   func @train_step(
///       %x: f32[16,4] input,
///       %W: f32[4,3] state trainable init="glorot_uniform" loc(3:9),
///       ...
///   ) {
///   forward:
///     %0 = matmul %x, %W {transpose_a = false, transpose_b = false} : f32[16,3] loc(12:16-20)
///     ...
///     %4 = mul f32(0.1), %3 : f32[] loc(13:8)
///   backward:
///     ...
///   update:
///     %8 = constant 0.00625 : f32[4,3] loc(20:3-11)
///     ...
///     %11 = add %step, i32(1) : i32[] loc(20:3-11)
///     return loss = %4, probs = %1
///     update %W = %10
///     update %step = %11
///   }
std::string printFunction(const Function &function);
/// The name a value has in printFunction's text: `%x` for argument x, `%N` for the N-th node
/// that prints on a line of its own, the literal (`f32(0.1)`) for an inline constant. Invalid
/// values print as `%<invalid>`. O(nodes); meant for messages, not for loops.
std::string valueName(const Function &function, ValueId v);
/// The printed name of every value, indexed by ValueId::index (empty for removed ids).
std::vector<std::string> valueNames(const Function &function);
/// `loc(12:16)`, `loc(12:16-20)` when the span covers columns 16 to 20, empty when invalid.
std::string formatLoc(SourceLoc loc);

/// True for the nodes printed inline at their uses rather than on a line: scalar constants.
bool isInlineConstant(const Node &node);
/// The value of a constant of `dtype` as the shortest decimal that reads back as the same
/// value of that dtype: an f32 value is rounded to float first (1 - 0.9 prints `0.1`), i32 and
/// i1 values print as integers; `inf`, `-inf`, `nan` and `-0.0` print as such.
std::string formatConstantValue(double value, DType dtype);
/// The inline form of a scalar constant: `f32(0.1)`, `i32(1)`, `f64(-inf)`.
std::string formatScalar(double value, DType dtype);
/// `text` with every line turned into a `//` comment, which the IR parser skips: a report
/// printed after a module (the kernel listing of --emit=opt) leaves the text readable as IR.
/// Empty lines become a bare `//`; the result ends with a newline when `text` is not empty.
std::string commentLines(std::string_view text);

} // namespace nnc
