//===- runtime_npy_test.cpp - NumPy .npy reading and writing ---------------------------------===//
#include "runtime/data/Npy.h"
#include "runtime_test_files.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace nnc;
using Catch::Matchers::Contains;

namespace {

/// A .npy file as numpy 1.24 writes it: version 1.0, header padded to 118 bytes.
std::string numpyStyle(std::string_view dict, std::string_view data, char major = 1) {
  std::string header(dict);
  size_t len = major == 1 ? 118 : 116;
  header.append(len - 1 - header.size(), ' ');
  header += '\n';
  std::string s = "\x93NUMPY";
  s += major;
  s += '\0';
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
    s += static_cast<char>((len >> (8 * i)) & 0xFF);
  return s + header + std::string(data);
}

std::string floats(std::vector<float> v) {
  return {reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float)};
}

} // namespace

TEST_CASE("npy: reads the bytes numpy writes, versions 1.0 and 2.0", "[data]") {
  for (char major : {1, 2}) {
    auto t = parseNpy(numpyStyle("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                 floats({0, 1, 2, 3, 4, 5}), major),
                      "a.npy");
    REQUIRE(t.ok());
    CHECK(t->dtype == ElementType::F32);
    CHECK(t->shape == std::vector<int64_t>{2, 3});
    CHECK(t->values<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  }
  auto scalar = parseNpy(numpyStyle("{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                                    std::string("\0\0\0\0\0\0\x0c@", 8)),
                         "s.npy");
  REQUIRE(scalar.ok());
  CHECK(scalar->shape.empty());
  CHECK(scalar->values<double>() == std::vector<double>{3.5});
}

TEST_CASE("npy: write then read gives the same tensor for every dtype", "[data]") {
  test::TempDir dir;
  std::vector<HostTensor> tensors = {
      HostTensor::of<float>({2, 3}, std::vector<float>{1.5f, -2, 3, 4, 5, 6}),
      HostTensor::of<double>({}, std::vector<double>{3.25}),
      HostTensor::of<int32_t>({4}, std::vector<int32_t>{-1, 0, 7, INT32_MAX}),
      HostTensor::of<int64_t>({1, 2, 1}, std::vector<int64_t>{INT64_MIN, 42}),
      HostTensor::of<uint8_t>({3}, std::vector<uint8_t>{0, 128, 255}),
      HostTensor::of<float>({0, 5}, std::vector<float>{}),
  };
  for (const HostTensor &t : tensors) {
    std::string bytes = encodeNpy(t);
    size_t headerEnd = bytes.find('\n') + 1;
    CHECK(headerEnd % 64 == 0); // data aligned as numpy aligns it
    REQUIRE(writeNpy(dir.file("t.npy"), t).ok());
    auto back = readNpy(dir.file("t.npy"));
    REQUIRE(back.ok());
    CHECK(*back == t);
  }
  CHECK(encodeNpy(tensors[4]).substr(10, 60) ==
        "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }   ");
}

TEST_CASE("npy: malformed files give errors naming the file and the byte offset", "[data]") {
  auto err = [](std::string_view bytes) {
    auto r = parseNpy(bytes, "m.npy");
    REQUIRE_FALSE(r.ok());
    return r.message();
  };
  std::string data = floats({1, 2, 3, 4, 5, 6});
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data)),
             Contains("m.npy: byte 10:") && Contains("fortran_order=True"));
  CHECK_THAT(err(numpyStyle("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", data)),
             Contains("unsupported dtype '>f4'"));
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data)),
             Contains("m.npy: byte 128:") && Contains("truncated") && Contains("needs 32 data bytes"));
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", data)),
             Contains("wrong size"));
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", data)),
             Contains("m.npy: byte 64:") && Contains("non-negative integer"));
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'shape': (6,), }", data)), Contains("lacks one of"));
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", data)),
             Contains("unexpected key 'x'"));
  CHECK_THAT(err(numpyStyle("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, "
                            "99999999999, 99999999999), }", data)),
             Contains("more data than the file has"));
  CHECK_THAT(err(std::string("\x93NUMPZ\x01\x00\x10\x00", 10)), Contains("m.npy: byte 0:") && Contains("magic"));
  CHECK_THAT(err(std::string("\x93NUMPY\x04\x00\x10\x00", 10)), Contains("byte 6:") && Contains("version 4.0"));

  // Every truncation of a good file is an error, not a crash.
  std::string good = encodeNpy(HostTensor::of<float>({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6}));
  for (size_t n = 0; n < good.size(); ++n)
    CHECK_FALSE(parseNpy(good.substr(0, n), "cut.npy").ok());
}

TEST_CASE("npy: feature and label files form a data set", "[data]") {
  test::TempDir dir;
  std::string x = dir.file("x.npy"), y = dir.file("y.npy"), t = dir.file("t.npy");
  REQUIRE(writeNpy(x, HostTensor::of<uint8_t>({2, 2, 2}, std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 7})).ok());
  REQUIRE(writeNpy(y, HostTensor::of<int64_t>({2}, std::vector<int64_t>{1, 0})).ok());
  auto ds = loadNpyPair(x, y);
  REQUIRE(ds.ok());
  CHECK(ds->featureShape == std::vector<int64_t>{2, 2});
  CHECK(ds->features == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(ds->classLabels == std::vector<int32_t>{1, 0});

  REQUIRE(writeNpy(t, HostTensor::of<float>({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6})).ok());
  auto reg = loadNpyPair(x, t);
  REQUIRE(reg.ok());
  CHECK(reg->labelKind == LabelKind::Target);
  CHECK(reg->targetShape == std::vector<int64_t>{3});
  CHECK(reg->size() == 2);

  REQUIRE(writeNpy(y, HostTensor::of<int32_t>({3}, std::vector<int32_t>{1, 0, 1})).ok());
  auto mismatch = loadNpyPair(x, y);
  REQUIRE_FALSE(mismatch.ok());
  CHECK_THAT(mismatch.message(), Contains(x) && Contains(y) && Contains("2 examples"));

  // A label per time step: (N, T) integer labels, T per example.
  REQUIRE(writeNpy(y, HostTensor::of<int32_t>({2, 3}, std::vector<int32_t>{1, 0, 2, 2, 1, 0})).ok());
  auto seq = loadNpyPair(x, y);
  REQUIRE(seq.ok());
  CHECK(seq->size() == 2);
  CHECK(seq->classShape == std::vector<int64_t>{3});
  CHECK(seq->labelsPerExample() == 3);
  CHECK(seq->select(std::vector<size_t>{1}).classLabels == std::vector<int32_t>{2, 1, 0});

  // NaN or infinity in the features is an error naming the file and the row.
  std::string xn = dir.file("xn.npy");
  REQUIRE(writeNpy(xn, HostTensor::of<float>({2, 2}, std::vector<float>{1, 2, 3, INFINITY})).ok());
  REQUIRE(writeNpy(y, HostTensor::of<int32_t>({2}, std::vector<int32_t>{1, 0})).ok());
  auto inf = loadNpyPair(xn, y);
  REQUIRE_FALSE(inf.ok());
  CHECK_THAT(inf.message(), Contains("xn.npy: row 1: feature value inf is not a finite number"));

  REQUIRE(writeNpy(y, HostTensor::of<int32_t>({2}, std::vector<int32_t>{1, -4})).ok());
  auto negative = loadNpyPair(x, y);
  REQUIRE_FALSE(negative.ok());
  CHECK_THAT(negative.message(), Contains("row 1: label -4"));
}
