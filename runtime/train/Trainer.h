//===- Trainer.h - Compile a model and train it: the runtime's C++ API ----------------------===//
//
// A Trainer compiles a .nn model (from a file or a string) through the pipeline
// (pipeline/Pipeline.h) into native train-step, eval and predict functions and owns the
// training state: parameters, optimizer slots, the step and random-number counters and
// batchnorm statistics, each in one buffer updated in place by the compiled step. Typical use:
//
//   auto trainer = Trainer::fromFile("examples/iris.nn", {});   // CompileSettings: overrides
//   if (!trainer) { report(trainer.message()); }
//   auto stats = (*trainer)->trainEpoch(data, epoch);          // shuffled minibatches
//   auto eval  = (*trainer)->evaluate(testData);               // loss and accuracy
//   (*trainer)->save("iris.safetensors");
//
// Shapes are static: the code is compiled for the minibatch size B. A final partial
// minibatch of r < B examples runs through functions compiled for batch r (compiled once, on
// first use, sharing the same state), so every example is trained on and evaluated exactly once
// per epoch. Losses over a data set are the mean of the per-batch losses weighted by their
// number of examples, which is the exact mean when the loss is a mean over the minibatch.
//
// Data-parallel training: given a Communicator of several processes (runtime/dist/), every
// process builds the same Trainer; each step, each process computes the gradients of its shard
// of the global minibatch (`batch` rows split over the processes), the gradients are summed
// over the processes in one allreduce, and every process applies the same update, so the state
// stays identical everywhere. trainEpoch, evaluate, step, save and load are then collective:
// every process calls them in the same order. See docs/DISTRIBUTED.md.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "frontend/TrainBlock.h"
#include "pipeline/Pipeline.h"
#include "runtime/dist/Communicator.h"
#include "runtime/data/Batching.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/HostTensor.h"
#include "runtime/data/Preprocess.h"
#include "support/Result.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

class CompiledFunction;

struct StepResult {
  double loss = 0;
  double correct = 0; ///< rows whose largest score is at the label (classifiers only)
};

struct EvalStats {
  double loss = 0;      ///< mean over the examples
  double accuracy = 0;  ///< fraction correct, when hasAccuracy
  bool hasAccuracy = false;
  size_t examples = 0;
  /// trainEpoch stopped early at its `stop` flag (in data-parallel training: that of any process).
  bool stopped = false;
};

/// What data-parallel training spent on communication (Trainer::communicationStats).
struct CommunicationStats {
  uint64_t steps = 0;       ///< data-parallel train steps taken
  uint64_t allreduces = 0;  ///< allreduce calls made by those steps (one per step)
  double seconds = 0;       ///< wall time inside those allreduce calls
  size_t bytesPerStep = 0;  ///< the size of the step's one buffer: gradients and counters
};

/// Called after each train step with (steps done in the epoch, steps in the epoch, running mean
/// loss, examples done).
using ProgressFn = std::function<void(size_t, size_t, double, size_t)>;

class Trainer {
public:
  ~Trainer();
  /// Compiles the model in the file at `path`; `settings` override its train block and choose
  /// the passes, threads and JIT options (pipeline/Pipeline.h).
  /// `comm` spans the processes of a data-parallel run; null or one process trains alone.
  static Result<std::unique_ptr<Trainer>> fromFile(const std::string &path, const CompileSettings &settings,
                                                   std::shared_ptr<Communicator> comm = nullptr);
  /// Compiles the model in `text`; `name` is used in diagnostics (`name:line:col: error: ...`).
  static Result<std::unique_ptr<Trainer>> fromSource(const std::string &name, std::string text,
                                                     const CompileSettings &settings,
                                                     std::shared_ptr<Communicator> comm = nullptr);
  /// Trains the program of `source` (a Compilation of a .nn program; its later stages are not
  /// used: each batch size gets its own, sharing the checked program). Its settings'
  /// stepsPerEpoch is the first number of steps per epoch compiled for, so a caller that knows
  /// the data set's size compiles the step once.
  static Result<std::unique_ptr<Trainer>> fromCompilation(std::unique_ptr<Compilation> source,
                                                          std::shared_ptr<Communicator> comm = nullptr);

  /// The processes this Trainer trains with (one, by default).
  Communicator &communicator() const { return *comm_; }
  /// True when it trains data-parallel over several processes.
  bool dataParallel() const { return comm_->size() > 1; }
  /// Time and calls spent in the gradient allreduce (data-parallel training only).
  const CommunicationStats &communicationStats() const { return commStats_; }

  /// The train block with the settings' overrides applied.
  const TrainConfig &config() const;
  const std::string &modelName() const { return modelName_; }
  int64_t batchSize() const { return config().batch; }
  bool isClassifier() const { return hasCorrect_; }
  /// Seconds spent compiling so far (lowering, autodiff, LLVM).
  double compileSeconds() const { return compileSeconds_; }

  /// Checks that `data` fits the model's input and target (per-example sizes, label kind).
  Result<void> checkData(const Dataset &data) const;
  /// Sets the number of train steps per epoch that learning-rate schedules count with (the
  /// default is 1 step per epoch until the first trainEpoch).
  /// Recompiles when the number changes; an Error only if that compile fails.
  Result<void> setStepsPerEpoch(int64_t steps);

  /// One train step on `rows` examples: features row-major, labels as i32 class indices or
  /// f32 targets as the model's target expects. Updates the state in place. Data-parallel:
  /// collective; the rows are this process's shard (any size, 0 included), the step is over
  /// the rows of all processes, and the result is their mean loss and total correct.
  Result<StepResult> step(std::span<const float> features, std::span<const int32_t> classLabels,
                          std::span<const float> targets, size_t rows);
  /// One epoch over `data` in the shuffled order of `epoch` (seeded); stops early, after the
  /// current step, when `stop` becomes true. Returns the mean loss and accuracy of the steps.
  Result<EvalStats> trainEpoch(const Dataset &data, uint64_t epoch, const ProgressFn &progress = {},
                               const std::atomic<bool> *stop = nullptr);
  /// Loss and accuracy over all of `data`, dropout off and batchnorm on running statistics.
  Result<EvalStats> evaluate(const Dataset &data);
  /// The model's first `output` for every example of `data`, row-major, as f32; `shape` gets
  /// [N, ...per-example shape].
  Result<std::vector<float>> predict(const Dataset &data, std::vector<int64_t> &shape);
  /// The name of the output predict() returns.
  const std::string &predictOutput() const { return predictOutput_; }

  /// Names of the trainable parameters, in declaration order.
  std::vector<std::string> parameterNames() const;
  /// Any state tensor by name (parameters, optimizer slots, counters); error if unknown.
  Result<HostTensor> tensor(const std::string &name) const;
  /// Replaces a state tensor; its dtype and shape must match.
  Result<void> setTensor(const std::string &name, const HostTensor &value);
  /// Train steps taken so far (the state's step counter).
  int64_t stepCount() const;

  /// The map that prepared the training features (normalization), kept with the checkpoint so
  /// that eval and predict prepare new data the same way. Unset until given or loaded.
  void setFeatureTransform(FeatureTransform map) { featureMap_ = std::move(map); }
  const std::optional<FeatureTransform> &featureTransform() const { return featureMap_; }

  /// Writes all state as a safetensors checkpoint, atomically.
  Result<void> save(const std::string &path, int64_t epochsDone = 0) const;
  /// Loads a checkpoint written by save() for the same model: every state tensor must be
  /// present with the same dtype and shape. Returns the epochs done recorded in it.
  Result<int64_t> load(const std::string &path);

private:
  struct State; // one state buffer
  struct BatchProgram; // the program compiled for one minibatch size
  Trainer() = default;
  /// The minibatch size this process computes: `batch`, or its shard of it.
  int64_t localBatch() const;
  Result<BatchProgram *> batchProgram(int64_t batch);
  Result<void> compileBatchProgram(int64_t batch, BatchProgram &v);
  Result<void> initState(const class Function &fn);
  Result<void> call(BatchProgram &v, CompiledFunction *fn, const std::string &which);
  Result<size_t> stage(BatchProgram &v, const Dataset &data, const class Batcher &batcher, size_t b,
                       Shard shard);
  /// Loss (weighted by rows) and correct rows summed over the minibatches run so far.
  struct BatchTotals {
    double lossSum = 0, correct = 0;
    size_t examples = 0;
  };
  /// Runs `train_step` (when `training`) or `eval` on minibatch `b` of `batcher` and adds its
  /// results to `totals`.
  Result<void> runBatch(const Dataset &data, const class Batcher &batcher, size_t b, bool training,
                        BatchTotals &totals, Shard shard);
  Result<void> loadCheckpoint(const struct Checkpoint &ckpt, const std::string &path);
  Result<void> saveLocal(const std::string &path, int64_t epochsDone) const;

  // Data-parallel training (DataParallel.cpp).
  /// After the first compile: the gradient buffer's layout, and rank 0's state everywhere.
  Result<void> setUpDataParallel();
  /// The step's exchange: this process's gradients (from `v`, staged with `rows` rows; none
  /// when `v` is null or `local` failed) summed with all others', then the update. `stopHere`
  /// asks every process to stop after this step; `stopAll` says whether any did.
  Result<StepResult> exchangeStep(BatchProgram *v, size_t rows, Result<void> local, bool stopHere, bool &stopAll);
  Result<EvalStats> trainEpochDataParallel(const Dataset &data, uint64_t epoch, const ProgressFn &progress,
                                           const std::atomic<bool> *stop);
  Result<EvalStats> evaluateDataParallel(const Dataset &data);
  /// Batchnorm running statistics: the mean over the processes, so all hold the same.
  void averageRunningStats();
  /// Offsets the random-number counter by this process's rank (sign +1), or back (-1).
  void shiftRngCounter(int sign);
  /// The mean loss and accuracy of `totals`.
  EvalStats statsOf(const BatchTotals &totals) const;

  /// The checked program and the run's settings; each batch size derives its compilation.
  std::unique_ptr<Compilation> source_;
  std::string modelName_;
  bool hasCorrect_ = false;
  std::string predictOutput_;
  int64_t stepsPerEpoch_ = 1;
  double compileSeconds_ = 0;
  std::map<std::string, std::unique_ptr<State>> state_;
  std::vector<std::string> stateOrder_;
  std::vector<std::string> params_;
  std::map<int64_t, std::unique_ptr<BatchProgram>> programs_;
  std::optional<FeatureTransform> featureMap_;

  std::shared_ptr<Communicator> comm_;
  CommunicationStats commStats_;
  /// The one buffer a data-parallel step sums: each parameter's gradient at its offset (in
  /// floats, 16-aligned), then the step's counters from gradTail_.
  std::vector<float> bucket_;
  std::map<std::string, size_t> gradOffset_;
  size_t gradTail_ = 0;
  std::vector<std::string> runningStats_; ///< float state train_grad updates (batchnorm)
};

} // namespace nnc
