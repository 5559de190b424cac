//===- runtime_idx_test.cpp - IDX (MNIST layout) loading, plain and gzip ---------------------===//
#include "runtime/data/IdxLoader.h"
#include "runtime_test_files.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <zlib.h>

using namespace nnc;
using Catch::Matchers::Contains;

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

/// An IDX file of unsigned bytes with dimensions `dims`, data 0, 1, 2, ... (mod 256).
std::string idx(std::vector<uint32_t> dims, int extraBytes = 0) {
  std::string s = be32(0x0800u | static_cast<uint32_t>(dims.size()));
  size_t n = 1;
  for (uint32_t d : dims) {
    s += be32(d);
    n *= d;
  }
  for (size_t i = 0; i < n + static_cast<size_t>(std::max(extraBytes, 0)); ++i)
    s += static_cast<char>(i % 256);
  if (extraBytes < 0)
    s.resize(s.size() - static_cast<size_t>(-extraBytes));
  return s;
}

std::string writeGz(const test::TempDir &dir, std::string_view name, std::string_view bytes) {
  std::string path = dir.file(name);
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
  return path;
}

std::string labelsFile(std::vector<uint8_t> labels) {
  std::string s = be32(0x801) + be32(static_cast<uint32_t>(labels.size()));
  for (uint8_t l : labels)
    s += static_cast<char>(l);
  return s;
}

} // namespace

TEST_CASE("IDX image/label pairs load from plain and gzip files", "[data]") {
  test::TempDir dir;
  std::string images = idx({3, 2, 4});
  std::string labels = labelsFile({2, 0, 1});
  for (bool gz : {false, true}) {
    std::string xi = gz ? writeGz(dir, "x.idx.gz", images) : dir.write("x.idx", images);
    std::string yi = gz ? writeGz(dir, "y.idx.gz", labels) : dir.write("y.idx", labels);
    auto ds = loadIdxPair(xi, yi);
    REQUIRE(ds.ok());
    CHECK(ds->size() == 3);
    CHECK(ds->featureShape == std::vector<int64_t>{1, 2, 4});
    CHECK(ds->features.size() == 24);
    CHECK(ds->features[0] == 0.f);
    CHECK(ds->features[23] == 23.f);
    CHECK(ds->classLabels == std::vector<int32_t>{2, 0, 1});
    CHECK(ds->validate().ok());
  }
}

TEST_CASE("malformed IDX files give errors naming the file and the byte offset", "[data]") {
  test::TempDir dir;
  auto err = [&](std::string_view bytes) {
    auto r = readIdx(dir.write("bad.idx", bytes));
    REQUIRE_FALSE(r.ok());
    return r.message();
  };
  std::string bad = dir.file("bad.idx");

  CHECK_THAT(err("\x01\x02\x08\x03" + be32(1) + be32(1) + be32(1) + "x"),
             Contains(bad + ": byte 0:") && Contains("bad IDX magic"));
  CHECK_THAT(err(be32(0x0D03) + be32(1) + be32(1) + be32(1) + "abcd"),
             Contains(bad + ": byte 2:") && Contains("element type 0x0D"));
  CHECK_THAT(err(be32(0x0800)), Contains(bad + ": byte 3:") && Contains("rank 0"));
  CHECK_THAT(err(be32(0x0803) + be32(5)), Contains(bad + ": byte 8:") && Contains("inside the header"));
  CHECK_THAT(err(be32(0x0803) + be32(2) + be32(0) + be32(3)), Contains("byte 8:") && Contains("zero"));
  CHECK_THAT(err(idx({2, 3, 3}, -5)), Contains(bad + ": byte 29:") && Contains("truncated") &&
                                          Contains("need 18 data bytes"));
  CHECK_THAT(err(idx({2, 3, 3}, 3)), Contains(bad + ": byte 34:") && Contains("3 unexpected bytes"));
  // Dimensions whose product overflows 64 bits must be caught before any allocation.
  CHECK_THAT(err(be32(0x0804) + be32(0xFFFFFFFF) + be32(0xFFFFFFFF) + be32(0xFFFFFFFF) +
                 be32(0xFFFFFFFF) + "x"),
             Contains("more data than the file has"));
  CHECK_THAT(err(std::string("\x00\x00", 2)), Contains(bad + ": byte 2:") && Contains("magic"));

  // Every truncation of a good file is an error, not a crash.
  std::string good = idx({2, 3, 3});
  for (size_t n = 0; n < good.size(); ++n)
    CHECK_FALSE(readIdx(dir.write("cut.idx", good.substr(0, n))).ok());

  // A gzip stream cut short.
  std::string gz = writeGz(dir, "whole.gz", idx({50, 20, 20}));
  std::string compressed = test::slurp(gz);
  auto cut = readIdx(dir.write("cut.gz", compressed.substr(0, compressed.size() / 2)));
  REQUIRE_FALSE(cut.ok());
  CHECK_THAT(cut.message(), Contains(dir.file("cut.gz")));

  auto missing = readIdx(dir.file("absent.idx"));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.message(), Contains(dir.file("absent.idx")));
}

TEST_CASE("IDX pairs must agree in count and layout", "[data]") {
  test::TempDir dir;
  std::string x = dir.write("x.idx", idx({3, 2, 2}));
  auto fewer = loadIdxPair(x, dir.write("y.idx", labelsFile({0, 1})));
  REQUIRE_FALSE(fewer.ok());
  CHECK_THAT(fewer.message(), Contains("3 images") && Contains("2 labels") && Contains(dir.file("y.idx")));

  auto swapped = loadIdxPair(dir.file("y.idx"), x);
  REQUIRE_FALSE(swapped.ok());
  CHECK_THAT(swapped.message(), Contains(dir.file("y.idx")) && Contains("0x00000803"));

  auto notLabels = loadIdxPair(x, x);
  REQUIRE_FALSE(notLabels.ok());
  CHECK_THAT(notLabels.message(), Contains("0x00000801"));
}

TEST_CASE("Fashion-MNIST: a missing package is a clear error", "[data]") {
  test::TempDir dir;
  auto r = loadFashionMnist(Split::Test, dir.path());
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.message(), Contains("t10k-images-idx3-ubyte.gz") &&
                              Contains("install the package dataset-fashion-mnist"));
  auto unknown = loadBuiltinDataset("cifar-10", Split::Train);
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.message(), Contains("unknown built-in data set 'cifar-10'"));
}

TEST_CASE("Fashion-MNIST test set: 10000 images of 28x28, 1000 per class", "[data]") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir))) {
    WARN("skipped: " << kFashionMnistDir << " is missing (install dataset-fashion-mnist)");
    return;
  }
  auto ds = loadBuiltinDataset("fashion-mnist", Split::Test);
  REQUIRE(ds.ok());
  CHECK(ds->size() == 10000);
  CHECK(ds->featureShape == std::vector<int64_t>{1, 28, 28});
  CHECK(ds->numClasses() == 10);
  CHECK(ds->classNames[9] == "Ankle boot");
  for (int32_t c = 0; c < 10; ++c)
    CHECK(std::count(ds->classLabels.begin(), ds->classLabels.end(), c) == 1000);
  auto [lo, hi] = std::minmax_element(ds->features.begin(), ds->features.end());
  CHECK(*lo == 0.f);
  CHECK(*hi == 255.f);
}
