//===- Driver.h - What the nnc commands share -----------------------------------------------===//
//
// The driver's commands (compile, check, train, eval, predict) each live in their own file and
// register themselves with the command line through a Command. They take their programs from
// the pipeline (pipeline/Pipeline.h); what they share is here: reading a file, printing an
// error and the exit codes. The driver is the only place that prints diagnostics and decides
// how nnc exits.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "pipeline/Pipeline.h"
#include "runtime/exec/Executable.h"
#include "support/Result.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace nnc::driver {

enum ExitCode { kOk = 0, kUserError = 1, kUsageError = 2 };

/// Reads a whole model file (a regular file of at most kMaxSourceBytes, or "-" for standard
/// input); on failure prints why ("cannot open 'x': No such file") and returns nullopt.
std::optional<std::string> readFile(const std::string &path);

/// Command-line validators (CLI11 checks, so a failure is a usage error, exit 2, before any
/// work starts). Numbers must be written whole: "1e3", "12abc", "nan", "inf" and values that
/// overflow are refused, never rounded or saturated.
/// An integer from `min` to `max`.
CLI::Validator integerIn(int64_t min, int64_t max);
/// An integer from 0 to 2^64-1 (seeds).
CLI::Validator unsignedInteger();
/// A finite number greater than 0 (learning rates).
CLI::Validator finitePositive();
/// Any text but the empty string (data specs such as "x.npy,y.npy" or "fashion-mnist").
CLI::Validator nonEmpty();
/// A path to read: not empty; an existing regular file ("-" too when `allowStdin`).
CLI::Validator inputFile(bool allowStdin = false);
/// A path to write: not empty, its directory exists and is writable, and it is not an existing
/// directory, device, FIFO or socket (support/AtomicFile.h's checkOutputPath).
CLI::Validator outputFile();

/// Prints a failure of the pipeline or the runtime: diagnostics as they are rendered
/// ("file:line:col: error: ..."), other messages after "nnc: error:" (or "nnc:" for an internal
/// error). Returns kUserError.
int reportError(const Error &error);

/// Declares the compile command's pass flags on `app`: --passes (into `passesFlag`, which may
/// be "list"), --disable-pass, --dump-after, --print-after-all and --stats.
void addPassFlags(CLI::App &app, CompileSettings &settings, std::string &passesFlag);
/// `--stats`' compile split of the JIT: "emit E ms; model functions ...; GEMM routines ...",
/// each object either loaded from the object cache or optimized and turned into machine code.
std::string formatJitTimes(const CompileTimes &times);
/// Splits the --passes value "a,b,c" into `settings.passes`.
void setPassList(CompileSettings &settings, std::string_view passesFlag);
/// `--passes=list`: the graph pipeline, then code generation's passes.
std::string describeAllPasses();

/// The compile command's ahead-of-time outputs (AotOutput.cpp).
struct AotFlags {
  std::string output; ///< -o: FILE.o, FILE.h, or with --emit=llvm|asm that text
  std::string header; ///< --header
  std::string prefix; ///< --prefix; empty: the model's name
  int64_t examples = 0; ///< --examples
  JitOptions jit;     ///< --target-cpu, --target
};
/// Declares -o, --header, --target-cpu, --target, --prefix and --examples on `app`.
void addAotFlags(CLI::App &app, AotFlags &flags);
/// Checks the flags before anything compiles: the output kind (from its extension and
/// `emit`), that the output directories exist and are writable, and that target flags come
/// with an output. Prints the problem and returns kUsageError, else kOk.
int checkAotFlags(const AotFlags &flags, const std::string &emit, bool irText);
/// Compiles `c` ahead of time and writes the files of `flags`; returns the exit code.
int writeAot(const Compilation &c, const AotFlags &flags, const std::string &emit);

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
