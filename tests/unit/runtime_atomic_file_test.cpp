//===- runtime_atomic_file_test.cpp - Atomic replacement of files ----------------------------===//
#include "support/AtomicFile.h"
#include "runtime_test_files.h"

#include <catch2/catch.hpp>
#include <filesystem>
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
                                       Contains("creating a temporary file"));

  // Renaming a file over a non-empty directory fails: the temporary file must be cleaned up.
  std::filesystem::create_directories(dir.file("target/inner"));
  auto overDir = writeFileAtomically(dir.file("target"), "data");
  REQUIRE_FALSE(overDir.ok());
  CHECK_THAT(overDir.message(), Contains("rename failed"));
  CHECK(entriesIn(dir.path()) == 1);
  CHECK(std::filesystem::is_directory(dir.file("target/inner")));
}
