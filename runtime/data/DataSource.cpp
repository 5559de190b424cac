//===- DataSource.cpp - Naming a data set on the command line or in the train block ---------===//
#include "runtime/data/DataSource.h"

#include "runtime/data/CsvLoader.h"
#include "runtime/data/Npy.h"

#include <fmt/format.h>

#include <cmath>

namespace nnc {

namespace {

bool endsWith(const std::string &s, std::string_view suffix) { return s.ends_with(suffix); }

bool isIdx(const std::string &path) {
  return path.find(".idx") != std::string::npos || path.find("-ubyte") != std::string::npos;
}

/// Pixel data: a built-in image set or an IDX pair.
bool isImageSource(const std::string &spec) { return spec == "fashion-mnist" || isIdx(spec); }

} // namespace

Result<Dataset> loadDataSource(const std::string &spec, Split split) {
  if (spec.empty())
    return Error{"no data given: pass --data, or name it in the train block (data \"file.csv\")"};
  if (spec == "fashion-mnist")
    return loadBuiltinDataset(spec, split);
  size_t comma = spec.find(',');
  if (comma != std::string::npos) {
    std::string first = spec.substr(0, comma), second = spec.substr(comma + 1);
    if (endsWith(first, ".npy"))
      return loadNpyPair(first, second);
    return loadIdxPair(first, second);
  }
  if (endsWith(spec, ".csv") || endsWith(spec, ".txt"))
    return loadCsv(spec);
  if (endsWith(spec, ".npy"))
    return Error{fmt::format("'{}': a .npy source is a pair, features and labels: x.npy,y.npy", spec)};
  return Error{fmt::format("'{}': unknown data source; expected fashion-mnist, a .csv file, "
                           "images.idx,labels.idx or x.npy,y.npy",
                           spec)};
}

std::optional<Normalization> parseNormalization(const std::string &text) {
  if (text == "auto") return Normalization::Auto;
  if (text == "none") return Normalization::None;
  if (text == "scale") return Normalization::Scale;
  if (text == "standardize") return Normalization::Standardize;
  if (text == "minmax") return Normalization::MinMax;
  return std::nullopt;
}

Result<FeatureTransform> normalizeFeatures(Dataset &train, Dataset *test, Normalization how,
                                           const std::string &spec, bool integerInput,
                                           std::string *description) {
  std::string what;
  bool wholeNumbers = !train.features.empty(), zeroOne = wholeNumbers;
  for (float x : train.features) {
    wholeNumbers = wholeNumbers && x == std::nearbyint(x);
    zeroOne = zeroOne && (x == 0.0f || x == 1.0f);
  }
  if (integerInput) {
    how = Normalization::None;
    what = "left as they are (an integer input: ids are never normalized)";
  } else if (how == Normalization::Auto) {
    if (isImageSource(spec)) {
      how = Normalization::Scale;
    } else if (zeroOne) {
      how = Normalization::None;
      what = "left as they are (every value is 0 or 1: one-hot or binary features)";
    } else {
      how = Normalization::Standardize;
      if (wholeNumbers)
        what = "standardized with the training set's mean and deviation; warning: every value is a whole number "
               "(ids or counts?): an embedding needs an i32 input, and --normalize none keeps them";
    }
  }
  if (what.empty())
    switch (how) {
    case Normalization::None:
    case Normalization::Auto: what = "left as they are (--normalize none)"; break;
    case Normalization::Scale: what = "scaled by 1/255 (pixel values to [0, 1])"; break;
    case Normalization::Standardize: what = "standardized with the training set's mean and deviation"; break;
    case Normalization::MinMax: what = "scaled to [0, 1] with the training set's minimum and maximum"; break;
    }
  if (description)
    *description = what;
  FeatureTransform map;
  size_t fs = train.featureSize();
  switch (how) {
  case Normalization::None:
  case Normalization::Auto:
    map.shift.assign(fs, 0.0f);
    map.factor.assign(fs, 1.0f);
    break;
  case Normalization::Scale:
    map.shift.assign(fs, 0.0f);
    map.factor.assign(fs, 1.0f / 255.0f);
    break;
  case Normalization::Standardize:
    map = fitStandardization(train);
    break;
  case Normalization::MinMax:
    map = fitMinMax(train);
    break;
  }
  if (auto r = map.apply(train); !r)
    return r.error();
  if (test)
    if (auto r = map.apply(*test); !r)
      return r.error();
  return map;
}

} // namespace nnc
