//===- Dataset.cpp - Examples in memory: features and labels ---------------------------------===//
//
// Size queries, the invariant check and row selection (used for train/test splits).
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Dataset.h"

#include <algorithm>
#include <fmt/format.h>

namespace nnc {

static size_t product(const std::vector<int64_t> &shape) {
  size_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<size_t>(std::max<int64_t>(d, 0));
  return n;
}

size_t Dataset::featureSize() const { return product(featureShape); }
size_t Dataset::targetSize() const { return product(targetShape); }

size_t Dataset::labelsPerExample() const { return product(classShape); }

std::string Dataset::where(size_t i, bool label) const {
  const std::string &file = label && !labelSource.empty() ? labelSource : featureSource;
  std::string name = file.empty() ? std::string("the data") : file;
  if (i < exampleLines.size())
    return fmt::format("{}:{}", name, exampleLines[i]);
  return fmt::format("{}: row {}", name, i);
}

size_t Dataset::size() const {
  if (labelKind == LabelKind::Class)
    return classLabels.size() / std::max<size_t>(1, labelsPerExample());
  size_t t = targetSize();
  return t == 0 ? 0 : targets.size() / t;
}

int32_t Dataset::numClasses() const {
  if (!classNames.empty())
    return static_cast<int32_t>(classNames.size());
  int32_t top = -1;
  for (int32_t c : classLabels)
    top = std::max(top, c);
  return top + 1;
}

Result<void> Dataset::validate() const {
  for (int64_t d : featureShape)
    if (d <= 0)
      return Error{fmt::format("feature dimension {} is not positive", d)};
  size_t n = size();
  if (features.size() != n * featureSize())
    return Error{fmt::format("{} feature values for {} examples of {} values each", features.size(),
                             n, featureSize())};
  if (labelKind == LabelKind::Class) {
    int32_t k = numClasses();
    size_t L = labelsPerExample();
    if (L == 0 || classLabels.size() != n * L)
      return Error{fmt::format("{} class labels for {} examples of {} labels each", classLabels.size(), n, L)};
    for (size_t i = 0; i < n * L; ++i)
      if (classLabels[i] < 0 || classLabels[i] >= k)
        return Error{fmt::format("{}: label {} is outside [0, {})", where(i / L, true), classLabels[i], k)};
  } else {
    for (int64_t d : targetShape)
      if (d <= 0)
        return Error{fmt::format("target dimension {} is not positive", d)};
    if (targets.size() % targetSize() != 0)
      return Error{fmt::format("{} target values is not a multiple of {}", targets.size(),
                               targetSize())};
  }
  return {};
}

Dataset Dataset::select(std::span<const size_t> indices) const {
  Dataset out;
  out.featureShape = featureShape;
  out.labelKind = labelKind;
  out.targetShape = targetShape;
  out.classNames = classNames;
  out.classShape = classShape;
  out.featureSource = featureSource;
  out.labelSource = labelSource;
  size_t f = featureSize(), t = targetSize(), L = labelsPerExample();
  out.features.reserve(indices.size() * f);
  for (size_t i : indices) {
    out.features.insert(out.features.end(), features.begin() + i * f, features.begin() + (i + 1) * f);
    if (i < exampleLines.size())
      out.exampleLines.push_back(exampleLines[i]);
    if (labelKind == LabelKind::Class)
      out.classLabels.insert(out.classLabels.end(), classLabels.begin() + i * L, classLabels.begin() + (i + 1) * L);
    else
      out.targets.insert(out.targets.end(), targets.begin() + i * t, targets.begin() + (i + 1) * t);
  }
  return out;
}

} // namespace nnc
