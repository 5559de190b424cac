//===- Driver.h - What the nnc commands share -----------------------------------------------===//
//
// The driver's commands (compile, check, train, eval, predict) each live in their own file and
// register themselves with the command line through a Command. Loading a model — read, parse,
// check, read the train block — is shared here, and so are the exit codes: the driver is the
// only place that prints diagnostics and decides how nnc exits.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/AST.h"
#include "frontend/Lower.h"
#include "support/Diagnostic.h"
#include "ir/Graph.h"
#include "passes/optimize/PassManager.h"
#include "passes/training/TrainStep.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace nnc::driver {

enum ExitCode { kOk = 0, kUserError = 1, kUsageError = 2 };

/// Reads a whole file; on failure prints why ("cannot open 'x': No such file") and returns
/// nullopt.
std::optional<std::string> readFile(const std::string &path);

/// Prints the diagnostics collected so far; returns true if there were errors.
bool flushDiagnostics(const DiagnosticEngine &diags);

/// Runs the verifier; a failure is a compiler bug, reported as an internal error.
bool verified(const Module &module);

/// A parsed and checked .nn file. The source outlives the diagnostics that point into it.
struct LoadedProgram {
  std::unique_ptr<SourceFile> source;
  std::unique_ptr<DiagnosticEngine> diags;
  Program program;
  TrainConfig config;
};

/// Reads, parses and checks `path`. On failure prints the reason and returns the exit code.
std::variant<LoadedProgram, int> loadProgram(const std::string &path);

/// Lowers the model of `loaded` in `options.mode` into `module` and verifies it; prints
/// diagnostics. Returns false on any error.
std::optional<LoweredModel> lowerAndVerify(LoadedProgram &loaded, const LowerOptions &options,
                                           Module &module);

/// The train block's settings as the train-step builder takes them; schedules count epochs of

/// Lowers the model of `loaded` in Train, Eval and Predict modes (batch, model and seed from
/// `options`) and builds the training Module: `train_step`, `eval` and `predict`. Prints
/// diagnostics and returns nullopt on any error.
std::optional<Module> buildTraining(LoadedProgram &loaded, const LowerOptions &options, int64_t stepsPerEpoch);

/// The pass-manager flags of the compile command: --passes, --disable-pass, --dump-after,
/// --print-after-all, --stats.
struct PipelineFlags {
  std::string passes; ///< "a,b,c", "list" or empty (the default pipeline)
  std::vector<std::string> disabled, dumpAfter;
  bool printAfterAll = false, stats = false;
  /// True when a flag asks for the pipeline (it then runs even without --emit=opt).
  bool any() const { return !passes.empty() || !disabled.empty() || !dumpAfter.empty() || printAfterAll || stats; }
};
/// Declares the PipelineFlags options on the compile command.
void addPipelineFlags(CLI::App &app, PipelineFlags &flags);
/// Runs the graph pipeline (PassManager.h) over `module` as `flags` say, printing dumps and the
/// --stats table to stderr. Returns the optimized module, or the exit code after printing why
/// (an unknown pass name is a usage error).
std::variant<Module, int> optimize(Module module, const PipelineFlags &flags);
/// The graph pass names among `names` (the rest name codegen passes).
std::vector<std::string> graphPassesIn(const std::vector<std::string> &names);
/// `--passes=list`: the graph pipeline, then code generation's passes.
std::string describeAllPasses();

/// A subcommand: `attach` declares its options on the CLI11 subcommand; `run` executes it
/// after parsing and returns the exit code.
struct Command {
  virtual ~Command() = default;
  virtual CLI::App *attach(CLI::App &app) = 0;
  virtual int run() = 0;
};

/// `nnc check`: the gradient check of every parameter (CheckCommand.cpp).
std::unique_ptr<Command> makeCheckCommand();
std::unique_ptr<Command> makeTrainCommand();
std::unique_ptr<Command> makeEvalCommand();
std::unique_ptr<Command> makePredictCommand();

} // namespace nnc::driver
