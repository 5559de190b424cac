//===- runtime_executable_test.cpp - Compiling and loading report failures as Errors -------===//
//
// An arena too large to allocate is an Error naming the function, not a crash; a module that
// compiles gives each function its arena.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Builder.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/ThreadPool.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <sched.h>
#include <string>
#include <unistd.h>
#include <vector>

using namespace nnc;

// AddressSanitizer stops the process on an impossible allocation instead of returning null
// (unless allocator_may_return_null is set), so the failure path is tested without it.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("executable: an arena too large to allocate is an Error", "[runtime]") {
  FunctionABI abi;
  abi.symbol = "nnc_huge";
  abi.arenaBytes = int64_t(1) << 62;
  auto f = CompiledFunction::create(abi, nullptr);
  REQUIRE_FALSE(f.ok());
  CHECK(f.message().find("cannot allocate the 4611686018427387904 bytes of scratch memory of "
                         "function 'nnc_huge'") == 0);
}
#endif

TEST_CASE("executable: a compiled module's functions each have an arena", "[runtime]") {
  Module m;
  Function &fn = m.addFunction("f");
  Builder b(fn);
  ValueId x = fn.addArgument("x", TensorType(DType::F32, {4}), ArgRole::Input);
  fn.addResult("y", b.relu(b.add(x, x)));
  auto exe = Executable::compile(m);
  REQUIRE(exe.ok());
  CompiledFunction *cf = (*exe)->function("f");
  REQUIRE(cf);
  float in[4] = {-1, 2, -3, 4}, out[4] = {};
  void *buffers[] = {in, out};
  cf->call(buffers);
  CHECK(out[0] == 0);
  CHECK(out[1] == 4);
  CHECK(out[3] == 8);
  CHECK((*exe)->function("g") == nullptr);
}

TEST_CASE("executable: a profiled function times each kernel and computes what the plain one does",
          "[runtime]") {
  Module m;
  Function &fn = m.addFunction("f");
  Builder b(fn);
  ValueId x = fn.addArgument("x", TensorType(DType::F32, {64, 64}), ArgRole::Input);
  ValueId w = fn.addArgument("w", TensorType(DType::F32, {64, 64}), ArgRole::Input);
  ValueId h = b.matmul(x, w);           // a GEMM call
  fn.addResult("y", b.exp(b.matmul(h, w))); // and an elementwise kernel after it
  CompileOptions plainOptions, profiledOptions;
  plainOptions.useCache = profiledOptions.useCache = false;
  profiledOptions.profile = true;
  profiledOptions.profileTag = "test";
  auto plain = Executable::compile(m, plainOptions);
  auto profiled = Executable::compile(m, profiledOptions);
  REQUIRE(plain.ok());
  REQUIRE(profiled.ok());
  CompiledFunction *p = (*plain)->function("f"), *q = (*profiled)->function("f");
  REQUIRE(p);
  REQUIRE(q);
  CHECK_FALSE(p->abi().profiled);
  CHECK(p->profile() == nullptr);
  REQUIRE(q->abi().profiled);
  REQUIRE(q->profile() != nullptr);

  std::vector<float> xs(64 * 64), ws(64 * 64), y1(64 * 64), y2(64 * 64);
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = float(i % 7) * 0.01f;
    ws[i] = float(i % 5) * 0.01f - 0.02f;
  }
  void *plainBuffers[] = {xs.data(), ws.data(), y1.data()};
  void *profiledBuffers[] = {xs.data(), ws.data(), y2.data()};
  p->call(plainBuffers);
  for (int i = 0; i < 3; ++i)
    q->call(profiledBuffers);
  CHECK(y1 == y2); // the marks change no result

  const KernelProfile &prof = *q->profile();
  CHECK(prof.calls == 3);
  CHECK(prof.function == "@f (test)");
  REQUIRE(prof.labels.size() == size_t(q->abi().kernels) + 1); // the kernels, then the copies
  REQUIRE(prof.ns.size() == prof.labels.size());
  CHECK(prof.labels.back() == "results and state copies");
  CHECK(prof.labels[0].find("matmul") != std::string::npos);
  CHECK(prof.ns[0] > 0); // 64³ multiply-adds take far longer than the clock's resolution
  std::string report = kernelProfileReport();
  CHECK(report.find("profile of @f (test): 3 calls") != std::string::npos);
  CHECK(report.find("matmul %x, %w") != std::string::npos);

  // Outside a profiled call a mark does nothing.
  nnc_profile_mark(0);
  nnc_profile_mark(-1);
  CHECK(prof.calls == 3);
}

TEST_CASE("executable: a module compiled in pieces runs as one, and its pieces come back from the cache",
          "[runtime]") {
  Module m;
  for (const char *name : {"f", "g", "h"}) {
    Function &fn = m.addFunction(name);
    Builder b(fn);
    ValueId x = fn.addArgument("x", TensorType(DType::F32, {8, 32}), ArgRole::Input);
    ValueId w = fn.addArgument("w", TensorType(DType::F32, {32, 16}), ArgRole::Input);
    fn.addResult("y", b.tanh(b.matmul(b.exp(x), w)));
  }
  std::vector<float> x(8 * 32), w(32 * 16);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(int(i % 13) - 6) / 8.f;
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = float(int(i % 7) - 3) / 16.f;
  auto run = [&](Executable &exe) {
    std::vector<std::vector<float>> outs;
    for (const char *name : {"f", "g", "h"}) {
      CompiledFunction *cf = exe.function(name);
      REQUIRE(cf);
      std::vector<float> y(8 * 16);
      void *buffers[] = {x.data(), w.data(), y.data()};
      cf->call(buffers);
      outs.push_back(y);
    }
    return outs;
  };
  auto compileWith = [&](const char *threads, bool cache) {
    setenv("NNC_COMPILE_THREADS", threads, 1);
    CompileOptions options;
    options.useCache = cache;
    auto exe = Executable::compile(m, options);
    unsetenv("NNC_COMPILE_THREADS");
    REQUIRE(exe.ok());
    return std::move(*exe);
  };
  std::string dir = "/tmp/nnc-pieces-test-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  const char *savedDir = std::getenv("NNC_CACHE_DIR");
  std::string saved = savedDir ? savedDir : "";
  setenv("NNC_CACHE_DIR", dir.c_str(), 1);
  auto whole = compileWith("1", false);
  auto split = compileWith("3", true);
  auto cached = compileWith("3", true);
  if (savedDir)
    setenv("NNC_CACHE_DIR", saved.c_str(), 1);
  else
    unsetenv("NNC_CACHE_DIR");
  std::filesystem::remove_all(dir);
  CHECK(whole->times().model.pieces == 1);
  CHECK(split->times().model.pieces == 3);
  CHECK_FALSE(split->fromCache());
  CHECK(cached->fromCache());
  auto expected = run(*whole);
  CHECK(run(*split) == expected); // bitwise: the same code, linked from three objects
  CHECK(run(*cached) == expected);
  CHECK(expected[0] == expected[2]);
}

TEST_CASE("executable: the default thread count is the cores the process may run on", "[runtime]") {
  // sched_getaffinity(0) reads the calling thread's mask, so narrowing this thread's mask to one
  // core must bring availableCores() to 1, and restoring it brings back the whole count.
  cpu_set_t all;
  REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
  int cores = CPU_COUNT(&all);
  CHECK(availableCores() == cores);
  int first = 0;
  while (!CPU_ISSET(first, &all))
    ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  int narrowed = availableCores();
  REQUIRE(sched_setaffinity(0, sizeof all, &all) == 0);
  CHECK(narrowed == 1);
  CHECK(availableCores() == cores);
}
