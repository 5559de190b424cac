//===- FuzzIdx.cpp - libFuzzer target: IDX files, plain or gzip-compressed -------------------===//
//
// readIdx takes a path (zlib decompresses as it reads), so each input is written to a file of
// this process first; the file's name has no .gz: zlib recognizes gzip by its magic bytes.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/IdxLoader.h"

#include <cstdio>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::string path = "/tmp/nnc-fuzz-idx-" + std::to_string(::getpid());
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  (void)nnc::readIdx(path);
  return 0;
}
