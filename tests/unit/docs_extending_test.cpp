//===- docs_extending_test.cpp - docs/EXTENDING.md lists exactly the places an op touches ---===//
//
// docs/EXTENDING.md lists, in tables, the files a new elementwise op and a new layer touch.
// This test reads those tables and holds them true against the source tree: every file listed
// exists; every elementwise op of Ops.def is named in each file marked `always`; no file that
// is not listed names all the elementwise ops (a place the list would miss); every layer,
// loss and penalty has a lowering function, is in docs/LANGUAGE.md, and lowering never
// dispatches by comparing builtin names.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Builtins.h"
#include "ir/Ops.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using namespace nnc;

namespace {

const std::string kRoot = NNC_SOURCE_DIR;

std::string readSource(const std::string &path) {
  std::ifstream in(kRoot + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// One row of a table of docs/EXTENDING.md: the path in its first cell, its last cell.
struct Place {
  std::string path;
  std::string when;
};

/// The rows of the table under heading `## title` of docs/EXTENDING.md.
std::vector<Place> placesOf(const std::string &title) {
  std::string doc = readSource("docs/EXTENDING.md");
  size_t begin = doc.find("\n## " + title + "\n");
  if (begin == std::string::npos)
    return {};
  size_t end = doc.find("\n## ", begin + 1);
  std::istringstream section(doc.substr(begin, end == std::string::npos ? end : end - begin));
  std::vector<Place> places;
  const std::regex row(R"(^\| `([^`]+)` \|.*\| ([^|]+) \|$)");
  for (std::string line; std::getline(section, line);) {
    std::smatch m;
    if (std::regex_match(line, m, row))
      places.push_back({m[1], m[2]});
  }
  return places;
}

std::vector<OpKind> elementwiseOps() {
  std::vector<OpKind> ops;
  for (OpKind op : allOpKinds())
    if (hasFlag(op, OpElementwise))
      ops.push_back(op);
  return ops;
}

/// The enum name of `op` as spelled in Ops.def (`OP(LeakyRelu, "leaky_relu", ...`).
std::string enumName(OpKind op) {
  static const std::string def = readSource("ir/Ops.def");
  std::smatch m;
  std::regex row("OP\\((\\w+),\\s*\"" + std::string(mnemonic(op)) + "\"");
  return std::regex_search(def, m, row) ? std::string(m[1]) : std::string();
}

/// Whether source `text` of file `path` names `op`: its mnemonic in backquotes in a document,
/// its enumerator (OpKind::Name, K::Name, OP(Name) in code.
bool names(const std::string &path, const std::string &text, OpKind op) {
  if (path.ends_with(".md"))
    return text.find("`" + std::string(mnemonic(op)) + "`") != std::string::npos;
  std::regex use("(OpKind::|\\bK::|\\bO::|OP\\()" + enumName(op) + "\\b");
  return std::regex_search(text, use);
}

} // namespace

TEST_CASE("docs/EXTENDING.md: every elementwise op has its entry in each place listed as always", "[docs]") {
  std::vector<Place> places = placesOf("A new elementwise op");
  REQUIRE(places.size() >= 8);
  std::vector<OpKind> ops = elementwiseOps();
  REQUIRE(ops.size() > 10);
  for (const Place &p : places) {
    INFO("docs/EXTENDING.md lists " << p.path);
    REQUIRE(std::filesystem::exists(kRoot + "/" + p.path));
    if (p.when != "always")
      continue;
    std::string text = readSource(p.path);
    for (OpKind op : ops) {
      REQUIRE(!enumName(op).empty());
      if (!names(p.path, text, op))
        FAIL_CHECK(p.path << " has no entry for the elementwise op '" << mnemonic(op) << "'");
    }
  }
}

TEST_CASE("docs/EXTENDING.md: no unlisted source file names the elementwise ops one by one", "[docs]") {
  std::set<std::string> listed;
  for (const Place &p : placesOf("A new elementwise op"))
    listed.insert(p.path);
  std::vector<OpKind> ops = elementwiseOps();
  size_t scanned = 0;
  for (const char *dir : {"ir", "passes", "codegen", "frontend", "runtime", "support", "tools", "tests/unit"}) {
    if (!std::filesystem::exists(kRoot + "/" + dir))
      continue;
    for (const auto &entry : std::filesystem::recursive_directory_iterator(kRoot + "/" + dir)) {
      std::string ext = entry.path().extension().string();
      if (ext != ".cpp" && ext != ".h" && ext != ".def")
        continue;
      std::string path = std::filesystem::relative(entry.path(), kRoot).generic_string();
      std::string text = readSource(path);
      ++scanned;
      bool all = true;
      for (OpKind op : ops)
        all = all && names(path, text, op);
      if (all && !listed.count(path))
        FAIL_CHECK(path << " names every elementwise op, so a new one would need an entry there, but "
                           "docs/EXTENDING.md does not list it");
    }
  }
  CHECK(scanned > 50);
}

TEST_CASE("docs/EXTENDING.md: layers, losses and penalties have their places; lowering never compares names",
          "[docs]") {
  for (const Place &p : placesOf("A new layer")) {
    INFO("docs/EXTENDING.md lists " << p.path);
    CHECK(std::filesystem::exists(kRoot + "/" + p.path));
  }
  std::string language = readSource("docs/LANGUAGE.md");
  size_t builtinsSection = language.find("\n## Builtins\n");
  REQUIRE(builtinsSection != std::string::npos);
  std::string listing = language.substr(builtinsSection, language.find("\n## ", builtinsSection + 1) - builtinsSection);
  std::string lowering = readSource("frontend/Lower.cpp") + readSource("frontend/LowerBuiltins.cpp");
  for (const Builtin &b : builtins()) {
    INFO("builtin " << b.name);
    if (b.kind == BuiltinKind::Layer || b.kind == BuiltinKind::Loss || b.kind == BuiltinKind::Penalty)
      CHECK(b.lower != nullptr);
    if (b.kind != BuiltinKind::Initializer && b.kind != BuiltinKind::Optimizer && b.kind != BuiltinKind::Schedule) {
      CHECK((b.lower != nullptr || b.op.has_value()));
      std::string quoted = "\"" + std::string(b.name) + "\"";
      if (lowering.find("== " + quoted) != std::string::npos || lowering.find(quoted + " ==") != std::string::npos)
        FAIL_CHECK("frontend/Lower*.cpp compares a name with " << quoted << "; its builtin row should name the "
                   "op or lowering function");
    }
    if (listing.find("\n  " + std::string(b.name) + "(") == std::string::npos)
      FAIL_CHECK("the Builtins section of docs/LANGUAGE.md does not list " << b.name);
    if (b.kind == BuiltinKind::Layer && !b.creates.empty() &&
        language.find("| `" + std::string(b.name) + "` |") == std::string::npos)
      FAIL_CHECK("the Layers table of docs/LANGUAGE.md does not list " << b.name);
  }
}
