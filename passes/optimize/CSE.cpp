//===- CSE.cpp - Common-subexpression elimination by structural hashing ---------------------===//
//
// Two nodes with the same op, operands, attributes and type compute the same value: every op
// of the IR is pure, random ones included (their numbers are a function of the seed attribute
// and the counter operand). The pass rebuilds the function in node order, keeping a table from
// a node's structure to the first value with that structure:
//   1. map the node's operands to their representatives (earlier duplicates are already
//      merged, so equal subtrees have equal operands);
//   2. look the node up: if an equal node was emitted, the node becomes that value;
//   3. otherwise emit it and record it.
// Merged nodes are not emitted, so the pass removes them itself.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/optimize/GraphPasses.h"
#include "passes/optimize/Rewrite.h"

#include <functional>
#include <unordered_map>

namespace nnc {

namespace {

/// Hashes a node by its structure (not its location or result).
struct StructuralHash {
  size_t operator()(const Node &n) const {
    size_t h = std::hash<int>()(static_cast<int>(n.op));
    auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
    for (ValueId v : n.operands)
      mix(v.index);
    mix(std::hash<std::string>()(n.attrs.str()));
    mix(std::hash<std::string>()(n.type.str()));
    return h;
  }
};

/// Structural equality: op, operands, attributes and type.
struct StructuralEqual {
  bool operator()(const Node &a, const Node &b) const {
    return a.op == b.op && a.operands == b.operands && a.attrs == b.attrs && a.type == b.type;
  }
};

} // namespace

size_t eliminateCommonSubexpressions(Function &f) {
  std::unordered_map<Node, ValueId, StructuralHash, StructuralEqual> seen;
  size_t merged = 0;
  Function out = rewrite::rebuild(f, [&](Function &into, const Node &n) {
    if (auto it = seen.find(n); it != seen.end()) {
      ++merged;
      return it->second;
    }
    ValueId v = into.appendNode(n);
    seen.emplace(n, v);
    return v;
  });
  if (merged > 0)
    f = std::move(out);
  return merged;
}

} // namespace nnc
