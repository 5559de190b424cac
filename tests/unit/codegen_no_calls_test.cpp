//===- codegen_no_calls_test.cpp - A compiled train step allocates nothing ------------------===//
//
// The train step must not allocate or call back into the runtime: every call in the code
// emitted for it goes to a function of the same module (the GEMM routines), an LLVM intrinsic,
// or the thread pool's parallel loop. This is checked on the code as emitted, for every
// example's train step, eval and predict functions, with and without threads.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "pipeline/Pipeline.h"

#include <catch2/catch.hpp>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace nnc;

TEST_CASE("compiled steps call nothing outside their module but the parallel loop", "[codegen]") {
  for (const auto &entry : std::filesystem::directory_iterator(NNC_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".nn")
      continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    CompileSettings settings;
    settings.train.batch = 64;
    settings.stepsPerEpoch = 10;
    auto c = Compilation::fromSource(entry.path().filename().string(), text.str(), settings);
    REQUIRE(c);
    auto training = (*c)->trainingGraphs();
    REQUIRE(training);
    const Module *m = *training;
    for (int threads : {1, 2}) {
      llvm::LLVMContext ctx;
      llvm::Module mod("test", ctx);
      EmitOptions eo;
      eo.threads = threads;
      for (const Function &fn : m->functions()) {
        auto abi = emitFunction(fn, "nnc_" + fn.name(), mod, eo);
        REQUIRE(static_cast<bool>(abi));
      }
      size_t calls = 0;
      for (const llvm::Function &f : mod)
        for (const llvm::BasicBlock &bb : f)
          for (const llvm::Instruction &inst : bb)
            if (const auto *call = llvm::dyn_cast<llvm::CallBase>(&inst)) {
              ++calls;
              const llvm::Function *callee = call->getCalledFunction();
              INFO(entry.path().filename().string() << ": call in " << f.getName().str());
              REQUIRE(callee);
              INFO("callee " << callee->getName().str());
              CHECK((callee->isIntrinsic() || !callee->isDeclaration() ||
                     callee->getName() == kParallelForSymbol));
            }
      CHECK(calls > 0); // the GEMM is called, so the walk saw the code
    }
  }
}
