//===- Sema.h - Name, arity and keyword checks on the AST -----------------------------------===//
//
// The checks that need no shapes: every name is defined before use and only once, calls name a
// builtin or a `def` with the right arguments, keyword arguments exist, literal arguments have
// the right kind (an integer for `units`, an activation for `act`), each model has exactly one
// `loss`, the `train` block's settings are known and well-typed, and `def`s do not recurse.
// Shape and type errors are found later, when the model is lowered to IR.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/AST.h"
#include "frontend/Builtins.h"

#include <map>
#include <string>

namespace nnc {

/// Reports every problem found in `program` to `diags`.
void checkProgram(const Program &program, DiagnosticEngine &diags);

/// The arguments of one call matched to a builtin's parameters by position or keyword.
struct BoundArgs {
  std::map<std::string, const Expr *, std::less<>> named; ///< parameter name -> argument
  std::vector<const Expr *> rest;                         ///< variadic extras
  const Expr *get(std::string_view name) const {
    auto it = named.find(name);
    return it == named.end() ? nullptr : it->second;
  }
};

/// Binds `call`'s arguments to `builtin`'s parameters; reports arity and keyword errors.
/// Returns false if any error was reported.
bool bindArgs(const Expr &call, const Builtin &builtin, BoundArgs &out, DiagnosticEngine &diags);

} // namespace nnc
