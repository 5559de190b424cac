//===- codegen_gemm.cpp - The emitted GEMM against a naive triple loop ----------------------===//
//
// JIT-compiles nnc_sgemm/nnc_dgemm as the host would get them, an 8-lane (AVX2-shaped) sgemm,
// a tiny-blocked sgemm whose blocks split even small shapes (several K, M and N blocks), and a
// bias + ReLU epilogue variant; then compares each against a double-precision triple loop on
// edge shapes, primes, the MLP's forward and backward shapes, every transpose combination,
// with and without accumulation, strided leading dimensions and guarded scratch.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "tests/unit/CodegenTesting.h"

#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace nnc;
using namespace nnc::testing;

namespace {

template <typename T>
using GemmFn = void(int64_t, int64_t, int64_t, const T *, int64_t, const T *, int64_t, T *,
                    int64_t, int32_t, T *);
using BiasGemmFn = void(int64_t, int64_t, int64_t, const float *, int64_t, const float *,
                        int64_t, float *, int64_t, int32_t, float *, const float *);

/// C = max(C + bias[col], 0), the fused epilogue a dense layer with ReLU wants.
llvm::Value *biasRelu(const GemmEpilogueArgs &args) {
  llvm::IRBuilderBase &b = args.builder;
  llvm::Type *type = args.acc->getType();
  llvm::Value *zero = llvm::ConstantFP::get(type, 0.0);
  llvm::Value *biasPtr = b.CreateGEP(type->getScalarType(), args.extraArgs[0], args.col);
  llvm::Value *bias = b.CreateMaskedLoad(type, biasPtr, llvm::Align(4), args.laneMask, zero);
  llvm::Value *sum = b.CreateFAdd(args.acc, bias);
  return b.CreateSelect(b.CreateFCmpOGT(sum, zero), sum, zero);
}

struct GemmKernels {
  std::unique_ptr<Jit> jit = makeJit();
  GemmSpec host32 = GemmSpec::forHost(jit->vectorBits());
  GemmSpec host64 = GemmSpec::forHost(jit->vectorBits(), /*f64=*/true);
  GemmSpec narrow32, tiny32, bias32;

  GemmKernels() {
    narrow32 = host32;
    narrow32.name = "sgemm_8lanes";
    narrow32.lanes = 8;
    tiny32 = host32;
    tiny32.name = "sgemm_tiny_blocks";
    tiny32.lanes = 4;
    tiny32.nrVectors = 2;
    tiny32.mr = 3;
    tiny32.kc = 5;
    tiny32.mc = 6;
    tiny32.nc = 16;
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto module = std::make_unique<llvm::Module>("gemm", *ctx);
    bias32 = tiny32;
    bias32.name = "sgemm_bias_relu";
    bias32.extraParams = {llvm::PointerType::get(*ctx, 0)};
    bias32.epilogue = biasRelu;
    for (const GemmSpec *spec : {&host32, &host64, &narrow32, &tiny32, &bias32})
      emitGemm(*module, *spec);
    requireOk(jit->add(std::move(module), std::move(ctx)));
  }
};

GemmKernels &kernels() {
  static GemmKernels instance;
  return instance;
}

struct Shape {
  int64_t M, N, K;
};

/// One problem: op(A) M×K and op(B) K×N in double, stored as T the way `flags` asks, with
/// leading dimensions padded by 3 to catch ld mix-ups.
template <typename T> struct Problem {
  Shape s;
  int32_t flags;
  std::vector<double> opA, opB; // row-major M×K and K×N
  std::vector<T> A, B, C;
  int64_t lda, ldb, ldc;

  Problem(Shape s, int32_t flags, std::mt19937 &rng) : s(s), flags(flags) {
    std::uniform_real_distribution<double> dist(-1, 1);
    opA.resize(size_t(s.M * s.K));
    opB.resize(size_t(s.K * s.N));
    for (double &x : opA)
      x = double(T(dist(rng))); // exactly representable in T
    for (double &x : opB)
      x = double(T(dist(rng)));
    bool ta = flags & GemmTransposeA, tb = flags & GemmTransposeB;
    lda = (ta ? s.M : s.K) + 3;
    ldb = (tb ? s.K : s.N) + 3;
    ldc = s.N + 3;
    A.assign(size_t((ta ? s.K : s.M) * lda), T(777));
    B.assign(size_t((tb ? s.N : s.K) * ldb), T(777));
    for (int64_t i = 0; i < s.M; ++i)
      for (int64_t p = 0; p < s.K; ++p)
        A[size_t(ta ? p * lda + i : i * lda + p)] = T(opA[size_t(i * s.K + p)]);
    for (int64_t p = 0; p < s.K; ++p)
      for (int64_t j = 0; j < s.N; ++j)
        B[size_t(tb ? j * ldb + p : p * ldb + j)] = T(opB[size_t(p * s.N + j)]);
    // Without accumulation C's old contents must not matter: start from NaN. Padding
    // columns hold a sentinel that must survive.
    C.assign(size_t(s.M * ldc), T(-555));
    for (int64_t i = 0; i < s.M; ++i)
      for (int64_t j = 0; j < s.N; ++j)
        C[size_t(i * ldc + j)] = flags & GemmAccumulate ? T(dist(rng))
                                                        : std::numeric_limits<T>::quiet_NaN();
  }

  /// Runs `fn` with scratch sized by gemmScratchElements plus a guarded tail; `extra` are
  /// further arguments (the bias).
  template <typename Fn, typename... Extra>
  void run(Fn *fn, const GemmSpec &spec, Extra... extra) {
    const size_t guard = 64;
    size_t need = size_t(gemmScratchElements(spec, s.M, s.N, s.K));
    std::vector<T> scratch(need + guard, T(12345));
    fn(s.M, s.N, s.K, A.data(), lda, B.data(), ldb, C.data(), ldc, flags, scratch.data(),
       extra...);
    for (size_t g = need; g < need + guard; ++g)
      REQUIRE(scratch[g] == T(12345)); // the routine stayed within its scratch
  }

  /// Checks C against old C (when accumulating) + op(A)·op(B), then `post` applied per element.
  template <typename Post>
  void check(const std::vector<T> &oldC, Post post) {
    const double eps = std::numeric_limits<T>::epsilon();
    double worst = 0;
    for (int64_t i = 0; i < s.M; ++i) {
      for (int64_t j = 0; j < s.N; ++j) {
        double sum = flags & GemmAccumulate ? double(oldC[size_t(i * ldc + j)]) : 0.0;
        double magnitude = std::fabs(sum);
        for (int64_t p = 0; p < s.K; ++p) {
          double term = opA[size_t(i * s.K + p)] * opB[size_t(p * s.N + j)];
          sum += term;
          magnitude += std::fabs(term);
        }
        double want = post(sum, j);
        double got = double(C[size_t(i * ldc + j)]);
        // Rounding of the K products and sums, plus one rounding in the epilogue.
        double tolerance = double(s.K + 2) * eps * magnitude + eps * std::fabs(want) + 1e-30;
        worst = std::max(worst, std::fabs(got - want) / tolerance);
        if (!(std::fabs(got - want) <= tolerance)) {
          FAIL_CHECK(std::setprecision(17) << "C[" << i << "][" << j << "] = " << got << ", want " << want << " (M=" << s.M
                          << " N=" << s.N << " K=" << s.K << " flags=" << flags << ")");
          return;
        }
      }
      for (int64_t j = s.N; j < ldc; ++j)
        REQUIRE(C[size_t(i * ldc + j)] == T(-555));
    }
    CHECK(worst <= 1.0);
  }
};

const Shape kShapes[] = {
    {1, 1, 1},     {1, 64, 1},     {6, 64, 384},   {7, 13, 29},   {5, 63, 385}, {13, 65, 387},
    {1, 1, 1000},  {150, 3, 2},    {145, 129, 17}, {31, 200, 769}, {2, 4100, 3},
    // The MLP 784-256-10 at batch 128: forward, and the transposed backward products.
    {128, 256, 784}, {128, 10, 256}, {784, 256, 128}, {256, 10, 128}, {128, 784, 256},
    {128, 256, 10}};

template <typename T>
void checkAllFlags(const std::string &name, const GemmSpec &spec,
                   std::initializer_list<Shape> shapes) {
  auto fn = unwrap(kernels().jit->lookupAs<GemmFn<T>>(name));
  std::mt19937 rng(42);
  for (Shape s : shapes) {
    for (int32_t flags = 0; flags < 8; ++flags) {
      Problem<T> problem(s, flags, rng);
      std::vector<T> oldC = problem.C;
      problem.run(fn, spec);
      problem.check(oldC, [](double x, int64_t) { return x; });
    }
  }
}

} // namespace

TEST_CASE("sgemm matches a triple loop on every shape and flag", "[kernels]") {
  GemmKernels &k = kernels();
  for (Shape s : kShapes) {
    INFO("M=" << s.M << " N=" << s.N << " K=" << s.K);
    checkAllFlags<float>("nnc_sgemm", k.host32, {s});
  }
}

TEST_CASE("sgemm with 8 lanes and with tiny blocks splits shapes correctly", "[kernels]") {
  GemmKernels &k = kernels();
  std::initializer_list<Shape> shapes = {{1, 1, 1},   {7, 13, 29},  {5, 63, 385}, {13, 65, 387},
                                         {150, 3, 2}, {37, 41, 43}, {128, 10, 256}};
  checkAllFlags<float>("sgemm_8lanes", k.narrow32, shapes);
  checkAllFlags<float>("sgemm_tiny_blocks", k.tiny32, shapes);
}

TEST_CASE("dgemm matches a triple loop", "[kernels]") {
  GemmKernels &k = kernels();
  checkAllFlags<double>("nnc_dgemm", k.host64,
                        {{1, 1, 1}, {7, 13, 29}, {13, 65, 387}, {50, 33, 400}, {128, 10, 256}});
}

TEST_CASE("sgemm with K = 0 writes zeros or leaves C", "[kernels]") {
  GemmKernels &k = kernels();
  auto fn = unwrap(k.jit->lookupAs<GemmFn<float>>("nnc_sgemm"));
  std::vector<float> C = {5, 6, 7, 8}, scratch(16);
  fn(2, 2, 0, nullptr, 1, nullptr, 2, C.data(), 2, GemmAccumulate, scratch.data());
  CHECK(C == std::vector<float>{5, 6, 7, 8});
  fn(2, 2, 0, nullptr, 1, nullptr, 2, C.data(), 2, 0, scratch.data());
  CHECK(C == std::vector<float>{0, 0, 0, 0});
  fn(0, 2, 3, nullptr, 1, nullptr, 2, C.data(), 2, 0, scratch.data()); // M = 0: nothing
  CHECK(C == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("sgemm epilogue fuses bias and ReLU after the last K block", "[kernels]") {
  GemmKernels &k = kernels();
  auto fn = unwrap(k.jit->lookupAs<BiasGemmFn>("sgemm_bias_relu"));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  // K = 29 is six K blocks of the tiny blocking: ReLU after any but the last would show.
  for (Shape s : {Shape{7, 13, 29}, Shape{1, 1, 1}, Shape{13, 65, 12}}) {
    for (int32_t flags : {0, GemmTransposeA | GemmTransposeB, int(GemmAccumulate)}) {
      Problem<float> problem(s, flags, rng);
      std::vector<float> bias(size_t(s.N));
      for (float &x : bias)
        x = dist(rng);
      std::vector<float> oldC = problem.C;
      problem.run(fn, k.bias32, bias.data());
      problem.check(oldC, [&](double x, int64_t j) { return std::max(x + bias[size_t(j)], 0.0); });
    }
  }
}

TEST_CASE("gemm scratch size is bounded by the blocking", "[kernels]") {
  GemmSpec spec = GemmSpec::forHost(512);
  CHECK(spec.nr() == 64);
  CHECK(gemmScratchElements(spec, 1, 1, 1) == 16 + 64);
  CHECK(gemmScratchElements(spec, 128, 256, 784) == 132 * 384 + 384 * 256);
  int64_t bound = gemmScratchElements(spec, spec.mc, spec.nc, spec.kc);
  CHECK(gemmScratchElements(spec, 100000, 100000, 100000) == bound);
  CHECK(GemmSpec::forHost(256).lanes == 8);
  CHECK(GemmSpec::forHost(512, true).lanes == 8);
}

TEST_CASE("sgemm assembly uses zmm FMAs on AVX-512 hosts", "[kernels]") {
  auto jit = makeJit();
  if (!jit->hasFeature("avx512f")) {
    WARN("host lacks avx512f: zmm check skipped");
    return;
  }
  llvm::LLVMContext ctx;
  llvm::Module module("gemm_asm", ctx);
  emitGemm(module, GemmSpec::forHost(jit->vectorBits()));
  requireOk(jit->optimize(module));
  std::string assembly = unwrap(jit->emitAssembly(module));
  CHECK_THAT(assembly, Catch::Contains("nnc_sgemm:"));
  CHECK_THAT(assembly, Catch::Contains("vfmadd231ps") && Catch::Contains("zmm"));
  // A is broadcast, on its own or folded into the FMA.
  CHECK_THAT(assembly, Catch::Contains("vbroadcastss") || Catch::Contains("{1to16}"));
}
