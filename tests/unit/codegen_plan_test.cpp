//===- codegen_plan_test.cpp - A lowering for every op, and the kernel plan before LLVM -----===//
//
// Walks ir/Ops.def: every op must have a lowering (a scalar lowering row for an elementwise
// op, a kernel kind for any other). Then the kernel plan on small functions: the GEMM epilogue
// matcher recognises exactly the derivatives that ir/Activations.h builds, and the plan's
// kernel count and arena are those of the emitted function.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "codegen/KernelPlan.h"
#include "codegen/ScalarOps.h"
#include "ir/Activations.h"
#include "ir/Builder.h"

#include "CodegenTesting.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <tuple>

using namespace nnc;

TEST_CASE("every op of the op table has a lowering", "[codegen]") {
  int ops = 0;
#define OP(Name, mnemonic, numOperands, flags, attrs, doc)                                              \
  {                                                                                              \
    INFO("op " << mnemonic);                                                                     \
    ++ops;                                                                                       \
    bool elementwise = ((flags) & OpElementwise) != 0;                                           \
    CHECK(hasLowering(OpKind::Name));                                                            \
    CHECK((scalarLowering(OpKind::Name) != nullptr) == elementwise);                             \
    CHECK((elementwise || OpKind::Name == OpKind::Reshape) != kernelKindOf(OpKind::Name).has_value()); \
  }
#include "ir/Ops.def"
  CHECK(ops > 50);
}

namespace {

/// matmul(a, b) · f'(y) for the activation `op`, f'(y) as `derivative` builds it, with y an
/// input of the product's shape.
struct GradientProduct {
  Function fn{"step"};
  ValueId y, result;
  GradientProduct(const std::function<ValueId(Builder &, ValueId)> &derivative) {
    Builder b(fn);
    ValueId a = fn.addArgument("a", {DType::F32, {6, 4}}, ArgRole::Input);
    ValueId w = fn.addArgument("w", {DType::F32, {4, 5}}, ArgRole::State);
    y = fn.addArgument("y", {DType::F32, {6, 5}}, ArgRole::Input);
    result = b.mul(b.matmul(a, w), derivative(b, y));
    fn.addResult("g", result);
  }
};

/// Options under which a product of GradientProduct's size is a GEMM call: it is small enough
/// to be inline (isInlineMatMul) otherwise, and an inline product has no epilogue.
EmitOptions viaGemm() {
  EmitOptions options;
  options.inlineProducts = false;
  return options;
}

} // namespace

TEST_CASE("a product that fits in L1 is inline, without a GEMM epilogue or scratch", "[codegen]") {
  GradientProduct g([](Builder &b, ValueId y) { return activationDerivative(b, OpKind::Tanh, y); });
  KernelPlan plan = planKernels(g.fn, {});
  CHECK(plan.epilogues.empty());
  CHECK(plan.scratchBytes == 0);
  CHECK_FALSE(plan.needsF32Gemm);
  REQUIRE(plan.kernels.size() == 2);
  CHECK(plan.kernels[0].kind == KernelKind::MatMul);
  CHECK(plan.kernels[0].inlined);
  CHECK(plan.kernels[1].kind == KernelKind::Elementwise);
  // With the pass off the same product is a GEMM call finished by the epilogue.
  KernelPlan gemm = planKernels(g.fn, viaGemm());
  CHECK(gemm.epilogues.size() == 1);
  CHECK(gemm.scratchBytes > 0);
  REQUIRE(gemm.kernels.size() == 1);
  CHECK_FALSE(gemm.kernels[0].inlined);

  // A product over the limits is never inline.
  Function big("big");
  Builder b(big);
  ValueId x = big.addArgument("x", {DType::F32, {64, 64}}, ArgRole::Input);
  ValueId w = big.addArgument("w", {DType::F32, {64, 64}}, ArgRole::State);
  big.addResult("z", b.matmul(x, w));
  CHECK_FALSE(isInlineMatMul(big, big.nodes().back(), {}));

  // The limit on bytes counts every batch of a batched product: 4096 products of 2×2 matrices
  // are 16,384 multiply-adds but 192 KiB of operands.
  Function batched("batched");
  Builder bb(batched);
  ValueId p = batched.addArgument("p", {DType::F32, {4096, 2, 2}}, ArgRole::Input);
  ValueId q = batched.addArgument("q", {DType::F32, {4096, 2, 2}}, ArgRole::Input);
  batched.addResult("r", bb.matmul(p, q));
  CHECK_FALSE(isInlineMatMul(batched, batched.nodes().back(), {}));
  KernelPlan bigPlan = planKernels(big, {});
  REQUIRE(bigPlan.kernels.size() == 1);
  CHECK_FALSE(bigPlan.kernels[0].inlined);
}

TEST_CASE("the GEMM epilogue computes the product with each activation's derivative", "[codegen]") {
  for (const Activation &act : activations()) {
    INFO("activation " << mnemonic(act.op));
    GradientProduct g([&](Builder &b, ValueId y) { return activationDerivative(b, act.op, y); });
    KernelPlan plan = planKernels(g.fn, viaGemm());
    REQUIRE(plan.epilogues.size() == 1);
    const Epilogue &ep = plan.epilogues.begin()->second;
    CHECK(ep.aux == g.y);
    CHECK(ep.kind != 0);
    REQUIRE(plan.kernels.size() == 1);
    CHECK(plan.kernels[0].kind == KernelKind::MatMulEpilogue);

    EmitOptions off = viaGemm();
    off.fuseEpilogues = false;
    KernelPlan unfused = planKernels(g.fn, off);
    CHECK(unfused.epilogues.empty());
    CHECK(unfused.kernels.size() == 2);
  }
}

TEST_CASE("a derivative spelled other than the activation table's is not an epilogue", "[codegen]") {
  // tanh's derivative is 1 - square(y) in the table; 1 - y·y is the same maths, another IR.
  GradientProduct g([](Builder &b, ValueId y) { return b.sub(b.constantLike(y, 1), b.mul(y, y)); });
  KernelPlan plan = planKernels(g.fn, viaGemm());
  CHECK(plan.epilogues.empty());
  // The sigmoid's y(1 - y) matches in either operand order: mul is commutative.
  GradientProduct swapped([](Builder &b, ValueId y) { return b.mul(b.sub(b.constantLike(y, 1), y), y); });
  CHECK(planKernels(swapped.fn, viaGemm()).epilogues.size() == 1);
}

TEST_CASE("the emitted function has the plan's kernels and arena", "[codegen]") {
  for (const Activation &act : activations()) {
    GradientProduct g([&](Builder &b, ValueId y) { return activationDerivative(b, act.op, y); });
    for (bool fuse : {true, false}) {
      EmitOptions options = viaGemm();
      options.fuseEpilogues = fuse;
      KernelPlan plan = planKernels(g.fn, options);
      llvm::LLVMContext ctx;
      llvm::Module module("plan", ctx);
      FunctionABI abi = testing::unwrap(emitFunction(g.fn, "nnc_step", module, options));
      CHECK(abi.kernels == int64_t(plan.kernels.size()));
      CHECK(abi.arenaBytes == plan.arenaBytes());
      CHECK(abi.scratchBytes == plan.scratchBytes);
      CHECK(abi.fusedOps == plan.fusedOps());
      CHECK(describeKernels(g.fn, options).find(fmt::format("{} kernels", plan.kernels.size())) != std::string::npos);
    }
  }
}

namespace {

/// The thread split the plan gives the product op(a)·op(b) of an M×K and a K×N operand.
MatMulSplit splitOf(int64_t M, int64_t N, int64_t K, int threads, bool transposeA = false) {
  Function fn{"step"};
  Builder b(fn);
  std::vector<int64_t> aShape = transposeA ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K};
  ValueId a = fn.addArgument("a", {DType::F32, aShape}, ArgRole::Input);
  ValueId w = fn.addArgument("w", {DType::F32, {K, N}}, ArgRole::State);
  fn.addResult("c", b.matmul(a, w, transposeA));
  EmitOptions options;
  options.threads = threads;
  for (const Node &n : fn.nodes())
    if (n.op == OpKind::MatMul)
      return planMatMulSplit(fn, n, options);
  FAIL("no matrix product");
  return {};
}

} // namespace

TEST_CASE("matrix products split over rows, columns or both only when the split pays", "[codegen][threads]") {
  // A batch-64 forward product: splitting the 512 columns halves each thread's packing of W.
  MatMulSplit forward = splitOf(64, 512, 784, 2);
  CHECK(forward.rowBlocks == 1);
  CHECK(forward.colBlocks == 2);
  CHECK(forward.cols % 64 == 0);
  // A weight gradient Xᵀ·dH (600×200 over a batch of 64): the rows split.
  MatMulSplit weights = splitOf(600, 200, 64, 2, /*transposeA=*/true);
  CHECK(weights.rowBlocks == 2);
  CHECK(weights.colBlocks == 1);
  CHECK(weights.rows % 6 == 0);
  // Four threads on a large square product: a grid of four blocks.
  MatMulSplit square = splitOf(1024, 1024, 1024, 4);
  CHECK(square.blocks == 4);
  CHECK(square.rowBlocks * square.colBlocks == 4);
  // Iris-sized products (a few µs at most) stay on one thread.
  CHECK(splitOf(16, 16, 4, 2).blocks == 1);
  CHECK(splitOf(16, 3, 16, 2).blocks == 1);
  CHECK(splitOf(4, 16, 16, 2, /*transposeA=*/true).blocks == 1);
  CHECK(splitOf(1024, 1024, 1024, 1).blocks == 1);
  // Every split's blocks cover C exactly once, and each block's scratch fits its GEMM.
  for (auto [M, N, K] : {std::tuple{64, 512, 784}, {784, 512, 64}, {1024, 1024, 1024}, {100, 1000, 300}, {37, 2000, 50}})
    for (int threads : {2, 3, 4, 8}) {
      MatMulSplit s = splitOf(M, N, K, threads);
      INFO("M=" << M << " N=" << N << " K=" << K << " threads=" << threads);
      CHECK(s.blocks <= threads);
      CHECK(s.kBlocks == 1);
      CHECK(s.blocks == s.rowBlocks * s.colBlocks);
      CHECK((s.rowBlocks - 1) * s.rows < M);
      CHECK(s.rowBlocks * s.rows >= M);
      CHECK((s.colBlocks - 1) * s.cols < N);
      CHECK(s.colBlocks * s.cols >= N);
    }
}

TEST_CASE("a product with a small C and a long sum splits over K only where no grid of C pays", "[codegen][threads]") {
  // 4×8 over 8192 terms (a wide logistic regression at batch 4): C is less than one tile, so
  // only slices of the sum give two threads work.
  MatMulSplit wide = splitOf(4, 8, 8192, 2);
  CHECK(wide.kBlocks == 2);
  CHECK(wide.blocks == 2);
  CHECK(wide.rowBlocks * wide.colBlocks == 1);
  CHECK(wide.depth % 16 == 0);
  CHECK((wide.kBlocks - 1) * wide.depth < 8192);
  CHECK(wide.kBlocks * wide.depth >= 8192);
  // Each block's scratch holds its packing and then its partial C, 64-byte aligned.
  CHECK(wide.partialOffset % 64 == 0);
  CHECK(wide.scratchBytes >= wide.partialOffset + 4 * 8 * 4);
  CHECK(wide.scratchBytes % 64 == 0);
  MatMulSplit transposed = splitOf(4, 8, 8192, 2, /*transposeA=*/true);
  CHECK(transposed.kBlocks == 2);
  // Three threads, a sum not a multiple of the slices: every term in exactly one slice.
  MatMulSplit three = splitOf(3, 5, 5000, 3);
  CHECK(three.kBlocks == 3);
  CHECK((three.kBlocks - 1) * three.depth < 5000);
  CHECK(three.kBlocks * three.depth >= 5000);
  // Not with one thread, not for a short sum, and not where a grid of C does as well: the
  // bench models' products (a batch-64 classifier over 1568 features, a 32×128 layer over 784).
  CHECK(splitOf(4, 8, 8192, 1).blocks == 1);
  CHECK(splitOf(4, 8, 256, 2).kBlocks == 1);
  CHECK(splitOf(64, 10, 1568, 2).kBlocks == 1);
  CHECK(splitOf(32, 128, 784, 2).kBlocks == 1);
  CHECK(splitOf(256, 10, 512, 2).kBlocks == 1);
}
