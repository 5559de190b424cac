//===- train_mpi.cpp - Data-parallel training through nnc's C++ API -------------------------===//
//
// The library way of doing what `mpirun -np N nnc train MODEL --data DATA` does: every process
// runs this same program; worldCommunicator() joins the MPI processes (or, started without
// mpirun, gives a one-process communicator), and the Trainer built with it splits each global
// minibatch over the processes and sums their gradients before every update. Only rank 0
// prints and writes the checkpoint. Usage:
//
//   mpirun -np 2 train_mpi [MODEL.nn [DATA.csv [CHECKPOINT.safetensors [EPOCHS]]]]
//
// (defaults: examples/iris.nn, examples/iris.csv, no checkpoint, the train block's epochs).
// Exits 1 on any error, on every process: the Trainer's collective calls agree on errors.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/DataSource.h"
#include "runtime/dist/Communicator.h"
#include "runtime/train/Trainer.h"

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace nnc;

int main(int argc, char **argv) {
  // First, before anything else may fail on one process only.
  auto world = worldCommunicator(&argc, &argv);
  if (!world) {
    std::fprintf(stderr, "%s\n", world.message().c_str());
    return 1;
  }
  std::shared_ptr<Communicator> comm = *world;
  const bool leader = comm->isLeader();
  // An error every process knows of (each call below is collective or agreed): rank 0 prints it.
  auto fail = [&](const std::string &message) {
    if (leader)
      std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
  };

  std::string model = argc > 1 ? argv[1] : NNC_SOURCE_DIR "/examples/iris.nn";
  std::string csv = argc > 2 ? argv[2] : NNC_SOURCE_DIR "/examples/iris.csv";
  std::string checkpoint = argc > 3 ? argv[3] : "";
  CompileSettings options;
  options.threads = 1; // one process per core
  if (argc > 4)
    options.train.epochs = std::atoll(argv[4]);

  // Every process loads the whole data set; each trains on its shard of every minibatch.
  auto data = loadDataSource(csv, Split::Train);
  Result<void> loaded;
  if (!data)
    loaded = data.error();
  else if (auto norm = normalizeFeatures(*data, nullptr, Normalization::Standardize, csv); !norm)
    loaded = norm.error();
  if (auto ok = comm->agree(std::move(loaded)); !ok)
    return fail(ok.message());

  auto trainer = Trainer::fromFile(model, options, comm); // collective: compiles on every process
  if (!trainer)
    return fail(trainer.message());
  Trainer &t = **trainer;

  int64_t epochs = t.config().epochs;
  if (leader)
    std::printf("training '%s' on %zu examples over %s: %lld epochs, global batch %lld\n", t.modelName().c_str(),
                data->size(), comm->describe().c_str(), static_cast<long long>(epochs),
                static_cast<long long>(t.batchSize()));
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    auto stats = t.trainEpoch(*data, static_cast<uint64_t>(epoch)); // collective
    if (!stats)
      return fail(stats.message());
    if (leader && ((epoch + 1) % 10 == 0 || epoch + 1 == epochs))
      std::printf("epoch %lld  train loss %.4f  acc %.2f%%\n", static_cast<long long>(epoch + 1), stats->loss,
                  100 * stats->accuracy);
  }

  auto eval = t.evaluate(*data); // each process evaluates its shard; the counts are summed
  if (!eval)
    return fail(eval.message());
  if (leader) {
    std::printf("final: train loss %.4f  train accuracy %.2f%%\n", eval->loss, 100 * eval->accuracy);
    const CommunicationStats &cs = t.communicationStats();
    std::printf("allreduce: %llu calls of %zu bytes, %.3f ms per step\n", static_cast<unsigned long long>(cs.allreduces),
                cs.bytesPerStep, cs.steps ? 1e3 * cs.seconds / double(cs.steps) : 0.0);
  }
  if (!checkpoint.empty()) {
    if (auto saved = t.save(checkpoint); !saved) // rank 0 writes, atomically
      return fail(saved.message());
    if (leader)
      std::printf("saved %s\n", checkpoint.c_str());
  }
  return 0;
}
