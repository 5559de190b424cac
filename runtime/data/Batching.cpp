//===- Batching.cpp - Seeded shuffles and fixed-size minibatches -----------------------------===//
//
// The per-epoch generator is seeded with a hash of (seed, epoch), not with seed + epoch: nearby
// splitmix64 states produce shifted copies of one stream, hence correlated permutations.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Batching.h"

#include <algorithm>
#include <cassert>
#include <optional>
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

size_t Batcher::rowsIn(size_t b) const {
  size_t first = b * batchSize_;
  return first < order_.size() ? std::min(batchSize_, order_.size() - first) : 0;
}

Shard shardOf(size_t rows, int rank, int processes) {
  assert(processes > 0 && rank >= 0 && rank < processes);
  const size_t p = static_cast<size_t>(processes), k = static_cast<size_t>(rank);
  size_t first = k * rows / p, end = (k + 1) * rows / p;
  return Shard{first, end - first};
}

Result<size_t> Batcher::fill(size_t b, const BatchBuffers &out) const { return fillRows(b, 0, rowsIn(b), out); }

Result<size_t> Batcher::fillRows(size_t b, size_t firstRow, size_t count, const BatchBuffers &out) const {
  if (b >= numBatches())
    return Error{fmt::format("batch {} does not exist: the epoch has {} batches", b, numBatches())};
  if (firstRow > rowsIn(b) || count > rowsIn(b) - firstRow)
    return Error{fmt::format("rows {}..{} are outside batch {} of {} rows", firstRow, firstRow + count, b, rowsIn(b))};
  const size_t rows = count, F = data_.featureSize(), T = data_.targetSize();
  const bool classes = data_.labelKind == LabelKind::Class;
  const size_t K = classes ? static_cast<size_t>(data_.numClasses()) : 0;
  const size_t L = classes ? data_.labelsPerExample() : 0;
  auto sizeError = [&](const char *what, size_t have, size_t want) {
    return Error{fmt::format("batch buffer '{}' has {} elements, expected {}", what, have, want)};
  };
  auto classBuffer = [&](const char *what, size_t have, size_t want) -> std::optional<Error> {
    if (have == 0)
      return std::nullopt;
    if (!classes)
      return Error{fmt::format("batch buffer '{}' given for a data set with float targets", what)};
    if (have != want)
      return sizeError(what, have, want);
    return std::nullopt;
  };
  if (out.features.size() != rows * F)
    return sizeError("features", out.features.size(), rows * F);
  if (auto e = classBuffer("classLabels", out.classLabels.size(), rows * L))
    return *e;
  if (L != 1 && (!out.classValues.empty() || !out.oneHot.empty()))
    return Error{fmt::format("the data has {} class labels per example: they are read as i32 labels only", L)};
  if (auto e = classBuffer("classValues", out.classValues.size(), rows))
    return *e;
  if (auto e = classBuffer("oneHot", out.oneHot.size(), rows * K))
    return *e;
  if (!out.targets.empty() && (classes || out.targets.size() != rows * T))
    return classes ? Error{"batch buffer 'targets' given for a data set with class labels"}
                   : sizeError("targets", out.targets.size(), rows * T);
  const size_t first = b * batchSize_ + firstRow;
  for (size_t r = 0; r < rows; ++r) {
    size_t i = order_[first + r];
    std::memcpy(&out.features[r * F], &data_.features[i * F], F * sizeof(float));
    if (!out.targets.empty())
      std::memcpy(&out.targets[r * T], &data_.targets[i * T], T * sizeof(float));
    if (!classes)
      continue;
    if (!out.classLabels.empty())
      std::memcpy(&out.classLabels[r * L], &data_.classLabels[i * L], L * sizeof(int32_t));
    if (L != 1)
      continue;
    int32_t label = data_.classLabels[i];
    if (!out.classValues.empty())
      out.classValues[r] = static_cast<float>(label);
    if (!out.oneHot.empty()) {
      std::fill_n(&out.oneHot[r * K], K, 0.f);
      if (label >= 0 && static_cast<size_t>(label) < K)
        out.oneHot[r * K + static_cast<size_t>(label)] = 1.f;
    }
  }
  return rows;
}

} // namespace nnc
