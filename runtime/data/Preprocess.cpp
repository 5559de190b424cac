//===- Preprocess.cpp - Feature scaling and standardization ----------------------------------===//
//
// Statistics are accumulated in double with a two-pass variance, so large offsets and many
// examples do not cost precision.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Preprocess.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace nnc {

Result<void> FeatureTransform::apply(Dataset &ds) const {
  size_t f = ds.featureSize();
  if (shift.size() != f || factor.size() != f)
    return Error{fmt::format("the feature transform was fitted on {} features per example, the data "
                             "set has {}", shift.size(), f)};
  for (size_t i = 0; i < ds.features.size(); ++i)
    ds.features[i] = (ds.features[i] - shift[i % f]) * factor[i % f];
  return {};
}

void scaleFeatures(Dataset &ds, float factor) {
  for (float &x : ds.features)
    x *= factor;
}

FeatureTransform fitStandardization(const Dataset &train) {
  size_t f = train.featureSize(), n = train.size();
  std::vector<double> sum(f, 0.0), sq(f, 0.0);
  for (size_t r = 0; r < n; ++r)
    for (size_t j = 0; j < f; ++j)
      sum[j] += train.features[r * f + j];
  FeatureTransform t{std::vector<float>(f, 0.f), std::vector<float>(f, 1.f)};
  if (n == 0)
    return t;
  for (size_t j = 0; j < f; ++j)
    sum[j] /= static_cast<double>(n); // now the mean
  // Two-pass variance: sum of squared deviations from the mean, stable for large offsets.
  for (size_t r = 0; r < n; ++r)
    for (size_t j = 0; j < f; ++j) {
      double d = train.features[r * f + j] - sum[j];
      sq[j] += d * d;
    }
  for (size_t j = 0; j < f; ++j) {
    double sd = std::sqrt(sq[j] / static_cast<double>(n));
    t.shift[j] = static_cast<float>(sum[j]);
    t.factor[j] = sd > 1e-12 ? static_cast<float>(1.0 / sd) : 1.f;
  }
  return t;
}

FeatureTransform fitMinMax(const Dataset &train) {
  size_t f = train.featureSize(), n = train.size();
  std::vector<float> lo(f, std::numeric_limits<float>::infinity()), hi(f, -lo[0]);
  for (size_t r = 0; r < n; ++r)
    for (size_t j = 0; j < f; ++j) {
      lo[j] = std::min(lo[j], train.features[r * f + j]);
      hi[j] = std::max(hi[j], train.features[r * f + j]);
    }
  FeatureTransform t{std::vector<float>(f, 0.f), std::vector<float>(f, 1.f)};
  for (size_t j = 0; j < f && n > 0; ++j) {
    t.shift[j] = lo[j];
    double range = static_cast<double>(hi[j]) - lo[j];
    t.factor[j] = range > 0 ? static_cast<float>(1.0 / range) : 1.f;
  }
  return t;
}

} // namespace nnc
