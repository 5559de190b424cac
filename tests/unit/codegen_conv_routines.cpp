//===- codegen_conv_routines.cpp - im2col, col2im and the conv dots against a double reference ===//
//
// JIT-compiles nnc_im2col, nnc_col2im and nnc_conv_dots (codegen/ConvRoutines.h) for f32 and
// f64 with 128-, 256- and 512-bit vectors (each width under its own prefix; LLVM splits the
// wider vectors on hosts without them), takes the prebuilt routines of every CPU level this
// host supports (runtime/exec/PrebuiltGemm.h), and checks each against plain loops in double
// over a grid of geometries: widths below, equal to, one above and several vectors above each
// lane count, one-row images, square and non-square kernels up to 5, strides 1 to 3 along
// each axis, padding from 0 to the kernel size − 1, one or three channels and one, two or
// five outputs.
//
// im2col must equal the reference exactly and write every element of col. col2im and the
// dots must be within the rounding of their sums (relative to the sum of the terms'
// magnitudes); col2im with stride 1 along x is also checked with each epilogue kind (biases,
// activations, derivatives) against the epilogue in double, and the dots are called with
// first = 1 on a target of NaN, then with first = 0, which must give twice the reference. Every output lies inside a guard band of NaN sentinels that
// must survive, and epilogue inputs a kind does not use are NaN, so reading them would show.
// Mismatches are counted per routine, width and kind; each count reports its first mismatch.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/ConvRoutines.h"
#include "codegen/Gemm.h"
#include "codegen/KernelPlan.h"
#include "runtime/exec/PrebuiltGemm.h"
#include "tests/unit/CodegenTesting.h"

#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace nnc;
using namespace nnc::testing;

namespace {

template <typename T> using Im2colFn = void(const int64_t *geometry, const T *x, T *col);
template <typename T>
using Col2imFn = void(const int64_t *geometry, const T *col, T *dx, const T *bias, const T *aux, int32_t kind,
                      int32_t *masks);
template <typename T> using DotsFn = void(const int64_t *geometry, const T *dy, const T *col, T *target, int32_t first);

template <typename T> struct Routines {
  Im2colFn<T> *im2col = nullptr;
  Col2imFn<T> *col2im = nullptr;
  DotsFn<T> *dots = nullptr;
};

/// The six routines of one vector width or prebuilt level.
struct RoutineSet {
  std::string label; // "128-bit JIT", "level avx2"
  Routines<float> f32;
  Routines<double> f64;
  template <typename T> const Routines<T> &get() const {
    if constexpr (std::is_same_v<T, float>)
      return f32;
    else
      return f64;
  }
};

const unsigned kVectorBits[] = {128, 256, 512};

/// The routines JIT-compiled once for every width of kVectorBits, as nnc_v<bits>_im2col_f32, ...
struct JitRoutines {
  std::unique_ptr<Jit> jit = makeJit();
  std::vector<RoutineSet> sets;

  JitRoutines() {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto module = std::make_unique<llvm::Module>("conv_routines", *ctx);
    auto prefix = [](unsigned bits) { return "nnc_v" + std::to_string(bits) + "_"; };
    for (unsigned bits : kVectorBits)
      for (ConvRoutine routine : {ConvRoutine::Im2col, ConvRoutine::Col2im, ConvRoutine::Dots})
        for (bool f64 : {false, true})
          emitConvRoutine(*module, routine, f64, bits, prefix(bits));
    requireOk(jit->add(std::move(module), std::move(ctx), Jit::Pipeline::Standard));
    for (unsigned bits : kVectorBits) {
      RoutineSet set;
      set.label = std::to_string(bits) + "-bit JIT";
      set.f32 = lookup<float>(prefix(bits), "f32");
      set.f64 = lookup<double>(prefix(bits), "f64");
      sets.push_back(set);
    }
  }

  template <typename T> Routines<T> lookup(const std::string &prefix, const std::string &type) {
    Routines<T> r;
    r.im2col = unwrap(jit->lookupAs<Im2colFn<T>>(prefix + "im2col_" + type));
    r.col2im = unwrap(jit->lookupAs<Col2imFn<T>>(prefix + "col2im_" + type));
    r.dots = unwrap(jit->lookupAs<DotsFn<T>>(prefix + "conv_dots_" + type));
    return r;
  }
};

JitRoutines &jitRoutines() {
  static JitRoutines instance;
  return instance;
}

// ---- Geometries ------------------------------------------------------------------------------

std::string describe(const ConvGeometry &g) {
  std::ostringstream s;
  s << "C=" << g.C << " H=" << g.H << " W=" << g.W << " O=" << g.O << " kernel " << g.KH << "x" << g.KW << " stride "
    << g.strideH << "x" << g.strideW << " pad " << g.padH << "x" << g.padW << " -> OH=" << g.OH << " OW=" << g.OW;
  return s.str();
}

/// The grid: every width, height, kernel and stride below (the widest image in one row only),
/// each with padding 0, the kernel size − 1 and in between, per axis and mixed; C and O cycle
/// through {1, 3} and {1, 2, 5}. Geometries without an output are left out. W = 33 has 16
/// outputs per row with a 2-wide kernel and stride 2, W = 70 more than two 16-lane vectors.
const std::vector<ConvGeometry> &geometries() {
  static const std::vector<ConvGeometry> grid = [] {
    const int64_t widths[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 70};
    const int64_t heights[] = {1, 4};
    const std::pair<int64_t, int64_t> kernels[] = {{1, 1}, {2, 2}, {3, 3}, {3, 2}, {1, 4}, {5, 5}};
    const std::pair<int64_t, int64_t> strides[] = {{1, 1}, {2, 2}, {3, 3}, {2, 1}, {1, 3}};
    const int64_t outputs[] = {1, 2, 5};
    std::vector<ConvGeometry> out;
    int64_t n = 0;
    for (int64_t W : widths)
      for (int64_t H : heights) {
        if (W == 70 && H > 1)
          continue;
        for (auto [KH, KW] : kernels)
          for (auto [sH, sW] : strides) {
            std::vector<std::pair<int64_t, int64_t>> pads = {
                {0, 0}, {KH - 1, KW - 1}, {(KH - 1) / 2, KW / 2}, {0, KW - 1}, {KH - 1, 0}};
            std::sort(pads.begin(), pads.end());
            pads.erase(std::unique(pads.begin(), pads.end()), pads.end());
            for (auto [pH, pW] : pads) {
              ConvGeometry g;
              g.N = 1, g.C = n % 2 ? 3 : 1, g.O = outputs[n % 3], g.H = H, g.W = W, g.KH = KH, g.KW = KW;
              g.strideH = sH, g.strideW = sW, g.padH = pH, g.padW = pW;
              ++n;
              if (H + 2 * pH < KH || W + 2 * pW < KW)
                continue;
              g.OH = (H + 2 * pH - KH) / sH + 1;
              g.OW = (W + 2 * pW - KW) / sW + 1;
              out.push_back(g);
            }
          }
      }
    return out;
  }();
  return grid;
}

// ---- Buffers ---------------------------------------------------------------------------------

/// A NaN with a payload of its own: no routine computes it, and it compares unequal to all.
template <typename T> T sentinel() {
  T value;
  if constexpr (std::is_same_v<T, float>) {
    uint32_t bits = 0x7fc5a5a5u;
    std::memcpy(&value, &bits, sizeof value);
  } else {
    uint64_t bits = 0x7ff8a5a5a5a5a5a5ull;
    std::memcpy(&value, &bits, sizeof value);
  }
  return value;
}

template <typename T> bool isSentinel(T value) {
  T s = sentinel<T>();
  return std::memcmp(&value, &s, sizeof value) == 0;
}

/// n elements, all the sentinel, inside kGuard sentinels on each side (an odd count, so that
/// the elements are not vector-aligned either).
template <typename T> struct Guarded {
  static constexpr size_t kGuard = 67;
  size_t n;
  std::vector<T> buffer;
  explicit Guarded(size_t n) : n(n), buffer(n + 2 * kGuard, sentinel<T>()) {}
  T *data() { return buffer.data() + kGuard; }
  T operator[](size_t i) const { return buffer[kGuard + i]; }
  /// The guard elements that lost their sentinel.
  int64_t clobbered() const {
    int64_t count = 0;
    for (size_t i = 0; i < kGuard; ++i)
      count += !isSentinel(buffer[i]) + !isSentinel(buffer[kGuard + n + i]);
    return count;
  }
};

template <typename T> std::vector<T> randomVector(size_t n, std::mt19937 &rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (T &x : v)
    x = T(dist(rng));
  return v;
}

/// Mismatches of one routine, width and kind over the whole grid; reports the first.
struct Tally {
  std::string name;
  int64_t cases = 0, elements = 0, mismatches = 0, clobbered = 0;
  std::string first;

  explicit Tally(std::string name) : name(std::move(name)) {}

  /// Counts a mismatch at `index`; `what` describes it (called for the first only).
  template <typename Describe> void mismatch(const ConvGeometry &g, int64_t index, Describe what) {
    if (mismatches++ == 0 && first.empty()) {
      std::ostringstream s;
      s.precision(17);
      s << name << ", " << describe(g) << ": element " << index << ": ";
      what(s);
      first = s.str();
    }
  }
  void guard(const ConvGeometry &g, int64_t count) {
    if (count && clobbered == 0 && first.empty())
      first = name + ", " + describe(g) + ": " + std::to_string(count) + " guard elements written";
    clobbered += count;
  }
  void report() const {
    INFO(name << ": " << cases << " geometries, " << elements << " elements");
    INFO(first);
    CHECK(cases > 0);
    CHECK(mismatches == 0);
    CHECK(clobbered == 0);
  }
};

/// |got − want| within the rounding of a sum of `terms` terms whose magnitudes add up to
/// `magnitude`, in any order.
bool withinSum(double got, double want, double magnitude, int64_t terms, double eps) {
  return std::fabs(got - want) <= double(terms + 1) * eps * magnitude;
}

// ---- im2col ----------------------------------------------------------------------------------

template <typename T> void checkIm2col(const ConvGeometry &g, Im2colFn<T> *fn, Tally &tally, std::mt19937 &rng) {
  const int64_t R = g.ckk(), P = g.ohw();
  std::vector<T> x = randomVector<T>(size_t(g.C * g.H * g.W), rng);
  Guarded<T> col(size_t(R * P));
  auto words = convGeometryWords(g);
  fn(words.data(), x.data(), col.data());
  ++tally.cases;
  tally.elements += R * P;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx)
        for (int64_t oy = 0; oy < g.OH; ++oy)
          for (int64_t ox = 0; ox < g.OW; ++ox) {
            int64_t iy = oy * g.strideH - g.padH + ky, ix = ox * g.strideW - g.padW + kx;
            bool inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
            T want = inside ? x[size_t((c * g.H + iy) * g.W + ix)] : T(0);
            int64_t index = ((c * g.KH + ky) * g.KW + kx) * P + oy * g.OW + ox;
            T got = col[size_t(index)];
            if (!(got == want))
              tally.mismatch(g, index, [&](std::ostream &s) {
                s << "col[c=" << c << " ky=" << ky << " kx=" << kx << "][oy=" << oy << " ox=" << ox << "] = "
                  << (isSentinel(got) ? "never written" : std::to_string(double(got))) << ", want " << double(want);
              });
          }
  tally.guard(g, col.clobbered());
}

// ---- col2im ----------------------------------------------------------------------------------

struct KindCase {
  int32_t kind;
  const char *name;
};

/// The kinds col2im applies with stride 1 along x: none, each bias alone, each activation after
/// a bias, each derivative.
const KindCase kKinds[] = {
    {0, "none"},
    {GemmEpilogueRowBias, "row-bias"},
    {GemmEpilogueBias, "bias"},
    {GemmEpilogueRowBias | GemmEpilogueRelu, "row-bias+relu"},
    {GemmEpilogueBias | GemmEpilogueSigmoid, "bias+sigmoid"},
    {GemmEpilogueRowBias | GemmEpilogueTanh, "row-bias+tanh"},
    {GemmEpilogueReluGrad, "relu-grad"},
    {GemmEpilogueSigmoidGrad, "sigmoid-grad"},
    {GemmEpilogueTanhGrad, "tanh-grad"},
};

/// dx = col2im(col) in double, with the magnitude of each element's terms and their count.
struct Col2imReference {
  std::vector<double> sum, magnitude;
  std::vector<int64_t> terms;

  template <typename T> Col2imReference(const ConvGeometry &g, const std::vector<T> &col) {
    size_t n = size_t(g.C * g.H * g.W);
    sum.assign(n, 0.0), magnitude.assign(n, 0.0), terms.assign(n, 0);
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t ky = 0; ky < g.KH; ++ky)
        for (int64_t kx = 0; kx < g.KW; ++kx)
          for (int64_t oy = 0; oy < g.OH; ++oy)
            for (int64_t ox = 0; ox < g.OW; ++ox) {
              int64_t iy = oy * g.strideH - g.padH + ky, ix = ox * g.strideW - g.padW + kx;
              if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W)
                continue;
              double v = double(col[size_t(((c * g.KH + ky) * g.KW + kx) * g.ohw() + oy * g.OW + ox)]);
              size_t at = size_t((c * g.H + iy) * g.W + ix);
              sum[at] += v, magnitude[at] += std::fabs(v), ++terms[at];
            }
  }
};

/// The epilogue `kind` in double on x, the sum of `terms` terms of magnitude `magnitude`, and a
/// bound on the routine's error in T: the sum's rounding carried through each step (bias: one
/// rounding; ReLU: 1-Lipschitz; sigmoid: slope ≤ 1/4, tanh: slope ≤ 1, each plus a few ulps of
/// its vector approximation; a derivative: its own roundings from aux, and the product's).
std::pair<double, double> expectEpilogue(int32_t kind, double x, double magnitude, int64_t terms, double bias,
                                         double aux, double eps) {
  double err = double(terms + 1) * eps * magnitude;
  if (kind & (GemmEpilogueBias | GemmEpilogueRowBias)) {
    x += bias;
    err += eps * std::fabs(x);
  }
  switch ((kind >> 4) & 15) {
  case 1: x = std::max(x, 0.0); break;
  case 2:
    x = 1 / (1 + std::exp(-x));
    err = err / 4 + 8 * eps * x;
    break;
  case 3:
    x = std::tanh(x);
    err += 8 * eps * std::fabs(x);
    break;
  }
  if (int grad = (kind >> 8) & 15) {
    double d = 0, dErr = 0;
    if (grad == 1) {
      d = aux > 0 ? 1.0 : 0.0;
    } else if (grad == 2) {
      d = aux * (1 - aux);
      dErr = 2 * eps * std::fabs(d);
    } else {
      d = 1 - aux * aux;
      dErr = eps * (aux * aux + std::fabs(d));
    }
    double y = x * d;
    err = err * std::fabs(d) + std::fabs(x) * dErr + eps * std::fabs(y);
    x = y;
  }
  return {x, err};
}

/// col2im with `kind` (0 unless stride 1 along x); inputs the kind does not use are NaN.
template <typename T>
void checkCol2im(const ConvGeometry &g, Col2imFn<T> *fn, int32_t kind, Tally &tally, std::mt19937 &rng) {
  const double eps = std::numeric_limits<T>::epsilon();
  const int64_t HW = g.H * g.W, n = g.C * HW;
  std::vector<T> col = randomVector<T>(size_t(g.ckk() * g.ohw()), rng);
  Col2imReference ref(g, col);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> bias(size_t(std::max(g.C, HW)), nan), aux(size_t(n), nan);
  // The row bias has C elements, the column bias H·W; the rest of `bias` stays NaN.
  if (kind & (GemmEpilogueRowBias | GemmEpilogueBias)) {
    int64_t used = kind & GemmEpilogueRowBias ? g.C : HW;
    std::vector<T> values = randomVector<T>(size_t(used), rng);
    std::copy(values.begin(), values.end(), bias.begin());
  }
  int grad = (kind >> 8) & 15;
  if (grad == 1) {
    // Zeros and negatives as well as positives: [aux > 0] must be exact.
    aux = randomVector<T>(aux.size(), rng, 0.01, 1);
    for (size_t i = 0; i < aux.size(); ++i)
      aux[i] = i % 3 == 0 ? T(0) : i % 3 == 1 ? -aux[i] : aux[i];
  } else if (grad) {
    aux = randomVector<T>(aux.size(), rng, 0, 1);
  }
  Guarded<T> dx{size_t(n)};
  auto words = convGeometryWords(g);
  // The mask scratch as col2imMaskBytes sizes it, inside a guard band of its own.
  std::vector<int32_t> masks(size_t(col2imMaskBytes(g) / 4 + 2 * 16), 0x5a5a5a5a);
  fn(words.data(), col.data(), dx.data(), bias.data(), aux.data(), kind, masks.data() + 16);
  tally.guard(g, !std::all_of(masks.begin(), masks.begin() + 16, [](int32_t v) { return v == 0x5a5a5a5a; }) ||
                     !std::all_of(masks.end() - 16, masks.end(), [](int32_t v) { return v == 0x5a5a5a5a; }));
  ++tally.cases;
  tally.elements += n;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t yx = 0; yx < HW; ++yx) {
      size_t at = size_t(c * HW + yx);
      double b = kind & GemmEpilogueRowBias ? double(bias[size_t(c)])
                 : kind & GemmEpilogueBias  ? double(bias[size_t(yx)])
                                            : 0.0;
      auto [want, tolerance] =
          expectEpilogue(kind, ref.sum[at], ref.magnitude[at], ref.terms[at], b, double(aux[at]), eps);
      double got = double(dx[at]);
      if (!(std::fabs(got - want) <= tolerance))
        tally.mismatch(g, int64_t(at), [&](std::ostream &s) {
          s << "dx[c=" << c << " y=" << yx / g.W << " x=" << yx % g.W << "] = " << got << ", want " << want
            << " (tolerance " << tolerance << ", " << ref.terms[at] << " terms)";
        });
    }
  tally.guard(g, dx.clobbered());
}

// ---- The weight gradient's dot products ------------------------------------------------------

template <typename T> void checkDots(const ConvGeometry &g, DotsFn<T> *fn, Tally &tally, std::mt19937 &rng) {
  const double eps = std::numeric_limits<T>::epsilon();
  const int64_t O = g.O, R = g.ckk(), P = g.ohw();
  std::vector<T> dy = randomVector<T>(size_t(O * P), rng), col = randomVector<T>(size_t(R * P), rng);
  std::vector<double> sum(size_t(O * R)), magnitude(size_t(O * R));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t r = 0; r < R; ++r) {
      double s = 0, m = 0;
      for (int64_t p = 0; p < P; ++p) {
        double term = double(dy[size_t(o * P + p)]) * double(col[size_t(r * P + p)]);
        s += term, m += std::fabs(term);
      }
      sum[size_t(o * R + r)] = s, magnitude[size_t(o * R + r)] = m;
    }
  // The target starts as sentinels: first = 1 must not read it. first = 0 then adds the same
  // products again.
  Guarded<T> target(size_t(O * R));
  auto words = convGeometryWords(g);
  ++tally.cases;
  tally.elements += O * R;
  for (int32_t first : {1, 0}) {
    fn(words.data(), dy.data(), col.data(), target.data(), first);
    double times = first ? 1 : 2;
    for (int64_t i = 0; i < O * R; ++i) {
      double want = times * sum[size_t(i)], got = double(target[size_t(i)]);
      if (!withinSum(got, want, times * magnitude[size_t(i)], P + 1, eps))
        tally.mismatch(g, i, [&](std::ostream &s) {
          s << "target[o=" << i / R << "][r=" << i % R << "] = " << got << " after first=" << first << ", want "
            << want;
        });
    }
  }
  tally.guard(g, target.clobbered());
}

// ---- Every routine of a set over the grid ----------------------------------------------------

template <typename T> void checkRoutines(const RoutineSet &set, const char *type) {
  const Routines<T> &r = set.get<T>();
  REQUIRE(r.im2col);
  REQUIRE(r.col2im);
  REQUIRE(r.dots);
  std::string label = set.label + " " + type;
  std::mt19937 rng(2024);
  Tally im2col(label + " im2col"), scatter(label + " col2im (stride along x > 1)"), dots(label + " conv_dots");
  std::vector<Tally> gather;
  for (const KindCase &k : kKinds)
    gather.emplace_back(label + " col2im (stride 1 along x) kind " + k.name);
  for (const ConvGeometry &g : geometries()) {
    checkIm2col<T>(g, r.im2col, im2col, rng);
    if (g.strideW == 1) {
      for (size_t k = 0; k < std::size(kKinds); ++k)
        checkCol2im<T>(g, r.col2im, kKinds[k].kind, gather[k], rng);
    } else {
      checkCol2im<T>(g, r.col2im, 0, scatter, rng);
    }
    checkDots<T>(g, r.dots, dots, rng);
  }
  im2col.report();
  scatter.report();
  for (const Tally &t : gather)
    t.report();
  dots.report();
}

} // namespace

TEST_CASE("the conv routines' geometry grid reaches every path", "[kernels][conv-routines]") {
  // Lane counts of f64 and f32 at 128, 256 and 512 bits: rows (W for col2im, OW for im2col)
  // shorter than a vector, exactly one, one more and several, with stride 1 and above along x.
  for (int64_t lanes : {2, 4, 8, 16}) {
    CAPTURE(lanes);
    for (bool unitStride : {true, false}) {
      CAPTURE(unitStride);
      int64_t below = 0, equal = 0, above = 0, several = 0, wBelow = 0, wEqual = 0, wAbove = 0, wSeveral = 0;
      for (const ConvGeometry &g : geometries()) {
        if ((g.strideW == 1) != unitStride)
          continue;
        below += g.OW < lanes, equal += g.OW == lanes, above += g.OW == lanes + 1, several += g.OW > 2 * lanes;
        wBelow += g.W < lanes, wEqual += g.W == lanes, wAbove += g.W == lanes + 1, wSeveral += g.W > 2 * lanes;
      }
      CHECK(below > 0);
      CHECK(equal > 0);
      CHECK(above > 0);
      CHECK(several > 0);
      CHECK(wBelow > 0);
      CHECK(wEqual > 0);
      CHECK(wAbove > 0);
      CHECK(wSeveral > 0);
    }
  }
  int64_t oneRow = 0, oneOutputRow = 0, nonSquare = 0, largerOutput = 0, fullPad = 0, oddO = 0, leftoverR = 0;
  int64_t strides[4][4] = {};
  for (const ConvGeometry &g : geometries()) {
    oneRow += g.H == 1, oneOutputRow += g.OH == 1, nonSquare += g.KH != g.KW;
    largerOutput += g.OH * g.OW > g.H * g.W;
    fullPad += g.padH == g.KH - 1 && g.padW == g.KW - 1 && g.KH > 1 && g.KW > 1;
    oddO += g.O == 5, leftoverR += g.ckk() > 4 && g.ckk() % 4 != 0;
    ++strides[g.strideH][g.strideW];
  }
  CHECK(oneRow > 0);
  CHECK(oneOutputRow > 0);
  CHECK(nonSquare > 0);
  CHECK(largerOutput > 0);
  CHECK(fullPad > 0);
  CHECK(oddO > 0);
  CHECK(leftoverR > 0);
  for (int s = 1; s <= 3; ++s) {
    CAPTURE(s);
    CHECK(strides[s][s] > 0);
  }
  CHECK(strides[2][1] > 0);
  CHECK(strides[1][3] > 0);
}

TEST_CASE("JIT-compiled conv routines of every vector width match a double reference", "[kernels][conv-routines]") {
  for (const RoutineSet &set : jitRoutines().sets) {
    checkRoutines<float>(set, "f32");
    checkRoutines<double>(set, "f64");
  }
}

TEST_CASE("prebuilt conv routines of every level this CPU supports match a double reference",
          "[kernels][conv-routines][gemm-levels]") {
  std::unique_ptr<Jit> jit = makeJit();
  if (!havePrebuiltGemm()) {
    WARN("no prebuilt routines in this build (not x86-64): the JIT compiles them");
    return;
  }
  int tested = 0;
  for (const GemmLevel &level : gemmLevels()) {
    if (!jitSupportsLevel(*jit, level)) {
      std::string missing;
      for (const std::string &f : level.features)
        if (!jit->hasFeature(f))
          missing += " " + f;
      WARN("conv routines of level " << level.name << " skipped: this CPU lacks" << missing);
      continue;
    }
    RoutineSet set;
    set.label = "level " + level.name;
    set.f32.im2col = reinterpret_cast<Im2colFn<float> *>(prebuiltRoutine(level, "nnc_im2col_f32"));
    set.f32.col2im = reinterpret_cast<Col2imFn<float> *>(prebuiltRoutine(level, "nnc_col2im_f32"));
    set.f32.dots = reinterpret_cast<DotsFn<float> *>(prebuiltRoutine(level, "nnc_conv_dots_f32"));
    set.f64.im2col = reinterpret_cast<Im2colFn<double> *>(prebuiltRoutine(level, "nnc_im2col_f64"));
    set.f64.col2im = reinterpret_cast<Col2imFn<double> *>(prebuiltRoutine(level, "nnc_col2im_f64"));
    set.f64.dots = reinterpret_cast<DotsFn<double> *>(prebuiltRoutine(level, "nnc_conv_dots_f64"));
    checkRoutines<float>(set, "f32");
    checkRoutines<double>(set, "f64");
    ++tested;
  }
  CHECK(tested >= 1); // every x86-64 CPU has the baseline
}
