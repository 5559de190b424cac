//===- AotCompile.h - A model compiled ahead of time: object file and C header --------------===//
//
// `nnc model.nn -o model.o --header model.h` compiles a model's train_step, eval and predict
// into a relocatable object that links with a C compiler and libc/libm alone, and describes it
// in a C header: every buffer (parameters, optimizer state, counters, inputs, targets, outputs)
// with its name, dtype and shape, the state block as a struct, the exact arena size (GEMM
// packing scratch included), the entry points and the threading contract. docs/AOT.md is the
// calling convention.
//
// The functions are compiled for the batch size B and, when the number of training examples N
// is given, for the final partial batch r = N mod B: exactly the functions `nnc train` runs on
// a data set of N examples. Learning-rate schedules read the steps per epoch (⌈N/B⌉) and the
// run's epochs from the state block (`schedule_steps_per_epoch`, `schedule_epochs`), which
// PREFIX_init_state sets to those values; a caller with another data-set size writes its own.
// The initial state is computed here from the train block's seed as `nnc train` computes it
// (runtime/train/Initializers.h) and stored in the object, which PREFIX_init_state copies.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Aot.h"
#include "codegen/Jit.h"
#include "ir/Type.h"
#include "pipeline/Pipeline.h"
#include "support/Result.h"

#include <memory>
#include <string>
#include <vector>

namespace nnc {

struct AotSettings {
  std::string prefix;   ///< C identifier for every symbol; empty: the model's name
  int64_t examples = 0; ///< training examples per epoch (0: unknown, no partial batch)
};

/// The target machine of an object: `options` (cpu, features, triple) with emitOnly. The Error
/// names an unknown CPU or triple.
Result<std::unique_ptr<Jit>> aotTarget(JitOptions options);

/// True for a C identifier that is not a keyword: [A-Za-z_][A-Za-z0-9_]*.
bool isCIdentifier(const std::string &name);

/// One buffer of the state block, laid out as the header's struct declares it.
struct AotStateBuffer {
  std::string name;  ///< the model's name ("h1.weight", "V.m", "step")
  std::string field; ///< its C identifier in the struct
  TensorType type;
  bool trainable = false;
  std::string init;
  int64_t offset = 0; ///< from the start of the state block (64-byte aligned)
  int64_t bytes = 0;
};

/// A model compiled ahead of time: the linked module, the state layout and what the header
/// says about them.
struct AotArtifact {
  std::string prefix, modelName, sourceName;
  int64_t batch = 0, tailBatch = 0; ///< tailBatch 0: no partial batch compiled
  int64_t examples = 0, stepsPerEpoch = 1, epochs = 1;
  uint64_t seed = 0;
  bool shuffle = true;
  int threads = 1;
  std::vector<AotStateBuffer> state;
  int64_t stateBytes = 0; ///< the size of the state block, a multiple of 64
  /// The compilation of each batch size (B first), which owns its optimized graphs.
  std::vector<std::unique_ptr<Compilation>> compilations;
  std::vector<AotBatch> batches; ///< the optimized graphs of each batch size, B first
  std::unique_ptr<Jit> target;
  AotModule code;
};

/// Compiles the program of `source` (a .nn Compilation: its settings give the train block's
/// overrides, threads and disabled passes) ahead of time for `target` (aotTarget). Errors: the
/// model's, or a prefix that is not a C identifier.
Result<std::unique_ptr<AotArtifact>> compileAot(const Compilation &source, const AotSettings &settings,
                                                std::unique_ptr<Jit> target);

/// The relocatable object file of `artifact`.
Result<std::string> aotObject(AotArtifact &artifact);
/// The object's optimized LLVM IR, or its assembly.
Result<std::string> aotText(AotArtifact &artifact, bool assembly);
/// The C header that describes the object (runtime/aot/CHeader.cpp).
std::string aotHeader(const AotArtifact &artifact);

/// A sentence saying which CPUs the object needs, when it would not run on every machine of its
/// architecture (a CPU or features beyond the baseline x86-64); empty otherwise.
std::string aotPortabilityWarning(const AotArtifact &artifact);

} // namespace nnc
