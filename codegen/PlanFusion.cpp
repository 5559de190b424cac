//===- PlanFusion.cpp - Views read in place, fusion, GEMM epilogues, row fusion -------------===//
//
// The first planning steps of KernelPlan.h, which decide what is computed where:
//  1. views (broadcast, transpose, slice, constant) whose users all read them elementwise are
//     virtual: read in place through an Access map, never stored;
//  2. a single-use elementwise producer of an elementwise user or of a reduction is computed
//     inside the user's loop (fuse-elementwise);
//  3. an f32 matrix product finished by an activation, a bias or an activation's derivative is
//     computed by a GEMM routine with an epilogue (fuse-epilogue); the activations and their
//     derivatives come from ir/Activations.h;
//  4. softmax cross-entropy takes a later softmax of its logits, or the loss's gradient, into
//     its pass over each row (fuse-softmax-loss).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelPlan.h"

#include "codegen/Gemm.h"
#include "ir/Activations.h"

#include <functional>
#include <optional>

namespace nnc {

namespace {

bool isView(OpKind op) {
  return op == OpKind::Broadcast || op == OpKind::Transpose || op == OpKind::Slice || op == OpKind::Constant;
}

bool isElementwise(OpKind op) { return hasFlag(op, OpElementwise); }

bool isReduction(OpKind op) { return op == OpKind::ReduceSum || op == OpKind::ReduceMean || op == OpKind::ReduceMax; }

/// `v` and every value computed with it inside its kernel: fused producers and views read in
/// place, recursively.
void collectFused(const Function &fn, const KernelPlan &plan, ValueId v, std::vector<ValueId> &out) {
  out.push_back(v);
  const Node *d = fn.definingNode(v);
  if (d && (plan.fused[v.index] || plan.isVirtual[v.index]))
    for (ValueId o : d->operands)
      collectFused(fn, plan, o, out);
}

/// The GEMM epilogue codes of an activation of ir/Activations.h: applying it, and multiplying
/// by its derivative read from the aux tensor (Gemm.h's GemmEpilogueKind).
struct EpilogueActivation {
  OpKind op;
  int32_t forward, derivative;
};
const EpilogueActivation kEpilogueActivations[] = {
    {OpKind::Relu, GemmEpilogueRelu, GemmEpilogueReluGrad},
    {OpKind::Sigmoid, GemmEpilogueSigmoid, GemmEpilogueSigmoidGrad},
    {OpKind::Tanh, GemmEpilogueTanh, GemmEpilogueTanhGrad},
};

const EpilogueActivation *epilogueActivation(OpKind op) {
  for (const EpilogueActivation &a : kEpilogueActivations)
    if (a.op == op)
      return &a;
  return nullptr;
}

/// The derivative of an activation as ir/Activations.h builds it, on a placeholder output y.
struct DerivativePattern {
  int32_t kind;
  Function fn{"pattern"};
  ValueId y, root;
};

/// One pattern per activation that has an epilogue, built once.
const std::vector<DerivativePattern> &derivativePatterns() {
  static const std::vector<DerivativePattern> patterns = [] {
    std::vector<DerivativePattern> out;
    for (const Activation &a : activations()) {
      const EpilogueActivation *e = epilogueActivation(a.op);
      if (!e)
        continue;
      DerivativePattern &p = out.emplace_back();
      p.kind = e->derivative;
      p.y = p.fn.addArgument("y", TensorType{DType::F32, {2, 2}}, ArgRole::Input);
      Builder b(p.fn);
      p.root = a.derivativeAt(b, p.y);
    }
    return out;
  }();
  return patterns;
}

/// Epilogue matching for one elementwise kernel `u` of the plan.
class EpilogueMatcher {
public:
  EpilogueMatcher(const Function &fn, const KernelPlan &plan, const Node &u) : fn_(fn), plan_(plan), u_(u) {}

  /// The epilogue that computes u, if any; see planEpilogues.
  std::optional<Epilogue> match() {
    if (const EpilogueActivation *a = epilogueActivation(u_.op)) { // act(M) or act(M + bias)
      ValueId x = u_.operands[0];
      if (product(x))
        return Epilogue{x, a->forward, {}, {}, 0};
      if (const Node *add = fusedOp(x, OpKind::Add))
        if (auto mb = split(*add, [&](ValueId v) { return product(v); }, [&](ValueId v) { return bias(v); })) {
          ep_.matmul = mb->first;
          ep_.kind = a->forward | biasKind_;
          return ep_;
        }
      return std::nullopt;
    }
    if (u_.op == OpKind::Add) { // M + bias
      if (auto mb = split(u_, [&](ValueId v) { return product(v); }, [&](ValueId v) { return bias(v); })) {
        ep_.matmul = mb->first;
        ep_.kind = biasKind_;
        return ep_;
      }
      return std::nullopt;
    }
    if (u_.op != OpKind::Mul) // M · f'(y)
      return std::nullopt;
    auto md = split(u_, [&](ValueId v) { return product(v); }, [](ValueId) { return true; });
    if (!md)
      return std::nullopt;
    ep_.matmul = md->first;
    for (const DerivativePattern &p : derivativePatterns()) {
      ValueId y;
      if (matches(md->second, p, p.root, y)) {
        ep_.aux = y;
        ep_.kind = p.kind;
        return ep_;
      }
    }
    return std::nullopt;
  }

  /// y when `v` is computed inside u's kernel as ReLU's derivative at a stored y, exactly as
  /// ir/Activations.h builds it.
  std::optional<ValueId> reluDerivativeAt(ValueId v) const {
    for (const DerivativePattern &p : derivativePatterns()) {
      ValueId y;
      if (p.kind == GemmEpilogueReluGrad && matches(v, p, p.root, y))
        return y;
    }
    return std::nullopt;
  }

private:
  const Function &fn_;
  const KernelPlan &plan_;
  const Node &u_;
  Epilogue ep_;
  int32_t biasKind_ = GemmEpilogueBias; ///< per column (a dense layer) or per row (a convolution)

  const Node *node(ValueId v) const { return fn_.definingNode(v); }
  const Node *fusedOp(ValueId v, OpKind op) const {
    const Node *d = node(v);
    return d && d->op == op && plan_.fused[v.index] ? d : nullptr;
  }
  /// The product: f32, u's shape, used only by u; a two-dimensional matrix product, or a
  /// convolution whose GEMM writes its result, image by image as the [O × OH·OW] matrix
  /// (conv2d, and conv2d_grad_input when pointwise or computed as a convolution), or
  /// conv2d_grad_input through col2im where its gather stores each vector of dx once.
  bool product(ValueId v) const {
    const Node *d = node(v);
    if (!d || d->type.dtype != DType::F32 || d->type.shape != u_.type.shape || plan_.pinned[v.index] ||
        plan_.users[v.index].size() != 1)
      return false;
    if (d->op == OpKind::MatMul)
      return fn_.type(d->operands[0]).shape.size() == 2;
    if (d->op == OpKind::Conv2D)
      return true;
    if (d->op == OpKind::Conv2DGradInput) {
      ConvGeometry g = convGeometry(fn_, *d);
      return g.pointwise() || g.gradInputAsConv() || g.col2imGathers();
    }
    return false;
  }
  /// A bias read in place: for a matrix [rows × columns] a row vector broadcast down the rows
  /// (stride 1 along the columns); for a convolution's [N, O, OH, OW] a vector over O (stride
  /// 1 along the channels, 0 along the others), which is per row of each image's [O × OH·OW].
  bool bias(ValueId v) {
    const Node *d = node(v);
    if (!d || d->op != OpKind::Broadcast || !plan_.isVirtual[v.index] || fn_.type(d->operands[0]).dtype != DType::F32)
      return false;
    Access a = accessOf(fn_, plan_, v);
    if (a.isConstant || fn_.type(a.base).dtype != DType::F32)
      return false;
    if (a.strides == std::vector<int64_t>{0, 1})
      biasKind_ = GemmEpilogueBias;
    else if (a.strides == std::vector<int64_t>{0, 1, 0, 0})
      biasKind_ = GemmEpilogueRowBias;
    else
      return false;
    ep_.bias = a.base;
    ep_.biasOffset = a.offset;
    return true;
  }
  /// A view read in place that is the constant `value` everywhere.
  bool constant(ValueId v, double value) const {
    const Node *d = node(v);
    if (!d || !plan_.isVirtual[v.index])
      return false;
    Access a = accessOf(fn_, plan_, v);
    return a.isConstant && a.constant == value;
  }
  /// A stored f32 tensor of u's shape read at the element being computed.
  bool stored(ValueId v) const {
    const Node *d = node(v);
    return !(d && (plan_.isVirtual[v.index] || plan_.fused[v.index] || plan_.isAlias(v))) &&
           fn_.type(v).dtype == DType::F32 && fn_.type(v).shape == u_.type.shape;
  }
  template <typename L, typename R>
  std::optional<std::pair<ValueId, ValueId>> split(const Node &n, L &&left, R &&right) {
    if (left(n.operands[0]) && right(n.operands[1]))
      return std::pair{n.operands[0], n.operands[1]};
    if (left(n.operands[1]) && right(n.operands[0]))
      return std::pair{n.operands[1], n.operands[0]};
    return std::nullopt;
  }
  /// True when `v` is computed, inside u's kernel, as the pattern's value `p` with its
  /// placeholder y bound to one stored tensor (`y`, which starts invalid): every op fused with
  /// the pattern's op and attributes (either operand order for a commutative op), every
  /// constant a view read in place with the pattern's value.
  bool matches(ValueId v, const DerivativePattern &pattern, ValueId p, ValueId &y) const {
    if (p == pattern.y) {
      if (y.valid())
        return v == y;
      if (!stored(v))
        return false;
      y = v;
      return true;
    }
    const Node &pn = *pattern.fn.definingNode(p);
    if (pn.op == OpKind::Constant)
      return constant(v, pn.attrs.getFloat("value"));
    const Node *d = fusedOp(v, pn.op);
    if (!d || d->operands.size() != pn.operands.size() || !(d->attrs == pn.attrs))
      return false;
    auto operandsMatch = [&](bool swapped, ValueId &bound) {
      for (size_t i = 0; i < pn.operands.size(); ++i) {
        size_t j = swapped ? pn.operands.size() - 1 - i : i;
        if (!matches(d->operands[j], pattern, pn.operands[i], bound))
          return false;
      }
      return true;
    };
    ValueId bound = y;
    if (operandsMatch(false, bound)) {
      y = bound;
      return true;
    }
    bound = y;
    if (pn.operands.size() == 2 && hasFlag(pn.op, OpCommutative) && operandsMatch(true, bound)) {
      y = bound;
      return true;
    }
    return false;
  }
};

} // namespace

std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

Access accessOf(const Function &fn, const KernelPlan &plan, ValueId v) {
  const Node *n = fn.definingNode(v);
  if (!plan.isVirtual[v.index] || !n)
    return Access{v, 0, rowMajorStrides(fn.type(v).shape)};
  return viewAccess(fn, plan, *n);
}

Access viewAccess(const Function &fn, const KernelPlan &plan, const Node &n) {
  ValueId v = n.result;
  const std::vector<int64_t> &shape = fn.type(v).shape;
  switch (n.op) {
  case OpKind::Constant: {
    Access a{v, 0, std::vector<int64_t>(shape.size(), 0)};
    a.isConstant = true;
    a.constant = n.attrs.getFloat("value");
    return a;
  }
  case OpKind::Broadcast: {
    Access in = accessOf(fn, plan, n.operands[0]);
    const std::vector<int64_t> &inShape = fn.type(n.operands[0]).shape;
    std::vector<int64_t> dims = n.attrs.getInts("dims");
    Access out{in.base, in.offset, std::vector<int64_t>(shape.size(), 0), in.isConstant, in.constant};
    for (size_t d = 0; d < inShape.size(); ++d)
      if (inShape[d] != 1)
        out.strides[size_t(dims[d])] = in.strides[d];
    return out;
  }
  case OpKind::Transpose: {
    Access in = accessOf(fn, plan, n.operands[0]);
    std::vector<int64_t> perm = n.attrs.getInts("perm");
    Access out = in;
    for (size_t d = 0; d < perm.size(); ++d)
      out.strides[d] = in.strides[size_t(perm[d])];
    return out;
  }
  case OpKind::Slice: {
    Access in = accessOf(fn, plan, n.operands[0]);
    std::vector<int64_t> starts = n.attrs.getInts("starts");
    for (size_t d = 0; d < starts.size(); ++d)
      in.offset += starts[d] * in.strides[d];
    return in;
  }
  default:
    return Access{v, 0, rowMajorStrides(shape)};
  }
}

void planViewsAndFusion(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  size_t count = fn.numValueIds();
  plan.isVirtual.assign(count, false);
  plan.pinned.assign(count, false); // read by results or updates: must have storage
  for (const FunctionResult &r : fn.results())
    plan.pinned[r.value.index] = true;
  for (const StateUpdate &u : fn.updates())
    plan.pinned[u.value.index] = true;
  plan.users = fn.computeUsers();
  plan.nodeIndex.assign(count, -1);
  const auto &nodes = fn.nodes();
  for (size_t i = 0; i < nodes.size(); ++i)
    plan.nodeIndex[nodes[i].result.index] = int64_t(i);
  // A view is virtual when every user reads it elementwise or is itself a virtual view.
  for (size_t k = nodes.size(); k-- > 0;) {
    const Node &node = nodes[k];
    if (!isView(node.op) || plan.pinned[node.result.index])
      continue;
    bool ok = true;
    for (ValueId u : plan.users[node.result.index]) {
      const Node *un = fn.definingNode(u);
      if (!(isElementwise(un->op) || (isView(un->op) && plan.isVirtual[u.index])))
        ok = false;
    }
    // The random and fill ops have no operands to view; a view of a constant stays constant.
    plan.isVirtual[node.result.index] = ok && !plan.users[node.result.index].empty();
  }
  // Producer-consumer fusion: an elementwise node whose only use is by an elementwise node or a
  // reduction is computed inside that node's loop, element by element, and never stored. A single use means
  // no work (an exp, a log) is ever done twice.
  plan.fused.assign(count, false);
  for (size_t k = nodes.size(); k-- > 0;) {
    const Node &node = nodes[k];
    const auto &us = plan.users[node.result.index];
    if (!options.fuseElementwise || !isElementwise(node.op) || plan.pinned[node.result.index] || us.size() != 1)
      continue;
    const Node *un = fn.definingNode(us[0]);
    plan.fused[node.result.index] = (isElementwise(un->op) && !plan.isVirtual[us[0].index]) || isReduction(un->op);
  }
  // Aliases: reshapes, and stored slices of contiguous elements of an operand with storage.
  plan.aliasOffset.assign(count, -1);
  for (const Node &node : nodes) {
    size_t v = node.result.index;
    if (plan.isVirtual[v] || plan.fused[v])
      continue;
    if (node.op == OpKind::Reshape) {
      plan.aliasOffset[v] = 0;
      continue;
    }
    ValueId operand = node.operands.empty() ? ValueId() : node.operands[0];
    if (node.op != OpKind::Slice || plan.pinned[v] || plan.isVirtual[operand.index] || plan.fused[operand.index])
      continue;
    // Its elements are contiguous when each dimension it spans steps through the operand as
    // through the slice's own row-major layout (dimensions of extent 1 take no step).
    Access a = viewAccess(fn, plan, node);
    std::vector<int64_t> own = rowMajorStrides(node.type.shape);
    bool contiguous = true;
    for (size_t d = 0; d < own.size(); ++d)
      contiguous = contiguous && (node.type.shape[d] == 1 || a.strides[d] == own[d]);
    if (contiguous)
      plan.aliasOffset[v] = a.offset * storageBytes(node.type.dtype);
  }
}

/// ReLU across max pooling (KernelPlan.h PoolRelu): for every maxpool2d p whose operand is
/// c = relu(a), every other reader of c a maxpool2d_grad g with p's window whose only user is
/// g · [c > 0] (ReLU's derivative as ir/Activations.h builds it, fused into that product) or a
/// node of such a derivative, the pooling kernels read a instead: p = relu(maxpool(a)) and
/// g · [c > 0] = maxpool2d_grad(a, dp) routed where the window's maximum is positive. a gets
/// storage of its own (its producers' epilogue can then store it), c and g none. Runs before
/// planEpilogues, which then sees a, not relu(a), as the kernel after a product.
void planPoolRelus(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  plan.poolRelus.clear();
  if (!options.fusePoolRelu)
    return;
  for (const Node &p : fn.nodes()) {
    if (p.op != OpKind::MaxPool2D || !plan.isKernel(p))
      continue;
    ValueId c = p.operands[0];
    const Node *relu = fn.definingNode(c);
    if (!relu || relu->op != OpKind::Relu || plan.pinned[c.index] || plan.isVirtual[c.index] || plan.fused[c.index])
      continue;
    ValueId a = relu->operands[0];
    const Node *pre = fn.definingNode(a);
    if (pre && plan.isVirtual[a.index])
      continue; // a view: the pooling kernel reads storage
    // Every reader of c: p, gradients of p's window each finished by ReLU's derivative at c,
    // and the nodes of those derivatives.
    std::vector<ValueId> derivatives; // the products g · [c > 0]
    std::vector<bool> inDerivative(fn.numValueIds(), false);
    bool ok = true;
    for (ValueId u : plan.users[c.index]) {
      const Node *g = fn.definingNode(u);
      if (u == p.result || g->op != OpKind::MaxPool2DGrad)
        continue;
      const auto &gu = plan.users[u.index];
      const Node *d = gu.size() == 1 && !plan.pinned[u.index] ? fn.definingNode(gu[0]) : nullptr;
      if (g->operands[0] != c || !(g->attrs == p.attrs) || !d || d->op != OpKind::Mul || !plan.isKernel(*d) ||
          d->type != g->type) {
        ok = false;
        break;
      }
      ValueId other = d->operands[0] == u ? d->operands[1] : d->operands[0];
      std::optional<ValueId> y = EpilogueMatcher(fn, plan, *d).reluDerivativeAt(other);
      if (!y || *y != c) {
        ok = false;
        break;
      }
      derivatives.push_back(d->result);
      std::vector<ValueId> nodes;
      collectFused(fn, plan, other, nodes);
      for (ValueId v : nodes)
        inDerivative[v.index] = true;
    }
    for (ValueId u : plan.users[c.index]) {
      const Node *r = fn.definingNode(u);
      bool grad = r->op == OpKind::MaxPool2DGrad && r->operands[0] == c;
      if (ok && !(u == p.result || grad || inDerivative[u.index]))
        ok = false;
    }
    if (!ok)
      continue;
    plan.fused[c.index] = true; // computed by the pooling kernels
    if (pre)
      plan.fused[a.index] = false; // stored, for the pooling kernels to read
    plan.poolRelus[p.result.index] = {p.result, a};
    for (ValueId d : derivatives) {
      const Node &dn = *fn.definingNode(d);
      ValueId g = fn.definingNode(dn.operands[0])->op == OpKind::MaxPool2DGrad ? dn.operands[0] : dn.operands[1];
      plan.fused[g.index] = true; // computed by d's kernel
      plan.poolRelus[d.index] = {g, a};
    }
  }
}

/// Epilogue fusion: an f32 matrix product whose only user is an elementwise kernel of the forms
///   act(M + bias), act(M), M + bias    act: an activation of ir/Activations.h; bias: a broadcast row
///   M · f'(y)                          f'(y): that activation's derivative at its output y,
///                                      exactly as ir/Activations.h builds it
/// is computed by the GEMM routine with the activation epilogue, straight into the kernel's
/// storage: the product is never stored and the kernel makes no pass of its own over memory.
/// A convolution (conv2d; conv2d_grad_input when its GEMM writes dx itself) counts as a matrix
/// product, image by image [O × OH·OW]: its bias is a vector over the channels, added per row
/// (GemmEpilogueRowBias), and the kernel stays a convolution kernel that calls the epilogue
/// routine.
void planEpilogues(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  plan.epilogues.clear();
  if (!options.fuseEpilogues)
    return;
  for (const Node &u : fn.nodes()) {
    if (!plan.isKernel(u) || !isElementwise(u.op) || u.type.dtype != DType::F32 ||
        (u.type.shape.size() != 2 && u.type.shape.size() != 4))
      continue;
    if (std::optional<Epilogue> ep = EpilogueMatcher(fn, plan, u).match();
        ep && !isInlineMatMul(fn, *fn.definingNode(ep->matmul), options)) { // a small product: its own loops
      plan.fused[ep->matmul.index] = true; // computed by u's kernel
      plan.epilogues[u.result.index] = *ep;
    }
  }
}

/// Softmax cross-entropy with its gradient: for softmax_cross_entropy(z, y) and a later
/// softmax(z) over the last axis, one kernel at the loss computes, row by row, the max and the
/// sum of exponentials once and stores both the loss and softmax(z). When softmax(z)'s only
/// consumer is the gradient scale · (softmax(z) − one_hot(y)) (or softmax(z) − one_hot(y)) on
/// the same labels, the kernel stores that gradient instead, and softmax(z) is never stored.
void planRowFusion(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  plan.rowFusions.clear();
  plan.partner.assign(fn.numValueIds(), false);
  if (!options.fuseRows)
    return;
  const auto &users = plan.users;
  const auto &nodes = fn.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &sce = nodes[i];
    if (sce.op != OpKind::SoftmaxCrossEntropy || !plan.isKernel(sce) || !isFloat(sce.type.dtype))
      continue;
    ValueId z = sce.operands[0], y = sce.operands[1];
    int64_t axis = int64_t(fn.type(z).shape.size()) - 1;
    for (ValueId u : users[z.index]) {
      const Node *p = fn.definingNode(u);
      if (p->op != OpKind::Softmax || p->attrs.getInt("axis") != axis || plan.nodeIndex[u.index] <= int64_t(i) ||
          !plan.isKernel(*p) || plan.partner[u.index])
        continue;
      RowFusion rf{u};
      // The gradient: scale · (softmax − one_hot(y)), softmax's only use.
      const auto &pu = users[u.index];
      const Node *g = pu.size() == 1 && !plan.pinned[u.index] ? fn.definingNode(pu[0]) : nullptr;
      auto oneHotOfY = [&](ValueId v) {
        const Node *d = fn.definingNode(v);
        return d && d->op == OpKind::OneHot && d->operands[0] == y && d->type == p->type;
      };
      auto isGrad = [&](const Node &sub) {
        return sub.op == OpKind::Sub && sub.operands[0] == u && oneHotOfY(sub.operands[1]);
      };
      if (g && isGrad(*g) && g->type == p->type) {
        if (plan.isKernel(*g)) {
          rf = {g->result, true, 1}; // softmax − one_hot(y) is stored
        } else if (plan.fused[g->result.index]) {
          // scale · (softmax − one_hot(y)): the sub is fused into a product with a constant.
          const Node *h = fn.definingNode(users[g->result.index][0]);
          if (h->op == OpKind::Mul && plan.isKernel(*h) && h->type == p->type && !plan.epilogues.count(h->result.index) &&
              !plan.poolRelus.count(h->result.index)) {
            ValueId c = h->operands[0] == g->result ? h->operands[1] : h->operands[0];
            const Node *cn = fn.definingNode(c);
            if (cn && plan.isVirtual[c.index] && accessOf(fn, plan, c).isConstant)
              rf = {h->result, true, accessOf(fn, plan, c).constant};
          }
        }
      }
      if (rf.gradient) {
        plan.fused[u.index] = true; // computed inside the loss's kernel, never stored
        // So is one_hot(y) when the gradient is all that reads it.
        ValueId oh = fn.definingNode(users[u.index][0])->operands[1];
        if (users[oh.index].size() == 1 && !plan.pinned[oh.index])
          plan.fused[oh.index] = true;
      }
      plan.partner[rf.partner.index] = true;
      plan.rowFusions[sce.result.index] = rf;
      break;
    }
  }
}

} // namespace nnc
