//===- GemmLevels.h - The CPU feature levels the GEMM routines are prebuilt for ------------===//
//
// The GEMM routines (codegen/Gemm.h) do not change from model to model, so they are compiled
// when nnc is built, once per x86-64 feature level, by tools/gemm_gen from the same emitter,
// and linked into the runtime (runtime/exec/PrebuiltGemm.h picks one at run time). A level
// names the LLVM CPU its object is compiled for, the vector width that sizes its blocking,
// and the features a CPU needs to run it.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

class Jit;

struct GemmLevel {
  std::string name;                  ///< "avx512", "avx2", "baseline": NNC_GEMM_ISA's values
  std::string cpu;                   ///< the LLVM CPU its object is compiled for
  unsigned vectorBits;               ///< sizes the blocking (GemmSpec::forHost)
  std::vector<std::string> features; ///< what the CPU must have to run it

  /// The prefix of its routines' symbols: "nnc_avx512_" (nnc_avx512_sgemm, ...).
  std::string prefix() const { return "nnc_" + name + "_"; }
};

/// Every level, best first: avx512 (x86-64-v4: AVX-512 F/BW/CD/DQ/VL, 6×64 float tiles),
/// avx2 (x86-64-v3: AVX2 + FMA, 6×16), baseline (x86-64: SSE2, 6×8).
std::span<const GemmLevel> gemmLevels();

/// The level called `name`, or nullptr.
const GemmLevel *findGemmLevel(std::string_view name);

/// True when code that `jit` compiles may call the level's routines: the JIT targets x86-64
/// with every feature the level needs.
bool jitSupportsLevel(const Jit &jit, const GemmLevel &level);

} // namespace nnc
