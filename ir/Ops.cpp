//===- Ops.cpp - Properties of op kinds, expanded from Ops.def ------------------------------===//
//
// The per-op facts of Ops.def as tables indexed by OpKind: mnemonic, operand count, flags,
// doc and attribute specs, the canonical form of a node's attributes, and the names of the
// comparison predicates.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Ops.h"

#include <algorithm>
#include <array>
#include <fmt/format.h>

namespace nnc {

namespace {
struct OpInfo {
  std::string_view mnemonic;
  int numOperands;
  uint32_t flags;
  std::string_view doc;
};

constexpr OpInfo kOpInfo[] = {
#define OP(Name, Mnemonic, NumOperands, Flags, Attrs, Doc) {Mnemonic, NumOperands, Flags, Doc},
#include "ir/Ops.def"
};

constexpr std::array<OpKind, kNumOpKinds> kAllOps = {
#define OP(Name, Mnemonic, NumOperands, Flags, Attrs, Doc) OpKind::Name,
#include "ir/Ops.def"
};
} // namespace

std::span<const OpKind> allOpKinds() { return kAllOps; }
std::string_view mnemonic(OpKind op) { return kOpInfo[static_cast<size_t>(op)].mnemonic; }
int numOperands(OpKind op) { return kOpInfo[static_cast<size_t>(op)].numOperands; }
uint32_t opFlags(OpKind op) { return kOpInfo[static_cast<size_t>(op)].flags; }
std::string_view opDoc(OpKind op) { return kOpInfo[static_cast<size_t>(op)].doc; }

// --- attributes ----------------------------------------------------------------------------

namespace {
/// The spellings of the ATTRS column: Kind("name") is required, Kind("name", default) optional.
namespace attr_column {
AttrSpec Int(std::string_view name) { return {name, AttrKind::Int, std::nullopt}; }
AttrSpec Float(std::string_view name) { return {name, AttrKind::Float, std::nullopt}; }
AttrSpec Float(std::string_view name, double def) { return {name, AttrKind::Float, Attr(def)}; }
AttrSpec Bool(std::string_view name, bool def) { return {name, AttrKind::Bool, Attr(def)}; }
AttrSpec String(std::string_view name) { return {name, AttrKind::String, std::nullopt}; }
AttrSpec String(std::string_view name, const char *def) { return {name, AttrKind::String, Attr(std::string(def))}; }
AttrSpec Ints(std::string_view name) { return {name, AttrKind::Ints, std::nullopt}; }
AttrSpec Ints(std::string_view name, std::vector<int64_t> def) { return {name, AttrKind::Ints, Attr(std::move(def))}; }
} // namespace attr_column

// GCC 12 with -fsanitize reports a false -Wmaybe-uninitialized inside std::variant's move
// constructor for the string defaults below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
const std::vector<AttrSpec> &specsOf(OpKind op) {
  using namespace attr_column;
  static const std::vector<std::vector<AttrSpec>> table = {
#define ATTRS(...) std::vector<AttrSpec>{__VA_ARGS__}
#define OP(Name, Mnemonic, NumOperands, Flags, Attrs, Doc) Attrs,
#include "ir/Ops.def"
#undef ATTRS
  };
  return table[static_cast<size_t>(op)];
}
#pragma GCC diagnostic pop
} // namespace

std::span<const AttrSpec> attrSpecs(OpKind op) { return specsOf(op); }

Result<void> canonicalizeAttrs(OpKind op, Attrs &attrs) {
  const auto &specs = specsOf(op);
  for (const auto &[name, value] : attrs) {
    auto it = std::find_if(specs.begin(), specs.end(), [&](const AttrSpec &s) { return s.name == name; });
    if (it == specs.end())
      return Error{fmt::format("{} has no attribute '{}'", mnemonic(op), name)};
    if (attrKind(value) != it->kind &&
        !(it->kind == AttrKind::Float && attrKind(value) == AttrKind::Int))
      return Error{fmt::format("attribute '{}' of {} must be {} {}, got {}", name, mnemonic(op),
                         it->kind == AttrKind::Int || it->kind == AttrKind::Ints ? "an" : "a", attrKindName(it->kind),
                         formatAttr(value))};
  }
  for (const AttrSpec &s : specs) {
    const Attr *a = attrs.find(s.name);
    if (!a && !s.defaultValue)
      return Error{fmt::format("{} requires attribute '{}'", mnemonic(op), s.name)};
    if (!a)
      attrs.set(std::string(s.name), *s.defaultValue);
    else if (s.kind == AttrKind::Float && attrKind(*a) == AttrKind::Int)
      attrs.set(std::string(s.name), static_cast<double>(std::get<int64_t>(*a)));
  }
  return {};
}

// --- mnemonics and predicates ----------------------------------------------------------------

std::optional<OpKind> opKindFromMnemonic(std::string_view text) {
  for (OpKind op : kAllOps)
    if (mnemonic(op) == text)
      return op;
  return std::nullopt;
}

static constexpr std::string_view kPredicateNames[] = {"lt", "le", "gt", "ge", "eq", "ne"};

std::string_view cmpPredicateName(CmpPredicate p) { return kPredicateNames[static_cast<size_t>(p)]; }

std::optional<CmpPredicate> parseCmpPredicate(std::string_view text) {
  for (size_t i = 0; i < std::size(kPredicateNames); ++i)
    if (kPredicateNames[i] == text)
      return static_cast<CmpPredicate>(i);
  return std::nullopt;
}

} // namespace nnc
