//===- frontend_parser_test.cpp - The parser on every construct of the grammar --------------===//
//
// Each construct of the .nn grammar (Parser.cpp, docs/LANGUAGE.md) parsed into the tree it must
// give: statement kinds and names, types, the shape of expressions (through exprToSource, which
// parenthesizes every binary node), literals, calls, `def` and `train`, and the source spans
// that diagnostics point at. Every example file must parse and check with no diagnostics.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace nnc;

namespace {

/// A parsed file with its diagnostics; `check` also runs the semantic checks.
struct Parsed {
  SourceFile file;
  DiagnosticEngine diags;
  Program prog;
  explicit Parsed(std::string text, bool check = false)
      : file("t.nn", std::move(text)), diags(&file), prog(parseProgram(file, diags)) {
    if (check)
      checkProgram(prog, diags);
  }
  std::string errors() const { return diags.renderAll(); }
};

/// Parses `loss SRC` in a model and returns the loss expression printed back.
std::string lossExpr(const std::string &src) {
  Parsed p("model m {\n  loss " + src + "\n}\n");
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.models.size() == 1);
  REQUIRE(p.prog.models[0].stmts.size() == 1);
  return exprToSource(*p.prog.models[0].stmts[0].value);
}

/// Parses `loss SRC` and returns the loss expression node (kept alive by `p`).
const Expr &lossNode(const Parsed &p) {
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.models.size() == 1);
  REQUIRE_FALSE(p.prog.models[0].stmts.empty());
  return *p.prog.models[0].stmts.back().value;
}

bool sameLoc(SourceLoc loc, uint32_t line, uint32_t col, uint32_t len) {
  return loc.line == line && loc.col == col && loc.len == len;
}

std::string readExample(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST_CASE("comments and blank lines are skipped", "[frontend]") {
  Parsed p("# a comment at the top\n\n\n"
           "model m {   # after the brace\n"
           "  # a whole-line comment\n"
           "\n"
           "  input x : f32[B, 4]  # trailing\n"
           "  loss mean(x) # ( unbalanced in a comment )\n"
           "}\n"
           "# and at the end, without a newline",
           true);
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.models.size() == 1);
  CHECK(p.prog.models[0].stmts.size() == 2);
  CHECK(p.prog.models[0].stmts[1].loc.line == 8);
}

TEST_CASE("a model with every kind of statement", "[frontend]") {
  Parsed p("model net {\n"
           "  input  x : f32[B, 4]\n"
           "  target y : i32[B]\n"
           "  param V : f64[4, 16] = glorot_uniform\n"
           "  param c : f32[16]\n"
           "  param u : f32[16] = uniform(-0.1, high = 0.1)\n"
           "  z = relu(x @ V + c)\n"
           "  output probs = softmax(z)\n"
           "  loss mean(softmax_cross_entropy(z, y))\n"
           "}\n",
           true);
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.models.size() == 1);
  const ModelDecl &m = p.prog.models[0];
  CHECK(m.name == "net");
  CHECK(sameLoc(m.loc, 1, 1, 5));
  CHECK(sameLoc(m.nameLoc, 1, 7, 3));
  REQUIRE(m.stmts.size() == 8);
  using K = Stmt::Kind;
  const K kinds[] = {K::Input, K::Target, K::Param, K::Param, K::Param, K::Assign, K::Output, K::Loss};
  const char *names[] = {"x", "y", "V", "c", "u", "z", "probs", ""};
  for (size_t i = 0; i < m.stmts.size(); ++i) {
    CHECK(m.stmts[i].kind == kinds[i]);
    CHECK(m.stmts[i].name == names[i]);
    CHECK_FALSE(m.stmts[i].broken);
  }
  CHECK(typeToSource(*m.stmts[0].type) == "f32[B,4]");
  CHECK(typeToSource(*m.stmts[1].type) == "i32[B]");
  CHECK(typeToSource(*m.stmts[2].type) == "f64[4,16]");
  CHECK(m.stmts[0].type->dims[0].symbol == "B");
  CHECK(m.stmts[0].type->dims[1].symbol.empty());
  CHECK(m.stmts[0].type->dims[1].size == 4);
  // initializer: a name, none, a call with positional and keyword arguments
  REQUIRE(m.stmts[2].value);
  CHECK(m.stmts[2].value->kind == Expr::Kind::Name);
  CHECK(m.stmts[2].value->text == "glorot_uniform");
  CHECK_FALSE(m.stmts[3].value);
  REQUIRE(m.stmts[4].value);
  CHECK(exprToSource(*m.stmts[4].value) == "uniform(-0.1, high = 0.1)");
  CHECK(exprToSource(*m.stmts[5].value) == "relu(((x @ V) + c))");
  CHECK(exprToSource(*m.stmts[6].value) == "softmax(z)");
  CHECK(exprToSource(*m.stmts[7].value) == "mean(softmax_cross_entropy(z, y))");
  CHECK(m.stmts[0].type->loc.col == 14);
  CHECK(m.stmts[0].type->loc.len == 9); // f32[B, 4]
}

TEST_CASE("operator precedence and associativity", "[frontend]") {
  CHECK(lossExpr("a + b * c") == "(a + (b * c))");
  CHECK(lossExpr("a * b + c") == "((a * b) + c)");
  CHECK(lossExpr("a - b - c") == "((a - b) - c)");
  CHECK(lossExpr("a / b / c") == "((a / b) / c)");
  CHECK(lossExpr("a - b + c") == "((a - b) + c)");
  CHECK(lossExpr("a @ b * c") == "((a @ b) * c)");
  CHECK(lossExpr("a + b @ c") == "(a + (b @ c))");
  CHECK(lossExpr("a @ b @ c") == "((a @ b) @ c)");
  CHECK(lossExpr("(a + b) * c") == "((a + b) * c)");
  CHECK(lossExpr("a * (b + c)") == "(a * (b + c))");
  CHECK(lossExpr("-a @ b") == "(-a @ b)");
  CHECK(lossExpr("-a * -b") == "(-a * -b)");
  CHECK(lossExpr("- -a") == "--a");
  CHECK(lossExpr("-(a + b)") == "-(a + b)");
  CHECK(lossExpr("a - -b") == "(a - -b)");
  CHECK(lossExpr("2 * -3") == "(2 * -3)");
  CHECK(lossExpr("((a))") == "a");
}

TEST_CASE("binary and unary nodes point at their operator", "[frontend]") {
  Parsed p("model m {\n  loss a + b * -c\n}\n");
  const Expr &e = lossNode(p);
  REQUIRE(e.kind == Expr::Kind::Binary);
  CHECK(e.op == '+');
  CHECK(sameLoc(e.loc, 2, 10, 1));
  const Expr &mul = *e.args[1];
  CHECK(mul.op == '*');
  CHECK(sameLoc(mul.loc, 2, 14, 1));
  const Expr &neg = *mul.args[1];
  CHECK(neg.kind == Expr::Kind::Unary);
  CHECK(neg.op == '-');
  CHECK(sameLoc(neg.loc, 2, 16, 1));
  CHECK(sameLoc(neg.args[0]->loc, 2, 17, 1));
}

TEST_CASE("calls: positional then keyword arguments, trailing commas, several lines", "[frontend]") {
  Parsed p("model m {\n  loss dense(x, 3, act = relu, bias = false)\n}\n");
  const Expr &e = lossNode(p);
  REQUIRE(e.kind == Expr::Kind::Call);
  CHECK(e.text == "dense");
  CHECK(sameLoc(e.loc, 2, 8, 5));
  REQUIRE(e.args.size() == 2);
  REQUIRE(e.kwargs.size() == 2);
  CHECK(e.kwargs[0].name == "act");
  CHECK(sameLoc(e.kwargs[0].nameLoc, 2, 20, 3));
  CHECK(e.kwargs[0].value->text == "relu");
  CHECK(e.kwargs[1].name == "bias");
  CHECK(e.kwargs[1].value->kind == Expr::Kind::Bool);

  CHECK(lossExpr("f()") == "f()");
  CHECK(lossExpr("f(a,)") == "f(a)");
  CHECK(lossExpr("f(a, k = 1,)") == "f(a, k = 1)");
  CHECK(lossExpr("f(\n    a,\n    b,\n    k = 2\n  )") == "f(a, b, k = 2)");
  CHECK(lossExpr("f(a\n  , b)") == "f(a, b)");
  CHECK(lossExpr("(a +\n   b\n   * c)") == "(a + (b * c))");
  CHECK(lossExpr("f(a @\n b, g(\n c))") == "f((a @ b), g(c))");
  CHECK(lossExpr("f(k =\n 1)") == "f(k = 1)");
}

TEST_CASE("a newline ends a statement outside parentheses", "[frontend]") {
  Parsed p("model m {\n  loss a +\n  b\n}\n");
  CHECK(p.diags.hasErrors());
  CHECK(p.errors().find("t.nn:2:11: error: expected an expression, found end of line") != std::string::npos);
}

TEST_CASE("number literals", "[frontend]") {
  struct Case {
    const char *text;
    double value;
    bool integer;
  };
  const Case cases[] = {{"1e-4", 1e-4, false}, {"0.5", 0.5, false}, {"3", 3, true},
                        {".5", 0.5, false},    {"1E+3", 1000, false}, {"2.", 2, false},
                        {"007", 7, true},      {"1.5e2", 150, false}};
  for (const Case &c : cases) {
    Parsed p(std::string("model m {\n  loss ") + c.text + "\n}\n");
    const Expr &e = lossNode(p);
    INFO(c.text);
    CHECK(e.kind == Expr::Kind::Number);
    CHECK(e.text == c.text);
    CHECK(e.number == Approx(c.value));
    CHECK(e.isInteger == c.integer);
    CHECK(sameLoc(e.loc, 2, 8, uint32_t(std::strlen(c.text))));
  }
}

TEST_CASE("booleans, strings and dotted names", "[frontend]") {
  {
    Parsed p("model m {\n  loss f(true, false)\n}\n");
    const Expr &e = lossNode(p);
    CHECK(e.args[0]->kind == Expr::Kind::Bool);
    CHECK(e.args[0]->number == 1);
    CHECK(e.args[1]->number == 0);
    CHECK(exprToSource(e) == "f(true, false)");
  }
  {
    Parsed p("model m {\n  loss \"a b#c\\\"d\"\n}\n");
    const Expr &e = lossNode(p);
    CHECK(e.kind == Expr::Kind::String);
    CHECK(e.text == "a b#c\"d");
    CHECK(sameLoc(e.loc, 2, 8, 10));
  }
  {
    Parsed p("model m {\n  loss l2(h1.weight, h1.bias)\n}\n");
    const Expr &e = lossNode(p);
    CHECK(e.args[0]->kind == Expr::Kind::Name);
    CHECK(e.args[0]->text == "h1.weight");
    CHECK(sameLoc(e.args[0]->loc, 2, 11, 9));
  }
}

TEST_CASE("def functions", "[frontend]") {
  Parsed p("def block(x, n) {\n"
           "  h = relu(dense(x, n))\n"
           "  return h + x\n"
           "}\n"
           "def noargs() {\n  return 1\n}\n"
           "def multi(\n  a,\n  b\n) { return a }\n",
           false);
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.defs.size() == 3);
  const DefDecl &d = p.prog.defs[0];
  CHECK(d.name == "block");
  CHECK(sameLoc(d.loc, 1, 1, 3));
  CHECK(sameLoc(d.nameLoc, 1, 5, 5));
  REQUIRE(d.params.size() == 2);
  CHECK(d.params[0].first == "x");
  CHECK(d.params[1].first == "n");
  CHECK(sameLoc(d.params[1].second, 1, 14, 1));
  REQUIRE(d.stmts.size() == 2);
  CHECK(d.stmts[0].kind == Stmt::Kind::Assign);
  CHECK(d.stmts[1].kind == Stmt::Kind::Return);
  CHECK(exprToSource(*d.stmts[1].value) == "(h + x)");
  CHECK(p.prog.defs[1].params.empty());
  CHECK(p.prog.defs[2].params.size() == 2);
  CHECK(p.prog.defs[2].stmts.size() == 1);
}

TEST_CASE("the train block", "[frontend]") {
  Parsed p("model m {\n  input x : f32[B, 2]\n  loss mean(x)\n}\n"
           "train {\n"
           "  optimizer sgd(lr = 0.1, momentum = 0.9, nesterov = true)\n"
           "  schedule  cosine\n"
           "  batch  128\n"
           "  clip 1.5\n"
           "  data \"fashion-mnist\"\n"
           "}\n",
           true);
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.trains.size() == 1);
  const TrainDecl &t = p.prog.trains[0];
  CHECK(sameLoc(t.loc, 5, 1, 5));
  REQUIRE(t.settings.size() == 5);
  CHECK(t.settings[0].name == "optimizer");
  CHECK(sameLoc(t.settings[0].loc, 6, 3, 9));
  CHECK(exprToSource(*t.settings[0].value) == "sgd(lr = 0.1, momentum = 0.9, nesterov = true)");
  CHECK(t.settings[1].value->kind == Expr::Kind::Name);
  CHECK(t.settings[2].value->number == 128);
  CHECK(t.settings[3].value->number == 1.5);
  CHECK(t.settings[4].value->text == "fashion-mnist");
}

TEST_CASE("several models and defs in one file, in source order", "[frontend]") {
  Parsed p("def f(x) {\n  return x\n}\n"
           "model a {\n  input x : f32[B, 2]\n  loss mean(f(x))\n}\n"
           "def g(x) {\n  return f(x)\n}\n"
           "model b {\n  input x : f32[B, 2]\n  loss mean(g(x))\n}\n"
           "train {\n  batch 2\n}\n",
           true);
  INFO(p.errors());
  REQUIRE(p.diags.diagnostics().empty());
  REQUIRE(p.prog.models.size() == 2);
  REQUIRE(p.prog.defs.size() == 2);
  CHECK(p.prog.models[0].name == "a");
  CHECK(p.prog.models[1].name == "b");
  CHECK(p.prog.defs[0].name == "f");
  CHECK(p.prog.defs[1].name == "g");
  CHECK(p.prog.models[1].loc.line == 11);
}

TEST_CASE("a one-line model and def", "[frontend]") {
  Parsed p("def f(x) { return x }\nmodel m { loss f(1) }\n", true);
  INFO(p.errors());
  CHECK(p.diags.diagnostics().empty());
  CHECK(p.prog.models.at(0).stmts.size() == 1);
}

TEST_CASE("CRLF line endings give the same tree and locations", "[frontend]") {
  std::string lf = readExample(std::filesystem::path(NNC_EXAMPLES_DIR) / "iris.nn");
  std::string crlf;
  for (char c : lf)
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  Parsed a(lf, true), b(crlf, true);
  INFO(b.errors());
  REQUIRE(b.diags.diagnostics().empty());
  CHECK(printAst(a.prog) == printAst(b.prog));
  // A diagnostic on a CRLF line shows the line without its '\r'.
  Parsed e("model m {\r\n  loss $\r\n}\r\n");
  CHECK(e.errors() == "t.nn:2:8: error: unexpected '$' in the model text\n    loss $\n         ^\n");
}

TEST_CASE("every example parses and checks with no diagnostics", "[frontend]") {
  int count = 0;
  for (const auto &entry : std::filesystem::directory_iterator(NNC_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".nn")
      continue;
    ++count;
    Parsed p(readExample(entry.path()), true);
    INFO(entry.path().string() << "\n" << p.errors());
    CHECK(p.diags.diagnostics().empty());
    CHECK(p.prog.models.size() == 1);
  }
  CHECK(count >= 3);
}

TEST_CASE("source locations of statements, names, types and the end of file", "[frontend]") {
  Parsed p("model m {\n\tinput  x : f32[B, 4]\n  param W : f32[4, 3]\n}");
  REQUIRE_FALSE(p.diags.hasErrors());
  const ModelDecl &m = p.prog.models.at(0);
  const Stmt &in = m.stmts.at(0);
  CHECK(sameLoc(in.loc, 2, 2, 5));     // a tab is one column
  CHECK(sameLoc(in.nameLoc, 2, 9, 1));
  CHECK(sameLoc(in.type->loc, 2, 13, 9));
  CHECK(sameLoc(in.type->dims[0].loc, 2, 17, 1));
  CHECK(sameLoc(in.type->dims[1].loc, 2, 20, 1));
  CHECK(sameLoc(m.stmts.at(1).type->loc, 3, 13, 9));
  // A type's brackets do not continue the line.
  Parsed split("model m {\n  param W : f32[4,\n  3]\n}");
  CHECK(split.errors().find("t.nn:2:19: error: expected a dimension") == 0);
  // The end of file is a valid place to point at.
  Parsed eof("model m {\n  loss 1\n");
  REQUIRE(eof.diags.diagnostics().size() == 2);
  CHECK(sameLoc(eof.diags.diagnostics()[0].loc, 3, 1, 1));
  CHECK(eof.diags.diagnostics()[1].severity == Severity::Note);
}

TEST_CASE("a syntax error leaves a broken statement whose name stays defined", "[frontend]") {
  Parsed p("model m {\n  input x : f32[B, 4\n  loss mean(x)\n}\n", true);
  // Only the syntax error: no follow-on "unknown name 'x'".
  REQUIRE(p.diags.errorCount() == 1);
  CHECK(p.prog.models.at(0).stmts.at(0).broken);
  CHECK(p.prog.models.at(0).stmts.at(0).name == "x");
}

TEST_CASE("a missing '}' before the next declaration keeps that declaration", "[frontend]") {
  Parsed p("model m {\n  input x : f32[B, 4]\n  loss mean(x)\n"
           "train {\n  batch 8\n}\n",
           true);
  CHECK(p.diags.errorCount() == 1);
  CHECK(p.prog.trains.size() == 1);
  CHECK(p.prog.trains.at(0).settings.size() == 1);
}

TEST_CASE("an unclosed '(' does not swallow the statements after it", "[frontend]") {
  Parsed p("model m {\n  input x : f32[B, 4]\n  h = relu(x\n  loss mean(h)\n}\n", true);
  // The missing ')' only: the loss on the next line is still seen and '}' closes the model.
  CHECK(p.diags.errorCount() == 1);
  CHECK(p.errors().find("has no 'loss'") == std::string::npos);
  CHECK(p.prog.models.at(0).stmts.size() == 3);
}

TEST_CASE("a variadic penalty takes its tensors positionally", "[frontend]") {
  Parsed p("model m {\n  input x : f32[B, 4]\n  param W : f32[4, 2]\n  param V : f32[2]\n"
           "  loss mean(x) + elastic_net(W, V) + elastic_net(W, l1_ratio = 0.2)\n}\n",
           true);
  INFO(p.errors());
  CHECK(p.diags.diagnostics().empty());
}

TEST_CASE("did-you-mean suggestions", "[frontend]") {
  std::vector<std::string_view> names = {"adam", "adamw", "sgd", "x", "hidden"};
  CHECK(closestMatch("adma", names) == "adam");  // a transposition is one typo
  CHECK(closestMatch("hiden", names) == "hidden");
  CHECK(closestMatch("sdg", names) == "sgd");
  CHECK(closestMatch("Q", names).empty());       // not every one-letter name is a typo of 'x'
  CHECK(closestMatch("frobnicate", names).empty());
}
