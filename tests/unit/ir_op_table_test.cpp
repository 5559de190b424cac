//===- ir_op_table_test.cpp - Every op of Ops.def has a rule, text form and kernel ----------===//
//
// Walks the op table: each op must have a mnemonic that reads back, a doc, attribute specs in
// name order, a sample instance (ir_samples.h) whose shape rule gives the expected type, an
// interpreter kernel that evaluates the sample, and a textual form that survives print -> parse
// -> print inside one function holding every op.
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/TextParser.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

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
} // namespace

TEST_CASE("every op of the table has mnemonic, doc, attribute specs, sample, shape rule and kernel", "[ir]") {
  for (OpKind op : allOpKinds()) {
    INFO("op " << mnemonic(op));
    CHECK(opKindFromMnemonic(mnemonic(op)) == op);
    CHECK(!opDoc(op).empty());
    auto specs = attrSpecs(op);
    for (size_t i = 1; i < specs.size(); ++i)
      CHECK(specs[i - 1].name < specs[i].name); // canonical order equals printing order
    for (const AttrSpec &spec : specs)
      if (spec.defaultValue)
        CHECK(attrKind(*spec.defaultValue) == spec.kind);
    auto sample = sampleOf(op);
    if (!sample) {
      FAIL("op '" << mnemonic(op) << "' has no sample in tests/unit/ir_samples.h");
      continue;
    }
    auto type = inferType(op, sample->operands, sample->attrs);
    if (auto *e = std::get_if<std::string>(&type))
      FAIL("shape rule of '" << mnemonic(op) << "' rejects its sample: " << *e);
    else
      CHECK(std::get<TensorType>(type) == sample->result);
    if (hasFlag(op, OpElementwise))
      for (const TensorType &t : sample->operands)
        CHECK(t.shape == sample->result.shape);
    CHECK(numOperands(op) == (numOperands(op) < 0 ? -1 : static_cast<int>(sample->operands.size())));
    if (!hasKernel(op)) {
      FAIL("op '" << mnemonic(op) << "' has no interpreter kernel");
      continue;
    }
    std::vector<Tensor> operands;
    for (const TensorType &t : sample->operands)
      operands.push_back(sampleData(t));
    auto out = evaluateOp(op, operands, sample->attrs);
    if (auto *e = std::get_if<std::string>(&out))
      FAIL("interpreting '" << mnemonic(op) << "' fails: " << *e);
    else
      CHECK(std::get<Tensor>(out).type == sample->result);
  }
  CHECK(opSamples().size() == kNumOpKinds);
}

TEST_CASE("a function with every op verifies, prints, parses back to the same text and evaluates", "[ir]") {
  Module m = everyOpModule();
  CHECK(verifyModule(m).empty());
  std::string text = printModule(m);
  for (OpKind op : allOpKinds()) {
    INFO("op " << mnemonic(op));
    CHECK(text.find(fmt::format(" = {} ", mnemonic(op))) != std::string::npos);
  }
  SourceFile file("every_op.nnir", text);
  DiagnosticEngine diags(&file);
  auto parsed = parseModule(file, diags);
  INFO(diags.renderAll());
  REQUIRE(parsed);
  CHECK(printModule(*parsed) == text);
  CHECK(verifyModule(*parsed).empty());

  const Function &f = parsed->functions().front();
  REQUIRE(f.nodes().size() == m.functions().front().nodes().size());
  CHECK(f.nodes()[0].loc == SourceLoc{1, 3, 4});
  CHECK(f.findArgument("w")->trainable);
  CHECK(f.findArgument("w")->init == "glorot_uniform");

  std::map<std::string, Tensor> args;
  for (const Argument &a : f.arguments())
    args[a.name] = sampleData(a.type);
  auto r = evaluate(f, args);
  REQUIRE(std::holds_alternative<EvalResult>(r));
  CHECK(std::get<EvalResult>(r).results.size() == kNumOpKinds);
  CHECK(std::get<EvalResult>(r).updates.at("w").data[0] == -0.5);
}
