//===- MpiCommunicator.cpp - The MPI world as a Communicator --------------------------------===//
//
// Compiled only with the CMake option NNC_MPI. Only the thread that created it calls MPI
// (MPI_THREAD_FUNNELED): the compiled code's thread pool never communicates. MPI errors keep
// MPI's default handler, MPI_ERRORS_ARE_FATAL, which ends every process of the job.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/dist/Communicator.h"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace nnc {

namespace {

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
      MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduceSum(std::span<float> values) override { sum(values.data(), values.size(), MPI_FLOAT); }
  void allreduceSum(std::span<double> values) override { sum(values.data(), values.size(), MPI_DOUBLE); }
  void broadcast(std::span<uint8_t> bytes, int root) override {
    for (size_t at = 0; at < bytes.size(); at += kChunk)
      MPI_Bcast(bytes.data() + at, static_cast<int>(std::min(kChunk, bytes.size() - at)), MPI_BYTE, root,
                MPI_COMM_WORLD);
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code); // MPI_Abort does not return; this keeps [[noreturn]] true regardless
  }
  std::string describe() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string v(version, static_cast<size_t>(std::max(0, len)));
    if (size_t nl = v.find_first_of(",\n"); nl != std::string::npos)
      v.resize(nl);
    return fmt::format("MPI ({}), {} processes", v, size_);
  }

private:
  /// MPI counts are int: larger buffers go in pieces.
  static constexpr size_t kChunk = size_t(1) << 30;
  template <class T> void sum(T *data, size_t n, MPI_Datatype type) {
    for (size_t at = 0; at < n; at += kChunk)
      MPI_Allreduce(MPI_IN_PLACE, data + at, static_cast<int>(std::min(kChunk, n - at)), type, MPI_SUM,
                    MPI_COMM_WORLD);
  }
  int rank_ = 0, size_ = 1;
};

} // namespace

Result<std::shared_ptr<Communicator>> makeMpiWorld(int *argc, char ***argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return Error{"MPI_Init_thread failed"};
  }
  return std::shared_ptr<Communicator>(std::make_shared<MpiCommunicator>());
}

} // namespace nnc
