//===- runtime_batching_test.cpp - Shuffles and minibatches ----------------------------------===//
#include "runtime/data/Batching.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>

using namespace nnc;
using Catch::Matchers::Contains;

namespace {

/// n examples with 2 features (i, -i) and class i % 3.
Dataset numbered(size_t n) {
  Dataset ds;
  ds.featureShape = {2};
  for (size_t i = 0; i < n; ++i) {
    ds.features.push_back(static_cast<float>(i));
    ds.features.push_back(-static_cast<float>(i));
    ds.classLabels.push_back(static_cast<int32_t>(i % 3));
  }
  ds.classNames = {"a", "b", "c"};
  return ds;
}

} // namespace

TEST_CASE("splitmix64 and the shuffle match an independent reference", "[data]") {
  // Values from a separate Python implementation of splitmix64 and of shuffledOrder.
  SplitMix64 rng(0);
  CHECK(rng.next() == 0xe220a8397b1dcdafULL);
  CHECK(rng.next() == 0x6e789e6aa1b965f4ULL);
  CHECK(rng.next() == 0x06c45d188009454fULL);
  CHECK(shuffledOrder(10, 42, 0) == std::vector<size_t>{6, 9, 1, 8, 0, 5, 4, 3, 2, 7});
  CHECK(shuffledOrder(10, 42, 1) == std::vector<size_t>{3, 0, 4, 9, 5, 6, 2, 7, 8, 1});
  CHECK(shuffledOrder(10, 7, 0) == std::vector<size_t>{4, 8, 0, 3, 9, 5, 1, 7, 2, 6});
}

TEST_CASE("shuffles are deterministic per (seed, epoch) and are permutations", "[data]") {
  CHECK(shuffledOrder(1000, 5, 3) == shuffledOrder(1000, 5, 3));
  CHECK(shuffledOrder(1000, 5, 3) != shuffledOrder(1000, 6, 3));
  CHECK(shuffledOrder(1000, 5, 3) != shuffledOrder(1000, 5, 4));
  std::vector<size_t> order = shuffledOrder(1000, 5, 3), sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<size_t> identity(1000);
  std::iota(identity.begin(), identity.end(), size_t{0});
  CHECK(sorted == identity);
  CHECK(order != identity);
  CHECK(shuffledOrder(0, 1, 0).empty());
  CHECK(shuffledOrder(1, 1, 0) == std::vector<size_t>{0});

  SplitMix64 rng(9);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 3000; ++i)
    ++counts[rng.below(3)];
  for (int c : counts)
    CHECK(c > 900);
}

TEST_CASE("every example appears exactly once per epoch; the last batch is partial", "[data]") {
  Dataset ds = numbered(10);
  Batcher batcher(ds, 4, 123);
  REQUIRE(batcher.numBatches() == 3);
  CHECK(batcher.rowsIn(0) == 4);
  CHECK(batcher.rowsIn(2) == 2);
  CHECK(batcher.rowsIn(3) == 0);
  std::vector<std::vector<size_t>> epochs;
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    batcher.startEpoch(epoch);
    std::vector<size_t> seen;
    for (size_t b = 0; b < batcher.numBatches(); ++b) {
      size_t n = batcher.rowsIn(b);
      std::vector<float> x(2 * n), oneHot(3 * n), values(n);
      std::vector<int32_t> y(n);
      auto rows = batcher.fill(b, BatchBuffers{x, y, values, oneHot, {}});
      REQUIRE(rows.ok());
      CHECK(*rows == (b < 2 ? 4u : 2u));
      for (size_t r = 0; r < *rows; ++r) {
        size_t i = static_cast<size_t>(x[2 * r]);
        CHECK(x[2 * r + 1] == -x[2 * r]);
        CHECK(y[r] == static_cast<int32_t>(i % 3));
        CHECK(values[r] == static_cast<float>(i % 3));
        for (size_t k = 0; k < 3; ++k)
          CHECK(oneHot[3 * r + k] == (k == i % 3 ? 1.f : 0.f));
        seen.push_back(i);
      }
    }
    CHECK(seen == batcher.order());
    std::sort(seen.begin(), seen.end());
    std::vector<size_t> all(10);
    std::iota(all.begin(), all.end(), size_t{0});
    CHECK(seen == all);
    epochs.push_back(batcher.order());
  }
  CHECK(epochs[0] != epochs[1]);

  Batcher again(ds, 4, 123);
  again.startEpoch(2);
  CHECK(again.order() == epochs[2]);
  Batcher plain(ds, 4, 123, false);
  CHECK(plain.order() == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("a label outside the classes leaves its one-hot row zero", "[data]") {
  Dataset ds = numbered(2);
  ds.classLabels[1] = -1;
  Batcher batcher(ds, 2, 1, false);
  std::vector<float> x(4), oneHot(6, 7.f);
  auto rows = batcher.fill(0, BatchBuffers{x, {}, {}, oneHot, {}});
  REQUIRE(rows.ok());
  CHECK(oneHot == std::vector<float>{1, 0, 0, 0, 0, 0});
}

TEST_CASE("batch buffers of the wrong size or kind are errors", "[data]") {
  Dataset ds = numbered(5);
  Batcher batcher(ds, 4, 1);
  std::vector<float> x(8), shortX(6), targets(4), oneHot(8), lastX(2);
  std::vector<int32_t> y(3);
  auto r1 = batcher.fill(0, BatchBuffers{shortX, {}, {}, {}, {}});
  REQUIRE_FALSE(r1.ok());
  CHECK_THAT(r1.message(), Contains("'features' has 6 elements, expected 8"));
  CHECK_FALSE(batcher.fill(0, BatchBuffers{x, y, {}, {}, {}}).ok());
  CHECK_FALSE(batcher.fill(0, BatchBuffers{x, {}, {}, oneHot, {}}).ok());
  auto r2 = batcher.fill(0, BatchBuffers{x, {}, {}, {}, targets});
  REQUIRE_FALSE(r2.ok());
  CHECK_THAT(r2.message(), Contains("class labels"));
  CHECK(batcher.fill(1, BatchBuffers{lastX, {}, {}, {}, {}}).ok()); // the partial batch: 1 row
  CHECK_FALSE(batcher.fill(1, BatchBuffers{x, {}, {}, {}, {}}).ok());
  auto r3 = batcher.fill(2, BatchBuffers{x, {}, {}, {}, {}});
  REQUIRE_FALSE(r3.ok());
  CHECK_THAT(r3.message(), Contains("batch 2 does not exist"));
}
