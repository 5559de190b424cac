//===- e2e_support.h - Helpers of the end-to-end tests: JIT runs against the interpreter -----===//
//
// The e2e tests run IR functions twice — through the reference interpreter and through the
// JIT-compiled code (runtime/exec/Executable) — and compare the results and state updates. These
// helpers convert tensors to and from the compiled code's buffers, draw deterministic data and
// measure the disagreement.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Emitter.h"
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "frontend/TrainBlock.h"
#include "passes/optimize/PassManager.h"
#include "passes/training/TrainStep.h"
#include "ir/Interpreter.h"
#include "ir/Random.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/Storage.h"
#include "runtime/train/Initializers.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace nnc::e2e {

inline std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string examplePath(const std::string &name) { return std::string(NNC_EXAMPLES_DIR) + "/" + name; }

/// Deterministic data: floats uniform in [lo, hi) (rounded to f32 for f32 tensors); i32 values
/// in [0, intRange); i1 values 0/1.
inline Tensor randomTensor(const TensorType &t, uint64_t seed, double lo = -1, double hi = 1, int64_t intRange = 2) {
  Tensor x = Tensor::filled(t, 0);
  for (size_t i = 0; i < x.data.size(); ++i) {
    if (isFloat(t.dtype)) {
      double v = lo + (hi - lo) * randomUniform(seed, 0, i);
      x.data[i] = t.dtype == DType::F32 ? double(float(v)) : v;
    } else if (t.dtype == DType::I32) {
      x.data[i] = double(randomBits(seed, 1, i) % uint32_t(std::max<int64_t>(1, intRange)));
    } else {
      x.data[i] = double(randomBits(seed, 1, i) % 2);
    }
  }
  return x;
}

/// The tensor's storage as the compiled code lays it out.
inline std::vector<char> toBuffer(const Tensor &t) {
  std::vector<char> buf(storageSize(t.type), 0);
  for (size_t i = 0; i < t.data.size(); ++i)
    writeElement(buf.data(), t.type.dtype, i, t.data[i]);
  return buf;
}

inline Tensor fromBuffer(const TensorType &type, const std::vector<char> &buf) {
  Tensor t = Tensor::filled(type, 0);
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = readElement(buf.data(), type.dtype, i);
  return t;
}

/// One call of a compiled function on `args` (by argument name): its results and the new value
/// of every state argument it updates — the interpreter's EvalResult, from native code.
inline EvalResult runCompiled(const Function &fn, CompiledFunction &cf, const std::map<std::string, Tensor> &args) {
  std::vector<std::vector<char>> storage;
  for (const Argument &a : fn.arguments())
    storage.push_back(toBuffer(args.at(a.name)));
  for (const FunctionResult &r : fn.results())
    storage.push_back(toBuffer(Tensor::filled(fn.type(r.value), 0)));
  std::vector<void *> ptrs;
  for (auto &s : storage)
    ptrs.push_back(s.data());
  cf.call(ptrs.data());
  EvalResult out;
  size_t nargs = fn.arguments().size();
  for (size_t j = 0; j < fn.results().size(); ++j)
    out.results[fn.results()[j].name] = fromBuffer(fn.type(fn.results()[j].value), storage[nargs + j]);
  for (const StateUpdate &u : fn.updates()) {
    const Argument &a = fn.argument(u.state);
    size_t i = size_t(&a - fn.arguments().data());
    out.updates[a.name] = fromBuffer(a.type, storage[i]);
  }
  return out;
}

/// How far `got` is from `want`, relative to the tensor's magnitude: max |got - want| over
/// max |want| (the max-norm relative error, the usual measure for results of sums such as matrix
/// products, whose f32 rounding depends on the summation order). A scalar is compared relative
/// to itself. NaN and infinity must match exactly; a mismatch there (or in shape) gives infinity.
inline double relativeError(const Tensor &want, const Tensor &got) {
  if (want.type != got.type || want.data.size() != got.data.size())
    return INFINITY;
  double scale = 0;
  for (double w : want.data)
    if (std::isfinite(w))
      scale = std::max(scale, std::fabs(w));
  scale = std::max(scale, 1e-30);
  double worst = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    double w = want.data[i], g = got.data[i];
    if (std::isnan(w) || std::isinf(w)) {
      if (!(std::isnan(w) ? std::isnan(g) : g == w))
        return INFINITY;
      continue;
    }
    if (!std::isfinite(g))
      return INFINITY;
    worst = std::max(worst, std::fabs(g - w) / scale);
  }
  return worst;
}

/// True when every element is bitwise the same value (integers and masks, random numbers).
inline bool identical(const Tensor &a, const Tensor &b) { return a.type == b.type && a.data == b.data; }

/// Initial state of every state argument of `fn` not yet in `state`, from its initializer, as
/// the Trainer does (f32 values rounded).
inline void initState(const Function &fn, uint64_t seed, std::map<std::string, Tensor> &state) {
  for (const Argument &a : fn.arguments()) {
    if (a.role != ArgRole::State || state.count(a.name))
      continue;
    auto values = initialValues(a.init, a.type, seed, a.name);
    if (!values)
      FAIL("initializer of " << a.name << ": " << values.message());
    Tensor t(a.type, (*values));
    if (a.type.dtype == DType::F32)
      for (double &v : t.data)
        v = double(float(v));
    state[a.name] = std::move(t);
  }
}

/// The largest relative difference seen in a test, and where.
struct Tally {
  double worst = 0;
  std::string where;
  void note(double err, const std::string &what) {
    if (err > worst) {
      worst = err;
      where = what;
    }
  }
};

/// Compares one result or update; integers exactly, floats to `tol`.
inline void expectClose(const Tensor &want, const Tensor &got, const std::string &what, double tol, Tally &tally) {
  INFO(what << ": interpreter " << want.type.str() << " vs jit " << got.type.str());
  if (!isFloat(want.type.dtype)) {
    CHECK(identical(want, got));
    return;
  }
  double err = relativeError(want, got);
  tally.note(err, what);
  INFO("relative error " << err);
  CHECK(err <= tol);
}

/// Parses and checks a .nn source; fails the test with the diagnostics when it has errors.
struct ParsedModel {
  std::unique_ptr<SourceFile> file;
  Program program;
  std::string diagnostics;
  bool ok = false;
};

inline ParsedModel parseModel(const std::string &name, const std::string &text) {
  ParsedModel p;
  p.file = std::make_unique<SourceFile>(name, text);
  DiagnosticEngine diags(p.file.get());
  p.program = parseProgram(*p.file, diags);
  checkProgram(p.program, diags);
  p.ok = !diags.hasErrors();
  p.diagnostics = diags.renderAll();
  return p;
}

/// The train block of a checked program, resolved; fails the test when it is rejected.
inline TrainConfig trainBlockOf(const ParsedModel &model) {
  DiagnosticEngine diags(model.file.get());
  std::optional<TrainConfig> c = readTrainBlock(model.program, diags);
  INFO(diags.renderAll());
  REQUIRE(c);
  return *c;
}

/// The training graphs of `model` built from `tc` (which a test may change beyond what the
/// train block can say) in the pipeline's order: the three lowerings, the training module,
/// then with `optimize` the default graph passes less `disabled`. Batch 0 = the block's.
inline Module trainingGraphsOf(const ParsedModel &model, const TrainConfig &tc, int64_t batch, bool optimize,
                               const std::vector<std::string> &disabled = {}) {
  DiagnosticEngine diags(model.file.get());
  Module lowered;
  for (LowerMode mode : {LowerMode::Train, LowerMode::Eval, LowerMode::Predict}) {
    LowerOptions o;
    o.mode = mode;
    o.batch = batch > 0 ? batch : tc.batch;
    o.seed = tc.seed;
    o.functionName = mode == LowerMode::Train ? "forward" : mode == LowerMode::Eval ? "eval" : "predict";
    INFO(diags.renderAll());
    REQUIRE(lowerModel(model.program, o, lowered, diags));
  }
  const auto &fns = lowered.functions();
  auto built = buildTrainingModule(fns[0], fns[1], fns[2], TrainStepConfig{tc.optimizer, tc.schedule, tc.clip, 1, tc.epochs, {}});
  if (!built)
    FAIL("buildTrainingModule: " << built.message());
  Module m = std::move(*built);
  if (!optimize)
    return m;
  PipelineOptions po;
  for (const std::string &name : disabled)
    if (findPass(name))
      po.disabled.push_back(name);
  PipelineReport report;
  Result<Module> optimized = runPipeline(std::move(m), po, &report);
  INFO((optimized ? "" : optimized.message()));
  REQUIRE(optimized);
  return std::move(*optimized);
}

} // namespace nnc::e2e
