//===- dist_bench.cpp - Steps per second of data-parallel training, and its allreduce --------===//
//
// A standalone program, not part of ctest (bench/dist_bench.sh runs it). Every process of a run
// (one without mpirun, N under `mpirun -np N`) compiles MODEL with --threads threads for the
// compiled code, makes the same synthetic global minibatches (uniform [0, 1) features, class
// labels) and trains on its shard of each with Trainer::step, which sums the gradients over the
// processes with one allreduce per step. After --warmup steps it times --steps steps and rank 0
// prints one JSON line: processes, threads, steps per second, and the wall milliseconds per step
// spent inside the allreduce (including waiting for the slowest process) with its bytes.
//
//   [mpirun -np N] dist_bench MODEL.nn --features F --classes C [--threads 1] [--steps 200]
//                             [--warmup 20] [--seed 7]
//   mpirun -np N dist_bench --allreduce
//
// --allreduce times MPI_Allreduce alone (through the Communicator) on float buffers from 4 bytes
// to 4 MB, the median of repeated calls, one JSON line per size: the latency and bandwidth
// terms of the cost model in docs/DISTRIBUTED.md come from them.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Batching.h"
#include "runtime/dist/Communicator.h"
#include "runtime/train/Trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace nnc;

int main(int argc, char **argv) {
  auto world = worldCommunicator(&argc, &argv);
  if (!world) {
    fmt::print(stderr, "{}\n", world.message());
    return 1;
  }
  std::shared_ptr<Communicator> comm = *world;
  if (argc == 2 && std::strcmp(argv[1], "--allreduce") == 0) {
    for (size_t n : {size_t(1), size_t(256), size_t(4096), size_t(65536), size_t(262144), size_t(1048576)}) {
      std::vector<float> buf(n, 1.f);
      const int reps = n >= 262144 ? 15 : 101;
      std::vector<double> us;
      for (int r = 0; r < reps + 3; ++r) {
        comm->any(false);
        auto t0 = std::chrono::steady_clock::now();
        comm->allreduceSum(std::span<float>(buf));
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r >= 3)
          us.push_back(1e6 * t);
      }
      std::sort(us.begin(), us.end());
      if (comm->isLeader())
        fmt::print("{{\"allreduce_bytes\": {}, \"processes\": {}, \"median_us\": {:.1f}, \"min_us\": {:.1f}}}\n",
                   n * 4, comm->size(), us[us.size() / 2], us.front());
    }
    return 0;
  }
  std::string model;
  int64_t features = 0, classes = 0, steps = 200, warmup = 20;
  int threads = 1;
  uint64_t seed = 7;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char * { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--features") features = std::atoll(next());
    else if (a == "--classes") classes = std::atoll(next());
    else if (a == "--threads") threads = std::atoi(next());
    else if (a == "--steps") steps = std::atoll(next());
    else if (a == "--warmup") warmup = std::atoll(next());
    else if (a == "--seed") seed = std::strtoull(next(), nullptr, 10);
    else model = a;
  }
  if (model.empty() || features <= 0 || classes <= 0 || threads < 1 || steps < 1) {
    fmt::print(stderr, "usage: dist_bench MODEL.nn --features F --classes C [--threads T] [--steps N] [--warmup W]\n");
    return 2;
  }
  CompileSettings settings;
  settings.threads = threads;
  auto trainer = Trainer::fromFile(model, settings, comm);
  if (!trainer) {
    if (comm->isLeader())
      fmt::print(stderr, "{}\n", trainer.message());
    return 1;
  }
  Trainer &t = **trainer;
  const size_t batch = static_cast<size_t>(t.batchSize());
  Shard shard = shardOf(batch, comm->rank(), comm->size());
  // A few global minibatches, the same on every process; each takes its rows.
  const size_t kBatches = 4;
  std::vector<std::vector<float>> xs(kBatches);
  std::vector<std::vector<int32_t>> ys(kBatches);
  SplitMix64 rng(seed);
  for (size_t b = 0; b < kBatches; ++b) {
    std::vector<float> x(batch * size_t(features));
    std::vector<int32_t> y(batch);
    for (float &v : x)
      v = float(rng.next() >> 40) * 0x1.0p-24f;
    for (int32_t &v : y)
      v = int32_t(rng.below(uint64_t(classes)));
    xs[b].assign(x.begin() + long(shard.first * size_t(features)),
                 x.begin() + long((shard.first + shard.count) * size_t(features)));
    ys[b].assign(y.begin() + long(shard.first), y.begin() + long(shard.first + shard.count));
  }
  auto run = [&](int64_t n) -> Result<void> {
    for (int64_t s = 0; s < n; ++s) {
      size_t b = size_t(s) % kBatches;
      auto r = t.step(xs[b], ys[b], {}, shard.count);
      if (!r)
        return r.error();
    }
    return {};
  };
  if (auto r = run(warmup); !r) {
    fmt::print(stderr, "{}\n", r.message());
    return 1;
  }
  CommunicationStats before = t.communicationStats();
  comm->any(false); // start together
  auto start = std::chrono::steady_clock::now();
  if (auto r = run(steps); !r) {
    fmt::print(stderr, "{}\n", r.message());
    return 1;
  }
  comm->any(false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const CommunicationStats &after = t.communicationStats();
  double commMs = 1e3 * (after.seconds - before.seconds) / double(steps);
  if (comm->isLeader())
    fmt::print("{{\"model\": \"{}\", \"processes\": {}, \"threads\": {}, \"batch\": {}, \"steps_per_s\": {:.2f}, "
               "\"ms_per_step\": {:.3f}, \"allreduce_ms_per_step\": {:.3f}, \"allreduce_bytes\": {}}}\n",
               t.modelName(), comm->size(), threads, batch, double(steps) / secs, 1e3 * secs / double(steps), commMs,
               after.bytesPerStep);
  return 0;
}
