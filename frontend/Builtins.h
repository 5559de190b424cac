//===- Builtins.h - The functions, layers and settings a .nn file can name ------------------===//
//
// One table of everything callable in the language: primitive operations, activations,
// reductions, losses, penalties, layers, initializers, optimizers and schedules, each with its
// parameters in positional order (any of them may also be passed by keyword), a one-line doc,
// and how a call lowers to IR: the op it applies, or the lowering function it names (see
// Lowerer.h). The semantic checker uses the table for arity and keyword errors; lowering
// dispatches on it; `nnc --list-builtins` prints it. A second table lists the `train` block
// settings.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Ops.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

struct Expr;      // frontend/AST.h
struct BoundArgs; // frontend/Sema.h
struct Builtin;
namespace lowering {
class Lowerer; // frontend/Lowerer.h
struct Val;
} // namespace lowering

/// A lowering function of Lowerer.h, named by a builtin's row: (call, row, bound arguments,
/// the name the call is assigned to) -> the lowered value.
using LowerFn = lowering::Val (lowering::Lowerer::*)(const Expr &call, const Builtin &builtin,
                                                     const BoundArgs &args, const std::string &assignName);

enum class BuiltinKind {
  Op,          ///< a primitive tensor operation: exp(x), matmul(a, b), ...
  Activation,  ///< elementwise non-linearity; also valid as `act = NAME`
  Reduction,   ///< sum, mean, max over axes
  Loss,        ///< per-example loss
  Penalty,     ///< l1, l2, elastic_net over parameters
  Layer,       ///< creates parameters named after the variable it is assigned to
  Initializer, ///< parameter initializer
  Optimizer,   ///< `optimizer NAME(...)` in the train block
  Schedule,    ///< `schedule NAME(...)` in the train block
};

const char *describe(BuiltinKind kind);

/// What an argument must be. Tensor arguments are expressions; the others are literals.
enum class ParamType { Tensor, Int, Number, Bool, Activation, Initializer };

struct BuiltinParam {
  std::string_view name;
  ParamType type;
  bool required;
  /// For a builtin that is its op: the op attribute this literal sets when it is not `name`
  /// (pow's `p` sets powc's `exponent`).
  std::string_view attr = {};
};

struct Builtin {
  std::string_view name;
  BuiltinKind kind;
  std::vector<BuiltinParam> params; ///< in positional order
  bool variadic;                    ///< takes any number of positional tensors; params by keyword
  std::vector<std::string_view> creates; ///< Layer: the parameters it creates (NAME.weight, ...)
  std::string_view doc;
  /// The IR op a call applies. Without `lower` that is the whole lowering: the tensor
  /// parameters become its operands and the literal ones its attributes (Lowerer::applyOp).
  std::optional<OpKind> op = std::nullopt;
  /// The function that lowers a call, for builtins that are more than their op.
  LowerFn lower = nullptr;
};

/// All builtins, in the order `--list-builtins` prints them.
const std::vector<Builtin> &builtins();
/// The builtin called `name`, or null. With `kind`, only a builtin of that kind matches
/// (`constant` is both an initializer and a schedule).
const Builtin *findBuiltin(std::string_view name);
const Builtin *findBuiltin(std::string_view name, BuiltinKind kind);
/// The names of all builtins of the given kinds (for "did you mean" and "expected one of").
std::vector<std::string_view> builtinNames(std::initializer_list<BuiltinKind> kinds);

/// What the value of a train-block setting must be.
enum class SettingValue { PositiveInt, Number, Bool, String, Optimizer, Schedule };

struct TrainSettingSpec {
  std::string_view name;
  SettingValue value;
  std::string_view doc;
};

const std::vector<TrainSettingSpec> &trainSettings();
const TrainSettingSpec *findTrainSetting(std::string_view name);

/// The candidate closest to `name` by edit distance, if close enough to be a likely typo;
/// empty otherwise.
std::string_view closestMatch(std::string_view name, const std::vector<std::string_view> &candidates);

} // namespace nnc
