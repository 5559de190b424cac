//===- Interpreter.h - The reference interpreter of the graph IR ----------------------------===//
//
// The interpreter is the oracle of nnc: compiled code is tested against it and the gradient
// checker runs on it. It evaluates a Function node by node with one plain kernel per op, in
// double precision; values of f32 type are rounded to float after every op (and on input), so
// an f32 graph gets f32 semantics and an f64 graph f64 semantics. With promoteF32ToF64 the
// rounding is skipped and an f32 graph is evaluated entirely in double. i32 and i1 values are
// held exactly in doubles. Bad inputs (a missing argument, a wrong shape) are errors, not
// crashes.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "support/Result.h"

#include <map>
#include <string>
#include <vector>

namespace nnc {

/// A tensor value: its type and its elements in row-major order.
struct Tensor {
  TensorType type;
  std::vector<double> data; ///< type.numElements() elements

  Tensor() = default;
  Tensor(TensorType type, std::vector<double> data) : type(std::move(type)), data(std::move(data)) {}
  /// A tensor of `type` filled with `value`.
  static Tensor filled(const TensorType &type, double value);
  /// A scalar.
  static Tensor scalar(double value, DType dtype = DType::F32) { return {{dtype, {}}, {value}}; }
  /// The element at a multi-index (one index per dimension).
  double at(const std::vector<int64_t> &index) const;
  bool operator==(const Tensor &) const = default;
};

struct InterpreterOptions {
  /// Evaluate f32 values in double precision without rounding (result types stay f32).
  bool promoteF32ToF64 = false;
  /// Keep every value in EvalResult::values (for debugging and gradient checking).
  bool keepAllValues = false;
};

/// What one evaluation of a Function produced.
struct EvalResult {
  std::map<std::string, Tensor> results; ///< by result name
  std::map<std::string, Tensor> updates; ///< new state, by state argument name
  /// With keepAllValues: every value indexed by ValueId::index (removed ids stay empty).
  std::vector<Tensor> values;
};

/// Evaluates `function` with `args` (by argument name; every argument must be given, with its
/// exact type, data of the right length, integral i32 values and 0/1 i1 values). Returns the
/// results and state updates, or an Error (located at the node whose result is too large for
/// the interpreter, where that is the problem).
Result<EvalResult> evaluate(const Function &function,
                                               const std::map<std::string, Tensor> &args,
                                               const InterpreterOptions &options = {});

/// Evaluates one op on operand tensors: runs the shape rule on canonicalized attrs, then the
/// kernel. Returns the result or the shape rule's message.
Result<Tensor> evaluateOp(OpKind op, const std::vector<Tensor> &operands,
                                             Attrs attrs = {},
                                             const InterpreterOptions &options = {});

/// True when the interpreter has a kernel for `op` (the op-table test checks every op).
bool hasKernel(OpKind op);

} // namespace nnc
