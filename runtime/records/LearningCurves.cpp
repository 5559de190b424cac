//===- LearningCurves.cpp - The per-epoch CSV log --------------------------------------------===//
//
// The log's text and its atomic rewrite; the SVG plot is drawn in CurvePlot.cpp.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/records/LearningCurves.h"

#include "support/AtomicFile.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
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

Result<void> LearningCurveLog::keepExisting(int64_t epochsDone) {
  records_.clear();
  std::ifstream in(path_);
  if (!in)
    return {}; // no log yet: it starts now
  std::string line;
  std::getline(in, line); // the header
  for (size_t row = 2; std::getline(in, line); ++row) {
    if (line.empty())
      continue;
    std::vector<std::string> cells;
    size_t start = 0;
    for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1)
      cells.push_back(line.substr(start, comma - start));
    cells.push_back(line.substr(start));
    if (cells.size() != 6)
      return Error{fmt::format("{}:{}: a learning-curve row has {} cells, expected 6", path_, row, cells.size())};
    double v[6];
    for (size_t i = 0; i < 6; ++i) {
      char *end = nullptr;
      v[i] = cells[i].empty() ? EpochRecord::kNone : std::strtod(cells[i].c_str(), &end);
      if (!cells[i].empty() && *end != 0)
        return Error{fmt::format("{}:{}: '{}' is not a number", path_, row, cells[i])};
    }
    EpochRecord r{static_cast<int64_t>(v[0]), v[1], v[2], v[3], v[4], v[5]};
    if (r.epoch >= 1 && r.epoch <= epochsDone)
      records_.push_back(r);
  }
  return {};
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
