//===- Random.h - The counter-based random numbers of the IR --------------------------------===//
//
// `random_uniform` and `random_bernoulli` draw numbers that are a pure function of three
// words: the op's `seed` attribute, a counter (the value of the op's i32 scalar operand, which
// the train step takes from state and increments, so each step draws new numbers) and the
// row-major index of the element. No generator state is carried, so the interpreter, LLVM code
// and any thread split produce bitwise the same numbers. The functions here ARE the definition:
// codegen reproduces them exactly (64-bit wrapping multiply, xor, logical shifts).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cstdint>

namespace nnc {

/// The splitmix64 finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
constexpr uint64_t mix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xbf58476d1ce4e5b9ull;
  z ^= z >> 27;
  z *= 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z;
}

/// 32 random bits for element `index` of the draw numbered `counter` of the stream `seed`:
///   k = mix64(seed ^ ((counter + 1) * 0x9e3779b97f4a7c15))
///   bits = high 32 bits of mix64(k + (index + 1) * 0xd1b54a32d192ed03)
/// (all arithmetic modulo 2^64; the +1 keeps the all-zero input away from mix64's fixed point 0).
/// The counter operand of an op is an i32; it enters as its 32-bit pattern zero-extended,
/// i.e. counter = uint64_t(uint32_t(c)).
constexpr uint32_t randomBits(uint64_t seed, uint64_t counter, uint64_t index) {
  uint64_t k = mix64(seed ^ ((counter + 1) * 0x9e3779b97f4a7c15ull));
  return static_cast<uint32_t>(mix64(k + (index + 1) * 0xd1b54a32d192ed03ull) >> 32);
}

/// The uniform number in [0, 1) of `bits`: the top 24 bits times 2^-24. It is exact in both
/// f32 and f64, so f32 and f64 graphs draw the same values; the largest is 1 - 2^-24.
constexpr double uniformFromBits(uint32_t bits) {
  return static_cast<double>(bits >> 8) * (1.0 / 16777216.0);
}

/// random_uniform element `index`: uniformFromBits(randomBits(seed, counter, index)).
constexpr double randomUniform(uint64_t seed, uint64_t counter, uint64_t index) {
  return uniformFromBits(randomBits(seed, counter, index));
}

/// random_bernoulli element `index`: 1 when randomUniform(...) < p, else 0, p compared in
/// double precision (p <= 0 never fires, p >= 1 always does). Equivalently, in integers:
/// (bits >> 8) < ceil(p * 2^24), which is exact because p * 2^24 is exact in double.
constexpr double randomBernoulli(uint64_t seed, uint64_t counter, uint64_t index, double p) {
  return randomUniform(seed, counter, index) < p ? 1.0 : 0.0;
}

} // namespace nnc
