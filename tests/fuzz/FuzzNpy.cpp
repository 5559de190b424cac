//===- FuzzNpy.cpp - libFuzzer target: the .npy reader ---------------------------------------===//
#include "runtime/data/Npy.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)nnc::parseNpy(std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.npy");
  return 0;
}
