//===- AST.h - Abstract syntax tree of a .nn file -------------------------------------------===//
//
// The parser's output: a Program of models, user functions (`def`) and at most one `train`
// block. Every node carries the source span it came from, so that every later error can point
// at the text. The tree is plain data; `printAst` renders it as an indented tree with locations
// (`nnc --emit=ast`).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Diagnostic.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

/// `name = value` inside a call's argument list.
struct KeywordArg {
  std::string name;
  SourceLoc nameLoc;
  ExprPtr value;
};

/// An expression. One struct for all kinds keeps the tree easy to walk and print.
struct Expr {
  enum class Kind { Number, Bool, String, Name, Unary, Binary, Call };
  Kind kind;
  SourceLoc loc;        ///< the whole expression (for Binary/Unary: the operator)
  std::string text;     ///< Number: literal text; String: value; Name: the name; Call: callee
  double number = 0;    ///< Number: value; Bool: 0 or 1
  bool isInteger = false;
  char op = 0;          ///< Unary: '-'; Binary: '+', '-', '*', '/', '@'
  std::vector<ExprPtr> args;       ///< Unary/Binary operands, Call positional arguments
  std::vector<KeywordArg> kwargs;  ///< Call keyword arguments

  Expr(Kind kind, SourceLoc loc) : kind(kind), loc(loc) {}
};

/// One dimension of a tensor type: a size, or a symbol such as B bound at compile time.
struct DimExpr {
  int64_t size = 0;   ///< when symbol is empty
  std::string symbol;
  SourceLoc loc;
};

/// `f32[B, 784]`.
struct TypeExpr {
  std::string dtype; ///< f32, f64 or i32
  std::vector<DimExpr> dims;
  SourceLoc loc;
};

struct Stmt {
  enum class Kind { Input, Target, Param, Assign, Output, Loss, Return };
  Kind kind = Kind::Assign;
  SourceLoc loc;        ///< the statement's first token
  std::string name;     ///< Input/Target/Param/Assign/Output
  SourceLoc nameLoc;
  std::optional<TypeExpr> type; ///< Input/Target/Param
  ExprPtr value;        ///< Param: initializer (may be null); Assign/Output/Loss/Return: value
  bool broken = false;  ///< had a syntax error (already reported): its name is defined, no more
};

/// `model NAME { stmt* }`
struct ModelDecl {
  std::string name;
  SourceLoc loc, nameLoc;
  std::vector<Stmt> stmts;
};

/// `def NAME(a, b) { stmt* return expr }`: each call gets its own parameters.
struct DefDecl {
  std::string name;
  SourceLoc loc, nameLoc;
  std::vector<std::pair<std::string, SourceLoc>> params;
  std::vector<Stmt> stmts;
};

/// `NAME value` inside `train { ... }`.
struct TrainSetting {
  std::string name;
  SourceLoc loc;
  ExprPtr value;
};

struct TrainDecl {
  SourceLoc loc;
  std::vector<TrainSetting> settings;
};

struct Program {
  std::vector<ModelDecl> models;
  std::vector<DefDecl> defs;
  std::vector<TrainDecl> trains;
};

/// Renders the program as an indented tree, one node per line with `@line:col`.
std::string printAst(const Program &program);
/// Renders an expression back as source text (used in messages: "in 'x @ V'").
std::string exprToSource(const Expr &e);
std::string typeToSource(const TypeExpr &t);

} // namespace nnc
