//===- step_allocations.cpp - Trainer::step allocates nothing --------------------------------===//
//
// Counts heap allocations with an interposed allocator: every operator new and every malloc,
// calloc, realloc and aligned allocation of the process goes through the counting functions
// below. Compiles a model, takes a few steps to warm up (the first step of a batch size may
// size its staging buffers), then counts the allocations of many more steps, at the model's
// batch size and, after a step of a smaller size (the partial final minibatch), at both.
// Usage: step_allocations MODEL.nn FEATURES [CLASSES] — exits 0 when no step allocated, 1 with
// the count otherwise. The test is not built with the sanitizers, which interpose the allocator
// themselves.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/train/Trainer.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
}

namespace {
std::atomic<long> gAllocations{0};
std::atomic<bool> gCounting{false};
void counted() {
  if (gCounting.load(std::memory_order_relaxed))
    gAllocations.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

extern "C" {
void *malloc(size_t n) {
  counted();
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
  counted();
  return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
  counted();
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t alignment, size_t n) {
  counted();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void **out, size_t alignment, size_t n) {
  counted();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : ENOMEM;
}
}

void *operator new(size_t n) {
  counted();
  if (void *p = __libc_malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void *operator new[](size_t n) { return operator new(n); }
void *operator new(size_t n, std::align_val_t a) {
  counted();
  if (void *p = __libc_memalign(static_cast<size_t>(a), n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void *operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void *p) noexcept { __libc_free(p); }
void operator delete[](void *p) noexcept { __libc_free(p); }
void operator delete(void *p, size_t) noexcept { __libc_free(p); }
void operator delete[](void *p, size_t) noexcept { __libc_free(p); }
void operator delete(void *p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { __libc_free(p); }

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: step_allocations MODEL.nn FEATURES [CLASSES]\n");
    return 2;
  }
  long features = std::atol(argv[2]), classes = argc > 3 ? std::atol(argv[3]) : 3;
  auto trainer = nnc::Trainer::fromFile(argv[1], {});
  if (!trainer) {
    std::fprintf(stderr, "%s\n", trainer.message().c_str());
    return 1;
  }
  nnc::Trainer &t = **trainer;
  size_t batch = static_cast<size_t>(t.config().batch);
  size_t partial = batch > 1 ? batch / 2 : 1;
  std::vector<float> x(batch * size_t(features));
  std::vector<int32_t> y(batch);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(i % 17) / 17.f - 0.5f;
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = int32_t(i % size_t(classes));
  auto step = [&](size_t rows) {
    auto r = t.step(std::span<const float>(x.data(), rows * size_t(features)),
                    std::span<const int32_t>(y.data(), rows), {}, rows);
    if (!r) {
      std::fprintf(stderr, "step: %s\n", r.message().c_str());
      std::exit(1);
    }
    return r->loss;
  };
  for (int i = 0; i < 3; ++i) { // warm up both batch sizes (compiles the partial one)
    step(batch);
    step(partial);
  }
  // The counting allocator must see what it is to count: one operator new, one malloc.
  gCounting = true;
  void *(*volatile allocate)(size_t) = std::malloc; // opaque: the pair cannot be elided
  ::operator delete(::operator new(4));
  std::free(allocate(8));
  gCounting = false;
  if (gAllocations.exchange(0) != 2) {
    std::fprintf(stderr, "the counting allocator is not interposed: it saw no allocation\n");
    return 1;
  }
  const int steps = 1000;
  double sum = 0;
  gCounting = true;
  for (int i = 0; i < steps; ++i)
    sum += step(i % 10 == 9 ? partial : batch);
  gCounting = false;
  long n = gAllocations.load();
  std::printf("%d steps (batch %zu, every tenth %zu): %ld heap allocations; mean loss %.4f\n", steps, batch,
              partial, n, sum / steps);
  return n == 0 ? 0 : 1;
}
