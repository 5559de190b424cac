//===- Lexer.cpp - Tokens of the .nn model language -----------------------------------------===//
#include "frontend/Lexer.h"

#include <fmt/format.h>

#include <cctype>
#include <string_view>
#include <unordered_map>

namespace nnc {

const char *describe(Tok kind) {
  switch (kind) {
  case Tok::Eof: return "end of file";
  case Tok::Newline: return "end of line";
  case Tok::Error: return "invalid token";
  case Tok::Ident: return "a name";
  case Tok::Number: return "a number";
  case Tok::String: return "a string";
  case Tok::KwModel: return "'model'";
  case Tok::KwTrain: return "'train'";
  case Tok::KwDef: return "'def'";
  case Tok::KwReturn: return "'return'";
  case Tok::KwInput: return "'input'";
  case Tok::KwTarget: return "'target'";
  case Tok::KwParam: return "'param'";
  case Tok::KwOutput: return "'output'";
  case Tok::KwLoss: return "'loss'";
  case Tok::KwTrue: return "'true'";
  case Tok::KwFalse: return "'false'";
  case Tok::LParen: return "'('";
  case Tok::RParen: return "')'";
  case Tok::LBrace: return "'{'";
  case Tok::RBrace: return "'}'";
  case Tok::LBracket: return "'['";
  case Tok::RBracket: return "']'";
  case Tok::Comma: return "','";
  case Tok::Colon: return "':'";
  case Tok::Equal: return "'='";
  case Tok::Plus: return "'+'";
  case Tok::Minus: return "'-'";
  case Tok::Star: return "'*'";
  case Tok::Slash: return "'/'";
  case Tok::At: return "'@'";
  }
  return "token";
}

namespace {

const std::unordered_map<std::string_view, Tok> keywords = {
    {"model", Tok::KwModel},   {"train", Tok::KwTrain},   {"def", Tok::KwDef},
    {"return", Tok::KwReturn}, {"input", Tok::KwInput},   {"target", Tok::KwTarget},
    {"param", Tok::KwParam},   {"output", Tok::KwOutput}, {"loss", Tok::KwLoss},
    {"true", Tok::KwTrue},     {"false", Tok::KwFalse},
};

bool isIdentStart(unsigned char c) { return std::isalpha(c) || c == '_'; }
bool isIdentChar(unsigned char c) { return std::isalnum(c) || c == '_' || c == '.'; }

/// Shows a byte in a message: printable ASCII as itself, anything else as \xNN.
std::string showByte(unsigned char c) {
  if (c >= 0x21 && c < 0x7f)
    return fmt::format("'{}'", char(c));
  return fmt::format("byte 0x{:02X}", c);
}

class Lexer {
public:
  Lexer(const SourceFile &file, DiagnosticEngine &diags) : src_(file.text()), diags_(diags) {}

  std::vector<Token> run() {
    std::vector<Token> toks;
    while (true) {
      skipSpaceAndComments();
      if (pos_ >= src_.size())
        break;
      toks.push_back(next());
    }
    toks.push_back({Tok::Eof, "", SourceLoc{line_, col(), 1}});
    return toks;
  }

private:
  std::string_view src_;
  DiagnosticEngine &diags_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
  size_t lineStart_ = 0;

  uint32_t col() const { return static_cast<uint32_t>(pos_ - lineStart_ + 1); }
  unsigned char peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? static_cast<unsigned char>(src_[pos_ + ahead]) : 0;
  }
  SourceLoc locFrom(size_t start, uint32_t startCol) const {
    return SourceLoc{line_, startCol, static_cast<uint32_t>(std::max<size_t>(pos_ - start, 1))};
  }

  void skipSpaceAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r')
        ++pos_;
      else if (c == '#')
        while (pos_ < src_.size() && src_[pos_] != '\n')
          ++pos_;
      else
        break;
    }
  }

  Token next() {
    size_t start = pos_;
    uint32_t startCol = col();
    unsigned char c = peek();
    if (c == '\n') {
      Token t{Tok::Newline, "\n", SourceLoc{line_, startCol, 1}};
      ++pos_;
      ++line_;
      lineStart_ = pos_;
      return t;
    }
    if (isIdentStart(c)) {
      while (isIdentChar(peek()))
        ++pos_;
      std::string text(src_.substr(start, pos_ - start));
      auto kw = keywords.find(text);
      return {kw != keywords.end() ? kw->second : Tok::Ident, text, locFrom(start, startCol)};
    }
    if (std::isdigit(c) || (c == '.' && std::isdigit(peek(1))))
      return number(start, startCol);
    if (c == '"')
      return string(start, startCol);
    Tok kind = Tok::Error;
    switch (c) {
    case '(': kind = Tok::LParen; break;
    case ')': kind = Tok::RParen; break;
    case '{': kind = Tok::LBrace; break;
    case '}': kind = Tok::RBrace; break;
    case '[': kind = Tok::LBracket; break;
    case ']': kind = Tok::RBracket; break;
    case ',': kind = Tok::Comma; break;
    case ':': kind = Tok::Colon; break;
    case '=': kind = Tok::Equal; break;
    case '+': kind = Tok::Plus; break;
    case '-': kind = Tok::Minus; break;
    case '*': kind = Tok::Star; break;
    case '/': kind = Tok::Slash; break;
    case '@': kind = Tok::At; break;
    default: break;
    }
    ++pos_;
    if (kind == Tok::Error) {
      // A run of bytes that start no token is one error, not one per byte.
      while (pos_ < src_.size() && !std::isspace(peek()) && !std::isalnum(peek()) &&
             std::string_view("(){}[],:=+-*/@#\"").find(char(peek())) == std::string_view::npos)
        ++pos_;
      SourceLoc loc = locFrom(start, startCol);
      diags_.error(loc, fmt::format("unexpected {} in the model text", showByte(c)));
    }
    return {kind, std::string(src_.substr(start, pos_ - start)), locFrom(start, startCol)};
  }

  /// NUMBER := DIGITS ('.' DIGITS?)? (('e'|'E') ('+'|'-')? DIGITS)?  |  '.' DIGITS ...
  Token number(size_t start, uint32_t startCol) {
    auto digits = [&] {
      size_t n = 0;
      while (std::isdigit(peek()))
        ++pos_, ++n;
      return n;
    };
    digits();
    bool malformed = false;
    std::string why;
    if (peek() == '.') {
      ++pos_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-')
        ++pos_;
      if (digits() == 0) {
        malformed = true;
        why = "expected digits after the exponent";
      }
    }
    // Letters, digits, dots or underscores glued to a number make it malformed: 1.2.3, 12abc.
    if (isIdentChar(peek())) {
      while (isIdentChar(peek()))
        ++pos_;
      if (!malformed) {
        malformed = true;
        why = "unexpected characters after the number";
      }
    }
    SourceLoc loc = locFrom(start, startCol);
    std::string text(src_.substr(start, pos_ - start));
    if (malformed) {
      diags_.error(loc, fmt::format("malformed number '{}': {}", text, why));
      return {Tok::Error, text, loc};
    }
    return {Tok::Number, text, loc};
  }

  /// STRING := '"' (any byte but '"', '\\' or newline | '\\' any)* '"'
  Token string(size_t start, uint32_t startCol) {
    ++pos_;
    std::string value;
    while (pos_ < src_.size() && src_[pos_] != '"' && src_[pos_] != '\n') {
      if (src_[pos_] == '\\' && pos_ + 1 < src_.size() && src_[pos_ + 1] != '\n')
        ++pos_;
      value.push_back(src_[pos_++]);
    }
    if (peek() != '"') {
      SourceLoc loc = locFrom(start, startCol);
      diags_.error(loc, "unterminated string: expected '\"' before the end of the line");
      return {Tok::Error, value, loc};
    }
    ++pos_;
    return {Tok::String, value, locFrom(start, startCol)};
  }
};

} // namespace

std::vector<Token> lex(const SourceFile &file, DiagnosticEngine &diags) {
  return Lexer(file, diags).run();
}

} // namespace nnc
