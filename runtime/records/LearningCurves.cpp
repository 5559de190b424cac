//===- LearningCurves.cpp - The per-epoch CSV log --------------------------------------------===//
//
// The log's text and its atomic rewrite; the SVG plot is drawn in CurvePlot.cpp.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/records/LearningCurves.h"

#include "support/AtomicFile.h"

#include <cmath>
#include <fmt/format.h>

namespace nnc {

static std::string cell(double v) { return std::isnan(v) ? "" : fmt::format("{:.9g}", v); }

std::string formatCurvesCsv(std::span<const EpochRecord> records) {
  std::string out = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n";
  for (const EpochRecord &r : records)
    out += fmt::format("{},{},{},{},{},{}\n", r.epoch, cell(r.trainLoss), cell(r.trainAccuracy),
                       cell(r.testLoss), cell(r.testAccuracy), cell(r.seconds));
  return out;
}

Result<void> LearningCurveLog::append(const EpochRecord &record) {
  records_.push_back(record);
  return writeFileAtomically(path_, formatCurvesCsv(records_));
}

std::vector<CurveSeries> curvesFromRecords(std::span<const EpochRecord> records) {
  struct Column {
    const char *label, *panel;
    double EpochRecord::*field;
  };
  const Column columns[] = {{"train", "loss", &EpochRecord::trainLoss},
                            {"test", "loss", &EpochRecord::testLoss},
                            {"train", "accuracy", &EpochRecord::trainAccuracy},
                            {"test", "accuracy", &EpochRecord::testAccuracy}};
  std::vector<CurveSeries> out;
  for (const Column &c : columns) {
    CurveSeries s{c.label, c.panel, {}, {}};
    bool any = false;
    for (const EpochRecord &r : records) {
      s.x.push_back(static_cast<double>(r.epoch));
      s.y.push_back(r.*c.field);
      any = any || !std::isnan(r.*c.field);
    }
    if (any)
      out.push_back(std::move(s));
  }
  return out;
}

} // namespace nnc
