//===- Attrs.cpp - Compile-time attributes of IR nodes --------------------------------------===//
//
// Typed access to attribute maps and the textual form of attribute values.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Attrs.h"

#include <cmath>
#include <fmt/format.h>

namespace nnc {

std::string_view attrKindName(AttrKind kind) {
  switch (kind) {
  case AttrKind::Int: return "int";
  case AttrKind::Float: return "float";
  case AttrKind::Bool: return "bool";
  case AttrKind::String: return "string";
  case AttrKind::Ints: return "int list";
  }
  return "?";
}

/// A string literal with `"` and `\` escaped and other bytes outside printable ASCII as \xHH.
static std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", static_cast<char>(c));
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string formatAttr(const Attr &a) {
  switch (attrKind(a)) {
  case AttrKind::Int: return fmt::format("{}", std::get<int64_t>(a));
  case AttrKind::Float: {
    double v = std::get<double>(a);
    if (std::isnan(v))
      return "nan";
    std::string s = fmt::format("{}", v); // shortest text that reads back exactly
    if (s.find_first_of(".eEn") == std::string::npos)
      s += ".0";
    return s;
  }
  case AttrKind::Bool: return std::get<bool>(a) ? "true" : "false";
  case AttrKind::String: return quote(std::get<std::string>(a));
  case AttrKind::Ints: return fmt::format("[{}]", fmt::join(std::get<std::vector<int64_t>>(a), ", "));
  }
  return "?";
}

void Attrs::erase(std::string_view name) {
  if (auto it = map_.find(name); it != map_.end())
    map_.erase(it);
}

const Attr *Attrs::find(std::string_view name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

int64_t Attrs::getInt(std::string_view name, int64_t def) const {
  const Attr *a = find(name);
  return a && std::holds_alternative<int64_t>(*a) ? std::get<int64_t>(*a) : def;
}

double Attrs::getFloat(std::string_view name, double def) const {
  const Attr *a = find(name);
  if (a && std::holds_alternative<double>(*a))
    return std::get<double>(*a);
  if (a && std::holds_alternative<int64_t>(*a))
    return static_cast<double>(std::get<int64_t>(*a));
  return def;
}

bool Attrs::getBool(std::string_view name, bool def) const {
  const Attr *a = find(name);
  return a && std::holds_alternative<bool>(*a) ? std::get<bool>(*a) : def;
}

std::string Attrs::getString(std::string_view name, std::string def) const {
  const Attr *a = find(name);
  return a && std::holds_alternative<std::string>(*a) ? std::get<std::string>(*a) : def;
}

std::vector<int64_t> Attrs::getInts(std::string_view name, std::vector<int64_t> def) const {
  const Attr *a = find(name);
  return a && std::holds_alternative<std::vector<int64_t>>(*a) ? std::get<std::vector<int64_t>>(*a)
                                                               : def;
}

std::string Attrs::str() const {
  if (map_.empty())
    return {};
  std::string out = "{";
  for (const auto &[name, value] : map_) {
    if (out.size() > 1)
      out += ", ";
    out += fmt::format("{} = {}", name, formatAttr(value));
  }
  return out + "}";
}

} // namespace nnc
