//===- gemm_gen.cpp - Compiles the fixed routines of one CPU feature level to an object ----===//
//
// Run by the build (runtime/CMakeLists.txt), once per level of codegen/GemmLevels.h:
//
//   nnc-gemm-gen LEVEL OUTPUT.o
//
// emits the fixed routines (codegen/Emitter.h kFixedRoutineNames: the GEMM and the
// convolution routines) with the level's vectors,
// named with its prefix (nnc_avx512_sgemm, ...), optimizes them for the level's CPU as the JIT
// would, and writes a position-independent object that the runtime library links.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "codegen/GemmLevels.h"
#include "codegen/Jit.h"
#include "support/AtomicFile.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: nnc-gemm-gen LEVEL OUTPUT.o   (LEVEL: avx512, avx2 or baseline)\n");
    return 2;
  }
  const nnc::GemmLevel *level = nnc::findGemmLevel(argv[1]);
  if (!level) {
    std::fprintf(stderr, "nnc-gemm-gen: unknown level '%s' (avx512, avx2 or baseline)\n", argv[1]);
    return 2;
  }
  nnc::JitOptions options;
  options.cpu = level->cpu;
  options.emitOnly = true; // position-independent, for any executable or shared library
  auto jit = nnc::Jit::create(options);
  if (!jit) {
    std::fprintf(stderr, "nnc-gemm-gen: %s\n", llvm::toString(jit.takeError()).c_str());
    return 1;
  }
  llvm::LLVMContext context;
  llvm::Module module("nnc_gemm_" + level->name, context);
  nnc::emitFixedRoutines(module, level->vectorBits, level->prefix());
  if (llvm::Error e = (*jit)->optimize(module)) {
    std::fprintf(stderr, "nnc-gemm-gen: %s\n", llvm::toString(std::move(e)).c_str());
    return 1;
  }
  auto object = (*jit)->emitObject(module);
  if (!object) {
    std::fprintf(stderr, "nnc-gemm-gen: %s\n", llvm::toString(object.takeError()).c_str());
    return 1;
  }
  auto written = nnc::writeFileAtomically(argv[2], std::string_view(object->data(), object->size()));
  if (!written) {
    std::fprintf(stderr, "nnc-gemm-gen: %s\n", written.error().message.c_str());
    return 1;
  }
  return 0;
}
