//===- Result.cpp - Building and merging errors ----------------------------------------------===//
//
// The factories of Error that turn diagnostics into the text a user sees, and the way back from
// an Error into a DiagnosticEngine.
//
//===----------------------------------------------------------------------------------------===//
#include "support/Result.h"

namespace nnc {

Error Error::at(SourceLoc loc, std::string message) {
  Error e{message};
  e.diagnostics.push_back({Severity::Error, loc, std::move(message)});
  return e;
}

Error Error::from(const DiagnosticEngine &diags) {
  assert(diags.hasErrors() && "an Error needs at least one error diagnostic");
  return Error{diags.renderAll(), diags.diagnostics()};
}

void report(DiagnosticEngine &diags, const Error &error) {
  if (error.diagnostics.empty()) {
    diags.error({}, error.message);
    return;
  }
  for (const Diagnostic &d : error.diagnostics)
    diags.report(d.severity, d.loc, d.message);
}

} // namespace nnc
