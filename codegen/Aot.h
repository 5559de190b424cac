//===- Aot.h - The functions of a model as one self-contained module, for an object file ----===//
//
// Ahead-of-time compilation puts everything a model's compiled functions need into one LLVM
// module, so that its object file links with a C compiler and libc alone:
//
//   - the functions of each batch size (train_step, eval, predict), as PREFIX_FN_bN;
//   - the GEMM routines they call and the outlined loop bodies of their thread split;
//   - nnc_parallel_for, which runs the loop bodies serially unless the program installed its
//     own parallel-for with PREFIX_set_parallel_for(fn, user);
//   - PREFIX_init_state(state), which copies the initial state (bytes the caller lays out)
//     into the program's state block.
//
// Everything but those entry points has internal linkage, so two models link into one program.
// The modules are optimized exactly as the JIT optimizes them — the GEMM routines in a module of
// their own, each batch size's functions in one module — and only then linked, so the machine
// code of every function is the JIT's, and results are bitwise the JIT's at the same thread
// count. docs/AOT.md describes the calling convention.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Emitter.h"
#include "ir/Graph.h"

#include <llvm/Support/Error.h>

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace nnc {

class Jit;

/// The optimized training graphs (train_step, eval, predict) compiled for one batch size.
struct AotBatch {
  int64_t batch = 0;
  const Module *graphs = nullptr;
};

struct AotOptions {
  std::string prefix = "model"; ///< a C identifier: every exported symbol starts with PREFIX_
  /// Threads the matrix products and large loops are split for (EmitOptions::threads). The
  /// split is compiled in; it runs serially unless the program installs a parallel-for.
  int threads = 1;
  std::vector<std::string> disabledPasses; ///< code generation passes to turn off
  std::string initialState; ///< the bytes PREFIX_init_state copies into the state block
};

/// One exported function: IR function `function` of the graphs for `batch`.
struct AotEntry {
  std::string function;
  int64_t batch = 0;
  FunctionABI abi; ///< abi.symbol is the exported name, PREFIX_FUNCTION_bBATCH
};

/// The linked module and what it exports.
struct AotModule {
  AotModule();
  AotModule(AotModule &&);
  AotModule &operator=(AotModule &&);
  ~AotModule();
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module; ///< optimized: emit it with Jit::emitObject as it is
  std::vector<AotEntry> entries;        ///< per batch, in the graphs' function order
  int64_t arenaBytes = 0;               ///< the largest arena of any entry (GEMM scratch included)
};

/// The symbol of function `function` for batch `batch`: PREFIX_FUNCTION_bBATCH.
std::string aotSymbol(const std::string &prefix, const std::string &function, int64_t batch);

/// Emits, optimizes (with `jit`'s target) and links the functions of every batch, the GEMM
/// routines, the serial parallel-for and the state initializer into one module.
llvm::Expected<AotModule> buildAotModule(const std::vector<AotBatch> &batches, const AotOptions &options,
                                         Jit &jit);

} // namespace nnc
