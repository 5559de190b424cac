//===- PrebuiltGemm.cpp - The GEMM routines compiled when nnc was built --------------------===//
//
// The objects tools/gemm_gen writes define nnc_<level>_sgemm, nnc_<level>_dgemm,
// nnc_<level>_sgemm_epilogue and nnc_<level>_sgemm_narrow (runtime/CMakeLists.txt links them
// and defines NNC_PREBUILT_GEMM). Only their addresses are taken here; the JIT-compiled model
// code calls them through the signatures of codegen/Gemm.h.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/exec/PrebuiltGemm.h"

#include "codegen/Emitter.h"
#include "codegen/Jit.h"

#include <llvm/Support/Error.h>
#include <llvm/TargetParser/Triple.h>

#include <cstdlib>
#include <string_view>

#ifdef NNC_PREBUILT_GEMM
#define NNC_DECLARE_LEVEL(level)                                                                   \
  extern "C" void nnc_##level##_sgemm();                                                           \
  extern "C" void nnc_##level##_dgemm();                                                           \
  extern "C" void nnc_##level##_sgemm_epilogue();                                                  \
  extern "C" void nnc_##level##_sgemm_narrow();
NNC_DECLARE_LEVEL(avx512)
NNC_DECLARE_LEVEL(avx2)
NNC_DECLARE_LEVEL(baseline)
#undef NNC_DECLARE_LEVEL
#endif

namespace nnc {

namespace {
struct Routines {
  const char *level;
  void (*sgemm)(), (*dgemm)(), (*sgemmEpilogue)(), (*sgemmNarrow)();
};
#ifdef NNC_PREBUILT_GEMM
#define NNC_LEVEL_ROUTINES(level)                                                                  \
  Routines { #level, nnc_##level##_sgemm, nnc_##level##_dgemm, nnc_##level##_sgemm_epilogue,      \
             nnc_##level##_sgemm_narrow }
const Routines kRoutines[] = {NNC_LEVEL_ROUTINES(avx512), NNC_LEVEL_ROUTINES(avx2),
                              NNC_LEVEL_ROUTINES(baseline)};
#undef NNC_LEVEL_ROUTINES
#else
const Routines kRoutines[] = {{"", nullptr, nullptr, nullptr, nullptr}};
#endif
} // namespace

bool havePrebuiltGemm() {
#ifdef NNC_PREBUILT_GEMM
  return true;
#else
  return false;
#endif
}

void *prebuiltGemmRoutine(const GemmLevel &level, const std::string &name) {
  for (const Routines &r : kRoutines) {
    if (level.name != r.level || !r.sgemm)
      continue;
    void (*fn)() = name == "nnc_sgemm"            ? r.sgemm
                   : name == "nnc_dgemm"          ? r.dgemm
                   : name == "nnc_sgemm_epilogue" ? r.sgemmEpilogue
                   : name == "nnc_sgemm_narrow"   ? r.sgemmNarrow
                                                  : nullptr;
    return reinterpret_cast<void *>(fn);
  }
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

Result<void> defineGemmSymbols(Jit &jit, const GemmLevel &level) {
  for (const char *name : kGemmRoutineNames) {
    void *address = prebuiltGemmRoutine(level, name);
    if (!address)
      return Error{std::string("internal error: no prebuilt ") + name + " for GEMM level " + level.name};
    if (llvm::Error e = jit.defineSymbol(name, address))
      return Error{llvm::toString(std::move(e))};
  }
  return {};
}

} // namespace nnc
