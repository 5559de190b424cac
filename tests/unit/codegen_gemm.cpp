//===- codegen_gemm.cpp - The emitted GEMM against a naive triple loop ----------------------===//
//
// JIT-compiles nnc_sgemm/nnc_dgemm as the host would get them, an 8-lane (AVX2-shaped) sgemm,
// a tiny-blocked sgemm whose blocks split even small shapes (several K, M and N blocks), and a
// bias + ReLU epilogue variant; then compares each against a double-precision triple loop on
// edge shapes, primes, the MLP's forward and backward shapes, every transpose combination,
// with and without accumulation, strided leading dimensions and guarded scratch.
//
// nnc_sgemm_epilogue (GemmSpec::withActivationEpilogue) and a tiny-blocked twin are checked
// for every GemmEpilogueKind the emitter uses (none, bias, each activation with and without
// bias, each derivative) against the same double reference followed by the epilogue in
// double, with a guard band around C; with kind 0 it must equal nnc_sgemm bit for bit, and
// bias, ReLU and ReLU's derivative must be exact on top of nnc_sgemm's result.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "runtime/exec/PrebuiltGemm.h"
#include "tests/unit/CodegenTesting.h"

#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <cstdint>
#include <cstring>
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
/// nnc_sgemm_epilogue: (..., scratch, const float *bias, const float *aux, i32 kind).
using EpilogueGemmFn = void(int64_t, int64_t, int64_t, const float *, int64_t, const float *,
                            int64_t, float *, int64_t, int32_t, float *, const float *,
                            const float *, int32_t);

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
  GemmSpec epilogue32 = GemmSpec::withActivationEpilogue(jit->vectorBits());
  GemmSpec logits32 = GemmSpec::narrow(jit->vectorBits());
  GemmSpec narrow32, tiny32, bias32, tinyEpilogue32;

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
    // The activation epilogue with the tiny blocking: many tiles and K blocks per small shape.
    tinyEpilogue32 = tiny32;
    tinyEpilogue32.name = "sgemm_epilogue_tiny_blocks";
    tinyEpilogue32.activationEpilogue = true;
    for (const GemmSpec *spec : {&host32, &host64, &epilogue32, &logits32, &narrow32, &tiny32, &bias32,
                                 &tinyEpilogue32})
      emitGemm(*module, *spec);
    requireOk(jit->add(std::move(module), std::move(ctx), Jit::Pipeline::Standard));
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
void checkAllFlags(GemmFn<T> *fn, const GemmSpec &spec, std::initializer_list<Shape> shapes) {
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

template <typename T>
void checkAllFlags(const std::string &name, const GemmSpec &spec, std::initializer_list<Shape> shapes) {
  checkAllFlags<T>(unwrap(kernels().jit->lookupAs<GemmFn<T>>(name)), spec, shapes);
}

// ---- nnc_sgemm_epilogue ---------------------------------------------------------------------

struct EpilogueKindCase {
  int32_t kind;
  const char *name;
};

/// Every kind the emitter fuses: none, bias, each activation alone and after a bias, each
/// derivative alone.
const EpilogueKindCase kEpilogueKinds[] = {
    {0, "none"},
    {GemmEpilogueBias, "bias"},
    {GemmEpilogueRelu, "relu"},
    {GemmEpilogueBias | GemmEpilogueRelu, "bias+relu"},
    {GemmEpilogueSigmoid, "sigmoid"},
    {GemmEpilogueBias | GemmEpilogueSigmoid, "bias+sigmoid"},
    {GemmEpilogueTanh, "tanh"},
    {GemmEpilogueBias | GemmEpilogueTanh, "bias+tanh"},
    {GemmEpilogueRowBias, "row-bias"},
    {GemmEpilogueRowBias | GemmEpilogueRelu, "row-bias+relu"},
    {GemmEpilogueRowBias | GemmEpilogueSigmoid, "row-bias+sigmoid"},
    {GemmEpilogueRowBias | GemmEpilogueTanh, "row-bias+tanh"},
    {GemmEpilogueReluGrad, "relu-grad"},
    {GemmEpilogueSigmoidGrad, "sigmoid-grad"},
    {GemmEpilogueTanhGrad, "tanh-grad"},
};

bool kindHasBias(int32_t kind) { return kind & GemmEpilogueBias; }
bool kindHasRowBias(int32_t kind) { return kind & GemmEpilogueRowBias; }
int kindActivation(int32_t kind) { return (kind >> 4) & 15; }
int kindGrad(int32_t kind) { return (kind >> 8) & 15; }

constexpr float kCSentinel = -555.0f;

/// A copy of a problem's C inside a guard band: kGuard sentinels before row 0 and after the
/// last row, and sentinels in the ldc − N padding columns of every row.
struct GuardedC {
  static constexpr int64_t kGuard = 37; // odd: C is not vector-aligned either
  int64_t M, N, ldc;
  std::vector<float> buffer;

  explicit GuardedC(const Problem<float> &p)
      : M(p.s.M), N(p.s.N), ldc(p.ldc), buffer(size_t(2 * kGuard + M * ldc), kCSentinel) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        at(i, j) = p.C[size_t(i * ldc + j)];
  }
  float *data() { return buffer.data() + kGuard; }
  float &at(int64_t i, int64_t j) { return buffer[size_t(kGuard + i * ldc + j)]; }
  float at(int64_t i, int64_t j) const { return buffer[size_t(kGuard + i * ldc + j)]; }

  /// The offset from C[0][0] of the first element outside the M×N region that lost its
  /// sentinel, or INT64_MIN when none did.
  int64_t firstClobbered() const {
    for (int64_t g = 0; g < int64_t(buffer.size()); ++g) {
      int64_t offset = g - kGuard;
      bool inside = offset >= 0 && offset < M * ldc && offset % ldc < N;
      if (!inside && !(buffer[size_t(g)] == kCSentinel))
        return offset;
    }
    return INT64_MIN;
  }
};

/// Runs the epilogue routine on `p` into `C` with guarded scratch.
void runEpilogue(EpilogueGemmFn *fn, const GemmSpec &spec, const Problem<float> &p, float *C,
                 const float *bias, const float *aux, int32_t kind) {
  const size_t guard = 64;
  size_t need = size_t(gemmScratchElements(spec, p.s.M, p.s.N, p.s.K));
  std::vector<float> scratch(need + guard, 12345.0f);
  fn(p.s.M, p.s.N, p.s.K, p.A.data(), p.lda, p.B.data(), p.ldb, C, p.ldc, p.flags,
     scratch.data(), bias, aux, kind);
  size_t clobbered = 0;
  for (size_t g = need; g < need + guard; ++g)
    clobbered += scratch[g] != 12345.0f;
  CHECK(clobbered == 0); // the routine stayed within its scratch
}

/// Runs nnc_sgemm on `p` into `C`.
void runPlain(const Problem<float> &p, float *C) {
  auto fn = unwrap(kernels().jit->lookupAs<GemmFn<float>>("nnc_sgemm"));
  std::vector<float> scratch(size_t(gemmScratchElements(kernels().host32, p.s.M, p.s.N, p.s.K)));
  fn(p.s.M, p.s.N, p.s.K, p.A.data(), p.lda, p.B.data(), p.ldb, C, p.ldc, p.flags,
     scratch.data());
}

/// op(A)·op(B) (+ old C with GemmAccumulate) in double, and the sum of the magnitudes of its
/// terms (which bounds float's rounding error).
struct GemmReference {
  std::vector<double> sum, magnitude; // M×N row-major

  explicit GemmReference(const Problem<float> &p) {
    const Shape s = p.s;
    sum.assign(size_t(s.M * s.N), 0.0);
    magnitude.assign(size_t(s.M * s.N), 0.0);
    for (int64_t i = 0; i < s.M; ++i)
      for (int64_t j = 0; j < s.N; ++j) {
        double acc = p.flags & GemmAccumulate ? double(p.C[size_t(i * p.ldc + j)]) : 0.0;
        double mag = std::fabs(acc);
        for (int64_t k = 0; k < s.K; ++k) {
          double term = p.opA[size_t(i * s.K + k)] * p.opB[size_t(k * s.N + j)];
          acc += term;
          mag += std::fabs(term);
        }
        sum[size_t(i * s.N + j)] = acc;
        magnitude[size_t(i * s.N + j)] = mag;
      }
  }
};

struct Expected {
  double value, tolerance;
};

/// The epilogue `kind` applied in double to x = op(A)·op(B) (+ C), and a bound on the error
/// of the float routine: the GEMM's K roundings (relative to the terms' magnitude), carried
/// through each step (bias: one rounding; ReLU: 1-Lipschitz; sigmoid: slope ≤ 1/4 plus 3 ulps;
/// tanh: slope ≤ 1 plus 2 ulps; the derivative: its rounding from aux, and the product's).
Expected expectEpilogue(int32_t kind, double sum, double magnitude, int64_t K, double bias,
                        double aux) {
  const double eps = std::numeric_limits<float>::epsilon();
  double x = sum, err = double(std::max<int64_t>(K, 0) + 2) * eps * magnitude;
  if (kindHasBias(kind) || kindHasRowBias(kind)) {
    x += bias;
    err += eps * std::fabs(x);
  }
  switch (kindActivation(kind)) {
  case 1:
    x = std::max(x, 0.0);
    break;
  case 2:
    x = 1.0 / (1.0 + std::exp(-x));
    err = err / 4 + 3 * eps * x;
    break;
  case 3:
    x = std::tanh(x);
    err += 2 * eps * std::fabs(x);
    break;
  }
  if (int grad = kindGrad(kind)) {
    double d = 0, dErr = 0;
    if (grad == 1) {
      d = aux > 0 ? 1.0 : 0.0;
    } else if (grad == 2) {
      d = aux * (1 - aux);
      dErr = 2 * eps * std::fabs(d);
    } else {
      d = 1 - aux * aux;
      dErr = eps * (aux * aux + std::fabs(d));
    }
    double y = x * d;
    err = err * std::fabs(d) + std::fabs(x) * dErr + eps * std::fabs(y);
    x = y;
  }
  return {x, err + 1e-30};
}

/// aux in C's layout (ldc), NaN in the padding columns: for ReLU's derivative a third each
/// of exact zeros, negatives and positives; for sigmoid's values in (0, 1); for tanh's (-1, 1).
std::vector<float> makeAux(const Problem<float> &p, int grad, std::mt19937 &rng) {
  std::uniform_real_distribution<float> unit(0, 1), signedUnit(-1, 1);
  std::vector<float> aux(size_t(p.s.M * p.ldc), std::numeric_limits<float>::quiet_NaN());
  for (int64_t i = 0; i < p.s.M; ++i)
    for (int64_t j = 0; j < p.s.N; ++j) {
      float &a = aux[size_t(i * p.ldc + j)];
      if (grad == 1) {
        int pick = int(rng() % 3);
        a = pick == 0 ? 0.0f : pick == 1 ? -unit(rng) - 0.01f : unit(rng) + 0.01f;
      } else if (grad == 2) {
        a = std::min(std::max(unit(rng), 1e-3f), 0.999f);
      } else {
        a = signedUnit(rng);
      }
    }
  return aux;
}

/// Runs every epilogue kind of `fn` on `shapes` × all flags and compares with the reference.
void checkEpilogueKinds(const std::string &name, EpilogueGemmFn *fn, const GemmSpec &spec,
                        std::initializer_list<Shape> shapes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (Shape s : shapes) {
    for (int32_t flags = 0; flags < 8; ++flags) {
      Problem<float> p(s, flags, rng);
      GemmReference ref(p);
      std::vector<float> bias(size_t(s.N)); // exactly N: no slack to over-read into
      for (float &x : bias)
        x = dist(rng);
      std::vector<float> rowBias(size_t(s.M)); // a convolution's: one per row, exactly M
      for (float &x : rowBias)
        x = dist(rng);
      std::vector<float> aux[4];
      for (int grad = 1; grad <= 3; ++grad)
        aux[grad] = makeAux(p, grad, rng);
      for (const EpilogueKindCase &kc : kEpilogueKinds) {
        const int32_t kind = kc.kind;
        const int grad = kindGrad(kind);
        INFO(name << " kind=" << kc.name << " (" << kind << ") M=" << s.M << " N=" << s.N
                  << " K=" << s.K << " flags=" << flags);
        GuardedC C(p);
        // Pointers the kind does not use are null: the routine must not touch them.
        runEpilogue(fn, spec, p, C.data(),
                    kindHasBias(kind)      ? bias.data()
                    : kindHasRowBias(kind) ? rowBias.data()
                                           : nullptr,
                    grad ? aux[grad].data() : nullptr, kind);
        bool ok = true;
        for (int64_t i = 0; i < s.M && ok; ++i)
          for (int64_t j = 0; j < s.N && ok; ++j) {
            double auxValue = grad ? double(aux[grad][size_t(i * p.ldc + j)]) : 0.0;
            double biasValue = kindHasRowBias(kind) ? double(rowBias[size_t(i)]) : double(bias[size_t(j)]);
            Expected want = expectEpilogue(kind, ref.sum[size_t(i * s.N + j)],
                                           ref.magnitude[size_t(i * s.N + j)], s.K, biasValue, auxValue);
            double got = double(C.at(i, j));
            if (!(std::fabs(got - want.value) <= want.tolerance)) {
              FAIL_CHECK(std::setprecision(9) << "C[" << i << "][" << j << "] = " << got
                                              << ", want " << want.value << " ± "
                                              << want.tolerance << " (aux " << auxValue
                                              << ", bias " << bias[size_t(j)] << ")");
              ok = false;
            }
          }
        int64_t clobbered = C.firstClobbered();
        INFO("first element outside M×N that changed: offset " << clobbered << " from C[0][0]"
                                                             << " (ldc=" << p.ldc << ")");
        CHECK(clobbered == INT64_MIN);
      }
    }
  }
}

void checkEpilogueKinds(const std::string &name, const GemmSpec &spec, std::initializer_list<Shape> shapes,
                        uint32_t seed) {
  checkEpilogueKinds(name, unwrap(kernels().jit->lookupAs<EpilogueGemmFn>(name)), spec, shapes, seed);
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

TEST_CASE("the microkernel's registers fit each level's register file", "[kernels]") {
  // MR·nrVectors accumulators, nrVectors vectors of B and one broadcast of A live across the
  // k loop: 32 vector registers with AVX-512, 16 with AVX2 and SSE. A tile that does not fit
  // spills on every k step (AVX2 with 6×32 tiles ran at half the rate of 6×16).
  for (auto [bits, registers] : {std::pair{512u, 32u}, {256u, 16u}, {128u, 16u}}) {
    CAPTURE(bits);
    for (const GemmSpec &spec : {GemmSpec::forHost(bits), GemmSpec::forHost(bits, true),
                                 GemmSpec::withActivationEpilogue(bits), GemmSpec::narrow(bits)})
      CHECK(spec.mr * spec.nrVectors + spec.nrVectors + 1 <= registers);
  }
  CHECK(GemmSpec::forHost(256).nr() == 16);
  CHECK(GemmSpec::forHost(128).nr() == 8);
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

TEST_CASE("sgemm_epilogue matches a double reference for every kind and flag", "[kernels]") {
  GemmKernels &k = kernels();
  // Partial tiles in M (MR = 6) and N (N not a multiple of 16 or 64), several M blocks
  // (M > MC = 144), two and three K blocks (K > KC = 384), two N panels (N > NC = 4096).
  checkEpilogueKinds("nnc_sgemm_epilogue", k.epilogue32,
                     {{1, 1, 1}, {5, 7, 13}, {13, 65, 100}, {7, 100, 385}, {65, 13, 400},
                      {64, 400, 5}, {100, 64, 7}, {385, 13, 5}, {1, 65, 769}, {2, 4100, 3}},
                     1234);
  // Tiny blocks (KC = 5, MC = 6, NC = 16): every shape spans many tiles, panels and K blocks,
  // so an epilogue run before the last K block or with a panel-relative column would show.
  checkEpilogueKinds("sgemm_epilogue_tiny_blocks", k.tinyEpilogue32,
                     {{1, 1, 1}, {5, 7, 13}, {13, 65, 29}, {7, 17, 6}}, 99);
}

TEST_CASE("sgemm_narrow (12 x one vector tiles) matches a double reference for every kind and flag", "[kernels]") {
  // The routine for products with at most one vector of columns (logits): partial tiles in M
  // (MR = 12) and N, several M blocks and K blocks; N beyond one vector still works.
  checkEpilogueKinds("nnc_sgemm_narrow", kernels().logits32,
                     {{1, 1, 1}, {5, 3, 13}, {13, 10, 100}, {256, 10, 512}, {145, 16, 385}, {12, 7, 769},
                      {30, 17, 5}, {2, 40, 3}},
                     4321);
}

TEST_CASE("sgemm_epilogue with kind 0 equals nnc_sgemm bitwise", "[kernels]") {
  GemmKernels &k = kernels();
  auto fn = unwrap(k.jit->lookupAs<EpilogueGemmFn>("nnc_sgemm_epilogue"));
  std::mt19937 rng(5);
  for (Shape s : kShapes) {
    for (int32_t flags = 0; flags < 8; ++flags) {
      INFO("M=" << s.M << " N=" << s.N << " K=" << s.K << " flags=" << flags);
      Problem<float> p(s, flags, rng);
      GuardedC plain(p), none(p), ignored(p);
      runPlain(p, plain.data());
      runEpilogue(fn, k.epilogue32, p, none.data(), nullptr, nullptr, 0);
      // kind = 0 ignores bias and aux even when they are given (NaN would show).
      std::vector<float> bias(size_t(s.N), std::numeric_limits<float>::quiet_NaN());
      std::vector<float> aux(size_t(s.M * p.ldc), std::numeric_limits<float>::quiet_NaN());
      runEpilogue(fn, k.epilogue32, p, ignored.data(), bias.data(), aux.data(), 0);
      CHECK(plain.firstClobbered() == INT64_MIN);
      size_t bytes = plain.buffer.size() * sizeof(float);
      CHECK(std::memcmp(plain.buffer.data(), none.buffer.data(), bytes) == 0);
      CHECK(std::memcmp(plain.buffer.data(), ignored.buffer.data(), bytes) == 0);
    }
  }
}

TEST_CASE("sgemm_epilogue bias (per column and per row) and ReLU are exact on top of nnc_sgemm", "[kernels]") {
  GemmKernels &k = kernels();
  auto fn = unwrap(k.jit->lookupAs<EpilogueGemmFn>("nnc_sgemm_epilogue"));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (Shape s : {Shape{5, 7, 13}, Shape{13, 65, 400}, Shape{64, 100, 385}}) {
    for (int32_t flags = 0; flags < 8; ++flags) {
      Problem<float> p(s, flags, rng);
      GuardedC plain(p);
      runPlain(p, plain.data());
      std::vector<float> bias(size_t(s.N)), rowBias(size_t(s.M));
      for (float &x : bias)
        x = dist(rng);
      for (float &x : rowBias)
        x = dist(rng);
      for (int32_t kind : {int32_t(GemmEpilogueBias), int32_t(GemmEpilogueRelu),
                           int32_t(GemmEpilogueBias | GemmEpilogueRelu), int32_t(GemmEpilogueRowBias),
                           int32_t(GemmEpilogueRowBias | GemmEpilogueRelu)}) {
        INFO("kind=" << kind << " M=" << s.M << " N=" << s.N << " K=" << s.K
                     << " flags=" << flags);
        GuardedC C(p);
        runEpilogue(fn, k.epilogue32, p, C.data(), kindHasRowBias(kind) ? rowBias.data() : bias.data(), nullptr, kind);
        int64_t mismatches = 0, clipped = 0;
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j) {
            float x = plain.at(i, j);
            if (kindHasBias(kind))
              x = x + bias[size_t(j)]; // one float rounding, as the routine does
            if (kindHasRowBias(kind))
              x = x + rowBias[size_t(i)];
            if (kindActivation(kind) == 1) {
              clipped += x < 0;
              x = x > 0 ? x : 0.0f;
            }
            if (!(C.at(i, j) == x) && mismatches++ == 0)
              FAIL_CHECK(std::setprecision(9) << "C[" << i << "][" << j << "] = " << C.at(i, j)
                                              << ", want exactly " << x);
          }
        CHECK(mismatches == 0);
        CHECK(C.firstClobbered() == INT64_MIN);
        if (kindActivation(kind) == 1 && s.M * s.N >= 35)
          CHECK(clipped > 0); // the inputs do reach ReLU's clipped side
      }
    }
  }
}

TEST_CASE("sgemm_epilogue ReLU-grad gives exact zeros where aux is not positive", "[kernels]") {
  GemmKernels &k = kernels();
  auto fn = unwrap(k.jit->lookupAs<EpilogueGemmFn>("nnc_sgemm_epilogue"));
  std::mt19937 rng(3);
  for (Shape s : {Shape{1, 1, 1}, Shape{5, 7, 13}, Shape{13, 65, 400}, Shape{64, 100, 385}}) {
    for (int32_t flags = 0; flags < 8; ++flags) {
      INFO("M=" << s.M << " N=" << s.N << " K=" << s.K << " flags=" << flags);
      Problem<float> p(s, flags, rng);
      GuardedC plain(p), C(p);
      runPlain(p, plain.data());
      // Exact zeros on one diagonal pattern, negatives on another, positives elsewhere; the
      // single element of 1×1×1 is a zero.
      std::vector<float> aux(size_t(s.M * p.ldc), std::numeric_limits<float>::quiet_NaN());
      for (int64_t i = 0; i < s.M; ++i)
        for (int64_t j = 0; j < s.N; ++j)
          aux[size_t(i * p.ldc + j)] = (i + j) % 3 == 0 ? 0.0f : (i + j) % 3 == 1 ? -0.5f : 2.0f;
      runEpilogue(fn, k.epilogue32, p, C.data(), nullptr, aux.data(), GemmEpilogueReluGrad);
      int64_t wrongZeros = 0, wrongKept = 0, nonzeroInputs = 0;
      for (int64_t i = 0; i < s.M; ++i)
        for (int64_t j = 0; j < s.N; ++j) {
          float a = aux[size_t(i * p.ldc + j)], got = C.at(i, j), x = plain.at(i, j);
          if (a > 0) {
            if (!(got == x) && wrongKept++ == 0)
              FAIL_CHECK(std::setprecision(9) << "C[" << i << "][" << j << "] = " << got
                                              << " where aux > 0, want exactly " << x);
          } else {
            nonzeroInputs += x != 0;
            if (!(got == 0.0f) && wrongZeros++ == 0)
              FAIL_CHECK(std::setprecision(9) << "C[" << i << "][" << j << "] = " << got
                                              << " where aux = " << a << ", want exactly 0");
          }
        }
      CHECK(wrongKept == 0);
      CHECK(wrongZeros == 0);
      CHECK(nonzeroInputs > 0); // the zeros come from the derivative, not from the product
      CHECK(C.firstClobbered() == INT64_MIN);
    }
  }
}

TEST_CASE("sgemm_epilogue with K = 0 still applies the epilogue", "[kernels]") {
  GemmKernels &k = kernels();
  auto fn = unwrap(k.jit->lookupAs<EpilogueGemmFn>("nnc_sgemm_epilogue"));
  const int64_t M = 3, N = 20, ldc = 23; // N: one full vector and a partial one
  std::vector<float> bias(static_cast<size_t>(N)), aux(static_cast<size_t>(M * ldc), 1.0f);
  std::vector<float> scratch(256);
  for (int64_t j = 0; j < N; ++j)
    bias[size_t(j)] = float(j - 10) / 4;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      aux[size_t(i * ldc + j)] = (i + j) % 2 ? 0.0f : 0.25f;
  auto oldC = [](int64_t i, int64_t j) { return float(i + 1) - float(j) / 8; };
  for (int32_t flags : {0, int32_t(GemmAccumulate)}) {
    for (int32_t kind : {int32_t(GemmEpilogueBias | GemmEpilogueSigmoid),
                         int32_t(GemmEpilogueSigmoidGrad), int32_t(GemmEpilogueReluGrad)}) {
      INFO("kind=" << kind << " flags=" << flags);
      std::vector<float> C(size_t(M * ldc), kCSentinel);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
          C[size_t(i * ldc + j)] = oldC(i, j);
      fn(M, N, 0, nullptr, 1, nullptr, N, C.data(), ldc, flags, scratch.data(), bias.data(),
         aux.data(), kind);
      const double eps = std::numeric_limits<float>::epsilon();
      int64_t bad = 0;
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          double x = flags & GemmAccumulate ? double(oldC(i, j)) : 0.0;
          double a = aux[size_t(i * ldc + j)];
          double want = kind == (GemmEpilogueBias | GemmEpilogueSigmoid)
                            ? 1 / (1 + std::exp(-(x + bias[size_t(j)])))
                        : kind == GemmEpilogueSigmoidGrad ? x * a * (1 - a)
                                                          : (a > 0 ? x : 0.0);
          double got = C[size_t(i * ldc + j)];
          if (!(std::fabs(got - want) <= 4 * eps * std::fabs(want) + 1e-30) && bad++ == 0)
            FAIL_CHECK(std::setprecision(9) << "C[" << i << "][" << j << "] = " << got
                                            << ", want " << want);
        }
        for (int64_t j = N; j < ldc; ++j)
          CHECK(C[size_t(i * ldc + j)] == kCSentinel);
      }
      CHECK(bad == 0);
    }
  }
}

// ---- The routines prebuilt when nnc was built (runtime/exec/PrebuiltGemm.h) -----------------

TEST_CASE("prebuilt GEMM routines of every level this CPU supports match a triple loop", "[kernels][gemm-levels]") {
  std::unique_ptr<Jit> jit = makeJit();
  if (!havePrebuiltGemm()) {
    WARN("no prebuilt GEMM routines in this build (not x86-64): the JIT compiles them");
    return;
  }
  int tested = 0;
  for (const GemmLevel &level : gemmLevels()) {
    if (!jitSupportsLevel(*jit, level)) {
      std::string missing;
      for (const std::string &f : level.features)
        if (!jit->hasFeature(f))
          missing += " " + f;
      WARN("GEMM level " << level.name << " skipped: this CPU lacks" << missing);
      continue;
    }
    INFO("GEMM level " << level.name);
    auto routine = [&](const char *name) {
      void *address = prebuiltRoutine(level, name);
      REQUIRE(address);
      return address;
    };
    checkAllFlags<float>(reinterpret_cast<GemmFn<float> *>(routine("nnc_sgemm")), GemmSpec::forHost(level.vectorBits),
                         {{1, 1, 1}, {7, 13, 29}, {13, 65, 387}, {145, 129, 17}, {31, 200, 769}, {2, 4100, 3},
                          {128, 256, 784}, {784, 256, 128}});
    checkAllFlags<double>(reinterpret_cast<GemmFn<double> *>(routine("nnc_dgemm")),
                          GemmSpec::forHost(level.vectorBits, true), {{1, 1, 1}, {13, 65, 387}, {50, 33, 400}});
    checkEpilogueKinds(level.prefix() + "sgemm_epilogue",
                       reinterpret_cast<EpilogueGemmFn *>(routine("nnc_sgemm_epilogue")),
                       GemmSpec::withActivationEpilogue(level.vectorBits), {{1, 1, 1}, {13, 65, 387}, {64, 100, 30}}, 11);
    GemmSpec narrow = GemmSpec::narrow(level.vectorBits);
    int64_t n = int64_t(narrow.nr());
    checkEpilogueKinds(level.prefix() + "sgemm_narrow", reinterpret_cast<EpilogueGemmFn *>(routine("nnc_sgemm_narrow")),
                       narrow, {{1, 1, 1}, {128, n, 256}, {29, n - 1, 7}}, 12);
    ++tested;
  }
  CHECK(tested >= 1); // every x86-64 CPU has the baseline
}

TEST_CASE("the prebuilt sgemm of the host's vector width equals the JIT-compiled one bit for bit", "[kernels][gemm-levels]") {
  GemmKernels &k = kernels();
  const GemmLevel *same = nullptr;
  for (const GemmLevel &level : gemmLevels())
    if (havePrebuiltGemm() && level.vectorBits == k.jit->vectorBits() && jitSupportsLevel(*k.jit, level))
      same = &level;
  if (!same) {
    WARN("no prebuilt GEMM level with the host's " << k.jit->vectorBits() << "-bit vectors in this build");
    return;
  }
  auto jitted = unwrap(k.jit->lookupAs<GemmFn<float>>("nnc_sgemm"));
  auto prebuilt = reinterpret_cast<GemmFn<float> *>(prebuiltRoutine(*same, "nnc_sgemm"));
  std::mt19937 rng(5);
  for (Shape s : {Shape{13, 65, 387}, Shape{128, 256, 784}, Shape{784, 256, 128}})
    for (int32_t flags : {0, 1, 2, 5}) {
      Problem<float> p(s, flags, rng), q = p;
      p.run(jitted, k.host32);
      q.run(prebuilt, k.host32);
      INFO("M=" << s.M << " N=" << s.N << " K=" << s.K << " flags=" << flags << " level " << same->name);
      CHECK(std::memcmp(p.C.data(), q.C.data(), p.C.size() * sizeof(float)) == 0);
    }
}
