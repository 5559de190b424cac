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

/// Prepares `train` and, with the same map, `test` (may be null). Auto scales pixel data
/// (an IDX or built-in image source, `spec`) by 1/255 and standardizes everything else.
Result<FeatureTransform> normalizeFeatures(Dataset &train, Dataset *test, Normalization how,
                                           const std::string &spec);

} // namespace nnc
