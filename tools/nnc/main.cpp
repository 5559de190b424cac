//===- main.cpp - The nnc command-line driver -----------------------------------------------===//
//
// `nnc FILE [--emit=STAGE]` compiles a model and can stop after any stage to print it. The
// driver is the only place that prints diagnostics and chooses the exit status:
//   0 success, 1 an error in the user's model or data, 2 a usage error (bad flag, missing file).
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Builtins.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace nnc;

namespace {

enum ExitCode { kOk = 0, kUserError = 1, kUsageError = 2 };

/// Reads a whole file; on failure prints why and returns false.
bool readFile(const std::string &path, std::string &out) {
  // A directory opens as a stream that reads nothing; it must not compile as an empty model.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    fmt::print(stderr, "nnc: error: cannot open '{}': {}\n", path, std::strerror(EISDIR));
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "nnc: error: cannot open '{}': {}\n", path, std::strerror(errno));
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    fmt::print(stderr, "nnc: error: cannot read '{}'\n", path);
    return false;
  }
  out = ss.str();
  return true;
}

/// Prints the diagnostics collected so far; returns true if there were errors.
bool flushDiagnostics(const DiagnosticEngine &diags) {
  std::string text = diags.renderAll();
  if (!text.empty())
    fmt::print(stderr, "{}", text);
  return diags.hasErrors();
}

/// "layer" -> "layers", "loss" -> "losses", "penalty" -> "penalties".
std::string plural(std::string_view noun) {
  if (noun.ends_with('y'))
    return std::string(noun.substr(0, noun.size() - 1)) + "ies";
  return std::string(noun) + (noun.ends_with('s') ? "es" : "s");
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

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"nnc: compiles a neural network and its training step, written in the .nn "
               "language, to native code.\n"};
  app.set_version_flag("--version", std::string("nnc ") + NNC_VERSION);
  app.footer("Exit status: 0 success, 1 error in the model or data, 2 usage error.\n"
             "Examples:\n  nnc examples/iris.nn --emit=ast\n  nnc --list-builtins");

  std::string file;
  std::string emit;
  bool listBuiltins = false;
  app.add_option("file", file, "the model (.nn)");
  app.add_option("--emit", emit, "print a stage's output and stop: ast")
      ->check(CLI::IsMember({"ast"}));
  app.add_flag("--list-builtins", listBuiltins, "list the functions, layers and settings of the language");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    fmt::print(stderr, "nnc: error: {}\nRun 'nnc --help' for usage.\n", e.what());
    return kUsageError;
  }

  if (listBuiltins) {
    printBuiltins();
    return kOk;
  }
  if (file.empty()) {
    fmt::print(stderr, "nnc: error: no input file\nRun 'nnc --help' for usage.\n");
    return kUsageError;
  }
  std::string text;
  if (!readFile(file, text))
    return kUsageError;

  SourceFile source(file, std::move(text));
  DiagnosticEngine diags(&source);
  Program program = parseProgram(source, diags);
  checkProgram(program, diags);
  if (flushDiagnostics(diags))
    return kUserError;
  if (emit == "ast") {
    fmt::print("{}", printAst(program));
    return kOk;
  }
  return kOk;
}
