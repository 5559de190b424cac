//===- Pipeline.h - A program from source to any stage, each stage computed once ------------===//
//
// The one place that chains nnc's stages: source text -> syntax tree (checked, with the train
// block resolved) -> the model's graph -> the training graphs (`train_step`, `eval`, `predict`)
// -> the optimized graphs -> the kernel plan, LLVM IR, assembly, or a loaded Executable. A
// Compilation computes a stage the first time it is asked for and keeps it, so a later stage
// starts from the kept one: `nnc --emit=opt --stats` lowers, differentiates and plans once, and
// its compile-time line comes from the same Executable a Trainer would run. The driver's
// commands and the Trainer both take their programs from here; CompileSettings is everything a
// run may ask of it.
//
// Errors are values (Result): diagnostics rendered with file, line and caret, or a message for
// failures with no place in the source (a bad flag, an internal error).
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/Jit.h"
#include "codegen/KernelPlan.h"
#include "frontend/AST.h"
#include "frontend/Lower.h"
#include "frontend/TrainBlock.h"
#include "ir/Graph.h"
#include "passes/optimize/PassManager.h"
#include "support/Diagnostic.h"
#include "support/Result.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

class Executable;

/// Everything a run asks of the pipeline: which model, what overrides the train block, which
/// passes run and what they print, and how the code is generated.
struct CompileSettings {
  std::string modelName;  ///< which model of the file; empty = the only one
  TrainOverrides train;   ///< batch, seed, optimizer, learning rate, epochs
  /// Train steps per epoch, which learning-rate schedules count with (the data set's size is
  /// not known before training: 1 until the Trainer knows it).
  int64_t stepsPerEpoch = 1;

  /// Build only these functions of the training graphs (`train_step`, `train_grad`,
  /// `train_apply`, `eval`, `predict`); empty: all. A Trainer compiles the train step and the
  /// evaluation functions apart, so training does not wait for eval and predict.
  std::vector<std::string> functions;

  /// Also compile the train step's two halves, `train_grad` and `train_apply`, which
  /// data-parallel training runs with a gradient allreduce between them (docs/DISTRIBUTED.md).
  bool splitTrainStep = false;

  /// Run the graph passes (simplify, stabilize, CSE, DCE) before code generation.
  bool optimize = true;
  std::vector<std::string> passes;         ///< exactly these graph passes; empty = the default pipeline
  std::vector<std::string> disabledPasses; ///< graph or code generation passes to skip
  std::vector<std::string> dumpAfter;      ///< print the module after these graph passes
  bool printAfterAll = false;              ///< ... or after every graph pass
  /// Receives the printed modules of dumpAfter and printAfterAll.
  std::function<void(const std::string &)> dump;
  /// The caller prints the per-pass statistics (Compilation::passReport) and compile times.
  bool stats = false;

  /// Threads for the compiled code's large matrix products. Results do not depend on it: each
  /// thread computes whole rows.
  int threads = 1;
  JitOptions jit;
  bool useObjectCache = true; ///< reuse machine code from the object cache (objectCacheDir())
  /// Time each kernel of the compiled functions (runtime/exec/Profile.h's kernelProfileReport).
  bool profile = false;

  /// True when a flag asks for the graph passes, which then run even when no later stage is
  /// asked for.
  bool asksForPasses() const {
    return !passes.empty() || !disabledPasses.empty() || !dumpAfter.empty() || printAfterAll || stats;
  }
};

/// The pass names in `settings` that name no graph pass (and, for disabledPasses, no code
/// generation pass), as an Error: "unknown pass 'x' (--passes=list shows the pipeline)".
Result<void> checkPassNames(const CompileSettings &settings);

/// The stages a program goes through, in order (`nnc --emit=` names them).
enum class CompileStage { Ast, ModelGraph, TrainingGraphs, OptimizedGraphs, KernelPlan, LlvmIr, Assembly, Executable };

/// A program on its way through the stages. Create it from .nn source (checked and with the
/// train block resolved at once) or from textual IR (which starts at the model graph); ask for
/// any later stage, computed on first use and kept.
class Compilation {
public:
  ~Compilation();
  /// Parses and checks `text` (named `name` in diagnostics) and resolves its train block with
  /// the overrides of `settings`.
  static Result<std::unique_ptr<Compilation>> fromSource(std::string name, std::string text,
                                                         CompileSettings settings);
  /// fromSource on the contents of the file at `path`.
  static Result<std::unique_ptr<Compilation>> fromFile(const std::string &path, CompileSettings settings);
  /// Parses and verifies textual IR; it is the model graph, and the graph passes apply to it.
  static Result<std::unique_ptr<Compilation>> fromIrText(std::string name, std::string text,
                                                         CompileSettings settings);
  /// The same checked program compiled for another minibatch size and initial number of steps
  /// per epoch; the syntax tree and train block are shared, not read again. `splitTrainStep`
  /// also builds the step's halves (CompileSettings::splitTrainStep); `functions`, when not
  /// empty, are the only training-graph functions built (CompileSettings::functions).
  std::unique_ptr<Compilation> withBatch(int64_t batch, int64_t stepsPerEpoch, bool splitTrainStep = false,
                                         std::vector<std::string> functions = {}) const;

  const CompileSettings &settings() const { return settings_; }
  /// True for a .nn program; false for textual IR, which has no syntax tree or train block.
  bool hasProgram() const { return front_ != nullptr; }
  /// Rendered warnings of the frontend (empty when none); errors fail the creation instead.
  const std::string &warnings() const;
  /// `message` as an error at `loc` of the source, rendered with the source line and a caret
  /// (`file:line:col: error: ...`); without a location or a .nn source, "error: ..." alone.
  std::string renderError(SourceLoc loc, const std::string &message) const;
  /// CompileStage::Ast: the checked syntax tree. Only with hasProgram().
  const Program &ast() const;
  /// The train block, resolved, with the settings' overrides. Only with hasProgram().
  const TrainConfig &trainConfig() const;
  /// The minibatch size B the graphs are built for.
  int64_t batch() const { return batch_; }

  /// CompileStage::ModelGraph: the model lowered in Train mode as Function `forward`, verified.
  Result<const Module *> modelGraph();
  /// CompileStage::TrainingGraphs: `train_step`, `eval` and `predict`, verified.
  Result<const Module *> trainingGraphs();
  /// What lowering learned about the model (its name, whether it classifies); set by
  /// trainingGraphs().
  const LoweredModel &model() const { return model_; }
  /// An Error of a later stage run on this compilation's graphs (the gradient check, the
  /// interpreter) rendered against its source: located diagnostics become
  /// "file:line:col: error: ..." with the source line and a caret. Other errors are returned
  /// as they are.
  Error render(const Error &error) const;
  /// CompileStage::OptimizedGraphs: the training graphs (a .nn program) or the model graph (textual
  /// IR) after the graph passes of the settings, or unchanged when settings().optimize is off.
  Result<const Module *> optimizedGraphs();
  /// What the graph passes did, pass by pass; empty before optimizedGraphs().
  const PipelineReport &passReport() const { return report_; }
  /// CompileStage::KernelPlan: per function of the optimized graphs, in module order, code
  /// generation's plan (codegen/KernelPlan.h), made without building any LLVM.
  Result<const std::vector<KernelPlan> *> kernelPlan();
  /// CompileStage::LlvmIr and CompileStage::Assembly: the optimized LLVM IR or the machine code as text.
  Result<std::string> llvmText(bool assembly);
  /// CompileStage::Executable: every optimized function compiled and loaded; owned by the
  /// Compilation. A module that needs more memory than the machine allows is refused first.
  Result<Executable *> executable();

private:
  struct Front; // the checked program, shared by the compilations of one source
  Compilation() = default;
  Error errorFrom(const DiagnosticEngine &diags) const;
  /// An Error, located at the batch size's origin, when running the optimized graphs needs
  /// more memory than memoryLimit() (runtime/exec/Memory.h) allows.
  Result<void> checkMemory();

  std::shared_ptr<const Front> front_;
  CompileSettings settings_;
  int64_t batch_ = 0;
  std::optional<Module> modelGraph_, trainingGraphs_, optimizedGraphs_;
  LoweredModel model_;
  PipelineReport report_;
  std::optional<std::vector<KernelPlan>> kernelPlan_;
  std::optional<std::string> llvmIr_, assembly_;
  std::unique_ptr<Executable> executable_;
};

} // namespace nnc
