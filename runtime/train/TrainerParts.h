//===- TrainerParts.h - The Trainer's state and compiled programs, for its source files -----===//
//
// Private to runtime/train: Trainer.cpp and DataParallel.cpp both use these.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "pipeline/Pipeline.h"
#include "runtime/train/Trainer.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// One state tensor in the layout the compiled code reads and writes.
struct Trainer::State {
  TensorType type;
  std::vector<uint8_t> bytes;
};

/// The program compiled for one minibatch size (the pipeline's Compilation, which owns the
/// optimized graphs and the loaded code), with its staging and result buffers.
struct Trainer::BatchProgram {
  int64_t batch = 0;
  std::unique_ptr<Compilation> compilation;
  const Module *module = nullptr; ///< the optimized graphs the code was compiled from
  CompiledFunction *train = nullptr, *eval = nullptr, *predict = nullptr;
  CompiledFunction *grad = nullptr, *apply = nullptr; ///< the step's halves (data-parallel only)
  /// Per function name: storage of every non-state argument and of every result.
  std::map<std::string, std::map<std::string, std::vector<uint8_t>>> io;
  std::vector<float> features, targets; ///< staged minibatch in float
  std::vector<int32_t> labels;
};

} // namespace nnc
