//===- runtime_executable_test.cpp - Compiling and loading report failures as Errors -------===//
//
// An arena too large to allocate is an Error naming the function, not a crash; a module that
// compiles gives each function its arena.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Builder.h"
#include "runtime/exec/Executable.h"

#include <catch2/catch.hpp>

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
