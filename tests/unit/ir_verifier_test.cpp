//===- ir_verifier_test.cpp - The verifier catches each kind of broken graph ----------------===//
//
// Builds well-formed functions, breaks one invariant at a time through the unchecked Function
// API, and checks that the verifier names the problem; also the graph API used by passes
// (users, replaceAllUsesWith, removeDeadNodes) and the NumPy broadcasting helpers.
//
//===----------------------------------------------------------------------------------------===//
#include "ir_samples.h"

#include "ir/Builder.h"
#include "ir/TextPrinter.h"
#include "ir/Verifier.h"

#include <catch2/catch.hpp>
#include <functional>

using namespace nnc;
using namespace nnc::test;

namespace {
/// A well-formed function: h = relu(x @ w); loss = sum(h); update w.
struct Fixture {
  Module m;
  Function *f;
  ValueId x, w, mm, h, loss;
  Fixture() {
    f = &m.addFunction("f");
    Builder b(*f);
    x = f->addArgument("x", f32({2, 3}), ArgRole::Input);
    w = f->addArgument("w", f32({3, 4}), ArgRole::State, true, "zeros");
    mm = b.matmul(x, w);
    h = b.relu(mm);
    loss = b.reduceSum(h, {0, 1});
    f->addResult("loss", loss);
    f->addUpdate(w, b.neg(w));
  }
};

std::string problemsOf(const Function &f) {
  std::string all;
  if (Result<void> r = verify(f); !r)
    for (const Diagnostic &d : r.error().diagnostics)
      all += d.message + "\n";
  return all;
}
} // namespace

TEST_CASE("verifier accepts well-formed functions", "[ir]") {
  Fixture fx;
  CHECK(verify(fx.m).ok());
}

TEST_CASE("verifier names each broken invariant", "[ir]") {
  struct Case {
    std::string name;
    std::function<void(Fixture &)> breakIt;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"result type differs from the shape rule", [](Fixture &fx) { fx.f->definingNode(fx.h)->type = f32({2, 3}); },
       "@f: %1 = relu: result type f32[2,3] differs from the shape rule's f32[2,4]"},
      {"operand used before its definition", [](Fixture &fx) { fx.f->definingNode(fx.mm)->operands[1] = fx.h; },
       "%0 = matmul: operand %1 is used before it is defined"},
      {"operand that does not exist", [](Fixture &fx) { fx.f->definingNode(fx.h)->operands[0] = ValueId{999}; },
       "%1 = relu: operand 0 is not a value of the function"},
      {"wrong operand count", [](Fixture &fx) { fx.f->definingNode(fx.h)->operands.push_back(fx.mm); },
       "relu takes 1 operand, got 2"},
      {"illegal dtype for the op",
       [](Fixture &fx) {
         ValueId labels = fx.f->addArgument("labels", i32({2}), ArgRole::Target);
         fx.f->appendNode(Node{OpKind::Exp, {labels}, {}, i32({2}), {}, {}});
       },
       "exp expects a float operand, got i32[2]"},
      {"attributes not canonical", [](Fixture &fx) { fx.f->definingNode(fx.loss)->attrs.erase("keepdims"); },
       "attributes {axes = [0, 1]} are not canonical"},
      {"attribute of the wrong kind", [](Fixture &fx) { fx.f->definingNode(fx.loss)->attrs.set("axes", int64_t(0)); },
       "attribute 'axes' of reduce_sum must be an int list"},
      {"bad attribute value", [](Fixture &fx) { fx.f->definingNode(fx.loss)->attrs.set("axes", std::vector<int64_t>{0, 5}); },
       "reduce_sum: axis 5 is out of range for rank 2"},
      {"result of a value that does not exist", [](Fixture &fx) { fx.f->addResult("ghost", ValueId{}); },
       "result 'ghost' is not a value of the function"},
      {"duplicate result names", [](Fixture &fx) { fx.f->addResult("loss", fx.h); }, "result 'loss' is returned twice"},
      {"result name that is not an identifier", [](Fixture &fx) { fx.f->addResult("a b", fx.h); },
       "result name 'a b' is not an identifier"},
      {"update of an input", [](Fixture &fx) { fx.f->addUpdate(fx.x, fx.x); }, "update of %x, which is not a state argument"},
      {"update of a node value", [](Fixture &fx) { fx.f->addUpdate(fx.h, fx.h); }, "update of %1, which is not a state argument"},
      {"state updated twice", [](Fixture &fx) { fx.f->addUpdate(fx.w, fx.w); }, "state %w is updated twice"},
      {"update of the wrong type", [](Fixture &fx) { fx.f->updates()[0].value = fx.h; },
       "update of %w : f32[3,4] with %1 of type f32[2,4]"},
      {"update with a missing value", [](Fixture &fx) { fx.f->updates()[0].value = ValueId{12345}; },
       "update of %w with a value that does not exist"},
      {"duplicate argument names", [](Fixture &fx) { fx.f->addArgument("x", f32({1}), ArgRole::Input); },
       "argument %x is declared twice"},
      {"argument name that is not an identifier", [](Fixture &fx) { fx.f->addArgument("1x", f32({1}), ArgRole::Input); },
       "argument name '1x' is not an identifier"},
      {"trainable input", [](Fixture &fx) { fx.f->addArgument("z", f32({1}), ArgRole::Input, true); },
       "argument %z is input, but only state can be trainable or have an init"},
      {"illegal argument type", [](Fixture &fx) { fx.f->addArgument("z", f32({0}), ArgRole::Input); },
       "argument %z has an illegal type f32[0]"},
      {"function name that is not an identifier", [](Fixture &fx) { fx.f->setName("train step"); },
       "function name 'train step' is not an identifier"},
  };
  for (const Case &c : cases) {
    INFO(c.name);
    Fixture fx;
    c.breakIt(fx);
    CHECK_THAT(problemsOf(*fx.f), Catch::Contains(c.problem));
  }
  Fixture twice;
  twice.m.addFunction("f");
  Result<void> twiceChecked = verify(twice.m);
  REQUIRE(!twiceChecked);
  CHECK_THAT(twiceChecked.error().diagnostics.front().message, Catch::Contains("function @f is defined twice"));
}

TEST_CASE("graph: users, replaceAllUsesWith, removeDeadNodes keep value ids stable", "[ir]") {
  Fixture fx;
  Function &f = *fx.f;
  auto users = f.computeUsers();
  CHECK(users[fx.mm.index] == std::vector<ValueId>{fx.h});
  CHECK(users[fx.w.index].size() == 2); // matmul and the update's neg
  CHECK(f.isArgument(fx.x));
  CHECK(!f.isArgument(fx.h));
  CHECK(f.definingNode(fx.x) == nullptr);
  CHECK(f.definingNode(fx.h)->op == OpKind::Relu);

  Builder b(f);
  ValueId sig = b.sigmoid(fx.mm);
  f.replaceAllUsesWith(fx.h, sig);
  // reduce_sum now reads the sigmoid, which is defined after it: the verifier says so
  CHECK_THAT(problemsOf(f), Catch::Contains("used before it is defined"));
  f.replaceAllUsesWith(sig, fx.h);
  f.replaceAllUsesWith(fx.loss, b.reduceMax(fx.h, {0, 1}));
  CHECK(f.removeDeadNodes() == 2); // the old reduce_sum and the sigmoid
  CHECK(!f.isValid(fx.loss));
  CHECK(f.isValid(fx.h));
  CHECK(f.definingNode(fx.h)->op == OpKind::Relu);
  CHECK(f.nodes().size() == 4);
  CHECK(verify(f).ok());
  CHECK(f.definingNode(f.findResult("loss"))->op == OpKind::ReduceMax);
}

TEST_CASE("builder: tryCreate reports errors, broadcasting follows NumPy", "[ir]") {
  Module m;
  Function &f = m.addFunction("f");
  Builder b(f);
  ValueId a = f.addArgument("a", f32({16, 3}), ArgRole::Input);
  ValueId row = f.addArgument("row", f32({3}), ArgRole::Input);
  ValueId col = f.addArgument("col", f32({16, 1}), ArgRole::Input);
  ValueId bad = f.addArgument("bad", f32({4}), ArgRole::Input);
  ValueId s = f.addArgument("s", f32({}), ArgRole::Input);

  auto e = b.tryCreate(OpKind::MatMul, {a, a});
  REQUIRE(!e);
  CHECK(e.message() == "cannot matrix-multiply f32[16,3] by f32[16,3]: inner dimensions 3 and 16 differ");
  REQUIRE(e.error().diagnostics.size() == 1);
  CHECK(e.error().diagnostics[0].loc == b.loc()); // located at the builder's current place
  CHECK(f.nodes().empty()); // nothing was appended
  CHECK(!b.tryCreate(OpKind::Neg, {ValueId{77}}));

  auto p = b.broadcastPair(a, row);
  REQUIRE(p.ok());
  auto [l, r] = *p;
  CHECK(l == a); // already the common shape: no op
  CHECK(f.type(r) == f32({16, 3}));
  CHECK(f.definingNode(r)->attrs.getInts("dims") == std::vector<int64_t>{1});

  auto q = b.broadcastPair(col, row); // [16,1] with [3] -> [16,3], both sides stretch
  REQUIRE(q.ok());
  CHECK(f.type(q->first) == f32({16, 3}));
  CHECK(f.type(q->second) == f32({16, 3}));

  auto sc = b.broadcastTo(s, {16, 3});
  REQUIRE(sc.ok());
  CHECK(f.definingNode(*sc)->attrs.getInts("dims").empty());

  auto err = b.broadcastPair(a, bad);
  REQUIRE(!err);
  CHECK(err.message() == "cannot broadcast f32[16,3] with f32[4]");
  auto err2 = b.broadcastTo(a, {3});
  REQUIRE(!err2);
  CHECK(err2.message() == "cannot broadcast f32[16,3] to [3]");
  CHECK(Builder::broadcastShapes({8, 1, 6, 1}, {7, 1, 5}) == std::vector<int64_t>{8, 7, 6, 5});
  CHECK(!Builder::broadcastShapes({2}, {3}));
  CHECK(verify(f).ok());
}

TEST_CASE("verify returns an Error located at each broken node", "[ir]") {
  Fixture fx;
  CHECK(verify(fx.m).ok());
  SourceLoc at{7, 3, 5};
  fx.f->definingNode(fx.h)->loc = at;
  fx.f->definingNode(fx.h)->type = f32({2, 5});
  Result<void> r = verify(fx.m);
  REQUIRE(!r);
  REQUIRE(r.error().diagnostics.size() == 1);
  CHECK(r.error().diagnostics[0].loc == at);
  CHECK(r.message().find("differs from the shape rule's f32[2,4]") != std::string::npos);
}

TEST_CASE("a front end's builder reports the first ill-typed node and poisons what follows", "[ir]") {
  Module m;
  Function &f = m.addFunction("f");
  SourceFile file("m.nn", "one\ntwo\n");
  DiagnosticEngine diags(&file);
  Builder b(f, diags);
  ValueId a = f.addArgument("a", f32({1024, 4}), ArgRole::Input);
  ValueId w = f.addArgument("w", f32({4, kMaxDim}), ArgRole::State, true, "zeros");
  b.setLoc({2, 1, 3});
  ValueId y = b.matmul(a, w); // f32[1024, 2^31]: past the element limit
  CHECK(b.poisoned(y));
  REQUIRE(diags.errorCount() == 1);
  CHECK(diags.diagnostics()[0].loc == SourceLoc{2, 1, 3});
  CHECK(diags.diagnostics()[0].message.find("has more than 1099511627776 elements") != std::string::npos);
  // Built from a stand-in: another stand-in, and no second diagnostic.
  ValueId z = b.add(y, b.constantLike(y, 1));
  CHECK(b.poisoned(z));
  CHECK(b.poisoned(b.reduceSum(z, {0, 1})));
  // A second, independent failure is not reported either: it is most likely a consequence.
  CHECK(b.poisoned(b.matmul(a, a)));
  CHECK(diags.errorCount() == 1);
  CHECK(!b.poisoned(a));
  // tryCreate on a poisoned operand succeeds with a stand-in; its own errors are returned.
  auto t = b.tryCreate(OpKind::Neg, {z});
  REQUIRE(t.ok());
  CHECK(b.poisoned(*t));
  CHECK(!b.tryCreate(OpKind::MatMul, {a, a}).ok());
}

TEST_CASE("Error: plain, located, from and back into a DiagnosticEngine", "[ir]") {
  Error plain{"iris.csv:7: expected 5 columns, found 4"};
  CHECK(plain.message == "iris.csv:7: expected 5 columns, found 4");
  CHECK(!plain.located());

  SourceFile file("m.nn", "model m {\n  loss mean(q)\n}\n");
  DiagnosticEngine diags(&file);
  diags.error({2, 13, 1}, "unknown name 'q'");
  Error e = Error::from(diags);
  CHECK(e.located());
  CHECK(e.message == "m.nn:2:13: error: unknown name 'q'\n    loss mean(q)\n              ^\n");
  CHECK(e.message == diags.renderAll());

  DiagnosticEngine merged(&file);
  report(merged, Error::at({2, 3, 4}, "the loss must be a float scalar"));
  report(merged, plain);
  REQUIRE(merged.errorCount() == 2);
  CHECK(merged.diagnostics()[0].loc == SourceLoc{2, 3, 4});
  CHECK(!merged.diagnostics()[1].loc.valid());
  CHECK(merged.diagnostics()[1].message == plain.message);

  Result<int> r = Error::at({1, 1, 5}, "x");
  REQUIRE(!r);
  CHECK(r.message() == "x");
  Result<int> v = 3;
  CHECK(*v == 3);
}
