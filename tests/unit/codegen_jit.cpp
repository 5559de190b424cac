//===- codegen_jit.cpp - Tests for the JIT wrapper ------------------------------------------===//
//
// Adds small hand-built modules to nnc::Jit: calling them, looking up what is not there,
// resolving a host symbol, the function attributes the pipeline relies on, and the IR,
// assembly and object text it emits.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Jit.h"
#include "tests/unit/CodegenTesting.h"

#include <catch2/catch.hpp>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>

#include <cstdint>
#include <vector>

using namespace nnc;
using namespace nnc::testing;

namespace {

/// `void scale(float* x, i64 n, float a)`: x[i] *= a, a loop the vectoriser should widen.
llvm::Function *buildScaleLoop(llvm::Module &module) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type *f32 = b.getFloatTy(), *i64 = b.getInt64Ty();
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), i64, f32}, false);
  auto *fn = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "scale", module);
  auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto *loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  b.SetInsertPoint(entry);
  b.CreateCondBr(b.CreateICmpSGT(fn->getArg(1), b.getInt64(0)), loop, exit);
  b.SetInsertPoint(loop);
  auto *i = b.CreatePHI(i64, 2);
  i->addIncoming(b.getInt64(0), entry);
  auto *ptr = b.CreateGEP(f32, fn->getArg(0), i);
  b.CreateStore(b.CreateFMul(b.CreateLoad(f32, ptr), fn->getArg(2)), ptr);
  auto *next = b.CreateAdd(i, b.getInt64(1));
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpSLT(next, fn->getArg(1)), loop, exit);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
  return fn;
}

} // namespace

TEST_CASE("Jit compiles, optimises and runs a module", "[kernels]") {
  auto jit = makeJit();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("scale", *ctx);
  buildScaleLoop(*module);
  requireOk(jit->add(std::move(module), std::move(ctx)));
  auto scale = unwrap(jit->lookupAs<void(float *, int64_t, float)>("scale"));
  std::vector<float> x(37);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(i);
  scale(x.data(), int64_t(x.size()), 0.5f);
  for (size_t i = 0; i < x.size(); ++i)
    CHECK(x[i] == 0.5f * float(i));
}

TEST_CASE("Jit reports a missing symbol and broken IR as errors", "[kernels]") {
  auto jit = makeJit();
  auto missing = jit->lookup("no_such_function");
  REQUIRE(!bool(missing));
  CHECK_THAT(llvm::toString(missing.takeError()), Catch::Contains("no_such_function"));

  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("broken", *ctx);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(*ctx), false);
  auto *fn = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "broken", *module);
  llvm::BasicBlock::Create(*ctx, "entry", fn); // a block with no terminator
  llvm::Error error = jit->add(std::move(module), std::move(ctx));
  REQUIRE(bool(error));
  CHECK_THAT(llvm::toString(std::move(error)), Catch::Contains("invalid LLVM IR"));
}

TEST_CASE("Jit resolves host process symbols", "[kernels]") {
  auto jit = makeJit();
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("host", *ctx);
  llvm::IRBuilder<> b(*ctx);
  // size_t callStrlen(const char* s) { return strlen(s); }
  auto *i64 = b.getInt64Ty();
  auto *strlenType = llvm::FunctionType::get(i64, {b.getPtrTy()}, false);
  llvm::FunctionCallee strlenFn = module->getOrInsertFunction("strlen", strlenType);
  auto *fn = llvm::Function::Create(strlenType, llvm::Function::ExternalLinkage, "callStrlen",
                                    *module);
  b.SetInsertPoint(llvm::BasicBlock::Create(*ctx, "entry", fn));
  b.CreateRet(b.CreateCall(strlenFn, {fn->getArg(0)}));
  requireOk(jit->add(std::move(module), std::move(ctx)));
  auto callStrlen = unwrap(jit->lookupAs<int64_t(const char *)>("callStrlen"));
  CHECK(callStrlen("seven!!") == 7);
}

TEST_CASE("Jit::prepare puts the target on every function", "[kernels]") {
  auto jit = makeJit();
  llvm::LLVMContext ctx;
  llvm::Module module("attrs", ctx);
  llvm::Function *fn = buildScaleLoop(module);
  jit->prepare(module);
  CHECK(fn->getFnAttribute("target-cpu").getValueAsString() == jit->cpu());
  CHECK(fn->getFnAttribute("target-features").getValueAsString() == jit->features());
  CHECK(!jit->cpu().empty());
  CHECK(module.getDataLayout() == jit->dataLayout());
  if (jit->hasFeature("avx512f")) {
    CHECK(fn->getFnAttribute("prefer-vector-width").getValueAsString() == "512");
    CHECK(jit->vectorBits() == 512);
  }
}

TEST_CASE("Jit emits optimised IR, assembly and objects", "[kernels]") {
  auto jit = makeJit();
  llvm::LLVMContext ctx;
  llvm::Module module("emit", ctx);
  buildScaleLoop(module);
  requireOk(jit->optimize(module));
  std::string ir = Jit::printIR(module);
  CHECK_THAT(ir, Catch::Contains("define void @scale"));
  // The vectoriser widened the loop: a vector fmul appears in the optimised IR.
  CHECK_THAT(ir, Catch::Contains("fmul <"));

  std::string assembly = unwrap(jit->emitAssembly(module));
  CHECK_THAT(assembly, Catch::Contains("scale:"));
  if (jit->hasFeature("avx512f"))
    CHECK_THAT(assembly, Catch::Contains("zmm"));
  else
    WARN("host lacks avx512f: zmm check skipped");

  auto object = unwrap(jit->emitObject(module));
  REQUIRE(object.size() > 4);
  CHECK(std::string(object.begin(), object.begin() + 4) == "\x7f" "ELF");
}

TEST_CASE("Jit honours explicit CPU and features", "[kernels]") {
  auto jit = makeJit({.optLevel = 2, .vectorize = true, .cpu = "x86-64-v3", .features = "+avx2,+fma", .triple = "",
                      .emitOnly = false});
  CHECK(jit->cpu() == "x86-64-v3");
  CHECK(jit->hasFeature("avx2"));
  CHECK(!jit->hasFeature("avx512f"));
  CHECK(jit->vectorBits() == 256);
  llvm::LLVMContext ctx;
  llvm::Module module("v3", ctx);
  buildScaleLoop(module);
  requireOk(jit->optimize(module));
  std::string assembly = unwrap(jit->emitAssembly(module));
  CHECK_THAT(assembly, Catch::Contains("ymm"));
  CHECK_THAT(assembly, !Catch::Contains("zmm"));
}

TEST_CASE("Jit for a named CPU takes that CPU's features, not the host's", "[kernels]") {
  for (auto [cpu, bits] : {std::pair<const char *, unsigned>{"x86-64", 128}, {"x86-64-v3", 256}, {"x86-64-v4", 512}}) {
    JitOptions options;
    options.cpu = cpu;
    options.emitOnly = true;
    auto jit = makeJit(options);
    CHECK(jit->cpu() == cpu);
    CHECK(jit->vectorBits() == bits);
    CHECK(jit->hasFeature("avx2") == (bits >= 256));
    CHECK(jit->hasFeature("avx512f") == (bits == 512));
    // An emit-only Jit compiles but does not load.
    llvm::LLVMContext ctx;
    llvm::Module module("named", ctx);
    buildScaleLoop(module);
    requireOk(jit->optimize(module));
    CHECK(!unwrap(jit->emitObject(module)).empty());
    auto lookup = jit->lookup("scale");
    REQUIRE(!lookup);
    CHECK_THAT(llvm::toString(lookup.takeError()), Catch::Contains("only emits files"));
  }
}

TEST_CASE("Jit rejects an unknown CPU or target triple by name", "[kernels]") {
  JitOptions cpu;
  cpu.cpu = "pentium9000";
  auto a = Jit::create(cpu);
  REQUIRE(!a);
  CHECK_THAT(llvm::toString(a.takeError()), Catch::Contains("unknown target CPU 'pentium9000'"));
  JitOptions triple;
  triple.triple = "nonsense-unknown-nowhere";
  auto b = Jit::create(triple);
  REQUIRE(!b);
  CHECK_THAT(llvm::toString(b.takeError()), Catch::Contains("unknown target triple 'nonsense-unknown-nowhere'"));
}

namespace {

/// `scale` (see buildScaleLoop), an internal `twice(x, n)` that calls it with 2 and reads the
/// internal global `calls`, and `run(x, n)` that calls twice and counts its calls in `calls`:
/// internal definitions that pieces must share once split.
void buildCallChain(llvm::Module &module) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Function *scale = buildScaleLoop(module);
  llvm::Type *i64 = b.getInt64Ty();
  auto *calls = new llvm::GlobalVariable(module, i64, false, llvm::GlobalValue::InternalLinkage, b.getInt64(0), "calls");
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), i64}, false);
  auto *twice = llvm::Function::Create(type, llvm::Function::InternalLinkage, "twice", module);
  twice->addFnAttr(llvm::Attribute::NoInline);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", twice));
  b.CreateCall(scale, {twice->getArg(0), twice->getArg(1), llvm::ConstantFP::get(b.getFloatTy(), 2.0)});
  b.CreateRetVoid();
  auto *run = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "run", module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", run));
  b.CreateCall(twice, {run->getArg(0), run->getArg(1)});
  b.CreateStore(b.CreateAdd(b.CreateLoad(i64, calls), b.getInt64(1)), calls);
  b.CreateRetVoid();
  auto *count = llvm::Function::Create(llvm::FunctionType::get(i64, false), llvm::Function::ExternalLinkage,
                                       "count", module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", count));
  b.CreateRet(b.CreateLoad(i64, calls));
}

} // namespace

TEST_CASE("Jit::compile splits a module into pieces compiled side by side that link together", "[kernels]") {
  for (unsigned parts : {1u, 2u, 3u, 9u}) {
    INFO(parts << " pieces asked");
    auto jit = makeJit();
    llvm::LLVMContext ctx;
    llvm::Module module("chain", ctx);
    buildCallChain(module);
    Jit::CompileReport report;
    auto objects = unwrap(jit->compile(module, Jit::Pipeline::Model, parts, report));
    // At most one piece per definition: scale, twice, run and count.
    CHECK(report.parts == std::min(parts, 4u));
    REQUIRE(objects.size() == report.parts);
    for (auto &object : objects)
      requireOk(jit->addObject(llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()))));
    auto run = unwrap(jit->lookupAs<void(float *, int64_t)>("run"));
    auto count = unwrap(jit->lookupAs<int64_t()>("count"));
    std::vector<float> x(37);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = float(i);
    run(x.data(), int64_t(x.size()));
    run(x.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i)
      CHECK(x[i] == 4.0f * float(i));
    CHECK(count() == 2); // one `calls`, shared by every piece
  }
}
