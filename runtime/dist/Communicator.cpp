//===- Communicator.cpp - Agreement on errors, the local communicator, the world -----------===//
#include "runtime/dist/Communicator.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace nnc {

#ifdef NNC_MPI
/// runtime/dist/mpi/MpiCommunicator.cpp: MPI_Init, and MPI_Finalize when destroyed.
Result<std::shared_ptr<Communicator>> makeMpiWorld(int *argc, char ***argv);
#endif

Result<void> Communicator::agree(Result<void> local) {
  if (size() == 1)
    return local;
  std::vector<double> failed(static_cast<size_t>(size()), 0.0);
  if (!local)
    failed[static_cast<size_t>(rank())] = 1;
  allreduceSum(failed);
  int first = -1;
  for (size_t k = 0; k < failed.size() && first < 0; ++k)
    if (failed[k] > 0)
      first = static_cast<int>(k);
  if (first < 0)
    return {};
  std::string message = broadcastString(local ? std::string() : local.message(), first);
  return Error{first == 0 ? message : fmt::format("process {}: {}", first, message)};
}

std::string Communicator::broadcastString(std::string text, int root) {
  if (size() == 1)
    return text;
  uint64_t n = text.size();
  uint8_t len[sizeof n];
  std::memcpy(len, &n, sizeof n);
  broadcast(len, root);
  std::memcpy(&n, len, sizeof n);
  text.resize(n);
  broadcast(std::span<uint8_t>(reinterpret_cast<uint8_t *>(text.data()), text.size()), root);
  return text;
}

bool Communicator::any(bool flag) {
  if (size() == 1)
    return flag;
  double v = flag ? 1 : 0;
  allreduceSum(std::span<double>(&v, 1));
  return v > 0;
}

void LocalCommunicator::abort(int code) { std::exit(code); }

bool mpiBuilt() {
#ifdef NNC_MPI
  return true;
#else
  return false;
#endif
}

namespace {
/// The number of processes the launcher started, from its environment (Open MPI, then the
/// PMI variables of MPICH's and others' launchers); 0 when not launched by one.
int launcherWorldSize() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (const char *v = std::getenv(name); v && *v)
      return std::max(1, std::atoi(v));
  return 0;
}
} // namespace

bool launchedByMpi() { return launcherWorldSize() > 0; }

Result<std::shared_ptr<Communicator>> worldCommunicator([[maybe_unused]] int *argc, [[maybe_unused]] char ***argv) {
  int size = launcherWorldSize();
  if (size == 0)
    return std::shared_ptr<Communicator>(std::make_shared<LocalCommunicator>());
#ifdef NNC_MPI
  return makeMpiWorld(argc, argv);
#else
  if (size > 1)
    return Error{fmt::format("nnc was started as one of {} MPI processes but built without MPI: each would "
                             "train alone. Rebuild with Open MPI installed (CMake option NNC_MPI=ON)",
                             size)};
  return std::shared_ptr<Communicator>(std::make_shared<LocalCommunicator>());
#endif
}

} // namespace nnc
