//===- codegen_batchnorm_routines.cpp - Batch normalization's routines against a double reference ===//
//
// JIT-compiles nnc_bn_moments, nnc_bn_norm and nnc_bn_sums (codegen/BatchNormRoutines.h) for f32
// and f64, takes the prebuilt routines of every CPU level this host supports
// (runtime/exec/PrebuiltGemm.h), and checks each against loops in double: shapes [N, C, L] with
// runs shorter than, equal to and longer than a vector, over all channels and over a block of
// channels in the middle (one thread's share), whose neighbours must stay untouched. Sums must
// be within their rounding (relative to the sum of the terms' magnitudes), and every output
// lies inside a guard band of NaN sentinels that must survive.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/BatchNormRoutines.h"
#include "runtime/exec/PrebuiltGemm.h"
#include "tests/unit/CodegenTesting.h"

#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace nnc;
using namespace nnc::testing;

namespace {

template <typename T> using MomentsFn = void(int64_t, int64_t, int64_t, int64_t, int64_t, const T *, T *);
template <typename T>
using NormFn = void(int64_t, int64_t, int64_t, int64_t, int64_t, const T *, const T *, const T *, const T *, double, T *);
template <typename T>
using SumsFn = void(int64_t, int64_t, int64_t, int64_t, int64_t, const T *, const T *, const T *, T *);

template <typename T> struct BatchNormFns {
  MomentsFn<T> *moments = nullptr;
  NormFn<T> *norm = nullptr;
  SumsFn<T> *sums = nullptr;
};

constexpr int64_t kGuard = 19;

/// n elements with kGuard NaN sentinels on each side; data() is the first element.
template <typename T> struct Guarded {
  std::vector<T> all;
  explicit Guarded(size_t n) : all(n + 2 * kGuard, std::numeric_limits<T>::quiet_NaN()) {}
  T *data() { return all.data() + kGuard; }
  bool guardsIntact() const {
    for (int64_t i = 0; i < kGuard; ++i)
      if (!std::isnan(all[size_t(i)]) || !std::isnan(all[all.size() - 1 - size_t(i)]))
        return false;
    return true;
  }
};

/// |got − want| within the rounding of a sum of `terms` terms whose magnitudes add to `magnitude`.
bool close(double got, double want, double magnitude, int64_t terms, double eps) {
  return std::fabs(got - want) <= double(terms + 4) * eps * (magnitude + std::fabs(want)) + 1e-30;
}

template <typename T> void checkRoutines(const BatchNormFns<T> &fns, const std::string &label) {
  const double eps = std::numeric_limits<T>::epsilon();
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> uniform(-1.5, 2.5);
  struct Shape {
    int64_t N, C, L;
  };
  int64_t checked = 0;
  for (Shape s : {Shape{1, 1, 2}, Shape{2, 3, 5}, Shape{4, 2, 8}, Shape{3, 5, 17}, Shape{2, 4, 64}, Shape{5, 3, 100}})
    for (bool block : {false, true}) {
      if (block && s.C < 3)
        continue;
      const int64_t begin = block ? 1 : 0, end = block ? s.C - 1 : s.C, count = s.N * s.L;
      INFO(label << ": N=" << s.N << " C=" << s.C << " L=" << s.L << " channels [" << begin << ", " << end << ")");
      std::vector<T> x(size_t(s.N * s.C * s.L)), dy(x.size()), gamma(size_t(s.C)), beta(size_t(s.C));
      for (T &v : x)
        v = T(uniform(rng));
      for (T &v : dy)
        v = T(uniform(rng));
      for (int64_t c = 0; c < s.C; ++c)
        gamma[size_t(c)] = T(uniform(rng) + 2), beta[size_t(c)] = T(uniform(rng));
      auto at = [&](int64_t i, int64_t c, int64_t l) { return size_t((i * s.C + c) * s.L + l); };

      Guarded<T> moments(size_t(2 * s.C));
      fns.moments(s.N, s.C, s.L, begin, end, x.data(), moments.data());
      Guarded<T> y(x.size());
      // batch_norm reads the moments the routine wrote, with NaN outside the block: it must not
      // read other channels.
      fns.norm(s.N, s.C, s.L, begin, end, x.data(), moments.data(), gamma.data(), beta.data(), 1e-3, y.data());
      Guarded<T> sums(size_t(2 * s.C));
      fns.sums(s.N, s.C, s.L, begin, end, dy.data(), x.data(), moments.data(), sums.data());
      CHECK(moments.guardsIntact());
      CHECK(y.guardsIntact());
      CHECK(sums.guardsIntact());

      int64_t bad = 0;
      std::string first;
      auto expect = [&](bool ok, const std::string &what) {
        ++checked;
        if (!ok && bad++ == 0)
          first = what;
      };
      for (int64_t c = 0; c < s.C; ++c) {
        const bool inside = c >= begin && c < end;
        T *m = moments.data(), *g = sums.data();
        if (!inside) {
          expect(std::isnan(m[c]) && std::isnan(m[s.C + c]) && std::isnan(g[c]) && std::isnan(g[s.C + c]),
                 "channel " + std::to_string(c) + " outside the block was written");
          for (int64_t i = 0; i < s.N; ++i)
            for (int64_t l = 0; l < s.L; ++l)
              expect(std::isnan(y.data()[at(i, c, l)]), "y outside the block was written");
          continue;
        }
        double sum = 0, magnitude = 0;
        for (int64_t i = 0; i < s.N; ++i)
          for (int64_t l = 0; l < s.L; ++l)
            sum += double(x[at(i, c, l)]), magnitude += std::fabs(double(x[at(i, c, l)]));
        const double mean = sum / double(count);
        // The routine's mean, from here on: var, y and the sums are checked on top of it.
        const double gotMean = double(m[c]);
        expect(close(gotMean, mean, magnitude / double(count), count, eps),
               "mean of channel " + std::to_string(c) + " = " + std::to_string(gotMean) + ", want " + std::to_string(mean));
        double sq = 0, sqMagnitude = 0, s1 = 0, s1Magnitude = 0, s2 = 0, s2Magnitude = 0;
        for (int64_t i = 0; i < s.N; ++i)
          for (int64_t l = 0; l < s.L; ++l) {
            double dev = double(x[at(i, c, l)]) - gotMean, d = double(dy[at(i, c, l)]);
            sq += dev * dev, sqMagnitude += dev * dev;
            s1 += d, s1Magnitude += std::fabs(d);
            s2 += d * dev, s2Magnitude += std::fabs(d * dev);
          }
        const double var = sq / double(count), gotVar = double(m[s.C + c]);
        expect(close(gotVar, var, sqMagnitude / double(count), count, eps),
               "variance of channel " + std::to_string(c) + " = " + std::to_string(gotVar) + ", want " + std::to_string(var));
        expect(close(double(g[c]), s1, s1Magnitude, count, eps), "sum of dy, channel " + std::to_string(c));
        expect(close(double(g[s.C + c]), s2, s2Magnitude, count, eps), "sum of dy·(x − mean), channel " + std::to_string(c));
        const double scale = double(gamma[size_t(c)]) / std::sqrt(gotVar + double(T(1e-3)));
        for (int64_t i = 0; i < s.N; ++i)
          for (int64_t l = 0; l < s.L; ++l) {
            double want = (double(x[at(i, c, l)]) - gotMean) * scale + double(beta[size_t(c)]);
            double got = double(y.data()[at(i, c, l)]);
            double size = std::fabs(double(x[at(i, c, l)]) - gotMean) * std::fabs(scale) + std::fabs(double(beta[size_t(c)]));
            expect(std::fabs(got - want) <= 8 * eps * (size + std::fabs(want)),
                   "y at image " + std::to_string(i) + " channel " + std::to_string(c) + " = " + std::to_string(got) +
                       ", want " + std::to_string(want));
          }
      }
      INFO(first);
      CHECK(bad == 0);
    }
  CHECK(checked > 1000);
}

} // namespace

TEST_CASE("JIT-compiled batch-norm routines match a double reference", "[kernels][batchnorm-routines]") {
  std::unique_ptr<Jit> jit = makeJit();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("batchnorm", *ctx);
  for (BatchNormRoutine r : {BatchNormRoutine::Moments, BatchNormRoutine::Norm, BatchNormRoutine::Sums})
    for (bool f64 : {false, true})
      emitBatchNormRoutine(*module, r, f64);
  requireOk(jit->add(std::move(module), std::move(ctx), Jit::Pipeline::Standard));
  BatchNormFns<float> f32{unwrap(jit->lookupAs<MomentsFn<float>>("nnc_bn_moments_f32")),
                          unwrap(jit->lookupAs<NormFn<float>>("nnc_bn_norm_f32")),
                          unwrap(jit->lookupAs<SumsFn<float>>("nnc_bn_sums_f32"))};
  BatchNormFns<double> f64{unwrap(jit->lookupAs<MomentsFn<double>>("nnc_bn_moments_f64")),
                           unwrap(jit->lookupAs<NormFn<double>>("nnc_bn_norm_f64")),
                           unwrap(jit->lookupAs<SumsFn<double>>("nnc_bn_sums_f64"))};
  checkRoutines(f32, "jit f32");
  checkRoutines(f64, "jit f64");
}

TEST_CASE("prebuilt batch-norm routines of every level this CPU supports match a double reference",
          "[kernels][batchnorm-routines][gemm-levels]") {
  std::unique_ptr<Jit> jit = makeJit();
  if (!havePrebuiltGemm()) {
    WARN("no prebuilt routines in this build (not x86-64): the JIT compiles them");
    return;
  }
  int tested = 0;
  for (const GemmLevel &level : gemmLevels()) {
    if (!jitSupportsLevel(*jit, level)) {
      WARN("batch-norm routines of level " << level.name << " skipped: this CPU lacks some of its features");
      continue;
    }
    auto routine = [&](const char *name) {
      void *address = prebuiltRoutine(level, name);
      REQUIRE(address);
      return address;
    };
    BatchNormFns<float> f32{reinterpret_cast<MomentsFn<float> *>(routine("nnc_bn_moments_f32")),
                            reinterpret_cast<NormFn<float> *>(routine("nnc_bn_norm_f32")),
                            reinterpret_cast<SumsFn<float> *>(routine("nnc_bn_sums_f32"))};
    BatchNormFns<double> f64{reinterpret_cast<MomentsFn<double> *>(routine("nnc_bn_moments_f64")),
                             reinterpret_cast<NormFn<double> *>(routine("nnc_bn_norm_f64")),
                             reinterpret_cast<SumsFn<double> *>(routine("nnc_bn_sums_f64"))};
    checkRoutines(f32, "level " + level.name + " f32");
    checkRoutines(f64, "level " + level.name + " f64");
    ++tested;
  }
  CHECK(tested >= 1); // every x86-64 CPU has the baseline
}
