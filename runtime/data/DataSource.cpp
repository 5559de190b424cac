//===- DataSource.cpp - Naming a data set on the command line or in the train block ---------===//
#include "runtime/data/DataSource.h"

#include "runtime/data/CsvLoader.h"
#include "runtime/data/Npy.h"

#include <fmt/format.h>

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
                                           const std::string &spec) {
  if (how == Normalization::Auto)
    how = isImageSource(spec) ? Normalization::Scale : Normalization::Standardize;
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
