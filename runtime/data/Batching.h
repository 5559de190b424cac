//===- Batching.h - Seeded shuffles and fixed-size minibatches -------------------------------===//
//
// The compiled train step has a static batch size B. Each epoch visits every example exactly
// once in an order fixed by (seed, epoch) on every platform: the permutation comes from our own
// splitmix64 generator and Fisher-Yates, not from std::shuffle, whose output differs between
// standard libraries. Batch b holds positions [b*B, min((b+1)*B, N)) of that order.
//
// The final batch may be partial: it holds the r = N - (numBatches() - 1) * B examples left, and
// the Trainer runs it through functions compiled for batch r, so every example counts once and
// no row is padding.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"

#include <cstdint>
#include <span>
#include <vector>

namespace nnc {

/// splitmix64 (Steele, Lea and Flood, 2014): a 64-bit generator with a fixed, portable output.
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  /// A uniform integer in [0, bound) for bound > 0, by rejection (no modulo bias).
  uint64_t below(uint64_t bound);

private:
  uint64_t state_;
};

/// A permutation of 0..n-1 that depends only on (seed, epoch): Fisher-Yates with SplitMix64.
std::vector<size_t> shuffledOrder(size_t n, uint64_t seed, uint64_t epoch);

/// Where one minibatch of r rows goes (r = Batcher::rowsIn(b)): contiguous row-major buffers of
/// exactly r rows each. An empty span is skipped. For class-labelled data, `classLabels`,
/// `classValues` and/or `oneHot` receive the label (the forms a model's target may take); for
/// target-labelled data, `targets`.
struct BatchBuffers {
  std::span<float> features;      ///< r * featureSize() floats
  std::span<int32_t> classLabels; ///< r * labelsPerExample() class indices
  std::span<float> classValues;   ///< r floats: the class index as a number
  std::span<float> oneHot;        ///< r * numClasses() floats: 1 at the label, 0 elsewhere
  std::span<float> targets;       ///< r * targetSize() floats
};

/// Rows [first, first + count) of a minibatch: one process's part of it.
struct Shard {
  size_t first = 0, count = 0;
};
/// Process `rank`'s shard of a minibatch of `rows` rows split over `processes`: rows from
/// floor(rank * rows / processes) to floor((rank + 1) * rows / processes), so the shards are
/// contiguous, in rank order, and differ in size by at most one row.
Shard shardOf(size_t rows, int rank, int processes);

/// Cuts one data set into minibatches of a fixed size, shuffled per epoch. Holds a reference to
/// the data set, which must outlive it.
class Batcher {
public:
  /// `batchSize` must be positive. With `shuffle` false every epoch uses the order 0..N-1.
  Batcher(const Dataset &data, size_t batchSize, uint64_t seed, bool shuffle = true);

  /// Fixes the order of epoch `epoch` (epoch 0 is the order before the first call).
  void startEpoch(uint64_t epoch);
  /// ceil(N / B): the final batch may be partial.
  size_t numBatches() const;
  /// The examples in batch `b`: B, or fewer in the final one; 0 past the end.
  size_t rowsIn(size_t b) const;
  size_t batchSize() const { return batchSize_; }
  /// The example indices of the current epoch, in visiting order.
  const std::vector<size_t> &order() const { return order_; }

  /// Copies batch `b` of the current epoch into `out` and returns its number of rows r =
  /// rowsIn(b). An Error when a buffer has the wrong size, a label buffer does not fit the
  /// data's label kind, or b >= numBatches(). A label outside [0, numClasses()) leaves its
  /// one-hot row all zero.
  Result<size_t> fill(size_t b, const BatchBuffers &out) const;
  /// Copies rows [first, first + count) of batch `b` (one process's shard of it in
  /// data-parallel training) into `out`, whose buffers hold `count` rows; returns count.
  /// fill(b, out) is fillRows(b, 0, rowsIn(b), out).
  Result<size_t> fillRows(size_t b, size_t first, size_t count, const BatchBuffers &out) const;

private:
  const Dataset &data_;
  size_t batchSize_;
  uint64_t seed_;
  bool shuffle_;
  std::vector<size_t> order_;
};

} // namespace nnc
