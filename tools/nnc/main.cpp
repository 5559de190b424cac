//===- main.cpp - The nnc command-line driver -----------------------------------------------===//
//
// `nnc FILE [--emit=STAGE]` compiles a model and can stop after any stage to print it. The
// driver is the only place that prints diagnostics and chooses the exit status:
//   0 success, 1 an error in the user's model or data, 2 a usage error (bad flag, missing file).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "frontend/Builtins.h"
#include "ir/TextPrinter.h"
#include "pipeline/Pipeline.h"
#include "runtime/exec/Executable.h"
#include "tools/nnc/Driver.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <limits>
#include <map>

using namespace nnc;

using namespace nnc::driver;

namespace {

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

/// The stage each --emit value prints.
CompileStage stageToEmit(const std::string &emit) {
  static const std::map<std::string, CompileStage> stages = {
      {"ast", CompileStage::Ast},   {"ir", CompileStage::ModelGraph}, {"grad", CompileStage::TrainingGraphs}, {"opt", CompileStage::KernelPlan},
      {"llvm", CompileStage::LlvmIr}, {"asm", CompileStage::Assembly}};
  return stages.at(emit);
}

/// `--emit=opt`: the optimized graphs, each function followed by the kernels it compiles to.
void printOptimized(const Module &module, const std::vector<KernelPlan> &kernelPlans) {
  fmt::print("{}", printModule(module));
  for (size_t i = 0; i < kernelPlans.size(); ++i) // as comments, so the text parses back
    fmt::print("{}", commentLines("\n" + describePlan(module.functions()[i], kernelPlans[i])));
}

/// `--stats` after the graph passes: each function's kernel summary (the first line of the plan
/// the Executable was compiled from) unless the listing was printed, then where the JIT compile
/// spent its time.
void printCodegenStats(const Module &module, bool summaries, const Executable &exe) {
  if (summaries)
    for (const Function &fn : module.functions())
      if (const KernelPlan *kp = exe.plan(fn.name())) {
        std::string plan = describePlan(fn, *kp);
        fmt::print(stderr, "{}", plan.substr(0, plan.find('\n') + 1));
      }
  fmt::print(stderr, "jit compile: {:.0f} ms in all; {}\n", exe.compileSeconds() * 1e3, formatJitTimes(exe.times()));
}

/// Compiles a .nn model (or textual IR) through the pipeline and prints the stage chosen by
/// --emit; with pass flags, the graph passes run (and --stats reports them) whatever the stage.
int compile(const std::string &file, const std::string &emit, std::string language, const CompileSettings &settings,
            const AotFlags &aot) {
  if (language.empty())
    language = file.size() > 5 && file.ends_with(".nnir") ? "nnir" : "nn";
  bool irText = language == "nnir";
  if (int status = checkAotFlags(aot, emit, irText); status != kOk)
    return status;
  std::optional<std::string> text = readFile(file);
  if (!text)
    return kUsageError;
  auto created = irText ? Compilation::fromIrText(file, std::move(*text), settings)
                        : Compilation::fromSource(file, std::move(*text), settings);
  if (!created)
    return reportError(created.error());
  Compilation &c = **created;
  fmt::print(stderr, "{}", c.warnings());
  if (!aot.output.empty() || !aot.header.empty()) // an object, its header or its code as text
    return writeAot(c, aot, emit);
  std::optional<CompileStage> stage;
  if (!emit.empty())
    stage = stageToEmit(emit);
  if (irText && (stage == CompileStage::Ast || stage == CompileStage::TrainingGraphs)) {
    fmt::print(stderr, "nnc: error: --emit={} needs a .nn model, not textual IR\n", emit);
    return kUsageError;
  }
  switch (stage.value_or(CompileStage::ModelGraph)) {
  case CompileStage::Ast:
    fmt::print("{}", printAst(c.ast()));
    return kOk;
  case CompileStage::ModelGraph: { // also without --emit: lowering finds the model's shape errors
    auto m = c.modelGraph();
    if (!m)
      return reportError(m.error());
    if (stage)
      fmt::print("{}", printModule(**m));
    if (!settings.asksForPasses())
      return kOk;
    break;
  }
  case CompileStage::TrainingGraphs: {
    auto m = c.trainingGraphs();
    if (!m)
      return reportError(m.error());
    fmt::print("{}", printModule(**m));
    return kOk;
  }
  default:
    break;
  }
  // The graph passes, and after them what codegen makes of the graphs.
  if (auto names = checkPassNames(settings); !names) {
    fmt::print(stderr, "nnc: error: {}\n", names.message());
    return kUsageError;
  }
  if (!irText) // textual IR is lowered already; its passes run on it directly
    if (auto m = c.trainingGraphs(); !m)
      return reportError(m.error());
  auto optimized = c.optimizedGraphs();
  if (settings.stats)
    fmt::print(stderr, "{}", formatStats(c.passReport()));
  if (!optimized)
    return reportError(optimized.error());
  if (irText) { // textual IR is a graph-pass test input: no kernels or code
    if (stage == CompileStage::KernelPlan)
      fmt::print("{}", printModule(**optimized));
    return kOk;
  }
  // The listing plans for the documented 512-bit vectors without building LLVM; --stats
  // summarizes the plan the Executable compiled for this host, so each plan is made once.
  if (stage == CompileStage::KernelPlan) {
    auto plans = c.kernelPlan();
    if (!plans)
      return reportError(plans.error());
    printOptimized(**optimized, **plans);
  }
  if (settings.stats) {
    auto exe = c.executable();
    if (!exe)
      return reportError(exe.error());
    printCodegenStats(**optimized, stage != CompileStage::KernelPlan, **exe);
  }
  if (stage == CompileStage::LlvmIr || stage == CompileStage::Assembly) {
    auto text = c.llvmText(stage == CompileStage::Assembly);
    if (!text)
      return reportError(text.error());
    fmt::print("{}", *text);
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
             "  nnc examples/iris.nn -o iris.o --header iris.h --examples 150\n"
             "  nnc --list-builtins");
  app.require_subcommand(0, 1);

  std::string file;
  std::string emit;
  std::string language;
  bool listBuiltins = false;
  CompileSettings settings;
  std::string passesFlag;
  app.add_option("file", file, "the model (.nn), or textual IR (.nnir); - reads standard input");
  app.add_option("--emit", emit,
                 "print a stage's output and stop: ast (syntax tree), ir (the model's graph), "
                 "grad (train step, eval and predict graphs), opt (the same after the graph passes), llvm (their optimized LLVM IR), "
                 "asm (their machine code)")
      ->check(CLI::IsMember({"ast", "ir", "grad", "opt", "llvm", "asm"}));
  app.add_option("-x", language, "the input language: nn or nnir (default: by file extension)")
      ->check(CLI::IsMember({"nn", "nnir"}));
  app.add_option("--batch", settings.train.batch, "minibatch size B (overrides the train block)")
      ->check(integerIn(1, std::numeric_limits<int64_t>::max()));
  app.add_option("--model", settings.modelName, "the model to compile when the file has several");
  AotFlags aot;
  int64_t seed = -1, epochs = 0;
  addAotFlags(app, aot);
  app.add_option("--seed", seed, "the seed of the initial state and the shuffle (overrides the train block)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--epochs", epochs, "epochs that schedules count (overrides the train block)")->check(CLI::PositiveNumber);
  app.add_option("--threads", settings.threads, "blocks the large kernels are split into (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--list-builtins", listBuiltins, "list the functions, layers and settings of the language");
  addPassFlags(app, settings, passesFlag);

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
  if (passesFlag == "list") {
    fmt::print("{}", describeAllPasses());
    return kOk;
  }
  if (file.empty()) {
    fmt::print(stderr, "nnc: error: no input file\nRun 'nnc --help' for usage.\n");
    return kUsageError;
  }
  setPassList(settings, passesFlag);
  if (seed >= 0)
    settings.train.seed = static_cast<uint64_t>(seed);
  if (epochs > 0)
    settings.train.epochs = epochs;
  settings.dump = [](const std::string &text) { fmt::print(stderr, "{}", text); };
  return compile(file, emit, language, settings, aot);
}
