//===- TrainCommand.cpp - nnc train, nnc eval and nnc predict -------------------------------===//
//
// `nnc train model.nn` compiles the model's train step and trains it on a data set, printing
// per-epoch loss and accuracy, with a progress bar on a terminal. Flags override the `train`
// block. `nnc eval` and `nnc predict` run a trained checkpoint on data.
//
// Under `mpirun -np N` (built with MPI) the commands run data-parallel (docs/DISTRIBUTED.md):
// every process runs the same command; only rank 0 prints, logs, plots and writes files. Each
// step that can fail is agreed between the processes (Communicator::agree), so an error on one
// stops all of them and rank 0 prints it; Ctrl-C, or SIGTERM, which mpirun sends every process
// when it is interrupted, stops all of them after the same step.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/DataSource.h"
#include "runtime/records/LearningCurves.h"
#include "runtime/data/Npy.h"
#include "runtime/records/Safetensors.h"
#include "runtime/exec/Profile.h"
#include "runtime/exec/ThreadPool.h"
#include "runtime/train/Trainer.h"
#include "support/AtomicFile.h"
#include "support/ReadFile.h"
#include "codegen/Emitter.h"
#include "passes/optimize/PassManager.h"
#include "tools/nnc/Driver.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <unistd.h>

// GCC 12+ reports the std::optional flags of --resume's checks as maybe-uninitialized once the
// command is inlined into one function (a known false positive, as in tests/CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nnc::driver {

namespace {

std::atomic<bool> gInterrupted{false};

void onInterrupt(int) { gInterrupted.store(true); }

/// The options shared by train, eval and predict.
struct CommonOptions {
  std::string file;
  std::string data, testData;
  std::string normalize = "auto";
  std::string modelName;
  int64_t batch = 0;
  std::string initFrom;
  bool allowUnknownTensors = false;
  /// The help of --init-from: train reads only the weights; eval and predict the trained model.
  std::string initFromHelp = "the trained model: this checkpoint's parameters (.safetensors)";
  uint64_t seed = 0;
  bool seedGiven = false;
  int threads = availableCores();
  std::vector<std::string> disabledPasses;

  void attach(CLI::App *app) {
    app->add_option("file", file, "the model (.nn)")->required()->check(inputFile());
    app->add_option("--data", data,
                    "training data: fashion-mnist, FILE.csv, IMAGES.idx,LABELS.idx or X.npy,Y.npy "
                    "(default: the train block's `data`)")
        ->check(nonEmpty());
    app->add_option("--normalize", normalize, "feature preparation: auto, none, scale, standardize, minmax")
        ->check(CLI::IsMember({"auto", "none", "scale", "standardize", "minmax"}));
    app->add_option("--model", modelName, "the model to use when the file has several");
    app->add_option("--batch", batch, "minibatch size (overrides the train block)")
        ->check(integerIn(1, std::numeric_limits<int64_t>::max()));
    app->add_option("--init-from", initFrom, initFromHelp)->check(inputFile());
    app->add_flag("--allow-unknown-tensors", allowUnknownTensors,
                  "load a checkpoint that has tensors the model does not have (they are ignored)");
    app->add_option("--threads", threads, "threads for large matrix products (default: the cores this process may run on)")
        ->check(integerIn(1, 256));
    app->add_option("--disable-pass", disabledPasses, "skip this graph or code generation pass (repeatable; "
                    "nnc --passes=list shows them)")
        ->check(CLI::Validator(
            [](const std::string &name) {
              return findPass(name) || findCodegenPass(name) ? std::string() : "unknown pass '" + name + "'";
            },
            "PASS"));
  }

  std::optional<bool> shuffle;

  /// What these flags ask of the pipeline.
  CompileSettings settings() const {
    CompileSettings s;
    s.modelName = modelName;
    s.train.batch = batch;
    s.train.shuffle = shuffle;
    if (seedGiven)
      s.train.seed = seed;
    s.threads = threads;
    s.disabledPasses = disabledPasses;
    return s;
  }
};

bool isTerminal() { return isatty(STDOUT_FILENO) == 1; }

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100.0 * fraction); }

/// Whether the model's (first) input is an integer tensor (token ids, indices): such data is
/// never normalized. False when the model cannot be lowered (the error comes later, located).
bool integerInput(Compilation &source) {
  auto graph = source.modelGraph();
  if (!graph || (*graph)->functions().empty())
    return false;
  for (const Argument &a : (*graph)->functions().front().arguments())
    if (a.role == ArgRole::Input)
      return a.type.dtype == DType::I32;
  return false;
}

/// Loads the training data (and test data when given) and prepares the features of both;
/// `description` gets what was done to the input.
Result<FeatureTransform> loadData(const CommonOptions &o, const TrainConfig &config, Dataset &train,
                                  std::optional<Dataset> &test, bool wantTest,
                                  const std::optional<FeatureTransform> &given = std::nullopt,
                                  bool intInput = false, std::string *description = nullptr) {
  std::string spec = o.data.empty() ? config.data : o.data;
  auto tr = loadDataSource(spec, Split::Train);
  if (!tr)
    return tr.error();
  train = std::move(*tr);
  std::string testSpec = o.testData.empty() ? config.testData : o.testData;
  if (testSpec.empty() && spec == "fashion-mnist" && wantTest)
    testSpec = spec;
  if (!testSpec.empty() && wantTest) {
    auto te = loadDataSource(testSpec, Split::Test);
    if (!te)
      return te.error();
    test = std::move(*te);
  }
  // A trained model's data is prepared with the map its training data had.
  if (given) {
    if (auto r = given->apply(train); !r)
      return Error{fmt::format("{}: {}", spec, r.message())};
    if (test)
      if (auto r = given->apply(*test); !r)
        return Error{fmt::format("{}: {}", testSpec, r.message())};
    return *given;
  }
  auto norm = parseNormalization(o.normalize);
  return normalizeFeatures(train, test ? &*test : nullptr, *norm, spec, intInput, description);
}

/// For eval and predict: the model with its trained state, and the data to run it on. Only the
/// function `use` runs is compiled (eval or predict), never the train step.
Result<std::unique_ptr<Trainer>> loadTrained(const CommonOptions &o, const char *command, Dataset &data,
                                             std::shared_ptr<Communicator> comm, TrainerUse use) {
  if (o.initFrom.empty())
    return Error{fmt::format("{} needs the trained state: --init-from CHECKPOINT", command)};
  auto trainer = Trainer::fromFile(o.file, o.settings(), comm, use);
  if (!trainer)
    return trainer.error();
  (*trainer)->setAllowUnknownTensors(o.allowUnknownTensors);
  if (auto e = (*trainer)->loadParameters(o.initFrom); !e)
    return e.error();
  std::optional<Dataset> unused;
  auto r = loadData(o, (*trainer)->config(), data, unused, false, (*trainer)->featureTransform());
  if (auto agreed = comm->agree(r ? Result<void>() : Result<void>(r.error())); !agreed)
    return agreed.error();
  return trainer;
}

int fail(const std::string &message) { return reportError(Error{message}); }

/// --stats: what was compiled (each function with the minibatch sizes it was compiled for) and
/// where compiling spent its time, on stderr. `running`: what ran meanwhile ("training").
void printCompileStats(const Trainer &t, const char *running) {
  const Trainer::CompileSplit &cs = t.compileSplit();
  std::string functions;
  for (const auto &[name, batches] : t.compiledFunctions()) {
    std::string sizes;
    for (int64_t b : batches)
      sizes += fmt::format("{}{}", sizes.empty() ? "" : ", ", b);
    functions += fmt::format("{}{} (batch {})", functions.empty() ? "" : ", ", name, sizes);
  }
  fmt::print(stderr, "compile: {} program{}, {:.0f} ms in all; graphs (parse, lower, autodiff, graph passes) "
             "{:.0f} ms; jit {:.0f} ms: {}\n",
             cs.compiles, cs.compiles == 1 ? "" : "s", t.compileSeconds() * 1e3, cs.graphsMs, cs.jitMs,
             formatJitTimes(cs.jit));
  fmt::print(stderr, "compiled: {}\n", functions);
  if (cs.backgroundMs > 0)
    fmt::print(stderr, "compile: {:.0f} ms of it in the background while {}; {} waited {:.0f} ms for it\n",
               cs.backgroundMs, running, running, cs.waitMs);
}

/// The processes of this run (one unless started by mpirun); an Error when MPI is needed but
/// not built in.
Result<std::shared_ptr<Communicator>> processes() {
  static std::weak_ptr<Communicator> made; // MPI is initialized once per process
  if (auto existing = made.lock())
    return existing;
  auto world = worldCommunicator();
  if (world)
    made = *world;
  return world;
}

/// An error every process knows of (agreed): rank 0 prints it; all exit with the same status.
int failAll(const Communicator &comm, const std::string &message) {
  return comm.isLeader() ? fail(message) : kUserError;
}

/// Reads checkpoint `path`: on one process as usual; over several, rank 0 reads the file and sends
/// its bytes to all (agreed: all learn of a read error), so all decode the same checkpoint.
Result<Checkpoint> readCheckpointFile(Communicator &comm, const std::string &path) {
  if (comm.size() == 1)
    return readSafetensors(path);
  Result<std::string> bytes = comm.isLeader() ? nnc::readFile(path) : Result<std::string>(std::string());
  if (auto r = comm.agree(bytes ? Result<void>() : Result<void>(bytes.error())); !r)
    return r.error();
  return parseSafetensors(comm.broadcastString(std::move(*bytes), 0), path);
}

/// The whole number in checkpoint metadata `key`, if there.
std::optional<int64_t> metaInt(const Checkpoint &ckpt, const char *key) {
  auto it = ckpt.metadata.find(key);
  if (it == ckpt.metadata.end())
    return std::nullopt;
  char *end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != 0)
    return std::nullopt;
  return v;
}

class TrainCommand : public Command {
public:
  CLI::App *attach(CLI::App &app) override {
    CLI::App *sub = app.add_subcommand("train", "train a model on data with its compiled train step");
    common_.initFromHelp = "start a NEW run from this checkpoint's parameters (fine-tuning): the optimizer "
                           "state, counters and schedule start fresh";
    common_.attach(sub);
    sub->add_option("--resume", resume_,
                    "CONTINUE the run saved in this checkpoint: parameters, optimizer state, counters, "
                    "position in the epoch, schedule and data preparation, exactly as if it had not "
                    "stopped; --epochs is the run's total")
        ->excludes(sub->get_option("--init-from"))
        ->check(inputFile());
    sub->add_option("--test-data", common_.testData, "test data, evaluated after every epoch")->check(nonEmpty());
    sub->add_option("--epochs", epochs_, "passes over the training data (with --resume: the run's total)")
        ->check(integerIn(1, std::numeric_limits<int64_t>::max()));
    sub->add_option("--lr", lr_, "learning rate")->check(finitePositive());
    sub->add_option("--optimizer", optimizer_, "sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw")
        ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}));
    sub->add_option("--seed", common_.seed, "seed of initialization, shuffling, dropout and augmentation")
        ->check(unsignedInteger())
        ->each([this](const std::string &) { common_.seedGiven = true; });
    shuffleOption_ = sub->add_flag("--shuffle,!--no-shuffle", shuffleFlag_,
                                   "shuffle the examples every epoch (default: the train block's `shuffle`, else on)");
    sub->add_option("--save", save_, "write the trained state to this checkpoint (.safetensors)")->check(outputFile());
    sub->add_option("--log", log_, "write per-epoch learning curves to this CSV file")->check(outputFile());
    sub->add_option("--log-every", logEvery_, "print the loss of every N-th train step, at full precision")
        ->check(CLI::PositiveNumber);
    sub->add_option("--on-nonfinite", onNonFinite_,
                    "when a step's loss or state is NaN or infinite: stop (the default: report the first op "
                    "that produced it and keep the state before the step) or skip (that minibatch)")
        ->check(CLI::IsMember({"stop", "skip"}));
    sub->add_option("--plot", plot_, "draw the learning curves into this SVG file")->check(outputFile());
    sub->add_flag("--quiet", quiet_, "print only the final result");
    sub->add_flag("--stats", stats_, "print where compiling spent its time, by phase (stderr)");
    sub->add_flag("--profile", profile_,
                  "time every kernel of the compiled functions and print, per function, the kernels taking "
                  "the most time (stderr; the timing calls cost about 50 ns per kernel)");
    sub->footer("Example:\n  nnc train examples/iris.nn --data examples/iris.csv\n"
                "  nnc train examples/fashion_mlp.nn --data fashion-mnist --log run.csv --plot run.svg\n"
                "  nnc train examples/iris.nn --save run.safetensors --epochs 100   # stopped (Ctrl-C) or done, then:\n"
                "  nnc train examples/iris.nn --resume run.safetensors --save run.safetensors --epochs 200");
    return sub;
  }

  int run() override {
    auto world = processes();
    if (!world)
      return fail(world.message());
    std::shared_ptr<Communicator> comm = *world;
    const bool leader = comm->isLeader();
    auto agreed = [&](Result<void> r) { return comm->agree(std::move(r)); };
    auto failed = [&](const Error &e) { return failAll(*comm, e.message); };
    if (shuffleOption_->count() > 0)
      common_.shuffle = shuffleFlag_;
    CompileSettings settings = common_.settings();
    if (epochs_ > 0)
      settings.train.epochs = epochs_;
    if (lr_ > 0)
      settings.train.lr = lr_;
    if (!optimizer_.empty())
      settings.train.optimizer = optimizer_;
    settings.profile = profile_;
    // A resumed run keeps the settings that fix its numbers: seed (dropout, shuffles), batch,
    // shuffle, and the planned epochs unless --epochs extends it.
    std::optional<Checkpoint> resumed;
    if (!resume_.empty()) {
      auto ckpt = readCheckpointFile(*comm, resume_);
      if (!ckpt)
        return failed(ckpt.error());
      resumed = std::move(*ckpt);
      auto keep = [&](const char *key, auto given, auto &into, const char *flag) -> std::optional<std::string> {
        std::optional<int64_t> v = metaInt(*resumed, key);
        if (!v)
          return std::nullopt;
        if (given && static_cast<int64_t>(*given) != *v)
          return fmt::format("{}: the run was saved with {} {}; a resumed run keeps it (use --init-from to start "
                             "a new run from its weights)",
                             resume_, flag, *v);
        into = static_cast<std::decay_t<decltype(*given)>>(*v);
        return std::nullopt;
      };
      std::optional<uint64_t> seedGiven = common_.seedGiven ? std::optional<uint64_t>(common_.seed) : std::nullopt;
      std::optional<int64_t> batchGiven = common_.batch > 0 ? std::optional<int64_t>(common_.batch) : std::nullopt;
      std::optional<int64_t> epochsWanted;
      std::optional<bool> shuffleGiven = common_.shuffle;
      uint64_t seed = 0;
      int64_t batch = 0, unusedEpochs = 0;
      bool shuffle = true;
      for (auto e : {keep(checkpoint_keys::kSeed, seedGiven, seed, "--seed"),
                     keep(checkpoint_keys::kBatch, batchGiven, batch, "--batch"),
                     keep(checkpoint_keys::kShuffle, shuffleGiven, shuffle, "--shuffle"),
                     keep(checkpoint_keys::kEpochs, epochsWanted, unusedEpochs, "--epochs")})
        if (e) // the same bytes and flags on every process: all fail alike
          return failAll(*comm, *e);
      if (metaInt(*resumed, checkpoint_keys::kSeed))
        settings.train.seed = seed;
      if (metaInt(*resumed, checkpoint_keys::kBatch))
        settings.train.batch = batch;
      if (metaInt(*resumed, checkpoint_keys::kShuffle))
        settings.train.shuffle = shuffle;
      if (epochs_ == 0 && metaInt(*resumed, checkpoint_keys::kEpochs))
        settings.train.epochs = unusedEpochs;
    }
    // The data first: with its size known, the step (and its schedule) compiles once.
    auto source = Compilation::fromFile(common_.file, settings);
    if (auto r = agreed(source ? Result<void>() : Result<void>(source.error())); !r)
      return failed(r.error());
    if (!(*source)->warnings().empty() && leader)
      fmt::print(stderr, "{}", (*source)->warnings());
    const TrainConfig &c = (*source)->trainConfig();
    Dataset train;
    std::optional<Dataset> test;
    std::string prepared;
    std::optional<FeatureTransform> given;
    if (resumed) {
      auto shift = resumed->tensors.find("nnc:feature_shift"), factor = resumed->tensors.find("nnc:feature_factor");
      if (shift != resumed->tensors.end() && factor != resumed->tensors.end() &&
          shift->second.dtype == ElementType::F32 && factor->second.dtype == ElementType::F32)
        given = FeatureTransform{shift->second.values<float>(), factor->second.values<float>()};
      auto norm = resumed->metadata.find(checkpoint_keys::kNormalize);
      prepared = norm != resumed->metadata.end() ? norm->second : std::string("as saved");
    }
    auto map = loadData(common_, c, train, test, true, given, integerInput(**source), &prepared);
    if (auto r = agreed(map ? Result<void>() : Result<void>(map.error())); !r)
      return failed(r.error());
    std::string spec = common_.data.empty() ? c.data : common_.data;
    if (resumed)
      if (auto n = metaInt(*resumed, checkpoint_keys::kExamples); n && *n != static_cast<int64_t>(train.size()))
        return failAll(*comm, fmt::format("{}: the run was saved training on {} examples, but '{}' has {}: a resumed "
                                          "run needs the same data",
                                          resume_, *n, spec, train.size()));
    int64_t steps = (static_cast<int64_t>(train.size()) + c.batch - 1) / c.batch;
    auto trainer = Trainer::fromCompilation((*source)->withBatch(c.batch, std::max<int64_t>(1, steps)), comm);
    if (!trainer)
      return failed(trainer.error());
    Trainer &t = **trainer;
    // eval runs after the last epoch (the final train loss) and, with test data, after each:
    // compiled while the first epoch trains.
    t.prefetchEvaluation();
    t.setFeatureTransform(*map);
    if (auto r = agreed(t.checkData(train)); !r)
      return failed(r.error());
    if (test)
      if (auto r = agreed(t.checkData(*test)); !r)
        return failed(r.error());
    if (resumed) {
      auto model = resumed->metadata.find(checkpoint_keys::kModel);
      if (model != resumed->metadata.end() && model->second != t.modelName())
        return failAll(*comm, fmt::format("{}: the checkpoint is of model '{}', not '{}'", resume_, model->second,
                                          t.modelName()));
      auto opt = resumed->metadata.find(checkpoint_keys::kOptimizer);
      if (opt != resumed->metadata.end() && opt->second != c.optimizerName)
        return failAll(*comm, fmt::format("{}: the run was saved with optimizer '{}', not '{}': its optimizer state "
                                          "does not carry over (use --init-from to start a new run from its weights)",
                                          resume_, opt->second, c.optimizerName));
    }
    t.setAllowUnknownTensors(common_.allowUnknownTensors);
    // Data-parallel: rank 0 reads the checkpoint and sends its bytes; every process checks them
    // and restores the same state and position.
    if (!resume_.empty()) {
      if (auto r = t.load(resume_); !r)
        return failed(r.error());
    } else if (!common_.initFrom.empty()) {
      auto r = t.loadParameters(common_.initFrom);
      if (!r)
        return failed(r.error());
      t.setFeatureTransform(*map); // this run's data preparation, not the checkpoint's
      if (leader)
        fmt::print("starting a new run from the parameters in {}; the optimizer state, step counter and schedule "
                 "start fresh (--resume continues a saved run instead)\n",
                 common_.initFrom);
    }
    t.setNonFinitePolicy(onNonFinite_ == "skip" ? NonFinitePolicy::Skip : NonFinitePolicy::Stop);
    int64_t startEpoch = t.position().epoch;
    std::optional<LearningCurveLog> log;
    // The interrupt handlers first: an interrupt once the first line is out stops the run cleanly.
    std::signal(SIGINT, onInterrupt);
    if (t.dataParallel()) // mpirun stops its processes with SIGTERM when it is interrupted
      std::signal(SIGTERM, onInterrupt);
    Result<void> logKept;
    if (!log_.empty() && leader) {
      log.emplace(log_);
      // A resumed run continues its log: the records of the epochs it had done.
      if (resumed)
        logKept = log->keepExisting(startEpoch);
    }
    if (auto r = agreed(std::move(logKept)); !r)
      return failed(r.error());
    std::vector<EpochRecord> records = log ? log->records() : std::vector<EpochRecord>{};
    if (leader) {
      fmt::print("{} '{}' on {} examples{}: {} epochs, batch {}, {}, seed {}{}{}\n", resumed ? "resuming" : "training",
                 t.modelName(), train.size(), test ? fmt::format(" ({} test)", test->size()) : std::string(),
                 c.epochs, c.batch, describeOptimizer(c), c.seed, c.shuffle ? "" : ", no shuffling",
                 t.dataParallel() ? fmt::format(", data-parallel over {}", comm->describe()) : std::string());
      if (resumed)
        fmt::print("continuing at epoch {}, step {} of {} ({} steps done)\n", startEpoch + 1,
                   t.position().stepInEpoch, steps, t.stepCount());
      fmt::print("data preparation (--normalize {}): input features {}\n", resumed ? "as saved" : common_.normalize,
                 prepared);
    }
    std::fflush(stdout);
    bool tty = isTerminal() && !quiet_ && leader;
    // A test hook: stop after this many steps exactly as Ctrl-C during that step would.
    int64_t stopAfter = 0;
    if (const char *env = std::getenv("NNC_STOP_AFTER_STEPS"))
      stopAfter = std::strtoll(env, nullptr, 10);
    int64_t stepsThisRun = 0;
    if (logEvery_ > 0 || stopAfter > 0)
      t.setStepObserver([&](int64_t step, int64_t epoch, double loss) {
      if (logEvery_ > 0 && step % logEvery_ == 0 && leader) {
        if (tty)
          fmt::print("\r{:<100}\r", "");
        fmt::print("step {} epoch {} loss {:.17g}\n", step, epoch + 1, loss);
      }
      if (stopAfter > 0 && ++stepsThisRun == stopAfter)
        gInterrupted.store(true);
    });
    int64_t epoch = startEpoch;
    bool interrupted = false;
    std::optional<Error> failure;
    for (; epoch < c.epochs && !interrupted; ++epoch) {
      auto begin = std::chrono::steady_clock::now();
      ProgressFn progress;
      if (tty)
        progress = [&](size_t done, size_t total, double loss, size_t examples) {
          double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
          int width = 30, filled = int(double(width) * double(done) / double(total));
          fmt::print("\r  epoch {:>3}/{} [{}{}] {}/{} loss {:.4f} {:.0f} ex/s   ", epoch + 1, c.epochs,
                     std::string(size_t(filled), '='), std::string(size_t(width - filled), ' '), done, total, loss,
                     secs > 0 ? double(examples) / secs : 0.0);
          std::fflush(stdout);
        };
      auto stats = t.trainEpoch(train, uint64_t(epoch), progress, &gInterrupted);
      if (!stats) { // data-parallel: the same error on every process
        failure = stats.error();
        break;
      }
      if (!stats->complete) { // stopped here or, data-parallel, on any process
        interrupted = true;
        break;
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      EpochRecord rec;
      rec.epoch = epoch + 1;
      rec.trainLoss = stats->loss;
      if (stats->hasAccuracy)
        rec.trainAccuracy = stats->accuracy;
      rec.seconds = secs;
      std::string line = fmt::format("epoch {:>3}/{}  train loss {:.4f}", epoch + 1, c.epochs, stats->loss);
      if (stats->hasAccuracy)
        line += fmt::format("  acc {}", percent(stats->accuracy));
      if (test) {
        auto ev = t.evaluate(*test);
        if (!ev)
          return failed(ev.error());
        rec.testLoss = ev->loss;
        line += fmt::format("  test loss {:.4f}", ev->loss);
        if (ev->hasAccuracy) {
          rec.testAccuracy = ev->accuracy;
          line += fmt::format("  acc {}", percent(ev->accuracy));
        }
      }
      line += fmt::format("  {:.2f} s  {:.0f} ex/s", secs, double(stats->examples) / std::max(secs, 1e-9));
      records.push_back(rec);
      bool lastEpoch = epoch + 1 == c.epochs;
      if (tty)
        fmt::print("\r{:<100}\r", "");
      if (leader && !quiet_ && (tty || lastEpoch || c.epochs <= 50 || (epoch + 1) % std::max<int64_t>(1, c.epochs / 20) == 0))
        fmt::print("{}\n", line);
      std::fflush(stdout);
      Result<void> written;
      if (log)
        written = log->append(rec);
      if (written && !plot_.empty() && leader)
        written = writeCurvesSvg(plot_, curvesFromRecords(records), t.modelName());
      if (auto r = agreed(std::move(written)); !r)
        return failed(r.error());
      // Data-parallel: an interrupt that reached only some processes after the epoch's last step.
      interrupted = comm->any(gInterrupted.load()) && epoch + 1 < c.epochs;
    }
    if (failure) {
      // The state is the one before the bad step: finite, and worth keeping.
      if (tty)
        fmt::print("\r{:<100}\r", "");
      if (leader)
        reportError(*failure);
      if (!save_.empty()) {
        if (auto r = t.save(save_, runMetadata(c, train.size(), prepared)); !r)
          return failed(r.error());
        if (leader)
          fmt::print(stderr, "note: saved the state before that step to {}\n", save_);
      }
      return kUserError;
    }
    if (interrupted && leader)
      fmt::print("{}interrupted in epoch {} after step {} of {}; keeping the state after that step\n", tty ? "\n" : "",
                 t.position().epoch + 1, t.position().stepInEpoch, steps);
    // Final figures over whole data sets, with dropout off and batchnorm on running statistics.
    auto final = t.evaluate(train);
    if (!final)
      return failed(final.error());
    std::string summary = fmt::format("final: train loss {:.4f}", final->loss);
    if (final->hasAccuracy)
      summary += fmt::format("  train accuracy {}", percent(final->accuracy));
    if (test) {
      auto ev = t.evaluate(*test);
      if (!ev)
        return failed(ev.error());
      summary += fmt::format("  test loss {:.4f}", ev->loss);
      if (ev->hasAccuracy)
        summary += fmt::format("  test accuracy {}", percent(ev->accuracy));
    }
    if (leader) {
      fmt::print("{}\n", summary);
      fmt::print("compile {:.2f} s\n", t.compileSeconds());
      if (stats_)
        printCompileStats(t, "training");
      if (profile_)
        fmt::print(stderr, "{}", kernelProfileReport(kProfileKernelsShown));
      if (t.dataParallel()) {
        const CommunicationStats &cs = t.communicationStats();
        fmt::print("allreduce: {} calls of {} bytes, {:.3f} ms per step\n", cs.allreduces, cs.bytesPerStep,
                   cs.steps ? 1e3 * cs.seconds / double(cs.steps) : 0.0);
      }
    }
    if (!save_.empty()) {
      if (auto r = t.save(save_, runMetadata(c, train.size(), prepared)); !r)
        return failed(r.error());
      if (leader)
        fmt::print("saved {}{}\n", save_, interrupted ? " (resume with --resume)" : "");
    }
    return interrupted ? 130 : kOk;
  }

private:
  CommonOptions common_;
  int64_t epochs_ = 0;
  double lr_ = 0;
  std::string optimizer_, save_, log_, plot_, resume_;
  std::string onNonFinite_ = "stop";
  int64_t logEvery_ = 0;
  bool shuffleFlag_ = true;
  CLI::Option *shuffleOption_ = nullptr;
  bool quiet_ = false;
  bool stats_ = false;
  bool profile_ = false;
  static constexpr size_t kProfileKernelsShown = 25; ///< per function, in --profile's report

  /// The run's settings a checkpoint keeps beside the Trainer's own (seed, batch, position).
  static std::map<std::string, std::string> runMetadata(const TrainConfig &c, size_t examples,
                                                        const std::string &prepared) {
    return {{checkpoint_keys::kEpochs, std::to_string(c.epochs)},
            {checkpoint_keys::kExamples, std::to_string(examples)},
            {checkpoint_keys::kNormalize, prepared}};
  }

  static std::string describeOptimizer(const TrainConfig &c) {
    std::string s = c.optimizerName;
    for (const auto &[k, v] : c.optimizerArgs)
      s += fmt::format(" {}={}", k, v);
    if (c.schedule.kind != ScheduleKind::Constant)
      s += ", schedule " + c.scheduleName;
    return s;
  }
};

class EvalCommand : public Command {
public:
  CLI::App *attach(CLI::App &app) override {
    CLI::App *sub = app.add_subcommand("eval", "evaluate a trained checkpoint: loss and accuracy");
    common_.attach(sub);
    sub->add_flag("--stats", stats_, "print what was compiled (eval alone) and where compiling spent its time (stderr)");
    sub->footer("Example:\n  nnc eval examples/iris.nn --init-from iris.safetensors --data examples/iris.csv");
    return sub;
  }
  int run() override {
    auto world = processes();
    if (!world)
      return fail(world.message());
    std::shared_ptr<Communicator> comm = *world;
    Dataset data;
    auto trainer = loadTrained(common_, "eval", data, comm, TrainerUse::Evaluate);
    if (!trainer)
      return failAll(*comm, trainer.message());
    Trainer &t = **trainer;
    auto ev = t.evaluate(data); // sharded over the processes, the counts summed
    if (!ev)
      return failAll(*comm, ev.message());
    if (!comm->isLeader())
      return kOk;
    fmt::print("{} examples  loss {:.4f}", ev->examples, ev->loss);
    if (ev->hasAccuracy)
      fmt::print("  accuracy {}", percent(ev->accuracy));
    fmt::print("\n");
    if (stats_)
      printCompileStats(t, "evaluating");
    return kOk;
  }

private:
  CommonOptions common_;
  bool stats_ = false;
};

class PredictCommand : public Command {
public:
  CLI::App *attach(CLI::App &app) override {
    CLI::App *sub = app.add_subcommand("predict", "write a trained model's output for every example");
    common_.attach(sub);
    sub->add_option("--out", out_, "where to write the predictions: FILE.npy or FILE.csv")
        ->required()
        ->check(outputFile());
    sub->add_flag("--stats", stats_, "print what was compiled (predict alone) and where compiling spent its time (stderr)");
    sub->footer("Example:\n  nnc predict examples/iris.nn --init-from iris.safetensors --data examples/iris.csv --out probs.csv");
    return sub;
  }
  int run() override {
    if (!out_.ends_with(".npy") && !out_.ends_with(".csv")) {
      fmt::print(stderr, "nnc: error: --out must name a .npy or .csv file\n");
      return kUsageError;
    }
    auto world = processes();
    if (!world)
      return fail(world.message());
    std::shared_ptr<Communicator> comm = *world;
    Dataset data;
    auto trainer = loadTrained(common_, "predict", data, comm, TrainerUse::Predict);
    if (!trainer)
      return failAll(*comm, trainer.message());
    Trainer &t = **trainer;
    // Every process holds the same model; rank 0 alone predicts and writes.
    if (!comm->isLeader())
      return kOk;
    std::vector<int64_t> shape;
    auto values = t.predict(data, shape);
    if (!values)
      return fail(values.message());
    if (out_.ends_with(".npy")) {
      if (auto r = writeNpy(out_, HostTensor::of<float>(shape, std::span<const float>(*values))); !r)
        return fail(r.message());
    } else {
      size_t cols = shape.empty() || shape[0] == 0 ? 1 : values->size() / size_t(shape[0]);
      std::string text;
      for (size_t i = 0; i < values->size(); ++i)
        text += fmt::format("{}{}", fmt::format("{:.6g}", (*values)[i]), (i + 1) % cols == 0 ? "\n" : ",");
      if (auto r = writeFileAtomically(out_, text); !r)
        return fail(r.message());
    }
    fmt::print("wrote '{}' for {} examples to {}\n", t.predictOutput(), data.size(), out_);
    if (stats_)
      printCompileStats(t, "predicting");
    return kOk;
  }

private:
  CommonOptions common_;
  std::string out_;
  bool stats_ = false;
};

} // namespace

std::unique_ptr<Command> makeTrainCommand() { return std::make_unique<TrainCommand>(); }
std::unique_ptr<Command> makeEvalCommand() { return std::make_unique<EvalCommand>(); }
std::unique_ptr<Command> makePredictCommand() { return std::make_unique<PredictCommand>(); }

} // namespace nnc::driver
