//===- Executable.h - IR functions compiled to native code ----------------------------------===//
//
// An Executable holds the JIT-compiled functions of one IR Module. Each CompiledFunction owns
// its arena, allocated once, so calling it allocates nothing: the caller passes one pointer
// per argument and per result (see codegen/Emitter.h for the calling convention). Failures of
// code generation (codegen/ speaks llvm::Error) become nnc Errors here, at the boundary of
// the runtime; so does an arena too large to allocate.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Emitter.h"
#include "codegen/Jit.h"
#include "codegen/KernelPlan.h"
#include "runtime/exec/Memory.h"
#include "runtime/exec/ObjectCache.h"
#include "runtime/exec/Profile.h"
#include "ir/Graph.h"
#include "support/Result.h"

#include <llvm/Support/Error.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// One compiled function and its scratch memory.
class CompiledFunction {
public:
  using Entry = void (*)(void **buffers, char *arena);
  /// The function at `entry` with a zeroed arena of abi.arenaBytes, or an Error when that
  /// cannot be allocated.
  static Result<std::unique_ptr<CompiledFunction>> create(FunctionABI abi, Entry entry);

  const FunctionABI &abi() const { return abi_; }
  /// Runs the function; `buffers` has abi().argTypes.size() + abi().resultTypes.size() entries.
  void call(void **buffers) {
    if (profile_) {
      KernelProfileScope scope(*profile_);
      entry_(buffers, arena_.data());
    } else {
      entry_(buffers, arena_.data());
    }
  }
  /// The time per kernel of a function compiled with CompileOptions::profile, else null.
  const KernelProfile *profile() const { return profile_.get(); }

private:
  CompiledFunction(FunctionABI abi, Entry entry) : abi_(std::move(abi)), entry_(entry) {}
  FunctionABI abi_;
  Entry entry_;
  ZeroedPages arena_; ///< page aligned, zeroed; pages fault in as kernels touch them
  std::shared_ptr<KernelProfile> profile_;
  friend class Executable;
};

struct CompileOptions {
  JitOptions jit;
  /// Threads for large matrix products (see EmitOptions::threads); the pool's size is set
  /// separately with setComputeThreads.
  int threads = 1;
  /// Reuse machine code compiled before for the same IR and target from the object cache
  /// (see objectCacheDir()).
  bool useCache = true;
  /// Code generation passes to turn off (codegen/Emitter.h's codegenPasses(); other names are
  /// ignored).
  std::vector<std::string> disabledPasses;
  /// The prebuilt GEMM routines to call (runtime/exec/PrebuiltGemm.h): "avx512", "avx2",
  /// "baseline", or "jit" to compile them with the model; empty: NNC_GEMM_ISA, else the best
  /// level the CPU has.
  std::string gemmLevel;
  /// Time every kernel of the compiled functions (EmitOptions::profile; runtime/exec/Profile.h).
  bool profile = false;
  /// Said after the function's name in the profile report, e.g. "batch 64".
  std::string profileTag;
};

/// Where a compile's time went, in milliseconds. Each of the two objects (the GEMM routines,
/// shared by every model on this CPU, and the model's functions) is either loaded from the
/// object cache or optimized and turned into machine code.
struct CompileTimes {
  struct Object {
    bool fromCache = false;
    double loadMs = 0, optimizeMs = 0, machineCodeMs = 0;
    unsigned pieces = 1; ///< compiled in this many pieces side by side (Jit::compile)
  };
  double emitMs = 0; ///< IR functions to LLVM IR
  /// The prebuilt GEMM routines' level ("avx512", ...); empty when `gemm` was compiled here.
  std::string gemmLevel;
  Object gemm, model;
};

/// The compiled functions of a module, by function name.
class Executable {
public:
  /// Emits every function of `module` into one LLVM module, optimizes and JIT-compiles it.
  /// A failure's message is code generation's own (callers say which step failed).
  static Result<std::unique_ptr<Executable>> compile(const Module &module,
                                                     const CompileOptions &options = {});
  /// The compiled function `name`, or null.
  CompiledFunction *function(const std::string &name);
  /// Seconds spent emitting, optimizing and generating machine code (or loading it).
  double compileSeconds() const { return compileSeconds_; }
  /// True when the machine code came from the object cache.
  bool fromCache() const { return fromCache_; }
  /// The compile's phases.
  const CompileTimes &times() const { return times_; }
  /// The kernel plan function `name` was compiled from (for this host's vectors and threads),
  /// or null.
  const KernelPlan *plan(const std::string &name) const {
    auto it = plans_.find(name);
    return it == plans_.end() ? nullptr : &it->second;
  }

private:
  std::unique_ptr<Jit> jit_;
  std::map<std::string, std::unique_ptr<CompiledFunction>> functions_;
  std::map<std::string, KernelPlan> plans_;
  double compileSeconds_ = 0;
  bool fromCache_ = false;
  CompileTimes times_;
};

/// Compiles `module` to optimized LLVM IR or assembly text without keeping the code.
Result<std::string> emitModuleText(const Module &module, bool assembly,
                                   const std::vector<std::string> &disabledPasses = {});

} // namespace nnc
