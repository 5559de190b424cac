//===- ir_op_table_test.cpp - Every row of Ops.def has each of its concerns -----------------===//
//
// Walks the op table: each op must have a mnemonic that reads back, a doc, attribute specs in
// name order, a sample instance (ir_samples.h) whose shape rule gives the expected type, an
// interpreter kernel that evaluates the sample, a gradient rule (or a reason it has none)
// exactly when Ops.def flags it OpDifferentiable, and a lowering in codegen; and a textual form
// that survives print -> parse -> print inside one function holding every op. The check takes
// its registries as parameters, so a test also shows that it notices each missing concern.
// docs/IR.md's op list is checked against the table too.
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include "codegen/Emitter.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/TextParser.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"
#include "passes/training/GradRules.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

using namespace nnc;
using namespace nnc::test;

namespace {
/// Deterministic operand data a sample accepts: positive floats, 0/1 integers and masks.
Tensor sampleData(const TensorType &t) {
  Tensor x = Tensor::filled(t, 0);
  for (size_t i = 0; i < x.data.size(); ++i)
    x.data[i] = isFloat(t.dtype) ? 0.5 + 0.25 * static_cast<double>(i % 7) : static_cast<double>(i % 2);
  return x;
}

/// One function with an argument per sample operand and one node per sample, all results.
Module everyOpModule() {
  Module m;
  Function &f = m.addFunction("every_op");
  Builder b(f);
  uint32_t line = 1;
  for (const OpSample &s : opSamples()) {
    std::vector<ValueId> operands;
    for (size_t i = 0; i < s.operands.size(); ++i)
      operands.push_back(f.addArgument(fmt::format("{}_{}", mnemonic(s.op), i), s.operands[i], ArgRole::Input));
    auto v = b.tryCreate(s.op, operands, s.attrs, SourceLoc{line++, 3, 4});
    REQUIRE(v.ok());
    f.addResult(std::string(mnemonic(s.op)), *v);
  }
  ValueId w = f.addArgument("w", f32({2, 3}), ArgRole::State, true, "glorot_uniform", SourceLoc{90, 1, 1});
  f.addArgument("y", i32({2}), ArgRole::Target);
  f.addUpdate(w, b.neg(w));
  return m;
}

/// Where the concerns of an op are registered: the real ones by default, a test swaps one.
struct Registries {
  std::function<bool(OpKind)> hasKernel = nnc::hasKernel;
  std::function<bool(OpKind)> hasLowering = nnc::hasLowering;
  const GradRuleTable *gradRules = &defaultGradRules();
  const std::vector<OpSample> *samples = &opSamples();
};

/// What the row of `op` lacks, one line per missing concern; empty when it has them all.
std::vector<std::string> missingConcerns(OpKind op, const Registries &r = {}) {
  std::vector<std::string> missing;
  auto lacks = [&](std::string what) { missing.push_back(fmt::format("'{}' {}", mnemonic(op), what)); };
  if (opKindFromMnemonic(mnemonic(op)) != op)
    lacks("has a mnemonic that does not read back");
  if (opDoc(op).empty())
    lacks("has no doc in Ops.def");
  auto specs = attrSpecs(op);
  for (size_t i = 1; i < specs.size(); ++i)
    if (!(specs[i - 1].name < specs[i].name)) // canonical order equals printing order
      lacks(fmt::format("lists attribute '{}' after '{}' in Ops.def", specs[i].name, specs[i - 1].name));
  for (const AttrSpec &spec : specs)
    if (spec.defaultValue && attrKind(*spec.defaultValue) != spec.kind)
      lacks(fmt::format("has a default of the wrong kind for attribute '{}'", spec.name));

  const GradRule *rule = r.gradRules->find(op);
  if (!rule)
    lacks("has no row in the gradient rules (passes/training/GradRules.cpp)");
  else if (hasFlag(op, OpDifferentiable) && rule->kind == RuleKind::NotDifferentiable)
    lacks("is flagged OpDifferentiable but its gradient rule says it is not differentiable");
  else if (!hasFlag(op, OpDifferentiable) && rule->kind != RuleKind::NotDifferentiable)
    lacks("has a gradient rule but no OpDifferentiable flag");
  else if (rule->kind == RuleKind::NotDifferentiable && rule->why.empty())
    lacks("is declared not differentiable without a reason");
  if (!r.hasLowering(op))
    lacks("has no lowering in codegen");

  const OpSample *sample = nullptr;
  for (const OpSample &s : *r.samples)
    if (s.op == op)
      sample = &s;
  if (!sample) {
    lacks("has no sample in tests/unit/ir_samples.h");
    return missing;
  }
  auto type = inferType(op, sample->operands, sample->attrs);
  if (!type)
    lacks("has a shape rule (ir/ShapeRules.cpp) that rejects its sample: " + type.message());
  else if (*type != sample->result)
    lacks("has a shape rule that gives " + type->str() + " for its sample, not " +
          sample->result.str());
  if (hasFlag(op, OpElementwise))
    for (const TensorType &t : sample->operands)
      if (t.shape != sample->result.shape)
        lacks("is flagged OpElementwise but its sample's operand shapes differ from the result's");
  if (numOperands(op) >= 0 && static_cast<size_t>(numOperands(op)) != sample->operands.size())
    lacks("has a sample with the wrong number of operands");
  if (!r.hasKernel(op)) {
    lacks("has no interpreter kernel (ir/Interpreter.cpp)");
    return missing;
  }
  std::vector<Tensor> operands;
  for (const TensorType &t : sample->operands)
    operands.push_back(sampleData(t));
  auto out = evaluateOp(op, operands, sample->attrs);
  if (!out)
    lacks("fails in the interpreter: " + out.message());
  else if (out->type != sample->result)
    lacks("gets a result of the wrong type from the interpreter");
  return missing;
}

/// The text of a file of the source tree.
std::string readSource(const std::string &path) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
} // namespace

TEST_CASE("every row of the op table has its mnemonic, doc, attributes, sample, shape rule, kernel, gradient "
          "rule and lowering",
          "[ir]") {
  for (OpKind op : allOpKinds())
    for (const std::string &m : missingConcerns(op))
      FAIL_CHECK(m);
  CHECK(opSamples().size() == kNumOpKinds);
}

TEST_CASE("the op-table check notices each missing concern", "[ir]") {
  const OpKind op = OpKind::Exp;
  auto mentions = [](const std::vector<std::string> &missing, std::string_view what) {
    for (const std::string &m : missing)
      if (m.find(what) != std::string::npos)
        return true;
    return false;
  };
  REQUIRE(missingConcerns(op).empty());

  Registries noKernel;
  noKernel.hasKernel = [&](OpKind k) { return k != op && hasKernel(k); };
  CHECK(mentions(missingConcerns(op, noKernel), "no interpreter kernel"));

  Registries noLowering;
  noLowering.hasLowering = [&](OpKind k) { return k != op && hasLowering(k); };
  CHECK(mentions(missingConcerns(op, noLowering), "no lowering in codegen"));

  GradRuleTable withoutRule = defaultGradRules();
  withoutRule.erase(op);
  Registries noRule;
  noRule.gradRules = &withoutRule;
  CHECK(mentions(missingConcerns(op, noRule), "no row in the gradient rules"));

  GradRuleTable notDifferentiable = defaultGradRules();
  notDifferentiable.set(GradRule{op, RuleKind::NotDifferentiable, nullptr, nullptr, nullptr, nullptr, "because"});
  Registries wrongRule;
  wrongRule.gradRules = &notDifferentiable;
  CHECK(mentions(missingConcerns(op, wrongRule), "says it is not differentiable"));

  std::vector<OpSample> samples = opSamples();
  std::erase_if(samples, [&](const OpSample &s) { return s.op == op; });
  Registries noSample;
  noSample.samples = &samples;
  CHECK(mentions(missingConcerns(op, noSample), "no sample"));

  std::vector<OpSample> wrongSamples = opSamples();
  for (OpSample &s : wrongSamples)
    if (s.op == op)
      s.operands = {i32({2, 3})}; // exp's shape rule takes only floats
  Registries rejected;
  rejected.samples = &wrongSamples;
  CHECK(mentions(missingConcerns(op, rejected), "shape rule"));
}

TEST_CASE("docs/IR.md lists exactly the ops of Ops.def", "[ir][docs]") {
  std::string doc = readSource("docs/IR.md");
  size_t begin = doc.find("\n## Ops\n");
  REQUIRE(begin != std::string::npos);
  size_t end = doc.find("\n## ", begin + 1);
  std::istringstream section(doc.substr(begin, end - begin));
  // The op list is the tables of the section: the first cell of a row names one or more ops.
  std::set<std::string> listed;
  const std::regex code("`([a-z0-9_]+)`");
  for (std::string line; std::getline(section, line);) {
    if (line.rfind("| `", 0) != 0)
      continue;
    std::string cell = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(cell.begin(), cell.end(), code), last; it != last; ++it) {
      std::string name = (*it)[1];
      INFO("docs/IR.md lists `" << name << "`");
      CHECK(opKindFromMnemonic(name).has_value());
      listed.insert(name);
    }
  }
  for (OpKind op : allOpKinds())
    if (!listed.count(std::string(mnemonic(op))))
      FAIL_CHECK("docs/IR.md does not list op '" << mnemonic(op) << "' in its op tables");
}

TEST_CASE("a function with every op verifies, prints, parses back to the same text and evaluates", "[ir]") {
  Module m = everyOpModule();
  CHECK(verify(m).ok());
  std::string text = printModule(m);
  for (OpKind op : allOpKinds()) {
    INFO("op " << mnemonic(op));
    CHECK(text.find(fmt::format(" = {} ", mnemonic(op))) != std::string::npos);
  }
  SourceFile file("every_op.nnir", text);
  auto parsed = parseModule(file);
  INFO((parsed ? "" : parsed.message()));
  REQUIRE(parsed);
  CHECK(printModule(*parsed) == text);
  CHECK(verify(*parsed).ok());

  const Function &f = parsed->functions().front();
  REQUIRE(f.nodes().size() == m.functions().front().nodes().size());
  CHECK(f.nodes()[0].loc == SourceLoc{1, 3, 4});
  CHECK(f.findArgument("w")->trainable);
  CHECK(f.findArgument("w")->init == "glorot_uniform");

  std::map<std::string, Tensor> args;
  for (const Argument &a : f.arguments())
    args[a.name] = sampleData(a.type);
  auto r = evaluate(f, args);
  REQUIRE(r.ok());
  CHECK(r->results.size() == kNumOpKinds);
  CHECK(r->updates.at("w").data[0] == -0.5);
}
