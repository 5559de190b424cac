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

/// A compiled function's arguments and results, resolved once when its program is compiled, so
/// a call fills its pointer array without a name lookup or an allocation. Each slot says where
/// its pointer comes from at call time (the staged minibatch may move when it is resized, and the
/// data-parallel gradient buffer is made after the first compile).
struct Trainer::Binding {
  enum class From : uint8_t {
    Fixed,     ///< `fixed`: a result buffer or a staging buffer of the program
    State,     ///< `state->bytes`
    Gradient,  ///< bucket_ + `offset` floats (train_apply's summed gradients, train_grad's results)
    Features,  ///< the staged features, read in place when they are f32 of the argument's size,
    Targets,   ///< else converted into `fixed` (likewise the float targets)
    Labels,    ///< the staged class labels copied into `fixed` (i32)
  };
  struct Slot {
    From from = From::Fixed;
    DType dtype = DType::F32;
    size_t elements = 0;
    size_t offset = 0;
    State *state = nullptr;
    void *fixed = nullptr;
  };
  CompiledFunction *code = nullptr;
  std::vector<Slot> slots;  ///< arguments, then results
  std::vector<void *> ptrs; ///< filled from `slots` on each call
  const void *loss = nullptr, *correct = nullptr; ///< the "loss" and "correct" results, or null
  DType lossType = DType::F32, correctType = DType::F32;
};

/// The program compiled for one minibatch size (the pipeline's Compilation, which owns the
/// optimized graphs and the loaded code), with its staging and result buffers.
struct Trainer::BatchProgram {
  int64_t batch = 0;
  std::shared_ptr<Compilation> compilation; ///< train_step (and its halves)
  const Module *module = nullptr; ///< the optimized graphs the code was compiled from
  /// eval and predict, compiled apart from the step on first use (Trainer::evaluation):
  /// together (Part::Infer) or each alone (Part::Eval, Part::Predict), one compilation each.
  std::vector<std::shared_ptr<Compilation>> inferCompilations;
  std::vector<const Module *> inferModules; ///< their optimized graphs
  uint8_t inferParts = 0; ///< bit 1 << Part of each installed
  /// train_step's input and target; without a train step, eval's (predict's input alone).
  const Argument *input = nullptr, *target = nullptr;
  size_t inputElements = 0, targetElements = 0; ///< their numElements() (0 when missing)
  CompiledFunction *train = nullptr, *eval = nullptr, *predict = nullptr;
  CompiledFunction *grad = nullptr, *apply = nullptr; ///< the step's halves (data-parallel only)
  /// Per function name: storage of every non-state argument and of every result.
  std::map<std::string, std::map<std::string, std::vector<uint8_t>>> io;
  std::vector<float> features, targets; ///< staged minibatch in float
  std::vector<int32_t> labels;
  /// The bound functions (code null where the program has no such function).
  Binding trainB, evalB, predictB, gradB, applyB;
};

} // namespace nnc
