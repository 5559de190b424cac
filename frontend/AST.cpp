//===- AST.cpp - Printing the abstract syntax tree ------------------------------------------===//
#include "frontend/AST.h"

#include <fmt/format.h>

namespace nnc {

static std::string at(SourceLoc loc) { return fmt::format("@{}:{}", loc.line, loc.col); }

std::string typeToSource(const TypeExpr &t) {
  std::string s = t.dtype + "[";
  for (size_t i = 0; i < t.dims.size(); ++i) {
    if (i)
      s += ",";
    s += t.dims[i].symbol.empty() ? std::to_string(t.dims[i].size) : t.dims[i].symbol;
  }
  return s + "]";
}

std::string exprToSource(const Expr &e) {
  switch (e.kind) {
  case Expr::Kind::Number:
  case Expr::Kind::Name:
    return e.text;
  case Expr::Kind::Bool:
    return e.number != 0 ? "true" : "false";
  case Expr::Kind::String:
    return "\"" + e.text + "\"";
  case Expr::Kind::Unary:
    return "-" + exprToSource(*e.args[0]);
  case Expr::Kind::Binary:
    return fmt::format("({} {} {})", exprToSource(*e.args[0]), e.op, exprToSource(*e.args[1]));
  case Expr::Kind::Call: {
    std::string s = e.text + "(";
    bool first = true;
    for (const ExprPtr &a : e.args) {
      s += (first ? "" : ", ") + exprToSource(*a);
      first = false;
    }
    for (const KeywordArg &k : e.kwargs) {
      s += (first ? "" : ", ") + k.name + " = " + exprToSource(*k.value);
      first = false;
    }
    return s + ")";
  }
  }
  return "?";
}

namespace {

struct AstPrinter {
  std::string out;

  void line(int depth, const std::string &text) {
    out.append(size_t(depth) * 2, ' ');
    out += text;
    out += '\n';
  }

  void expr(int depth, const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Number:
      line(depth, fmt::format("Number {} {}", e.text, at(e.loc)));
      break;
    case Expr::Kind::Bool:
      line(depth, fmt::format("Bool {} {}", e.number != 0 ? "true" : "false", at(e.loc)));
      break;
    case Expr::Kind::String:
      line(depth, fmt::format("String \"{}\" {}", e.text, at(e.loc)));
      break;
    case Expr::Kind::Name:
      line(depth, fmt::format("Name {} {}", e.text, at(e.loc)));
      break;
    case Expr::Kind::Unary:
      line(depth, fmt::format("Unary {} {}", e.op, at(e.loc)));
      expr(depth + 1, *e.args[0]);
      break;
    case Expr::Kind::Binary:
      line(depth, fmt::format("Binary {} {}", e.op, at(e.loc)));
      expr(depth + 1, *e.args[0]);
      expr(depth + 1, *e.args[1]);
      break;
    case Expr::Kind::Call:
      line(depth, fmt::format("Call {} {}", e.text, at(e.loc)));
      for (const ExprPtr &a : e.args)
        expr(depth + 1, *a);
      for (const KeywordArg &k : e.kwargs) {
        line(depth + 1, fmt::format("Keyword {} {}", k.name, at(k.nameLoc)));
        expr(depth + 2, *k.value);
      }
      break;
    }
  }

  void stmt(int depth, const Stmt &s) {
    static constexpr const char *kinds[] = {"Input", "Target", "Param", "Assign",
                                            "Output", "Loss", "Return"};
    std::string head = kinds[static_cast<int>(s.kind)];
    if (!s.name.empty())
      head += " " + s.name;
    if (s.type)
      head += " : " + typeToSource(*s.type);
    line(depth, head + " " + at(s.loc));
    if (s.value)
      expr(depth + 1, *s.value);
  }
};

} // namespace

std::string printAst(const Program &program) {
  AstPrinter p;
  p.line(0, "Program");
  for (const DefDecl &d : program.defs) {
    std::string params;
    for (const auto &[name, loc] : d.params)
      params += (params.empty() ? "" : ", ") + name;
    p.line(1, fmt::format("Def {}({}) {}", d.name, params, at(d.loc)));
    for (const Stmt &s : d.stmts)
      p.stmt(2, s);
  }
  for (const ModelDecl &m : program.models) {
    p.line(1, fmt::format("Model {} {}", m.name, at(m.loc)));
    for (const Stmt &s : m.stmts)
      p.stmt(2, s);
  }
  for (const TrainDecl &t : program.trains) {
    p.line(1, fmt::format("Train {}", at(t.loc)));
    for (const TrainSetting &s : t.settings) {
      p.line(2, fmt::format("Setting {} {}", s.name, at(s.loc)));
      if (s.value)
        p.expr(3, *s.value);
    }
  }
  return p.out;
}

} // namespace nnc
