//===- Type.h - Element types and static tensor types of the graph IR ----------------------===//
//
// Every value of the nnc graph IR is a tensor whose element type and shape are known when the
// model is compiled. A TensorType is a DType plus a list of dimensions, all positive; rank 0 is
// a scalar. Types print the way the textual IR writes them: `f32[16,3]`, `f32[]`, `i1[16]`.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// The largest dimension, and the most elements, a well-formed tensor type may have (2^31 and
/// 2^40, documented in docs/LANGUAGE.md). The front end rejects larger sizes where the source
/// writes them, the shape rules where an op would produce them, so that no size or byte count
/// computed on a well-formed graph overflows int64.
inline constexpr int64_t kMaxDim = int64_t(1) << 31;
inline constexpr int64_t kMaxElements = int64_t(1) << 40;

/// Null when `shape` is within the limits above (each dimension in [1, kMaxDim], at most
/// kMaxElements elements), else what is wrong with it: "has a dimension outside [1, 2147483648]"
/// or "has more than 1099511627776 elements".
std::optional<std::string> shapeLimitProblem(const std::vector<int64_t> &shape);

/// Element type of a tensor. I1 is a boolean mask (the result of `cmp`, the mask of `select`).
enum class DType : uint8_t { F32, F64, I32, I1 };

/// "f32", "f64", "i32" or "i1".
std::string_view dtypeName(DType dtype);
/// The inverse of dtypeName; nullopt for any other text.
std::optional<DType> parseDType(std::string_view text);
/// True for F32 and F64.
inline bool isFloat(DType dtype) { return dtype == DType::F32 || dtype == DType::F64; }

/// The static type of one IR value: element type and row-major shape.
struct TensorType {
  DType dtype = DType::F32;
  std::vector<int64_t> shape; ///< empty for a scalar; each dimension in [1, kMaxDim]

  TensorType() = default;
  TensorType(DType dtype, std::vector<int64_t> shape) : dtype(dtype), shape(std::move(shape)) {}

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  /// Product of the dimensions (1 for a scalar); saturates at INT64_MAX instead of overflowing.
  int64_t numElements() const;
  bool isScalar() const { return shape.empty(); }
  bool operator==(const TensorType &) const = default;
  /// The textual form, e.g. `f32[16,3]`.
  std::string str() const;
};

/// A shape as the IR writes it inside a type: `[16,3]`, `[]`.
std::string formatShape(const std::vector<int64_t> &shape);

} // namespace nnc
