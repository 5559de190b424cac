//===- PassManager.h - The graph optimization pipeline --------------------------------------===//
//
// The pass manager runs named passes (GraphPasses.h) in order over every Function of a Module,
// measures each (ops and intermediate bytes before and after, changes, time), can verify the
// module after each pass and print it after chosen passes. The driver exposes it as
// `nnc model.nn --emit=opt` with --passes, --disable-pass, --dump-after, --print-after-all and
// --stats; the runtime calls runPipeline on the training module before code generation:
//
//   PipelineReport report;
//   Result<Module> optimized = runPipeline(std::move(training), {}, &report);
//   if (!optimized) ... optimized.message() says which pass failed and why (a compiler bug) ...
//
// Every pass keeps the functions' signatures, result names and state updates, so the optimized
// module is a drop-in replacement for the one given.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "support/Result.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// One graph pass: a name for the command line, a one-line description, and the function that
/// rewrites one Function in place and returns how many changes it made.
struct Pass {
  std::string_view name;
  std::string_view description;
  size_t (*run)(Function &);
};

/// Every pass, in the order of the default pipeline's first use.
std::span<const Pass> registeredPasses();
/// The pass with this name, or nullptr.
const Pass *findPass(std::string_view name);
/// The names of the default pipeline, in order (a pass may appear more than once).
std::span<const std::string_view> defaultPipeline();

/// What one pass did to the whole module.
struct PassStats {
  std::string pass;
  size_t opsBefore = 0, opsAfter = 0;       ///< nodes, summed over the functions
  uint64_t bytesBefore = 0, bytesAfter = 0; ///< intermediateBytes, summed over the functions
  size_t changes = 0;                       ///< what the pass's run returned, summed
  double milliseconds = 0;
};

/// The bytes of all values computed by `f`: the sum over its nodes of numElements × element
/// size (f32, i32: 4; f64: 8; i1: 1). It counts every node, views and constants included, so it
/// bounds from above what code generation allocates.
uint64_t intermediateBytes(const Function &f);

#ifdef NDEBUG
inline constexpr bool kVerifyEachPassByDefault = false;
#else
inline constexpr bool kVerifyEachPassByDefault = true;
#endif

/// How runPipeline runs.
struct PipelineOptions {
  /// The passes to run, in order; empty means defaultPipeline().
  std::vector<std::string> passes;
  /// Passes skipped wherever they occur (differential tests turn each pass off in turn).
  std::vector<std::string> disabled;
  /// Run the verifier after every pass and fail on the first problem (on in debug builds and
  /// in tests).
  bool verifyEach = kVerifyEachPassByDefault;
  /// Print the module after each of these passes, or after every pass with printAfterAll.
  std::vector<std::string> dumpAfter;
  bool printAfterAll = false;
  /// Receives each printed module, headed by a `// ----- after <pass> -----` line; printing is
  /// off while unset.
  std::function<void(const std::string &)> dump;
};

/// What runPipeline did, pass by pass.
struct PipelineReport {
  std::vector<PassStats> stats; ///< one entry per pass run, in order
};

/// Runs the pipeline of `options` over every function of `module`. Returns the optimized module,
/// or an Error when a pass name is unknown or the module does not verify after a pass
/// (verifyEach, a compiler bug). `report` (may be null) receives the passes' statistics.
Result<Module> runPipeline(Module module, const PipelineOptions &options = {},
                                  PipelineReport *report = nullptr);

/// The pipeline with its passes' descriptions, one per line, as `nnc --passes=list` prints it.
std::string describePipeline();

/// The per-pass statistics as a table, with a total line (ops and bytes before the first pass
/// and after the last).
std::string formatStats(const PipelineReport &report);

} // namespace nnc
