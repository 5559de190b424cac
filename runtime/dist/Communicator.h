//===- Communicator.h - The processes a data-parallel run spans, and their collectives ------===//
//
// Data-parallel training (docs/DISTRIBUTED.md) runs one process per rank; each computes the
// gradients of its shard of the global minibatch, the gradients are summed over all processes
// between the backward pass and the optimizer update, and every process applies the same
// update. A Communicator is what the Trainer needs of the processes for that: its rank and the
// number of processes, elementwise sums, a broadcast, and a way to stop every process at once.
//
// Two implementations: LocalCommunicator (one process; every collective is the identity), and
// the MPI world (runtime/dist/mpi/, built with the CMake option NNC_MPI), which worldCommunicator()
// returns when the program runs under mpirun. Every collective must be called by every process
// in the same order, as in MPI.
//
// On top of the primitives, agree() makes an error of any process the error of all, so that a
// failure on one process stops every process with the failing one's message, never a hang.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace nnc {

class Communicator {
public:
  virtual ~Communicator() = default;
  /// This process's number, 0 .. size()-1. Rank 0 prints, logs and writes checkpoints.
  virtual int rank() const = 0;
  /// The number of processes.
  virtual int size() const = 0;
  /// Sums `values` elementwise over all processes; every process gets the sum, in place.
  virtual void allreduceSum(std::span<float> values) = 0;
  virtual void allreduceSum(std::span<double> values) = 0;
  /// Copies `bytes` of process `root` into `bytes` of every other process (same length on all).
  virtual void broadcast(std::span<uint8_t> bytes, int root) = 0;
  /// Ends every process at once with exit status `code`: for an error only this process knows
  /// of, when the others cannot be told through a collective.
  [[noreturn]] virtual void abort(int code) = 0;
  /// "MPI (Open MPI 4.1.4)" or "one process".
  virtual std::string describe() const = 0;

  bool isLeader() const { return rank() == 0; }

  /// Collective: the first error among the processes, on every process. Returns `local` when
  /// no process failed; otherwise the error of the lowest failing rank, its message prefixed
  /// "process K: " where K is not 0 and there are several processes.
  Result<void> agree(Result<void> local);
  /// Collective: `text` of process `root` on every process.
  std::string broadcastString(std::string text, int root);
  /// Collective: whether `flag` is true on any process.
  bool any(bool flag);
};

/// One process: rank 0 of 1; the collectives change nothing.
class LocalCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduceSum(std::span<float>) override {}
  void allreduceSum(std::span<double>) override {}
  void broadcast(std::span<uint8_t>, int) override {}
  [[noreturn]] void abort(int code) override;
  std::string describe() const override { return "one process"; }
};

/// True when nnc was built with MPI (the CMake option NNC_MPI).
bool mpiBuilt();
/// True when this process was started by an MPI launcher (mpirun, mpiexec) as one of several
/// or one rank: the launcher's environment variables are set.
bool launchedByMpi();
/// The processes of this run: the MPI world (initialized here, finalized when the returned
/// object is destroyed) when nnc was built with MPI and launched by mpirun; otherwise a
/// LocalCommunicator. An Error when launched by mpirun with several processes but built
/// without MPI, since every process would then train alone. Call it at most once per process.
Result<std::shared_ptr<Communicator>> worldCommunicator(int *argc = nullptr, char ***argv = nullptr);

} // namespace nnc
