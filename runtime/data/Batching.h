//===- Batching.h - Seeded shuffles and fixed-size minibatches -------------------------------===//
//
// The compiled train step has a static batch size B. Each epoch visits every example exactly
// once in an order fixed by (seed, epoch) on every platform: the permutation comes from our own
// splitmix64 generator and Fisher-Yates, not from std::shuffle, whose output differs between
// standard libraries. Batch b holds positions [b*B, min((b+1)*B, N)) of that order.
//
// Contract for the final, partial batch: fill() copies its real rows, returns their number
// r < B, and marks rows [r, B) with 0 in the row mask; padBatch() then fills those rows by
// repeating rows 0..r-1, so the step sees valid data; the runtime masks them out of the loss and
// the metrics (or scales by B/r), so the pad rows contribute nothing.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"

#include <cstdint>
#include <span>
#include <utility>
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

/// Splits `data` into (train, test) after a seeded shuffle; test gets round(n * testFraction)
/// examples.
std::pair<Dataset, Dataset> splitDataset(const Dataset &data, double testFraction, uint64_t seed);

/// Where one minibatch goes: contiguous row-major buffers of exactly B rows each. An empty span
/// is skipped. For class-labelled data, `classLabels` and/or `oneHot` receive the label; for
/// target-labelled data, `targets`.
struct BatchBuffers {
  std::span<float> features;      ///< B * featureSize() floats
  std::span<int32_t> classLabels; ///< B class indices
  std::span<float> oneHot;        ///< B * numClasses() floats: 1 at the label, 0 elsewhere
  std::span<float> targets;       ///< B * targetSize() floats
  std::span<float> rowMask;       ///< B floats: 1 for a real row, 0 for a pad row
};

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
  size_t batchSize() const { return batchSize_; }
  /// The example indices of the current epoch, in visiting order.
  const std::vector<size_t> &order() const { return order_; }

  /// Copies batch `b` of the current epoch into `out` and returns its number of real rows r
  /// (B except for a partial final batch). Rows [r, B) are left as they were, except rowMask,
  /// which gets 1 for real rows and 0 after. An Error when a buffer has the wrong size, a label
  /// buffer does not fit the data's label kind, or b >= numBatches().
  Result<size_t> fill(size_t b, const BatchBuffers &out) const;

private:
  const Dataset &data_;
  size_t batchSize_;
  uint64_t seed_;
  bool shuffle_;
  std::vector<size_t> order_;
};

/// Fills rows [realRows, batchSize) of every non-empty buffer in `out` by repeating rows
/// 0..realRows-1 in turn, and sets rowMask (1 for real rows, 0 for pad rows). Each buffer's row
/// width is its size / batchSize. Returns realRows; an Error when realRows is 0 or above
/// batchSize, or a buffer's size is not a multiple of batchSize.
Result<size_t> padBatch(const BatchBuffers &out, size_t realRows, size_t batchSize);

} // namespace nnc
