//===- TextPrinter.cpp - The textual form of the graph IR -----------------------------------===//
//
// Prints functions one op per line: the SSA name, the mnemonic, the operands, the attributes in
// name order, the result type and the source location. Node results are numbered by position,
// which makes the text canonical.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/TextPrinter.h"

#include <fmt/format.h>

namespace nnc {

std::vector<std::string> valueNames(const Function &f) {
  std::vector<std::string> names(f.numValueIds());
  for (const Argument &a : f.arguments())
    if (a.value.valid() && a.value.index < names.size())
      names[a.value.index] = fmt::format("%{}", a.name);
  for (size_t i = 0; i < f.nodes().size(); ++i)
    if (ValueId r = f.nodes()[i].result; r.valid() && r.index < names.size())
      names[r.index] = fmt::format("%{}", i);
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
  for (const Node &n : f.nodes()) {
    out += fmt::format("  {} = {}", name(n.result), mnemonic(n.op));
    for (size_t i = 0; i < n.operands.size(); ++i)
      out += fmt::format("{}{}", i ? ", " : " ", name(n.operands[i]));
    if (!n.attrs.empty())
      out += fmt::format(" {}", n.attrs.str());
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
  for (const Function &f : m.functions())
    out += fmt::format("{}{}", out.empty() ? "" : "\n", printFunction(f));
  return out;
}

} // namespace nnc
