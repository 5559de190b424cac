//===- runtime_learning_curves_test.cpp - The CSV log and the SVG plot -----------------------===//
#include "runtime/records/LearningCurves.h"
#include "runtime_test_files.h"

#include <catch2/catch.hpp>

using namespace nnc;
using Catch::Matchers::Contains;

static size_t count(const std::string &text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST_CASE("the learning-curve log is rewritten whole after every epoch", "[data]") {
  test::TempDir dir;
  LearningCurveLog log(dir.file("curves.csv"));
  EpochRecord e1;
  e1.epoch = 1, e1.trainLoss = 1.25, e1.trainAccuracy = 0.5, e1.testAccuracy = 0.625, e1.seconds = 0.1;
  REQUIRE(log.append(e1).ok());
  CHECK(test::slurp(log.path()) == "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n"
                                   "1,1.25,0.5,,0.625,0.1\n");
  EpochRecord e2 = e1;
  e2.epoch = 2, e2.trainLoss = 0.75;
  REQUIRE(log.append(e2).ok());
  CHECK(test::slurp(log.path()) == "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n"
                                   "1,1.25,0.5,,0.625,0.1\n"
                                   "2,0.75,0.5,,0.625,0.1\n");
  CHECK(log.records().size() == 2);

  LearningCurveLog nowhere(dir.file("missing/curves.csv"));
  CHECK_FALSE(nowhere.append(e1).ok());
}

TEST_CASE("a resumed run continues the learning-curve log of the epochs it had done", "[data]") {
  test::TempDir dir;
  std::string path = dir.file("curves.csv");
  LearningCurveLog first(path);
  for (int64_t e = 1; e <= 3; ++e) {
    EpochRecord r;
    r.epoch = e, r.trainLoss = 1.0 / double(e + 2), r.seconds = 0.25;
    REQUIRE(first.append(r).ok());
  }
  const std::string written = test::slurp(path);
  // Resumed after epoch 2: epoch 3's row (from a run stopped later) is dropped, the others kept
  // and written back unchanged.
  LearningCurveLog resumed(path);
  REQUIRE(resumed.keepExisting(2).ok());
  REQUIRE(resumed.records().size() == 2);
  EpochRecord r3 = first.records()[2];
  REQUIRE(resumed.append(r3).ok());
  CHECK(test::slurp(path) == written);
  // No file yet: an empty log. A malformed row: an Error naming the file and the line.
  LearningCurveLog fresh(dir.file("new.csv"));
  REQUIRE(fresh.keepExisting(5).ok());
  CHECK(fresh.records().empty());
  LearningCurveLog bad(dir.write("bad.csv", "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n1,x,,,,\n"));
  auto r = bad.keepExisting(5);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.message(), Contains("bad.csv:2"));
}

TEST_CASE("the SVG plot has a panel per quantity, ticks, a legend and one line per series", "[data]") {
  std::vector<EpochRecord> records;
  for (int e = 1; e <= 12; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.trainLoss = 2.0 / e;
    r.trainAccuracy = 1 - 0.5 / e;
    r.testAccuracy = e == 5 ? EpochRecord::kNone : 1 - 0.6 / e; // a gap at epoch 5
    records.push_back(r);
  }
  auto series = curvesFromRecords(records);
  REQUIRE(series.size() == 3); // no test loss was measured
  std::string svg = renderCurvesSvg(series, "Iris <mlp>");
  CHECK_THAT(svg, Contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK_THAT(svg, Contains("Iris &lt;mlp&gt;"));
  CHECK(count(svg, ">epoch</text>") == 2);
  CHECK(count(svg, ">loss</text>") == 1);
  CHECK(count(svg, ">accuracy</text>") == 1);
  CHECK(count(svg, ">train</text>") == 2); // legend entries
  CHECK(count(svg, ">test</text>") == 1);
  CHECK(count(svg, "<polyline") == 4); // the test accuracy line is broken in two at the gap
  CHECK(count(svg, "<circle") == 12 + 12 + 11);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  CHECK(svg.ends_with("</svg>\n"));

  test::TempDir dir;
  REQUIRE(writeCurvesSvg(dir.file("curves.svg"), series).ok());
  CHECK(test::slurp(dir.file("curves.svg")).starts_with("<svg"));
  // Degenerate inputs still draw: one point, and no series at all.
  CHECK_THAT(renderCurvesSvg(curvesFromRecords(std::span(records).first(1)), "one"),
             Contains("<circle"));
  CHECK_THAT(renderCurvesSvg({}, "none"), Contains("</svg>"));
}
