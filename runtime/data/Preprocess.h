//===- Preprocess.h - Feature scaling and standardization ------------------------------------===//
//
// Per-feature affine maps x' = (x - shift) * factor, fitted on the training set and applied
// unchanged to the test set so that no statistic of the test data leaks into training.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"

#include <vector>

namespace nnc {

/// x' = (x - shift[j]) * factor[j] for feature j (j over the featureSize() values of an example).
struct FeatureTransform {
  std::vector<float> shift;
  std::vector<float> factor;

  /// Applies the map to every example of `ds`; the Error says when the sizes do not match.
  Result<void> apply(Dataset &ds) const;
};

/// Multiplies every feature by `factor`, e.g. 1/255 to bring uint8 pixels into [0, 1].
void scaleFeatures(Dataset &ds, float factor);

/// Standardization: shift = mean, factor = 1/std (population std, over all examples of `train`).
/// A feature with zero variance (a constant column) gets factor 1, so it becomes 0, not NaN.
FeatureTransform fitStandardization(const Dataset &train);

/// Min-max scaling to [0, 1]: shift = min, factor = 1/(max - min); a constant feature gets
/// factor 1 (so it becomes 0).
FeatureTransform fitMinMax(const Dataset &train);

} // namespace nnc
