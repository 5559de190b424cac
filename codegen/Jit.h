//===- Jit.h - ORC LLJIT wrapper with nnc's optimisation pipeline ---------------------------===//
//
// A small JIT in the style of LLVM's KaleidoscopeJIT. It targets the host CPU (every feature
// detected, -O3 code generation, FP contraction allowed), runs an optimisation pipeline built
// with the target's cost model on each module before adding it — nnc's short pipeline for model
// code (Pipeline::Model), the O-level default for hand-blocked kernels (Pipeline::Standard) —
// and resolves host process symbols (libm, the runtime). The same target machine
// prints optimised IR, assembly and object files for `--emit=llvm|asm` and ahead-of-time use.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace llvm {
class DataLayout;
class MemoryBuffer;
class LLVMContext;
class Module;
class TargetMachine;
class Triple;
namespace orc {
class JITTargetMachineBuilder;
class LLJIT;
} // namespace orc
} // namespace llvm

namespace nnc {

/// Initialises LLVM's native target, asm printer and asm parser exactly once (thread-safe).
void initializeNativeTarget();

/// How a Jit compiles. The defaults describe the host at full optimisation.
struct JitOptions {
  unsigned optLevel = 3;      ///< 0..3: the new pass manager's O0..O3 default pipeline
  bool vectorize = true;      ///< loop and SLP vectorisation in the pipeline
  /// Empty or "host": the host CPU (`sys::getHostCPUName`); else an LLVM CPU name such as
  /// "x86-64", "x86-64-v3", "x86-64-v4" or "znver4" (unknown names are an error).
  std::string cpu;
  /// Empty: every feature of the host (for the host CPU) or of the named CPU; else
  /// "+avx2,-avx512f,...".
  std::string features;
  /// Empty: the host's target triple. Another triple (any target LLVM was built with) gives a
  /// Jit that only prints and emits files, as emitOnly does.
  std::string triple;
  /// Make no LLJIT: the Jit optimizes modules and emits text and object files only (ahead-of-
  /// time compilation); add, addObject, defineSymbol and lookup are not available.
  bool emitOnly = false;
};

/// A JIT for nnc modules. Functions added are optimised, compiled to host code and callable
/// through lookup(). Add, lookup and the emit functions may be called from several threads.
class Jit {
public:
  /// Builds a JIT for the host (or JitOptions::cpu/features) or says why it cannot.
  static llvm::Expected<std::unique_ptr<Jit>> create(JitOptions options = {});
  ~Jit();
  Jit(const Jit &) = delete;
  Jit &operator=(const Jit &) = delete;

  /// Makes `name` resolve to `address` in code added later (runtime entry points).
  llvm::Error defineSymbol(llvm::StringRef name, void *address);

  /// Links a relocatable object file (as emitObject() makes) into the JIT.
  llvm::Error addObject(std::unique_ptr<llvm::MemoryBuffer> object);

  /// The address of an added function or global, or an error naming the missing symbol.
  llvm::Expected<void *> lookup(llvm::StringRef name);

  /// lookup() cast to a function pointer: `jit.lookupAs<void(float*, int64_t)>("f")`.
  template <typename Fn> llvm::Expected<Fn *> lookupAs(llvm::StringRef name) {
    auto address = lookup(name);
    if (!address)
      return address.takeError();
    return reinterpret_cast<Fn *>(*address);
  }

  /// Sets the module's triple and data layout and puts "target-cpu", "target-features" (and
  /// "prefer-vector-width"="512" when AVX-512 is on) on every function definition.
  void prepare(llvm::Module &module) const;

  /// Which optimisation pipeline optimize() runs (at JitOptions::optLevel 0 both are O0's).
  enum class Pipeline {
    Standard, ///< the O-level default pipeline (for hand-blocked kernels such as the GEMM routines)
    Model,    ///< nnc's short function pipeline for emitted model code (Jit.cpp: kModelPipeline)
  };

  /// Optimises `module` with the pipeline `which` (see optimize(); the model pipeline unless
  /// told otherwise, Standard for hand-blocked routines) and hands it with its context to the JIT.
  llvm::Error add(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context,
                  Pipeline which = Pipeline::Model);

  /// prepare(), then the pipeline `which` built with the target machine; verifies the module
  /// first and reports broken IR as an error.
  llvm::Error optimize(llvm::Module &module, Pipeline which = Pipeline::Standard);

  /// The text of the model pipeline (`opt -passes` syntax): Jit.cpp's kModelPipeline, without
  /// the loop vectorizer when JitOptions::vectorize is off, or `$NNC_LLVM_PIPELINE` when set (for
  /// experiments). Part of the object cache's key.
  std::string modelPipeline() const;

  /// The module as LLVM IR text, as it is now (call optimize() first for `--emit=llvm`).
  static std::string printIR(const llvm::Module &module);

  /// Assembly text for a copy of `module` (the module itself is not changed). Run optimize()
  /// first to see what the JIT would run. `which` says whose code it is: model code is
  /// generated without loop strength reduction.
  llvm::Expected<std::string> emitAssembly(const llvm::Module &module, Pipeline which = Pipeline::Standard);

  /// An ELF object file for a copy of `module`, for ahead-of-time builds.
  llvm::Expected<llvm::SmallVector<char, 0>> emitObject(const llvm::Module &module,
                                                        Pipeline which = Pipeline::Standard);

  /// What compile() spent, in milliseconds of wall time.
  struct CompileReport {
    unsigned parts = 1;      ///< pieces compiled side by side
    double splitMs = 0;      ///< cutting the module into pieces (bitcode for each thread)
    double optimizeMs = 0;   ///< the pass pipeline (with pieces: the slowest piece's)
    double machineCodeMs = 0; ///< code generation (with pieces: the rest of the parallel wall time)
  };
  /// Optimizes `module` with the pipeline `which` and generates its machine code, consuming
  /// the module (it is left changed). With `parts` > 1 the function definitions are dealt,
  /// largest first by their live instructions, into that many pieces (at most one per
  /// definition) that are optimized and generated on as many threads, each piece an object
  /// file of its own: the objects link together (what was internal is external and hidden)
  /// and must all be added.
  llvm::Expected<std::vector<llvm::SmallVector<char, 0>>> compile(llvm::Module &module, Pipeline which,
                                                                  unsigned parts, CompileReport &report);

  const llvm::DataLayout &dataLayout() const { return *dataLayout_; }
  const llvm::Triple &triple() const { return *triple_; }
  llvm::StringRef cpu() const { return cpu_; }
  llvm::StringRef features() const { return features_; }
  bool hasFeature(llvm::StringRef feature) const; ///< e.g. hasFeature("avx512f")

  /// The widest vector register the target uses for floating point, in bits: 512 with
  /// AVX-512F, 256 with AVX, otherwise 128.
  unsigned vectorBits() const;

private:
  Jit() = default;
  llvm::Expected<llvm::SmallVector<char, 0>> emitFile(const llvm::Module &module, bool assembly, Pipeline which);
  static llvm::Error verify(const llvm::Module &module);
  llvm::Error runPipeline(llvm::TargetMachine &tm, llvm::Module &module, Pipeline which) const;
  static llvm::Expected<llvm::SmallVector<char, 0>> generate(llvm::TargetMachine &tm, llvm::Module &module,
                                                             bool assembly);

  JitOptions options_;
  std::string cpu_, features_;
  std::unique_ptr<llvm::TargetMachine> tm_; ///< for the pass pipeline and emitting files
  /// Makes more target machines like tm_, one per thread of compile().
  std::unique_ptr<llvm::orc::JITTargetMachineBuilder> machineBuilder_;
  std::unique_ptr<llvm::DataLayout> dataLayout_;
  std::unique_ptr<llvm::Triple> triple_;
  std::unique_ptr<llvm::orc::LLJIT> lljit_; ///< null with JitOptions::emitOnly
  std::mutex mutex_; ///< tm_ and the pass pipeline are not thread-safe
};

} // namespace nnc
