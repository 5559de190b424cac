//===- runtime_initializers_test.cpp - Parameter initializers ------------------------------===//
#include "runtime/train/Initializers.h"
#include "runtime/exec/Storage.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

using namespace nnc;

namespace {
std::vector<double> init(const std::string &text, std::vector<int64_t> shape, uint64_t seed = 7,
                         const std::string &name = "W") {
  auto r = initialValues(text, {DType::F64, std::move(shape)}, seed, name);
  REQUIRE(r.ok());
  return *r;
}
double mean(const std::vector<double> &v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double stddev(const std::vector<double> &v) {
  double m = mean(v), s = 0;
  for (double x : v)
    s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size()));
}
} // namespace

TEST_CASE("fills and constants", "[runtime][init]") {
  CHECK(init("zeros", {3}) == std::vector<double>{0, 0, 0});
  CHECK(init("ones", {2}) == std::vector<double>{1, 1});
  CHECK(init("constant(0.25)", {2}) == std::vector<double>{0.25, 0.25});
  CHECK(init("", {1}) == std::vector<double>{0});
}

TEST_CASE("uniform initializers stay within their limits and fill them", "[runtime][init]") {
  // glorot_uniform on [100, 200]: limit sqrt(6 / 300)
  auto g = init("glorot_uniform", {100, 200});
  double limit = std::sqrt(6.0 / 300.0);
  CHECK(*std::max_element(g.begin(), g.end()) <= limit);
  CHECK(*std::min_element(g.begin(), g.end()) >= -limit);
  CHECK(*std::max_element(g.begin(), g.end()) > 0.95 * limit);
  CHECK(std::fabs(mean(g)) < 0.01 * limit);
  // he_uniform on a conv kernel [8, 4, 3, 3]: fan_in = 36
  auto h = init("he_uniform", {8, 4, 3, 3});
  CHECK(*std::max_element(h.begin(), h.end()) <= std::sqrt(6.0 / 36.0));
  auto u = init("uniform(2,3)", {1000});
  CHECK(*std::min_element(u.begin(), u.end()) >= 2.0);
  CHECK(*std::max_element(u.begin(), u.end()) < 3.0);
}

TEST_CASE("normal initializers have the requested moments", "[runtime][init]") {
  auto n = init("normal(1,0.5)", {200, 100});
  CHECK(mean(n) == Approx(1.0).margin(0.01));
  CHECK(stddev(n) == Approx(0.5).margin(0.01));
  auto he = init("he_normal", {400, 50});
  CHECK(stddev(he) == Approx(std::sqrt(2.0 / 400.0)).epsilon(0.03));
  auto gl = init("xavier_normal", {300, 100});
  CHECK(stddev(gl) == Approx(std::sqrt(2.0 / 400.0)).epsilon(0.03));
}

TEST_CASE("draws depend on the seed and the name only", "[runtime][init]") {
  CHECK(init("glorot_uniform", {4, 4}, 1, "a") == init("glorot_uniform", {4, 4}, 1, "a"));
  CHECK(init("glorot_uniform", {4, 4}, 1, "a") != init("glorot_uniform", {4, 4}, 2, "a"));
  CHECK(init("glorot_uniform", {4, 4}, 1, "a") != init("glorot_uniform", {4, 4}, 1, "b"));
}

TEST_CASE("unknown or malformed initializers are errors", "[runtime][init]") {
  TensorType t{DType::F32, {2}};
  CHECK(!initialValues("glorot", t, 1, "W").ok());
  CHECK(!initialValues("normal(0,", t, 1, "W").ok());
  CHECK(!initialValues("constant(x)", t, 1, "W").ok());
}

TEST_CASE("initializeZeroed writes into a zeroed buffer what initialValues gives, in the tensor's type",
          "[runtime][init]") {
  for (const char *text : {"zeros", "ones", "constant(0.1)", "constant(-0.0)", "uniform(-1,2)", "normal(0.5,2)",
                           "glorot_uniform", "he_normal", "", "glorot", "constant(x)"}) {
    for (DType dtype : {DType::F32, DType::F64, DType::I32}) {
      INFO(text << " as " << dtypeName(dtype));
      TensorType type{dtype, {6, 5}};
      auto values = initialValues(text, type, 11, "W");
      std::vector<uint8_t> buffer(storageSize(type), 0);
      auto written = initializeZeroed(text, type, 11, "W", buffer.data());
      REQUIRE(values.ok() == written.ok()); // malformed and unknown initializers fail both ways
      if (!values.ok()) {
        CHECK(values.message() == written.message());
        continue;
      }
      for (size_t i = 0; i < values->size(); ++i) {
        double expected = (*values)[i];
        // What the Trainer's state held before: initialValues' number stored in the type.
        std::vector<uint8_t> one(storageSize(type), 0);
        writeElement(one.data(), dtype, i, expected);
        CHECK(readElement(buffer.data(), dtype, i) == readElement(one.data(), dtype, i));
      }
    }
  }
}
