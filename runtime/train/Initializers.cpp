//===- Initializers.cpp - Initial values of parameters and state ----------------------------===//
#include "runtime/train/Initializers.h"

#include "ir/Random.h"
#include "runtime/exec/Storage.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <numbers>
#include <variant>

namespace nnc {

namespace {

/// FNV-1a of the name, so that each parameter draws from its own stream.
uint64_t nameHash(const std::string &name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

struct Fans {
  double in = 1, out = 1;
};

Fans fansOf(const std::vector<int64_t> &shape) {
  if (shape.empty())
    return {};
  if (shape.size() == 1)
    return {double(shape[0]), double(shape[0])};
  if (shape.size() == 2)
    return {double(shape[0]), double(shape[1])};
  double receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i)
    receptive *= double(shape[i]);
  return {double(shape[1]) * receptive, double(shape[0]) * receptive};
}

/// `name(a, b)` -> name and numbers; nullopt when malformed.
std::optional<std::pair<std::string, std::vector<double>>> parseInit(const std::string &text) {
  size_t open = text.find('(');
  if (open == std::string::npos)
    return std::make_pair(text, std::vector<double>{});
  if (text.back() != ')')
    return std::nullopt;
  std::vector<double> args;
  std::string inner = text.substr(open + 1, text.size() - open - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string part = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char *end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size())
      return std::nullopt;
    args.push_back(v);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return std::make_pair(text.substr(0, open), args);
}

} // namespace

/// Draws the values of `init` for a tensor of `type` and hands each to store(i, value), in
/// order, each already rounded to the tensor's precision; elements of `zeros` are not stored
/// unless `storeZeros`.
template <typename Store>
static Result<void> drawInitial(const std::string &init, const TensorType &type, uint64_t seed,
                                const std::string &name, bool storeZeros, Store &&store) {
  auto parsed = parseInit(init.empty() ? std::string("zeros") : init);
  if (!parsed)
    return Error{fmt::format("malformed initializer '{}' of '{}'", init, name)};
  auto &[kind, args] = *parsed;
  auto arg = [&](size_t i, double def) { return i < args.size() ? args[i] : def; };
  size_t n = static_cast<size_t>(type.numElements());
  bool f32 = type.dtype == DType::F32;
  auto put = [&](size_t i, double v) { store(i, f32 ? double(float(v)) : v); };
  uint64_t stream = mix64(seed ^ nameHash(name));
  auto fill = [&](double v) {
    for (size_t i = 0; i < n; ++i)
      put(i, v);
  };
  auto uniform = [&](double lo, double hi) {
    for (size_t i = 0; i < n; ++i)
      put(i, lo + (hi - lo) * randomUniform(stream, 0, i));
  };
  // Box-Muller: two uniforms per draw; 1 - u lies in (0, 1], so the logarithm is finite.
  auto normal = [&](double mean, double stddev) {
    for (size_t i = 0; i < n; ++i) {
      double u1 = 1.0 - randomUniform(stream, 1, 2 * i), u2 = randomUniform(stream, 1, 2 * i + 1);
      put(i, mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2));
    }
  };
  Fans f = fansOf(type.shape);
  if (kind == "zeros") {
    if (storeZeros)
      fill(0);
  } else if (kind == "ones")
    fill(1.0);
  else if (kind == "constant") {
    if (arg(0, 0) != 0 || std::signbit(arg(0, 0)) || storeZeros)
      fill(arg(0, 0));
  } else if (kind == "uniform")
    uniform(arg(0, -0.05), arg(1, 0.05));
  else if (kind == "normal")
    normal(arg(0, 0), arg(1, 0.05));
  else if (kind == "glorot_uniform" || kind == "xavier_uniform") {
    double limit = std::sqrt(6.0 / (f.in + f.out));
    uniform(-limit, limit);
  } else if (kind == "glorot_normal" || kind == "xavier_normal")
    normal(0, std::sqrt(2.0 / (f.in + f.out)));
  else if (kind == "he_uniform" || kind == "kaiming_uniform") {
    double limit = std::sqrt(6.0 / f.in);
    uniform(-limit, limit);
  } else if (kind == "he_normal" || kind == "kaiming_normal")
    normal(0, std::sqrt(2.0 / f.in));
  else
    return Error{fmt::format("unknown initializer '{}' of '{}'", init, name)};
  return {};
}

Result<std::vector<double>> initialValues(const std::string &init, const TensorType &type, uint64_t seed,
                                          const std::string &name) {
  std::vector<double> out(static_cast<size_t>(type.numElements()), 0.0);
  if (auto r = drawInitial(init, type, seed, name, /*storeZeros=*/false, [&](size_t i, double v) { out[i] = v; });
      !r)
    return std::move(r).error();
  return out;
}

Result<void> initializeZeroed(const std::string &init, const TensorType &type, uint64_t seed,
                              const std::string &name, void *zeroed) {
  switch (type.dtype) {
  case DType::F32:
    return drawInitial(init, type, seed, name, false,
                       [p = static_cast<float *>(zeroed)](size_t i, double v) { p[i] = static_cast<float>(v); });
  case DType::F64:
    return drawInitial(init, type, seed, name, false,
                       [p = static_cast<double *>(zeroed)](size_t i, double v) { p[i] = v; });
  default:
    return drawInitial(init, type, seed, name, false,
                       [&](size_t i, double v) { writeElement(zeroed, type.dtype, i, v); });
  }
}

} // namespace nnc
