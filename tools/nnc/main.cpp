//===- main.cpp - The nnc command-line driver -----------------------------------------------===//
//
// `nnc FILE [--emit=STAGE]` compiles a model and can stop after any stage to print it. The
// driver is the only place that prints diagnostics and chooses the exit status:
//   0 success, 1 an error in the user's model or data, 2 a usage error (bad flag, missing file).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "frontend/Builtins.h"
#include "frontend/Lower.h"
#include "ir/TextParser.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"
#include "runtime/exec/Executable.h"
#include "tools/nnc/Driver.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>


using namespace nnc;

using namespace nnc::driver;

namespace {

/// `-x nnir`: parse textual IR, verify it and print it back (the round trip of the text form).
int compileIrText(const SourceFile &source, DiagnosticEngine &diags, const std::string &emit,
                  const PipelineFlags &pipeline) {
  std::optional<Module> module = parseModule(source, diags);
  if (flushDiagnostics(diags) || !module)
    return kUserError;
  std::vector<std::string> problems = verifyModule(*module);
  for (const std::string &p : problems)
    fmt::print(stderr, "{}: error: {}\n", source.name(), p);
  if (!problems.empty())
    return kUserError;
  if (emit == "ast" || emit == "grad") {
    fmt::print(stderr, "nnc: error: --emit={} needs a .nn model, not textual IR\n", emit);
    return kUsageError;
  }
  if (emit == "ir")
    fmt::print("{}", printModule(*module));
  if (emit == "opt" || (emit.empty() && pipeline.any())) {
    auto optimized = optimize(std::move(*module), pipeline);
    if (auto *code = std::get_if<int>(&optimized))
      return *code;
    if (emit == "opt")
      fmt::print("{}", printModule(std::get<Module>(optimized)));
  }
  return kOk;
}

/// "layer" -> "layers", "loss" -> "losses", "penalty" -> "penalties".
std::string plural(std::string_view noun) {
  std::string s(noun);
  if (s.ends_with("s"))
    return s + "es";
  if (s.ends_with("y"))
    return s.substr(0, s.size() - 1) + "ies";
  return s + "s";
}

void printBuiltins() {
  BuiltinKind last = BuiltinKind::Schedule;
  bool first = true;
  for (const Builtin &b : builtins()) {
    if (first || b.kind != last)
      fmt::print("{}{}:\n", first ? "" : "\n", plural(describe(b.kind)));
    first = false;
    last = b.kind;
    std::string sig = b.variadic ? "..." : "";
    for (const BuiltinParam &p : b.params)
      sig += (sig.empty() ? "" : ", ") + std::string(p.name) + (p.required ? "" : "=");
    fmt::print("  {:<42} {}\n", fmt::format("{}({})", b.name, sig), b.doc);
  }
  fmt::print("\ntrain block settings:\n");
  for (const TrainSettingSpec &s : trainSettings())
    fmt::print("  {:<42} {}\n", s.name, s.doc);
}

/// The subcommands, in the order --help lists them.
const std::vector<std::unique_ptr<Command> (*)()> kCommands = {makeTrainCommand, makeEvalCommand,
                                                               makePredictCommand, makeCheckCommand};

/// Compiles a .nn model (or textual IR) and prints the stage chosen by --emit.
int compile(const std::string &file, const std::string &emit, std::string language,
            const std::string &modelName, int64_t batch, const PipelineFlags &pipeline) {
  if (language.empty())
    language = file.size() > 5 && file.ends_with(".nnir") ? "nnir" : "nn";
  if (language == "nnir") {
    std::optional<std::string> text = readFile(file);
    if (!text)
      return kUsageError;
    SourceFile source(file, std::move(*text));
    DiagnosticEngine diags(&source);
    return compileIrText(source, diags, emit, pipeline);
  }
  auto loaded = loadProgram(file);
  if (auto *code = std::get_if<int>(&loaded))
    return *code;
  LoadedProgram &l = std::get<LoadedProgram>(loaded);
  if (emit == "ast") {
    fmt::print("{}", printAst(l.program));
    return kOk;
  }
  Module module;
  LowerOptions options;
  options.batch = batch;
  options.modelName = modelName;
  options.seed = l.config.seed;
  if (!lowerAndVerify(l, options, module))
    return kUserError;
  if (emit == "ir")
    fmt::print("{}", printModule(module));
  bool optimizing = emit == "opt" || emit == "llvm" || emit == "asm" || pipeline.any();
  if (emit == "grad" || optimizing) {
    // The data set's size is not known here: schedules count one step per epoch.
    std::optional<Module> training = buildTraining(l, options, /*stepsPerEpoch=*/1);
    if (!training)
      return kUserError;
    if (emit == "grad") {
      fmt::print("{}", printModule(*training));
      return kOk;
    }
    auto optimized = optimize(std::move(*training), pipeline);
    if (auto *code = std::get_if<int>(&optimized))
      return *code;
    Module &m = std::get<Module>(optimized);
    // What codegen makes of the optimized graphs: kernels, fused ops, the arena.
    EmitOptions eo;
    eo.threads = 1;
    disableCodegenPasses(eo, pipeline.disabled);
    if (emit == "opt") {
      fmt::print("{}", printModule(m));
      for (const Function &fn : m.functions())
        fmt::print("\n{}", describeKernels(fn, eo));
    } else if (pipeline.stats) {
      for (const Function &fn : m.functions()) {
        std::string text = describeKernels(fn, eo);
        fmt::print(stderr, "{}", text.substr(0, text.find('\n') + 1));
      }
    }
    if (pipeline.stats) {
      // The JIT compile the Trainer would make of these functions, phase by phase.
      CompileOptions co;
      co.disabledPasses = pipeline.disabled;
      auto exe = Executable::compile(m, co);
      if (!exe) {
        fmt::print(stderr, "nnc: error: code generation failed: {}\n", exe.message());
        return kUserError;
      }
      const CompileTimes &t = (*exe)->times();
      bool caching = !objectCacheDir().empty();
      auto object = [&](const CompileTimes::Object &o) {
        return o.fromCache ? fmt::format("{:.1f} ms from the object cache", o.loadMs)
                           : fmt::format("{:.0f} ms optimizing + {:.0f} ms machine code{}", o.optimizeMs,
                                         o.machineCodeMs, caching ? " (now cached)" : "");
      };
      fmt::print(stderr, "jit compile: {:.0f} ms in all; emit {:.1f} ms; model functions {}; GEMM routines {}\n",
                 (*exe)->compileSeconds() * 1e3, t.emitMs, object(t.model), object(t.gemm));
    }
    if (emit == "llvm" || emit == "asm") {
      auto text = emitModuleText(m, emit == "asm", pipeline.disabled);
      if (!text) {
        fmt::print(stderr, "nnc: error: code generation failed: {}\n", text.message());
        return kUserError;
      }
      fmt::print("{}", *text);
    }
  }
  return kOk;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"nnc: compiles a neural network and its training step, written in the .nn "
               "language, to native code.\n"};
  app.set_version_flag("--version", std::string("nnc ") + NNC_VERSION);
  app.footer("Exit status: 0 success, 1 error in the model or data, 2 usage error.\n"
             "Examples:\n  nnc examples/iris.nn --emit=ir\n  nnc check examples/iris.nn\n"
             "  nnc --list-builtins");
  app.require_subcommand(0, 1);

  std::string file;
  std::string emit;
  std::string language;
  std::string modelName;
  int64_t batch = 0;
  bool listBuiltins = false;
  app.add_option("file", file, "the model (.nn), or textual IR (.nnir)");
  app.add_option("--emit", emit,
                 "print a stage's output and stop: ast (syntax tree), ir (the model's graph), "
                 "grad (train step, eval and predict graphs), opt (the same after the graph passes), llvm (their optimized LLVM IR), "
                 "asm (their machine code)")
      ->check(CLI::IsMember({"ast", "ir", "grad", "opt", "llvm", "asm"}));
  app.add_option("-x", language, "the input language: nn or nnir (default: by file extension)")
      ->check(CLI::IsMember({"nn", "nnir"}));
  app.add_option("--batch", batch, "minibatch size B (overrides the train block)")
      ->check(CLI::PositiveNumber);
  app.add_option("--model", modelName, "the model to compile when the file has several");
  app.add_flag("--list-builtins", listBuiltins, "list the functions, layers and settings of the language");
  PipelineFlags pipeline;
  addPipelineFlags(app, pipeline);

  std::vector<std::pair<CLI::App *, std::unique_ptr<Command>>> commands;
  for (std::unique_ptr<Command> (*make)() : kCommands) {
    std::unique_ptr<Command> cmd = make();
    CLI::App *sub = cmd->attach(app);
    commands.emplace_back(sub, std::move(cmd));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "nnc: error: {}\nRun 'nnc --help' for usage.\n", e.what());
    return kUsageError;
  }

  for (auto &[sub, cmd] : commands)
    if (sub->parsed())
      return cmd->run();
  if (listBuiltins) {
    printBuiltins();
    return kOk;
  }
  if (pipeline.passes == "list") {
    fmt::print("{}", describeAllPasses());
    return kOk;
  }
  if (file.empty()) {
    fmt::print(stderr, "nnc: error: no input file\nRun 'nnc --help' for usage.\n");
    return kUsageError;
  }
  return compile(file, emit, language, modelName, batch, pipeline);
}
