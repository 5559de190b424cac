//===- Ops.cpp - Properties of op kinds, expanded from Ops.def ------------------------------===//
//
// The per-op facts of Ops.def as tables indexed by OpKind: mnemonic, operand count, flags and
// doc, plus the names of the comparison predicates.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Ops.h"

#include <array>

namespace nnc {

namespace {
struct OpInfo {
  std::string_view mnemonic;
  int numOperands;
  uint32_t flags;
  std::string_view doc;
};

constexpr OpInfo kOpInfo[] = {
#define OP(Name, Mnemonic, NumOperands, Flags, Doc) {Mnemonic, NumOperands, Flags, Doc},
#include "ir/Ops.def"
};

constexpr std::array<OpKind, kNumOpKinds> kAllOps = {
#define OP(Name, Mnemonic, NumOperands, Flags, Doc) OpKind::Name,
#include "ir/Ops.def"
};
} // namespace

std::span<const OpKind> allOpKinds() { return kAllOps; }
std::string_view mnemonic(OpKind op) { return kOpInfo[static_cast<size_t>(op)].mnemonic; }
int numOperands(OpKind op) { return kOpInfo[static_cast<size_t>(op)].numOperands; }
uint32_t opFlags(OpKind op) { return kOpInfo[static_cast<size_t>(op)].flags; }
std::string_view opDoc(OpKind op) { return kOpInfo[static_cast<size_t>(op)].doc; }

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
