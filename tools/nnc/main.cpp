//===- main.cpp - The nnc command-line driver -----------------------------------------------===//
//
// `nnc FILE [--emit=STAGE]` compiles a model and can stop after any stage to print it. The
// driver is the only place that prints diagnostics and chooses the exit status:
//   0 success, 1 an error in the user's model or data, 2 a usage error (bad flag, missing file).
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Builtins.h"
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace nnc;

namespace {

enum ExitCode { kOk = 0, kUserError = 1, kUsageError = 2 };

/// Reads a whole file; on failure prints why and returns false.
bool readFile(const std::string &path, std::string &out) {
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

/// Runs the verifier; a failure here is a compiler bug, reported as such.
bool verified(const Module &module) {
  std::vector<std::string> problems = verifyModule(module);
  for (const std::string &p : problems)
    fmt::print(stderr, "nnc: internal error: the IR does not verify: {}\n", p);
  return problems.empty();
}

/// `-x nnir`: parse textual IR, verify it and print it back (the round trip of the text form).
int compileIrText(const SourceFile &source, DiagnosticEngine &diags, const std::string &emit) {
  std::optional<Module> module = parseModule(source, diags);
  if (flushDiagnostics(diags) || !module)
    return kUserError;
  std::vector<std::string> problems = verifyModule(*module);
  for (const std::string &p : problems)
    fmt::print(stderr, "{}: error: {}\n", source.name(), p);
  if (!problems.empty())
    return kUserError;
  if (emit == "ast") {
    fmt::print(stderr, "nnc: error: --emit=ast needs a .nn model, not textual IR\n");
    return kUsageError;
  }
  if (emit == "ir")
    fmt::print("{}", printModule(*module));
  return kOk;
}

void printBuiltins() {
  BuiltinKind last = BuiltinKind::Schedule;
  bool first = true;
  for (const Builtin &b : builtins()) {
    if (first || b.kind != last)
      fmt::print("{}{}s:\n", first ? "" : "\n", describe(b.kind));
    first = false;
    last = b.kind;
    std::string sig;
    for (const BuiltinParam &p : b.params)
      sig += (sig.empty() ? "" : ", ") + std::string(p.name) + (p.required ? "" : "=");
    if (b.variadic)
      sig += sig.empty() ? "..." : ", ...";
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
  std::string language;
  std::string modelName;
  int64_t batch = 0;
  bool listBuiltins = false;
  app.add_option("file", file, "the model (.nn), or textual IR (.nnir)");
  app.add_option("--emit", emit, "print a stage's output and stop: ast, ir")
      ->check(CLI::IsMember({"ast", "ir"}));
  app.add_option("-x", language, "the input language: nn or nnir (default: by file extension)")
      ->check(CLI::IsMember({"nn", "nnir"}));
  app.add_option("--batch", batch, "minibatch size B (overrides the train block)")
      ->check(CLI::PositiveNumber);
  app.add_option("--model", modelName, "the model to compile when the file has several");
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
  if (language.empty())
    language = file.size() > 5 && file.ends_with(".nnir") ? "nnir" : "nn";
  if (language == "nnir")
    return compileIrText(source, diags, emit);
  Program program = parseProgram(source, diags);
  checkProgram(program, diags);
  if (flushDiagnostics(diags))
    return kUserError;
  if (emit == "ast") {
    fmt::print("{}", printAst(program));
    return kOk;
  }
  Module module;
  LowerOptions options;
  options.batch = batch;
  options.modelName = modelName;
  options.seed = readTrainConfig(program).seed;
  if (!lowerModel(program, options, module, diags)) {
    flushDiagnostics(diags);
    return kUserError;
  }
  flushDiagnostics(diags);
  if (!verified(module))
    return kUserError;
  if (emit == "ir") {
    fmt::print("{}", printModule(module));
    return kOk;
  }
  return kOk;
}
