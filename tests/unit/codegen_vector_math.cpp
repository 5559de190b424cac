//===- codegen_vector_math.cpp - Accuracy of the inline exp/log/tanh/sigmoid emitters --------===//
//
// JIT-compiles `void f(const T* x, T* y, i64 n)` loops that apply each emitter to float and
// double, as vectors of the host's width and as scalars, then measures the error in ulps of
// the result type against long-double references over dense sweeps, and checks the special
// values (±0, ±inf, NaN, subnormals) exactly. The maxima are printed with -s.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/VectorMath.h"
#include "tests/unit/CodegenTesting.h"

#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace nnc;
using namespace nnc::testing;

namespace {

using Emitter = llvm::Value *(*)(llvm::IRBuilderBase &, llvm::Value *);

struct MathFunction {
  const char *name;
  Emitter emit;
  long double (*reference)(long double);
};

long double refSigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }
long double refSoftplus(long double x) {
  return std::max(x, 0.0L) + std::log1p(std::exp(-std::fabs(x)));
}

const MathFunction kFunctions[] = {
    {"exp", emitExp, [](long double x) { return std::exp(x); }},
    {"log", emitLog, [](long double x) { return std::log(x); }},
    {"log1p", emitLog1p, [](long double x) { return std::log1p(x); }},
    {"tanh", emitTanh, [](long double x) { return std::tanh(x); }},
    {"sigmoid", emitSigmoid, refSigmoid},
    {"softplus", emitSoftplus, refSoftplus},
};

/// Adds `void name(const T* x, T* y, i64 n)` applying `emit` to `lanes` elements at a time
/// (a scalar when lanes is 1); n must be a multiple of lanes.
void buildMap(llvm::Module &module, const std::string &name, llvm::Type *elem, unsigned lanes,
              Emitter emit) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type *i64 = b.getInt64Ty();
  llvm::Type *type = lanes == 1 ? elem : llvm::FixedVectorType::get(elem, lanes);
  auto *fnType = llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getPtrTy(), i64}, false);
  auto *fn = llvm::Function::Create(fnType, llvm::Function::ExternalLinkage, name, module);
  auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto *loop = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  b.SetInsertPoint(entry);
  b.CreateCondBr(b.CreateICmpSGT(fn->getArg(2), b.getInt64(0)), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode *i = b.CreatePHI(i64, 2);
  i->addIncoming(b.getInt64(0), entry);
  llvm::Align align(elem->getPrimitiveSizeInBits() / 8); // std::vector's, not the vector's
  llvm::Value *x = b.CreateAlignedLoad(type, b.CreateGEP(elem, fn->getArg(0), i), align);
  b.CreateAlignedStore(emit(b, x), b.CreateGEP(elem, fn->getArg(1), i), align);
  llvm::Value *next = b.CreateAdd(i, b.getInt64(lanes));
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpSLT(next, fn->getArg(2)), loop, exit);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

/// All functions for float and double, vector and scalar, in one JIT shared by the tests.
struct MathKernels {
  std::unique_ptr<Jit> jit = makeJit();
  unsigned lanes32 = jit->vectorBits() / 32, lanes64 = jit->vectorBits() / 64;

  MathKernels() {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto module = std::make_unique<llvm::Module>("vector_math", *ctx);
    for (const MathFunction &f : kFunctions) {
      buildMap(*module, std::string(f.name) + ".f32.v", llvm::Type::getFloatTy(*ctx), lanes32, f.emit);
      buildMap(*module, std::string(f.name) + ".f32.s", llvm::Type::getFloatTy(*ctx), 1, f.emit);
      buildMap(*module, std::string(f.name) + ".f64.v", llvm::Type::getDoubleTy(*ctx), lanes64, f.emit);
      buildMap(*module, std::string(f.name) + ".f64.s", llvm::Type::getDoubleTy(*ctx), 1, f.emit);
    }
    requireOk(jit->add(std::move(module), std::move(ctx)));
  }

  /// Applies function `name` ("exp.f32.v", ...) to xs (padded to the lane count).
  template <typename T> std::vector<T> apply(const std::string &name, std::vector<T> xs) {
    using Fn = void(const T *, T *, int64_t);
    Fn *fn = unwrap(jit->lookupAs<Fn>(name));
    size_t n = xs.size(), lanes = sizeof(T) == 4 ? lanes32 : lanes64;
    xs.resize((n + lanes - 1) / lanes * lanes, T(1));
    std::vector<T> ys(xs.size());
    fn(xs.data(), ys.data(), int64_t(xs.size()));
    ys.resize(n);
    return ys;
  }
};

MathKernels &kernels() {
  static MathKernels instance;
  return instance;
}

/// |y − ref| in units of the last place of T at ref (subnormal spacing below the normals).
template <typename T> double ulpError(T y, long double ref) {
  using limits = std::numeric_limits<T>;
  if (std::isnan(ref) || std::isnan(y))
    return std::isnan(ref) && std::isnan(y) ? 0.0 : HUGE_VAL;
  if (std::isinf(ref) || std::fabs(ref) > (long double)limits::max())
    return std::isinf(y) && std::signbit(y) == std::signbit(ref) ? 0.0 : HUGE_VAL;
  if (std::isinf(y))
    return HUGE_VAL;
  int exponent = ref == 0 ? limits::min_exponent : std::ilogb(ref);
  exponent = std::max(exponent, limits::min_exponent - 1);
  long double ulp = std::ldexp(1.0L, exponent - (limits::digits - 1));
  return double(std::fabs((long double)y - ref) / ulp);
}

/// n points evenly spaced over [lo, hi], or spaced evenly in log10 when logScale is set.
template <typename T> std::vector<T> sweep(double lo, double hi, size_t n, bool logScale = false) {
  std::vector<T> xs(n);
  for (size_t i = 0; i < n; ++i) {
    double t = lo + (hi - lo) * double(i) / double(n - 1);
    xs[i] = T(logScale ? std::pow(10.0, t) : t);
  }
  return xs;
}

/// The largest ulp error of `function` on `xs`, vector and scalar forms; prints the worst point.
template <typename T> double maxError(const MathFunction &function, const std::vector<T> &xs) {
  std::string type = sizeof(T) == 4 ? ".f32" : ".f64";
  double worst = 0;
  T worstX = 0;
  for (const char *form : {".v", ".s"}) {
    std::vector<T> ys = kernels().apply(function.name + type + form, xs);
    for (size_t i = 0; i < xs.size(); ++i) {
      double error = ulpError(ys[i], function.reference(xs[i]));
      if (!(error <= worst)) {
        worst = error;
        worstX = xs[i];
      }
    }
  }
  UNSCOPED_INFO(function.name << type << ": max " << worst << " ulp at x = " << worstX);
  return worst;
}

const MathFunction &lookupFunction(const std::string &name) {
  for (const MathFunction &f : kFunctions)
    if (name == f.name)
      return f;
  throw std::logic_error("no math function " + name);
}

template <typename T> std::vector<T> concat(std::initializer_list<std::vector<T>> parts) {
  std::vector<T> all;
  for (const auto &part : parts)
    all.insert(all.end(), part.begin(), part.end());
  return all;
}

template <typename T> std::vector<T> negated(std::vector<T> xs) {
  for (T &x : xs)
    x = -x;
  return xs;
}

} // namespace

TEST_CASE("exp is accurate over its whole range", "[kernels]") {
  const MathFunction &f = lookupFunction("exp");
  CHECK(maxError(f, sweep<float>(-100, 100, 1 << 20)) <= 1.0);
  CHECK(maxError(f, sweep<float>(-1, 1, 1 << 18)) <= 1.0);
  CHECK(maxError(f, sweep<double>(-745.5, 710, 1 << 20)) <= 1.0);
  CHECK(maxError(f, sweep<double>(-1, 1, 1 << 18)) <= 1.0);
}

TEST_CASE("log is accurate from subnormals to huge values", "[kernels]") {
  const MathFunction &f = lookupFunction("log");
  CHECK(maxError(f, sweep<float>(-30, 30, 1 << 20, true)) <= 1.0);
  CHECK(maxError(f, sweep<float>(-45, -38, 1 << 16, true)) <= 1.0); // subnormal inputs
  CHECK(maxError(f, sweep<float>(0.5, 2, 1 << 18)) <= 1.0);          // around 1
  CHECK(maxError(f, sweep<double>(-300, 300, 1 << 20, true)) <= 1.0);
  CHECK(maxError(f, sweep<double>(-323, -308, 1 << 16, true)) <= 1.0);
  CHECK(maxError(f, sweep<double>(0.5, 2, 1 << 18)) <= 1.0);
}

TEST_CASE("log1p is accurate for tiny and large arguments", "[kernels]") {
  const MathFunction &f = lookupFunction("log1p");
  auto xs32 = concat<float>({sweep<float>(-0.999, 3, 1 << 18), sweep<float>(-30, 30, 1 << 18, true),
                             negated(sweep<float>(-30, -0.01, 1 << 18, true))});
  CHECK(maxError(f, xs32) <= 2.5);
  auto xs64 = concat<double>({sweep<double>(-0.999, 3, 1 << 18), sweep<double>(-300, 300, 1 << 18, true),
                              negated(sweep<double>(-300, -0.01, 1 << 18, true))});
  CHECK(maxError(f, xs64) <= 2.5);
}

TEST_CASE("tanh is accurate around zero and in the tails", "[kernels]") {
  const MathFunction &f = lookupFunction("tanh");
  CHECK(maxError(f, sweep<float>(-20, 20, 1 << 20)) <= 1.5);
  CHECK(maxError(f, concat<float>({sweep<float>(-40, 0, 1 << 16, true),
                                   negated(sweep<float>(-40, 0, 1 << 16, true))})) <= 2.0);
  CHECK(maxError(f, sweep<double>(-20, 20, 1 << 20)) <= 2.0);
  CHECK(maxError(f, concat<double>({sweep<double>(-300, 0, 1 << 16, true),
                                    negated(sweep<double>(-300, 0, 1 << 16, true))})) <= 2.0);
}

TEST_CASE("sigmoid and softplus are accurate for large |x|", "[kernels]") {
  for (auto [name, bound] : {std::pair{"sigmoid", 2.5}, std::pair{"softplus", 3.0}}) {
    const MathFunction &f = lookupFunction(name);
    CHECK(maxError(f, sweep<float>(-100, 100, 1 << 20)) <= bound);
    CHECK(maxError(f, sweep<double>(-700, 700, 1 << 20)) <= bound);
  }
}

TEMPLATE_TEST_CASE("vector math special values", "[kernels]", float, double) {
  using limits = std::numeric_limits<TestType>;
  std::vector<TestType> xs = {0, -TestType(0), limits::infinity(), -limits::infinity(),
                              limits::quiet_NaN(), -limits::quiet_NaN(), limits::denorm_min(),
                              -limits::denorm_min(), limits::min(), -limits::min(), limits::max(),
                              limits::lowest(), 1, -1, TestType(1e-30), TestType(-1e-30)};
  std::string type = sizeof(TestType) == 4 ? ".f32" : ".f64";
  for (const MathFunction &f : kFunctions) {
    for (const char *form : {".v", ".s"}) {
      std::vector<TestType> ys = kernels().apply(f.name + type + form, xs);
      for (size_t i = 0; i < xs.size(); ++i) {
        long double ref = f.reference(xs[i]);
        INFO(f.name << type << form << "(" << xs[i] << ") = " << ys[i] << ", want " << ref);
        if (ref == 0 || std::isinf(ref)) { // exact, sign included
          CHECK(ys[i] == TestType(ref));
          CHECK(std::signbit(ys[i]) == std::signbit(ref));
        } else {
          CHECK(ulpError(ys[i], ref) <= 2.0);
        }
      }
    }
  }
}
