//===- Driver.cpp - What the nnc commands share ---------------------------------------------===//
#include "tools/nnc/Driver.h"

#include "codegen/Emitter.h"
#include "passes/optimize/PassManager.h"

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

int reportError(const Error &error) {
  std::string m = error.message;
  while (!m.empty() && m.back() == '\n')
    m.pop_back();
  // Diagnostics already carry "file:line:col: error:"; other messages get the tool's prefix.
  if (m.find(": error:") != std::string::npos)
    fmt::print(stderr, "{}\n", m);
  else if (m.starts_with("internal error"))
    fmt::print(stderr, "nnc: {}\n", m);
  else
    fmt::print(stderr, "nnc: error: {}\n", m);
  return kUserError;
}

} // namespace nnc::driver

namespace nnc::driver {

void addPassFlags(CLI::App &app, CompileSettings &settings, std::string &passesFlag) {
  app.add_option("--passes", passesFlag,
                 "run exactly these graph passes, comma-separated (default: the whole pipeline); "
                 "'list' prints the pipeline");
  app.add_option("--disable-pass", settings.disabledPasses, "skip this graph or code generation pass (repeatable)");
  app.add_option("--dump-after", settings.dumpAfter, "print the IR to stderr after this pass (repeatable)");
  app.add_flag("--print-after-all", settings.printAfterAll, "print the IR to stderr after every pass");
  app.add_flag("--stats", settings.stats, "print per pass the ops and intermediate bytes before and after (stderr)");
}

void setPassList(CompileSettings &settings, std::string_view rest) {
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    settings.passes.emplace_back(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
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

} // namespace nnc::driver
