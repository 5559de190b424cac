//===- nnc_bench.cpp - Times nnc's compiled train step on synthetic data --------------------===//
//
// A standalone program, not part of ctest (bench/run.sh runs it). For one .nn model it
//   1. compiles the model (Trainer::fromFile, timed: the cold compile of a fresh process),
//      its parameters initialized by the model's initializers from --seed;
//   2. writes what PyTorch needs to run the same step (bench/torch_bench.py): the initial
//      parameters as <out>/param.<name>.npy, and the synthetic data as <out>/x.npy (f32,
//      --batches minibatches of uniform [0, 1) features) and <out>/y.npy (i32 class indices);
//   3. runs --check steps over the minibatches and records their losses (PyTorch compares its
//      own losses on the same data with them, which shows both run the same model);
//   4. warms up (1 s by default: on a 2-vCPU virtual machine the second thread's steps stay
//      slow for the first 0.3-0.5 s of a process, bench/misses.md), then times --reps repetitions, each of as many steps as last about --rep-ms
//      (cycling over the minibatches); prints one JSON object: the wall and CPU seconds per
//      step of every repetition, the compile time (wall and CPU), the check losses and the
//      peak resident memory.
//
//   5. with --raw, also times the compiled train_step function alone, called directly with
//      buffers prepared once (compiling the model a second time the way Trainer does), which
//      shows how much of a step is the Trainer::step host path (staging copies, lookups).
//
//   nnc_bench MODEL.nn --out DIR --features F --classes C [--seed 7] [--batches 4]
//             [--check 3] [--warmup-ms 1000] [--reps 7] [--rep-ms 150] [--no-write] [--raw]
//             [--threads 1] [--disable-pass NAME]...
//
// --threads sets CompileSettings::threads (the compiled step's threads; default 1). Each
// --disable-pass NAME turns off one graph pass (passes/optimize/PassManager.h) or code generation pass
// (codegen/Emitter.h), as `nnc --disable-pass` does; `nnc --passes=list` prints the names. Both
// are recorded in the JSON line ("threads", "disabled_passes") and apply to --raw too.
//
// With --epoch DATA (e.g. fashion-mnist) it instead trains MODEL for one epoch on the data, the
// way `nnc train MODEL --epochs 1` does (pixels scaled to [0, 1], then one shuffled epoch and
// the test set evaluated), and prints the wall seconds of each phase together with the seconds
// spent compiling inside it (the runtime compiles the step again for the epoch's step count and
// for the final partial minibatch), so the epoch's own time can be told from compilation.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"
#include "passes/optimize/PassManager.h"
#include "runtime/data/DataSource.h"
#include "pipeline/Pipeline.h"
#include "runtime/exec/Executable.h"
#include "runtime/data/Npy.h"
#include "support/ReadFile.h"
#include "runtime/train/Trainer.h"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

double now() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/// CPU seconds of the process: on a shared machine, what the step cost when it did run.
double cpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "nnc_bench: %s\n", message.c_str());
  std::exit(1);
}

std::string jsonList(const std::vector<double> &v, const char *format = "%.9g") {
  std::string s = "[";
  char buf[64];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, format, v[i]);
    s += (i ? ", " : "") + std::string(buf);
  }
  return s + "]";
}

/// A JSON array of strings (pass names: letters, digits and '-').
std::string jsonStrings(const std::vector<std::string> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", \"" : "\"") + v[i] + "\"";
  return s + "]";
}

/// Seconds per call of the compiled train_step alone: the model compiled as Trainer does it
/// (the pipeline's executable stage, with `options`' threads and disabled passes), state copied from `t`, minibatch 0 staged once; median over
/// `reps` repetitions of ~repMs.
double rawStepSeconds(const std::string &path, nnc::Trainer &t, const nnc::CompileSettings &options,
                      const std::vector<float> &x, const std::vector<int32_t> &y, int64_t reps,
                      double repMs) {
  using namespace nnc;
  // A compilation of its own, not the Trainer's: the raw step runs on a copy of the state.
  auto compilation = Compilation::fromFile(path, options);
  if (!compilation)
    die("raw: " + compilation.message());
  auto exe = (*compilation)->executable();
  if (!exe)
    die("raw: " + exe.message());
  const Module &module = **(*compilation)->optimizedGraphs();
  CompiledFunction *fn = (*exe)->function("train_step");
  const Function &train = *module.findFunction("train_step");
  std::vector<std::vector<uint8_t>> buffers;
  for (const Argument &a : train.arguments()) {
    size_t bytes = size_t(std::max<int64_t>(1, a.type.numElements() * storageBytes(a.type.dtype)));
    std::vector<uint8_t> b(bytes, 0);
    if (a.role == ArgRole::State) {
      auto value = t.tensor(a.name);
      if (!value)
        die(value.message());
      std::memcpy(b.data(), value->bytes.data(), std::min(bytes, value->bytes.size()));
    } else if (a.role == ArgRole::Input) {
      std::memcpy(b.data(), x.data(), std::min(bytes, x.size() * 4));
    } else {
      std::memcpy(b.data(), y.data(), std::min(bytes, y.size() * 4));
    }
    buffers.push_back(std::move(b));
  }
  for (const FunctionResult &r : train.results())
    buffers.emplace_back(size_t(std::max<int64_t>(1, train.type(r.value).numElements() * 8)), 0);
  std::vector<void *> ptrs;
  for (auto &b : buffers)
    ptrs.push_back(b.data());
  int64_t warm = 0;
  double start = now();
  while (now() - start < 0.1 || warm < 3) {
    fn->call(ptrs.data());
    ++warm;
  }
  int64_t per = std::max<int64_t>(1, int64_t(repMs * 1e-3 / ((now() - start) / double(warm))));
  std::vector<double> times;
  for (int64_t r = 0; r < reps; ++r) {
    double s = now();
    for (int64_t i = 0; i < per; ++i)
      fn->call(ptrs.data());
    times.push_back((now() - s) / double(per));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// --epoch: one epoch of `model` on `data`, phases timed; prints one JSON object.
int epochBench(const std::string &model, const std::string &data, const nnc::CompileSettings &base) {
  using namespace nnc;
  double t0 = now();
  auto train = loadDataSource(data, Split::Train);
  auto test = loadDataSource(data, Split::Test);
  if (!train || !test)
    die(!train ? train.message() : test.message());
  if (auto map = normalizeFeatures(*train, &*test, Normalization::Auto, data); !map)
    die(map.message());
  double loadS = now() - t0;
  CompileSettings options = base;
  options.train.epochs = 1;
  t0 = now();
  auto trainer = Trainer::fromFile(model, options);
  if (!trainer)
    die(trainer.message());
  Trainer &t = **trainer;
  double compileS = now() - t0;
  double c0 = t.compileSeconds();
  t0 = now();
  auto stats = t.trainEpoch(*train, 0);
  if (!stats)
    die(stats.message());
  double epochS = now() - t0, epochCompileS = t.compileSeconds() - c0;
  c0 = t.compileSeconds();
  t0 = now();
  auto ev = t.evaluate(*test);
  if (!ev)
    die(ev.message());
  double evalS = now() - t0, evalCompileS = t.compileSeconds() - c0;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"load_s\": %.4f, \"compile_s\": %.4f, \"epoch_s\": %.4f, \"epoch_compile_s\": %.4f, "
              "\"eval_s\": %.4f, \"eval_compile_s\": %.4f, \"compile_total_s\": %.4f, \"train_loss\": %.6f, "
              "\"test_accuracy\": %.6f, \"maxrss_kb\": %ld, \"threads\": %d, \"disabled_passes\": %s}\n",
              loadS, compileS, epochS, epochCompileS, evalS, evalCompileS, t.compileSeconds(), stats->loss,
              ev->accuracy, usage.ru_maxrss, options.threads, jsonStrings(options.disabledPasses).c_str());
  return 0;
}

const char *kUsage =
    "usage: nnc_bench MODEL.nn --out DIR --features F --classes C [options]\n"
    "       nnc_bench MODEL.nn --epoch DATA [--seed S] [--threads N] [--disable-pass NAME]...\n"
    "Times nnc's compiled train step on synthetic data; prints one JSON line.\n"
    "  --out DIR            where the initial parameters and data are written as .npy\n"
    "  --features F         features per example (the model's input row)\n"
    "  --classes C          classes of the synthetic labels\n"
    "  --seed S             initializers' and data's seed (default 7)\n"
    "  --batches N          synthetic minibatches, used in turn (default 4)\n"
    "  --check N            steps whose losses are recorded first (default 3)\n"
    "  --warmup-ms MS       warm-up before timing (default 1000)\n"
    "  --reps N             timed repetitions (default 7)\n"
    "  --rep-ms MS          length of one repetition (default 150)\n"
    "  --threads N          threads of the compiled step (CompileSettings::threads; default 1)\n"
    "  --disable-pass NAME  turn off a graph or code generation pass (repeatable; names:\n"
    "                       `nnc --passes=list`)\n"
    "  --no-write           do not write the .npy files\n"
    "  --raw                also time the compiled train_step function alone\n"
    "  --profile            time every kernel of the step and print the kernels by time (stderr;\n"
    "                       the step times then include the timing calls)\n"
    "  --startup            only compile and take one step; print the time to it and the compile's\n"
    "                       phases (bench/run_all.py's start-up figures; the cache as NNC_CACHE says)\n"
    "  --epoch DATA         instead train one epoch on DATA (e.g. fashion-mnist), phases timed\n"
    "  --help               this text\n";

} // namespace

int main(int argc, char **argv) {
  std::string model, out, epochData;
  int64_t features = 0, classes = 0, batches = 4, check = 3, reps = 7;
  uint64_t seed = 7;
  double warmupMs = 1000, repMs = 150;
  bool write = true, raw = false, startup = false, profile = false;
  int threads = 1;
  std::vector<std::string> disabled;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--startup") startup = true;
    else if (a == "--out") out = next();
    else if (a == "--features") features = std::atoll(next().c_str());
    else if (a == "--classes") classes = std::atoll(next().c_str());
    else if (a == "--seed") seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--batches") batches = std::atoll(next().c_str());
    else if (a == "--check") check = std::atoll(next().c_str());
    else if (a == "--reps") reps = std::atoll(next().c_str());
    else if (a == "--warmup-ms") warmupMs = std::atof(next().c_str());
    else if (a == "--rep-ms") repMs = std::atof(next().c_str());
    else if (a == "--no-write") write = false;
    else if (a == "--raw") raw = true;
    else if (a == "--profile") profile = true;
    else if (a == "--epoch") epochData = next();
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--disable-pass") {
      std::string name = next();
      if (!nnc::findPass(name) && !nnc::findCodegenPass(name))
        die("unknown pass '" + name + "' (nnc --passes=list prints the names)");
      disabled.push_back(name);
    }
    else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    else if (!a.empty() && a[0] != '-' && model.empty()) model = a;
    else {
      std::fprintf(stderr, "nnc_bench: unknown argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (threads < 1)
    die("--threads must be at least 1");
  nnc::CompileSettings options;
  options.train.seed = seed;
  options.threads = threads;
  options.disabledPasses = disabled;
  options.profile = profile;
  if (!model.empty() && !epochData.empty())
    return epochBench(model, epochData, options);
  if (startup && out.empty())
    out = "-"; // nothing is written
  if (model.empty() || out.empty() || features <= 0 || classes <= 0 || batches <= 0 || reps <= 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  // 1. The cold compile: parse, lower, autodiff, optimizer, LLVM, for the model's batch size.
  double t0 = now(), c0 = cpuNow();
  auto trainer = nnc::Trainer::fromFile(model, options);
  double compileWall = now() - t0, compileCpu = cpuNow() - c0;
  if (!trainer)
    die(trainer.message());
  nnc::Trainer &t = **trainer;
  const int64_t B = t.batchSize();

  // 2. Synthetic data, deterministic from the seed, and the initial parameters.
  std::mt19937_64 rng(seed * 1000003 + 17);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::uniform_int_distribution<int32_t> label(0, int32_t(classes) - 1);
  // --startup times compile and first step only: one minibatch, its making not counted.
  if (startup)
    batches = 1;
  double dataStart = now();
  std::vector<float> x(size_t(batches * B * features));
  std::vector<int32_t> y(size_t(batches * B));
  for (float &v : x)
    v = uniform(rng);
  for (int32_t &v : y)
    v = label(rng);
  if (startup) {
    // The time to the first finished step: compile, then one step on the first minibatch.
    double stepStart = now();
    auto r = t.step(std::span<const float>(x).subspan(0, size_t(B * features)),
                    std::span<const int32_t>(y).subspan(0, size_t(B)), {}, size_t(B));
    if (!r)
      die(r.message());
    double firstStep = now() - t0 - (stepStart - dataStart);
    const nnc::Trainer::CompileSplit &cs = t.compileSplit();
    const nnc::CompileTimes &j = cs.jit;
    std::printf("{\"model\": \"%s\", \"compile_s\": %.6f, \"first_step_s\": %.6f, \"graphs_ms\": %.3f, "
                "\"jit_ms\": %.3f, \"emit_ms\": %.3f, \"model_from_cache\": %s, \"model_load_ms\": %.3f, "
                "\"model_optimize_ms\": %.3f, \"model_machine_code_ms\": %.3f, \"gemm_from_cache\": %s, "
                "\"gemm_load_ms\": %.3f, \"gemm_optimize_ms\": %.3f, \"gemm_machine_code_ms\": %.3f, "
                "\"loss\": %.6f}\n",
                std::filesystem::path(model).stem().c_str(), compileWall, firstStep, cs.graphsMs, cs.jitMs, j.emitMs,
                j.model.fromCache ? "true" : "false", j.model.loadMs, j.model.optimizeMs, j.model.machineCodeMs,
                j.gemm.fromCache ? "true" : "false", j.gemm.loadMs, j.gemm.optimizeMs, j.gemm.machineCodeMs, r->loss);
    return 0;
  }
  std::vector<std::string> names = t.parameterNames();
  if (write) {
    std::filesystem::create_directories(out);
    auto put = [&](const std::string &file, const nnc::HostTensor &tensor) {
      if (auto r = nnc::writeNpy(out + "/" + file, tensor); !r)
        die(r.message());
    };
    put("x.npy", nnc::HostTensor::of<float>({batches * B, features}, x));
    put("y.npy", nnc::HostTensor::of<int32_t>({batches * B}, y));
    for (const std::string &name : names) {
      auto value = t.tensor(name);
      if (!value)
        die(value.message());
      put("param." + name + ".npy", *value);
    }
  }

  int64_t next = 0;
  auto step = [&]() -> double {
    int64_t b = next++ % batches;
    auto r = t.step(std::span<const float>(x).subspan(size_t(b * B * features), size_t(B * features)),
                    std::span<const int32_t>(y).subspan(size_t(b * B), size_t(B)), {}, size_t(B));
    if (!r)
      die(r.message());
    return r->loss;
  };

  // 3. The first steps' losses, from the initial parameters.
  std::vector<double> losses;
  for (int64_t i = 0; i < check; ++i)
    losses.push_back(step());

  // 4. Warm-up (also sizes a repetition), then the timed repetitions.
  int64_t warmSteps = 0;
  double start = now();
  while (now() - start < warmupMs * 1e-3 || warmSteps < 3) {
    step();
    ++warmSteps;
  }
  double perStep = (now() - start) / double(warmSteps);
  int64_t stepsPerRep = std::max<int64_t>(1, int64_t(repMs * 1e-3 / perStep));
  std::vector<double> times, cpuTimes;
  for (int64_t r = 0; r < reps; ++r) {
    double s = now(), c = cpuNow();
    for (int64_t i = 0; i < stepsPerRep; ++i)
      step();
    times.push_back((now() - s) / double(stepsPerRep));
    cpuTimes.push_back((cpuNow() - c) / double(stepsPerRep));
  }
  double lastLoss = step();

  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage); // before --raw's second compile
  double rawStep = raw ? rawStepSeconds(model, t, options, x, y, reps, repMs) : 0.0;
  std::printf("{\"model\": \"%s\", \"batch\": %lld, \"threads\": %d, \"disabled_passes\": %s, "
              "\"compile_s\": %.6f, \"compile_cpu_s\": %.6f, "
              "\"compile_trainer_s\": %.6f, \"steps_per_rep\": %lld, \"step_s\": %s, \"step_cpu_s\": %s, \"check_losses\": %s, \"last_loss\": %.9g, "
              "\"maxrss_kb\": %ld, \"params\": %zu, \"raw_step_s\": %.9g}\n",
              t.modelName().c_str(), (long long)B, options.threads, jsonStrings(options.disabledPasses).c_str(),
              compileWall, compileCpu, t.compileSeconds(),
              (long long)stepsPerRep, jsonList(times).c_str(), jsonList(cpuTimes).c_str(), jsonList(losses).c_str(), lastLoss, usage.ru_maxrss, names.size(), rawStep);
  if (profile)
    std::fputs(nnc::kernelProfileReport().c_str(), stderr);
  return 0;
}
