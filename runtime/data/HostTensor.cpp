//===- HostTensor.cpp - Element types and conversions of host tensors -----------------------===//
//
// The formats nnc reads and writes store little-endian elements; so does every host nnc runs on,
// which lets the readers copy bytes straight into typed vectors.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/HostTensor.h"

#include <bit>
#include <fmt/format.h>

namespace nnc {

static_assert(std::endian::native == std::endian::little,
              "file formats are read by copying little-endian bytes");

size_t elementSize(ElementType t) {
  switch (t) {
  case ElementType::F32: case ElementType::I32: return 4;
  case ElementType::F64: case ElementType::I64: return 8;
  case ElementType::U8: return 1;
  }
  return 1;
}

std::string_view elementTypeName(ElementType t) {
  switch (t) {
  case ElementType::F32: return "F32";
  case ElementType::F64: return "F64";
  case ElementType::I32: return "I32";
  case ElementType::I64: return "I64";
  case ElementType::U8: return "U8";
  }
  return "?";
}

std::optional<ElementType> elementTypeFromName(std::string_view name) {
  for (ElementType t : {ElementType::F32, ElementType::F64, ElementType::I32, ElementType::I64, ElementType::U8})
    if (elementTypeName(t) == name)
      return t;
  return std::nullopt;
}

Result<uint64_t> shapeElements(std::span<const int64_t> shape, uint64_t limit) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return Error{fmt::format("negative dimension {}", d)};
    if (d != 0 && n > limit / static_cast<uint64_t>(d))
      return Error{"the shape's element count is too large"};
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

std::vector<float> HostTensor::toFloat() const {
  auto convert = [&]<class T>(T) {
    std::vector<T> v = values<T>();
    return std::vector<float>(v.begin(), v.end());
  };
  switch (dtype) {
  case ElementType::F32: return values<float>();
  case ElementType::F64: return convert(double{});
  case ElementType::I32: return convert(int32_t{});
  case ElementType::I64: return convert(int64_t{});
  case ElementType::U8: return convert(uint8_t{});
  }
  return {};
}

} // namespace nnc
