//===- NonFinite.cpp - The first op of a function that produces NaN or infinity -------------===//
#include "ir/NonFinite.h"

#include <cmath>

namespace nnc {

std::variant<std::optional<NonFiniteValue>, std::string> firstNonFinite(const Function &function,
                                                                        const std::map<std::string, Tensor> &args) {
  InterpreterOptions options;
  options.keepAllValues = true;
  auto result = evaluate(function, args, options);
  if (auto *message = std::get_if<std::string>(&result))
    return *message;
  const EvalResult &r = std::get<EvalResult>(result);
  for (const Node &node : function.nodes()) {
    if (!node.result.valid() || node.result.index >= r.values.size())
      continue;
    const Tensor &value = r.values[node.result.index];
    if (value.type.dtype != DType::F32 && value.type.dtype != DType::F64)
      continue;
    for (double x : value.data)
      if (!std::isfinite(x))
        return std::optional<NonFiniteValue>(NonFiniteValue{&node, x});
  }
  return std::optional<NonFiniteValue>();
}

std::string nonFiniteName(double value) { return std::isnan(value) ? "NaN" : value > 0 ? "Inf" : "-Inf"; }

} // namespace nnc
