//===- FuzzSafetensors.cpp - libFuzzer target: the safetensors checkpoint reader -------------===//
#include "runtime/records/Safetensors.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)nnc::parseSafetensors(std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.safetensors");
  return 0;
}
