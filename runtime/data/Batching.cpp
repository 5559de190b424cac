//===- Batching.cpp - Seeded shuffles and fixed-size minibatches -----------------------------===//
//
// The per-epoch generator is seeded with a hash of (seed, epoch), not with seed + epoch: nearby
// splitmix64 states produce shifted copies of one stream, hence correlated permutations.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Batching.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <numeric>

namespace nnc {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t bound) {
  assert(bound > 0);
  // Accept r only from the largest multiple of bound that fits in 2^64: (2^64 - bound) % bound
  // is the count of values below it to reject.
  uint64_t reject = (0 - bound) % bound;
  for (;;) {
    uint64_t r = next();
    if (r >= reject)
      return r % bound;
  }
}

std::vector<size_t> shuffledOrder(size_t n, uint64_t seed, uint64_t epoch) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  SplitMix64 rng(SplitMix64(seed ^ SplitMix64(epoch).next()).next());
  for (size_t i = n; i > 1; --i)
    std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

std::pair<Dataset, Dataset> splitDataset(const Dataset &data, double testFraction, uint64_t seed) {
  std::vector<size_t> order = shuffledOrder(data.size(), seed, 0);
  double f = std::clamp(testFraction, 0.0, 1.0);
  size_t nTest = static_cast<size_t>(std::llround(f * static_cast<double>(order.size())));
  std::span<const size_t> all(order);
  return {data.select(all.subspan(nTest)), data.select(all.first(nTest))};
}

Batcher::Batcher(const Dataset &data, size_t batchSize, uint64_t seed, bool shuffle)
    : data_(data), batchSize_(batchSize), seed_(seed), shuffle_(shuffle) {
  assert(batchSize > 0);
  startEpoch(0);
}

void Batcher::startEpoch(uint64_t epoch) {
  if (shuffle_) {
    order_ = shuffledOrder(data_.size(), seed_, epoch);
  } else {
    order_.resize(data_.size());
    std::iota(order_.begin(), order_.end(), size_t{0});
  }
}

size_t Batcher::numBatches() const { return (order_.size() + batchSize_ - 1) / batchSize_; }

Result<size_t> Batcher::fill(size_t b, const BatchBuffers &out) const {
  const size_t B = batchSize_, F = data_.featureSize(), T = data_.targetSize();
  const bool classes = data_.labelKind == LabelKind::Class;
  const size_t K = classes ? static_cast<size_t>(data_.numClasses()) : 0;
  auto sizeError = [&](const char *what, size_t have, size_t want) {
    return Error{fmt::format("batch buffer '{}' has {} elements, expected {}", what, have, want)};
  };
  if (b >= numBatches())
    return Error{fmt::format("batch {} does not exist: the epoch has {} batches", b, numBatches())};
  if (out.features.size() != B * F)
    return sizeError("features", out.features.size(), B * F);
  if (!out.classLabels.empty() && (!classes || out.classLabels.size() != B))
    return classes ? sizeError("classLabels", out.classLabels.size(), B)
                   : Error{"batch buffer 'classLabels' given for a data set with float targets"};
  if (!out.oneHot.empty() && (!classes || out.oneHot.size() != B * K))
    return classes ? sizeError("oneHot", out.oneHot.size(), B * K)
                   : Error{"batch buffer 'oneHot' given for a data set with float targets"};
  if (!out.targets.empty() && (classes || out.targets.size() != B * T))
    return classes ? Error{"batch buffer 'targets' given for a data set with class labels"}
                   : sizeError("targets", out.targets.size(), B * T);
  if (!out.rowMask.empty() && out.rowMask.size() != B)
    return sizeError("rowMask", out.rowMask.size(), B);

  const size_t first = b * B, rows = std::min(B, order_.size() - first);
  for (size_t r = 0; r < rows; ++r) {
    size_t i = order_[first + r];
    std::memcpy(&out.features[r * F], &data_.features[i * F], F * sizeof(float));
    if (!out.classLabels.empty())
      out.classLabels[r] = data_.classLabels[i];
    if (!out.oneHot.empty()) {
      std::fill_n(&out.oneHot[r * K], K, 0.f);
      out.oneHot[r * K + static_cast<size_t>(data_.classLabels[i])] = 1.f;
    }
    if (!out.targets.empty())
      std::memcpy(&out.targets[r * T], &data_.targets[i * T], T * sizeof(float));
  }
  for (size_t r = 0; r < out.rowMask.size(); ++r)
    out.rowMask[r] = r < rows ? 1.f : 0.f;
  return rows;
}

namespace {
template <class T> void repeatRows(std::span<T> buf, size_t realRows, size_t batchSize) {
  if (buf.empty())
    return;
  size_t w = buf.size() / batchSize;
  for (size_t r = realRows; r < batchSize; ++r)
    std::copy_n(&buf[(r % realRows) * w], w, &buf[r * w]);
}
} // namespace

Result<size_t> padBatch(const BatchBuffers &out, size_t realRows, size_t batchSize) {
  if (realRows == 0 || realRows > batchSize)
    return Error{fmt::format("cannot pad a batch of {} real rows to {} rows", realRows, batchSize)};
  for (size_t n : {out.features.size(), out.classLabels.size(), out.oneHot.size(),
                   out.targets.size(), out.rowMask.size()})
    if (n % batchSize != 0)
      return Error{fmt::format("a batch buffer of {} elements does not hold {} rows", n, batchSize)};
  repeatRows(out.features, realRows, batchSize);
  repeatRows(out.classLabels, realRows, batchSize);
  repeatRows(out.oneHot, realRows, batchSize);
  repeatRows(out.targets, realRows, batchSize);
  for (size_t r = 0; r < out.rowMask.size(); ++r)
    out.rowMask[r] = r < realRows ? 1.f : 0.f;
  return realRows;
}

} // namespace nnc
