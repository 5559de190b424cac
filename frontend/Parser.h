//===- Parser.h - Recursive-descent parser of the .nn model language ------------------------===//
//
// Parses a whole file into a Program. Syntax errors are reported to the DiagnosticEngine and
// the parser recovers at the next statement (the next line), so one run reports every syntax
// error in the file. The grammar is written above each parse function in Parser.cpp.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/AST.h"

namespace nnc {

/// Parses `file`. The returned Program holds everything that parsed; check
/// `diags.hasErrors()` before using it.
Program parseProgram(const SourceFile &file, DiagnosticEngine &diags);

} // namespace nnc
