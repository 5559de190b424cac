//===- Ops.h - Op kinds, their properties, attributes and shape rules -----------------------===//
//
// OpKind enumerates the operations of the graph IR, expanded from the one table in Ops.def.
// For each op this header answers: its mnemonic in the textual IR (both ways), its operand
// count, its flags (elementwise, differentiable, ...), its one-line doc, the attributes it takes
// (name, kind, default, from the ATTRS column of Ops.def) and its type/shape rule, inferType,
// which returns the result type or a message a user can read, e.g. "cannot matrix-multiply
// f32[16,4] by f32[16,3]: inner dimensions 4 and 16 differ". The rules are implemented in
// ShapeRules.cpp.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Attrs.h"
#include "ir/Type.h"
#include "support/Result.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nnc {

/// One operation of the graph IR; see Ops.def and docs/IR.md.
enum class OpKind : uint16_t {
#define OP(Name, Mnemonic, NumOperands, Flags, Attrs, Doc) Name,
#include "ir/Ops.def"
};

/// The number of op kinds; OpKind values are 0 .. kNumOpKinds-1.
inline constexpr size_t kNumOpKinds = 0
#define OP(Name, Mnemonic, NumOperands, Flags, Attrs, Doc) +1
#include "ir/Ops.def"
    ;

/// Property bits of an op, combined in the flags column of Ops.def.
enum OpFlag : uint32_t {
  /// Result element i depends only on operand elements i; all operands and the result have
  /// the same shape.
  OpElementwise = 1u << 0,
  /// Autodiff needs a gradient rule for it: gradients flow through its float operands. Ops
  /// without the flag have results that autodiff treats as constants.
  OpDifferentiable = 1u << 1,
  /// op(a, b) == op(b, a).
  OpCommutative = 1u << 2,
  /// Draws counter-based random numbers (see Random.h); pure given its operands and attributes.
  OpRandom = 1u << 3,
  /// Exists to express the gradient of another op (e.g. conv2d_grad_input).
  OpAdjoint = 1u << 4,
};

/// All op kinds in table order.
std::span<const OpKind> allOpKinds();
/// The mnemonic of the textual IR, e.g. "matmul".
std::string_view mnemonic(OpKind op);
/// The op with this mnemonic, or nullopt.
std::optional<OpKind> opKindFromMnemonic(std::string_view mnemonic);
/// The number of operands, or -1 for a variadic op (at least one operand).
int numOperands(OpKind op);
/// The OpFlag bits of the op.
uint32_t opFlags(OpKind op);
inline bool hasFlag(OpKind op, OpFlag flag) { return (opFlags(op) & flag) != 0; }
/// The one-line doc of Ops.def.
std::string_view opDoc(OpKind op);

/// One attribute an op takes. An attribute without a default is required.
struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  std::optional<Attr> defaultValue;
};

/// The attributes op takes, in name order: the ATTRS column of its row in Ops.def. Every
/// attribute of a node must be listed here.
std::span<const AttrSpec> attrSpecs(OpKind op);

/// Puts `attrs` into the canonical form of `op`: fills in defaults, converts integers given
/// for float attributes. Returns an Error for an unknown attribute, a missing required one or
/// one of the wrong kind. Builder::tryCreate calls it, so every node
/// in a Function carries all the attributes of its op.
Result<void> canonicalizeAttrs(OpKind op, Attrs &attrs);

/// The type/shape rule of `op`: the result type for these operand types and (canonical)
/// attributes, or a human-readable message saying what is wrong, including wrong operand
/// counts, illegal dtypes and bad attribute values.
Result<TensorType> inferType(OpKind op, const std::vector<TensorType> &operands, const Attrs &attrs);

/// The comparison predicates of `cmp` (attribute `predicate`): "lt", "le", "gt", "ge", "eq",
/// "ne".
enum class CmpPredicate : uint8_t { LT, LE, GT, GE, EQ, NE };
std::string_view cmpPredicateName(CmpPredicate p);
std::optional<CmpPredicate> parseCmpPredicate(std::string_view text);

} // namespace nnc
