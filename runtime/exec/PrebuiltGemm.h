//===- PrebuiltGemm.h - The fixed routines compiled when nnc was built ---------------------===//
//
// On x86-64 the build compiles the fixed routines (codegen/Emitter.h kFixedRoutineNames: the
// GEMM and the convolution's im2col, col2im and dot products) once per feature level of
// codegen/GemmLevels.h (tools/gemm_gen) and links them into this library, so no model compile
// pays for them. selectGemmLevel picks the best level the JIT's target supports, or the one
// NNC_GEMM_ISA names (avx512, avx2, baseline; or "jit": compile them at run time as on other
// architectures, for comparison); defineRoutineSymbols makes the names the model code calls
// (nnc_sgemm, ...) resolve to that level's functions.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/GemmLevels.h"
#include "support/Result.h"

#include <string>

namespace nnc {

class Jit;

/// The address of routine `name` (one of kFixedRoutineNames, e.g. "nnc_sgemm") of `level`, or
/// nullptr when this build has no objects for the level (not an x86-64 build).
void *prebuiltRoutine(const GemmLevel &level, const std::string &name);

/// True when this build linked the prebuilt routines of every level.
bool havePrebuiltGemm();

/// The level whose routines code compiled by `jit` calls: `request` when it is not empty, else
/// NNC_GEMM_ISA when set, else the best level `jit` supports. nullptr: compile the routines
/// with the model (request "jit", a non-x86-64 target, or a build without prebuilt routines).
/// A level that is unknown or that the target lacks is an Error naming the levels it has.
Result<const GemmLevel *> selectGemmLevel(const Jit &jit, const std::string &request = {});

/// Makes kFixedRoutineNames resolve to `level`'s prebuilt functions in code `jit` links later
/// (absolute symbols).
Result<void> defineRoutineSymbols(Jit &jit, const GemmLevel &level);

} // namespace nnc
