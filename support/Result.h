//===- Result.h - A value or the diagnostics that explain why there is none ------------------===//
//
// Every library layer of nnc reports failure as a value, never as an exception or an abort: a
// Result<T> holds either a T or an Error. An Error is what a user is shown: located diagnostics
// (severity, source location, message) of one source file, rendered like a C compiler does, or
// a plain message for failures that have no place in a source file ("iris.csv:7: ..."). Its
// `message` is always the finished text, so a caller that only prints needs nothing else; a
// caller that merges the failure into its own DiagnosticEngine uses `diagnostics`. Only the
// driver prints and chooses the exit status.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Diagnostic.h"

#include <cassert>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace nnc {

/// A failure described for a user: `Error{"message"}` or one of the factories below.
struct Error {
  Error() = default;
  explicit Error(std::string message) : message(std::move(message)) {}
  Error(std::string message, std::vector<Diagnostic> diagnostics)
      : message(std::move(message)), diagnostics(std::move(diagnostics)) {}

  /// The text to show: the plain message, or the diagnostics rendered with file name, source
  /// line and caret where they are known.
  std::string message;
  /// The located diagnostics behind `message`; empty for a plain-message error.
  std::vector<Diagnostic> diagnostics;

  /// A failure with no place in a source file, e.g. "iris.csv:7: expected 5 columns, found 4".
  static Error plain(std::string message) { return Error{std::move(message)}; }
  /// One error at `loc` of a source file that is not at hand: `message` is the bare message
  /// (the caller knows the file and renders the location, e.g. through a DiagnosticEngine).
  static Error at(SourceLoc loc, std::string message);
  /// The diagnostics collected by `diags` (it must have errors), rendered against its file.
  static Error from(const DiagnosticEngine &diags);

  /// True when the failure carries source locations.
  bool located() const { return !diagnostics.empty(); }
};

/// Adds the diagnostics of `error` to `diags` (a plain-message error becomes one error without
/// a location), so that one engine reports the failures of several stages in source order.
void report(DiagnosticEngine &diags, const Error &error);

/// Either a value of type T or an Error. Test it with `if (!r)` before using `*r`; using the
/// value of a failed Result is a programmer error.
template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T &operator*() & { assert(ok()); return std::get<0>(v_); }
  const T &operator*() const & { assert(ok()); return std::get<0>(v_); }
  T &&operator*() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T *operator->() { assert(ok()); return &std::get<0>(v_); }
  const T *operator->() const { assert(ok()); return &std::get<0>(v_); }

  /// The error; only valid when !ok().
  const Error &error() const & { assert(!ok()); return std::get<1>(v_); }
  Error &&error() && { assert(!ok()); return std::get<1>(std::move(v_)); }
  const std::string &message() const { return error().message; }

private:
  std::variant<T, Error> v_;
};

/// Success carrying nothing, or an Error.
template <> class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error &error() const & { assert(failed_); return error_; }
  Error &&error() && { assert(failed_); return std::move(error_); }
  const std::string &message() const { return error().message; }

private:
  Error error_;
  bool failed_ = false;
};

} // namespace nnc
