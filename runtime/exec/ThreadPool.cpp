//===- ThreadPool.cpp - The parallel loop that generated code calls -------------------------===//
#include "runtime/exec/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sched.h>
#include <thread>
#include <vector>

namespace nnc {
namespace {

/// A short pause in a spin loop (lets the other hyperthread run; no system call).
inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

class Pool {
public:
  ~Pool() { resize(1); }

  int threads() const { return threads_; }

  int resize(int threads) {
    std::lock_guard<std::mutex> call(callMutex_);
    int old = threads_;
    stopWorkers();
    threads_ = std::max(1, threads);
    for (int i = 1; i < threads_; ++i)
      workers_.emplace_back([this, g = generation_.load()] { workerLoop(g); });
    return old;
  }

  void run(int64_t n, void (*body)(void *, int64_t), void *ctx) {
    if (n <= 0)
      return;
    if (threads_ == 1 || n == 1) {
      for (int64_t i = 0; i < n; ++i)
        body(ctx, i);
      return;
    }
    std::lock_guard<std::mutex> call(callMutex_); // one parallel loop at a time
    Task task{body, ctx, n};
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = task;
      generation = generation_.load() + 1;
      pending_.store(n);
      claim_.store(generation << 32);
      generation_.store(generation, std::memory_order_release);
    }
    wake_.notify_all(); // no system call unless a worker sleeps
    work(task, generation);
    // The caller has claimed all it could; wait for the blocks other threads are running.
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins)
      if (spins < 4096)
        cpuRelax();
      else
        std::this_thread::yield();
  }

private:
  struct Task {
    void (*body)(void *, int64_t) = nullptr;
    void *ctx = nullptr;
    int64_t n = 0;
  };
  /// How long an idle worker polls for the next loop before it sleeps: a train step's parallel
  /// loops follow each other within microseconds, and waking a sleeping thread costs 5–50 µs.
  static constexpr auto kSpin = std::chrono::microseconds(100);

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex callMutex_, mutex_;
  std::condition_variable wake_;
  Task task_;                              ///< the current loop (under mutex_)
  std::atomic<uint64_t> generation_{0};    ///< bumped for each loop (written under mutex_)
  std::atomic<uint64_t> claim_{0};         ///< (generation << 32) | the next unclaimed index
  std::atomic<int64_t> pending_{0};        ///< indices of the current loop not yet finished
  std::atomic<bool> stop_{false};

  /// Claims and runs indices of loop `generation` until none is left: whichever thread is free
  /// takes the next block, so a late worker costs nothing (the caller runs the blocks itself),
  /// and since each block writes its own part of the output, who runs it changes no result.
  void work(const Task &t, uint64_t generation) {
    int64_t finished = 0;
    uint64_t c = claim_.load(std::memory_order_relaxed);
    while (true) {
      if ((c >> 32) != (generation & 0xffffffffu) || int64_t(c & 0xffffffffu) >= t.n)
        break;
      if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_relaxed))
        continue;
      t.body(t.ctx, int64_t(c & 0xffffffffu));
      ++finished;
      c = claim_.load(std::memory_order_relaxed);
    }
    if (finished > 0)
      pending_.fetch_sub(finished, std::memory_order_acq_rel);
  }

  /// `seen` is the loop generation when the worker started: it only runs later loops.
  void workerLoop(uint64_t seen) {
    while (true) {
      auto until = std::chrono::steady_clock::now() + kSpin;
      for (int spins = 0; generation_.load(std::memory_order_acquire) == seen && !stop_.load(); ++spins)
        if ((spins & 255) == 255 && std::chrono::steady_clock::now() > until)
          break;
        else
          cpuRelax();
      Task t;
      uint64_t generation;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
        if (stop_.load())
          return;
        generation = seen = generation_.load();
        t = task_;
      }
      work(t, generation);
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread &t : workers_)
      t.join();
    workers_.clear();
    stop_.store(false);
  }
};

Pool &pool() {
  static Pool p;
  return p;
}

} // namespace

int setComputeThreads(int threads) { return pool().resize(threads); }
int computeThreads() { return pool().threads(); }

int availableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

} // namespace nnc

extern "C" void nnc_parallel_for(int64_t n, void (*body)(void *ctx, int64_t i), void *ctx) {
  nnc::pool().run(n, body, ctx);
}
