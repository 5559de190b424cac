//===- Verifier.cpp - Checking the invariants of the graph IR -------------------------------===//
//
// Walks a function once in node order, tracking which values are defined, and checks each
// argument, node, result and update against the invariants listed in Verifier.h.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/Verifier.h"

#include "ir/TextPrinter.h"

#include <fmt/format.h>
#include <set>

namespace nnc {

namespace {
/// True for [A-Za-z_][A-Za-z0-9_.]*, the names the textual IR can spell.
bool isIdentifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
      return false;
  return true;
}

bool isLegalType(const TensorType &t) { return !shapeLimitProblem(t.shape); }

/// Appends the problems of `f` to `problems`, each at the location of the argument or node
/// concerned (results and updates have none).
void checkFunction(const Function &f, std::vector<Diagnostic> &problems) {
  SourceLoc at;
  auto problem = [&](std::string msg) {
    problems.push_back({Severity::Error, at, fmt::format("@{}: {}", f.name(), msg)});
  };
  std::vector<std::string> names = valueNames(f);
  auto name = [&](ValueId v) -> std::string {
    return f.isValid(v) ? names[v.index] : "%<invalid>";
  };
  if (!isIdentifier(f.name()))
    problem(fmt::format("function name '{}' is not an identifier", f.name()));

  std::vector<bool> defined(f.numValueIds(), false);
  std::set<std::string, std::less<>> argNames;
  for (const Argument &a : f.arguments()) {
    at = a.loc;
    if (!isIdentifier(a.name))
      problem(fmt::format("argument name '{}' is not an identifier", a.name));
    if (!argNames.insert(a.name).second)
      problem(fmt::format("argument %{} is declared twice", a.name));
    if (!isLegalType(a.type))
      problem(fmt::format("argument %{} has an illegal type {}", a.name, a.type.str()));
    if (a.role != ArgRole::State && (a.trainable || !a.init.empty()))
      problem(fmt::format("argument %{} is {}, but only state can be trainable or have an init", a.name,
                          argRoleName(a.role)));
    if (!f.isArgument(a.value) || &f.argument(a.value) != &a)
      problem(fmt::format("argument %{} has a broken value id", a.name));
    else
      defined[a.value.index] = true;
  }

  for (const Node &n : f.nodes()) {
    at = n.loc;
    if (!f.isValid(n.result) || f.definingNode(n.result) != &n) {
      problem(fmt::format("a {} node has a broken result id", mnemonic(n.op)));
      continue;
    }
    std::string where = fmt::format("{} = {}", name(n.result), mnemonic(n.op));
    bool operandsOk = true;
    std::vector<TensorType> types;
    for (size_t i = 0; i < n.operands.size(); ++i) {
      ValueId v = n.operands[i];
      if (!f.isValid(v)) {
        problem(fmt::format("{}: operand {} is not a value of the function", where, i));
        operandsOk = false;
      } else if (!defined[v.index]) {
        problem(fmt::format("{}: operand {} is used before it is defined", where, name(v)));
        operandsOk = false;
      } else {
        types.push_back(f.type(v));
      }
    }
    defined[n.result.index] = true;
    if (!operandsOk)
      continue;
    Attrs canonical = n.attrs;
    if (Result<void> ok = canonicalizeAttrs(n.op, canonical); !ok) {
      problem(fmt::format("{}: {}", where, ok.message()));
      continue;
    }
    if (!(canonical == n.attrs))
      problem(fmt::format("{}: attributes {} are not canonical (expected {})", where, n.attrs.str(), canonical.str()));
    Result<TensorType> type = inferType(n.op, types, canonical);
    if (!type)
      problem(fmt::format("{}: {}", where, type.message()));
    else if (*type != n.type)
      problem(fmt::format("{}: result type {} differs from the shape rule's {}", where, n.type.str(),
                          type->str()));
  }

  at = {};
  std::set<std::string, std::less<>> resultNames;
  for (const FunctionResult &r : f.results()) {
    if (!isIdentifier(r.name) || r.name == "update")
      problem(fmt::format("result name '{}' is not an identifier (or is the keyword 'update')", r.name));
    if (!resultNames.insert(r.name).second)
      problem(fmt::format("result '{}' is returned twice", r.name));
    if (!f.isValid(r.value))
      problem(fmt::format("result '{}' is not a value of the function", r.name));
  }
  std::set<ValueId> updated;
  for (const StateUpdate &u : f.updates()) {
    if (!f.isArgument(u.state) || f.argument(u.state).role != ArgRole::State) {
      problem(fmt::format("update of {}, which is not a state argument", name(u.state)));
      continue;
    }
    if (!updated.insert(u.state).second)
      problem(fmt::format("state {} is updated twice", name(u.state)));
    if (!f.isValid(u.value))
      problem(fmt::format("update of {} with a value that does not exist", name(u.state)));
    else if (f.type(u.value) != f.type(u.state))
      problem(fmt::format("update of {} : {} with {} of type {}", name(u.state), f.type(u.state).str(),
                          name(u.value), f.type(u.value).str()));
  }
}

void checkModule(const Module &m, std::vector<Diagnostic> &problems) {
  std::set<std::string, std::less<>> names;
  for (const Function &f : m.functions()) {
    if (!names.insert(f.name()).second)
      problems.push_back({Severity::Error, {}, fmt::format("function @{} is defined twice", f.name())});
    checkFunction(f, problems);
  }
}

Result<void> toResult(std::vector<Diagnostic> problems) {
  if (problems.empty())
    return {};
  std::string message;
  for (const Diagnostic &d : problems)
    message += (message.empty() ? "" : "\n") + d.message;
  return Error{std::move(message), std::move(problems)};
}

} // namespace

Result<void> verify(const Function &f) {
  std::vector<Diagnostic> problems;
  checkFunction(f, problems);
  return toResult(std::move(problems));
}

Result<void> verify(const Module &m) {
  std::vector<Diagnostic> problems;
  checkModule(m, problems);
  return toResult(std::move(problems));
}

} // namespace nnc
