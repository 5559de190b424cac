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
// The train step and the evaluation functions (eval, predict) are compiled apart: training
// never waits for eval and predict, which compile on first use or, after prefetchEvaluation,
// on another thread while training runs. A Trainer made to run a trained model
// (TrainerUse::Evaluate or Predict) compiles only that function, never the train step unless it
// is asked to train:
//
//   auto model = Trainer::fromFile("examples/iris.nn", {}, nullptr, TrainerUse::Evaluate);
//   (*model)->loadParameters("iris.safetensors");               // eval alone was compiled
//   auto eval  = (*model)->evaluate(testData);
//   (*model)->compiledFunctions();                               // {"eval": {32}}
//
// Shapes are static: the code is compiled for the minibatch size B. A final partial
// minibatch of r < B examples runs through functions compiled for batch r (compiled once, on
// another thread while the epoch's full minibatches run, sharing the same state), so every
// example is trained on and evaluated exactly once per epoch. Losses over a data set are the mean of the per-batch losses weighted by their
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
#include "runtime/exec/Executable.h"
#include "runtime/data/Batching.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/HostTensor.h"
#include "runtime/data/Preprocess.h"
#include "runtime/records/Safetensors.h"
#include "support/Result.h"

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
  /// trainEpoch: false when the epoch was stopped before its last step (by its `stop` flag;
  /// in data-parallel training, that of any process).
  bool complete = true;
};

/// What data-parallel training spent on communication (Trainer::communicationStats).
struct CommunicationStats {
  uint64_t steps = 0;       ///< data-parallel train steps taken
  uint64_t allreduces = 0;  ///< allreduce calls made by those steps (one per step)
  double seconds = 0;       ///< wall time inside those allreduce calls
  size_t bytesPerStep = 0;  ///< the size of the step's one buffer: gradients and counters
};

/// Where a run stands between two steps: with the state tensors, all a checkpoint needs to
/// continue the run exactly as if it had not stopped. The shuffle order of an epoch is a function
/// of (seed, epoch) and the dropout stream of (seed, `rng.counter`), so no generator state is
/// kept beyond these counters.
struct RunPosition {
  int64_t epoch = 0;       ///< the epoch in progress, 0-based (= epochs completed)
  int64_t stepInEpoch = 0; ///< steps of that epoch already taken
  /// The sums the epoch's reported loss and accuracy are made of, over those steps.
  double lossSum = 0, correct = 0;
  int64_t examples = 0;
};

/// What to do when a train step produces a non-finite loss or state.
enum class NonFinitePolicy {
  Stop, ///< restore the state before the step and fail with the op that went non-finite
  Skip, ///< restore the state before the step, skip that minibatch, go on
};

/// What a Trainer is made for, and so what it compiles (fromFile, fromSource, fromCompilation).
enum class TrainerUse : uint8_t {
  /// Training: the train step for the minibatch size is compiled before the Trainer is returned;
  /// eval and predict, together, on first use (or prefetchEvaluation).
  Train,
  /// Running a trained model: only `eval` (Evaluate) or only `predict` (Predict) is compiled
  /// before the Trainer is returned, for the minibatch size; evaluate() and predict() compile
  /// their own function alone, each on first use. The train step is compiled on first use only:
  /// by step, trainEpoch or load (which restores optimizer slots and counters the train step
  /// makes). Until then the state is what eval and predict read (parameters, running
  /// statistics), which loadParameters fills, and save() writes only that.
  Evaluate,
  Predict,
};

/// Called after each train step with (the step's 1-based number in the run, the epoch, the
/// step's loss).
using StepFn = std::function<void(int64_t, int64_t, double)>;

/// Called after each train step with (steps done in the epoch, steps in the epoch, running mean
/// loss, examples done).
using ProgressFn = std::function<void(size_t, size_t, double, size_t)>;

class Trainer {
public:
  ~Trainer();
  /// Compiles the model in the file at `path`; `settings` override its train block and choose
  /// the passes, threads and JIT options (pipeline/Pipeline.h).
  /// `comm` spans the processes of a data-parallel run; null or one process trains alone.
  /// `use`: what to compile first (TrainerUse).
  static Result<std::unique_ptr<Trainer>> fromFile(const std::string &path, const CompileSettings &settings,
                                                   std::shared_ptr<Communicator> comm = nullptr,
                                                   TrainerUse use = TrainerUse::Train);
  /// Compiles the model in `text`; `name` is used in diagnostics (`name:line:col: error: ...`).
  static Result<std::unique_ptr<Trainer>> fromSource(const std::string &name, std::string text,
                                                     const CompileSettings &settings,
                                                     std::shared_ptr<Communicator> comm = nullptr,
                                                     TrainerUse use = TrainerUse::Train);
  /// Trains the program of `source` (a Compilation of a .nn program; its later stages are not
  /// used: each batch size gets its own, sharing the checked program). Its settings'
  /// stepsPerEpoch is the schedule's steps per epoch until trainEpoch or setStepsPerEpoch sets
  /// another (which changes a run-time value, not the compiled code).
  static Result<std::unique_ptr<Trainer>> fromCompilation(std::unique_ptr<Compilation> source,
                                                          std::shared_ptr<Communicator> comm = nullptr,
                                                          TrainerUse use = TrainerUse::Train);
  /// What this Trainer was made for.
  TrainerUse use() const { return use_; }

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
  /// Seconds the training thread spent compiling so far (lowering, autodiff, LLVM), or
  /// waiting for a compile in the background to finish.
  double compileSeconds() const { return compileSeconds_; }
  /// Where the compiles so far spent their time, summed over every program compiled (one per
  /// minibatch size).
  struct CompileSplit {
    int compiles = 0;
    double graphsMs = 0; ///< parse, lower, autodiff, optimizer, graph passes
    double jitMs = 0;    ///< Executable::compile: emit, optimize, machine code or cache, load
    /// Of graphsMs + jitMs, what ran in the background (the final partial minibatch's program,
    /// compiled while the full ones train), and how long training then waited for it.
    double backgroundMs = 0, waitMs = 0;
    CompileTimes jit;    ///< its phases, summed (fromCache: every compile's object came from the cache)
  };
  const CompileSplit &compileSplit() const { return compileSplit_; }
  /// The functions compiled so far (train_step, its halves train_grad and train_apply, eval,
  /// predict), each with the minibatch sizes (rows) it was compiled for, in increasing order:
  /// what the loaded native code holds, not what was asked for.
  std::map<std::string, std::vector<int64_t>> compiledFunctions() const;

  /// Whether a final partial minibatch's program is compiled on another thread while the full
  /// minibatches train (on by default); off, it is compiled when first needed. The compiled
  /// code and so every result are the same either way.
  void setBackgroundCompile(bool on) { backgroundCompile_ = on; }
  /// eval and predict are compiled apart from the train step, when first used; this starts
  /// compiling them for the minibatch size on another thread now, so that training does not
  /// wait for them and the first evaluate waits less (nnc train does so when it has test data).
  /// (With TrainerUse::Evaluate or Predict: eval alone.)
  void prefetchEvaluation();

  /// Checks that `data` fits the model's input and target (per-example sizes, label kind).
  Result<void> checkData(const Dataset &data) const;
  /// Sets the number of train steps per epoch that learning-rate schedules count with (the
  /// default is the settings' stepsPerEpoch until the first trainEpoch sets the data set's).
  /// It is a run-time value of the compiled step (the state `schedule.steps_per_epoch`):
  /// nothing is recompiled.
  Result<void> setStepsPerEpoch(int64_t steps);
  int64_t stepsPerEpoch() const { return stepsPerEpoch_; }

  /// One train step on `rows` examples: features row-major, labels as i32 class indices or
  /// f32 targets as the model's target expects. Updates the state in place. Data-parallel:
  /// collective; the rows are this process's shard (any size, 0 included), the step is over
  /// the rows of all processes, and the result is their mean loss and total correct.
  Result<StepResult> step(std::span<const float> features, std::span<const int32_t> classLabels,
                          std::span<const float> targets, size_t rows);
  /// One epoch over `data` in the shuffled order of `epoch` (seeded); stops early, after the
  /// current step, when `stop` becomes true. Returns the mean loss and accuracy of the steps.
  /// When the run's position is inside `epoch` (a resumed checkpoint, or an earlier call that
  /// was stopped), the epoch continues from there and the stats cover the whole epoch.
  ///
  /// Every step's loss is checked to be finite, and every kGuardInterval steps the whole state
  /// (kept then as the last good state). On a non-finite value the steps since the last good
  /// state are replayed to find the first bad one, the state before it is restored, and that
  /// minibatch is evaluated by the reference interpreter with a check after every op: the Error
  /// names the first op that produced a non-finite value and its source location. With
  /// NonFinitePolicy::Skip the minibatch is skipped instead (a warning is printed to stderr).
  /// Data-parallel: the position is the same on every process and is kept the same way; the
  /// loss checked is the step's global one, the state test is agreed, the replay is collective
  /// and rank 0 runs the interpreter (on the whole global minibatch) and sends its finding to
  /// all, so every process returns the same Error (or skips the same minibatch).
  Result<EvalStats> trainEpoch(const Dataset &data, uint64_t epoch, const ProgressFn &progress = {},
                               const std::atomic<bool> *stop = nullptr);
  /// The epoch of position() continued to its end (see above).
  Result<EvalStats> trainEpoch(const Dataset &data, const ProgressFn &progress = {},
                               const std::atomic<bool> *stop = nullptr) {
    return trainEpoch(data, static_cast<uint64_t>(position_.epoch), progress, stop);
  }
  static constexpr int64_t kGuardInterval = 32;
  void setNonFinitePolicy(NonFinitePolicy p) { nonFinite_ = p; }
  /// Minibatches skipped so far under NonFinitePolicy::Skip.
  size_t skippedSteps() const { return skipped_; }
  /// Called after every train step of trainEpoch (per-step loss logs).
  void setStepObserver(StepFn fn) { onStep_ = std::move(fn); }
  /// Where the run stands; load() restores it from a checkpoint.
  const RunPosition &position() const { return position_; }
  void setPosition(const RunPosition &p) { position_ = p; }
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

  /// Writes all state and the run's position as a safetensors checkpoint, atomically, with
  /// `metadata` added (the run's settings; docs/TRAINING.md lists the keys). Refuses to write a
  /// state with a non-finite value, so a diverged run never replaces a good checkpoint.
  /// Data-parallel: rank 0 writes; every process returns the same result.
  Result<void> save(const std::string &path, const std::map<std::string, std::string> &metadata = {}) const;
  /// Loads a checkpoint written by save() for the same model to continue its run: every state
  /// tensor (parameters, optimizer slots, counters) must be present with the same dtype and
  /// shape; the run position and feature map are restored. Returns the checkpoint's metadata.
  /// Data-parallel: rank 0 reads the file and broadcasts its bytes; every process checks and
  /// restores the same checkpoint (likewise loadParameters).
  Result<std::map<std::string, std::string>> load(const std::string &path);
  /// Loads only the model's own state (parameters and running statistics: the state `eval`
  /// reads) from a checkpoint, to start a new run from trained weights or to evaluate them;
  /// the optimizer's slots and the counters keep their initial values. The feature map is
  /// restored when the checkpoint has one.
  Result<std::map<std::string, std::string>> loadParameters(const std::string &path);
  /// Whether load() and loadParameters() accept a checkpoint with tensors the model does not
  /// have (ignoring them); by default such a checkpoint is an Error.
  void setAllowUnknownTensors(bool allow) { allowUnknownTensors_ = allow; }
  /// True when every state tensor holds only finite values.
  bool stateIsFinite() const;

private:
  struct State; // one state buffer
  struct BatchProgram; // the program compiled for one minibatch size
  struct Binding;      // a compiled function's arguments and results, resolved once
  Trainer() = default;
  /// The minibatch size this process computes: `batch`, or its shard of it.
  int64_t localBatch() const;
  /// What a compilation of one batch size holds: the train step (and its halves), eval and
  /// predict together (Infer, for training runs), or eval or predict alone.
  enum class Part : uint8_t { Train, Infer, Eval, Predict };
  /// The Part evaluate() and predict() compile: Infer for TrainerUse::Train, else their own.
  Part evalPart() const { return use_ == TrainerUse::Train ? Part::Infer : Part::Eval; }
  Part predictPart() const { return use_ == TrainerUse::Train ? Part::Infer : Part::Predict; }
  /// Whether `v` holds the code of `part` (Infer: eval and predict, however compiled).
  static bool hasPart(const BatchProgram &v, Part part);
  /// The train step for the minibatch size, compiled on first use, and (data-parallel) the
  /// gradient buffer laid out. Collective: every process calls it at the same point.
  Result<void> trainStep();
  /// The program for minibatches of `batch` rows: its train step compiled before, compiled in
  /// the background (waited for), or compiled now.
  Result<BatchProgram *> batchProgram(int64_t batch);
  /// The program for `batch` rows with the functions of `part` (Infer, Eval or Predict),
  /// compiled (or waited for) on first use; its train step may be missing.
  Result<BatchProgram *> evaluation(int64_t batch, Part part);
  /// The program of `batch` rows, made empty when there is none.
  BatchProgram &programSlot(int64_t batch);
  /// checkData for evaluate: against eval when there is no train step (compiled first if need be).
  Result<void> checkEvalData(const Dataset &data);
  /// The program of the minibatch size (with what the Trainer's use compiles first).
  BatchProgram &mainProgram() const;
  /// Records what the model is (name, classifier, predict's output) from `c`.
  void learnModel(Compilation &c);
  /// The Compilation of `part` for `batch` rows.
  std::unique_ptr<Compilation> compilationFor(int64_t batch, Part part) const;
  /// The compiled `part` for `batch`: from the background (waited for), or compiled now.
  struct CompiledProgram;
  Result<CompiledProgram> takeCompiled(int64_t batch, Part part);
  /// What compiling one batch size makes before it is installed: the Compilation with its
  /// Executable, and the time it took.
  struct CompiledProgram {
    std::shared_ptr<Compilation> compilation;
    double graphsMs = 0, jitMs = 0, seconds = 0;
    bool background = false;
  };
  /// Compiles `compilation`'s graphs and code. Reads nothing of a Trainer: it runs on any thread.
  static Result<CompiledProgram> compileProgram(std::unique_ptr<Compilation> compilation);
  /// Makes `compiled` the program `v`: state, buffers, bindings (on the training thread).
  Result<void> installBatchProgram(CompiledProgram compiled, BatchProgram &v);
  /// Without a train step in `v`: its input and target from eval (predict's input), and the
  /// parameters' names, when not known yet, from eval or predict.
  void setInferenceIO(BatchProgram &v);
  /// Installs the functions of `part` from `compiled` in `v`.
  Result<void> installEvaluation(CompiledProgram compiled, BatchProgram &v, Part part);
  /// Adds a compile's times to compileSplit_; its Executable is `exe`.
  void account(const CompiledProgram &compiled, const class Executable &exe);
  /// Creates the state `fn` reads and its argument and result buffers in `v`.
  Result<void> addBuffers(const class Function &fn, BatchProgram &v);
  /// `name` among the functions of `v` (train step, eval, predict), or null.
  static const class Function *functionOf(const BatchProgram &v, const std::string &name);
  /// Starts compiling the program for `batch` rows on another thread, unless it exists or is
  /// under way; batchProgram(batch) waits for it. The compiled code is the same as batchProgram
  /// would compile, so results do not depend on it.
  void prefetchBatchProgram(int64_t batch, Part part = Part::Train);
  /// prefetchBatchProgram for the final partial minibatch of a data set of `examples` (this
  /// process's shard of it), when there is one.
  void prefetchTail(size_t examples, Part part = Part::Train);
  Result<void> initState(const class Function &fn);
  /// Writes stepsPerEpoch_ and the train block's epochs into the schedule's state
  /// (kStepsPerEpoch, kScheduleEpochs), where the step has them.
  void writeScheduleSettings();
  /// Resolves the arguments and results of `which` in `v` (after its buffers are made).
  void bind(BatchProgram &v, Binding &b, CompiledFunction *code, const std::string &which);
  /// Sets v.inputElements and v.targetElements from v.input and v.target.
  static void countIO(BatchProgram &v);
  /// The minibatch a call reads: the program's staging buffers, or step()'s arguments.
  struct Rows {
    std::span<const float> features, targets;
    std::span<const int32_t> labels;
  };
  /// Runs a bound function: arguments from the staged minibatch and the state, results into
  /// the program's result buffers. Allocates nothing.
  void call(BatchProgram &v, Binding &b);
  /// The same with the minibatch `rows` (f32 features of the argument's size read in place).
  void call(Binding &b, const Rows &rows);
  Result<size_t> stage(BatchProgram &v, const Dataset &data, const class Batcher &batcher, size_t b,
                       Shard shard);
  /// Loss (weighted by rows) and correct rows summed over the minibatches run so far.
  struct BatchTotals {
    double lossSum = 0, correct = 0;
    size_t examples = 0;
  };
  /// Runs `train_step` (when `training`) or `eval` on minibatch `b` of `batcher` and adds its
  /// results to `totals`.
  /// Returns the minibatch's loss; a non-finite loss is not added to `totals`. `shard`: the rows of
  /// the minibatch this process runs (all of them on one process).
  Result<double> runBatch(const Dataset &data, const class Batcher &batcher, size_t b, bool training,
                          BatchTotals &totals, Shard shard);
  /// save() on this process alone.
  Result<void> saveLocal(const std::string &path, const std::map<std::string, std::string> &metadata) const;
  /// The checkpoint's bytes: read here, or, data-parallel, read by rank 0 and sent to all.
  Result<struct Checkpoint> readCheckpointBytes(const std::string &path) const;

  // Data-parallel training (DataParallel.cpp).
  /// After the first compile: the gradient buffer's layout, and rank 0's state everywhere.
  Result<void> setUpDataParallel();
  /// The step's exchange: this process's gradients (from `v`, staged with `rows` rows; none
  /// when `v` is null or `local` failed) summed with all others', then the update. `stopHere`
  /// asks every process to stop after this step; `stopAll` says whether any did.
  Result<StepResult> exchangeStep(BatchProgram *v, size_t rows, Result<void> local, bool stopHere, bool &stopAll);
  /// One data-parallel step on minibatch `s` of `batcher`: this process's shard staged, then
  /// exchangeStep.
  Result<StepResult> dataParallelStep(const Dataset &data, const class Batcher &batcher, size_t s, bool stopHere,
                                      bool &stopAll);
  Result<EvalStats> trainEpochDataParallel(const Dataset &data, uint64_t epoch, const ProgressFn &progress,
                                           const std::atomic<bool> *stop);
  Result<EvalStats> evaluateDataParallel(const Dataset &data);
  /// Batchnorm running statistics: the mean over the processes, so all hold the same.
  void averageRunningStats();
  /// Offsets the random-number counter by this process's rank (sign +1), or back (-1).
  void shiftRngCounter(int sign);
  /// The mean loss and accuracy of `totals`.
  EvalStats statsOf(const BatchTotals &totals) const;
  /// Reads checkpoint `path` and checks that it is of this model and that `names` are in it
  /// with this model's dtypes and shapes.
  Result<Checkpoint> readCheckpoint(const std::string &path, const std::vector<std::string> &names) const;
  /// The names of the state tensors `eval` reads.
  Result<std::vector<std::string>> modelStateNames() const;
  using StateCopy = std::vector<std::vector<uint8_t>>; ///< in stateOrder_
  StateCopy copyState() const;
  void copyStateInto(StateCopy &copy) const;
  void restoreState(const StateCopy &copy);
  /// After a non-finite value at step `badStep` of the epoch (or in the state checked after
  /// it): replays from `good` (the state before step `goodStep`, whose epoch sums were
  /// `totals`) to find the first bad step; leaves the state before it and `totals` of the steps
  /// before it, and returns that step's index and what went wrong.
  Result<std::pair<size_t, std::string>> findNonFinite(const Dataset &data, const class Batcher &batcher,
                                                       const StateCopy &good, size_t goodStep, size_t badStep,
                                                       BatchTotals &totals);
  /// The first op of train_step that produces a non-finite value on minibatch `b` from the
  /// current state, as "file:line:col: 'op' produced NaN" (the interpreter's replay).
  std::string firstNonFiniteOp(const Dataset &data, const class Batcher &batcher, size_t b);

  /// The checked program and the run's settings; each batch size derives its compilation.
  std::unique_ptr<Compilation> source_;
  TrainerUse use_ = TrainerUse::Train;
  /// TrainerUse::Evaluate, Predict: the train step's state that eval and predict do not read (the
  /// Train-mode model graph's state, the step counter), which a checkpoint of a training run
  /// holds; with the parameters' optimizer slots, it is not unknown to readCheckpoint.
  std::set<std::string> trainState_;
  bool allowUnknownTensors_ = false;
  std::string modelName_;
  bool hasCorrect_ = false;
  int64_t labelsPerExample_ = 1; ///< class labels per example (a label per time step: T)
  std::string predictOutput_;
  int64_t stepsPerEpoch_ = 1;
  double compileSeconds_ = 0;
  CompileSplit compileSplit_;
  std::map<std::string, std::unique_ptr<State>> state_;
  std::vector<std::string> stateOrder_;
  std::vector<std::string> params_;
  std::map<int64_t, std::unique_ptr<BatchProgram>> programs_;
  /// Programs compiling in the background (prefetchBatchProgram), by batch size.
  std::map<std::pair<int64_t, Part>, std::future<Result<CompiledProgram>>> pending_;
  bool backgroundCompile_ = true;
  std::optional<FeatureTransform> featureMap_;
  RunPosition position_;
  NonFinitePolicy nonFinite_ = NonFinitePolicy::Stop;
  size_t skipped_ = 0; ///< minibatches skipped for a non-finite value
  StepFn onStep_;

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
