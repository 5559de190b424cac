//===- DataSource.h - Naming a data set on the command line or in the train block -----------===//
//
// A data source is written as one string:
//   fashion-mnist                 a built-in data set (the train or test split)
//   data.csv                      numeric feature columns, then the label column
//   images.idx[.gz],labels.idx[.gz]   an MNIST-layout pair
//   features.npy,labels.npy       a NumPy pair
// and features are prepared the way the source suggests: pixel values (IDX) are scaled to
// [0, 1]; other features are standardized with the training set's mean and deviation, and the
// same map is applied to the test set.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"
#include "runtime/data/IdxLoader.h"
#include "runtime/data/Preprocess.h"

#include <optional>
#include <string>

namespace nnc {

/// Loads the data set named by `spec` (see the file comment); `split` picks the built-in
/// data set's train or test part.
Result<Dataset> loadDataSource(const std::string &spec, Split split);

enum class Normalization { Auto, None, Scale, Standardize, MinMax };
/// "auto", "none", "scale", "standardize" or "minmax".
std::optional<Normalization> parseNormalization(const std::string &text);

/// Prepares `train` and, with the same map, `test` (may be null). Auto, per input:
///   - an integer input (`integerInput`: the model declares it i32, e.g. token ids for an
///     embedding) is never changed, whatever `how` says;
///   - pixel data (an IDX or built-in image source, `spec`) is scaled by 1/255;
///   - a float input whose values are all 0 or 1 (one-hot rows, binary indicators) is left
///     alone;
///   - anything else is standardized with the training set's mean and deviation; when all its
///     values are whole numbers (they may be ids or counts) `description` says so, as a warning.
/// `description` (may be null) gets one line saying what was done, e.g. "standardized with the
/// training set's mean and deviation".
Result<FeatureTransform> normalizeFeatures(Dataset &train, Dataset *test, Normalization how,
                                           const std::string &spec, bool integerInput = false,
                                           std::string *description = nullptr);

} // namespace nnc
