//===- VectorMath.cpp - Inline IR for exp, log, tanh, sigmoid and friends -------------------===//
//
// The algorithms are documented in VectorMath.h. Every emitter works on the scalar element
// type of its argument (float or double) and produces splat constants of the argument's
// shape, so one code path serves scalars and vectors of any length.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/VectorMath.h"

#include <llvm/IR/Intrinsics.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace nnc {
namespace {

/// Emission state for one function call: the value's type, its integer twin and the
/// fast-math flags (restored when the emitter returns).
class MathEmitter {
public:
  MathEmitter(llvm::IRBuilderBase &b, llvm::Value *x) : b(b), guard(b), type(x->getType()) {
    llvm::Type *elem = type->getScalarType();
    assert((elem->isFloatTy() || elem->isDoubleTy()) && "vector math takes float or double");
    f64 = elem->isDoubleTy();
    intType = type->getWithNewType(f64 ? b.getInt64Ty() : b.getInt32Ty());
    llvm::FastMathFlags flags;
    flags.setAllowContract();
    flags.setApproxFunc();
    flags.setAllowReciprocal();
    b.setFastMathFlags(flags);
  }

  llvm::Constant *c(double value) const { return llvm::ConstantFP::get(type, value); }
  llvm::Constant *ci(int64_t value) const { return llvm::ConstantInt::get(intType, value); }

  /// a·b + c, fused where the target has FMA.
  llvm::Value *fma(llvm::Value *x, llvm::Value *y, llvm::Value *z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {type}, {x, y, z});
  }
  /// Horner evaluation of the polynomial with `coefficients` listed from the highest degree.
  llvm::Value *horner(llvm::Value *x, std::initializer_list<double> coefficients) {
    auto it = coefficients.begin();
    llvm::Value *acc = c(*it++);
    for (; it != coefficients.end(); ++it)
      acc = fma(acc, x, c(*it));
    return acc;
  }
  llvm::Value *fabs(llvm::Value *x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x); }
  llvm::Value *isNaN(llvm::Value *x) { return b.CreateFCmpUNO(x, x); }

  llvm::IRBuilderBase &b;
  llvm::IRBuilderBase::FastMathFlagGuard guard;
  llvm::Type *type;
  llvm::Type *intType = nullptr;
  bool f64 = false;
};

// ln 2 split so that k·ln2Hi is exact for every exponent k the functions meet.
constexpr double kLn2HiF32 = 0.693359375;       // 9 significant bits
constexpr double kLn2LoF32 = -2.12194440e-4;    // ln 2 − kLn2HiF32
constexpr double kLn2HiF64 = 6.93147180369123816490e-01; // 32 significant bits (fdlibm)
constexpr double kLn2LoF64 = 1.90821492927058770002e-10; // ln 2 − kLn2HiF64

} // namespace

llvm::Value *emitExp(llvm::IRBuilderBase &b, llvm::Value *x) {
  MathEmitter m(b, x);
  // 1. Clamp just beyond overflow (88.72 / 709.78) and total underflow (-103.97 / -745.13);
  //    NaN compares false both times and is replaced by 0 until the end.
  double hi = m.f64 ? 710.0 : 89.0, lo = m.f64 ? -746.0 : -104.0;
  llvm::Value *nan = m.isNaN(x);
  llvm::Value *xc = b.CreateSelect(b.CreateFCmpOGT(x, m.c(hi)), m.c(hi), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, m.c(lo)), m.c(lo), xc);
  xc = b.CreateSelect(nan, m.c(0.0), xc);

  // 2. Cody–Waite range reduction.
  llvm::Value *n = b.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven,
                                          b.CreateFMul(xc, m.c(1.4426950408889634)));
  double ln2Hi = m.f64 ? kLn2HiF64 : kLn2HiF32, ln2Lo = m.f64 ? kLn2LoF64 : kLn2LoF32;
  llvm::Value *r = m.fma(n, m.c(-ln2Hi), xc);
  r = m.fma(n, m.c(-ln2Lo), r);

  // 3. e^r = Σ r^i/i!.
  llvm::Value *p;
  if (m.f64)
    p = m.horner(r, {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                     1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
                     1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0});
  else
    p = m.horner(r, {1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0,
                     1.0});

  // 4. p · 2^n1 · 2^n2 with n1 = n >> 1, n2 = n − n1, each a normal power of two.
  unsigned mantissaBits = m.f64 ? 52 : 23;
  int64_t bias = m.f64 ? 1023 : 127;
  llvm::Value *ni = b.CreateFPToSI(n, m.intType);
  llvm::Value *n1 = b.CreateAShr(ni, m.ci(1));
  llvm::Value *n2 = b.CreateSub(ni, n1);
  auto pow2 = [&](llvm::Value *e) {
    return b.CreateBitCast(b.CreateShl(b.CreateAdd(e, m.ci(bias)), m.ci(mantissaBits)), m.type);
  };
  llvm::Value *result = b.CreateFMul(b.CreateFMul(p, pow2(n1)), pow2(n2));
  // 5. NaN passes through.
  return b.CreateSelect(nan, x, result, "exp");
}

llvm::Value *emitLog(llvm::IRBuilderBase &b, llvm::Value *x) {
  MathEmitter m(b, x);
  unsigned mantissaBits = m.f64 ? 52 : 23;
  int64_t bias = m.f64 ? 1023 : 127;
  int64_t oneBits = m.f64 ? 0x3ff0000000000000 : 0x3f800000;
  int64_t sqrtHalfBits = m.f64 ? 0x3fe6a09e667f3bcd : 0x3f3504f3;
  int64_t mantissaMask = (int64_t(1) << mantissaBits) - 1;

  // 1. Subnormals (and 0, negatives: fixed in step 5) are scaled into the normal range.
  int scaleExponent = m.f64 ? 54 : 25;
  double minNormal = m.f64 ? 0x1p-1022 : 0x1p-126;
  llvm::Value *tiny = b.CreateFCmpOLT(x, m.c(minNormal));
  llvm::Value *xs = b.CreateSelect(tiny, b.CreateFMul(x, m.c(std::ldexp(1.0, scaleExponent))), x);
  llvm::Value *kAdjust = b.CreateSelect(tiny, m.ci(-scaleExponent), m.ci(0));

  // 2. Offsetting the bits by (1 − √½) moves the exponent boundary to √½, so the mantissa
  //    m = bits(ix & mask + bits(√½)) lands in [√½, √2).
  llvm::Value *ix = b.CreateAdd(b.CreateBitCast(xs, m.intType), m.ci(oneBits - sqrtHalfBits));
  llvm::Value *k = b.CreateAdd(b.CreateSub(b.CreateLShr(ix, m.ci(mantissaBits)), m.ci(bias)),
                               kAdjust);
  llvm::Value *mant = b.CreateBitCast(
      b.CreateAdd(b.CreateAnd(ix, m.ci(mantissaMask)), m.ci(sqrtHalfBits)), m.type);
  llvm::Value *f = b.CreateFSub(mant, m.c(1.0));

  // 3. ln(1+f) = 2 atanh(s), s = f/(2+f); R(z) = Σ_{i≥1} 2z^i/(2i+1).
  llvm::Value *s = b.CreateFDiv(f, b.CreateFAdd(f, m.c(2.0)));
  llvm::Value *z = b.CreateFMul(s, s);
  llvm::Value *poly;
  if (m.f64)
    poly = m.horner(z, {2.0 / 21, 2.0 / 19, 2.0 / 17, 2.0 / 15, 2.0 / 13, 2.0 / 11, 2.0 / 9,
                        2.0 / 7, 2.0 / 5, 2.0 / 3});
  else
    poly = m.horner(z, {2.0 / 9, 2.0 / 7, 2.0 / 5, 2.0 / 3});
  llvm::Value *R = b.CreateFMul(z, poly);
  llvm::Value *hfsq = b.CreateFMul(m.c(0.5), b.CreateFMul(f, f));

  // 4. Recombine, smallest terms first.
  llvm::Value *kf = b.CreateSIToFP(k, m.type);
  double ln2Hi = m.f64 ? kLn2HiF64 : kLn2HiF32, ln2Lo = m.f64 ? kLn2LoF64 : kLn2LoF32;
  llvm::Value *inner = m.fma(kf, m.c(ln2Lo), b.CreateFMul(s, b.CreateFAdd(hfsq, R)));
  llvm::Value *result =
      m.fma(kf, m.c(ln2Hi), b.CreateFNeg(b.CreateFSub(b.CreateFSub(hfsq, inner), f)));

  // 5. Special inputs.
  double inf = HUGE_VAL;
  result = b.CreateSelect(b.CreateFCmpOEQ(x, m.c(inf)), x, result);
  result = b.CreateSelect(b.CreateFCmpOEQ(x, m.c(0.0)), m.c(-inf), result);
  result = b.CreateSelect(b.CreateFCmpOLT(x, m.c(0.0)), m.c(NAN), result);
  return b.CreateSelect(m.isNaN(x), x, result, "log");
}

llvm::Value *emitLog1p(llvm::IRBuilderBase &b, llvm::Value *x) {
  llvm::Value *u, *d;
  {
    MathEmitter m(b, x);
    // 1. No reassoc: d must be the rounded u minus one, not x.
    u = b.CreateFAdd(x, m.c(1.0));
    d = b.CreateFSub(u, m.c(1.0));
  }
  llvm::Value *logU = emitLog(b, u);
  MathEmitter m(b, x);
  // 2. ln(u)·(x/d); the division first keeps x/d near 1 and free of overflow.
  llvm::Value *result = b.CreateFMul(logU, b.CreateFDiv(x, d));
  result = b.CreateSelect(b.CreateFCmpOEQ(d, m.c(0.0)), x, result);
  // 3. x = +inf would give inf·(inf/inf) = NaN.
  return b.CreateSelect(b.CreateFCmpOEQ(x, m.c(HUGE_VAL)), x, result, "log1p");
}

llvm::Value *emitTanh(llvm::IRBuilderBase &b, llvm::Value *x) {
  llvm::Value *a, *small, *e;
  {
    MathEmitter m(b, x);
    a = m.fabs(x);
    // 2. Small |x|: odd polynomial (f32) or rational function (f64), Cephes coefficients.
    llvm::Value *z = b.CreateFMul(a, a);
    llvm::Value *ratio;
    if (m.f64) {
      llvm::Value *p = m.horner(z, {-9.64399179425052238628e-1, -9.92877231001918586564e1,
                                    -1.61468768441708447952e3});
      llvm::Value *q = m.horner(z, {1.0, 1.12811678491632931402e2, 2.23548839060100448583e3,
                                    4.84406305325125486048e3});
      ratio = b.CreateFDiv(p, q);
    } else {
      ratio = m.horner(z, {-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                           1.33314422036e-1, -3.33332819422e-1});
    }
    small = m.fma(b.CreateFMul(a, z), ratio, a);
    e = b.CreateFMul(a, m.c(2.0));
  }
  // 3. Large |x|: 1 − 2/(e^{2a} + 1).
  e = emitExp(b, e);
  MathEmitter m(b, x);
  llvm::Value *large = b.CreateFSub(m.c(1.0), b.CreateFDiv(m.c(2.0), b.CreateFAdd(e, m.c(1.0))));
  // 4. Select and restore the sign.
  llvm::Value *result = b.CreateSelect(b.CreateFCmpOLT(a, m.c(0.625)), small, large);
  return b.CreateCopySign(result, x, nullptr, "tanh");
}

llvm::Value *emitSigmoid(llvm::IRBuilderBase &b, llvm::Value *x) {
  llvm::Value *negA;
  {
    MathEmitter m(b, x);
    negA = b.CreateFNeg(m.fabs(x));
  }
  // 1. e = e^{−|x|} ∈ [0, 1].
  llvm::Value *e = emitExp(b, negA);
  MathEmitter m(b, x);
  llvm::Value *r = b.CreateFDiv(m.c(1.0), b.CreateFAdd(m.c(1.0), e));
  // 2. Pick the form that avoids 1 − (something near 1).
  return b.CreateSelect(b.CreateFCmpOGE(x, m.c(0.0)), r, b.CreateFMul(e, r), "sigmoid");
}

llvm::Value *emitSoftplus(llvm::IRBuilderBase &b, llvm::Value *x) {
  llvm::Value *positive, *negA;
  {
    MathEmitter m(b, x);
    positive = b.CreateSelect(b.CreateFCmpOGT(x, m.c(0.0)), x, m.c(0.0));
    negA = b.CreateFNeg(m.fabs(x));
  }
  llvm::Value *tail = emitLog1p(b, emitExp(b, negA));
  MathEmitter m(b, x);
  return b.CreateFAdd(positive, tail, "softplus");
}

} // namespace nnc
