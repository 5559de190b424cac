//===- Parser.cpp - Recursive-descent parser of the .nn model language ----------------------===//
//
// Each parse function returns what it parsed; on a syntax error it reports the error once,
// sets `failed_` and returns at once (a null expression, a partial declaration), and every
// caller returns in turn, up to the statement loop of a block or the top level, which clears
// the flag and skips to where parsing can resume. No exception is thrown.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Parser.h"

#include "frontend/Lexer.h"
#include "ir/Type.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace nnc {
namespace {

/// Deeper nesting than this is rejected, so that no input can exhaust the stack.
constexpr int kMaxDepth = 200;

class Parser {
public:
  Parser(std::vector<Token> toks, DiagnosticEngine &diags) : toks_(std::move(toks)), diags_(diags) {}

  /// file := (model | train | def | NEWLINE)*
  Program parseFile() {
    Program prog;
    while (!at(Tok::Eof)) {
      if (accept(Tok::Newline))
        continue;
      if (at(Tok::KwModel)) {
        ModelDecl m = parseModel();
        if (!failed_)
          prog.models.push_back(std::move(m));
      } else if (at(Tok::KwDef)) {
        DefDecl d = parseDef();
        if (!failed_)
          prog.defs.push_back(std::move(d));
      } else if (at(Tok::KwTrain)) {
        TrainDecl t = parseTrain();
        if (!failed_)
          prog.trains.push_back(std::move(t));
      } else {
        fail(fmt::format("expected 'model', 'def' or 'train' at the top level, found {}", found()));
      }
      if (failed_) {
        failed_ = false;
        recoverToTopLevel();
      }
    }
    return prog;
  }

private:
  std::vector<Token> toks_;
  DiagnosticEngine &diags_;
  size_t pos_ = 0;
  int depth_ = 0;  ///< expression nesting, bounded by kMaxDepth
  int parens_ = 0; ///< open parentheses: inside them a newline does not end the statement
  bool failed_ = false; ///< a syntax error was reported and the parse functions are returning

  const Token &tok() const { return toks_[pos_]; }
  bool at(Tok k) const { return tok().kind == k; }
  void advance() {
    if (!at(Tok::Eof))
      ++pos_;
  }
  bool accept(Tok k) {
    if (!at(k))
      return false;
    advance();
    return true;
  }
  std::string found() const {
    const Token &t = tok();
    switch (t.kind) {
    case Tok::Ident: return fmt::format("name '{}'", t.text);
    case Tok::Number: return fmt::format("number '{}'", t.text);
    case Tok::Error: return "an invalid token";
    default: return describe(t.kind);
    }
  }
  /// Reports a syntax error at the current token (or `loc`) and sets failed_; the caller
  /// returns at once. Returns null so that an expression parser can `return fail(...)`.
  std::nullptr_t fail(const std::string &message) { return fail(tok().loc, message); }
  std::nullptr_t fail(SourceLoc loc, const std::string &message) {
    // An Error token was reported by the lexer already; do not pile a second message on it.
    if (!at(Tok::Error))
      diags_.error(loc, message);
    failed_ = true;
    return nullptr;
  }
  /// Consumes a token of kind `k` and returns it; otherwise fails, returning the current token
  /// (the caller checks failed_ before using it).
  const Token &expect(Tok k, const std::string &what) {
    if (!at(k)) {
      fail(fmt::format("expected {} {}, found {}", describe(k), what, found()));
      return tok();
    }
    const Token &t = tok();
    advance();
    return t;
  }
  void skipNewlines() {
    while (accept(Tok::Newline)) {
    }
  }
  /// A statement ends at the end of its line, or right before the closing '}'.
  void endStatement() {
    if (at(Tok::RBrace) || at(Tok::Eof))
      return;
    if (!accept(Tok::Newline))
      fail(fmt::format("expected the end of the statement, found {}", found()));
  }
  /// After an error inside a block: skip to the start of the next line, but not past a '}' or
  /// a keyword that starts a statement or declaration at the start of a line: an unclosed '('
  /// lets the broken statement run on over the lines that follow it.
  void recoverToNextLine() {
    while (!at(Tok::Eof) && !at(Tok::Newline)) {
      if (pos_ > 0 && toks_[pos_ - 1].kind == Tok::Newline && startsLine(tok().kind))
        return;
      advance();
    }
    accept(Tok::Newline);
  }
  static bool startsLine(Tok k) {
    switch (k) {
    case Tok::RBrace: case Tok::KwModel: case Tok::KwDef: case Tok::KwTrain: case Tok::KwInput:
    case Tok::KwTarget: case Tok::KwParam: case Tok::KwOutput: case Tok::KwLoss: case Tok::KwReturn:
      return true;
    default:
      return false;
    }
  }
  /// After an error at the top level: skip to the next line that starts a declaration.
  void recoverToTopLevel() {
    while (!at(Tok::Eof)) {
      if (accept(Tok::Newline) && (at(Tok::KwModel) || at(Tok::KwDef) || at(Tok::KwTrain)))
        return;
      if (!at(Tok::Newline))
        advance();
    }
  }

  /// Parses `{ NEWLINE? item* }`, calling `item` for each statement line with recovery. Fails
  /// only when the '{' is missing.
  template <typename F> void parseBlock(const char *block, F item) {
    SourceLoc open = expect(Tok::LBrace, fmt::format("to open the {}", block)).loc;
    if (failed_)
      return;
    while (true) {
      skipNewlines();
      if (accept(Tok::RBrace))
        return;
      // A declaration keyword cannot start a statement: the block lacks its '}'. Report that
      // and leave the declaration to the top level instead of misreading it line by line.
      if (at(Tok::Eof) || at(Tok::KwModel) || at(Tok::KwDef) || at(Tok::KwTrain)) {
        diags_.error(tok().loc, fmt::format("expected '}}' to close the {}, found {}", block, found()));
        diags_.note(open, "to match this '{'");
        return;
      }
      size_t start = pos_;
      depth_ = parens_ = 0;
      item();
      if (failed_) {
        failed_ = false;
        if (pos_ == start) // the statement's first token was wrong: always make progress
          advance();
        recoverToNextLine();
      }
    }
  }

  /// model := 'model' NAME '{' stmt* '}'
  ModelDecl parseModel() {
    ModelDecl m;
    m.loc = tok().loc;
    advance();
    const Token &name = expect(Tok::Ident, "after 'model'");
    if (failed_)
      return m;
    m.name = name.text;
    m.nameLoc = name.loc;
    parseBlock("model body", [&] { parseStmt(false, m.stmts); });
    return m;
  }

  /// def := 'def' NAME '(' (NAME (',' NAME)*)? ')' '{' stmt* '}'
  DefDecl parseDef() {
    DefDecl d;
    d.loc = tok().loc;
    advance();
    const Token &name = expect(Tok::Ident, "after 'def'");
    if (failed_)
      return d;
    d.name = name.text;
    d.nameLoc = name.loc;
    expect(Tok::LParen, "after the function name");
    if (failed_)
      return d;
    skipNewlines();
    if (!at(Tok::RParen)) {
      do {
        skipNewlines();
        const Token &p = expect(Tok::Ident, "as a parameter name");
        if (failed_)
          return d;
        d.params.emplace_back(p.text, p.loc);
        skipNewlines();
      } while (accept(Tok::Comma));
    }
    expect(Tok::RParen, "after the parameters");
    if (failed_)
      return d;
    parseBlock("function body", [&] { parseStmt(true, d.stmts); });
    return d;
  }

  /// train := 'train' '{' (NAME expr NEWLINE)* '}'
  TrainDecl parseTrain() {
    TrainDecl t;
    t.loc = tok().loc;
    advance();
    parseBlock("train block", [&] {
      TrainSetting s;
      s.loc = tok().loc;
      const Token &name = expect(Tok::Ident, "as a training setting name");
      if (failed_)
        return;
      s.name = name.text;
      s.value = parseExpr();
      if (failed_)
        return;
      endStatement();
      if (failed_)
        return;
      t.settings.push_back(std::move(s));
    });
    return t;
  }

  /// stmt := 'input' NAME ':' type | 'target' NAME ':' type | 'param' NAME ':' type ('=' expr)?
  ///       | NAME '=' expr | 'output' NAME '=' expr | 'loss' expr | 'return' expr
  /// The statement is appended to `out` even when it has a syntax error (marked broken), so
  /// that later checks know its name and report no follow-on "unknown name" errors.
  void parseStmt(bool inDef, std::vector<Stmt> &out) {
    Stmt &s = out.emplace_back();
    s.broken = true;
    s.loc = tok().loc;
    auto nameThen = [&](const std::string &after) {
      const Token &n = expect(Tok::Ident, after);
      if (failed_)
        return;
      s.name = n.text;
      s.nameLoc = n.loc;
    };
    switch (tok().kind) {
    case Tok::KwInput:
    case Tok::KwTarget:
    case Tok::KwParam: {
      s.kind = at(Tok::KwInput) ? Stmt::Kind::Input
               : at(Tok::KwTarget) ? Stmt::Kind::Target : Stmt::Kind::Param;
      std::string kw = tok().text;
      advance();
      nameThen(fmt::format("after '{}'", kw));
      if (failed_)
        return;
      expect(Tok::Colon, "between the name and its type");
      if (failed_)
        return;
      TypeExpr type = parseType();
      if (failed_)
        return;
      s.type = std::move(type);
      if (s.kind == Stmt::Kind::Param && accept(Tok::Equal))
        s.value = parseExpr();
      break;
    }
    case Tok::KwOutput:
      s.kind = Stmt::Kind::Output;
      advance();
      nameThen("after 'output'");
      if (failed_)
        return;
      expect(Tok::Equal, "after the output's name");
      if (failed_)
        return;
      s.value = parseExpr();
      break;
    case Tok::KwLoss:
      s.kind = Stmt::Kind::Loss;
      advance();
      s.value = parseExpr();
      break;
    case Tok::KwReturn:
      s.kind = Stmt::Kind::Return;
      advance();
      s.value = parseExpr();
      break;
    case Tok::Ident:
      s.kind = Stmt::Kind::Assign;
      nameThen("");
      if (failed_)
        return;
      expect(Tok::Equal, "after the name in an assignment");
      if (failed_)
        return;
      s.value = parseExpr();
      break;
    default:
      fail(inDef ? fmt::format("expected an assignment or 'return', found {}", found())
                 : fmt::format("expected 'input', 'target', 'param', 'output', 'loss' or an "
                               "assignment, found {}",
                               found()));
      return;
    }
    if (failed_)
      return;
    endStatement();
    if (failed_)
      return;
    s.broken = false;
  }

  /// type := ('f32' | 'f64' | 'i32') '[' dim (',' dim)* ']'     dim := INT | NAME
  TypeExpr parseType() {
    TypeExpr t;
    t.loc = tok().loc;
    if (!at(Tok::Ident)) {
      fail(fmt::format("expected a tensor type such as f32[B, 4], found {}", found()));
      return t;
    }
    t.dtype = tok().text;
    if (t.dtype != "f32" && t.dtype != "f64" && t.dtype != "i32") {
      fail(fmt::format("unknown element type '{}': expected f32, f64 or i32", t.dtype));
      return t;
    }
    advance();
    expect(Tok::LBracket, "after the element type");
    if (failed_)
      return t;
    do {
      DimExpr d;
      d.loc = tok().loc;
      if (at(Tok::Minus) && toks_[pos_ + 1].kind == Tok::Number) {
        fail(SourceLoc{d.loc.line, d.loc.col, toks_[pos_ + 1].loc.len + 1},
             fmt::format("dimension -{} must be positive", toks_[pos_ + 1].text));
        return t;
      }
      if (at(Tok::Ident)) {
        d.symbol = tok().text;
      } else if (at(Tok::Number)) {
        int64_t v = 0;
        const std::string &text = tok().text;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc::result_out_of_range)
          fail(fmt::format("dimension {} is too large", text));
        else if (ec != std::errc() || ptr != text.data() + text.size())
          fail(fmt::format("malformed dimension '{}': expected a positive integer", text));
        else if (v <= 0)
          fail(fmt::format("dimension {} must be positive", text));
        else if (v > kMaxDim)
          fail(fmt::format("dimension {} is too large", text));
        if (failed_)
          return t;
        d.size = v;
      } else {
        fail(fmt::format("expected a dimension (a positive integer or a name such as B), found {}",
                         found()));
        return t;
      }
      advance();
      t.dims.push_back(std::move(d));
    } while (accept(Tok::Comma));
    expect(Tok::RBracket, "to close the type's dimensions");
    if (failed_)
      return t;
    t.loc.len = static_cast<uint32_t>(std::max<int64_t>(1, int64_t(toks_[pos_ - 1].loc.col) +
                                                               toks_[pos_ - 1].loc.len - t.loc.col));
    if (toks_[pos_ - 1].loc.line != t.loc.line)
      t.loc.len = 1;
    return t;
  }

  /// expr := term (('+' | '-') term)*
  ExprPtr parseExpr() {
    if (!enterNesting())
      return nullptr;
    int outer = depth_;
    ExprPtr lhs = parseTerm();
    if (failed_)
      return nullptr;
    skipNewlinesInsideParens();
    while (at(Tok::Plus) || at(Tok::Minus)) {
      lhs = binary(std::move(lhs), [&] { return parseTerm(); });
      if (failed_)
        return nullptr;
      skipNewlinesInsideParens();
    }
    depth_ = outer - 1;
    return lhs;
  }

  /// term := unary (('*' | '/' | '@') unary)*
  ExprPtr parseTerm() {
    int outer = depth_;
    ExprPtr lhs = parseUnary();
    if (failed_)
      return nullptr;
    skipNewlinesInsideParens();
    while (at(Tok::Star) || at(Tok::Slash) || at(Tok::At)) {
      lhs = binary(std::move(lhs), [&] { return parseUnary(); });
      if (failed_)
        return nullptr;
      skipNewlinesInsideParens();
    }
    depth_ = outer;
    return lhs;
  }

  /// A chain `a + b + c` builds a left-deep tree as deep as it has operators, and later stages
  /// walk trees recursively, so each operator counts as one level of nesting.
  template <typename F> ExprPtr binary(ExprPtr lhs, F rhs) {
    if (!enterNesting())
      return nullptr;
    auto e = std::make_unique<Expr>(Expr::Kind::Binary, tok().loc);
    e->op = tok().text[0];
    advance();
    skipNewlinesInsideParens();
    e->args.push_back(std::move(lhs));
    e->args.push_back(rhs());
    if (failed_)
      return nullptr;
    return e;
  }

  /// unary := '-' unary | primary
  ExprPtr parseUnary() {
    if (at(Tok::Minus)) {
      auto e = std::make_unique<Expr>(Expr::Kind::Unary, tok().loc);
      e->op = '-';
      advance();
      if (!enterNesting())
        return nullptr;
      e->args.push_back(parseUnary());
      if (failed_)
        return nullptr;
      --depth_;
      return e;
    }
    return parsePrimary();
  }

  /// primary := NUMBER | STRING | 'true' | 'false' | NAME | call | '(' expr ')'
  ExprPtr parsePrimary() {
    const Token &t = tok();
    switch (t.kind) {
    case Tok::Number: {
      auto e = std::make_unique<Expr>(Expr::Kind::Number, t.loc);
      e->text = t.text;
      e->isInteger = t.text.find_first_of(".eE") == std::string::npos;
      e->number = std::strtod(t.text.c_str(), nullptr);
      if (!std::isfinite(e->number))
        return fail(fmt::format("number '{}' is out of range", t.text));
      if (e->isInteger && e->number > 9007199254740992.0)
        return fail(fmt::format("integer '{}' is too large", t.text));
      advance();
      return e;
    }
    case Tok::String: {
      auto e = std::make_unique<Expr>(Expr::Kind::String, t.loc);
      e->text = t.text;
      advance();
      return e;
    }
    case Tok::KwTrue:
    case Tok::KwFalse: {
      auto e = std::make_unique<Expr>(Expr::Kind::Bool, t.loc);
      e->number = t.kind == Tok::KwTrue ? 1 : 0;
      advance();
      return e;
    }
    case Tok::Ident: {
      SourceLoc loc = t.loc;
      std::string name = t.text;
      advance();
      if (at(Tok::LParen))
        return parseCall(std::move(name), loc);
      auto e = std::make_unique<Expr>(Expr::Kind::Name, loc);
      e->text = std::move(name);
      return e;
    }
    case Tok::LParen: {
      advance();
      ++parens_;
      skipNewlines();
      ExprPtr e = parseExpr();
      if (failed_)
        return nullptr;
      skipNewlines();
      --parens_;
      expect(Tok::RParen, "to close the parenthesis");
      if (failed_)
        return nullptr;
      return e;
    }
    default:
      return fail(fmt::format("expected an expression, found {}", found()));
    }
  }

  /// call := NAME '(' (expr ',')* (NAME '=' expr ',')* ')'   (trailing comma allowed)
  ExprPtr parseCall(std::string callee, SourceLoc loc) {
    auto e = std::make_unique<Expr>(Expr::Kind::Call, loc);
    e->text = std::move(callee);
    advance(); // '('
    ++parens_;
    skipNewlines();
    while (!at(Tok::RParen)) {
      if (at(Tok::Ident) && toks_[pos_ + 1].kind == Tok::Equal) {
        KeywordArg k;
        k.name = tok().text;
        k.nameLoc = tok().loc;
        advance();
        advance();
        skipNewlines();
        k.value = parseExpr();
        if (failed_)
          return nullptr;
        e->kwargs.push_back(std::move(k));
      } else {
        if (!e->kwargs.empty())
          return fail(fmt::format("positional argument after keyword argument '{}'",
                                  e->kwargs.back().name));
        e->args.push_back(parseExpr());
        if (failed_)
          return nullptr;
      }
      skipNewlines();
      if (!accept(Tok::Comma)) {
        if (!at(Tok::RParen))
          return fail(fmt::format("expected ',' or ')' in the arguments of '{}', found {}", e->text,
                                  found()));
        break;
      }
      skipNewlines();
    }
    --parens_;
    expect(Tok::RParen, "to close the argument list");
    if (failed_)
      return nullptr;
    return e;
  }

  /// One more level of expression nesting; false (after reporting) past kMaxDepth. depth_ is
  /// reset per statement after an error.
  bool enterNesting() {
    if (++depth_ > kMaxDepth)
      fail(fmt::format("expression nested too deeply: more than {} levels of operators, calls "
                       "and parentheses",
                       kMaxDepth));
    return !failed_;
  }

  void skipNewlinesInsideParens() {
    if (parens_ > 0)
      skipNewlines();
  }
};

} // namespace

Program parseProgram(const SourceFile &file, DiagnosticEngine &diags) {
  return Parser(lex(file, diags), diags).parseFile();
}

} // namespace nnc
