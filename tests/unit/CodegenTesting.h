//===- CodegenTesting.h - Shared helpers for the codegen unit tests -------------------------===//
//
// Turns llvm::Expected and llvm::Error into Catch2 failures that carry LLVM's message, and
// builds one host Jit per test.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Jit.h"

#include <catch2/catch.hpp>
#include <llvm/Support/Error.h>

namespace nnc::testing {

/// The value of `expected`, or a test failure with its error message.
template <typename T> T unwrap(llvm::Expected<T> expected) {
  if (!expected)
    FAIL(llvm::toString(expected.takeError()));
  return std::move(*expected);
}

/// A test failure with the error's message unless `error` is success.
inline void requireOk(llvm::Error error) {
  if (error)
    FAIL(llvm::toString(std::move(error)));
}

inline std::unique_ptr<Jit> makeJit(JitOptions options = {}) {
  return unwrap(Jit::create(std::move(options)));
}

} // namespace nnc::testing
