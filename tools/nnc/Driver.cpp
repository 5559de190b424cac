//===- Driver.cpp - What the nnc commands share ---------------------------------------------===//
#include "tools/nnc/Driver.h"

#include "runtime/train/TrainingModule.h"
#include "codegen/Emitter.h"

#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Verifier.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nnc::driver {

std::optional<std::string> readFile(const std::string &path) {
  // A directory opens as a stream that reads nothing; it must not compile as an empty model.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    fmt::print(stderr, "nnc: error: cannot open '{}': {}\n", path, std::strerror(EISDIR));
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "nnc: error: cannot open '{}': {}\n", path, std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    fmt::print(stderr, "nnc: error: cannot read '{}'\n", path);
    return std::nullopt;
  }
  return ss.str();
}

bool flushDiagnostics(const DiagnosticEngine &diags) {
  std::string text = diags.renderAll();
  if (!text.empty())
    fmt::print(stderr, "{}", text);
  return diags.hasErrors();
}

bool verified(const Module &module) {
  std::vector<std::string> problems = verifyModule(module);
  for (const std::string &p : problems)
    fmt::print(stderr, "nnc: internal error: the IR does not verify: {}\n", p);
  return problems.empty();
}

std::variant<LoadedProgram, int> loadProgram(const std::string &path) {
  std::optional<std::string> text = readFile(path);
  if (!text)
    return kUsageError;
  LoadedProgram l;
  l.source = std::make_unique<SourceFile>(path, std::move(*text));
  l.diags = std::make_unique<DiagnosticEngine>(l.source.get());
  l.program = parseProgram(*l.source, *l.diags);
  checkProgram(l.program, *l.diags);
  if (flushDiagnostics(*l.diags))
    return kUserError;
  l.config = readTrainConfig(l.program);
  return l;
}

std::optional<LoweredModel> lowerAndVerify(LoadedProgram &loaded, const LowerOptions &options,
                                           Module &module) {
  DiagnosticEngine diags(loaded.source.get());
  std::optional<LoweredModel> lowered = lowerModel(loaded.program, options, module, diags);
  if (flushDiagnostics(diags) || !lowered || !verified(module))
    return std::nullopt;
  module.setSourceName(loaded.source->name());
  return lowered;
}

std::optional<Module> buildTraining(LoadedProgram &loaded, const LowerOptions &options, int64_t stepsPerEpoch) {
  DiagnosticEngine diags(loaded.source.get());
  std::optional<Module> m = lowerTraining(loaded.program, options, loaded.config, stepsPerEpoch, diags);
  flushDiagnostics(diags);
  if (m)
    m->setSourceName(loaded.source->name());
  return m;
}

} // namespace nnc::driver

namespace nnc::driver {

void addPipelineFlags(CLI::App &app, PipelineFlags &flags) {
  app.add_option("--passes", flags.passes,
                 "run exactly these graph passes, comma-separated (default: the whole pipeline); "
                 "'list' prints the pipeline");
  app.add_option("--disable-pass", flags.disabled, "skip this graph or code generation pass (repeatable)");
  app.add_option("--dump-after", flags.dumpAfter, "print the IR to stderr after this pass (repeatable)");
  app.add_flag("--print-after-all", flags.printAfterAll, "print the IR to stderr after every pass");
  app.add_flag("--stats", flags.stats, "print per pass the ops and intermediate bytes before and after (stderr)");
}

std::vector<std::string> graphPassesIn(const std::vector<std::string> &names) {
  std::vector<std::string> graph;
  for (const std::string &name : names)
    if (findPass(name))
      graph.push_back(name);
  return graph;
}

std::string describeAllPasses() {
  std::string out = "graph passes:\n";
  const std::string graph = describePipeline();
  for (std::string_view line = graph; !line.empty();) {
    size_t nl = line.find('\n');
    out += fmt::format("  {}\n", line.substr(0, nl));
    line = nl == std::string_view::npos ? std::string_view() : line.substr(nl + 1);
  }
  out += "code generation:\n";
  for (const CodegenPass &p : codegenPasses())
    out += fmt::format("  {:<18} {}\n", p.name, p.description);
  return out;
}

std::variant<Module, int> optimize(Module module, const PipelineFlags &flags) {
  PipelineOptions options;
  for (std::string_view rest = flags.passes; !rest.empty();) {
    size_t comma = rest.find(',');
    options.passes.emplace_back(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  for (const std::string &name : options.passes)
    if (!findPass(name)) {
      fmt::print(stderr, "nnc: error: unknown pass '{}' (--passes=list shows the pipeline)\n", name);
      return kUsageError;
    }
  for (const std::string &name : flags.disabled)
    if (!findPass(name) && !findCodegenPass(name)) {
      fmt::print(stderr, "nnc: error: unknown pass '{}' (--passes=list shows the pipeline)\n", name);
      return kUsageError;
    }
  for (const std::string &name : flags.dumpAfter)
    if (!findPass(name)) {
      fmt::print(stderr, "nnc: error: unknown pass '{}' (--passes=list shows the pipeline)\n", name);
      return kUsageError;
    }
  options.disabled = graphPassesIn(flags.disabled);
  options.dumpAfter = flags.dumpAfter;
  options.printAfterAll = flags.printAfterAll;
  options.dump = [](const std::string &text) { fmt::print(stderr, "{}", text); };
  PipelineReport report;
  std::optional<Module> optimized = runPipeline(std::move(module), options, &report);
  if (flags.stats)
    fmt::print(stderr, "{}", formatStats(report));
  if (!optimized) {
    fmt::print(stderr, "nnc: internal error: {}\n", report.error);
    return kUserError;
  }
  return std::move(*optimized);
}

} // namespace nnc::driver
