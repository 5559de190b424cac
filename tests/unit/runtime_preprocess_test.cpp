//===- runtime_preprocess_test.cpp - Scaling and standardization -----------------------------===//
#include "runtime/data/Preprocess.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace nnc;

namespace {
Dataset table(std::vector<float> features, size_t columns) {
  Dataset ds;
  ds.featureShape = {static_cast<int64_t>(columns)};
  ds.features = std::move(features);
  ds.classLabels.assign(ds.features.size() / columns, 0);
  return ds;
}
} // namespace

TEST_CASE("standardization uses training statistics and survives constant columns", "[data]") {
  // Columns: mean 2 / std 1 (values 1, 3), constant 7, mean 1000 / std 0.5.
  Dataset train = table({1, 7, 999.5f, 3, 7, 1000.5f}, 3);
  FeatureTransform t = fitStandardization(train);
  CHECK(t.shift == std::vector<float>{2, 7, 1000});
  CHECK(t.factor[0] == Approx(1.0));
  CHECK(t.factor[1] == 1.f);
  CHECK(t.factor[2] == Approx(2.0));
  REQUIRE(t.apply(train).ok());
  CHECK(train.features == std::vector<float>{-1, 0, -1, 1, 0, 1});

  Dataset test = table({4, 8, 1000}, 3); // transformed with the training set's statistics
  REQUIRE(t.apply(test).ok());
  CHECK(test.features == std::vector<float>{2, 1, 0});
  for (float v : test.features)
    CHECK(std::isfinite(v));

  Dataset wrong = table({1, 2}, 2);
  CHECK_FALSE(t.apply(wrong).ok());
}

TEST_CASE("scaling brings uint8 pixels and arbitrary columns into [0, 1]", "[data]") {
  Dataset pixels = table({0, 51, 255, 128}, 4);
  scaleFeatures(pixels, 1.f / 255);
  CHECK(pixels.features[0] == 0.f);
  CHECK(pixels.features[1] == Approx(0.2));
  CHECK(pixels.features[2] == Approx(1.0));

  Dataset train = table({-2, 5, 0, 5, 2, 5}, 2);
  FeatureTransform mm = fitMinMax(train);
  REQUIRE(mm.apply(train).ok());
  CHECK(train.features == std::vector<float>{0, 0, 0.5f, 0, 1, 0});
}
