//===- Attrs.h - Compile-time attributes of IR nodes ----------------------------------------===//
//
// Attributes are the compile-time parameters of a node: the axes of a reduction, the stride of
// a convolution, the value of a constant. An Attr is one of five kinds (integer, float, bool,
// string, list of integers) and Attrs maps attribute names to values, ordered by name so that
// printing and comparing are canonical. Which attributes an op takes, their kinds and their
// defaults are declared in the op's row of Ops.def (see attrSpecs in Ops.h).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nnc {

/// One attribute value. Note that `Attr(1)` is an integer and `Attr(1.0)` a float.
using Attr = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>>;

/// The kind of an attribute, in the order of the alternatives of Attr.
enum class AttrKind : uint8_t { Int, Float, Bool, String, Ints };

inline AttrKind attrKind(const Attr &a) { return static_cast<AttrKind>(a.index()); }
/// "int", "float", "bool", "string" or "int list".
std::string_view attrKindName(AttrKind kind);
/// The textual form of an attribute value: `3`, `0.5`, `1.0`, `inf`, `true`, `"lt"`, `[0, 1]`.
/// Floats always print with a `.`, an exponent or as inf/nan, so they never read back as ints;
/// they print in the shortest form that reads back to the same double.
std::string formatAttr(const Attr &a);

/// An ordered map from attribute name to value, with typed getters that return a default
/// when the attribute is absent or of another kind.
class Attrs {
public:
  using Map = std::map<std::string, Attr, std::less<>>;

  Attrs() = default;
  Attrs(std::initializer_list<Map::value_type> init) : map_(init) {}

  /// Sets (or replaces) attribute `name`.
  void set(std::string name, Attr value) { map_[std::move(name)] = std::move(value); }
  void erase(std::string_view name);
  bool has(std::string_view name) const { return map_.find(name) != map_.end(); }
  /// The attribute, or nullptr when absent.
  const Attr *find(std::string_view name) const;

  int64_t getInt(std::string_view name, int64_t def = 0) const;
  /// A float attribute; an integer attribute is converted.
  double getFloat(std::string_view name, double def = 0.0) const;
  bool getBool(std::string_view name, bool def = false) const;
  std::string getString(std::string_view name, std::string def = {}) const;
  std::vector<int64_t> getInts(std::string_view name, std::vector<int64_t> def = {}) const;

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  Map::const_iterator begin() const { return map_.begin(); }
  Map::const_iterator end() const { return map_.end(); }
  bool operator==(const Attrs &) const = default;
  /// `{name = value, ...}` in name order; empty string when there are no attributes.
  std::string str() const;

private:
  Map map_;
};

} // namespace nnc
