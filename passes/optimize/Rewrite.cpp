//===- Rewrite.cpp - Declarative rewrite rules over the graph IR ----------------------------===//
//
// Pattern matching against the function being rebuilt, the rule-applying node factory and the
// sweep-until-nothing-changes driver.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/optimize/Rewrite.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>

namespace nnc::rewrite {

/// Replacements nest create() calls; beyond this depth nodes are appended without rules, which
/// bounds the work of a rule set that (by mistake) keeps producing matches.
static constexpr int kMaxDepth = 32;

double Match::splatValue(Var v) const { return node(v).attrs.getFloat("value"); }

/// Binds `v` (and its node) to variable `slot`; false when the slot already holds another value.
static bool bind(Match &m, int slot, ValueId v, const Node *node) {
  if (slot < 0)
    return true;
  if (m.values[slot].valid())
    return m.values[slot] == v;
  m.values[slot] = v;
  m.nodes[slot] = node;
  return true;
}

bool Rewriter::match(const Pattern &p, ValueId v, Match &m) const {
  const Node *n = out_.definingNode(v);
  switch (p.kind()) {
  case Pattern::Kind::Any:
    return bind(m, p.bind(), v, n);
  case Pattern::Kind::AnyOp:
    return n && bind(m, p.bind(), v, n);
  case Pattern::Kind::Splat:
    return n && n->op == OpKind::Constant && (!p.value() || n->attrs.getFloat("value") == *p.value()) &&
           bind(m, p.bind(), v, n);
  case Pattern::Kind::Op:
    return n && matchNode(p, *n, m) && bind(m, p.bind(), v, n);
  }
  return false;
}

bool Rewriter::matchNode(const Pattern &p, const Node &n, Match &m) const {
  if (p.kind() == Pattern::Kind::AnyOp)
    return true;
  if (p.kind() != Pattern::Kind::Op || n.op != p.op() || n.operands.size() != p.operands().size())
    return false;
  auto matchInOrder = [&](bool swapped, Match &trial) {
    for (size_t i = 0; i < n.operands.size(); ++i) {
      size_t j = swapped ? n.operands.size() - 1 - i : i;
      if (!match(p.operands()[i], n.operands[j], trial))
        return false;
    }
    return true;
  };
  Match trial = m;
  if (matchInOrder(false, trial)) {
    m = trial;
    return true;
  }
  if (!hasFlag(n.op, OpCommutative) || n.operands.size() != 2)
    return false;
  trial = m;
  if (matchInOrder(true, trial)) {
    m = trial;
    return true;
  }
  return false;
}

ValueId Rewriter::create(OpKind op, std::vector<ValueId> operands, Attrs attrs, SourceLoc loc) {
  std::vector<TensorType> types;
  for (ValueId v : operands)
    types.push_back(out_.type(v));
  Result<void> canonical = canonicalizeAttrs(op, attrs);
  Result<TensorType> type = canonical ? inferType(op, types, attrs) : Result<TensorType>(canonical.error());
  if (!type) {
    std::fprintf(stderr, "nnc internal error: a rewrite built an ill-typed node: %s\n", type.message().c_str());
    std::abort();
  }
  Node candidate{op, std::move(operands), std::move(attrs), *type, loc.valid() ? loc : loc_, {}, stage_};

  if (depth_ < kMaxDepth) {
    for (const Rule &r : rules_) {
      Match m;
      m.root = &candidate;
      if (!matchNode(r.pattern, candidate, m))
        continue;
      SourceLoc saved = loc_;
      loc_ = candidate.loc;
      ++depth_;
      std::optional<ValueId> replacement = r.replace(*this, m);
      --depth_;
      loc_ = saved;
      if (!replacement)
        continue;
      // A rule must preserve the type; a mismatch is a bug in the rule, and the rule is skipped.
      assert(out_.type(*replacement) == candidate.type && "a rewrite rule changed the type");
      if (!(out_.type(*replacement) == candidate.type))
        continue;
      ++rewrites_;
      return *replacement;
    }
  }
  return out_.appendNode(std::move(candidate));
}

ValueId Rewriter::constant(double value, const TensorType &type) {
  return create(OpKind::Constant, {},
                {{"value", value}, {"dtype", std::string(dtypeName(type.dtype))}, {"shape", type.shape}});
}

Function rebuild(const Function &f, const std::function<ValueId(Function &out, const Node &node)> &emit) {
  Function out(f.name());
  std::vector<ValueId> map(f.numValueIds());
  for (const Argument &a : f.arguments())
    map[a.value.index] = out.addArgument(a.name, a.type, a.role, a.trainable, a.init, a.loc);
  for (const Node &n : f.nodes()) {
    Node mapped = n;
    for (ValueId &operand : mapped.operands)
      operand = map[operand.index];
    map[n.result.index] = emit(out, mapped);
  }
  for (const FunctionResult &r : f.results())
    out.addResult(r.name, map[r.value.index]);
  for (const StateUpdate &u : f.updates())
    out.addUpdate(map[u.state.index], map[u.value.index]);
  return out;
}

size_t rewriteToFixedPoint(Function &f, std::span<const Rule> rules, int maxSweeps) {
  size_t total = 0;
  for (int sweep = 0; sweep < maxSweeps; ++sweep) {
    size_t rewrites = 0;
    Function out = rebuild(f, [&](Function &into, const Node &n) {
      Rewriter rw(into, rules);
      rw.setStage(n.stage);
      ValueId v = rw.create(n.op, n.operands, n.attrs, n.loc);
      rewrites += rw.rewrites();
      return v;
    });
    if (rewrites == 0)
      break;
    total += rewrites;
    f = std::move(out);
  }
  return total;
}

} // namespace nnc::rewrite
