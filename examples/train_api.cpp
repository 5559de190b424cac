//===- train_api.cpp - Training Iris through nnc's C++ API ----------------------------------===//
//
// The library way of doing what `nnc train examples/iris.nn --data examples/iris.csv` does:
// compile the model, load and standardize the data, train epoch by epoch, evaluate, and save a
// checkpoint. Usage:
//
//   train_api [MODEL.nn [DATA.csv [CHECKPOINT.safetensors [EPOCHS]]]]
//
// (defaults: examples/iris.nn, examples/iris.csv, no checkpoint, the train block's epochs). It
// builds inside nnc's tree and, unchanged, against an installed nnc (tests/install/).
// Prints the accuracy after every tenth epoch and at the end; exits 1 on any error.
//
//===----------------------------------------------------------------------------------------===//
#include <nnc/runtime/data/DataSource.h>
#include <nnc/runtime/train/Trainer.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace nnc;

int main(int argc, char **argv) {
  std::string model = argc > 1 ? argv[1] : "examples/iris.nn";
  std::string csv = argc > 2 ? argv[2] : "examples/iris.csv";
  std::string checkpoint = argc > 3 ? argv[3] : "";
  CompileSettings options; // what overrides the train block; the pipeline's settings
  if (argc > 4)
    options.train.epochs = std::atoll(argv[4]);

  // Compile: the train step, eval and predict functions, JIT-compiled for the host CPU.
  auto trainer = Trainer::fromFile(model, options);
  if (!trainer) {
    std::fprintf(stderr, "%s\n", trainer.message().c_str());
    return 1;
  }
  Trainer &t = **trainer;

  // Data: a CSV of 4 feature columns and a class column; features standardized.
  auto data = loadDataSource(csv, Split::Train);
  if (!data) {
    std::fprintf(stderr, "%s\n", data.message().c_str());
    return 1;
  }
  if (auto norm = normalizeFeatures(*data, nullptr, Normalization::Standardize, csv); !norm) {
    std::fprintf(stderr, "%s\n", norm.message().c_str());
    return 1;
  }
  if (auto ok = t.checkData(*data); !ok) {
    std::fprintf(stderr, "%s\n", ok.message().c_str());
    return 1;
  }

  int64_t epochs = t.config().epochs;
  std::printf("training '%s' on %zu examples: %lld epochs, batch %lld\n", t.modelName().c_str(), data->size(),
              static_cast<long long>(epochs), static_cast<long long>(t.batchSize()));
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    auto stats = t.trainEpoch(*data, static_cast<uint64_t>(epoch)); // shuffled by (seed, epoch)
    if (!stats) {
      std::fprintf(stderr, "%s\n", stats.message().c_str());
      return 1;
    }
    if ((epoch + 1) % 10 == 0 || epoch + 1 == epochs)
      std::printf("epoch %lld  train loss %.4f  acc %.2f%%\n", static_cast<long long>(epoch + 1), stats->loss,
                  100 * stats->accuracy);
  }

  // Evaluate on the whole set: dropout off, every example counted once.
  auto eval = t.evaluate(*data);
  if (!eval) {
    std::fprintf(stderr, "%s\n", eval.message().c_str());
    return 1;
  }
  std::printf("final: %zu examples  loss %.4f  accuracy %.2f%%  (%lld steps)\n", eval->examples, eval->loss,
              100 * eval->accuracy, static_cast<long long>(t.stepCount()));

  if (!checkpoint.empty()) {
    if (auto saved = t.save(checkpoint); !saved) {
      std::fprintf(stderr, "%s\n", saved.message().c_str());
      return 1;
    }
    std::printf("saved %s\n", checkpoint.c_str());
  }
  return 0;
}
