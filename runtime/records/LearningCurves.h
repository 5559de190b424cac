//===- LearningCurves.h - Per-epoch metrics as a CSV log and an SVG plot ---------------------===//
//
// After every epoch the runtime appends one record and rewrites the log file atomically, so the
// file is always complete, even if training is interrupted. The SVG plot draws one panel per
// y-quantity (loss, accuracy) side by side, with axes, ticks, grid lines and a legend.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// The metrics of one epoch; NaN marks a metric that was not measured (an empty CSV cell).
struct EpochRecord {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  int64_t epoch = 0; ///< 1-based
  double trainLoss = kNone;
  double trainAccuracy = kNone; ///< fraction in [0, 1]
  double testLoss = kNone;
  double testAccuracy = kNone;
  double seconds = kNone; ///< wall time of the epoch
};

/// CSV text: the header "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds" and
/// one line per record; numbers with up to 9 significant digits, NaN as an empty cell.
std::string formatCurvesCsv(std::span<const EpochRecord> records);

/// The per-epoch log of one training run, kept in memory and rewritten on every append.
class LearningCurveLog {
public:
  explicit LearningCurveLog(std::string path) : path_(std::move(path)) {}
  /// Adds `record` and replaces the file with all records so far (writeFileAtomically).
  Result<void> append(const EpochRecord &record);
  /// Continues the log already in the file (a resumed run): keeps its records of epochs
  /// 1..`epochsDone`. No file is an empty log; a malformed one is an Error naming the row.
  Result<void> keepExisting(int64_t epochsDone);
  const std::vector<EpochRecord> &records() const { return records_; }
  const std::string &path() const { return path_; }

private:
  std::string path_;
  std::vector<EpochRecord> records_;
};

/// One line of a plot. Series with the same `panel` share a panel whose y-axis is titled by it.
struct CurveSeries {
  std::string label; ///< legend text, e.g. "train"
  std::string panel; ///< y quantity, e.g. "loss" or "accuracy"
  std::vector<double> x; ///< epochs
  std::vector<double> y; ///< same length as x; NaN leaves a gap
};

/// The usual series of a run: train (and test, when measured) loss in panel "loss", train and
/// test accuracy in panel "accuracy". Series with no measured point are left out.
std::vector<CurveSeries> curvesFromRecords(std::span<const EpochRecord> records);

/// The SVG text of a plot of `series`, panels in order of first appearance, with `title` above.
std::string renderCurvesSvg(std::span<const CurveSeries> series, std::string_view title);

/// Renders `series` and writes the SVG to `path` atomically.
Result<void> writeCurvesSvg(const std::string &path, std::span<const CurveSeries> series,
                            std::string_view title = "learning curves");

} // namespace nnc
