//===- runtime_csv_test.cpp - CSV loading: good files, malformed files, Iris -----------------===//
#include "runtime/data/CsvLoader.h"
#include "runtime_test_files.h"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace nnc;
using Catch::Matchers::Contains;

TEST_CASE("CSV with a header, class names, CRLF, quotes and blank trailing lines", "[data]") {
  test::TempDir dir;
  std::string path = dir.write("flowers.csv", "a, b ,name\r\n"
                                              "1.5,2,\"red, dark\"\r\n"
                                              "-3,4e1,blue\r\n"
                                              "+5,6,\"red, dark\"\r\n"
                                              "\r\n\n");
  auto ds = loadCsv(path);
  REQUIRE(ds.ok());
  CHECK(ds->size() == 3);
  CHECK(ds->featureShape == std::vector<int64_t>{2});
  CHECK(ds->features == std::vector<float>{1.5f, 2, -3, 40, 5, 6});
  CHECK(ds->labelKind == LabelKind::Class);
  CHECK(ds->classNames == std::vector<std::string>{"red, dark", "blue"}); // first appearance
  CHECK(ds->classLabels == std::vector<int32_t>{0, 1, 0});
  CHECK(ds->validate().ok());

  CsvOptions sorted;
  sorted.classOrder = CsvOptions::ClassOrder::Sorted;
  auto ds2 = loadCsv(path, sorted);
  REQUIRE(ds2.ok());
  CHECK(ds2->classNames == std::vector<std::string>{"blue", "red, dark"});
  CHECK(ds2->classLabels == std::vector<int32_t>{1, 0, 1});
}

TEST_CASE("CSV without a header: integer labels are classes, fractional ones targets", "[data]") {
  auto classes = parseCsv("0.1,0.2,1\n0.3,0.4,0\n0.5,0.6,2\n", "c.csv");
  REQUIRE(classes.ok());
  CHECK(classes->size() == 3);
  CHECK(classes->labelKind == LabelKind::Class);
  CHECK(classes->classLabels == std::vector<int32_t>{1, 0, 2});
  CHECK(classes->classNames.empty());
  CHECK(classes->numClasses() == 3);

  auto targets = parseCsv("1,2,0.5\n3,4,-1.25\n", "t.csv");
  REQUIRE(targets.ok());
  CHECK(targets->labelKind == LabelKind::Target);
  CHECK(targets->targets == std::vector<float>{0.5f, -1.25f});
  CHECK(targets->targetShape.empty());
  CHECK(targets->size() == 2);

  CsvOptions asTargets;
  asTargets.labels = CsvOptions::Labels::Targets;
  auto forced = parseCsv("1,2,3\n4,5,6\n", "f.csv", asTargets);
  REQUIRE(forced.ok());
  CHECK(forced->labelKind == LabelKind::Target);
  CHECK(forced->targets == std::vector<float>{3, 6});
}

TEST_CASE("CSV with a named label column", "[data]") {
  CsvOptions o;
  o.labelColumn = "kind";
  auto ds = parseCsv("kind,x,y\ncat,1,2\ndog,3,4\n", "k.csv", o);
  REQUIRE(ds.ok());
  CHECK(ds->features == std::vector<float>{1, 2, 3, 4});
  CHECK(ds->classNames == std::vector<std::string>{"cat", "dog"});

  o.labelColumn = "species";
  auto missing = parseCsv("kind,x,y\ncat,1,2\n", "k.csv", o);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.message(), Contains("k.csv:1:") && Contains("no column named 'species'"));
}

TEST_CASE("malformed CSV files give errors naming the file and the line", "[data]") {
  test::TempDir dir;
  auto load = [&](std::string_view text) { return loadCsv(dir.write("bad.csv", text)); };
  std::string bad = dir.file("bad.csv");

  auto badNumber = load("x,y,label\n1,2,a\n3,oops,b\n");
  REQUIRE_FALSE(badNumber.ok());
  CHECK_THAT(badNumber.message(),
             Contains(bad + ":3:") && Contains("field 2 ('y')") && Contains("'oops' is not a number"));

  auto columns = load("1,2,a\n3,4,b\n5,6\n");
  REQUIRE_FALSE(columns.ok());
  CHECK_THAT(columns.message(), Contains(bad + ":3:") && Contains("expected 3 fields") &&
                                    Contains("found 2"));

  auto quote = load("1,2,a\n3,4,\"b\n");
  REQUIRE_FALSE(quote.ok());
  CHECK_THAT(quote.message(), Contains(bad + ":2:") && Contains("not closed"));

  auto afterQuote = load("1,\"2\"x,a\n");
  REQUIRE_FALSE(afterQuote.ok());
  CHECK_THAT(afterQuote.message(), Contains(bad + ":1:") && Contains("after the quoted field"));

  auto infinite = load("1,1e300,a\n"); // a double, but no float
  REQUIRE_FALSE(infinite.ok());
  CHECK_THAT(infinite.message(), Contains(bad + ":1:") && Contains("not a finite"));

  auto emptyLabel = load("1,2,a\n3,4,\n");
  REQUIRE_FALSE(emptyLabel.ok());
  CHECK_THAT(emptyLabel.message(), Contains(bad + ":2:") && Contains("label"));

  CsvOptions targets;
  targets.labels = CsvOptions::Labels::Targets;
  auto badTarget = loadCsv(dir.write("bad.csv", "1,2,3\n4,5,six\n"), targets);
  REQUIRE_FALSE(badTarget.ok());
  CHECK_THAT(badTarget.message(), Contains(bad + ":2:") && Contains("'six'"));

  auto oneColumn = load("1\n2\n");
  REQUIRE_FALSE(oneColumn.ok());
  CHECK_THAT(oneColumn.message(), Contains(bad + ":1:") && Contains("at least one feature column"));

  auto empty = load("\n\n");
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.message(), Contains(bad) && Contains("no data lines"));

  auto headerOnly = load("x,y,label\n");
  REQUIRE_FALSE(headerOnly.ok());
  CHECK_THAT(headerOnly.message(), Contains("header but no data"));

  auto missingFile = loadCsv(dir.file("absent.csv"));
  REQUIRE_FALSE(missingFile.ok());
  CHECK_THAT(missingFile.message(), Contains(dir.file("absent.csv")) && Contains("cannot open"));
}

TEST_CASE("examples/iris.csv: 150 rows, 3 classes of 50", "[data]") {
  auto ds = loadCsv(std::string(NNC_EXAMPLES_DIR) + "/iris.csv");
  REQUIRE(ds.ok());
  CHECK(ds->size() == 150);
  CHECK(ds->featureShape == std::vector<int64_t>{4});
  CHECK(ds->classNames == std::vector<std::string>{"setosa", "versicolor", "virginica"});
  for (int32_t c = 0; c < 3; ++c)
    CHECK(std::count(ds->classLabels.begin(), ds->classLabels.end(), c) == 50);
  CHECK(std::vector<float>(ds->features.begin(), ds->features.begin() + 4) ==
        std::vector<float>{5.1f, 3.5f, 1.4f, 0.2f});
  CHECK(ds->validate().ok());
}
