//===- Memory.cpp - What a compiled module needs in memory ----------------------------------===//
#include "runtime/exec/Memory.h"

#include "runtime/exec/Storage.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <set>
#include <utility>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

namespace nnc {

namespace {

uint64_t add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

uint64_t bytesOf(const TensorType &type) { return static_cast<uint64_t>(storageSize(type)); }

/// $NNC_MAX_MEMORY in bytes ("8G", "512M", "1000000"), or 0 when unset or unreadable.
uint64_t limitFromEnvironment() {
  const char *text = std::getenv("NNC_MAX_MEMORY");
  if (!text || !*text)
    return 0;
  char *end = nullptr;
  unsigned long long value = std::strtoull(text, &end, 10);
  int shift = 0;
  switch (*end) {
  case 'K': case 'k': shift = 10; ++end; break;
  case 'M': case 'm': shift = 20; ++end; break;
  case 'G': case 'g': shift = 30; ++end; break;
  case 'T': case 't': shift = 40; ++end; break;
  default: break;
  }
  if (end == text || *end != '\0' || value == 0 || value > (std::numeric_limits<uint64_t>::max() >> shift))
    return 0;
  return static_cast<uint64_t>(value) << shift;
}

} // namespace

uint64_t MemoryNeeds::total() const { return add(add(state, arena), add(io, staging)); }

std::string MemoryNeeds::describe() const {
  return fmt::format("{} ({} bytes: state {}, arenas {}, argument and result buffers {}, staged minibatch {})",
                     formatBytes(total()), total(), formatBytes(state), formatBytes(arena), formatBytes(io),
                     formatBytes(staging));
}

MemoryNeeds memoryNeeds(const Module &module, const std::vector<KernelPlan> &plans) {
  MemoryNeeds need;
  std::set<std::string> states;
  size_t i = 0;
  for (const Function &fn : module.functions()) {
    if (i < plans.size())
      need.arena = add(need.arena, static_cast<uint64_t>(std::max<int64_t>(plans[i].arenaBytes(), 64)));
    ++i;
    for (const Argument &a : fn.arguments()) {
      if (a.role == ArgRole::State) {
        if (states.insert(a.name).second)
          need.state = add(need.state, bytesOf(a.type));
        continue;
      }
      need.io = add(need.io, bytesOf(a.type));
      if (fn.name() == "train_step")
        need.staging = add(need.staging, bytesOf(TensorType(DType::F32, a.type.shape)));
    }
    for (const FunctionResult &r : fn.results())
      need.io = add(need.io, bytesOf(fn.type(r.value)));
  }
  return need;
}

uint64_t memoryLimit() {
  uint64_t limit = std::numeric_limits<uint64_t>::max();
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0)
    limit = static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize);
  for (int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit r {};
    if (::getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
      limit = std::min<uint64_t>(limit, static_cast<uint64_t>(r.rlim_cur));
  }
  if (uint64_t env = limitFromEnvironment())
    limit = std::min(limit, env);
  return limit;
}

std::string formatBytes(uint64_t bytes) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024)
    return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  int u = 0;
  while (value >= 1024 && u < 6) {
    value /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", value, units[u]);
}

ZeroedPages::ZeroedPages(size_t bytes) {
  // From 2 MiB on, whole transparent huge pages where the system allows them (madvise mode):
  // one fault per 2 MiB instead of 512, and fewer TLB misses while the kernels sweep the arena.
  constexpr size_t kHuge = size_t(2) << 20;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t unit = bytes >= kHuge ? kHuge : page;
  size_t size = (std::max<size_t>(bytes, 1) + unit - 1) / unit * unit;
  if (size < bytes || size > SIZE_MAX - unit) // the rounding overflowed
    return;
  size_t mapped = unit == page ? size : size + unit; // room to align the start to a huge page
  void *p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return;
  char *start = static_cast<char *>(p);
  if (unit != page) {
    char *aligned = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(start) + unit - 1) / unit * unit);
    if (aligned > start)
      munmap(start, static_cast<size_t>(aligned - start));
    size_t tail = static_cast<size_t>(start + mapped - (aligned + size));
    if (tail)
      munmap(aligned + size, tail);
    start = aligned;
#ifdef MADV_HUGEPAGE
    madvise(start, size, MADV_HUGEPAGE); // advice only: refused, the pages stay small
#endif
  }
  data_ = start;
  size_ = size;
}

ZeroedPages &ZeroedPages::operator=(ZeroedPages &&other) noexcept {
  if (this != &other) {
    this->~ZeroedPages();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

ZeroedPages::~ZeroedPages() {
  if (data_)
    munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

} // namespace nnc
