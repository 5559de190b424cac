//===- ThreadPool.h - The parallel loop that generated code calls ---------------------------===//
//
// Compiled train steps split their large matrix products into blocks of C (and large loops
// into row blocks) and run them through one C function, nnc_parallel_for, which the JIT links
// to this pool. The pool keeps its worker threads alive between calls (a step makes several
// calls; an idle worker polls for the next one for 100 µs before it sleeps), the calling
// thread takes part, each free thread claims the next block, and the pool never runs more
// threads than it was given, so nothing is oversubscribed. Which thread runs which block does
// not change any result: each block writes its own part of the output.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <cstdint>

namespace nnc {

/// Sets the number of threads compiled code may use (>= 1); returns the previous number.
int setComputeThreads(int threads);
/// The number of threads compiled code uses.
int computeThreads();
/// The number of cores this process may run on (its CPU affinity: `taskset`, a container's
/// cpuset), at least 1: the default for threads, since more threads than cores only wait for
/// each other.
int availableCores();

} // namespace nnc

extern "C" {
/// Runs body(ctx, i) for every i in [0, n) on the pool and returns when all have finished.
void nnc_parallel_for(int64_t n, void (*body)(void *ctx, int64_t i), void *ctx);
}
