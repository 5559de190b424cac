//===- NonFinite.h - The first op of a function that produces NaN or infinity ---------------===//
//
// When a train step's loss or state stops being finite, the question is where it started. The
// reference interpreter evaluates the function node by node; this walks its values in node order
// (a topological order) and returns the first node with a NaN or infinite element, whose source
// location points at the expression of the .nn model that produced it.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Interpreter.h"

#include <optional>
#include <string>
#include <variant>

namespace nnc {

struct NonFiniteValue {
  const Node *node = nullptr; ///< the first node whose result has a non-finite element
  double value = 0;           ///< that element: NaN, +Inf or -Inf
};

/// Evaluates `function` on `args` (as nnc::evaluate) and finds the first node in node order whose
/// (floating-point) result has a NaN or infinite element: nullopt when every value is finite,
/// the interpreter's message when the evaluation fails.
std::variant<std::optional<NonFiniteValue>, std::string> firstNonFinite(const Function &function,
                                                                        const std::map<std::string, Tensor> &args);

/// "NaN", "Inf" or "-Inf".
std::string nonFiniteName(double value);

} // namespace nnc
