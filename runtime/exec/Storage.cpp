//===- Storage.cpp - Tensor elements in the layout compiled code reads and writes -----------===//
#include "runtime/exec/Storage.h"

#include "codegen/Emitter.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace nnc {

size_t storageSize(const TensorType &type) {
  return static_cast<size_t>(std::max<int64_t>(1, type.numElements() * storageBytes(type.dtype)));
}

double readElement(const void *buffer, DType dtype, size_t i) {
  const auto *p = static_cast<const uint8_t *>(buffer) + i * static_cast<size_t>(storageBytes(dtype));
  switch (dtype) {
  case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
  case DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
  case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
  case DType::I1: return *p != 0;
  }
  return 0;
}

void writeElement(void *buffer, DType dtype, size_t i, double value) {
  auto *p = static_cast<uint8_t *>(buffer) + i * static_cast<size_t>(storageBytes(dtype));
  switch (dtype) {
  case DType::F32: { float f = static_cast<float>(value); std::memcpy(p, &f, 4); break; }
  case DType::F64: std::memcpy(p, &value, 8); break;
  case DType::I32: { int32_t x = static_cast<int32_t>(value); std::memcpy(p, &x, 4); break; }
  case DType::I1: *p = value != 0; break;
  }
}

} // namespace nnc
