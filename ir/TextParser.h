//===- TextParser.h - Reading the textual graph IR ------------------------------------------===//
//
// Parses the text printed by TextPrinter.h back into a Module. Malformed text (bad syntax, an
// unknown op or attribute, a bad type, an undefined or redefined value, a declared type that
// differs from the op's shape rule, ...) is reported as located diagnostics, never by crashing,
// for any input bytes. `//` starts a comment that runs to the end of the line.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "support/Result.h"

namespace nnc {

/// Parses `file` (its text) into a Module, or an Error with every problem found as a
/// diagnostic located in `file`. The `loc(...)` annotations of the text become the nodes' and
/// arguments' SourceLocs (they refer to the .nn source named by the `source` line, not to this
/// text); stage labels become the nodes' stages.
Result<Module> parseModule(const SourceFile &file);

} // namespace nnc
