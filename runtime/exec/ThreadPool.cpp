//===- ThreadPool.cpp - The parallel loop that generated code calls -------------------------===//
#include "runtime/exec/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nnc {
namespace {

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
      workers_.emplace_back([this, i, g = generation_] { workerLoop(i, g); });
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
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = task;
      pending_ = n;
      ++generation_;
    }
    wake_.notify_all();
    work(task, 0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

private:
  struct Task {
    void (*body)(void *, int64_t) = nullptr;
    void *ctx = nullptr;
    int64_t n = 0;
  };
  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex callMutex_, mutex_;
  std::condition_variable wake_, done_;
  Task task_;
  int64_t pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;

  /// Participant `who` (0 is the caller) runs indices who, who + threads, ...: a fixed split,
  /// so each participant sees each loop exactly once and no index can be lost or run twice.
  void work(const Task &t, int who) {
    int64_t finished = 0;
    for (int64_t i = who; i < t.n; i += threads_) {
      t.body(t.ctx, i);
      ++finished;
    }
    if (finished > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_ -= finished;
      if (pending_ == 0)
        done_.notify_all();
    }
  }

  /// `seen` is the loop generation when the worker started: it only runs later loops.
  void workerLoop(int who, uint64_t seen) {
    while (true) {
      Task t;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_)
          return;
        seen = generation_;
        t = task_;
      }
      work(t, who);
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread &t : workers_)
      t.join();
    workers_.clear();
    stop_ = false;
  }
};

Pool &pool() {
  static Pool p;
  return p;
}

} // namespace

int setComputeThreads(int threads) { return pool().resize(threads); }
int computeThreads() { return pool().threads(); }

} // namespace nnc

extern "C" void nnc_parallel_for(int64_t n, void (*body)(void *ctx, int64_t i), void *ctx) {
  nnc::pool().run(n, body, ctx);
}
