//===- Lexer.h - Tokens of the .nn model language -------------------------------------------===//
//
// The lexer turns the bytes of a .nn file into tokens, each with its source span. It never
// fails: a byte that starts no token becomes an Error token and a diagnostic, and lexing goes
// on, so that the parser can report every mistake in the file. Newlines are tokens because a
// statement ends at the end of its line (inside parentheses and brackets the parser skips them).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Diagnostic.h"

#include <string>
#include <vector>

namespace nnc {

enum class Tok {
  Eof, Newline, Error,
  Ident, Number, String,
  // keywords
  KwModel, KwTrain, KwDef, KwReturn, KwInput, KwTarget, KwParam, KwOutput, KwLoss, KwTrue, KwFalse,
  // punctuation
  LParen, RParen, LBrace, RBrace, LBracket, RBracket, Comma, Colon, Equal,
  Plus, Minus, Star, Slash, At,
};

/// A printable description of a token kind for "expected X, found Y" messages.
const char *describe(Tok kind);

struct Token {
  Tok kind = Tok::Eof;
  std::string text; ///< the token's bytes; for String, the value without quotes
  SourceLoc loc;
};

/// Splits the file into tokens; reports malformed numbers, strings and stray bytes to `diags`.
/// The result always ends with an Eof token.
std::vector<Token> lex(const SourceFile &file, DiagnosticEngine &diags);

} // namespace nnc
