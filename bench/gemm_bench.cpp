//===- gemm_bench.cpp - GFLOP/s of nnc's sgemm, prebuilt per CPU feature level or JIT-compiled ===//
//
// A standalone program, not part of ctest: times the sgemm a train step would call (nnc_sgemm,
// or nnc_sgemm_narrow when N is at most one vector) on square sizes 128..1024 and on the MLP
// 784-256-10 shapes at batch 128 (forward and the transposed backward products), or on the
// cases of a file (bench/gemm_cases.txt: one `label M N K flags` per line, # comments). Each
// sample runs the call enough times to last ≥ 20 ms; the median of the samples is reported,
// with the best, as GFLOP/s = 2·M·N·K / time. With --json, one JSON object per case instead of
// the table (bench/run.sh reads them).
//
//   gemm_bench [samples=15] [CASES-FILE] [--json] [--level LEVEL] [--kc N] [--mc N] [--nc N]
//              [--cpu-time]
//
// LEVEL: the prebuilt routines of one feature level (avx512, avx2, baseline; the default is
// the one the runtime selects, NNC_GEMM_ISA included), "jit" for routines JIT-compiled for
// this CPU here, or "all" for every level this CPU supports and then "jit" (levels it lacks
// are skipped with a message). --kc, --mc and --nc change the blocking of the JIT-compiled
// routines (to measure other blockings; the prebuilt ones keep theirs). --cpu-time times the
// samples by the thread's CPU clock instead of the wall clock (on a machine shared with other
// work; blas_bench.py has the same option).
//
// Built with nnc (target gemm_bench); see bench/README.md.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "codegen/GemmLevels.h"
#include "codegen/Jit.h"
#include "runtime/exec/PrebuiltGemm.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <random>
#include <vector>

namespace {

using Sgemm = void(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t,
                   float *, int64_t, int32_t, float *);
using NarrowSgemm = void(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t, float *,
                         int64_t, int32_t, float *, const float *, const float *, int32_t);

struct Case {
  std::string label;
  int64_t M, N, K;
  int32_t flags;
};

/// With --cpu-time, samples are timed by the thread's CPU clock, which a loaded machine's other
/// processes do not advance (they still share the caches).
bool useCpuClock = false;

double seconds() {
  if (useCpuClock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  }
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

} // namespace

int main(int argc, char **argv) {
  int samples = 15;
  std::string casesFile, levelName;
  bool json = false;
  int64_t kc = 0, mc = 0, nc = 0;
  for (int i = 1, positional = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      json = true;
    else if (a == "--cpu-time")
      useCpuClock = true;
    else if ((a == "--kc" || a == "--mc" || a == "--nc") && i + 1 < argc)
      (a == "--kc" ? kc : a == "--mc" ? mc : nc) = std::atoll(argv[++i]);
    else if (a == "--level" && i + 1 < argc)
      levelName = argv[++i];
    else if (positional++ == 0)
      samples = std::max(1, std::atoi(a.c_str()));
    else
      casesFile = a;
  }
  auto jit = nnc::Jit::create();
  if (!jit) {
    llvm::errs() << "gemm_bench: " << llvm::toString(jit.takeError()) << "\n";
    return 1;
  }
  // The routines to time: each a name, its blocking and the two entry points.
  struct Routines {
    std::string name;
    nnc::GemmSpec spec, narrow;
    Sgemm *sgemm;
    NarrowSgemm *narrowSgemm;
    double compileMs;
  };
  std::vector<Routines> runs;
  std::vector<std::string> wanted;
  if (levelName == "all") {
    for (const nnc::GemmLevel &level : nnc::gemmLevels())
      if (nnc::havePrebuiltGemm() && nnc::jitSupportsLevel(**jit, level))
        wanted.push_back(level.name);
      else
        std::fprintf(stderr, "gemm_bench: level %s skipped: %s\n", level.name.c_str(),
                     nnc::havePrebuiltGemm() ? "this CPU lacks its features" : "no prebuilt routines in this build");
    wanted.push_back("jit");
  } else if (levelName.empty()) {
    auto selected = nnc::selectGemmLevel(**jit);
    if (!selected) {
      std::fprintf(stderr, "gemm_bench: %s\n", selected.message().c_str());
      return 2;
    }
    wanted.push_back(*selected ? (*selected)->name : "jit");
  } else {
    wanted.push_back(levelName);
  }
  for (const std::string &name : wanted) {
    if (name == "jit") {
      nnc::GemmSpec spec = nnc::GemmSpec::forHost((*jit)->vectorBits());
      nnc::GemmSpec narrow = nnc::GemmSpec::narrow((*jit)->vectorBits());
      for (nnc::GemmSpec *g : {&spec, &narrow}) {
        if (kc > 0)
          g->kc = kc;
        if (mc > 0)
          g->mc = (mc + g->mr - 1) / g->mr * g->mr;
        if (nc > 0)
          g->nc = (nc + int64_t(g->nr()) - 1) / int64_t(g->nr()) * int64_t(g->nr());
      }
      auto ctx = std::make_unique<llvm::LLVMContext>();
      auto module = std::make_unique<llvm::Module>("bench", *ctx);
      nnc::emitGemm(*module, spec);
      nnc::emitGemm(*module, narrow);
      double t0 = seconds();
      if (auto error = (*jit)->add(std::move(module), std::move(ctx), nnc::Jit::Pipeline::Standard)) {
        llvm::errs() << "gemm_bench: " << llvm::toString(std::move(error)) << "\n";
        return 1;
      }
      auto fn = (*jit)->lookupAs<Sgemm>(spec.name);
      auto narrowFn = (*jit)->lookupAs<NarrowSgemm>(narrow.name);
      if (!fn || !narrowFn) {
        llvm::errs() << "gemm_bench: " << llvm::toString(fn ? narrowFn.takeError() : fn.takeError()) << "\n";
        return 1;
      }
      runs.push_back({"jit", spec, narrow, *fn, *narrowFn, (seconds() - t0) * 1e3});
      continue;
    }
    auto level = nnc::selectGemmLevel(**jit, name);
    if (!level || !*level) {
      std::fprintf(stderr, "gemm_bench: %s\n", level ? "no prebuilt routines in this build" : level.message().c_str());
      return 2;
    }
    runs.push_back({name, nnc::GemmSpec::forHost((*level)->vectorBits), nnc::GemmSpec::narrow((*level)->vectorBits),
                    reinterpret_cast<Sgemm *>(nnc::prebuiltRoutine(**level, "nnc_sgemm")),
                    reinterpret_cast<NarrowSgemm *>(nnc::prebuiltRoutine(**level, "nnc_sgemm_narrow")), 0.0});
  }

  std::vector<Case> cases;
  if (!casesFile.empty()) {
    std::ifstream in(casesFile);
    if (!in) {
      std::fprintf(stderr, "gemm_bench: cannot read %s\n", casesFile.c_str());
      return 1;
    }
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#')
        continue;
      std::istringstream fields(line);
      Case c;
      if (!(fields >> c.label >> c.M >> c.N >> c.K >> c.flags)) {
        std::fprintf(stderr, "gemm_bench: bad case line: %s\n", line.c_str());
        return 1;
      }
      cases.push_back(c);
    }
  }
  if (cases.empty()) { // the defaults: square sizes and the 784-256-10 MLP at batch 128
    for (int64_t n : {128, 256, 384, 512, 768, 1024})
      cases.push_back({"square", n, n, n, 0});
    cases.push_back({"mlp fwd  X·W1", 128, 256, 784, 0});
    cases.push_back({"mlp fwd  H·W2", 128, 10, 256, 0});
    cases.push_back({"mlp bwd  Xᵀ·dH (dW1)", 784, 256, 128, nnc::GemmTransposeA});
    cases.push_back({"mlp bwd  dH·W1ᵀ (dX)", 128, 784, 256, nnc::GemmTransposeB});
    cases.push_back({"mlp bwd  Hᵀ·dY (dW2)", 256, 10, 128, nnc::GemmTransposeA});
    cases.push_back({"mlp bwd  dY·W2ᵀ (dH)", 128, 256, 10, nnc::GemmTransposeB});
  }

  for (const Routines &run : runs) {
  const nnc::GemmSpec &spec = run.spec, &narrow = run.narrow;
  Sgemm *fn = run.sgemm;
  NarrowSgemm *narrowFn = run.narrowSgemm;
  std::printf(json ? "{\"level\": \"%s\", \"cpu\": \"%s\", \"lanes\": %u, \"mr\": %u, \"nr\": %u, \"kc\": %lld, "
                     "\"mc\": %lld, \"nc\": %lld, \"compile_ms\": %.1f}\n"
                   : "level %s on cpu %s, %u-lane vectors, tile %ux%u, KC %lld MC %lld NC %lld; compiled in %.0f ms\n",
              run.name.c_str(), (*jit)->cpu().str().c_str(), spec.lanes, spec.mr, spec.nr(), (long long)spec.kc,
              (long long)spec.mc, (long long)spec.nc, run.compileMs);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  if (!json)
    std::printf("%-24s %5s %5s %5s %5s %10s %10s\n", "case", "M", "N", "K", "flags", "median", "best");
  for (const Case &c : cases) {
    bool ta = c.flags & nnc::GemmTransposeA, tb = c.flags & nnc::GemmTransposeB;
    int64_t lda = ta ? c.M : c.K, ldb = tb ? c.K : c.N, ldc = c.N;
    std::vector<float> A(size_t(c.M * c.K)), B(size_t(c.K * c.N)), C(size_t(c.M * c.N));
    bool useNarrow = c.N <= int64_t(narrow.nr()); // as the emitter chooses
    std::vector<float> scratch(size_t(nnc::gemmScratchElements(useNarrow ? narrow : spec, c.M, c.N, c.K)) + 16);
    for (float &x : A)
      x = dist(rng);
    for (float &x : B)
      x = dist(rng);
    auto call = [&] {
      if (useNarrow)
        (*narrowFn)(c.M, c.N, c.K, A.data(), lda, B.data(), ldb, C.data(), ldc, c.flags, scratch.data(), nullptr,
                    nullptr, 0);
      else
        (*fn)(c.M, c.N, c.K, A.data(), lda, B.data(), ldb, C.data(), ldc, c.flags, scratch.data());
    };
    call(); // warm up caches and page in
    int reps = 1;
    for (double t = 0; t < 0.02; reps *= 2) {
      double start = seconds();
      for (int r = 0; r < reps; ++r)
        call();
      t = seconds() - start;
      if (t >= 0.02)
        break;
    }
    std::vector<double> rates;
    double flops = 2.0 * double(c.M) * double(c.N) * double(c.K);
    for (int s = 0; s < samples; ++s) {
      double start = seconds();
      for (int r = 0; r < reps; ++r)
        call();
      rates.push_back(flops * reps / (seconds() - start) / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    std::fflush(stdout);
    std::printf(json ? "{\"level\": \"%s\", \"case\": \"%s\", \"M\": %lld, \"N\": %lld, \"K\": %lld, \"flags\": %d, "
                       "\"median_gflops\": %.2f, \"best_gflops\": %.2f}\n"
                     : "%s %-24s %5lld %5lld %5lld %5d %10.1f %10.1f GFLOP/s\n",
                run.name.c_str(), c.label.c_str(), (long long)c.M,
                (long long)c.N, (long long)c.K, c.flags, rates[rates.size() / 2], rates.back());
  }
  }
  return 0;
}
