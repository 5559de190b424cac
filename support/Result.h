//===- Result.h - A value or an error message ------------------------------------------------===//
//
// The runtime's I/O reports failures as values, never as exceptions or aborts: a Result<T> holds
// either a T or an Error whose message is ready to show a user ("iris.csv:7: ..."). It is the
// small subset of llvm::Expected that data and checkpoint code needs, without linking LLVM.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace nnc {

/// A failure described for a user: what went wrong and where (file, line or byte offset).
struct Error {
  std::string message;
};

/// Either a value of type T or an Error. Test it with `if (!r)` before using `*r`.
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
  const Error &error() const { assert(!ok()); return std::get<1>(v_); }
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
  const Error &error() const { assert(failed_); return error_; }
  const std::string &message() const { return error().message; }

private:
  Error error_;
  bool failed_ = false;
};

} // namespace nnc
