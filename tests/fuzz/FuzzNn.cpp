//===- FuzzNn.cpp - libFuzzer target: .nn text from parsing to LLVM IR ---------------------===//
//
// Each input is a .nn program. It is parsed, checked and its train block resolved; lowered to
// the model graph; differentiated into train_step, eval and predict with the optimizer's
// update; put through the graph passes; planned into kernels; and emitted as LLVM IR, which
// LLVM's verifier must accept. Models with a tensor of more than kMaxElements elements are
// skipped after lowering (their code is the same as a small one's, only slower to plan).
// Errors are the expected outcome for most inputs; crashes, sanitizer reports and broken IR are
// the findings.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "pipeline/Pipeline.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

constexpr int64_t kMaxElements = 1 << 16;

bool small(const nnc::Module &m) {
  for (const nnc::Function &fn : m.functions()) {
    for (const nnc::Argument &a : fn.arguments())
      if (a.type.numElements() > kMaxElements)
        return false;
    for (const nnc::Node &n : fn.nodes())
      if (n.type.numElements() > kMaxElements)
        return false;
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnc::CompileSettings settings;
  settings.train.batch = 2;
  settings.useObjectCache = false;
  auto c = nnc::Compilation::fromSource("fuzz.nn", std::string(reinterpret_cast<const char *>(data), size), settings);
  if (!c)
    return 0;
  auto model = (*c)->modelGraph();
  if (!model || !small(**model))
    return 0;
  auto training = (*c)->trainingGraphs();
  if (!training || !small(**training))
    return 0;
  auto optimized = (*c)->optimizedGraphs();
  if (!optimized)
    return 0;
  auto plans = (*c)->kernelPlan();
  if (!plans)
    return 0;
  llvm::LLVMContext context;
  llvm::Module module("fuzz", context);
  nnc::EmitOptions options;
  options.threads = 2;
  for (const nnc::Function &fn : (*optimized)->functions()) {
    auto abi = nnc::emitFunction(fn, "nnc_" + fn.name(), module, options);
    if (!abi) {
      // Code generation must handle every graph the passes produce.
      std::fprintf(stderr, "emitFunction failed: %s\n", llvm::toString(abi.takeError()).c_str());
      std::abort();
    }
  }
  std::string problems;
  llvm::raw_string_ostream stream(problems);
  if (llvm::verifyModule(module, &stream)) {
    std::fprintf(stderr, "invalid LLVM IR: %s\n", problems.c_str());
    std::abort();
  }
  return 0;
}
