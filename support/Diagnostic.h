//===- Diagnostic.h - Source locations and user-facing diagnostics --------------------------===//
//
// Every stage of nnc reports user mistakes as values: a Diagnostic names a place in the source
// (line, column, length) and says what is wrong. A DiagnosticEngine collects them for one source
// file and renders them like a C compiler does: "file:line:col: error: message", the source
// line, and a caret with tildes under the span. Library code only collects; the driver prints
// and chooses the exit status.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// A span in the one source file of a compilation. Lines and columns count from 1; a
/// default-constructed location (line 0) means "no place in the source".
struct SourceLoc {
  uint32_t line = 0;
  uint32_t col = 0;
  uint32_t len = 0; ///< bytes covered by the span, at least 1 when valid
  bool valid() const { return line > 0; }
  bool operator==(const SourceLoc &) const = default;
};

/// The text of one source file, with an index of where its lines start.
class SourceFile {
public:
  SourceFile(std::string name, std::string text);
  const std::string &name() const { return name_; }
  const std::string &text() const { return text_; }
  /// The text of line `line` (1-based) without its line terminator; empty if out of range.
  std::string_view lineText(uint32_t line) const;
  uint32_t lineCount() const { return static_cast<uint32_t>(lineStarts_.size()); }

private:
  std::string name_;
  std::string text_;
  std::vector<size_t> lineStarts_;
};

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;
};

/// Collects the diagnostics of one compilation. After `maxErrors` errors further ones are
/// counted but not kept, so that a pathological input cannot produce unbounded output.
class DiagnosticEngine {
public:
  explicit DiagnosticEngine(const SourceFile *file = nullptr, size_t maxErrors = 50)
      : file_(file), maxErrors_(maxErrors) {}

  void error(SourceLoc loc, std::string message) { report(Severity::Error, loc, std::move(message)); }
  void warning(SourceLoc loc, std::string message) { report(Severity::Warning, loc, std::move(message)); }
  void note(SourceLoc loc, std::string message) { report(Severity::Note, loc, std::move(message)); }
  void report(Severity severity, SourceLoc loc, std::string message);

  bool hasErrors() const { return errorCount_ > 0; }
  /// True once further errors would be counted but not kept: callers may skip costly work,
  /// such as looking for a "did you mean" suggestion, that only goes into a message.
  bool atErrorLimit() const { return errorCount_ >= maxErrors_; }
  size_t errorCount() const { return errorCount_; }
  const std::vector<Diagnostic> &diagnostics() const { return diags_; }
  const SourceFile *file() const { return file_; }

  /// Renders one diagnostic: header line, source line and caret line (the latter two only when
  /// the location is valid and the file is known).
  std::string render(const Diagnostic &d) const;
  /// Renders all kept diagnostics, then "N errors generated." when there was more than one.
  std::string renderAll() const;

private:
  const SourceFile *file_;
  size_t maxErrors_;
  size_t errorCount_ = 0;
  bool truncated_ = false;
  std::vector<Diagnostic> diags_;
};

} // namespace nnc
