//===- jit_step_losses.cpp - The loss of every train step of `nnc train`, from the JIT ------===//
//
// The reference the ahead-of-time test compares with: trains MODEL on the CSV file DATA as
// `nnc train MODEL --data DATA --threads 1` does (features standardized, the Batcher's
// shuffled order, the final partial batch through its own functions, the steps per epoch of
// the data set compiled into the schedule), through the Trainer's step(), and prints the loss
// of every step as a C99 hex float, one per line. Usage: jit_step_losses MODEL DATA [EPOCHS]
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Batching.h"
#include "runtime/data/DataSource.h"
#include "runtime/train/Trainer.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace nnc;

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL.nn DATA.csv [EPOCHS]\n", argv[0]);
    return 2;
  }
  auto data = loadDataSource(argv[2], Split::Train);
  if (!data) {
    std::fprintf(stderr, "%s\n", data.message().c_str());
    return 1;
  }
  if (auto norm = normalizeFeatures(*data, nullptr, Normalization::Auto, argv[2]); !norm) {
    std::fprintf(stderr, "%s\n", norm.message().c_str());
    return 1;
  }
  CompileSettings settings;
  settings.threads = 1;
  auto source = Compilation::fromFile(argv[1], settings);
  if (!source) {
    std::fprintf(stderr, "%s\n", source.message().c_str());
    return 1;
  }
  const TrainConfig &config = (*source)->trainConfig();
  Batcher batcher(*data, static_cast<size_t>(config.batch), config.seed, config.shuffle);
  settings.stepsPerEpoch = static_cast<int64_t>(batcher.numBatches());
  auto trainer = Trainer::fromCompilation((*source)->withBatch(config.batch, settings.stepsPerEpoch));
  if (!trainer) {
    std::fprintf(stderr, "%s\n", trainer.message().c_str());
    return 1;
  }
  int64_t epochs = argc > 3 ? std::atoll(argv[3]) : config.epochs;
  std::vector<float> features;
  std::vector<int32_t> labels;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    batcher.startEpoch(static_cast<uint64_t>(epoch));
    for (size_t b = 0; b < batcher.numBatches(); ++b) {
      size_t rows = batcher.rowsIn(b);
      features.resize(rows * data->featureSize());
      labels.resize(rows);
      BatchBuffers out;
      out.features = features;
      out.classLabels = labels;
      if (auto r = batcher.fill(b, out); !r) {
        std::fprintf(stderr, "%s\n", r.message().c_str());
        return 1;
      }
      auto step = (*trainer)->step(features, labels, {}, rows);
      if (!step) {
        std::fprintf(stderr, "%s\n", step.message().c_str());
        return 1;
      }
      std::printf("%a\n", static_cast<double>(static_cast<float>(step->loss)));
    }
  }
  return 0;
}
