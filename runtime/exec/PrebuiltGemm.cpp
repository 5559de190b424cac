//===- PrebuiltGemm.cpp - The GEMM routines compiled when nnc was built --------------------===//
//
// The objects tools/gemm_gen writes define nnc_<level>_<routine> for every routine of
// kFixedRoutineNames (nnc_avx2_sgemm, nnc_avx2_im2col_f32, ...; runtime/CMakeLists.txt links
// them and defines NNC_PREBUILT_GEMM). Only their addresses are taken here; the JIT-compiled
// model code calls them through the signatures of codegen/Gemm.h and codegen/ConvRoutines.h.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/exec/PrebuiltGemm.h"

#include "codegen/Emitter.h"
#include "codegen/Jit.h"

#include <llvm/Support/Error.h>
#include <llvm/TargetParser/Triple.h>

#include <cstdlib>
#include <string_view>

// Every routine of kFixedRoutineNames, as ROUTINE(level, name without "nnc_").
#define NNC_LEVEL_ROUTINES(ROUTINE, level)                                                         \
  ROUTINE(level, sgemm) ROUTINE(level, dgemm) ROUTINE(level, sgemm_epilogue) ROUTINE(level, sgemm_narrow) \
  ROUTINE(level, im2col_f32) ROUTINE(level, im2col_f64) ROUTINE(level, col2im_f32)                 \
  ROUTINE(level, col2im_f64) ROUTINE(level, conv_dots_f32) ROUTINE(level, conv_dots_f64)          \
  ROUTINE(level, bn_moments_f32) ROUTINE(level, bn_moments_f64) ROUTINE(level, bn_norm_f32)        \
  ROUTINE(level, bn_norm_f64) ROUTINE(level, bn_sums_f32) ROUTINE(level, bn_sums_f64)

#ifdef NNC_PREBUILT_GEMM
#define NNC_DECLARE(level, name) extern "C" void nnc_##level##_##name();
NNC_LEVEL_ROUTINES(NNC_DECLARE, avx512)
NNC_LEVEL_ROUTINES(NNC_DECLARE, avx2)
NNC_LEVEL_ROUTINES(NNC_DECLARE, baseline)
#undef NNC_DECLARE
#endif

namespace nnc {

namespace {
struct Routine {
  const char *level, *name;
  void (*address)();
};
#ifdef NNC_PREBUILT_GEMM
#define NNC_ENTRY(level, name) Routine{#level, "nnc_" #name, nnc_##level##_##name},
const Routine kRoutines[] = {NNC_LEVEL_ROUTINES(NNC_ENTRY, avx512) NNC_LEVEL_ROUTINES(NNC_ENTRY, avx2)
                                 NNC_LEVEL_ROUTINES(NNC_ENTRY, baseline)};
#undef NNC_ENTRY
#else
const Routine kRoutines[] = {{"", "", nullptr}};
#endif
#undef NNC_LEVEL_ROUTINES
} // namespace

bool havePrebuiltGemm() {
#ifdef NNC_PREBUILT_GEMM
  return true;
#else
  return false;
#endif
}

void *prebuiltRoutine(const GemmLevel &level, const std::string &name) {
  for (const Routine &r : kRoutines)
    if (r.address && level.name == r.level && name == r.name)
      return reinterpret_cast<void *>(r.address);
  return nullptr;
}

Result<const GemmLevel *> selectGemmLevel(const Jit &jit, const std::string &request) {
  std::string wanted = request;
  // Where the request came from, for the errors below.
  std::string source = "the compile options";
  if (wanted.empty())
    if (const char *env = std::getenv("NNC_GEMM_ISA"))
      wanted = env, source = "NNC_GEMM_ISA";
  if (wanted == "jit" || !havePrebuiltGemm() || jit.triple().getArch() != llvm::Triple::x86_64) {
    if (!wanted.empty() && wanted != "jit")
      return Error{"GEMM level '" + wanted + "' was asked for (" + source + "), but this build has no prebuilt "
                   "GEMM routines for its target; only 'jit' is available"};
    return static_cast<const GemmLevel *>(nullptr);
  }
  std::string supported;
  for (const GemmLevel &level : gemmLevels())
    if (jitSupportsLevel(jit, level))
      supported += (supported.empty() ? "" : ", ") + level.name;
  supported += (supported.empty() ? "" : ", ") + std::string("jit");
  if (wanted.empty()) {
    for (const GemmLevel &level : gemmLevels())
      if (jitSupportsLevel(jit, level))
        return &level;
    return static_cast<const GemmLevel *>(nullptr);
  }
  const GemmLevel *level = findGemmLevel(wanted);
  if (!level)
    return Error{"unknown GEMM level '" + wanted + "' (" + source + "): this CPU supports " + supported};
  if (!jitSupportsLevel(jit, *level))
    return Error{"GEMM level '" + wanted + "' (" + source + ") needs CPU features this target lacks; it supports " +
                 supported};
  return level;
}

Result<void> defineRoutineSymbols(Jit &jit, const GemmLevel &level) {
  for (const char *name : kFixedRoutineNames) {
    void *address = prebuiltRoutine(level, name);
    if (!address)
      return Error{std::string("internal error: no prebuilt ") + name + " for GEMM level " + level.name};
    if (llvm::Error e = jit.defineSymbol(name, address))
      return Error{llvm::toString(std::move(e))};
  }
  return {};
}

} // namespace nnc
