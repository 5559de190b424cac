//===- ir_text_test.cpp - Printing and parsing the textual IR -------------------------------===//
//
// The exact printed form of a small train step (source line, stage labels, inline scalar
// constants), print -> parse -> print identity, the shortest text of constant values, located
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
/// A small softmax-regression train step with its stages marked and a location on every
/// forward node.
Module trainStep() {
  Module m;
  m.setSourceName("softmax.nn");
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
  ValueId loss = b.mul(b.scalar(1 - 0.9), b.reduceMean(b.softmaxCrossEntropy(logits, y), {0}));
  f.addResult("loss", loss);
  f.addResult("probs", probs);
  f.setStage(0, Stage::Forward);
  const size_t backward = f.nodes().size();
  b.setLoc({});
  ValueId g = b.matmul(x, b.sub(probs, b.oneHot(y, 3)), true);
  f.setStage(backward, Stage::Backward);
  const size_t update = f.nodes().size();
  b.setLoc({20, 3, 9});
  f.addUpdate(w, b.sub(w, b.mul(b.constant(0.1 / 16, f32({4, 3})), g)));
  f.addUpdate(step, b.add(step, b.scalar(1, DType::I32)));
  f.setStage(update, Stage::Update);
  return m;
}

const char *kTrainStepText = R"(source "softmax.nn"

func @train_step(
    %x: f32[16,4] input,
    %y: i32[16] target,
    %W: f32[4,3] state trainable init="glorot_uniform" loc(3:9),
    %step: i32[] state init="zeros"
) {
forward:
  %0 = matmul %x, %W {transpose_a = false, transpose_b = false} : f32[16,3] loc(12:16-20)
  %1 = softmax %0 {axis = 1} : f32[16,3] loc(13:8)
  %2 = softmax_cross_entropy %0, %y : f32[16] loc(13:8)
  %3 = reduce_mean %2 {axes = [0], keepdims = false} : f32[] loc(13:8)
  %4 = mul f32(0.1), %3 : f32[] loc(13:8)
backward:
  %5 = one_hot %y {depth = 3, dtype = "f32"} : f32[16,3]
  %6 = sub %1, %5 : f32[16,3]
  %7 = matmul %x, %6 {transpose_a = true, transpose_b = false} : f32[4,3]
update:
  %8 = constant 0.00625 : f32[4,3] loc(20:3-11)
  %9 = mul %8, %7 : f32[4,3] loc(20:3-11)
  %10 = sub %W, %9 : f32[4,3] loc(20:3-11)
  %11 = add %step, i32(1) : i32[] loc(20:3-11)
  return loss = %4, probs = %1
  update %W = %10
  update %step = %11
}
)";

/// Parses `text`; returns the rendered diagnostics ("" on success).
std::string parseErrors(const std::string &text) {
  SourceFile file("t.nnir", text);
  Result<Module> m = parseModule(file);
  if (m)
    return "";
  CHECK(m.error().located());
  return m.error().message;
}
} // namespace

TEST_CASE("printer writes the documented textual form", "[ir]") {
  Module m = trainStep();
  REQUIRE(verify(m).ok());
  CHECK(printModule(m) == kTrainStepText);
  const Function &f = m.functions().front();
  CHECK(valueName(f, f.arguments()[2].value) == "%W");
  CHECK(valueName(f, f.nodes()[3].result) == "%3");
  CHECK(valueName(f, f.nodes()[4].result) == "f32(0.1)"); // the inline constant
  CHECK(valueName(f, f.nodes()[5].result) == "%4");       // numbered among printed nodes
  CHECK(valueName(f, ValueId{}) == "%<invalid>");
  CHECK(formatLoc({12, 16, 1}) == "loc(12:16)");
  CHECK(formatLoc({}) == "");
  // Without a source name or stages there is neither a source line nor labels.
  Module plain;
  Function &p = plain.addFunction("p");
  Builder b(p);
  p.addResult("r", b.neg(p.addArgument("x", f32({2}), ArgRole::Input)));
  CHECK(printModule(plain) == "func @p(\n    %x: f32[2] input\n) {\n  %0 = neg %x : f32[2]\n  return r = %0\n}\n");
}

TEST_CASE("constant values print as the shortest text of their dtype", "[ir]") {
  CHECK(formatConstantValue(1 - 0.9, DType::F32) == "0.1");
  CHECK(formatConstantValue(1 - 0.9, DType::F64) == "0.09999999999999998");
  CHECK(formatConstantValue(0.1 + 0.2, DType::F64) == "0.30000000000000004");
  CHECK(formatConstantValue(1e-8, DType::F32) == "1e-08");
  CHECK(formatConstantValue(2, DType::F32) == "2.0");
  CHECK(formatConstantValue(-0.0, DType::F32) == "-0.0");
  CHECK(formatConstantValue(std::numeric_limits<double>::infinity(), DType::F32) == "inf");
  CHECK(formatConstantValue(-std::numeric_limits<double>::infinity(), DType::F64) == "-inf");
  CHECK(formatConstantValue(std::numeric_limits<double>::quiet_NaN(), DType::F64) == "nan");
  CHECK(formatConstantValue(1e300, DType::F32) == "inf"); // what the f32 constant holds
  CHECK(formatConstantValue(-7, DType::I32) == "-7");
  CHECK(formatConstantValue(1, DType::I1) == "1");
  CHECK(formatScalar(0.5, DType::F64) == "f64(0.5)");
  CHECK(commentLines("kernels of @f: 1\n\n  k0 %0\n") == "// kernels of @f: 1\n//\n//   k0 %0\n");
  CHECK(commentLines("no newline") == "// no newline\n");
  CHECK(commentLines("").empty());
}

TEST_CASE("parser reads printed text back to identical text and an equal graph", "[ir]") {
  SourceFile file("train.nnir", std::string(kTrainStepText) + "\n// a comment\nfunc @empty() {\n  return\n}\n");
  auto m = parseModule(file);
  INFO((m ? "" : m.message()));
  REQUIRE(m);
  REQUIRE(m->functions().size() == 2);
  CHECK(printModule(*m) == std::string(kTrainStepText) + "\nfunc @empty() {\n  return\n}\n");
  CHECK(m->sourceName() == "softmax.nn");
  const Function &f = *m->findFunction("train_step");
  const Module originalModule = trainStep();
  const Function &original = originalModule.functions().front();
  REQUIRE(f.nodes().size() == original.nodes().size());
  for (size_t i = 0; i < f.nodes().size(); ++i) {
    INFO("node " << i);
    CHECK(f.nodes()[i].op == original.nodes()[i].op);
    CHECK(f.nodes()[i].stage == original.nodes()[i].stage);
    CHECK(f.nodes()[i].type == original.nodes()[i].type);
  }
  CHECK(f.nodes()[0].loc == SourceLoc{12, 16, 5});
  CHECK(f.nodes()[4].attrs.getFloat("value") == 0.1); // the shortest text, read back
  CHECK(static_cast<float>(f.nodes()[4].attrs.getFloat("value")) == static_cast<float>(1 - 0.9));
  CHECK(f.nodes()[4].loc == SourceLoc{13, 8, 1});     // an inline constant has its user's loc
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
  auto back = parseModule(file2);
  REQUIRE(back);
  CHECK(printModule(*back) == text);
  const Function &s = back->functions().front();
  CHECK(s.definingNode(s.findResult("a"))->attrs.getFloat("value") == 0.1 + 0.2);
  CHECK(back->functions().front().arguments()[0].init == "weird \"init\" \\ \x01");
}

TEST_CASE("inline scalar constants read back to the same values", "[ir]") {
  const double inf = std::numeric_limits<double>::infinity();
  Module m;
  Function &f = m.addFunction("scalars");
  Builder b(f);
  ValueId x = f.addArgument("x", f32({}), ArgRole::Input);
  ValueId d = f.addArgument("d", f64({}), ArgRole::Input);
  ValueId one = b.scalar(0.1);
  f.addResult("a", b.add(x, one));
  f.addResult("b", b.mul(b.add(x, one), b.scalar(-0.0)));  // 0.1 used twice: one node read back
  f.addResult("c", b.add(d, b.scalar(1e-8, DType::F64)));
  f.addResult("d", b.max(x, b.scalar(-inf)));
  f.addResult("e", b.add(d, b.scalar(-1e300, DType::F64)));
  f.addResult("f", b.scalar(inf));                           // a result that is a constant
  f.addResult("g", b.cast(b.scalar(1, DType::I1), DType::I32));
  f.addResult("h", b.add(b.scalar(-5, DType::I32), b.scalar(2147483647, DType::I32)));
  INFO(printModule(m));
  if (Result<void> wellFormed = verify(m); !wellFormed)
    FAIL(wellFormed.message());
  std::string text = printModule(m);
  CHECK_THAT(text, Catch::Contains("%0 = add %x, f32(0.1) : f32[]"));
  CHECK_THAT(text, Catch::Contains("mul %1, f32(-0.0) : f32[]"));
  CHECK_THAT(text, Catch::Contains("add %d, f64(1e-08) : f64[]"));
  CHECK_THAT(text, Catch::Contains("max %x, f32(-inf) : f32[]"));
  CHECK_THAT(text, Catch::Contains("add %d, f64(-1e+300) : f64[]"));
  CHECK_THAT(text, Catch::Contains("f = f32(inf)"));
  CHECK_THAT(text, Catch::Contains("cast i1(1) {dtype = \"i32\"} : i32[]"));
  CHECK_THAT(text, Catch::Contains("add i32(-5), i32(2147483647) : i32[]"));
  CHECK(text.find("constant") == std::string::npos);

  SourceFile file("s.nnir", text);
  auto back = parseModule(file);
  INFO((back ? "" : back.message()));
  REQUIRE(back);
  CHECK(printModule(*back) == text);
  const Function &g = back->functions().front();
  auto constantValue = [&](std::string_view result, size_t operand) {
    const Node *n = g.definingNode(g.findResult(result));
    REQUIRE(n);
    const Node *c = operand == SIZE_MAX ? n : g.definingNode(n->operands[operand]);
    REQUIRE(c);
    REQUIRE(c->op == OpKind::Constant);
    return c->attrs.getFloat("value");
  };
  CHECK(constantValue("a", 1) == 0.1);
  CHECK(std::signbit(constantValue("b", 1)));
  CHECK(constantValue("b", 1) == 0.0);
  CHECK(constantValue("c", 1) == 1e-8);
  CHECK(constantValue("d", 1) == -inf);
  CHECK(constantValue("e", 1) == -1e300);
  CHECK(constantValue("f", SIZE_MAX) == inf);
  CHECK(constantValue("h", 0) == -5);
  // One node per dtype and value: both uses of f32(0.1) read the same node.
  CHECK(g.definingNode(g.findResult("a"))->operands[1] ==
        g.definingNode(g.definingNode(g.findResult("b"))->operands[0])->operands[1]);
  size_t constants = 0;
  for (const Node &n : g.nodes())
    constants += n.op == OpKind::Constant;
  CHECK(constants == 9);
}

TEST_CASE("parser reads stage labels, the source line, long constants and comment blocks", "[ir]") {
  std::string text = "source \"models/a b.nn\"\n"
                     "func @f(%x: f32[2] input) {\n"
                     "backward:\n"
                     "  %0 = neg %x : f32[2]\n"
                     "update:\n"
                     "forward:\n"
                     "  %1 = constant {dtype = \"f32\", shape = [2], value = 2.5} : f32[2]\n"
                     "  %2 = mul %0, %1 : f32[2]\n"
                     "  return r = %2\n"
                     "}\n" +
                     commentLines("\nkernels of @f: 1 kernels\n  k0   %2 = mul(neg(%x), 2.5) : f32[2]  @0\n");
  SourceFile file("t.nnir", text);
  auto m = parseModule(file);
  INFO((m ? "" : m.message()));
  REQUIRE(m);
  CHECK(m->sourceName() == "models/a b.nn");
  const Function &f = m->functions().front();
  REQUIRE(f.nodes().size() == 3);
  CHECK(f.nodes()[0].stage == Stage::Backward);
  CHECK(f.nodes()[1].stage == Stage::Forward); // a label without nodes marks nothing
  CHECK(f.nodes()[2].stage == Stage::Forward);
  CHECK(printModule(*m) == "source \"models/a b.nn\"\n\n"
                           "func @f(\n    %x: f32[2] input\n) {\n"
                           "backward:\n"
                           "  %0 = neg %x : f32[2]\n"
                           "forward:\n"
                           "  %1 = constant 2.5 : f32[2]\n"
                           "  %2 = mul %0, %1 : f32[2]\n"
                           "  return r = %2\n}\n");
  CHECK(stageName(Stage::Update) == "update");
  CHECK(parseStage("update") == Stage::Update);
  CHECK(!parseStage("none"));
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
      {"func @f(%x: f32[] input) {\n  %0 = add %x, f16(1) : f32[]\n  return\n}",
       "2:16: error: expected an operand such as %3 or f32(0.5), found 'f16'"},
      {"func @f(%x: i32[] input) {\n  %0 = add %x, i32(1.5) : i32[]\n  return\n}",
       "2:16: error: constant: value 1.5 is not an i32"},
      {"func @f() {\n  return r = i1(2)\n}", "2:14: error: constant: value 2.0 is not an i1"},
      {"func @f(%x: f32[] input) {\n  %0 = add %x, f32(true) : f32[]\n  return\n}", "2:20: error: expected a number"},
      {"func @f(%x: f32[] input) {\n  %0 = add %x, f32 1.0 : f32[]\n  return\n}", "2:20: error: expected '(', found '1.0'"},
      {"func @f() {\n  %0 = constant x : f32[2]\n  return\n}", "2:17: error: expected an attribute value, found 'x'"},
      {"func @f() {\n  %0 = constant 1.5 : i32[2]\n  return\n}", "constant: value 1.5 is not an i32"},
      {"func @f(%x: f32[2] input) {\nforward\n  %0 = neg %x : f32[2]\n  return\n}", "3:3: error: expected ':', found '%0'"},
      {"func @f() {\n  return r = f32(1)\n  update f32(1) = f32(1)\n}", "3:10: error: expected a state argument such as %W"},
      {"source 3\nfunc @f() {\n  return\n}", "1:8: error: expected the source file's name as a string, found '3'"},
      {"func @f() {\n  return\n}\nsource \"x.nn\"", "4:1: error: expected 'func', found 'source'"},
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
  const size_t sourceEnd = text.find('\n'), funcStart = text.find("func");
  for (size_t cut = 0; cut < text.size(); ++cut) {
    std::string errors = parseErrors(text.substr(0, cut));
    // every proper prefix is incomplete, but for the source line alone (a module without functions)
    if (cut > 0 && cut + 2 < text.size() && !(cut + 1 >= sourceEnd && cut <= funcStart))
      CHECK(!errors.empty());
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
