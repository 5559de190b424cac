//===- KernelPlan.cpp - The kernel plan: its driver, its kernel list and its listing --------===//
//
// planKernels runs the planning steps of PlanFusion.cpp and PlanMemory.cpp in order, then
// lists the kernels: one per node that has storage of its own, in node order, except that a
// loop group is one kernel, an elementwise kernel finished by a GEMM epilogue is the GEMM's,
// and a value the softmax cross-entropy row pass stores belongs to that pass. describePlan
// prints the plan for `nnc --emit=opt`, and describeKernels plans and prints with no LLVM.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelPlan.h"

#include "ir/TextPrinter.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace nnc {

std::optional<KernelKind> kernelKindOf(OpKind op) {
  using K = KernelKind;
  switch (op) {
  case OpKind::MatMul: return K::MatMul;
  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax: return K::Reduce;
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
  case OpKind::LogSumExp: return K::Normalize;
  case OpKind::SoftmaxCrossEntropy:
  case OpKind::MulticlassHinge: return K::LabeledRows;
  case OpKind::Conv2D:
  case OpKind::Conv2DGradInput:
  case OpKind::Conv2DGradWeight: return K::Conv;
  case OpKind::MaxPool2D:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2D:
  case OpKind::AvgPool2DGrad: return K::Pool;
  case OpKind::BatchMoments:
  case OpKind::BatchNorm:
  case OpKind::BatchNormSums: return K::BatchNorm;
  case OpKind::OneHot: return K::OneHot;
  case OpKind::Gather: return K::Gather;
  case OpKind::ScatterAdd: return K::ScatterAdd;
  case OpKind::RandomUniform:
  case OpKind::RandomBernoulli: return K::Random;
  case OpKind::Iota: return K::Iota;
  case OpKind::Pad: return K::Pad;
  case OpKind::Concat: return K::Concat;
  case OpKind::Broadcast:
  case OpKind::Transpose:
  case OpKind::Slice:
  case OpKind::Constant: return K::StoredView;
  default: return std::nullopt;
  }
}

int64_t KernelPlan::fusedOps() const { return std::count(fused.begin(), fused.end(), true); }

namespace {

/// The kernels of a planned function, in the order they run (see the file comment).
std::vector<Kernel> listKernels(const Function &fn, const EmitOptions &options, const KernelPlan &plan) {
  std::vector<Kernel> kernels;
  const auto &nodes = fn.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (!plan.isKernel(n) || plan.partner[n.result.index])
      continue; // computed where it is read, an alias, or stored by the loss's kernel
    Kernel k;
    k.nodes = {i};
    if (auto it = plan.epilogues.find(n.result.index); it != plan.epilogues.end()) {
      const Node &product = *fn.definingNode(it->second.matmul);
      if (product.op != OpKind::MatMul) { // a convolution's GEMM calls with the epilogue
        k.kind = KernelKind::Conv;
        Kernel conv = k;
        conv.nodes = {size_t(plan.nodeIndex[product.result.index])};
        k.rows = planRowSplit(fn, conv, options);
        kernels.push_back(std::move(k));
        continue;
      }
      k.kind = KernelKind::MatMulEpilogue;
      k.split = planMatMulSplit(fn, product, options);
      k.narrow = isNarrowMatMul(fn, product, options);
    } else if (auto pr = plan.poolRelus.find(n.result.index); pr != plan.poolRelus.end()) {
      k.kind = KernelKind::Pool; // the derivative product, computed by the pooling gradient
      Kernel pool = k;
      pool.nodes = {size_t(plan.nodeIndex[pr->second.pool.index])};
      k.rows = planRowSplit(fn, pool, options);
      kernels.push_back(std::move(k));
      continue;
    } else if (plan.rowFusions.count(n.result.index)) {
      k.kind = KernelKind::SoftmaxCrossEntropyRows;
    } else if (hasFlag(n.op, OpElementwise)) {
      k.kind = KernelKind::Elementwise;
      for (size_t j = i + 1; j <= plan.groupEnd[i]; ++j)
        if (plan.isKernel(nodes[j]))
          k.nodes.push_back(j);
      i = plan.groupEnd[i];
    } else {
      // An op without a kernel kind has no lowering; emitFunction refuses it before this.
      k.kind = kernelKindOf(n.op).value_or(KernelKind::StoredView);
      if (k.kind == KernelKind::MatMul) {
        k.inlined = isInlineMatMul(fn, n, options);
        if (!k.inlined) {
          k.split = planMatMulSplit(fn, n, options);
          k.narrow = isNarrowMatMul(fn, n, options);
        }
      }
    }
    if (k.kind == KernelKind::Elementwise || k.kind == KernelKind::Conv || k.kind == KernelKind::Pool ||
        k.kind == KernelKind::BatchNorm)
      k.rows = planRowSplit(fn, k, options);
    kernels.push_back(std::move(k));
  }
  return kernels;
}

} // namespace

KernelPlan planKernels(const Function &fn, const EmitOptions &options) {
  KernelPlan plan;
  planViewsAndFusion(fn, options, plan);
  planPoolRelus(fn, options, plan);
  planEpilogues(fn, options, plan);
  planRowFusion(fn, options, plan);
  planLoopGroups(fn, options, plan);
  planInPlace(fn, options, plan);
  planGemmScratch(fn, options, plan);
  planArena(fn, plan);
  planAliasClasses(fn, plan);
  plan.kernels = listKernels(fn, options, plan);
  return plan;
}

/// Per kernel, its lines: the value it stores and, as an expression, the fused ops and views
/// it computes on the way; the members of a loop group and the value a row pass also stores on
/// lines starting with `+`. Offsets count from the end of the GEMM scratch. A kernel split over
/// threads says how: a product's grid of row × column blocks of C, or a loop's blocks of rows.
std::vector<std::string> describeKernelLines(const Function &fn, const KernelPlan &plan) {
  std::vector<std::string> names = valueNames(fn);
  std::function<std::string(ValueId)> expr = [&](ValueId v) -> std::string {
    const Node *d = fn.definingNode(v);
    if (!d || !(plan.fused[v.index] || plan.isVirtual[v.index]))
      return names[v.index];
    if (d->op == OpKind::Constant)
      return formatConstantValue(d->attrs.getFloat("value"), d->type.dtype);
    std::string s = std::string(mnemonic(d->op)) + "(";
    for (size_t i = 0; i < d->operands.size(); ++i)
      s += (i ? ", " : "") + expr(d->operands[i]);
    return s + ")";
  };
  // op(a, b) for an elementwise op over its (possibly fused) operands, else `op a, b`.
  auto call = [&](const Node &n, bool parenthesized) {
    std::string body = std::string(mnemonic(n.op)) + (parenthesized ? "(" : "");
    for (size_t i = 0; i < n.operands.size(); ++i)
      body += (i ? ", " : parenthesized ? "" : " ") + expr(n.operands[i]);
    return parenthesized ? body + ")" : body;
  };
  std::vector<std::string> lines(plan.kernels.size());
  for (size_t k = 0; k < plan.kernels.size(); ++k) {
    const Kernel &kernel = plan.kernels[k];
    std::string &out = lines[k];
    for (size_t m = 0; m < kernel.nodes.size(); ++m) {
      const Node &n = fn.nodes()[kernel.nodes[m]];
      std::string where = plan.inPlace[n.result.index] >= 0
                              ? "in place of " + names[size_t(plan.inPlace[n.result.index])]
                              : fmt::format("@{}", plan.offset[n.result.index]);
      std::string label = m > 0 ? std::string("  +   ") : fmt::format("  k{:<3} ", k);
      std::string split;
      if (m == 0 && kernel.split.kBlocks > 1)
        split = fmt::format("  split {} blocks of {} terms of K", kernel.split.kBlocks, kernel.split.depth);
      else if (m == 0 && kernel.split.blocks > 1)
        split = fmt::format("  split {}x{} blocks of {}x{}", kernel.split.rowBlocks, kernel.split.colBlocks,
                            kernel.split.rows, kernel.split.cols);
      else if (m == 0 && kernel.rows.parallel)
        split = fmt::format("  split {} blocks of {} rows", kernel.rows.blocks, kernel.rows.chunk);
      out += fmt::format("{}{} = {} : {}  {}{}{}{}\n", label, names[n.result.index],
                         call(n, hasFlag(n.op, OpElementwise)), n.type.str(), where, kernel.inlined ? "  inline" : "",
                         plan.poolRelus.count(n.result.index) ? "  relu after pooling" : "", split);
    }
    if (kernel.kind == KernelKind::SoftmaxCrossEntropyRows) {
      const Node &sce = fn.nodes()[kernel.nodes[0]];
      const Node &p = *fn.definingNode(plan.rowFusions.at(sce.result.index).partner);
      out += fmt::format("  +   {} = {} : {}  @{}\n", names[p.result.index], call(p, true), p.type.str(),
                         plan.offset[p.result.index]);
    }
  }
  return lines;
}

std::string describePlan(const Function &fn, const KernelPlan &plan) {
  // The arena a call needs is the whole of it: the GEMM scratch, then the intermediates.
  std::string out = fmt::format("kernels of @{}: {} kernels, {} fused ops, arena {} bytes: GEMM scratch {} + "
                                "{} for {} bytes of intermediates\n",
                                fn.name(), plan.kernels.size(), plan.fusedOps(), plan.arenaBytes(),
                                plan.scratchBytes, plan.intermediateArenaBytes, plan.intermediateBytes);
  for (const std::string &lines : describeKernelLines(fn, plan))
    out += lines;
  return out;
}

std::string describeKernels(const Function &fn, const EmitOptions &options) {
  return describePlan(fn, planKernels(fn, options));
}

} // namespace nnc
