//===- Profile.h - Time per kernel of profiled compiled functions ---------------------------===//
//
// Code emitted with EmitOptions::profile calls nnc_profile_mark(k) before its kernel k (see
// codegen/Emitter.h). While a CompiledFunction with a KernelProfile runs, a
// KernelProfileScope makes that profile the calling thread's active one, and each mark adds
// the time since the previous mark to the kernel that was running. Kernels that split their
// work over the thread pool are timed on the calling thread, from their start to the end of
// their last block: wall time, as the step sees it.
//
// `nnc train --profile` and `nnc_bench --profile` print kernelProfileReport(): per profiled
// function, its kernels by time, each with the line `nnc --emit=opt` prints for it.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// The accumulated time of one compiled function's kernels.
struct KernelProfile {
  std::string function;            ///< e.g. "train_step (batch 64)"
  std::vector<std::string> labels; ///< per kernel, then the final copies of results and state
  std::vector<uint64_t> ns;        ///< per label: nanoseconds over all calls
  uint64_t calls = 0;              ///< completed calls
  // The span being timed: the label it belongs to (-1: none) and when it started.
  int32_t open = -1;
  uint64_t openedAt = 0;
};

/// A new profile, kept for kernelProfileReport() until the process ends. `labels` are the
/// kernels' descriptions; one more label ("results and state copies") is appended.
std::shared_ptr<KernelProfile> registerKernelProfile(std::string function, std::vector<std::string> labels);

/// Every registered profile that was called, as text: per function its calls, its mean time
/// per call, and the kernels taking the most time with their share; at most `top` kernels per
/// function (0: all).
std::string kernelProfileReport(size_t top = 0);

/// Makes `profile` the calling thread's active profile for its lifetime.
class KernelProfileScope {
public:
  explicit KernelProfileScope(KernelProfile &profile);
  ~KernelProfileScope();
  KernelProfileScope(const KernelProfileScope &) = delete;
  KernelProfileScope &operator=(const KernelProfileScope &) = delete;

private:
  KernelProfile *previous_;
};

} // namespace nnc

/// Called by profiled code: closes the running span and opens kernel `k` (k ≥ 0), or ends the
/// call (k < 0).
extern "C" void nnc_profile_mark(int32_t k);
