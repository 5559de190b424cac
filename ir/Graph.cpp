//===- Graph.cpp - Modules, functions, arguments and nodes of the graph IR ------------------===//
//
// Storage of functions: arguments and nodes in vectors, and a slot table mapping each ValueId
// to its argument or node so that ids stay stable when dead nodes are removed.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Graph.h"

#include <cassert>

namespace nnc {

std::string_view argRoleName(ArgRole role) {
  switch (role) {
  case ArgRole::Input: return "input";
  case ArgRole::Target: return "target";
  case ArgRole::State: return "state";
  }
  return "?";
}

std::string_view stageName(Stage stage) {
  switch (stage) {
  case Stage::None: return "";
  case Stage::Forward: return "forward";
  case Stage::Backward: return "backward";
  case Stage::Update: return "update";
  }
  return "";
}

std::optional<Stage> parseStage(std::string_view text) {
  for (Stage s : {Stage::Forward, Stage::Backward, Stage::Update})
    if (text == stageName(s))
      return s;
  return std::nullopt;
}

ValueId Function::addArgument(std::string name, TensorType type, ArgRole role, bool trainable,
                              std::string init, SourceLoc loc) {
  ValueId id{static_cast<uint32_t>(values_.size())};
  values_.push_back({ValueSlot::Arg, static_cast<uint32_t>(args_.size())});
  argByName_.emplace(name, static_cast<uint32_t>(args_.size()));
  args_.push_back({std::move(name), std::move(type), role, trainable, std::move(init), loc, id});
  return id;
}

const Argument *Function::findArgument(std::string_view name) const {
  auto it = argByName_.find(name);
  return it == argByName_.end() ? nullptr : &args_[it->second];
}

ValueId Function::appendNode(Node node) {
  ValueId id{static_cast<uint32_t>(values_.size())};
  values_.push_back({ValueSlot::NodeResult, static_cast<uint32_t>(nodes_.size())});
  node.result = id;
  nodes_.push_back(std::move(node));
  return id;
}

void Function::setStage(size_t firstNode, Stage stage) {
  for (size_t i = firstNode; i < nodes_.size(); ++i)
    nodes_[i].stage = stage;
}

bool Function::isValid(ValueId v) const {
  return v.valid() && v.index < values_.size() && values_[v.index].kind != ValueSlot::Removed;
}

bool Function::isArgument(ValueId v) const { return isValid(v) && values_[v.index].kind == ValueSlot::Arg; }

const Argument &Function::argument(ValueId v) const {
  assert(isArgument(v) && "not an argument");
  return args_[values_[v.index].index];
}

const Node *Function::definingNode(ValueId v) const {
  if (!isValid(v) || values_[v.index].kind != ValueSlot::NodeResult)
    return nullptr;
  return &nodes_[values_[v.index].index];
}

Node *Function::definingNode(ValueId v) {
  return const_cast<Node *>(static_cast<const Function *>(this)->definingNode(v));
}

const TensorType &Function::type(ValueId v) const {
  assert(isValid(v) && "type of an invalid value");
  if (const Node *n = definingNode(v))
    return n->type;
  return argument(v).type;
}

std::vector<std::vector<ValueId>> Function::computeUsers() const {
  std::vector<std::vector<ValueId>> users(values_.size());
  for (const Node &n : nodes_)
    for (ValueId operand : n.operands)
      if (operand.valid() && operand.index < users.size())
        users[operand.index].push_back(n.result);
  return users;
}

void Function::replaceAllUsesWith(ValueId from, ValueId to) {
  for (Node &n : nodes_)
    for (ValueId &operand : n.operands)
      if (operand == from)
        operand = to;
  for (FunctionResult &r : results_)
    if (r.value == from)
      r.value = to;
  for (StateUpdate &u : updates_)
    if (u.value == from)
      u.value = to;
}

size_t Function::removeDeadNodes() {
  // Mark backwards from the results and updates; nodes are topologically ordered, so one
  // reverse sweep sees every user before its operands.
  std::vector<bool> live(values_.size(), false);
  auto mark = [&](ValueId v) {
    if (v.valid() && v.index < live.size())
      live[v.index] = true;
  };
  for (const FunctionResult &r : results_)
    mark(r.value);
  for (const StateUpdate &u : updates_)
    mark(u.value);
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if (live[it->result.index])
      for (ValueId operand : it->operands)
        mark(operand);
  std::vector<Node> kept;
  for (Node &n : nodes_) {
    if (live[n.result.index]) {
      values_[n.result.index].index = static_cast<uint32_t>(kept.size());
      kept.push_back(std::move(n));
    } else {
      values_[n.result.index].kind = ValueSlot::Removed;
    }
  }
  size_t removed = nodes_.size() - kept.size();
  nodes_ = std::move(kept);
  return removed;
}

ValueId Function::findResult(std::string_view name) const {
  for (const FunctionResult &r : results_)
    if (r.name == name)
      return r.value;
  return {};
}

Function &Module::addFunction(std::string name) { return functions_.emplace_back(std::move(name)); }

Function *Module::findFunction(std::string_view name) {
  for (Function &f : functions_)
    if (f.name() == name)
      return &f;
  return nullptr;
}

const Function *Module::findFunction(std::string_view name) const {
  return const_cast<Module *>(this)->findFunction(name);
}

} // namespace nnc
