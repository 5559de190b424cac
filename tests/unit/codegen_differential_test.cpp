//===- codegen_differential_test.cpp - JIT-compiled code against the reference interpreter --===//
//
// The interpreter is the oracle: every op of the table (one sample each, from ir_samples.h)
// and every example model are evaluated both ways on the same random data, and the results
// and state updates must agree to a relative 1e-4 in f32.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "codegen/KernelPlan.h"
#include "ir/Builder.h"
#include "ir/Interpreter.h"
#include "ir/Random.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/Storage.h"
#include "runtime/exec/ThreadPool.h"

#include "ir_samples.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace nnc;

namespace {

/// Deterministic data in each op's domain: floats in [0.1, 2.1) (log and sqrt stay finite),
/// i32 values 0..1 (valid labels and indices), masks alternating.
Tensor randomData(const TensorType &t, uint64_t seed, double lo = 0.1, double hi = 2.1) {
  Tensor x = Tensor::filled(t, 0);
  for (size_t i = 0; i < x.data.size(); ++i) {
    double u = randomUniform(seed, 0, i);
    if (isFloat(t.dtype))
      x.data[i] = t.dtype == DType::F32 ? double(float(lo + (hi - lo) * u)) : lo + (hi - lo) * u;
    else
      x.data[i] = double(randomBits(seed, 1, i) % 2);
  }
  return x;
}

/// Storage bytes of a tensor as the compiled code sees them.
std::vector<char> toBuffer(const Tensor &t) {
  std::vector<char> buf(storageSize(t.type));
  for (size_t i = 0; i < t.data.size(); ++i)
    writeElement(buf.data(), t.type.dtype, i, t.data[i]);
  return buf;
}

double element(const std::vector<char> &buf, DType d, size_t i) { return readElement(buf.data(), d, i); }

/// Compiles `fn` alone with `options` and calls it once on `args`: the storage of its
/// arguments (state updated in place) followed by its results'.
std::vector<std::vector<char>> runCompiled(const Function &fn, const std::map<std::string, Tensor> &args,
                                           const CompileOptions &options = {}) {
  Module m;
  m.functions().push_back(fn);
  auto exe = Executable::compile(m, options);
  if (!exe)
    FAIL("compile: " << exe.message());
  CompiledFunction *cf = (*exe)->function(fn.name());
  REQUIRE(cf);
  std::vector<std::vector<char>> storage;
  for (const Argument &a : fn.arguments())
    storage.push_back(toBuffer(args.at(a.name)));
  for (const FunctionResult &r : fn.results())
    storage.push_back(toBuffer(Tensor::filled(fn.type(r.value), 0)));
  std::vector<void *> ptrs;
  for (auto &s : storage)
    ptrs.push_back(s.data());
  cf->call(ptrs.data());
  return storage;
}

/// Runs `fn` through the interpreter and the JIT (compiled with `options`) on `args`, and
/// compares every result and state update.
void compareWithInterpreter(const Function &fn, const std::map<std::string, Tensor> &args, double tol = 1e-4,
                            const CompileOptions &options = {}) {
  auto ref = evaluate(fn, args);
  if (!ref)
    FAIL("interpreter: " << ref.message());
  const EvalResult &expected = *ref;
  std::vector<std::vector<char>> storage = runCompiled(fn, args, options);

  auto check = [&](const std::string &what, const Tensor &want, const std::vector<char> &got) {
    for (size_t i = 0; i < want.data.size(); ++i) {
      double w = want.data[i], g = element(got, want.type.dtype, i);
      INFO(fn.name() << ": " << what << "[" << i << "] interpreter " << w << " jit " << g);
      if (std::isnan(w)) {
        CHECK(std::isnan(g));
      } else if (std::isinf(w)) {
        CHECK(g == w);
      } else {
        CHECK(std::fabs(g - w) <= tol * std::max(1.0, std::fabs(w)));
      }
    }
  };
  size_t nargs = fn.arguments().size();
  for (size_t j = 0; j < fn.results().size(); ++j)
    check("result " + fn.results()[j].name, expected.results.at(fn.results()[j].name), storage[nargs + j]);
  for (size_t i = 0; i < nargs; ++i) {
    const Argument &a = fn.arguments()[i];
    if (auto it = expected.updates.find(a.name); it != expected.updates.end())
      check("update " + a.name, it->second, storage[i]);
  }
}

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(NNC_EXAMPLES_DIR) + "/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST_CASE("every op compiles and agrees with the interpreter", "[codegen][differential]") {
  uint64_t seed = 1;
  for (const test::OpSample &s : test::opSamples()) {
    Function fn(fmt::format("op_{}", mnemonic(s.op)));
    Builder b(fn);
    std::vector<ValueId> operands;
    std::map<std::string, Tensor> args;
    for (size_t i = 0; i < s.operands.size(); ++i) {
      std::string name = fmt::format("a{}", i);
      operands.push_back(fn.addArgument(name, s.operands[i], ArgRole::Input));
      args[name] = randomData(s.operands[i], seed++);
    }
    auto v = b.tryCreate(s.op, operands, s.attrs);
    REQUIRE(v.ok());
    fn.addResult("out", *v);
    INFO("op " << mnemonic(s.op));
    compareWithInterpreter(fn, args);
  }
}

TEST_CASE("views read in place: broadcast, transpose and slice feeding elementwise ops", "[codegen][differential]") {
  Function fn("views");
  Builder b(fn);
  ValueId x = fn.addArgument("x", {DType::F32, {3, 4}}, ArgRole::Input);
  ValueId bias = fn.addArgument("bias", {DType::F32, {4}}, ArgRole::Input);
  ValueId y = fn.addArgument("y", {DType::F32, {4, 3}}, ArgRole::Input);
  ValueId sum = b.add(x, b.broadcast(bias, {3, 4}, {1}));
  ValueId t = b.mul(sum, b.transpose(y, {1, 0}));
  ValueId s = b.sub(b.slice(t, {1, 1}, {2, 3}), b.constant(0.5, {DType::F32, {2, 3}}));
  fn.addResult("t", t);
  fn.addResult("s", s);
  compareWithInterpreter(fn, {{"x", randomData(fn.type(x), 1, -1, 1)},
                              {"bias", randomData(fn.type(bias), 2, -1, 1)},
                              {"y", randomData(fn.type(y), 3, -1, 1)}});
}

TEST_CASE("stored slices of contiguous elements alias their operand; others are copied", "[codegen][differential]") {
  // Each slice feeds a matrix product (not elementwise), so none is read in place. Rows of a
  // product's result, a [1, C] row of batch_moments and a slice of an input are contiguous and
  // alias the storage they cut; a block of columns and a row range of a [2, 3, 4] tensor's
  // second dimension are not contiguous and keep their copy. Chains of aliases resolve.
  Function fn("slices");
  Builder b(fn);
  ValueId x = fn.addArgument("x", {DType::F32, {6, 4}}, ArgRole::Input);
  ValueId w = fn.addArgument("w", {DType::F32, {4, 4}}, ArgRole::Input);
  ValueId z = fn.addArgument("z", {DType::F32, {2, 3, 4}}, ArgRole::Input);
  ValueId h = b.matmul(x, w);                                  // [6, 4], stored
  ValueId rows = b.slice(h, {2, 0}, {3, 4});                   // rows 2..4: contiguous
  ValueId row = b.slice(rows, {1, 0}, {1, 4});                 // an alias of an alias
  ValueId cols = b.slice(h, {0, 1}, {4, 2});                   // columns: a copy
  ValueId in = b.slice(x, {4, 0}, {2, 4});                     // rows of an input: contiguous
  ValueId middle = b.reshape(b.slice(z, {0, 1, 0}, {2, 1, 4}), {2, 4}); // strided: a copy
  ValueId moments = b.batchMoments(b.reshape(h, {6, 4}));
  ValueId variance = b.slice(moments, {1, 0}, {1, 4});         // a row of [2, C]
  fn.addResult("a", b.matmul(rows, w));
  fn.addResult("b", b.matmul(row, w));
  fn.addResult("c", b.matmul(cols, b.slice(w, {0, 0}, {2, 4})));
  fn.addResult("d", b.matmul(in, w));
  fn.addResult("e", b.matmul(middle, w));
  fn.addResult("f", b.matmul(variance, w));
  KernelPlan plan = planKernels(fn, EmitOptions{});
  CHECK(plan.isAlias(rows));
  CHECK(plan.isAlias(row));
  CHECK(plan.aliasOffset[row.index] == 4 * 4); // its offset into `rows`
  CHECK(plan.aliasOffset[rows.index] == 2 * 4 * 4);
  CHECK_FALSE(plan.isAlias(cols));
  CHECK(plan.isAlias(in));
  CHECK(plan.aliasOffset[in.index] == 4 * 4 * 4);
  CHECK_FALSE(plan.isAlias(fn.definingNode(middle)->operands[0]));
  CHECK(plan.isAlias(variance));
  CHECK(plan.aliasOffset[variance.index] == 4 * 4);
  compareWithInterpreter(fn, {{"x", randomData(fn.type(x), 1, -1, 1)},
                              {"w", randomData(fn.type(w), 2, -1, 1)},
                              {"z", randomData(fn.type(z), 3, -1, 1)}});
}

TEST_CASE("elementwise kernels walk contiguous trailing dimensions as one loop", "[codegen][differential]") {
  // Operands that let every dimension merge (contiguous, a broadcast scalar), only the trailing
  // ones (a [5, 6] broadcast along dimension 0 of [4, 5, 6]; a slice that keeps whole rows of
  // its source), and none (a bias along the last dimension, a transposed operand).
  Function fn("walk");
  Builder b(fn);
  ValueId m = fn.addArgument("m", {DType::F32, {16, 3}}, ArgRole::Input);
  ValueId v = fn.addArgument("v", {DType::F32, {16, 3}}, ArgRole::Input);
  ValueId s = fn.addArgument("s", {DType::F32, {}}, ArgRole::Input);
  ValueId bias = fn.addArgument("bias", {DType::F32, {3}}, ArgRole::Input);
  ValueId cube = fn.addArgument("cube", {DType::F32, {4, 5, 6}}, ArgRole::Input);
  ValueId plane = fn.addArgument("plane", {DType::F32, {5, 6}}, ArgRole::Input);
  ValueId wide = fn.addArgument("wide", {DType::F32, {6, 5, 6}}, ArgRole::Input);
  ValueId t = fn.addArgument("t", {DType::F32, {3, 16}}, ArgRole::Input);
  // An Adam-like update of [16, 3]: every operand contiguous or a broadcast scalar.
  ValueId scale = b.broadcast(s, {16, 3}, {});
  fn.addResult("adam", b.sub(m, b.div(b.mul(m, scale), b.add(b.sqrt(b.mul(v, v)), scale))));
  fn.addResult("bias", b.mul(b.add(m, b.broadcast(bias, {16, 3}, {1})), v));
  fn.addResult("transposed", b.sub(m, b.transpose(t, {1, 0})));
  fn.addResult("planes", b.mul(cube, b.broadcast(plane, {4, 5, 6}, {1, 2})));
  fn.addResult("rows", b.add(cube, b.slice(wide, {1, 0, 0}, {4, 5, 6})));
  uint64_t seed = 40;
  std::map<std::string, Tensor> args;
  for (const Argument &a : fn.arguments())
    args[a.name] = randomData(a.type, seed++, 0.5, 2);
  compareWithInterpreter(fn, args);

  // The contiguous [16, 3] update is 48 elements in whole vectors; walked as sixteen rows of
  // three it would need masked or scalar tails.
  Function flat("flat");
  Builder fb(flat);
  ValueId a = flat.addArgument("a", {DType::F32, {16, 3}}, ArgRole::Input);
  ValueId c = flat.addArgument("c", {DType::F32, {16, 3}}, ArgRole::Input);
  flat.addResult("out", fb.div(a, fb.add(fb.sqrt(c), fb.constant(1e-8, {DType::F32, {16, 3}}))));
  Module mod;
  mod.functions().push_back(flat);
  auto ir = emitModuleText(mod, /*assembly=*/false);
  REQUIRE(ir.ok());
  INFO(*ir);
  CHECK(ir->find("masked.load") == std::string::npos);
  CHECK(ir->find("@llvm.sqrt.f32(float %") == std::string::npos); // no scalar call
}

TEST_CASE("reductions to a few outputs or of short rows agree with the interpreter", "[codegen][differential]") {
  // Bias gradients of a few classes ([16, 3] to [1, 3]), several leading axes ([4, 5, 2] to
  // [2]), a kept tail wider than a vector (the memory form), and max and mean.
  Function fn("lead");
  Builder b(fn);
  ValueId g = fn.addArgument("g", {DType::F32, {16, 3}}, ArgRole::Input);
  ValueId h = fn.addArgument("h", {DType::F32, {4, 5, 2}}, ArgRole::Input);
  ValueId w = fn.addArgument("w", {DType::F32, {7, 20}}, ArgRole::Input);
  fn.addResult("sum", b.reduceSum(g, {0}, /*keepdims=*/true));
  fn.addResult("sum2", b.reduceSum(h, {0, 1}));
  fn.addResult("max", b.reduceMax(h, {0, 1}));
  fn.addResult("mean", b.reduceMean(g, {0}));
  fn.addResult("wide", b.reduceSum(w, {0}));
  fn.addResult("fused", b.reduceSum(b.mul(g, g), {0}));
  // Short innermost slices, straight-line per row: a row's classes, stored and fused, and two
  // trailing axes of 2.
  fn.addResult("rowmax", b.reduceMax(g, {1}));
  fn.addResult("rowdot", b.reduceSum(b.mul(g, g), {1}));
  fn.addResult("tail", b.reduceSum(h, {1, 2}));
  compareWithInterpreter(fn, {{"g", randomData(fn.type(g), 61, -1, 1)},
                              {"h", randomData(fn.type(h), 62, -1, 1)},
                              {"w", randomData(fn.type(w), 63, -1, 1)}});
}

TEST_CASE("every example model's forward pass agrees with the interpreter", "[codegen][differential]") {
  for (const auto &entry : std::filesystem::directory_iterator(NNC_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".nn")
      continue;
    std::string name = entry.path().filename().string();
    SourceFile file(name, readExample(name));
    DiagnosticEngine diags(&file);
    Program prog = parseProgram(file, diags);
    checkProgram(prog, diags);
    REQUIRE_FALSE(diags.hasErrors());
    for (LowerMode mode : {LowerMode::Train, LowerMode::Eval}) {
      Module m;
      LowerOptions opts;
      opts.mode = mode;
      opts.batch = 8;
      opts.seed = 3;
      REQUIRE(lowerModel(prog, opts, m, diags));
      Function &fn = m.functions().front();
      std::map<std::string, Tensor> args;
      uint64_t seed = 100;
      for (const Argument &a : fn.arguments())
        args[a.name] = a.role == ArgRole::Input ? randomData(a.type, seed++, -1, 1)
                                                : randomData(a.type, seed++, -0.5, 0.5);
      INFO("example " << name);
      compareWithInterpreter(fn, args);
    }
  }
}

TEST_CASE("fusion and the liveness plan shrink the train step's memory", "[codegen]") {
  SourceFile file("fashion_mlp.nn", readExample("fashion_mlp.nn"));
  DiagnosticEngine diags(&file);
  Program prog = parseProgram(file, diags);
  checkProgram(prog, diags);
  Module m;
  LowerOptions opts;
  opts.batch = 32;
  REQUIRE(lowerModel(prog, opts, m, diags));
  auto exe = Executable::compile(m);
  if (!exe)
    FAIL(exe.message());
  const FunctionABI &abi = (*exe)->function("forward")->abi();
  // relu(add(matmul, broadcast bias)) chains fuse; dropout's mask and scale fuse into its use.
  CHECK(abi.fusedOps >= 4);
  CHECK(abi.kernels + abi.fusedOps <= static_cast<int64_t>(m.functions().front().nodes().size()));
  // Three layers' activations are never all alive at once.
  CHECK(abi.arenaBytes - abi.scratchBytes < abi.intermediateBytes);
}

TEST_CASE("matrix products split over threads give the same bits as one thread", "[codegen][threads]") {
  Function fn("mm");
  Builder b(fn);
  ValueId x = fn.addArgument("x", {DType::F32, {130, 200}}, ArgRole::Input);
  ValueId w = fn.addArgument("w", {DType::F32, {200, 70}}, ArgRole::Input);
  ValueId g = fn.addArgument("g", {DType::F32, {130, 70}}, ArgRole::Input);
  fn.addResult("y", b.matmul(x, w));
  fn.addResult("dw", b.matmul(x, g, true, false)); // the weight gradient's shape: Xᵀ·G
  fn.addResult("dx", b.matmul(g, w, false, true)); // the input gradient's shape: G·Wᵀ
  std::map<std::string, Tensor> args = {{"x", randomData(fn.type(x), 1, -1, 1)},
                                        {"w", randomData(fn.type(w), 2, -1, 1)},
                                        {"g", randomData(fn.type(g), 3, -1, 1)}};
  std::vector<std::vector<char>> outputs[2];
  int previous = setComputeThreads(3);
  for (int k = 0; k < 2; ++k) {
    CompileOptions co;
    co.threads = k == 0 ? 1 : 3;
    co.useCache = false;
    std::vector<std::vector<char>> storage = runCompiled(fn, args, co);
    outputs[k].assign(storage.begin() + 3, storage.end());
  }
  setComputeThreads(previous);
  CHECK(outputs[0] == outputs[1]);
  compareWithInterpreter(fn, args);
}

TEST_CASE("products with a small C and a long sum split over K agree with the interpreter, the same bits every run",
          "[codegen][differential][threads]") {
  // C is at most a tile or two, so no grid of C gives two threads work: each thread sums a
  // slice of K and the calling thread adds the partial sums. Covered: A and B stored plain or
  // transposed, K not a multiple of the slices, C narrower than a vector (the narrow routine),
  // a fused bias and ReLU (run after the partial sums are added), f64, a batched product.
  Function fn("ksplit");
  Builder b(fn);
  ValueId x = fn.addArgument("x", {DType::F32, {4, 8192}}, ArgRole::Input);
  ValueId w = fn.addArgument("w", {DType::F32, {8192, 8}}, ArgRole::Input);
  ValueId xt = fn.addArgument("xt", {DType::F32, {5000, 5}}, ArgRole::Input);
  ValueId wt = fn.addArgument("wt", {DType::F32, {12, 5000}}, ArgRole::Input);
  ValueId bias = fn.addArgument("bias", {DType::F32, {12}}, ArgRole::Input);
  ValueId xd = fn.addArgument("xd", {DType::F64, {3, 4100}}, ArgRole::Input);
  ValueId wd = fn.addArgument("wd", {DType::F64, {4100, 5}}, ArgRole::Input);
  ValueId xb = fn.addArgument("xb", {DType::F32, {2, 3, 6000}}, ArgRole::Input);
  ValueId wb = fn.addArgument("wb", {DType::F32, {2, 6000, 7}}, ArgRole::Input);
  fn.addResult("plain", b.matmul(x, w));
  fn.addResult("transposed", b.matmul(xt, wt, true, true));
  fn.addResult("fused", b.relu(b.add(b.matmul(xt, wt, true, true), b.broadcast(bias, {5, 12}, {1}))));
  fn.addResult("f64", b.matmul(xd, wd));
  fn.addResult("batched", b.matmul(xb, wb));
  std::map<std::string, Tensor> args;
  uint64_t seed = 71;
  for (const Argument &a : fn.arguments())
    args[a.name] = randomData(a.type, seed++, -1, 1);
  // Every product splits over K with AVX2's and AVX-512's vectors. The fused product (12
  // columns) runs the epilogue routine with AVX2 and the narrow routine with AVX-512.
  for (unsigned bits : {256u, 512u}) {
    EmitOptions eo;
    eo.threads = 2;
    eo.vectorBits = bits;
    std::string kernels = describeKernels(fn, eo);
    INFO(kernels);
    size_t splits = 0;
    for (size_t at = kernels.find("terms of K"); at != std::string::npos; at = kernels.find("terms of K", at + 1))
      ++splits;
    CHECK(splits == 5);
    CHECK(kernels.find("relu(add(matmul") != std::string::npos);
  }

  int previous = setComputeThreads(2);
  CompileOptions co;
  co.threads = 2;
  co.useCache = false;
  compareWithInterpreter(fn, args, 1e-4, co);
  std::vector<std::vector<char>> first = runCompiled(fn, args, co), again = runCompiled(fn, args, co);
  CHECK(first == again);
  setComputeThreads(previous);
}

TEST_CASE("inline matrix products of every form agree with the interpreter", "[codegen][differential]") {
  // Shapes that reach each form of emitInlineMatMul, with each operand stored plain or
  // transposed: narrow C with a short sum (straight-line rows vectorized across rows: 16×3 by
  // K 16, 21×2 by K 5; A untransposed in squares transposed in registers where the vectors'
  // lanes divide M and K: 16×3 by K 16 with two blocks of rows per pass, 16×1 by K 8, 24×5 by
  // K 16 with N padded to a power of two for the interleaved store), narrow C with a long sum (9×3 by K 70), wide C (16×16 by K 3 and 4,
  // 7×16 by K 5, 40×9 by K 3: with B transposed straight-line sums for a block of rows
  // vectorized along the row, else blocks of rows whose sums stay in registers, 7 and 50 rows
  // leaving a partial block; 13×20 by K 40 and 50×8 by K 20 with B transposed: a loop of dot
  // products or a short sum per row; 4×16 by K 16) and a one-column C.
  struct Shape {
    int64_t M, N, K;
  };
  uint64_t seed = 11;
  for (Shape sh : {Shape{16, 3, 16}, Shape{21, 2, 5}, Shape{9, 3, 70}, Shape{16, 16, 3}, Shape{16, 16, 4},
                   Shape{7, 16, 5}, Shape{40, 9, 3}, Shape{13, 20, 40}, Shape{50, 8, 20}, Shape{4, 16, 16},
                   Shape{16, 1, 8}, Shape{24, 5, 16}, Shape{7, 1, 9}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(sh.M, sh.N, sh.K, ta, tb);
        Function fn("mm");
        Builder b(fn);
        TensorType at{DType::F32, ta ? std::vector<int64_t>{sh.K, sh.M} : std::vector<int64_t>{sh.M, sh.K}};
        TensorType bt{DType::F32, tb ? std::vector<int64_t>{sh.N, sh.K} : std::vector<int64_t>{sh.K, sh.N}};
        ValueId x = fn.addArgument("a", at, ArgRole::Input);
        ValueId w = fn.addArgument("b", bt, ArgRole::Input);
        fn.addResult("c", b.matmul(x, w, ta, tb));
        std::string kernels = describeKernels(fn);
        INFO(kernels);
        CHECK(kernels.find("inline") != std::string::npos);
        compareWithInterpreter(fn, {{"a", randomData(at, seed++, -1, 1)}, {"b", randomData(bt, seed++, -1, 1)}});
      }
}

TEST_CASE("the kernel listing shows fused chains as expressions", "[codegen]") {
  SourceFile file("iris.nn", readExample("iris.nn"));
  DiagnosticEngine diags(&file);
  Program prog = parseProgram(file, diags);
  checkProgram(prog, diags);
  Module m;
  LowerOptions opts;
  opts.batch = 16;
  REQUIRE(lowerModel(prog, opts, m, diags));
  // Iris's products are small enough to be inline (isInlineMatMul): each its own kernel,
  // marked so, and the bias add and the broadcast of c run inside the sigmoid's loop.
  std::string inlined = describeKernels(m.functions().front());
  INFO(inlined);
  CHECK(inlined.find("= matmul %x, %V : f32[16,16]  @0  inline") != std::string::npos);
  CHECK(inlined.find("= sigmoid(add(%0, broadcast(%c)))") != std::string::npos);
  // As GEMM calls, z = sigmoid(x @ V + c): the product, the bias add and the sigmoid are one
  // GEMM with an epilogue, which reads c in place.
  EmitOptions gemm;
  gemm.inlineProducts = false;
  std::string text = describeKernels(m.functions().front(), gemm);
  INFO(text);
  CHECK(text.find("= sigmoid(add(matmul(%x, %V), broadcast(%c))) : f32[16,16]") != std::string::npos);
  // Without epilogue fusion the product is its own kernel and the bias add and the broadcast
  // of c run inside the sigmoid's loop.
  EmitOptions plain = gemm;
  plain.fuseEpilogues = false;
  std::string unfused = describeKernels(m.functions().front(), plain);
  INFO(unfused);
  CHECK(unfused.find("= sigmoid(add(%0, broadcast(%c)))") != std::string::npos);
  CHECK(unfused.find("= matmul %x, %V") != std::string::npos);
}

TEST_CASE("softmax cross-entropy and its gradient in one row pass agree with the interpreter", "[codegen][differential]") {
  // Rows: ordinary; all -inf (the loss and softmax are NaN there); a label below and one past
  // the classes (NaN loss, and a gradient of softmax alone); large logits; then ordinary rows,
  // 21 in all, so that a loop vectorized across rows runs whole vectors and a remainder. With
  // 3 classes each row is straight-line code vectorized across rows (kRowsAcrossLanes); with
  // 20, a loop over the classes.
  const int64_t R = 21;
  for (int64_t C : {int64_t(3), int64_t(20)}) {
    CAPTURE(C);
    auto build = [&](Function &fn, bool gradient) {
      Builder b(fn);
      ValueId z = fn.addArgument("z", {DType::F32, {R, C}}, ArgRole::Input);
      ValueId y = fn.addArgument("y", {DType::I32, {R}}, ArgRole::Target);
      ValueId loss = b.softmaxCrossEntropy(z, y);
      ValueId p = b.softmax(z, 1);
      fn.addResult("loss", loss);
      if (gradient)
        fn.addResult("grad", b.mul(b.constant(0.25, {DType::F32, {R, C}}), b.sub(p, b.oneHot(y, C))));
      else
        fn.addResult("p", p);
    };
    Tensor z = Tensor::filled({DType::F32, {R, C}}, 0);
    Tensor y = Tensor::filled({DType::I32, {R}}, 0);
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t j = 0; j < C; ++j) {
        double v = std::sin(double(r * C + j)) * 3;
        if (r == 1)
          v = -INFINITY;
        else if (r == 4)
          v = 80 + 10 * double(j % 3);
        z.data[size_t(r * C + j)] = v;
      }
      y.data[size_t(r)] = r == 2 ? -1 : r == 3 ? double(C) : double((r * 7) % C);
    }
    for (bool gradient : {true, false}) {
      Function fn(gradient ? "loss_and_gradient" : "loss_and_softmax");
      build(fn, gradient);
      std::string kernels = describeKernels(fn);
      INFO(kernels);
      // One kernel stores the loss and, continuing it, the gradient (or softmax).
      CHECK(kernels.find(gradient ? "kernels of @loss_and_gradient: 1 kernels" : "kernels of @loss_and_softmax: 1 kernels") !=
            std::string::npos);
      std::string shape = "f32[" + std::to_string(R) + "," + std::to_string(C) + "]";
      CHECK(kernels.find(gradient ? " = mul(0.25, sub(softmax(%z), one_hot(%y))) : " + shape : " = softmax(%z) : " + shape) !=
            std::string::npos);
      EmitOptions off;
      off.fuseRows = false;
      CHECK(describeKernels(fn, off).find("+   ") == std::string::npos);
      compareWithInterpreter(fn, {{"z", z}, {"y", y}}, 1e-6);
    }
  }
}
