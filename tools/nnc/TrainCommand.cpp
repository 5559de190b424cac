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
#include "runtime/train/Trainer.h"
#include "support/AtomicFile.h"
#include "codegen/Emitter.h"
#include "passes/optimize/PassManager.h"
#include "tools/nnc/Driver.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <cmath>
#include <unistd.h>

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
  uint64_t seed = 0;
  bool seedGiven = false;
  int threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> disabledPasses;

  void attach(CLI::App *app) {
    app->add_option("file", file, "the model (.nn)")->required();
    app->add_option("--data", data,
                    "training data: fashion-mnist, FILE.csv, IMAGES.idx,LABELS.idx or X.npy,Y.npy "
                    "(default: the train block's `data`)");
    app->add_option("--normalize", normalize, "feature preparation: auto, none, scale, standardize, minmax")
        ->check(CLI::IsMember({"auto", "none", "scale", "standardize", "minmax"}));
    app->add_option("--model", modelName, "the model to use when the file has several");
    app->add_option("--batch", batch, "minibatch size (overrides the train block)")->check(CLI::PositiveNumber);
    app->add_option("--init-from", initFrom, "start from this checkpoint (.safetensors)");
    app->add_option("--threads", threads, "threads for large matrix products (default: all cores)")
        ->check(CLI::Range(1, 256));
    app->add_option("--disable-pass", disabledPasses, "skip this graph or code generation pass (repeatable; "
                    "nnc --passes=list shows them)")
        ->check(CLI::Validator(
            [](const std::string &name) {
              return findPass(name) || findCodegenPass(name) ? std::string() : "unknown pass '" + name + "'";
            },
            "PASS"));
  }

  /// What these flags ask of the pipeline.
  CompileSettings settings() const {
    CompileSettings s;
    s.modelName = modelName;
    s.train.batch = batch;
    if (seedGiven)
      s.train.seed = seed;
    s.threads = threads;
    s.disabledPasses = disabledPasses;
    return s;
  }
};

bool isTerminal() { return isatty(STDOUT_FILENO) == 1; }

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100.0 * fraction); }

/// Loads the training data (and test data when given) and prepares the features of both.
Result<FeatureTransform> loadData(const CommonOptions &o, const TrainConfig &config, Dataset &train,
                                  std::optional<Dataset> &test, bool wantTest,
                                  const std::optional<FeatureTransform> &given = std::nullopt) {
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
      return r.error();
    return *given;
  }
  auto norm = parseNormalization(o.normalize);
  return normalizeFeatures(train, test ? &*test : nullptr, *norm, spec);
}

/// For eval and predict: the model with its trained state, and the data to run it on.
Result<std::unique_ptr<Trainer>> loadTrained(const CommonOptions &o, const char *command, Dataset &data,
                                             std::shared_ptr<Communicator> comm) {
  if (o.initFrom.empty())
    return Error{fmt::format("{} needs the trained state: --init-from CHECKPOINT", command)};
  auto trainer = Trainer::fromFile(o.file, o.settings(), comm);
  if (!trainer)
    return trainer.error();
  if (auto e = (*trainer)->load(o.initFrom); !e)
    return e.error();
  std::optional<Dataset> unused;
  auto r = loadData(o, (*trainer)->config(), data, unused, false, (*trainer)->featureTransform());
  if (auto agreed = comm->agree(r ? Result<void>() : Result<void>(r.error())); !agreed)
    return agreed.error();
  return trainer;
}

int fail(const std::string &message) { return reportError(Error{message}); }

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

class TrainCommand : public Command {
public:
  CLI::App *attach(CLI::App &app) override {
    CLI::App *sub = app.add_subcommand("train", "train a model on data with its compiled train step");
    common_.attach(sub);
    sub->add_option("--test-data", common_.testData, "test data, evaluated after every epoch");
    sub->add_option("--epochs", epochs_, "passes over the training data")->check(CLI::PositiveNumber);
    sub->add_option("--lr", lr_, "learning rate")->check(CLI::PositiveNumber);
    sub->add_option("--optimizer", optimizer_, "sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw")
        ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}));
    sub->add_option("--seed", common_.seed, "seed of initialization, shuffling and dropout")
        ->each([this](const std::string &) { common_.seedGiven = true; });
    sub->add_option("--save", save_, "write the trained state to this checkpoint (.safetensors)");
    sub->add_option("--log", log_, "write per-epoch learning curves to this CSV file");
    sub->add_option("--plot", plot_, "draw the learning curves into this SVG file");
    sub->add_flag("--quiet", quiet_, "print only the final result");
    sub->footer("Example:\n  nnc train examples/iris.nn --data examples/iris.csv\n"
                "  nnc train examples/fashion_mlp.nn --data fashion-mnist --log run.csv --plot run.svg");
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
    CompileSettings settings = common_.settings();
    if (epochs_ > 0)
      settings.train.epochs = epochs_;
    if (lr_ > 0)
      settings.train.lr = lr_;
    if (!optimizer_.empty())
      settings.train.optimizer = optimizer_;
    // The data first: with its size known, the step (and its schedule) compiles once.
    auto source = Compilation::fromFile(common_.file, settings);
    if (auto r = agreed(source ? Result<void>() : Result<void>(source.error())); !r)
      return failed(r.error());
    const TrainConfig &c = (*source)->trainConfig();
    Dataset train;
    std::optional<Dataset> test;
    auto map = loadData(common_, c, train, test, true);
    if (auto r = agreed(map ? Result<void>() : Result<void>(map.error())); !r)
      return failed(r.error());
    int64_t steps = (static_cast<int64_t>(train.size()) + c.batch - 1) / c.batch;
    auto trainer = Trainer::fromCompilation((*source)->withBatch(c.batch, std::max<int64_t>(1, steps)), comm);
    if (!trainer)
      return failed(trainer.error());
    Trainer &t = **trainer;
    t.setFeatureTransform(*map);
    if (auto r = agreed(t.checkData(train)); !r)
      return failed(r.error());
    int64_t startEpoch = 0;
    if (!common_.initFrom.empty()) {
      auto e = t.load(common_.initFrom);
      if (!e)
        return failed(e.error());
    }
    std::optional<LearningCurveLog> log;
    if (!log_.empty() && leader)
      log.emplace(log_);
    std::signal(SIGINT, onInterrupt);
    if (t.dataParallel()) // mpirun stops its processes with SIGTERM when it is interrupted
      std::signal(SIGTERM, onInterrupt);
    if (leader)
      fmt::print("training '{}' on {} examples{}: {} epochs, batch {}, {}, seed {}{}\n", t.modelName(), train.size(),
                 test ? fmt::format(" ({} test)", test->size()) : std::string(), c.epochs, c.batch,
                 describeOptimizer(c), c.seed,
                 t.dataParallel() ? fmt::format(", data-parallel over {}", comm->describe()) : std::string());
    std::fflush(stdout);
    // Whether any process was interrupted: all stop at the same point.
    auto interrupted = [&] {
      bool any = comm->any(gInterrupted.load());
      if (any)
        gInterrupted.store(true);
      return any;
    };
    bool tty = isTerminal() && !quiet_ && leader;
    std::vector<EpochRecord> records;
    int64_t epoch = startEpoch;
    for (; epoch < startEpoch + c.epochs && !interrupted(); ++epoch) {
      auto begin = std::chrono::steady_clock::now();
      ProgressFn progress;
      if (tty)
        progress = [&](size_t done, size_t total, double loss, size_t examples) {
          double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
          int width = 30, filled = int(double(width) * double(done) / double(total));
          fmt::print("\r  epoch {:>3}/{} [{}{}] {}/{} loss {:.4f} {:.0f} ex/s   ", epoch + 1, startEpoch + c.epochs,
                     std::string(size_t(filled), '='), std::string(size_t(width - filled), ' '), done, total, loss,
                     secs > 0 ? double(examples) / secs : 0.0);
          std::fflush(stdout);
        };
      auto stats = t.trainEpoch(train, uint64_t(epoch), progress, &gInterrupted);
      if (!stats)
        return failed(stats.error());
      if (stats->stopped) // here or, data-parallel, on another process
        gInterrupted.store(true);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      EpochRecord rec;
      rec.epoch = epoch + 1;
      rec.trainLoss = stats->loss;
      if (stats->hasAccuracy)
        rec.trainAccuracy = stats->accuracy;
      rec.seconds = secs;
      std::string line = fmt::format("epoch {:>3}/{}  train loss {:.4f}", epoch + 1, startEpoch + c.epochs, stats->loss);
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
      bool lastEpoch = epoch + 1 == startEpoch + c.epochs;
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
    }
    // An epoch cut short by Ctrl-C does not count as done.
    const bool stopped = interrupted();
    int64_t completed = stopped ? epoch - 1 : epoch;
    if (stopped && leader)
      fmt::print("\ninterrupted in epoch {}; keeping the state after its last step\n", epoch);
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
      if (t.dataParallel()) {
        const CommunicationStats &cs = t.communicationStats();
        fmt::print("allreduce: {} calls of {} bytes, {:.3f} ms per step\n", cs.allreduces, cs.bytesPerStep,
                   cs.steps ? 1e3 * cs.seconds / double(cs.steps) : 0.0);
      }
    }
    if (!save_.empty()) {
      if (auto r = t.save(save_, completed); !r)
        return failed(r.error());
      if (leader)
        fmt::print("saved {}\n", save_);
    }
    return stopped ? 130 : kOk;
  }

private:
  CommonOptions common_;
  int64_t epochs_ = 0;
  double lr_ = 0;
  std::string optimizer_, save_, log_, plot_;
  bool quiet_ = false;

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
    sub->footer("Example:\n  nnc eval examples/iris.nn --init-from iris.safetensors --data examples/iris.csv");
    return sub;
  }
  int run() override {
    auto world = processes();
    if (!world)
      return fail(world.message());
    std::shared_ptr<Communicator> comm = *world;
    Dataset data;
    auto trainer = loadTrained(common_, "eval", data, comm);
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
    return kOk;
  }

private:
  CommonOptions common_;
};

class PredictCommand : public Command {
public:
  CLI::App *attach(CLI::App &app) override {
    CLI::App *sub = app.add_subcommand("predict", "write a trained model's output for every example");
    common_.attach(sub);
    sub->add_option("--out", out_, "where to write the predictions: FILE.npy or FILE.csv")->required();
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
    auto trainer = loadTrained(common_, "predict", data, comm);
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
    return kOk;
  }

private:
  CommonOptions common_;
  std::string out_;
};

} // namespace

std::unique_ptr<Command> makeTrainCommand() { return std::make_unique<TrainCommand>(); }
std::unique_ptr<Command> makeEvalCommand() { return std::make_unique<EvalCommand>(); }
std::unique_ptr<Command> makePredictCommand() { return std::make_unique<PredictCommand>(); }

} // namespace nnc::driver
