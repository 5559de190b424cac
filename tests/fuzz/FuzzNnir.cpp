//===- FuzzNnir.cpp - libFuzzer target: textual IR through the parser, verifier and passes ---===//
#include "pipeline/Pipeline.h"

#include <string>

namespace {

bool small(const nnc::Module &m) {
  for (const nnc::Function &fn : m.functions())
    for (const nnc::Node &n : fn.nodes())
      if (n.type.numElements() > (1 << 16))
        return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnc::CompileSettings settings;
  settings.useObjectCache = false;
  auto c = nnc::Compilation::fromIrText("fuzz.nnir", std::string(reinterpret_cast<const char *>(data), size), settings);
  if (!c)
    return 0;
  auto graph = (*c)->modelGraph();
  if (!graph || !small(**graph))
    return 0;
  (void)(*c)->optimizedGraphs();
  return 0;
}
