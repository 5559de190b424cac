//===- Diagnostic.cpp - Rendering diagnostics with source line and caret --------------------===//
#include "support/Diagnostic.h"

#include <fmt/format.h>

#include <algorithm>

namespace nnc {

SourceFile::SourceFile(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {
  lineStarts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n')
      lineStarts_.push_back(i + 1);
}

std::string_view SourceFile::lineText(uint32_t line) const {
  if (line == 0 || line > lineStarts_.size())
    return {};
  size_t begin = lineStarts_[line - 1];
  size_t end = line < lineStarts_.size() ? lineStarts_[line] - 1 : text_.size();
  if (end > begin && text_[end - 1] == '\r')
    --end;
  return std::string_view(text_).substr(begin, end - begin);
}

void DiagnosticEngine::report(Severity severity, SourceLoc loc, std::string message) {
  if (severity == Severity::Error)
    ++errorCount_;
  if (errorCount_ > maxErrors_) {
    truncated_ = true;
    return;
  }
  diags_.push_back({severity, loc, std::move(message)});
}

/// Makes a source line safe to print to a terminal: control bytes become spaces (tabs are
/// kept so that the caret line, which copies them, still lines up).
static std::string printable(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (unsigned char c : line)
    out.push_back(c == '\t' || (c >= 0x20 && c != 0x7f) ? char(c) : ' ');
  return out;
}

std::string DiagnosticEngine::render(const Diagnostic &d) const {
  static constexpr const char *kinds[] = {"error", "warning", "note"};
  const char *kind = kinds[static_cast<int>(d.severity)];
  std::string name = file_ ? file_->name() : std::string("<input>");
  if (!d.loc.valid())
    return fmt::format("{}: {}: {}\n", name, kind, d.message);
  std::string out = fmt::format("{}:{}:{}: {}: {}\n", name, d.loc.line, d.loc.col, kind, d.message);
  if (!file_)
    return out;
  std::string line = printable(file_->lineText(d.loc.line));
  out += "  " + line + "\n  ";
  // The caret line copies tabs and skips UTF-8 continuation bytes, so it lines up under any
  // terminal's rendering of the source line.
  size_t col = d.loc.col - 1;
  for (size_t i = 0; i < col && i < line.size(); ++i) {
    unsigned char c = line[i];
    if ((c & 0xC0) == 0x80)
      continue;
    out.push_back(c == '\t' ? '\t' : ' ');
  }
  out.push_back('^');
  size_t len = d.loc.len > 1 ? d.loc.len : 1;
  size_t end = std::min(col + len, std::max(line.size(), col + 1));
  for (size_t i = col + 1; i < end; ++i)
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80)
      out.push_back('~');
  out.push_back('\n');
  return out;
}

std::string DiagnosticEngine::renderAll() const {
  // Report in source order, whichever stage found the problem; a note stays after the error
  // or warning it belongs to.
  std::vector<std::vector<const Diagnostic *>> groups;
  for (const Diagnostic &d : diags_) {
    if (d.severity != Severity::Note || groups.empty())
      groups.emplace_back();
    groups.back().push_back(&d);
  }
  std::stable_sort(groups.begin(), groups.end(), [](const auto &a, const auto &b) {
    SourceLoc x = a.front()->loc, y = b.front()->loc;
    return x.line != y.line ? x.line < y.line : x.col < y.col;
  });
  std::string out;
  for (const auto &group : groups)
    for (const Diagnostic *d : group)
      out += render(*d);
  if (truncated_)
    out += fmt::format("{}: error: too many errors; stopped after {}\n",
                       file_ ? file_->name() : std::string("<input>"), maxErrors_);
  if (errorCount_ > 1)
    out += fmt::format("{} errors generated.\n", errorCount_);
  return out;
}

} // namespace nnc
