//===- Graph.h - Modules, functions, arguments and nodes of the graph IR --------------------===//
//
// A Module holds Functions (the train step, eval and predict graphs are separate functions)
// and the name of the source file their locations refer to.
// A Function is a static dataflow graph in SSA form: named, typed arguments with a role (input,
// target, state), nodes in topological order each producing one value, named results, and
// state updates (the value that replaces a state argument after a call, written in place).
// Arguments and node results are both values, named by a ValueId that stays valid for the
// life of the Function, even when dead nodes are removed. The nodes of a train step are marked
// with the stage they belong to (forward, backward, update). Nodes are built through Builder
// (Builder.h), which runs the op's shape rule; Function itself only stores and does not check
// (the Verifier does).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Attrs.h"
#include "support/Diagnostic.h"
#include "ir/Ops.h"
#include "ir/Type.h"

#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// Names one value of a Function: an argument or the result of a node. Ids are handed out
/// densely in creation order (arguments and nodes share one numbering) and never reused, so a
/// ValueId can index a side table of size Function::numValueIds(). The default is invalid.
struct ValueId {
  static constexpr uint32_t kInvalid = 0xffffffffu;
  uint32_t index = kInvalid;

  bool valid() const { return index != kInvalid; }
  auto operator<=>(const ValueId &) const = default;
};

/// What an argument is to the runtime.
enum class ArgRole : uint8_t {
  Input,  ///< a minibatch of features, supplied each call
  Target, ///< a minibatch of labels or regression targets, supplied each call
  State,  ///< persists across calls: parameters, optimizer moments, step counters, RNG counters
};
/// "input", "target" or "state".
std::string_view argRoleName(ArgRole role);

/// Which part of a training function a node belongs to. The train-step builder marks its nodes;
/// the textual form prints a label where the stage changes. Other functions leave it None.
enum class Stage : uint8_t {
  None,     ///< not marked (eval and predict functions, nodes built by later passes)
  Forward,  ///< the model's forward pass
  Backward, ///< the gradients of the loss
  Update,   ///< the learning rate, clipping and the optimizer's update of every parameter
};
/// "forward", "backward" or "update"; empty for None.
std::string_view stageName(Stage stage);
/// The inverse of stageName for the three marked stages; nullopt for any other text.
std::optional<Stage> parseStage(std::string_view text);

/// One argument of a Function.
struct Argument {
  std::string name; ///< unique in the function; [A-Za-z_][A-Za-z0-9_.]*
  TensorType type;
  ArgRole role = ArgRole::Input;
  /// State only: a parameter the optimizer trains (false for moments, counters, running stats).
  bool trainable = false;
  /// State only: how the runtime initializes it, e.g. "glorot_uniform", "zeros",
  /// "constant(0.1)", "normal(0,0.01)". Free text to the IR.
  std::string init;
  SourceLoc loc;
  ValueId value; ///< the value that names this argument inside the function
};

/// One operation applied to values, producing the value `result`.
struct Node {
  OpKind op;
  std::vector<ValueId> operands;
  Attrs attrs; ///< canonical: every attribute of attrSpecs(op) is present
  TensorType type; ///< the type of `result`
  SourceLoc loc; ///< where in the .nn source the node comes from (may be invalid)
  ValueId result;
  Stage stage = Stage::None; ///< the part of a training function it belongs to
};

/// A named result of a Function, e.g. `loss` or `probs`.
struct FunctionResult {
  std::string name;
  ValueId value;
};

/// After a call, state argument `state` holds `value` (same type), written in place.
struct StateUpdate {
  ValueId state; ///< the ValueId of a State argument
  ValueId value;
};

/// A static dataflow graph: see the file comment.
class Function {
public:
  explicit Function(std::string name) : name_(std::move(name)) {}

  const std::string &name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

  // --- arguments -------------------------------------------------------------------------
  /// Appends an argument and returns its value.
  ValueId addArgument(std::string name, TensorType type, ArgRole role, bool trainable = false,
                      std::string init = {}, SourceLoc loc = {});
  const std::vector<Argument> &arguments() const { return args_; }
  /// The argument with this name, or nullptr.
  const Argument *findArgument(std::string_view name) const;

  // --- nodes -------------------------------------------------------------------------------
  /// Appends a node (its `result` field is assigned here) and returns its value. Stores
  /// without checking: build nodes with Builder, which runs the shape rule.
  ValueId appendNode(Node node);
  /// The nodes in topological order (every operand is defined before its user).
  const std::vector<Node> &nodes() const { return nodes_; }
  /// Marks the nodes from position `firstNode` to the last as belonging to `stage`.
  void setStage(size_t firstNode, Stage stage);

  // --- values ------------------------------------------------------------------------------
  /// One past the largest ValueId index handed out: the size of a side table indexed by
  /// ValueId::index.
  size_t numValueIds() const { return values_.size(); }
  /// True when `v` names a live argument or node of this function.
  bool isValid(ValueId v) const;
  bool isArgument(ValueId v) const;
  /// The argument named by `v`; `v` must be an argument.
  const Argument &argument(ValueId v) const;
  /// The node defining `v`, or nullptr when `v` is an argument or invalid. The pointer is
  /// invalidated by appendNode and removeDeadNodes.
  const Node *definingNode(ValueId v) const;
  Node *definingNode(ValueId v);
  /// The type of a valid value.
  const TensorType &type(ValueId v) const;
  /// For every value (indexed by ValueId::index) the results of the nodes that use it as an
  /// operand, once per use, in node order. Results and updates are not listed.
  std::vector<std::vector<ValueId>> computeUsers() const;
  /// Makes every operand, result and update that reads `from` read `to` instead. Does not
  /// re-order nodes: `to` must be defined before every user of `from`.
  void replaceAllUsesWith(ValueId from, ValueId to);
  /// Removes nodes whose values reach no result and no update; returns how many. ValueIds of
  /// the remaining values do not change.
  size_t removeDeadNodes();

  // --- results and state updates -----------------------------------------------------------
  void addResult(std::string name, ValueId value) { results_.push_back({std::move(name), value}); }
  const std::vector<FunctionResult> &results() const { return results_; }
  std::vector<FunctionResult> &results() { return results_; }
  /// The value of the result with this name, or an invalid ValueId.
  ValueId findResult(std::string_view name) const;
  /// Records that state argument `state` is replaced by `value` after each call.
  void addUpdate(ValueId state, ValueId value) { updates_.push_back({state, value}); }
  const std::vector<StateUpdate> &updates() const { return updates_; }
  std::vector<StateUpdate> &updates() { return updates_; }

private:
  /// Where a value lives: an index into args_ or nodes_, or nowhere (removed).
  struct ValueSlot {
    enum Kind : uint8_t { Arg, NodeResult, Removed } kind;
    uint32_t index;
  };
  std::string name_;
  std::vector<Argument> args_;
  /// Argument index by name (the first of that name), so findArgument is not a linear scan.
  std::map<std::string, uint32_t, std::less<>> argByName_;
  std::vector<Node> nodes_;
  std::vector<ValueSlot> values_;
  std::vector<FunctionResult> results_;
  std::vector<StateUpdate> updates_;
};

/// A compilation unit: functions with unique names, and the name of the source file their
/// locations refer to.
class Module {
public:
  /// The .nn file the nodes' and arguments' SourceLocs point into; empty when unknown.
  const std::string &sourceName() const { return sourceName_; }
  void setSourceName(std::string name) { sourceName_ = std::move(name); }

  /// Appends an empty function; the reference stays valid as functions are added.
  Function &addFunction(std::string name);
  /// The function with this name, or nullptr.
  Function *findFunction(std::string_view name);
  const Function *findFunction(std::string_view name) const;
  std::deque<Function> &functions() { return functions_; }
  const std::deque<Function> &functions() const { return functions_; }

private:
  std::string sourceName_;
  std::deque<Function> functions_;
};

} // namespace nnc
