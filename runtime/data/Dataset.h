//===- Dataset.h - Examples in memory: features and labels -----------------------------------===//
//
// A Dataset is what every loader produces and what the batcher consumes: N examples, each a
// float feature tensor of a fixed shape, with either a class index or a float target tensor as
// its label. Storage is row-major and contiguous so that a minibatch is a few memcpy calls.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace nnc {

/// How the examples are labelled.
enum class LabelKind : uint8_t {
  Class,  ///< one class index in [0, numClasses) per example, in `classLabels`
  Target, ///< a float tensor of shape `targetShape` per example, in `targets`
};

/// N examples in memory. Invariants (checked by validate()): features.size() == N * featureSize(),
/// and for LabelKind::Class classLabels.size() == N with every label in [0, numClasses()),
/// for LabelKind::Target targets.size() == N * targetSize().
struct Dataset {
  std::vector<float> features;      ///< N rows of featureSize() floats, row-major
  std::vector<int64_t> featureShape; ///< shape of one example, e.g. {4} or {1, 28, 28}
  LabelKind labelKind = LabelKind::Class;
  std::vector<int32_t> classLabels; ///< labelsPerExample() class indices per example (LabelKind::Class)
  /// The shape of one example's class labels: {} for one label, e.g. {6} for a label per time
  /// step of a sequence (LabelKind::Class).
  std::vector<int64_t> classShape;
  std::vector<float> targets;       ///< N rows of targetSize() floats (LabelKind::Target)
  std::vector<int64_t> targetShape; ///< shape of one target, e.g. {} or {3} (LabelKind::Target)
  /// Names of the classes, index i naming class i, when the source knows them (CSV class names,
  /// Fashion-MNIST); empty otherwise.
  std::vector<std::string> classNames;
  /// Where the examples come from, for messages: the features' and the labels' file (the same
  /// for CSV) and, for a line-based file, the 1-based line of each example.
  std::string featureSource, labelSource;
  std::vector<uint32_t> exampleLines;

  /// The number of examples.
  size_t size() const;
  /// Floats per example: the product of featureShape (1 for a scalar).
  size_t featureSize() const;
  /// Floats per target: the product of targetShape (1 for a scalar).
  size_t targetSize() const;
  /// Class labels per example: the product of classShape (1 for a scalar).
  size_t labelsPerExample() const;
  /// Where example `i` is, for messages: "iris.csv:17" (its line) or "y.npy: row 41" (0-based);
  /// `label` picks the labels' file.
  std::string where(size_t i, bool label) const;
  /// classNames.size() when known, else one more than the largest label (0 when empty).
  int32_t numClasses() const;
  /// Checks the invariants above; the Error says which one fails.
  Result<void> validate() const;
  /// The examples at `indices`, in that order (indices must be < size()).
  Dataset select(std::span<const size_t> indices) const;
};

} // namespace nnc
