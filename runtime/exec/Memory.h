//===- Memory.h - What a compiled module needs in memory, checked before allocating --------===//
//
// A model compiled for a large batch can need more memory than the machine has; allocating it
// piecemeal would end in a crash, std::bad_alloc or the kernel's OOM killer halfway through.
// So the pipeline adds up, from the optimized graphs and their kernel plans, everything running
// the module allocates — the state (parameters, optimizer slots, counters), each function's
// arena (intermediates and GEMM packing scratch), the argument and result buffers, and the
// minibatch staged in f32 — and refuses, before allocating any of it, a module that needs more
// than memoryLimit() allows.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "codegen/KernelPlan.h"
#include "ir/Graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nnc {

/// Bytes a compiled module needs, by kind; sums saturate at UINT64_MAX.
struct MemoryNeeds {
  uint64_t state = 0;   ///< state arguments (each name once, as the Trainer keeps them)
  uint64_t arena = 0;   ///< every function's arena (intermediates, GEMM scratch)
  uint64_t io = 0;      ///< buffers of the non-state arguments and of the results
  uint64_t staging = 0; ///< the minibatch staged in f32 (inputs and targets of train_step)
  uint64_t total() const;
  /// "52.0 GiB (55834574848 bytes: state 60 B, arenas 40.0 GiB, ...)".
  std::string describe() const;
};

/// What running `module`, planned as `plans` (one per function, in order), allocates.
MemoryNeeds memoryNeeds(const Module &module, const std::vector<KernelPlan> &plans);

/// The most memory a module may need: the machine's physical memory, lowered by the process's
/// RLIMIT_AS and RLIMIT_DATA, and by $NNC_MAX_MEMORY when set (bytes, or with a K, M, G or T
/// suffix: "8G").
uint64_t memoryLimit();

/// `bytes` as "1.5 GiB", "640.0 KiB", "60 B".
std::string formatBytes(uint64_t bytes);

/// Zero-filled memory, page aligned, taken from the kernel as fresh anonymous pages: nothing is
/// written when it is allocated, and a page costs its fault only when first touched. An arena
/// or a state buffer of tens of megabytes is thus ready at once, and the parts a run never uses
/// (an eval arena in a run that never evaluates) cost nothing.
class ZeroedPages {
public:
  ZeroedPages() = default;
  /// `bytes` (at least one page) of zeroed memory; empty() when the system refuses.
  explicit ZeroedPages(size_t bytes);
  ZeroedPages(ZeroedPages &&other) noexcept { *this = std::move(other); }
  ZeroedPages &operator=(ZeroedPages &&other) noexcept;
  ZeroedPages(const ZeroedPages &) = delete;
  ZeroedPages &operator=(const ZeroedPages &) = delete;
  ~ZeroedPages();

  char *data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }

private:
  char *data_ = nullptr;
  size_t size_ = 0;
};

} // namespace nnc
