//===- PlanMemory.cpp - Loop groups, in-place updates, the arena and alias classes ----------===//
//
// The planning steps of KernelPlan.h that decide where values live and which kernels share a
// loop nest: loop groups (fuse-loops), state updates stored in place (in-place-updates), the
// GEMM packing scratch, the liveness-based arena, and the alias classes that give every access
// scoped-noalias metadata.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/KernelPlan.h"

#include "codegen/ConvRoutines.h"
#include "codegen/Gemm.h"

#include <algorithm>
#include <numeric>

namespace nnc {

namespace {

bool isElementwise(OpKind op) { return hasFlag(op, OpElementwise); }

/// Bytes of `type`'s elements, rounded up to the arena's 64-byte blocks.
int64_t blockBytes(const TensorType &type) {
  return (type.numElements() * storageBytes(type.dtype) + 63) / 64 * 64;
}

/// True when every value of `set` that the kernel of `n` reads is read as a plain operand (of
/// `n` or of a producer fused into it), so at the element being computed, never through a
/// view or a reshape.
bool readsDirectly(const Function &fn, const KernelPlan &plan, const Node &n, const std::vector<bool> &set) {
  for (ValueId o : n.operands) {
    if (set[o.index])
      continue;
    const Node *d = fn.definingNode(o);
    if (!d)
      continue;
    if (plan.fused[o.index]) {
      if (!readsDirectly(fn, plan, *d, set))
        return false;
      continue;
    }
    if (plan.isVirtual[o.index] || plan.isAlias(o)) {
      std::vector<ValueId> owners;
      collectStorage(fn, plan, o, owners);
      for (ValueId w : owners)
        if (set[w.index])
          return false;
    }
  }
  return true;
}

} // namespace

void collectStorage(const Function &fn, const KernelPlan &plan, ValueId v, std::vector<ValueId> &out) {
  const Node *d = fn.definingNode(v);
  if (d && (plan.isVirtual[v.index] || plan.fused[v.index])) {
    for (ValueId o : d->operands)
      collectStorage(fn, plan, o, out);
    return;
  }
  if (d && plan.isAlias(v)) {
    collectStorage(fn, plan, d->operands[0], out);
    return;
  }
  out.push_back(v);
}

std::vector<ValueId> storageReadBy(const Function &fn, const KernelPlan &plan, const Node &n) {
  std::vector<ValueId> reads;
  for (ValueId o : n.operands)
    collectStorage(fn, plan, o, reads);
  return reads;
}

/// Loop fusion: adjacent elementwise kernels over the same shape form one loop group when each
/// reads the earlier members only directly at the element it computes (never through a view
/// or reshape, which could reach an element not yet computed). Nodes without a kernel of their
/// own (views, fused producers, reshapes) may lie between members; any other kernel ends the
/// group.
void planLoopGroups(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  const auto &nodes = fn.nodes();
  plan.groupEnd.resize(nodes.size());
  std::iota(plan.groupEnd.begin(), plan.groupEnd.end(), size_t(0));
  if (!options.fuseLoops)
    return;
  std::vector<bool> member(fn.numValueIds(), false);
  std::vector<size_t> group;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (!plan.isKernel(n))
      continue;
    bool elementwise = isElementwise(n.op) && !plan.epilogues.count(n.result.index) && !plan.partner[n.result.index] &&
                       !plan.poolRelus.count(n.result.index);
    if (!group.empty() && elementwise && n.type.shape == nodes[group[0]].type.shape &&
        readsDirectly(fn, plan, n, member)) {
      group.push_back(i);
      member[n.result.index] = true;
      for (size_t j : group)
        plan.groupEnd[j] = i;
      continue;
    }
    for (size_t j : group)
      member[nodes[j].result.index] = false;
    group.clear();
    if (elementwise) {
      group.push_back(i);
      member[n.result.index] = true;
    }
  }
}

/// In-place updates: a state update computed by an elementwise kernel is stored straight into
/// the state's buffer (no arena block, no copy at the end) when nothing reads the old state
/// afterwards: every kernel that reads it runs before the update's kernel, or in the same loop
/// group at or before it and directly at the element being computed (read before written). The
/// results, copied out at the end, must not read the state.
void planInPlace(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  size_t count = fn.numValueIds();
  plan.inPlace.assign(count, -1);
  if (!options.inPlaceUpdates)
    return;
  const auto &nodes = fn.nodes();
  std::vector<int> updatesOf(count, 0);
  for (const StateUpdate &u : fn.updates())
    ++updatesOf[u.value.index];
  std::vector<bool> readAtEnd(count, false);
  for (const FunctionResult &r : fn.results()) {
    std::vector<ValueId> owners;
    collectStorage(fn, plan, r.value, owners);
    for (ValueId o : owners)
      readAtEnd[o.index] = true;
  }
  // The kernels that read each updated state, found in one walk over the nodes (not one walk
  // per update, which made planning quadratic in the number of parameters).
  std::vector<bool> updated(count, false);
  for (const StateUpdate &u : fn.updates())
    updated[u.state.index] = true;
  std::vector<std::vector<size_t>> readers(count);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!plan.isKernel(nodes[i]))
      continue;
    for (ValueId r : storageReadBy(fn, plan, nodes[i]))
      if (updated[r.index] && (readers[r.index].empty() || readers[r.index].back() != i))
        readers[r.index].push_back(i);
  }
  std::vector<bool> state(count, false);
  for (const StateUpdate &u : fn.updates()) {
    const Node *d = fn.definingNode(u.value);
    if (u.value == u.state || !d || !plan.isKernel(*d) || !isElementwise(d->op) ||
        plan.epilogues.count(u.value.index) || plan.poolRelus.count(u.value.index) || plan.partner[u.value.index] ||
        updatesOf[u.value.index] != 1 ||
        readAtEnd[u.state.index] || readAtEnd[u.value.index] || !(fn.type(u.value) == fn.type(u.state)))
      continue;
    size_t k = size_t(plan.nodeIndex[u.value.index]);
    state[u.state.index] = true;
    bool safe = true;
    for (size_t i : readers[u.state.index])
      if (i > k || (plan.groupEnd[i] == plan.groupEnd[k] && !readsDirectly(fn, plan, nodes[i], state))) {
        safe = false;
        break;
      }
    state[u.state.index] = false;
    if (safe)
      plan.inPlace[u.value.index] = int64_t(u.state.index);
  }
}

bool isNarrowMatMul(const Function &fn, const Node &n, const EmitOptions &options) {
  const std::vector<int64_t> &bs = fn.type(n.operands[1]).shape;
  int64_t N = n.attrs.getBool("transpose_b") ? bs[bs.size() - 2] : bs[bs.size() - 1];
  return n.type.dtype == DType::F32 && N <= int64_t(GemmSpec::narrow(options.vectorBits).nr());
}

bool isInlineMatMul(const Function &fn, const Node &n, const EmitOptions &options) {
  if (!options.inlineProducts || n.op != OpKind::MatMul)
    return false;
  const std::vector<int64_t> &as = fn.type(n.operands[0]).shape, &bs = fn.type(n.operands[1]).shape;
  size_t r = as.size();
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  int64_t M = ta ? as[r - 1] : as[r - 2], K = ta ? as[r - 2] : as[r - 1], N = tb ? bs[r - 2] : bs[r - 1];
  int64_t batches = 1;
  for (size_t d = 0; d + 2 < r; ++d)
    batches *= as[d];
  int64_t bytes = batches * (M * K + K * N + M * N) * (n.type.dtype == DType::F64 ? 8 : 4);
  return batches * M * N * K <= kInlineProductWork && bytes <= kInlineProductBytes;
}

MatMulSplit planMatMulSplit(const Function &fn, const Node &n, const EmitOptions &options) {
  const std::vector<int64_t> &as = fn.type(n.operands[0]).shape, &bs = fn.type(n.operands[1]).shape;
  size_t r = as.size();
  bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
  MatMulSplit s;
  s.M = ta ? as[r - 1] : as[r - 2];
  s.K = ta ? as[r - 2] : as[r - 1];
  s.N = tb ? bs[r - 2] : bs[r - 1];
  bool f64 = n.type.dtype == DType::F64;
  GemmSpec spec = isNarrowMatMul(fn, n, options) ? GemmSpec::narrow(options.vectorBits)
                                                 : GemmSpec::forHost(options.vectorBits, f64);
  const int64_t mr = spec.mr, nr = spec.nr(), K = std::max<int64_t>(s.K, 1);
  // Estimated nanoseconds of one block of m×n: its multiply-adds on whole microkernel tiles
  // (measured: about 4 per ns per vector lane, 2 FMA pipes at 2–3.5 GHz less overheads),
  // packing its A rows (unless the routine reads A where it lies, GemmSpec::directA) and B
  // columns (about 0.3 ns per element, transposed copies included), and for a split the
  // pool's entry and the wait for the last block (about 2 µs).
  const double fmaPerNs = 4.0 * double(spec.lanes);
  auto roundUpTo = [](int64_t x, int64_t m) { return (x + m - 1) / m * m; };
  auto cost = [&](int64_t m, int64_t cols, int64_t blocks) {
    double fma = double(roundUpTo(m, mr)) * double(roundUpTo(cols, nr)) * double(K) / fmaPerNs;
    double packing = 0.3 * double((spec.directA ? 0 : m) + cols) * double(K);
    return fma + packing + (blocks > 1 ? 2000.0 : 0.0);
  };
  s.rows = s.M;
  s.cols = s.N;
  // The fastest grid of at least two blocks, taken when it beats one block by 5%.
  double best = 0;
  int64_t bestRows = 0, bestCols = 0;
  for (int64_t rb = 1; rb <= options.threads; ++rb)
    for (int64_t cb = 1; rb * cb <= options.threads; ++cb) {
      if (rb * cb == 1)
        continue;
      int64_t rows = roundUpTo((s.M + rb - 1) / rb, mr), cols = roundUpTo((s.N + cb - 1) / cb, nr);
      int64_t rowBlocks = (s.M + rows - 1) / rows, colBlocks = (s.N + cols - 1) / cols;
      if (rowBlocks != rb || colBlocks != cb)
        continue; // the grid collapses to a smaller one
      double c = cost(rows, cols, rowBlocks * colBlocks);
      if (bestRows == 0 || c < best) {
        best = c;
        bestRows = rows;
        bestCols = cols;
      }
    }
  if (bestRows > 0 && best < 0.95 * cost(s.M, s.N, 1)) {
    s.rows = bestRows;
    s.cols = bestCols;
  }
  // A split over K in slices of a multiple of 16 terms: each block a whole C on its slice of
  // the sum (packing B's slice, and A's unless the routine reads A directly), then the calling
  // thread adds the partials (about 0.25 ns per element and block, from L2). It pays where C
  // is a tile or two and the sum is long. It is taken only when estimated 25% faster than the
  // best grid (or one block): it makes results depend on the thread count, and where the
  // estimate gave it an edge of 10–20% over a grid of rows the two ran equally fast (a 64×10
  // product over 1568 terms: 0.0415 and 0.0413 ms), while with no grid to be had it halved the
  // time (4×8 over 8192 terms: 0.033 → 0.015 ms; AMD Zen 3, 2 threads).
  double bestK = 0;
  int64_t bestDepth = 0;
  for (int64_t kb = 2; kb <= options.threads; ++kb) {
    int64_t depth = roundUpTo((s.K + kb - 1) / kb, 16);
    if (depth == 0 || (s.K + depth - 1) / depth != kb)
      continue; // fewer slices than kb
    double fma = double(roundUpTo(s.M, mr)) * double(roundUpTo(s.N, nr)) * double(depth) / fmaPerNs;
    double packing = 0.3 * double((spec.directA ? 0 : s.M) + s.N) * double(depth);
    double c = fma + packing + 2000.0 + 0.25 * double(s.M * s.N * kb);
    if (bestDepth == 0 || c < bestK) {
      bestK = c;
      bestDepth = depth;
    }
  }
  double kept = bestRows > 0 ? std::min(best, cost(s.M, s.N, 1)) : cost(s.M, s.N, 1); // what a grid or one block takes
  if (bestDepth > 0 && bestK < 0.75 * kept) {
    s.rows = s.M;
    s.cols = s.N;
    s.depth = bestDepth;
    s.kBlocks = (s.K + bestDepth - 1) / bestDepth;
  }
  s.rowBlocks = (s.M + s.rows - 1) / std::max<int64_t>(s.rows, 1);
  s.colBlocks = (s.N + s.cols - 1) / std::max<int64_t>(s.cols, 1);
  s.rowBlocks = std::max<int64_t>(s.rowBlocks, 1);
  s.colBlocks = std::max<int64_t>(s.colBlocks, 1);
  s.blocks = s.rowBlocks * s.colBlocks * s.kBlocks;
  int64_t elem = f64 ? 8 : 4;
  s.scratchBytes = (gemmScratchElements(spec, s.rows, s.cols, s.kBlocks > 1 ? s.depth : s.K) * elem + 63) / 64 * 64;
  if (s.kBlocks > 1) {
    s.partialOffset = s.scratchBytes;
    s.scratchBytes += (s.M * s.N * elem + 63) / 64 * 64;
  } else {
    s.depth = s.K;
  }
  return s;
}

RowSplit planRowSplit(const Function &fn, const Kernel &k, const EmitOptions &options) {
  const Node &n = fn.nodes()[k.nodes.front()];
  auto shapeOf = [&](ValueId v) -> const std::vector<int64_t> & { return fn.type(v).shape; };
  int64_t rows = 1, granule = 1;
  bool large = false;
  switch (k.kind) {
  case KernelKind::Elementwise: { // row blocks of the result; vectors in multiples of 64
    const std::vector<int64_t> &shape = n.type.shape;
    rows = shape.empty() ? 1 : shape[0];
    granule = shape.size() == 1 ? 64 : 1;
    large = n.type.numElements() >= (int64_t(1) << 15);
    break;
  }
  case KernelKind::Conv: { // by batch element, the weight gradient's too (partial sums per block)
    ConvGeometry g = convGeometry(fn, n);
    rows = g.N;
    large = g.N * g.O * g.ohw() * g.ckk() >= (int64_t(1) << 18);
    break;
  }
  case KernelKind::Pool: { // by (batch, channel) plane
    bool grad = n.op == OpKind::MaxPool2DGrad || n.op == OpKind::AvgPool2DGrad;
    const std::vector<int64_t> &xs = n.op == OpKind::MaxPool2DGrad ? shapeOf(n.operands[0])
                                     : grad                        ? n.type.shape
                                                                   : shapeOf(n.operands[0]);
    const std::vector<int64_t> &ys = n.op == OpKind::MaxPool2DGrad ? shapeOf(n.operands[1])
                                     : grad                        ? shapeOf(n.operands[0])
                                                                   : n.type.shape;
    std::vector<int64_t> kernel = n.attrs.getInts("kernel");
    rows = xs[0] * xs[1];
    large = rows * ys[2] * ys[3] * kernel[0] * kernel[1] >= (int64_t(1) << 16);
    break;
  }
  case KernelKind::BatchNorm: { // by channel when a channel is runs of several elements
    const std::vector<int64_t> &xs = shapeOf(n.operands[0]);
    bool runs = xs.size() > 2 && fn.type(n.operands[0]).numElements() > xs[0] * xs[1];
    rows = runs ? xs[1] : 1;
    large = fn.type(n.operands[0]).numElements() >= (int64_t(1) << 15);
    break;
  }
  default:
    break;
  }
  RowSplit s;
  s.rows = s.chunk = rows;
  if (!options.parallelLoops || options.threads < 2 || rows < 2 || !large)
    return s;
  s.parallel = true;
  s.chunk = (rows + options.threads - 1) / options.threads;
  s.chunk = (s.chunk + granule - 1) / granule * granule;
  s.blocks = (rows + s.chunk - 1) / s.chunk;
  return s;
}

ConvGeometry convGeometry(const Function &fn, const Node &n) {
  const std::vector<int64_t> *xs, *ws, *ys;
  auto shapeOf = [&](ValueId v) -> const std::vector<int64_t> & { return fn.type(v).shape; };
  if (n.op == OpKind::Conv2D)
    xs = &shapeOf(n.operands[0]), ws = &shapeOf(n.operands[1]), ys = &n.type.shape;
  else if (n.op == OpKind::Conv2DGradInput) // (dy, w) -> dx
    ys = &shapeOf(n.operands[0]), ws = &shapeOf(n.operands[1]), xs = &n.type.shape;
  else // Conv2DGradWeight: (x, dy) -> dw
    xs = &shapeOf(n.operands[0]), ys = &shapeOf(n.operands[1]), ws = &n.type.shape;
  std::vector<int64_t> stride = n.attrs.getInts("stride", {1, 1}), pad = n.attrs.getInts("pad", {0, 0});
  ConvGeometry g;
  g.N = (*xs)[0], g.C = (*xs)[1], g.H = (*xs)[2], g.W = (*xs)[3];
  g.O = (*ws)[0], g.KH = (*ws)[2], g.KW = (*ws)[3], g.OH = (*ys)[2], g.OW = (*ys)[3];
  g.strideH = stride[0], g.strideW = stride[1], g.padH = pad[0], g.padW = pad[1];
  return g;
}

ConvScratch planConvScratch(const Function &fn, const Node &n, const RowSplit &split, const EmitOptions &options) {
  ConvGeometry g = convGeometry(fn, n);
  bool f64 = n.type.dtype == DType::F64;
  int64_t elem = f64 ? 8 : 4;
  auto round64 = [](int64_t bytes) { return (bytes + 63) / 64 * 64; };
  GemmSpec spec = GemmSpec::forHost(options.vectorBits, f64);
  // The product of each image (see codegen/EmitConv.cpp): y[n] = w·col, col = wᵀ·dy[n] (or
  // dx[n] = w̃·col), dw += dy[n]·colᵀ, as M×N×K; col is K×N, or CKK×OH·OW for the forward.
  int64_t M = g.O, N = g.ohw(), K = g.ckk();
  bool asConv = n.op == OpKind::Conv2DGradInput && g.gradInputAsConv();
  if (asConv) // dx[n] = w̃ · im2col(dy[n])
    M = g.C, N = g.H * g.W, K = g.transposed().ckk();
  else if (n.op == OpKind::Conv2DGradInput)
    M = g.pointwise() ? g.C : g.ckk(), N = g.ohw(), K = g.O;
  else if (n.op == OpKind::Conv2DGradWeight)
    M = g.O, N = g.ckk(), K = g.ohw();
  ConvScratch s;
  s.gemmBytes = round64(gemmScratchElements(spec, M, N, K) * elem);
  // col holds im2col(dy[n]) (K×N) for the input gradient taken as a convolution, else the
  // CKK×OH·OW columns of one image: im2col(x[n]) or the input gradient's wᵀ·dy[n] before col2im.
  s.colBytes = g.pointwise() ? 0 : round64((asConv ? K * N : g.ckk() * g.ohw()) * elem);
  if (asConv)
    s.flippedBytes = round64(g.C * g.O * g.KH * g.KW * elem);
  if (n.op == OpKind::Conv2DGradWeight && split.parallel)
    s.partialBytes = round64(g.O * g.ckk() * elem);
  if (n.op == OpKind::Conv2DGradInput && !asConv && g.col2imGathers())
    s.maskBytes = round64(col2imMaskBytes(g));
  return s;
}

/// The scratch at the start of the arena: the most any one matrix product needs (all its row
/// blocks together) or any one convolution (all its blocks' ConvScratch together).
void planGemmScratch(const Function &fn, const EmitOptions &options, KernelPlan &plan) {
  plan.scratchBytes = 0;
  const auto &nodes = fn.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (n.op == OpKind::MatMul && !isInlineMatMul(fn, n, options)) {
      (n.type.dtype == DType::F64 ? plan.needsF64Gemm : plan.needsF32Gemm) = true;
      MatMulSplit split = planMatMulSplit(fn, n, options);
      plan.scratchBytes = std::max(plan.scratchBytes, split.blocks * split.scratchBytes);
    } else if (kernelKindOf(n.op) == KernelKind::Conv) {
      (n.type.dtype == DType::F64 ? plan.needsF64Gemm : plan.needsF32Gemm) = true;
      Kernel k;
      k.kind = KernelKind::Conv;
      k.nodes = {i};
      RowSplit split = planRowSplit(fn, k, options);
      plan.scratchBytes = std::max(plan.scratchBytes, split.blocks * planConvScratch(fn, n, split, options).blockBytes());
    }
  }
}

/// Liveness-based memory plan: every stored node gets an arena block that is free from its
/// kernel to the last kernel reading it (results and updates live to the end). Blocks are
/// reused best-fit, so buffers whose lifetimes do not overlap share memory.
void planArena(const Function &fn, KernelPlan &plan) {
  const auto &nodes = fn.nodes();
  size_t count = fn.numValueIds();
  std::vector<int64_t> lastUse(count, -1);
  // A loop group runs as one kernel: what its members read stays live to its last member.
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!plan.isKernel(nodes[i]))
      continue;
    for (ValueId r : storageReadBy(fn, plan, nodes[i]))
      lastUse[r.index] = std::max<int64_t>(lastUse[r.index], int64_t(plan.groupEnd[i]));
  }
  int64_t end = int64_t(nodes.size());
  auto pinTo = [&](ValueId v) {
    std::vector<ValueId> owners;
    collectStorage(fn, plan, v, owners);
    for (ValueId o : owners)
      lastUse[o.index] = end;
  };
  for (const FunctionResult &r : fn.results())
    pinTo(r.value);
  for (const StateUpdate &u : fn.updates())
    pinTo(u.value);

  plan.offset.assign(count, -1);
  plan.intermediateArenaBytes = 0;
  plan.intermediateBytes = 0;
  std::vector<std::pair<int64_t, int64_t>> freeBlocks; // (offset, size)
  std::vector<std::vector<ValueId>> dying(nodes.size() + 1);
  // Values read for the last time by kernel i (or its group) are free once it has run.
  auto freeDying = [&](size_t i) {
    for (ValueId v : dying[i])
      freeBlocks.push_back({plan.offset[v.index], blockBytes(fn.definingNode(v)->type)});
  };
  // A block for `node`, whose kernel runs at step i.
  auto place = [&](const Node &node, size_t i) {
    int64_t size = blockBytes(node.type);
    // Best fit among free blocks, else grow the arena.
    size_t best = freeBlocks.size();
    for (size_t k = 0; k < freeBlocks.size(); ++k)
      if (freeBlocks[k].second >= size && (best == freeBlocks.size() || freeBlocks[k].second < freeBlocks[best].second))
        best = k;
    if (best < freeBlocks.size()) {
      plan.offset[node.result.index] = freeBlocks[best].first;
      if (freeBlocks[best].second > size)
        freeBlocks[best] = {freeBlocks[best].first + size, freeBlocks[best].second - size};
      else
        freeBlocks.erase(freeBlocks.begin() + long(best));
    } else {
      int64_t at = (plan.intermediateArenaBytes + 63) / 64 * 64;
      plan.intermediateArenaBytes = at + size;
      plan.offset[node.result.index] = at;
    }
    int64_t last = lastUse[node.result.index] < 0 ? int64_t(plan.groupEnd[i]) : lastUse[node.result.index];
    if (last < end)
      dying[size_t(std::max<int64_t>(last, int64_t(i)))].push_back(node.result);
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &node = nodes[i];
    if (!plan.isKernel(node))
      continue;
    plan.intermediateBytes += blockBytes(node.type);
    if (plan.partner[node.result.index])
      continue; // placed with the kernel that stores it
    if (plan.inPlace[node.result.index] < 0) // else stored in its state's buffer
      place(node, i);
    if (auto it = plan.rowFusions.find(node.result.index); it != plan.rowFusions.end())
      place(*fn.definingNode(it->second.partner), i);
    freeDying(i);
  }
}

/// Alias classes for scoped-noalias metadata: every argument buffer is its own class; arena
/// values whose blocks overlap (reuse by liveness) share one; reshapes and in-place updates take
/// the class of the storage they alias; each result buffer has its own. Accesses of different
/// classes never touch the same bytes, which lets LLVM vectorize loops over many buffers
/// without runtime alias checks.
void planAliasClasses(const Function &fn, KernelPlan &plan) {
  size_t count = fn.numValueIds();
  plan.aliasClass.assign(count, -1);
  int classes = 0;
  for (const Argument &a : fn.arguments())
    plan.aliasClass[a.value.index] = classes++;
  struct Block {
    int64_t begin, end;
    uint32_t value;
  };
  std::vector<Block> blocks;
  for (const Node &n : fn.nodes())
    if (int64_t at = plan.offset[n.result.index]; at >= 0)
      blocks.push_back({at, at + std::max<int64_t>(1, n.type.numElements() * storageBytes(n.type.dtype)), n.result.index});
  std::sort(blocks.begin(), blocks.end(), [](const Block &x, const Block &y) { return x.begin < y.begin; });
  int64_t reach = -1;
  for (const Block &bl : blocks) {
    if (bl.begin >= reach)
      ++classes;
    reach = std::max(reach, bl.end);
    plan.aliasClass[bl.value] = classes - 1;
  }
  // Aliases (in node order, so chains resolve) and in-place updates share other storage.
  for (const Node &n : fn.nodes()) {
    if (plan.isAlias(n.result))
      plan.aliasClass[n.result.index] = plan.aliasClass[n.operands[0].index];
    if (plan.inPlace[n.result.index] >= 0)
      plan.aliasClass[n.result.index] = plan.aliasClass[size_t(plan.inPlace[n.result.index])];
  }
  plan.resultClass0 = classes;
  plan.aliasClasses = classes + int(fn.results().size());
}

} // namespace nnc
