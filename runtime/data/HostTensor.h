//===- HostTensor.h - A typed, shaped block of bytes in host memory ---------------------------===//
//
// The exchange type of the file formats (.npy, safetensors): an element type, a shape and the
// elements in C order as little-endian bytes. It knows nothing of the IR; the runtime copies
// parameters and data in and out of it by name.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace nnc {

/// Element types of tensors on disk.
enum class ElementType : uint8_t { F32, F64, I32, I64, U8 };

/// Bytes per element of `t`.
size_t elementSize(ElementType t);
/// The safetensors name of `t`: "F32", "F64", "I32", "I64", "U8".
std::string_view elementTypeName(ElementType t);
/// The ElementType whose safetensors name is `name`, if any.
std::optional<ElementType> elementTypeFromName(std::string_view name);

/// The number of elements of a tensor of shape `shape` (1 for a scalar), or an Error when a
/// dimension is negative or the product overflows `limit`.
Result<uint64_t> shapeElements(std::span<const int64_t> shape, uint64_t limit = UINT64_MAX);

/// A tensor in host memory: `bytes` holds numel() elements of `dtype` in C order, little-endian.
struct HostTensor {
  ElementType dtype = ElementType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  size_t numel() const { return bytes.size() / elementSize(dtype); }

  /// A tensor of `shape` holding a copy of `values` (whose size must be the shape's product).
  template <class T> static HostTensor of(std::vector<int64_t> shape, std::span<const T> values);
  /// A copy of the elements as T; only valid when T matches dtype.
  template <class T> std::vector<T> values() const;
  /// The elements converted to float, whatever the dtype.
  std::vector<float> toFloat() const;

  bool operator==(const HostTensor &) const = default;
};

/// The ElementType of C++ type T.
template <class T> constexpr ElementType elementTypeOf() {
  if constexpr (std::is_same_v<T, float>) return ElementType::F32;
  else if constexpr (std::is_same_v<T, double>) return ElementType::F64;
  else if constexpr (std::is_same_v<T, int32_t>) return ElementType::I32;
  else if constexpr (std::is_same_v<T, int64_t>) return ElementType::I64;
  else {
    static_assert(std::is_same_v<T, uint8_t>, "no ElementType for this type");
    return ElementType::U8;
  }
}

template <class T> HostTensor HostTensor::of(std::vector<int64_t> shape, std::span<const T> values) {
  HostTensor t;
  t.dtype = elementTypeOf<T>();
  t.shape = std::move(shape);
  t.bytes.resize(values.size_bytes());
  if (!values.empty())
    std::memcpy(t.bytes.data(), values.data(), values.size_bytes());
  return t;
}

template <class T> std::vector<T> HostTensor::values() const {
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty())
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

} // namespace nnc
