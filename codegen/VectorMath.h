//===- VectorMath.h - Inline IR for exp, log, tanh, sigmoid and friends ---------------------===//
//
// Emitters that expand transcendental functions into straight-line IR on float, double,
// <N x float> or <N x double> values, so they vectorise and fuse with the surrounding
// elementwise code instead of becoming one libm call per lane (LLVM scalarises
// llvm.exp.v16f32). Each is branch-free: special inputs are fixed up with selects.
//
// Measured accuracy: the largest error against a long-double reference, in units in the last
// place of the result type, over the sweeps in tests/unit/codegen_vector_math.cpp (about 1M
// points each; vector and scalar forms alike, Zen 4). The tests assert the bound in brackets.
//
//   function  f32                                 f64
//   exp       0.89 ulp on [-100, 100]      [1]    0.85 ulp on [-745.5, 710]      [1]
//   log       0.80 ulp on [1e-45, 1e30]    [1]    0.82 ulp on [1e-323, 1e300]    [1]
//   log1p     2.23 ulp on (-1, 1e30]       [2.5]  2.14 ulp on (-1, 1e300]        [2.5]
//   tanh      1.24 ulp on [-20, 20]        [1.5]  1.27 ulp on [-20, 20]          [1.5]
//   sigmoid   2.39 ulp on [-100, 100]      [2.5]  2.04 ulp on [-700, 700]        [2.5]
//   softplus  2.65 ulp on [-100, 100]      [3]    2.38 ulp on [-700, 700]        [3]
//
// Special values follow C99 Annex F: NaN in gives NaN out, exp(-inf) = 0, exp(+inf) = +inf,
// log(0) = -inf, log(x < 0) = NaN, tanh(±inf) = ±1, tanh(-0) = -0, sigmoid(-inf) = 0, and
// subnormal inputs and results are handled. f64 uses the same algorithms with
// higher-degree polynomials; nothing calls libm.
//
// Fast-math flags: the emitted instructions carry `contract afn arcp` only. `reassoc` would
// let the optimiser undo the Cody–Waite split and the log1p correction (u - 1 where
// u = 1 + x), and `nsz` would lose tanh(-0) = -0, so both are left off; `nnan`/`ninf` never.
// The caller's own fast-math flags on the builder are restored afterwards.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <llvm/IR/IRBuilder.h>

namespace nnc {

/// e^x. Algorithm:
///  1. Clamp x to [lo, hi] just past the overflow and underflow thresholds (NaN kept aside).
///  2. n = roundeven(x·log2 e); r = x − n·ln2_hi − n·ln2_lo (Cody–Waite, fused multiply-adds),
///     so |r| ≤ ln2/2.
///  3. e^r by its Taylor polynomial (degree 7 for f32, 13 for f64) in Horner form.
///  4. Scale by 2^n as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), two exact powers built from exponent bits, so
///     results overflow to +inf and underflow gradually through subnormals to 0.
///  5. NaN inputs are returned unchanged.
llvm::Value *emitExp(llvm::IRBuilderBase &b, llvm::Value *x);

/// ln x. Algorithm:
///  1. Subnormal x is scaled by 2^25 (f32) or 2^54 (f64) and the exponent corrected.
///  2. Split x = 2^k · m with m in [√½, √2) by integer arithmetic on the bits; f = m − 1.
///  3. s = f/(2+f), z = s²; ln(1+f) = 2·atanh(s) = f − (½f² − s·(½f² + R(z))), with
///     R(z) = Σ 2z^i/(2i+1) (4 terms for f32, 10 for f64).
///  4. ln x = k·ln2_hi − ((½f² − (s·(½f² + R) + k·ln2_lo)) − f).
///  5. Selects give ln(+inf) = +inf, ln(±0) = −inf, ln(x<0) = NaN, ln(NaN) = NaN.
llvm::Value *emitLog(llvm::IRBuilderBase &b, llvm::Value *x);

/// ln(1+x), accurate for tiny x. Algorithm:
///  1. u = 1 + x, d = u − 1 (both rounded; d is what was really added to 1).
///  2. ln(1+x) = ln(u) · (x/d) (Goldberg's correction); x itself where d = 0.
///  3. +inf gives +inf; x = −1 gives −inf; x < −1 gives NaN.
llvm::Value *emitLog1p(llvm::IRBuilderBase &b, llvm::Value *x);

/// tanh x. Algorithm:
///  1. a = |x|.
///  2. a < 0.625: a + a·z·P(z), z = a² (f32: degree-5 minimax P; f64: rational P/Q, after
///     the Cephes library).
///  3. a ≥ 0.625: 1 − 2/(e^{2a} + 1) (exact 1 once e^{2a} overflows).
///  4. Select by a, then copy the sign of x (so tanh(−0) = −0).
llvm::Value *emitTanh(llvm::IRBuilderBase &b, llvm::Value *x);

/// 1/(1+e^−x), accurate in relative terms for all x. Algorithm:
///  1. e = e^{−|x|} (never overflows), r = 1/(1 + e).
///  2. x ≥ 0: r; x < 0: e·r (= e^x/(1+e^x), which keeps tiny results accurate).
llvm::Value *emitSigmoid(llvm::IRBuilderBase &b, llvm::Value *x);

/// ln(1+e^x) without overflow. Algorithm: max(x, 0) + log1p(e^{−|x|}).
llvm::Value *emitSoftplus(llvm::IRBuilderBase &b, llvm::Value *x);

} // namespace nnc
