//===- FuzzCsv.cpp - libFuzzer target: the CSV loader ----------------------------------------===//
#include "runtime/data/CsvLoader.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)nnc::parseCsv(std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.csv");
  return 0;
}
