//===- frontend_robustness_test.cpp - No input crashes or hangs the frontend ----------------===//
//
// Feeds the lexer, parser and semantic checks thousands of broken inputs made from the example
// files (every prefix, random byte and token mutations, halves of two files spliced together)
// and pathological ones (1 MB of '(', deep nesting, binary, NUL bytes, 100k-line files). Every
// input must give either no errors or at least one error, every diagnostic must point at a
// place inside the file, rendering and AST printing must work, and no input may take long.
// The seeds are fixed, so a failure reproduces.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lexer.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include <catch2/catch.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace nnc;

namespace {

/// CPU seconds one input may take on its thread, even under the sanitizers; the quadratic and
/// exponential cases this guards against took minutes. CPU time of the thread, not wall time,
/// so that other work on a busy machine does not count (a loaded 2-core machine once took
/// 26 s of wall time for what is 4 s alone).
#if defined(__SANITIZE_ADDRESS__)
constexpr double kSecondsPerInput = 60.0; // sanitizers make every step 3-10x slower
#else
constexpr double kSecondsPerInput = 5.0;
#endif

std::vector<std::string> examples() {
  std::vector<std::filesystem::path> paths;
  for (const auto &entry : std::filesystem::directory_iterator(NNC_EXAMPLES_DIR))
    if (entry.path().extension() == ".nn")
      paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end()); // a fixed order keeps the seeds meaningful
  std::vector<std::string> texts;
  for (const auto &p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    texts.push_back(ss.str());
  }
  return texts;
}

/// Runs the whole frontend on `text`; returns an empty string if all is well, else what is not.
std::string frontendProblem(const std::string &text) {
  auto threadSeconds = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
  };
  const double start = threadSeconds();
  SourceFile file("fuzz.nn", text);
  DiagnosticEngine diags(&file);
  Program prog = parseProgram(file, diags);
  checkProgram(prog, diags);
  std::string rendered = diags.renderAll();
  std::string ast = printAst(prog);
  double secs = threadSeconds() - start;
  if (secs > kSecondsPerInput)
    return "took " + std::to_string(secs) + " s of CPU";
  if (ast.rfind("Program\n", 0) != 0)
    return "the AST printout does not start with 'Program'";
  bool keptError = false;
  for (const Diagnostic &d : diags.diagnostics()) {
    keptError |= d.severity == Severity::Error;
    const SourceLoc &l = d.loc;
    if (!l.valid() || l.line > file.lineCount() || l.col < 1 || l.len < 1 ||
        l.col > file.lineText(l.line).size() + 2)
      return "diagnostic '" + d.message + "' has a place outside the file: " +
             std::to_string(l.line) + ":" + std::to_string(l.col) + "+" + std::to_string(l.len);
    if (d.message.empty())
      return "a diagnostic without a message";
  }
  if (diags.hasErrors() != keptError)
    return "the error count and the kept errors disagree";
  if (diags.hasErrors() && rendered.find(": error: ") == std::string::npos)
    return "errors were counted but none rendered";
  return {};
}

/// Checks one input; on failure names it and shows (the start of) the text.
void requireSane(const std::string &text, const std::string &what) {
  std::string problem = frontendProblem(text);
  if (!problem.empty())
    FAIL(what << ": " << problem << "\ninput (first 300 bytes):\n" << text.substr(0, 300));
}

/// The byte ranges of the tokens of `text`, for token-level mutations.
std::vector<std::pair<size_t, size_t>> tokenSpans(const std::string &text) {
  SourceFile file("t.nn", text);
  DiagnosticEngine diags(&file);
  std::vector<size_t> lineStart{0};
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n')
      lineStart.push_back(i + 1);
  std::vector<std::pair<size_t, size_t>> spans;
  for (const Token &t : lex(file, diags))
    if (t.kind != Tok::Eof)
      spans.emplace_back(lineStart[t.loc.line - 1] + t.loc.col - 1, t.loc.len);
  return spans;
}

const char *const kTokens[] = {"(",     ")",      "{",    "}",     "[",      "]",     ",",
                               "=",     ":",      "@",    "-",     "+",      "*",     "/",
                               "\n",    "model",  "def",  "train", "return", "loss",  "param",
                               "input", "target", "output", "x",   "B",      "dense", "relu(",
                               "1e",    "0.5",    "3",    "\"",    "#",      "true",  " = ",
                               "act =", "l2(",    "f32[", "$",     "\xC3\xA9", "\r\n", "\t"};

} // namespace

TEST_CASE("every prefix of every example", "[frontend][robustness]") {
  size_t inputs = 0;
  for (const std::string &text : examples())
    for (size_t n = 0; n <= text.size(); ++n, ++inputs)
      requireSane(text.substr(0, n), "prefix of " + std::to_string(n) + " bytes");
  CHECK(inputs > 1500);
}

TEST_CASE("random byte and token mutations of the examples", "[frontend][robustness]") {
  std::vector<std::string> texts = examples();
  REQUIRE_FALSE(texts.empty());
  size_t inputs = 0, failedToCompile = 0;
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    std::mt19937 rng(seed);
    std::string text = texts[seed % texts.size()];
    int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 6) {
      case 0: text[at] = char(rng() % 256); break;                 // flip a byte
      case 1: text.insert(at, 1, char(rng() % 256)); break;        // insert a byte
      case 2: text.erase(at, 1 + rng() % 3); break;                // delete bytes
      case 3: text.insert(at, kTokens[rng() % std::size(kTokens)]); break; // insert a token
      default: {                                                   // delete or repeat a token
        auto spans = tokenSpans(text);
        if (spans.empty())
          break;
        auto [pos, len] = spans[rng() % spans.size()];
        if (rng() % 2)
          text.erase(pos, len);
        else
          text.insert(pos, text.substr(pos, len));
      }
      }
    }
    requireSane(text, "mutation seed " + std::to_string(seed));
    SourceFile file("m.nn", text);
    DiagnosticEngine diags(&file);
    Program prog = parseProgram(file, diags);
    checkProgram(prog, diags);
    failedToCompile += diags.hasErrors();
    ++inputs;
  }
  // The mutations must reach the error paths: most mutated files are wrong.
  CHECK(failedToCompile > inputs / 2);
}

TEST_CASE("halves of two examples spliced together", "[frontend][robustness]") {
  std::vector<std::string> texts = examples();
  size_t inputs = 0;
  std::mt19937 rng(42);
  for (const std::string &a : texts)
    for (const std::string &b : texts)
      for (int k = 0; k < 60; ++k, ++inputs) {
        size_t cutA = k == 0 ? a.size() / 2 : rng() % (a.size() + 1);
        size_t cutB = k == 0 ? b.size() / 2 : rng() % (b.size() + 1);
        requireSane(a.substr(0, cutA) + b.substr(cutB), "splice " + std::to_string(inputs));
      }
  CHECK(inputs >= 500);
}

TEST_CASE("pathological inputs", "[frontend][robustness]") {
  const size_t mb = size_t(1) << 20;
  requireSane("", "empty input");
  requireSane("\n\n\n", "only newlines");
  requireSane(std::string(mb, '('), "1 MB of '('");
  requireSane("model m {\n  loss " + std::string(mb, '('), "1 MB of '(' in an expression");
  requireSane(std::string(mb, '-'), "1 MB of '-'");
  requireSane("model m {\n  loss " + std::string(mb, '-') + "1\n}\n", "1 MB of '-' in an expression");
  requireSane("model m {\n  loss " + std::string(mb, ')') + "\n}\n", "1 MB of ')'");
  requireSane(std::string(mb, '{'), "1 MB of '{'");
  requireSane(std::string(mb, '"'), "1 MB of quotes");
  requireSane(std::string(mb, '#'), "a 1 MB comment");
  requireSane(std::string(mb, 'a'), "a 1 MB name");
  requireSane(std::string(mb, '9'), "a 1 MB number");
  requireSane("model m {\n  input x : f32[B, " + std::string(mb, '9') + "]\n  loss 1\n}\n",
              "a 1 MB dimension");

  std::string calls;
  for (int i = 0; i < 100000; ++i)
    calls += "f(";
  requireSane("model m {\n  loss " + calls + "x" + std::string(100000, ')') + "\n}\n",
              "100000 nested calls");
  std::string chain = "x";
  for (int i = 0; i < 300000; ++i)
    chain += i % 2 ? " + x" : " @ x";
  requireSane("model m {\n  input x : f32[B, 4]\n  loss " + chain + "\n}\n",
              "an operator chain of 300000 terms");

  requireSane("model m {\xff\xfe\n  loss \xc3(\xe2\x82\n}\xc0\xaf\n", "invalid UTF-8");
  requireSane(std::string("model\0m {\n  input x : f32[B,\0 4]\n  loss\0 mean(x)\n}\0", 44),
              "NUL bytes");
  requireSane(std::string(1000, '\0'), "only NUL bytes");
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    std::string binary(seed == 1 ? mb : 4096, '\0');
    for (char &c : binary)
      c = char(rng() % 256);
    requireSane(binary, "random binary, seed " + std::to_string(seed));
  }
}

TEST_CASE("a well-formed model stays well-formed at 200 levels of nesting", "[frontend][robustness]") {
  // The limit on nesting must not reject what a person writes.
  std::string deep = "x";
  for (int i = 0; i < 150; ++i)
    deep = "relu(" + deep + ")";
  SourceFile file("deep.nn", "model m {\n  input x : f32[B, 4]\n  loss mean(" + deep + ")\n}\n");
  DiagnosticEngine diags(&file);
  Program prog = parseProgram(file, diags);
  checkProgram(prog, diags);
  INFO(diags.renderAll());
  CHECK_FALSE(diags.hasErrors());
}

TEST_CASE("100k-line files finish quickly", "[frontend][robustness]") {
  const int n = 100000;
  SECTION("a valid model of 100k statements") {
    std::string text = "model m {\n  input h0 : f32[B, 4]\n";
    for (int i = 1; i <= n; ++i)
      text += "  h" + std::to_string(i) + " = relu(h" + std::to_string(i - 1) + ")\n";
    text += "  loss mean(h" + std::to_string(n) + ")\n}\n";
    requireSane(text, "100k statements");
    SourceFile file("big.nn", text);
    DiagnosticEngine diags(&file);
    Program prog = parseProgram(file, diags);
    checkProgram(prog, diags);
    CHECK_FALSE(diags.hasErrors());
    CHECK(prog.models.at(0).stmts.size() == size_t(n) + 2);
  }
  SECTION("100k unknown names in a growing scope") {
    // Looking for "did you mean" in the whole scope for every error made this quadratic.
    std::string text = "model m {\n";
    for (int i = 0; i < n; ++i)
      text += "  a" + std::to_string(i) + " = b" + std::to_string(i) + " + g" + std::to_string(i) + "(a0)\n";
    text += "  loss a0\n}\n";
    requireSane(text, "100k unknown names");
  }
  SECTION("100k functions, each calling the next") {
    // The recursion check walked the call graph on the native stack.
    std::string text;
    for (int i = 0; i < n; ++i)
      text += "def f" + std::to_string(i) + "(x) { return f" + std::to_string(i + 1) + "(x) }\n";
    text += "def f" + std::to_string(n) + "(x) { return f0(x) }\n";
    text += "model m {\n  input x : f32[B, 4]\n  loss mean(f0(x))\n}\n";
    SourceFile file("defs.nn", text);
    DiagnosticEngine diags(&file);
    Program prog = parseProgram(file, diags);
    checkProgram(prog, diags);
    // The cycle closes at the last function's call of f0.
    REQUIRE(diags.errorCount() == 1);
    CHECK(diags.diagnostics()[0].message.find("recursive call of 'f0'") == 0);
    CHECK(diags.diagnostics()[0].loc.line == uint32_t(n) + 1);
    requireSane(text, "100k chained functions");
  }
  SECTION("100k lines of garbage") {
    std::string text;
    for (int i = 0; i < n; ++i)
      text += "} ) = model ( $ 1e\n";
    requireSane(text, "100k garbage lines");
  }
}
