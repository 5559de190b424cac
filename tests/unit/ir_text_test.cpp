//===- ir_text_test.cpp - Printing and parsing the textual IR -------------------------------===//
//
// The exact printed form of a small train step, print -> parse -> print identity, located
// errors for malformed text, and a mutation test that feeds truncated and corrupted text to
// the parser (run under ASan/UBSan it proves no input crashes it).
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include "ir/Builder.h"
#include "ir/TextParser.h"
#include "ir/TextPrinter.h"
#include "ir/Random.h"
#include "ir/Verifier.h"

#include <catch2/catch.hpp>

using namespace nnc;
using namespace nnc::test;

namespace {
/// A small softmax-regression train step with a location on every node.
Module trainStep() {
  Module m;
  Function &f = m.addFunction("train_step");
  Builder b(f);
  ValueId x = f.addArgument("x", f32({16, 4}), ArgRole::Input);
  ValueId y = f.addArgument("y", i32({16}), ArgRole::Target);
  ValueId w = f.addArgument("W", f32({4, 3}), ArgRole::State, true, "glorot_uniform", {3, 9, 1});
  ValueId step = f.addArgument("step", i32({}), ArgRole::State, false, "zeros");
  b.setLoc({12, 16, 5});
  ValueId logits = b.matmul(x, w);
  b.setLoc({13, 8, 1});
  ValueId probs = b.softmax(logits, 1);
  ValueId loss = b.reduceMean(b.softmaxCrossEntropy(logits, y), {0});
  f.addResult("loss", loss);
  f.addResult("probs", probs);
  b.setLoc({});
  ValueId g = b.matmul(x, b.sub(probs, b.oneHot(y, 3)), true);
  f.addUpdate(w, b.sub(w, b.mul(b.constant(0.1 / 16, f32({4, 3})), g)));
  f.addUpdate(step, b.add(step, b.scalar(1, DType::I32)));
  return m;
}

const char *kTrainStepText = R"(func @train_step(
    %x: f32[16,4] input,
    %y: i32[16] target,
    %W: f32[4,3] state trainable init="glorot_uniform" loc(3:9),
    %step: i32[] state init="zeros"
) {
  %0 = matmul %x, %W {transpose_a = false, transpose_b = false} : f32[16,3] loc(12:16-20)
  %1 = softmax %0 {axis = 1} : f32[16,3] loc(13:8)
  %2 = softmax_cross_entropy %0, %y : f32[16] loc(13:8)
  %3 = reduce_mean %2 {axes = [0], keepdims = false} : f32[] loc(13:8)
  %4 = one_hot %y {depth = 3, dtype = "f32"} : f32[16,3]
  %5 = sub %1, %4 : f32[16,3]
  %6 = matmul %x, %5 {transpose_a = true, transpose_b = false} : f32[4,3]
  %7 = constant {dtype = "f32", shape = [4, 3], value = 0.00625} : f32[4,3]
  %8 = mul %7, %6 : f32[4,3]
  %9 = sub %W, %8 : f32[4,3]
  %10 = constant {dtype = "i32", shape = [], value = 1.0} : i32[]
  %11 = add %step, %10 : i32[]
  return loss = %3, probs = %1
  update %W = %9
  update %step = %11
}
)";

/// Parses `text`; returns the rendered diagnostics ("" on success).
std::string parseErrors(const std::string &text) {
  SourceFile file("t.nnir", text);
  DiagnosticEngine diags(&file);
  auto m = parseModule(file, diags);
  CHECK(m.has_value() == !diags.hasErrors());
  return diags.renderAll();
}
} // namespace

TEST_CASE("printer writes the documented textual form", "[ir]") {
  Module m = trainStep();
  REQUIRE(verifyModule(m).empty());
  CHECK(printModule(m) == kTrainStepText);
  const Function &f = m.functions().front();
  CHECK(valueName(f, f.arguments()[2].value) == "%W");
  CHECK(valueName(f, f.nodes()[3].result) == "%3");
  CHECK(valueName(f, ValueId{}) == "%<invalid>");
  CHECK(formatLoc({12, 16, 1}) == "loc(12:16)");
  CHECK(formatLoc({}) == "");
}

TEST_CASE("parser reads printed text back to identical text and an equal graph", "[ir]") {
  SourceFile file("train.nnir", std::string(kTrainStepText) + "\n// a comment\nfunc @empty() {\n  return\n}\n");
  DiagnosticEngine diags(&file);
  auto m = parseModule(file, diags);
  INFO(diags.renderAll());
  REQUIRE(m);
  REQUIRE(m->functions().size() == 2);
  CHECK(printModule(*m) == std::string(kTrainStepText) + "\nfunc @empty() {\n  return\n}\n");
  const Function &f = *m->findFunction("train_step");
  CHECK(f.nodes()[0].loc == SourceLoc{12, 16, 5});
  CHECK(f.findArgument("W")->loc == SourceLoc{3, 9, 1});
  CHECK(f.updates().size() == 2);
  CHECK(f.type(f.findResult("probs")) == f32({16, 3}));
  // floats that need every digit, infinities and strings with escapes survive the trip
  Module special;
  Function &g = special.addFunction("special");
  Builder b(g);
  g.addResult("a", b.constant(0.1 + 0.2, f64({})));
  g.addResult("b", b.constant(-std::numeric_limits<double>::infinity(), f32({2})));
  g.addResult("c", b.constant(5e-324, f64({})));
  g.addArgument("s", f32({}), ArgRole::State, false, "weird \"init\" \\ \x01");
  std::string text = printModule(special);
  SourceFile file2("s.nnir", text);
  DiagnosticEngine diags2(&file2);
  auto back = parseModule(file2, diags2);
  REQUIRE(back);
  CHECK(printModule(*back) == text);
  CHECK(back->functions().front().nodes()[0].attrs.getFloat("value") == 0.1 + 0.2);
  CHECK(back->functions().front().arguments()[0].init == "weird \"init\" \\ \x01");
}

TEST_CASE("parser reports located errors for malformed text", "[ir]") {
  struct Case {
    std::string text, error;
  };
  const std::vector<Case> cases = {
      {"func @f(%x: f32[2] input) {\n  %0 = frobnicate %x : f32[2]\n  return\n}",
       "t.nnir:2:8: error: unknown op 'frobnicate'"},
      {"func @f(%x: f16[2] input) {\n  return\n}", "t.nnir:1:13: error: expected a type such as f32[16,3], found 'f16'"},
      {"func @f(%x: f32[0] input) {\n  return\n}", "1:17: error: integer 0 is out of range [1, 2147483648]"},
      {"func @f(%x: f32[2] input) {\n  %0 = neg %y : f32[2]\n  return\n}", "2:12: error: use of undefined value %y"},
      {"func @f(%x: f32[2] input) {\n  %0 = neg %x : f32[3]\n  return\n}",
       "2:17: error: declared type f32[3] differs from the type f32[2] that neg gives"},
      {"func @f(%x: f32[2] input, %w: f32[3] input) {\n  %0 = add %x, %w : f32[2]\n  return\n}",
       "2:8: error: cannot add f32[2] and f32[3]: operand types differ"},
      {"func @f(%x: f32[2] input) {\n  %0 = leaky_relu %x {alpha = \"a\"} : f32[2]\n  return\n}",
       "attribute 'alpha' of leaky_relu must be a float"},
      {"func @f(%x: f32[2] input) {\n  %0 = neg %x : f32[2]\n  %0 = neg %x : f32[2]\n  return\n}",
       "3:3: error: value %0 is defined twice"},
      {"func @f(%x: f32[2] input, %x: f32[2] input) {\n  return\n}", "1:27: error: argument %x is declared twice"},
      {"func @f(%x: f32[2] parameter) {\n  return\n}", "expected the role input, target or state, found 'parameter'"},
      {"func @f(%x: f32[2] state init=\"zeros) {\n  return\n}", "1:31: error: unterminated string"},
      {"func @f(%x: f32[2] input) {\n  %0 = neg %x : f32[2]\n", "3:1: error: expected 'return', found end of input"},
      {"func @f(%x: f32[2] input) {\n  return r = %x\n  update %x = %x\n}", "update of %x, which is not a state argument"},
      {"func @f(%w: f32[2] state) {\n  %0 = reduce_sum %w {axes = [0]} : f32[]\n  return\n  update %w = %0\n}",
       "update of %w : f32[2] with %0 of type f32[]"},
      {"func @f() {\n  return\n}\nfunc @f() {\n  return\n}", "4:6: error: function @f is defined twice"},
      {"func @f() {\n  %0 = constant {value = 1e999, shape = []} : f32[]\n  return\n}", "float 1e999 is out of range"},
      {"func @f() {\n  %0 = constant {value = 1.0, shape = [99999999999999999999]} : f32[]\n  return\n}",
       "integer 99999999999999999999 is out of range"},
      {"func @f() {\n  return\n} $", "3:3: error: unexpected character '$'"},
      {"func @f() {\n  return\n}\x01", "unexpected byte 0x01"},
      {"func @f(%x: f32[2] input) {\n  %0 = neg %x : f32[2] loc(0:1)\n  return\n}", "2:28: error: integer 0 is out of range"},
  };
  for (const Case &c : cases) {
    INFO("text:\n" << c.text);
    CHECK_THAT(parseErrors(c.text), Catch::Contains(c.error));
  }
  CHECK(parseErrors("func @f() {\n  %0 = neg %x : f32[2]\n  return\n}").find("^") != std::string::npos);
  CHECK(parseErrors("// only a comment\n").empty());
}

TEST_CASE("parser survives truncated and corrupted text", "[ir]") {
  std::string text = kTrainStepText;
  for (size_t cut = 0; cut < text.size(); ++cut) {
    std::string errors = parseErrors(text.substr(0, cut));
    if (cut > 0 && cut + 2 < text.size())
      CHECK(!errors.empty()); // every proper prefix is incomplete
  }
  const std::string alphabet = "%@{}[](),:=-\"\\0123456789.e fx\n\x80\xff";
  for (uint64_t trial = 0; trial < 3000; ++trial) {
    std::string mutated = text;
    int edits = 1 + static_cast<int>(randomBits(11, trial, 0) % 4);
    for (int e = 0; e < edits; ++e) {
      uint32_t r = randomBits(12, trial, static_cast<uint64_t>(e));
      size_t pos = r % mutated.size();
      char c = alphabet[(r >> 16) % alphabet.size()];
      switch ((r >> 24) % 3) {
      case 0: mutated[pos] = c; break;
      case 1: mutated.insert(mutated.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
      default: mutated.erase(pos, 1 + (r >> 8) % 8); break;
      }
    }
    parseErrors(mutated); // must not crash; consistency of result and errors is checked inside
  }
}
