//===- compare_checkpoints.cpp - Are two checkpoints' parameters equal within a tolerance? ----===//
//
// compare_checkpoints A.safetensors B.safetensors [RTOL]
//
// For every tensor of A (parameters, optimizer slots, counters) B must have one of the same
// dtype and shape whose values differ by at most RTOL (default 1e-5) relative to the tensor's
// largest magnitude: max|a - b| <= RTOL * max(max|a|, max|b|). Prints each tensor's worst
// difference; exit 0 when all agree, 1 otherwise, 2 on a usage or file error. The data-parallel
// equivalence test (tests/mpi/equivalence.sh) compares a run over several processes with one
// over a single process by it.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/exec/Storage.h"
#include "runtime/records/Safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

using namespace nnc;

namespace {
double valueAt(const HostTensor &t, size_t i) {
  switch (t.dtype) {
  case ElementType::F32: { float v; std::memcpy(&v, t.bytes.data() + 4 * i, 4); return v; }
  case ElementType::F64: { double v; std::memcpy(&v, t.bytes.data() + 8 * i, 8); return v; }
  case ElementType::I32: { int32_t v; std::memcpy(&v, t.bytes.data() + 4 * i, 4); return v; }
  case ElementType::I64: { int64_t v; std::memcpy(&v, t.bytes.data() + 8 * i, 8); return double(v); }
  default: return t.bytes[i];
  }
}
} // namespace

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fmt::print(stderr, "usage: compare_checkpoints A.safetensors B.safetensors [RTOL]\n");
    return 2;
  }
  double rtol = argc == 4 ? std::strtod(argv[3], nullptr) : 1e-5;
  auto a = readSafetensors(argv[1]), b = readSafetensors(argv[2]);
  if (!a || !b) {
    fmt::print(stderr, "error: {}\n", !a ? a.message() : b.message());
    return 2;
  }
  bool ok = true;
  size_t compared = 0;
  for (const auto &[name, ta] : a->tensors) {
    auto it = b->tensors.find(name);
    if (it == b->tensors.end()) {
      fmt::print("{}: missing in {}\n", name, argv[2]);
      ok = false;
      continue;
    }
    const HostTensor &tb = it->second;
    if (ta.dtype != tb.dtype || ta.shape != tb.shape) {
      fmt::print("{}: dtype or shape differs\n", name);
      ok = false;
      continue;
    }
    double maxAbs = 0, maxDiff = 0;
    for (size_t i = 0; i < ta.numel(); ++i) {
      double x = valueAt(ta, i), y = valueAt(tb, i);
      maxAbs = std::max({maxAbs, std::fabs(x), std::fabs(y)});
      maxDiff = std::max(maxDiff, std::isnan(x - y) ? INFINITY : std::fabs(x - y));
    }
    bool same = maxDiff <= rtol * maxAbs;
    fmt::print("{:<24} {:>8} values  max |a-b| {:.3g}  max |a| {:.3g}  relative {:.3g}  {}\n", name, ta.numel(), maxDiff,
               maxAbs, maxAbs > 0 ? maxDiff / maxAbs : 0.0, same ? "ok" : "DIFFERS");
    ok = ok && same;
    ++compared;
  }
  if (compared == 0) {
    fmt::print("no tensors compared\n");
    return 1;
  }
  return ok ? 0 : 1;
}
