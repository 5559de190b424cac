//===- runtime_safetensors_test.cpp - Checkpoints: round trip, layout, corrupt files ---------===//
#include "runtime/data/Batching.h"
#include "runtime/records/Safetensors.h"
#include "runtime_test_files.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace nnc;
using Catch::Matchers::Contains;

namespace {

Checkpoint sampleCheckpoint() {
  Checkpoint c;
  c.tensors["dense1.w"] = HostTensor::of<float>({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  c.tensors["dense1.b"] = HostTensor::of<float>({3}, std::vector<float>{0.5f, -0.5f, 0});
  c.tensors["adam.m"] = HostTensor::of<double>({1}, std::vector<double>{1e-300});
  c.tensors["step"] = HostTensor::of<int64_t>({}, std::vector<int64_t>{1200});
  c.tensors["perm"] = HostTensor::of<int32_t>({5}, std::vector<int32_t>{4, 3, 2, 1, 0});
  c.tensors["empty"] = HostTensor::of<float>({0, 4}, std::vector<float>{});
  c.metadata = {{checkpoint_keys::kFormatVersion, "1"},
                {checkpoint_keys::kModel, "mlp"},
                {checkpoint_keys::kStep, "1200"},
                {checkpoint_keys::kOptimizer, "adam lr=0.001"}};
  return c;
}

/// A file with header `json` (padded to 8 bytes) and `dataBytes` bytes of data.
std::string withHeader(std::string json, size_t dataBytes) {
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string s;
  for (int i = 0; i < 8; ++i)
    s += static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  return s + json + std::string(dataBytes, '\x01');
}

} // namespace

TEST_CASE("safetensors: write then read gives the same checkpoint", "[data]") {
  test::TempDir dir;
  Checkpoint c = sampleCheckpoint();
  REQUIRE(writeSafetensors(dir.file("c.safetensors"), c).ok());
  auto back = readSafetensors(dir.file("c.safetensors"));
  REQUIRE(back.ok());
  CHECK(*back == c);
  CHECK(back->tensors.at("dense1.w").values<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(back->metadata.at("step") == "1200");

  Checkpoint none;
  REQUIRE(writeSafetensors(dir.file("e.safetensors"), none).ok());
  auto emptyBack = readSafetensors(dir.file("e.safetensors"));
  REQUIRE(emptyBack.ok());
  CHECK(*emptyBack == none);
}

TEST_CASE("safetensors: the layout follows the format", "[data]") {
  auto bytes = encodeSafetensors(sampleCheckpoint());
  REQUIRE(bytes.ok());
  const std::string &s = *bytes;
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<uint8_t>(s[static_cast<size_t>(i)])) << (8 * i);
  REQUIRE(8 + n <= s.size());
  CHECK(n % 8 == 0);
  CHECK(s[8] == '{');
  std::string header = s.substr(8, n);
  auto j = nlohmann::json::parse(header);
  CHECK(j["__metadata__"]["model"] == "mlp");
  CHECK(j["dense1.w"]["dtype"] == "F32");
  CHECK(j["dense1.w"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(j["step"]["dtype"] == "I64");
  // Offsets tile the data block, and every tensor starts at a multiple of its element size.
  uint64_t total = 0;
  for (auto &[name, entry] : j.items()) {
    if (name == "__metadata__")
      continue;
    uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    total += end - begin;
    size_t elem = elementSize(*elementTypeFromName(entry["dtype"].get<std::string>()));
    CHECK((8 + n + begin) % elem == 0);
  }
  CHECK(8 + n + total == s.size());
  // The 8-byte F64 and I64 tensors come first.
  CHECK(j["adam.m"]["data_offsets"][0] == 0);
}

TEST_CASE("safetensors: inconsistent checkpoints are not written", "[data]") {
  test::TempDir dir;
  Checkpoint c;
  c.tensors["w"] = HostTensor::of<float>({2, 2}, std::vector<float>{1, 2, 3});
  auto r = writeSafetensors(dir.file("bad.safetensors"), c);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.message(), Contains("tensor 'w' has 12 bytes"));
  CHECK_FALSE(std::filesystem::exists(dir.file("bad.safetensors")));

  Checkpoint reserved;
  reserved.tensors["__metadata__"] = HostTensor::of<float>({}, std::vector<float>{1});
  CHECK_FALSE(encodeSafetensors(reserved).ok());

  Checkpoint badUtf8;
  badUtf8.metadata["model"] = "\xff\xfe";
  auto e = encodeSafetensors(badUtf8);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.message(), Contains("cannot encode"));
}

TEST_CASE("safetensors: every truncation of a checkpoint is an error", "[data]") {
  auto bytes = encodeSafetensors(sampleCheckpoint());
  REQUIRE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    auto r = parseSafetensors(std::string_view(*bytes).substr(0, n), "cut.safetensors");
    CHECK_FALSE(r.ok());
    if (!r.ok())
      CHECK_THAT(r.message(), Contains("cut.safetensors"));
  }
}

TEST_CASE("safetensors: corrupt headers give clear errors", "[data]") {
  auto err = [](const std::string &bytes) {
    auto r = parseSafetensors(bytes, "c.st");
    REQUIRE_FALSE(r.ok());
    return r.message();
  };
  std::string w = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  CHECK(parseSafetensors(withHeader("{" + w + "}", 8), "c.st").ok()); // the baseline is valid

  CHECK_THAT(err(withHeader("{" + w + "}", 12)), Contains("4 bytes after the last tensor"));
  CHECK_THAT(err(withHeader("{" + w, 8)), Contains("c.st: byte") && Contains("not valid JSON"));
  CHECK_THAT(err(withHeader("[1,2]", 0)), Contains("byte 8: the header is not a JSON object"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4)),
             Contains("tensor 'w': unsupported dtype 'F16'"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
             Contains("shape [3] of F32 needs a different byte count"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
             Contains("non-negative integer"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8)),
             Contains("outside the 8 data bytes"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)),
             Contains("outside"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[2]}})", 8)), Contains("lacks one of"));
  CHECK_THAT(err(withHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
             Contains("overlap"));
  CHECK_THAT(err(withHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
             Contains("bytes [0, 4) before its data belong to no tensor"));
  CHECK_THAT(err(withHeader(R"({"__metadata__":{"step":12}})", 0)),
             Contains("metadata 'step' is not a string"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[18446744073709551615,2],)"
                            R"("data_offsets":[0,8]}})", 8)),
             Contains("non-negative integer"));
  CHECK_THAT(err(withHeader(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],)"
                            R"("data_offsets":[0,8]}})", 8)),
             Contains("different byte count"));
  std::string huge(8, '\xff');
  CHECK_THAT(err(huge + "{}"), Contains("byte 0: header size") && Contains("above the limit"));
  std::string big = withHeader("{}", 0);
  big[0] = 16; // claims 16 header bytes, has 8
  CHECK_THAT(err(big), Contains("exceeds the 8 bytes after it"));
}

TEST_CASE("safetensors: random byte flips never crash the reader", "[data]") {
  auto bytes = encodeSafetensors(sampleCheckpoint());
  REQUIRE(bytes.ok());
  SplitMix64 rng(2024);
  int rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string s = *bytes;
    for (int k = 0; k < 3; ++k)
      s[rng.below(s.size())] = static_cast<char>(rng.below(256));
    auto r = parseSafetensors(s, "fuzz.safetensors");
    rejected += r.ok() ? 0 : 1;
  }
  CHECK(rejected > 0); // most flips land in the header and corrupt it
}

TEST_CASE("safetensors: names that are not UTF-8 and deeply nested headers are errors", "[data]") {
  for (std::string name : {"\xc0\x80", "\xed\xa0\x80", "a\xe2\x82", "\xf4\x90\x80\x80"}) {
    Checkpoint ckpt;
    ckpt.tensors[name] = HostTensor::of<float>({1}, std::vector<float>{1});
    auto e = encodeSafetensors(ckpt);
    REQUIRE_FALSE(e.ok());
    CHECK_THAT(e.message(), Contains("cannot encode the checkpoint header"));
  }
  Checkpoint fine;
  fine.tensors["\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"] = HostTensor::of<float>({1}, std::vector<float>{1});
  auto bytes = encodeSafetensors(fine);
  REQUIRE(bytes.ok());
  auto back = parseSafetensors(*bytes, "u.st");
  REQUIRE(back.ok());
  CHECK(back->tensors.count("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80") == 1);

  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = parseSafetensors(withHeader(deep, 0), "deep.st");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.message(), Contains("deep.st: tensor 'a'"));
}
