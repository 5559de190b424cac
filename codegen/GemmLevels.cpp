//===- GemmLevels.cpp - The CPU feature levels the GEMM routines are prebuilt for ----------===//
#include "codegen/GemmLevels.h"

#include "codegen/Jit.h"

#include <llvm/TargetParser/Triple.h>

namespace nnc {

std::span<const GemmLevel> gemmLevels() {
  static const GemmLevel levels[] = {
      {"avx512", "x86-64-v4", 512,
       {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2", "fma", "bmi", "bmi2", "f16c",
        "lzcnt", "movbe"}},
      {"avx2", "x86-64-v3", 256, {"avx", "avx2", "fma", "bmi", "bmi2", "f16c", "lzcnt", "movbe"}},
      {"baseline", "x86-64", 128, {}},
  };
  return levels;
}

const GemmLevel *findGemmLevel(std::string_view name) {
  for (const GemmLevel &level : gemmLevels())
    if (level.name == name)
      return &level;
  return nullptr;
}

bool jitSupportsLevel(const Jit &jit, const GemmLevel &level) {
  if (jit.triple().getArch() != llvm::Triple::x86_64)
    return false;
  for (const std::string &feature : level.features)
    if (!jit.hasFeature(feature))
      return false;
  return true;
}

} // namespace nnc
