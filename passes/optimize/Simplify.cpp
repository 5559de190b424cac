//===- Simplify.cpp - Algebraic simplification and constant folding -------------------------===//
//
// The simplifier's rules, one per line with its algebra above it, applied to a fixed point by
// rewriteToFixedPoint (Rewrite.h). The autodiff and optimizer output is their main customer:
// adjoints seeded with 1 (`1 * x`), broadcast scalar constants, products of constant factors.
//
// Floating point: a rule is exact for every input, NaN and infinities included, unless its
// comment says otherwise. The accepted exceptions are
//   - `x + 0 -> x` and `0 - x -> -x` may change the sign of a zero result (-0 + 0 is +0);
//     -0 and +0 compare equal and no op of the IR tells them apart except `sign` and `div`
//     by zero;
//   - `log(exp(x)) -> x` gives x where exp(x) overflows to inf or underflows to 0 and the
//     original gave ±inf: the exact value instead of an overflow;
//   - `(x * c1) * c2 -> x * (c1 c2)` rounds once instead of twice (and cannot overflow in the
//     intermediate product), like the reassociation of constants that compilers do.
// Rules that would hide a NaN or inf are not applied to floats: `x - x -> 0` and `x * 0 -> 0`
// hold only for i32 (inf - inf and 0 * inf are NaN). `exp(log(x)) -> x` is not a rule at all:
// it holds only for x >= 0 (log of a negative is NaN), and nothing in the graph says x is.
//
// Constant folding evaluates an op whose operands are all `constant`s with the interpreter's
// kernels (in double precision; an f32 constant is rounded where it is used, as before). The
// IR has only uniform constants, so a fold happens only when the result is uniform: always for
// elementwise and view ops of uniform operands (one element is evaluated), and for other ops
// when the operands and result are small enough to evaluate in full.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Interpreter.h"
#include "passes/optimize/GraphPasses.h"
#include "passes/optimize/Rewrite.h"

#include <cmath>
#include <numeric>

namespace nnc {

using namespace rewrite;
using K = OpKind;

namespace {

/// Ops other than elementwise and view ops are folded only when their operands and result
/// together have at most this many elements (the interpreter evaluates them in full).
constexpr int64_t kMaxFoldElements = 4096;

std::optional<ValueId> none() { return std::nullopt; }

bool isIdentityPerm(const std::vector<int64_t> &perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int64_t>(i))
      return false;
  return true;
}

/// The element types the IR calls float: rules that would hide NaN/inf skip them.
bool isFloatValue(const Rewriter &rw, ValueId v) { return isFloat(rw.type(v).dtype); }

/// Ops that only rearrange or repeat their operand's elements: a uniform operand gives a
/// uniform result.
bool isViewOfOperand(OpKind op) {
  return op == K::Broadcast || op == K::Reshape || op == K::Transpose || op == K::Slice;
}

bool sameValue(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

/// op(c1, ..., cn) -> c, when every operand is a uniform constant and so is the result.
std::optional<ValueId> foldConstants(Rewriter &rw, const Match &m) {
  const Node &n = *m.root;
  if (n.operands.empty() || hasFlag(n.op, OpRandom))
    return none();
  std::vector<double> values;
  int64_t elements = n.type.numElements();
  for (ValueId v : n.operands) {
    const Node *c = rw.definingNode(v);
    if (!c || c->op != K::Constant)
      return none();
    values.push_back(c->attrs.getFloat("value"));
    elements += rw.type(v).numElements();
  }
  if (isViewOfOperand(n.op))
    return rw.constant(values[0], n.type);
  InterpreterOptions exact;
  exact.promoteF32ToF64 = true;
  std::vector<Tensor> operands;
  bool elementwise = hasFlag(n.op, OpElementwise);
  if (!elementwise && elements > kMaxFoldElements)
    return none();
  for (size_t i = 0; i < values.size(); ++i) {
    // Elementwise: the uniform result is the op applied to one element of each operand.
    TensorType t = elementwise ? TensorType(rw.type(n.operands[i]).dtype, {}) : rw.type(n.operands[i]);
    operands.push_back(Tensor::filled(t, values[i]));
  }
  Result<Tensor> result = evaluateOp(n.op, operands, n.attrs, exact);
  const Tensor *t = result ? &*result : nullptr;
  if (!t || t->data.empty())
    return none();
  for (double v : t->data)
    if (!sameValue(v, t->data[0]))
      return none();
  return rw.constant(t->data[0], n.type);
}

/// The rule table. Each replacement returns the value that replaces the matched node.
const std::vector<Rule> &simplifyRules() {
  static const std::vector<Rule> rules = {
      // --- identities of arithmetic ----------------------------------------------------------
      // x * 1 -> x
      rule("mul-one", op(K::Mul, X, splat(1.0)), [](Rewriter &, const Match &m) { return m[X]; }),
      // x / 1 -> x
      rule("div-one", op(K::Div, X, splat(1.0)), [](Rewriter &, const Match &m) { return m[X]; }),
      // x + 0 -> x          (floats: the sign of a zero result may change)
      rule("add-zero", op(K::Add, X, splat(0.0)), [](Rewriter &, const Match &m) { return m[X]; }),
      // x - 0 -> x          (exact: -0 - 0 = -0)
      rule("sub-zero", op(K::Sub, X, splat(0.0)), [](Rewriter &, const Match &m) { return m[X]; }),
      // 0 - x -> -x         (floats: the sign of a zero result may change)
      rule("zero-sub", op(K::Sub, splat(0.0), X), [](Rewriter &rw, const Match &m) { return rw.create(K::Neg, {m[X]}); }),
      // x * -1 -> -x
      rule("mul-minus-one", op(K::Mul, X, splat(-1.0)), [](Rewriter &rw, const Match &m) { return rw.create(K::Neg, {m[X]}); }),
      // x - x -> 0          (i32 only: for floats inf - inf and NaN - NaN are NaN)
      rule("sub-self", op(K::Sub, X, X), [](Rewriter &rw, const Match &m) {
        return isFloatValue(rw, m[X]) ? none() : rw.constant(0, m.root->type);
      }),
      // x * 0 -> 0          (i32 only: for floats 0 * inf and 0 * NaN are NaN)
      rule("mul-zero", op(K::Mul, X, splat(0.0).as(C1)), [](Rewriter &rw, const Match &m) {
        return isFloatValue(rw, m[X]) ? none() : std::optional(m[C1]);
      }),
      // (x * c1) * c2 -> x * (c1 c2)   (floats: one rounding instead of two)
      rule("mul-const-const", op(K::Mul, op(K::Mul, X, splat(C1)), splat(C2)), [](Rewriter &rw, const Match &m) {
        return rw.create(K::Mul, {m[X], rw.create(K::Mul, {m[C1], m[C2]})});
      }),
      // -(-x) -> x
      rule("neg-neg", op(K::Neg, op(K::Neg, X)), [](Rewriter &, const Match &m) { return m[X]; }),
      // log(exp(x)) -> x    (exact where the original overflowed to ±inf)
      rule("log-exp", op(K::Log, op(K::Exp, X)), [](Rewriter &, const Match &m) { return m[X]; }),
      // select(m, x, x) -> x
      rule("select-same", op(K::Select, Y, X, X), [](Rewriter &, const Match &m) { return m[X]; }),
      // cast(x : t) to t -> x
      rule("cast-same", op(K::Cast, X), [](Rewriter &rw, const Match &m) {
        return rw.type(m[X]) == m.root->type ? std::optional(m[X]) : none();
      }),

      // cast(cast(x : t) to u) to t -> x   when u represents every value of t exactly
      //   (f64 holds every i32, f32 and i1 value; any type holds 0 and 1, so an i1 round trip)
      rule("cast-roundtrip", op(K::Cast, op(K::Cast, X)), [](Rewriter &rw, const Match &m) {
        DType t = rw.type(m[X]).dtype, u = rw.type(m.root->operands[0]).dtype;
        bool exact = t == DType::I1 || (u == DType::F64 && t != DType::F64);
        return exact && rw.type(m[X]) == m.root->type ? std::optional(m[X]) : none();
      }),

      // --- layout ------------------------------------------------------------------------------
      // transpose(x, identity) -> x;  reshape(x : s) to s -> x;  broadcast(x : s) to s -> x;
      // reduce over no axes -> x
      rule("transpose-identity", op(K::Transpose, X), [](Rewriter &, const Match &m) {
        return isIdentityPerm(m.root->attrs.getInts("perm")) ? std::optional(m[X]) : none();
      }),
      rule("reshape-same", op(K::Reshape, X), [](Rewriter &rw, const Match &m) {
        return rw.type(m[X]) == m.root->type ? std::optional(m[X]) : none();
      }),
      rule("broadcast-same", op(K::Broadcast, X), [](Rewriter &rw, const Match &m) {
        return rw.type(m[X]) == m.root->type ? std::optional(m[X]) : none();
      }),
      rule("reduce-nothing", anyOp(), [](Rewriter &rw, const Match &m) {
        const Node &n = *m.root;
        bool reduction = n.op == K::ReduceSum || n.op == K::ReduceMean || n.op == K::ReduceMax;
        return reduction && n.attrs.getInts("axes").empty() && rw.type(n.operands[0]) == n.type
                   ? std::optional(n.operands[0])
                   : none();
      }),
      // transpose(transpose(x, p), q) -> transpose(x, r) with r[i] = p[q[i]]  (-> x when r = id)
      rule("transpose-transpose", op(K::Transpose, op(K::Transpose, X).as(Inner)), [](Rewriter &rw, const Match &m) {
        std::vector<int64_t> p = m.node(Inner).attrs.getInts("perm"), q = m.root->attrs.getInts("perm"), r(q.size());
        for (size_t i = 0; i < q.size(); ++i)
          r[i] = p[static_cast<size_t>(q[i])];
        return rw.create(K::Transpose, {m[X]}, {{"perm", r}});
      }),
      // reshape(reshape(x)) -> reshape(x)
      rule("reshape-reshape", op(K::Reshape, op(K::Reshape, X)), [](Rewriter &rw, const Match &m) {
        return rw.create(K::Reshape, {m[X]}, {{"shape", m.root->type.shape}});
      }),
      // slice(concat(x1, ..., xn), exactly the elements of xi) -> xi   (the gradient of an op
      // with several rows of output, batch_moments', is the concat of its rows' gradients, and
      // its own gradient rule slices the rows out again)
      rule("slice-concat", op(K::Slice, X), [](Rewriter &rw, const Match &m) {
        const Node *c = rw.definingNode(m[X]);
        if (!c || c->op != K::Concat)
          return none();
        int64_t rank = rw.type(m[X]).rank(), axis = c->attrs.getInt("axis");
        axis = axis < 0 ? axis + rank : axis;
        const std::vector<int64_t> &starts = m.root->attrs.getInts("starts");
        for (int64_t d = 0; d < rank; ++d)
          if (d != axis && starts[static_cast<size_t>(d)] != 0)
            return none();
        int64_t offset = 0;
        for (ValueId x : c->operands) {
          if (offset == starts[static_cast<size_t>(axis)] && rw.type(x) == m.root->type)
            return std::optional(x);
          offset += rw.type(x).shape[static_cast<size_t>(axis)];
        }
        return none();
      }),
      // broadcast(broadcast(x, s1, d1), s2, d2) -> broadcast(x, s2, d) with d[k] = d2[d1[k]]
      rule("broadcast-broadcast", op(K::Broadcast, op(K::Broadcast, X).as(Inner)), [](Rewriter &rw, const Match &m) {
        std::vector<int64_t> d1 = m.node(Inner).attrs.getInts("dims"), d2 = m.root->attrs.getInts("dims"), d;
        for (int64_t k : d1)
          d.push_back(d2[static_cast<size_t>(k)]);
        return rw.create(K::Broadcast, {m[X]}, {{"shape", m.root->type.shape}, {"dims", d}});
      }),

      // --- constants ---------------------------------------------------------------------------
      // op(c1, ..., cn) -> c   (broadcast(c) -> c of the bigger shape is the commonest case)
      rule("fold-constants", anyOp(), foldConstants),
  };
  return rules;
}

} // namespace

size_t simplify(Function &f) { return rewriteToFixedPoint(f, simplifyRules()); }

} // namespace nnc
