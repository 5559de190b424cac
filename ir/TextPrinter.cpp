//===- TextPrinter.cpp - The textual form of the graph IR -----------------------------------===//
//
// Prints functions one op per line: the SSA name, the mnemonic, the operands, the attributes in
// name order, the result type and the source location; a stage label before the first node of
// each stage of a training function. Scalar constants have no line: their uses print the
// literal. Node results are numbered by position among the printed lines, which makes the text
// canonical.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/TextPrinter.h"

#include <cmath>
#include <fmt/format.h>

namespace nnc {

bool isInlineConstant(const Node &n) { return n.op == OpKind::Constant && n.type.isScalar(); }

std::string formatConstantValue(double v, DType dtype) {
  if (dtype == DType::F32 && !std::isnan(v)) {
    std::string s = fmt::format("{}", static_cast<float>(v)); // the shortest text of the float
    return s.find_first_of(".en") == std::string::npos ? s + ".0" : s;
  }
  if ((dtype == DType::I32 || dtype == DType::I1) && v == std::trunc(v) && std::fabs(v) < 9.2e18)
    return fmt::format("{}", static_cast<int64_t>(v));
  return formatAttr(Attr(v)); // the shortest text of the double
}

std::string formatScalar(double value, DType dtype) {
  return fmt::format("{}({})", dtypeName(dtype), formatConstantValue(value, dtype));
}

std::string commentLines(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    out += line.empty() ? "//\n" : fmt::format("// {}\n", line);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return out;
}

std::vector<std::string> valueNames(const Function &f) {
  std::vector<std::string> names(f.numValueIds());
  for (const Argument &a : f.arguments())
    if (a.value.valid() && a.value.index < names.size())
      names[a.value.index] = fmt::format("%{}", a.name);
  size_t line = 0;
  for (const Node &n : f.nodes()) {
    if (!n.result.valid() || n.result.index >= names.size())
      continue;
    names[n.result.index] = isInlineConstant(n)
                                ? formatScalar(n.attrs.getFloat("value"), n.type.dtype)
                                : fmt::format("%{}", line++);
  }
  return names;
}

std::string valueName(const Function &f, ValueId v) {
  if (!f.isValid(v))
    return "%<invalid>";
  return valueNames(f)[v.index];
}

std::string formatLoc(SourceLoc loc) {
  if (!loc.valid())
    return {};
  if (loc.len <= 1)
    return fmt::format("loc({}:{})", loc.line, loc.col);
  return fmt::format("loc({}:{}-{})", loc.line, loc.col, static_cast<uint64_t>(loc.col) + loc.len - 1);
}

std::string printFunction(const Function &f) {
  std::vector<std::string> names = valueNames(f);
  auto name = [&](ValueId v) -> std::string {
    return v.valid() && v.index < names.size() && !names[v.index].empty() ? names[v.index] : "%<invalid>";
  };
  std::string out = fmt::format("func @{}(", f.name());
  const auto &args = f.arguments();
  for (size_t i = 0; i < args.size(); ++i) {
    const Argument &a = args[i];
    out += fmt::format("\n    %{}: {} {}", a.name, a.type.str(), argRoleName(a.role));
    if (a.trainable)
      out += " trainable";
    if (!a.init.empty())
      out += fmt::format(" init={}", formatAttr(a.init));
    if (a.loc.valid())
      out += fmt::format(" {}", formatLoc(a.loc));
    out += i + 1 < args.size() ? "," : "\n";
  }
  out += ") {\n";
  Stage stage = Stage::None;
  for (const Node &n : f.nodes()) {
    if (isInlineConstant(n))
      continue;
    if (n.stage != Stage::None && n.stage != stage) {
      stage = n.stage;
      out += fmt::format("{}:\n", stageName(stage));
    }
    out += fmt::format("  {} = {}", name(n.result), mnemonic(n.op));
    if (n.op == OpKind::Constant) {
      // The dtype and shape are the result type's; only the value is printed.
      out += fmt::format(" {}", formatConstantValue(n.attrs.getFloat("value"), n.type.dtype));
    } else {
      for (size_t i = 0; i < n.operands.size(); ++i)
        out += fmt::format("{}{}", i ? ", " : " ", name(n.operands[i]));
      if (!n.attrs.empty())
        out += fmt::format(" {}", n.attrs.str());
    }
    out += fmt::format(" : {}", n.type.str());
    if (n.loc.valid())
      out += fmt::format(" {}", formatLoc(n.loc));
    out += "\n";
  }
  out += "  return";
  for (size_t i = 0; i < f.results().size(); ++i)
    out += fmt::format("{} {} = {}", i ? "," : "", f.results()[i].name, name(f.results()[i].value));
  out += "\n";
  for (const StateUpdate &u : f.updates())
    out += fmt::format("  update {} = {}\n", name(u.state), name(u.value));
  return out + "}\n";
}

std::string printModule(const Module &m) {
  std::string out;
  if (!m.sourceName().empty())
    out = fmt::format("source {}\n", formatAttr(m.sourceName()));
  for (const Function &f : m.functions())
    out += fmt::format("{}{}", out.empty() ? "" : "\n", printFunction(f));
  return out;
}

} // namespace nnc
