//===- Type.cpp - Element types and static tensor types of the graph IR --------------------===//
//
// Names of element types and the textual form of tensor types.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Type.h"

#include <fmt/format.h>

namespace nnc {

std::string_view dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32: return "f32";
  case DType::F64: return "f64";
  case DType::I32: return "i32";
  case DType::I1: return "i1";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view text) {
  for (DType d : {DType::F32, DType::F64, DType::I32, DType::I1})
    if (dtypeName(d) == text)
      return d;
  return std::nullopt;
}

int64_t TensorType::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      return INT64_MAX;
  return n;
}

std::optional<std::string> shapeLimitProblem(const std::vector<int64_t> &shape) {
  for (int64_t d : shape)
    if (d < 1 || d > kMaxDim)
      return fmt::format("has a dimension outside [1, {}]", kMaxDim);
  if (TensorType(DType::F32, shape).numElements() > kMaxElements)
    return fmt::format("has more than {} elements", kMaxElements);
  return std::nullopt;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

std::string TensorType::str() const { return fmt::format("{}{}", dtypeName(dtype), formatShape(shape)); }

} // namespace nnc
