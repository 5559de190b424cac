//===- TextParser.cpp - Reading the textual graph IR ----------------------------------------===//
//
// A lexer over the IR text (identifiers, %names, @names, numbers, strings, punctuation, `//`
// comments) and a recursive-descent parser following the grammar in docs/IR.md. Nodes are
// rebuilt through Builder::tryCreate, so the shape rules check every node; a declared type that
// differs from the rule's is an error. An inline scalar constant (`f32(0.1)`) becomes one
// `constant` node per dtype and value in its function, placed before its first use; a stage
// label marks the nodes after it. Each function is verified once parsed. The first error
// ends the parse: IR text is machine-written, so one precise message beats recovery.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/TextParser.h"

#include "ir/Builder.h"
#include "ir/Verifier.h"

#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <map>

namespace nnc {

namespace {

enum class Tok { End, Ident, Percent, At, Int, Float, String, Punct, Error };

struct Token {
  Tok kind = Tok::End;
  std::string text; ///< identifier/name without sigil, number text, decoded string, punctuation
  SourceLoc loc;
};

/// Splits IR text into tokens, tracking line and column.
class Lexer {
public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    skipSpaceAndComments();
    Token t;
    t.loc = {line_, col_, 1};
    if (pos_ >= text_.size())
      return t;
    size_t start = pos_;
    char c = text_[pos_];
    auto isIdStart = [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)) || ch == '_'; };
    auto isIdChar = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.'; };
    if (isIdStart(c) || c == '%' || c == '@') {
      t.kind = c == '%' ? Tok::Percent : c == '@' ? Tok::At : Tok::Ident;
      if (t.kind != Tok::Ident)
        advance();
      size_t nameStart = pos_;
      while (pos_ < text_.size() && isIdChar(text_[pos_]))
        advance();
      t.text = std::string(text_.substr(nameStart, pos_ - nameStart));
      if (t.text.empty()) {
        t.kind = Tok::Error;
        t.text = fmt::format("expected a name after '{}'", c);
      }
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      t.kind = Tok::Int;
      digits();
      if (pos_ < text_.size() && text_[pos_] == '.') {
        t.kind = Tok::Float;
        advance();
        digits();
      }
      if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        t.kind = Tok::Float;
        advance();
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
          advance();
        if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
          t.kind = Tok::Error;
          t.text = "malformed exponent in number";
          return t;
        }
        digits();
      }
      t.text = std::string(text_.substr(start, pos_ - start));
    } else if (c == '"') {
      return string(t);
    } else if (std::string_view("(){}[],:=-").find(c) != std::string_view::npos) {
      t.kind = Tok::Punct;
      t.text = std::string(1, c);
      advance();
    } else {
      t.kind = Tok::Error;
      t.text = std::isprint(static_cast<unsigned char>(c)) ? fmt::format("unexpected character '{}'", c)
                                                            : fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c));
      advance();
      return t;
    }
    t.loc.len = static_cast<uint32_t>(std::max<size_t>(1, pos_ - start));
    return t;
  }

private:
  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }
  void digits() {
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
      advance();
  }
  void skipSpaceAndComments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        advance();
      else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/')
        while (pos_ < text_.size() && text_[pos_] != '\n')
          advance();
      else
        break;
    }
  }
  /// A string literal: printable ASCII with escapes \" \\ \xHH, on one line.
  Token string(Token t) {
    size_t start = pos_;
    advance();
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') {
        t.kind = Tok::Error;
        t.text = "unterminated string";
        return t;
      }
      char c = text_[pos_];
      if (c == '"') {
        advance();
        break;
      }
      if (c != '\\') {
        t.text += c;
        advance();
        continue;
      }
      advance();
      char e = pos_ < text_.size() ? text_[pos_] : '\0';
      if (e == '"' || e == '\\') {
        t.text += e;
        advance();
      } else if (e == 'x' && pos_ + 2 < text_.size() && std::isxdigit(static_cast<unsigned char>(text_[pos_ + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(text_[pos_ + 2]))) {
        t.text += static_cast<char>(std::stoi(std::string(text_.substr(pos_ + 1, 2)), nullptr, 16));
        advance(), advance(), advance();
      } else {
        t.kind = Tok::Error;
        t.text = "unknown escape in string (use \\\", \\\\ or \\xHH)";
        return t;
      }
    }
    t.kind = Tok::String;
    t.loc.len = static_cast<uint32_t>(pos_ - start);
    return t;
  }

  std::string_view text_;
  size_t pos_ = 0;
  uint32_t line_ = 1, col_ = 1;
};

/// Thrown-free recursive descent: every parse function returns false after reporting an error.
class Parser {
public:
  Parser(const SourceFile &file, DiagnosticEngine &diags) : lexer_(file.text()), diags_(diags) { tok_ = lexer_.next(); }

  // module := ('source' STRING)? function*
  std::optional<Module> parseModule() {
    Module m;
    if (isKeyword("source")) {
      consume();
      if (tok_.kind != Tok::String) {
        errorHere("the source file's name as a string");
        return std::nullopt;
      }
      m.setSourceName(tok_.text);
      consume();
    }
    while (tok_.kind != Tok::End)
      if (!parseFunction(m))
        return std::nullopt;
    return m;
  }

private:
  bool error(SourceLoc loc, std::string msg) {
    diags_.error(loc, std::move(msg));
    return false;
  }
  bool errorHere(std::string expected) {
    if (tok_.kind == Tok::Error)
      return error(tok_.loc, tok_.text);
    std::string found = tok_.kind == Tok::End ? "end of input" : fmt::format("'{}'", describe(tok_));
    return error(tok_.loc, fmt::format("expected {}, found {}", expected, found));
  }
  static std::string describe(const Token &t) {
    switch (t.kind) {
    case Tok::Percent: return fmt::format("%{}", t.text);
    case Tok::At: return fmt::format("@{}", t.text);
    case Tok::String: return formatAttr(t.text);
    default: return t.text;
    }
  }
  void consume() { tok_ = lexer_.next(); }
  bool isPunct(char c) const { return tok_.kind == Tok::Punct && tok_.text[0] == c; }
  bool isKeyword(std::string_view k) const { return tok_.kind == Tok::Ident && tok_.text == k; }
  bool expectPunct(char c) {
    if (!isPunct(c))
      return errorHere(fmt::format("'{}'", c));
    consume();
    return true;
  }
  bool expectKeyword(std::string_view k) {
    if (!isKeyword(k))
      return errorHere(fmt::format("'{}'", k));
    consume();
    return true;
  }
  bool expectName(Tok kind, std::string &out, SourceLoc &loc, std::string_view what) {
    if (tok_.kind != kind)
      return errorHere(std::string(what));
    out = tok_.text;
    loc = tok_.loc;
    consume();
    return true;
  }

  // int := '-'? INT, within [lo, hi]
  bool parseInt(int64_t &out, int64_t lo, int64_t hi) {
    SourceLoc loc = tok_.loc;
    bool negative = isPunct('-');
    if (negative)
      consume();
    if (tok_.kind != Tok::Int)
      return errorHere("an integer");
    std::string text = fmt::format("{}{}", negative ? "-" : "", tok_.text);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || end != text.data() + text.size() || out < lo || out > hi)
      return error(loc, fmt::format("integer {} is out of range [{}, {}]", text, lo, hi));
    consume();
    return true;
  }

  // type := DTYPE '[' (INT (',' INT)*)? ']'
  bool parseType(TensorType &out) {
    SourceLoc loc = tok_.loc;
    std::optional<DType> dtype = tok_.kind == Tok::Ident ? parseDType(tok_.text) : std::nullopt;
    if (!dtype)
      return errorHere("a type such as f32[16,3]");
    consume();
    out = TensorType(*dtype, {});
    if (!expectPunct('['))
      return false;
    while (!isPunct(']')) {
      int64_t d;
      if (!out.shape.empty() && !expectPunct(','))
        return false;
      if (!parseInt(d, 1, kMaxDim))
        return false;
      out.shape.push_back(d);
    }
    consume();
    if (out.numElements() > kMaxElements)
      return error(loc, fmt::format("type {} has more than {} elements", out.str(), kMaxElements));
    return true;
  }

  // loc := 'loc' '(' INT ':' INT ('-' INT)? ')'
  bool parseOptionalLoc(SourceLoc &out) {
    if (!isKeyword("loc"))
      return true;
    consume();
    int64_t line, col, end;
    if (!expectPunct('(') || !parseInt(line, 1, UINT32_MAX) || !expectPunct(':') || !parseInt(col, 1, UINT32_MAX))
      return false;
    end = col;
    if (isPunct('-')) {
      consume();
      if (!parseInt(end, col, UINT32_MAX))
        return false;
    }
    out = {static_cast<uint32_t>(line), static_cast<uint32_t>(col), static_cast<uint32_t>(end - col + 1)};
    return expectPunct(')');
  }

  // attrvalue := int | float | 'true' | 'false' | STRING | '[' (int (',' int)*)? ']'
  // float := '-'? (FLOAT | 'inf') | 'nan'
  bool parseAttrValue(Attr &out) {
    if (tok_.kind == Tok::String) {
      out = tok_.text;
      consume();
      return true;
    }
    if (isKeyword("true") || isKeyword("false")) {
      out = tok_.text == "true";
      consume();
      return true;
    }
    if (isKeyword("nan")) {
      out = std::numeric_limits<double>::quiet_NaN();
      consume();
      return true;
    }
    if (isPunct('[')) {
      consume();
      std::vector<int64_t> list;
      while (!isPunct(']')) {
        int64_t v;
        if ((!list.empty() && !expectPunct(',')) || !parseInt(v, INT64_MIN, INT64_MAX))
          return false;
        list.push_back(v);
      }
      consume();
      out = std::move(list);
      return true;
    }
    bool negative = isPunct('-');
    if (negative)
      consume();
    if (isKeyword("inf")) {
      out = negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      consume();
      return true;
    }
    if (tok_.kind == Tok::Float) {
      std::string text = fmt::format("{}{}", negative ? "-" : "", tok_.text);
      double v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc::result_out_of_range)
        return error(tok_.loc, fmt::format("float {} is out of range", text));
      if (ec != std::errc() || end != text.data() + text.size())
        return error(tok_.loc, fmt::format("malformed float {}", text));
      out = v;
      consume();
      return true;
    }
    if (tok_.kind == Tok::Int) {
      std::string text = fmt::format("{}{}", negative ? "-" : "", tok_.text);
      int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size())
        return error(tok_.loc, fmt::format("integer {} is out of range", text));
      out = v;
      consume();
      return true;
    }
    return errorHere("an attribute value");
  }

  // attrs := '{' (NAME '=' attrvalue (',' NAME '=' attrvalue)*)? '}'
  bool parseAttrs(Attrs &out) {
    consume(); // '{'
    while (!isPunct('}')) {
      if (!out.empty() && !expectPunct(','))
        return false;
      if (tok_.kind != Tok::Ident)
        return errorHere("an attribute name");
      std::string name = tok_.text;
      SourceLoc loc = tok_.loc;
      consume();
      Attr value;
      if (!expectPunct('=') || !parseAttrValue(value))
        return false;
      if (out.has(name))
        return error(loc, fmt::format("attribute '{}' is given twice", name));
      out.set(name, std::move(value));
    }
    consume();
    return true;
  }

  /// The value called %name in the current function, or an error at `loc`.
  bool lookup(const std::string &name, SourceLoc loc, ValueId &out) {
    auto it = values_.find(name);
    if (it == values_.end())
      return error(loc, fmt::format("use of undefined value %{}", name));
    out = it->second;
    return true;
  }

  // arg := '%'NAME ':' type ROLE 'trainable'? ('init' '=' STRING)? loc?
  bool parseArgument(Function &f) {
    std::string name;
    SourceLoc nameLoc;
    TensorType type;
    if (!expectName(Tok::Percent, name, nameLoc, "an argument such as %x") || !expectPunct(':') || !parseType(type))
      return false;
    ArgRole role;
    if (isKeyword("input"))
      role = ArgRole::Input;
    else if (isKeyword("target"))
      role = ArgRole::Target;
    else if (isKeyword("state"))
      role = ArgRole::State;
    else
      return errorHere("the role input, target or state");
    consume();
    bool trainable = false;
    std::string init;
    SourceLoc loc;
    if (isKeyword("trainable")) {
      trainable = true;
      consume();
    }
    if (isKeyword("init")) {
      consume();
      if (!expectPunct('='))
        return false;
      if (tok_.kind != Tok::String)
        return errorHere("an init string such as \"zeros\"");
      init = tok_.text;
      consume();
    }
    if (!parseOptionalLoc(loc))
      return false;
    if (values_.count(name))
      return error(nameLoc, fmt::format("argument %{} is declared twice", name));
    values_[name] = f.addArgument(name, type, role, trainable, init, loc);
    return true;
  }

  /// An operand as written: a value, or an inline scalar constant not yet in the function.
  struct Operand {
    ValueId value;         ///< the value, when written as %name
    DType dtype = DType::F32;
    double literal = 0;    ///< the constant's value, when written as DTYPE '(' number ')'
    SourceLoc loc;
  };

  // operand := '%'NAME | DTYPE '(' number ')'
  bool parseOperand(Operand &out, std::string_view what) {
    out.loc = tok_.loc;
    if (tok_.kind == Tok::Ident) {
      std::optional<DType> dtype = parseDType(tok_.text);
      if (!dtype)
        return errorHere(std::string(what));
      out.dtype = *dtype;
      consume();
      return expectPunct('(') && parseNumber(out.literal) && expectPunct(')');
    }
    std::string name;
    SourceLoc loc;
    return expectName(Tok::Percent, name, loc, what) && lookup(name, loc, out.value);
  }

  // number := int | float (as in attrvalue)
  bool parseNumber(double &out) {
    SourceLoc loc = tok_.loc;
    Attr value;
    if (!parseAttrValue(value))
      return false;
    if (const int64_t *i = std::get_if<int64_t>(&value))
      out = static_cast<double>(*i);
    else if (const double *d = std::get_if<double>(&value))
      out = *d;
    else
      return error(loc, "expected a number");
    return true;
  }

  /// The value of an operand: an inline constant becomes a scalar `constant` node at `loc`,
  /// one per dtype and value in each function.
  bool materialize(Builder &b, const Operand &o, SourceLoc loc, ValueId &out) {
    if (o.value.valid()) {
      out = o.value;
      return true;
    }
    uint64_t bits;
    std::memcpy(&bits, &o.literal, sizeof bits);
    auto key = std::make_pair(static_cast<int>(o.dtype), bits);
    if (auto it = constants_.find(key); it != constants_.end()) {
      out = it->second;
      return true;
    }
    Attrs attrs{{"value", o.literal}, {"dtype", std::string(dtypeName(o.dtype))}, {"shape", std::vector<int64_t>{}}};
    auto made = b.tryCreate(OpKind::Constant, {}, std::move(attrs), loc);
    if (!made)
      return error(o.loc, made.message());
    out = constants_[key] = *made;
    b.function().setStage(b.function().nodes().size() - 1, stage_);
    return true;
  }

  // node := '%'NAME '=' MNEMONIC (operand (',' operand)*)? attrs? ':' type loc?
  //       | '%'NAME '=' 'constant' number ':' type loc?
  bool parseNode(Builder &b) {
    std::string name, mnem;
    SourceLoc nameLoc, opLoc;
    if (!expectName(Tok::Percent, name, nameLoc, "a node such as %0 = ...") || !expectPunct('='))
      return false;
    if (!expectName(Tok::Ident, mnem, opLoc, "an op mnemonic"))
      return false;
    std::optional<OpKind> op = opKindFromMnemonic(mnem);
    if (!op)
      return error(opLoc, fmt::format("unknown op '{}'", mnem));
    std::vector<Operand> operands;
    Attrs attrs;
    // `constant VALUE : type`: the dtype and shape come from the type.
    const bool compactConstant = *op == OpKind::Constant && !isPunct('{') && !isPunct(':');
    double constantValue = 0;
    if (compactConstant && !parseNumber(constantValue))
      return false;
    while (!compactConstant &&
           (operands.empty() ? tok_.kind == Tok::Percent || tok_.kind == Tok::Ident : isPunct(','))) {
      if (!operands.empty())
        consume();
      if (!parseOperand(operands.emplace_back(), "an operand such as %3 or f32(0.5)"))
        return false;
    }
    if (isPunct('{') && !parseAttrs(attrs))
      return false;
    TensorType declared;
    SourceLoc typeLoc;
    if (!expectPunct(':'))
      return false;
    typeLoc = tok_.loc;
    SourceLoc loc;
    if (!parseType(declared) || !parseOptionalLoc(loc))
      return false;
    if (values_.count(name))
      return error(nameLoc, fmt::format("value %{} is defined twice", name));
    if (compactConstant)
      attrs = Attrs{{"value", constantValue}, {"dtype", std::string(dtypeName(declared.dtype))}, {"shape", declared.shape}};
    std::vector<ValueId> values(operands.size());
    for (size_t i = 0; i < operands.size(); ++i)
      if (!materialize(b, operands[i], loc, values[i]))
        return false;
    auto made = b.tryCreate(*op, std::move(values), std::move(attrs), loc);
    if (!made)
      return error(opLoc, made.message());
    ValueId v = *made;
    b.function().setStage(b.function().nodes().size() - 1, stage_);
    if (b.type(v) != declared)
      return error(typeLoc, fmt::format("declared type {} differs from the type {} that {} gives",
                                        declared.str(), b.type(v).str(), mnem));
    values_[name] = v;
    return true;
  }

  // stage := ('forward' | 'backward' | 'update') ':'
  bool parseStageLabel() {
    stage_ = *parseStage(tok_.text);
    consume();
    return expectPunct(':');
  }

  // function := 'func' '@'NAME '(' (arg (',' arg)*)? ')' '{' (stage | node)* return update* '}'
  // return := 'return' (NAME '=' operand (',' NAME '=' operand)*)?
  // update := 'update' '%'NAME '=' operand
  bool parseFunction(Module &m) {
    SourceLoc funcLoc = tok_.loc;
    std::string name;
    SourceLoc nameLoc;
    if (!expectKeyword("func") || !expectName(Tok::At, name, nameLoc, "a function name such as @train_step") ||
        !expectPunct('('))
      return false;
    if (m.findFunction(name))
      return error(nameLoc, fmt::format("function @{} is defined twice", name));
    Function &f = m.addFunction(name);
    values_.clear();
    while (!isPunct(')')) {
      if (!f.arguments().empty() && !expectPunct(','))
        return false;
      if (!parseArgument(f))
        return false;
    }
    consume();
    if (!expectPunct('{'))
      return false;
    Builder b(f);
    constants_.clear();
    stage_ = Stage::None;
    while (tok_.kind == Tok::Percent || (tok_.kind == Tok::Ident && parseStage(tok_.text)))
      if (!(tok_.kind == Tok::Percent ? parseNode(b) : parseStageLabel()))
        return false;
    if (!expectKeyword("return"))
      return false;
    if (tok_.kind == Tok::Ident && !isKeyword("update")) {
      while (true) {
        std::string result;
        SourceLoc resultLoc;
        Operand o;
        ValueId v;
        if (!expectName(Tok::Ident, result, resultLoc, "a result name") || !expectPunct('=') ||
            !parseOperand(o, "a value such as %3") || !materialize(b, o, {}, v))
          return false;
        f.addResult(result, v);
        if (!isPunct(','))
          break;
        consume();
      }
    }
    while (isKeyword("update")) {
      consume();
      std::string state;
      SourceLoc stateLoc;
      Operand o;
      ValueId s, v;
      if (!expectName(Tok::Percent, state, stateLoc, "a state argument such as %W") || !lookup(state, stateLoc, s) ||
          !expectPunct('=') || !parseOperand(o, "a value such as %3") || !materialize(b, o, {}, v))
        return false;
      f.addUpdate(s, v);
    }
    if (!expectPunct('}'))
      return false;
    Result<void> wellFormed = verify(f);
    if (wellFormed)
      return true;
    // The verifier locates a problem in the .nn source; in this text it is at the function.
    for (const Diagnostic &d : wellFormed.error().diagnostics)
      error(funcLoc, d.message);
    return false;
  }

  Lexer lexer_;
  DiagnosticEngine &diags_;
  Token tok_;
  std::map<std::string, ValueId, std::less<>> values_;
  std::map<std::pair<int, uint64_t>, ValueId> constants_; ///< inline constants by dtype and bits
  Stage stage_ = Stage::None;                             ///< the stage of the nodes being read
};

} // namespace

Result<Module> parseModule(const SourceFile &file) {
  DiagnosticEngine diags(&file);
  std::optional<Module> m = Parser(file, diags).parseModule();
  if (!m && !diags.hasErrors())
    diags.error({}, "internal error: the IR parser failed without saying why");
  if (diags.hasErrors())
    return Error::from(diags);
  return std::move(*m);
}

} // namespace nnc
