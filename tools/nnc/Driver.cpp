//===- Driver.cpp - What the nnc commands share ---------------------------------------------===//
#include "tools/nnc/Driver.h"

#include "codegen/Emitter.h"
#include "passes/optimize/PassManager.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/ObjectCache.h"
#include "support/AtomicFile.h"
#include "support/ReadFile.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace nnc::driver {

std::optional<std::string> readFile(const std::string &path) {
  ReadOptions options;
  options.maxBytes = kMaxSourceBytes;
  options.allowStdin = true;
  auto text = nnc::readFile(path, options);
  if (!text) {
    fmt::print(stderr, "nnc: error: {}\n", text.message());
    return std::nullopt;
  }
  return std::move(*text);
}

CLI::Validator integerIn(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string &text) -> std::string {
        int64_t value = 0;
        const char *end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc::result_out_of_range)
          return fmt::format("{} is out of range: it must be from {} to {}", text, min, max);
        if (ec != std::errc() || ptr != end)
          return fmt::format("'{}' is not a whole number", text);
        if (value < min || value > max)
          return fmt::format("{} is out of range: it must be from {} to {}", text, min, max);
        return {};
      },
      fmt::format("INT in [{} - {}]", min, max));
}

CLI::Validator unsignedInteger() {
  return CLI::Validator(
      [](std::string &text) -> std::string {
        uint64_t value = 0;
        const char *end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc::result_out_of_range)
          return fmt::format("{} is out of range: it must be from 0 to {}", text, UINT64_MAX);
        if (ec != std::errc() || ptr != end)
          return fmt::format("'{}' is not a whole number from 0 to {}", text, UINT64_MAX);
        return {};
      },
      "UINT");
}

CLI::Validator finitePositive() {
  return CLI::Validator(
      [](std::string &text) -> std::string {
        char *end = nullptr;
        errno = 0;
        double value = text.empty() ? 0 : std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size())
          return fmt::format("'{}' is not a number", text);
        if (!std::isfinite(value) || errno == ERANGE)
          return fmt::format("{} is not a finite number", text);
        if (value <= 0)
          return fmt::format("{} must be greater than 0", text);
        return {};
      },
      "FLOAT > 0");
}

CLI::Validator nonEmpty() {
  return CLI::Validator([](std::string &text) { return text.empty() ? std::string("an empty value") : std::string(); },
                        "TEXT");
}

CLI::Validator inputFile(bool allowStdin) {
  return CLI::Validator(
      [allowStdin](std::string &path) -> std::string {
        auto ok = checkInputPath(path, allowStdin);
        return ok ? std::string() : ok.message();
      },
      "FILE");
}

CLI::Validator outputFile() {
  return CLI::Validator(
      [](std::string &path) -> std::string {
        auto ok = checkOutputPath(path);
        return ok ? std::string() : ok.message();
      },
      "FILE");
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

std::string formatJitTimes(const CompileTimes &t) {
  bool caching = !objectCacheDir().empty();
  auto object = [&](const CompileTimes::Object &o) {
    return o.fromCache ? fmt::format("{:.1f} ms from the object cache", o.loadMs)
                       : fmt::format("{:.0f} ms optimizing + {:.0f} ms machine code{}{}", o.optimizeMs,
                                     o.machineCodeMs,
                                     o.pieces > 1 ? fmt::format(" in {} pieces side by side", o.pieces) : "",
                                     caching ? " (now cached)" : "");
  };
  std::string gemm = t.gemmLevel.empty() ? object(t.gemm) : "prebuilt (" + t.gemmLevel + ")";
  return fmt::format("emit {:.1f} ms; model functions {}; GEMM routines {}", t.emitMs, object(t.model), gemm);
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
