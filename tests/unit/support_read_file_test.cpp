//===- support_read_file_test.cpp - Bounded reads of regular files ---------------------------===//
#include "support/ReadFile.h"
#include "runtime_test_files.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

using namespace nnc;
using Catch::Matchers::Contains;

TEST_CASE("reads refuse devices, FIFOs and directories without blocking or reading", "[data]") {
  test::TempDir dir;
  auto zero = readFile("/dev/zero");
  REQUIRE_FALSE(zero.ok());
  CHECK_THAT(zero.message(), Contains("'/dev/zero': it is a character device, not a regular file"));
  CHECK_THAT(readMaybeGzipFile("/dev/zero").message(), Contains("character device"));
  std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THAT(readFile(fifo).message(), Contains("it is a FIFO")); // opened without a writer: must not block
  CHECK_THAT(readMaybeGzipFile(fifo).message(), Contains("it is a FIFO"));
  CHECK_THAT(readFile(dir.path()).message(), Contains("it is a directory"));
  CHECK_THAT(readFile("").message(), Contains("empty file name"));
  CHECK_THAT(checkInputPath("/dev/zero").message(), Contains("character device"));
  CHECK(checkInputPath("-", /*allowStdin=*/true).ok());
  CHECK_FALSE(checkInputPath("-").ok());
}

TEST_CASE("reads stop at their limit, for plain and decompressed bytes", "[data]") {
  test::TempDir dir;
  std::string plain = dir.file("big.txt");
  std::ofstream(plain) << std::string(1000, 'x');
  ReadOptions small;
  small.maxBytes = 999;
  CHECK_THAT(readFile(plain, small).message(), Contains("its size, 1000 bytes, exceeds the limit of 999 bytes"));
  small.maxBytes = 1000;
  CHECK(readFile(plain, small)->size() == 1000);

  // A gzip stream of 100,000 zero bytes is a few hundred bytes: the limit is on what it expands to.
  std::string gz = dir.file("bomb.gz");
  gzFile f = gzopen(gz.c_str(), "wb");
  REQUIRE(f);
  std::string zeros(100000, '\0');
  REQUIRE(gzwrite(f, zeros.data(), unsigned(zeros.size())) == int(zeros.size()));
  gzclose(f);
  small.maxBytes = 50000;
  CHECK_THAT(readMaybeGzipFile(gz, small).message(), Contains("decompressed content exceeds the limit of 50000 bytes"));
  small.maxBytes = 100000;
  CHECK(readMaybeGzipFile(gz, small)->size() == 100000);
}
