//===- runtime_atomic_file_test.cpp - Atomic replacement of files ----------------------------===//
#include "support/AtomicFile.h"
#include "runtime_test_files.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>

using namespace nnc;
using Catch::Matchers::Contains;

static size_t entriesIn(const std::string &dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto &e : std::filesystem::directory_iterator(dir))
    ++n;
  return n;
}

TEST_CASE("atomic writes create and replace files and leave no temporary behind", "[data]") {
  test::TempDir dir;
  std::string path = dir.file("log.csv");
  REQUIRE(writeFileAtomically(path, "first").ok());
  CHECK(test::slurp(path) == "first");
  REQUIRE(writeFileAtomically(path, std::string("sec\0nd", 6)).ok());
  CHECK(test::slurp(path) == std::string("sec\0nd", 6));
  REQUIRE(writeFileAtomically(path, "").ok());
  CHECK(test::slurp(path).empty());
  CHECK(entriesIn(dir.path()) == 1);

  ::chmod(path.c_str(), 0600);
  REQUIRE(writeFileAtomically(path, "kept mode").ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("atomic writes report failures and leave the target unchanged", "[data]") {
  test::TempDir dir;
  auto missingDir = writeFileAtomically(dir.file("no/such/dir/x.bin"), "data");
  REQUIRE_FALSE(missingDir.ok());
  CHECK_THAT(missingDir.message(), Contains(dir.file("no/such/dir/x.bin")) &&
                                       Contains("No such file or directory"));

  // A directory is never replaced, and no temporary file is left.
  std::filesystem::create_directories(dir.file("target/inner"));
  auto overDir = writeFileAtomically(dir.file("target"), "data");
  REQUIRE_FALSE(overDir.ok());
  CHECK_THAT(overDir.message(), Contains("it is a directory, which nnc does not replace"));
  CHECK(entriesIn(dir.path()) == 1);
  CHECK(std::filesystem::is_directory(dir.file("target/inner")));
}

TEST_CASE("atomic writes never replace a FIFO or device node, and check paths before writing", "[data]") {
  test::TempDir dir;
  std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto r = writeFileAtomically(fifo, "data");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.message(), Contains("it is a FIFO, which nnc does not replace"));
  struct stat st {};
  REQUIRE(::stat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(entriesIn(dir.path()) == 1);

  CHECK_THAT(checkOutputPath("/dev/null").message(), Contains("it is a character device"));
  REQUIRE(::stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK_THAT(checkOutputPath("").message(), Contains("an empty output file name"));
  CHECK_THAT(checkOutputPath(dir.file("x/")).message(), Contains("names a directory"));
  CHECK(checkOutputPath(dir.file("new.bin")).ok());
  CHECK(entriesIn(dir.path()) == 1); // checking writes nothing
}

TEST_CASE("a save removes the stale temporary files of killed saves, not those in use", "[data]") {
  test::TempDir dir;
  std::string path = dir.file("ckpt");
  auto make = [&](const std::string &name, bool old) {
    std::string p = dir.file(name);
    REQUIRE(writeFileAtomically(p, "partial").ok());
    if (old) {
      struct timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 3600, 0}};
      REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
    }
    return p;
  };
  std::string stale = make("ckpt.tmp.a1B2c3", true);
  std::string fresh = make("ckpt.tmp.d4E5f6", false);  // may belong to a save in progress
  std::string other = make("ckpt.tmp.toolong7", true); // not mkstemp's pattern
  REQUIRE(writeFileAtomically(path, "whole").ok());
  CHECK_FALSE(std::filesystem::exists(stale));
  CHECK(std::filesystem::exists(fresh));
  CHECK(std::filesystem::exists(other));
  CHECK(test::slurp(path) == "whole");
}
