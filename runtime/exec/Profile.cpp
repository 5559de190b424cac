//===- Profile.cpp - Time per kernel of profiled compiled functions -------------------------===//
#include "runtime/exec/Profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <numeric>

namespace nnc {
namespace {

thread_local KernelProfile *active = nullptr;

uint64_t nowNs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

struct Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<KernelProfile>> profiles;
};

Registry &registry() {
  static Registry r;
  return r;
}

} // namespace

std::shared_ptr<KernelProfile> registerKernelProfile(std::string function, std::vector<std::string> labels) {
  auto p = std::make_shared<KernelProfile>();
  p->function = std::move(function);
  p->labels = std::move(labels);
  p->labels.push_back("results and state copies");
  p->ns.assign(p->labels.size(), 0);
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.profiles.push_back(p);
  return p;
}

KernelProfileScope::KernelProfileScope(KernelProfile &profile) : previous_(active) { active = &profile; }

KernelProfileScope::~KernelProfileScope() { active = previous_; }

std::string kernelProfileReport(size_t top) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::string out;
  for (const auto &p : r.profiles) {
    if (p->calls == 0)
      continue;
    uint64_t total = std::accumulate(p->ns.begin(), p->ns.end(), uint64_t(0));
    double perCall = double(total) / double(p->calls) / 1e6;
    out += fmt::format("profile of {}: {} calls, {:.4f} ms per call in its kernels\n", p->function, p->calls, perCall);
    std::vector<size_t> order(p->ns.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p->ns[a] > p->ns[b]; });
    size_t shown = top == 0 ? order.size() : std::min(top, order.size());
    out += "      %   ms/call  kernel\n";
    uint64_t shownNs = 0;
    for (size_t i = 0; i < shown; ++i) {
      size_t k = order[i];
      shownNs += p->ns[k];
      double share = total ? 100.0 * double(p->ns[k]) / double(total) : 0.0;
      // The kernel's first line without its `  kN   ` label; its `+` lines follow indented.
      std::string label = p->labels[k];
      while (!label.empty() && label.back() == '\n')
        label.pop_back();
      std::string first = label.substr(0, label.find('\n'));
      std::string rest = label.find('\n') == std::string::npos ? "" : label.substr(label.find('\n') + 1);
      std::string name = k + 1 == p->labels.size() ? std::string("end  ") : fmt::format("k{:<4}", k);
      if (first.rfind("  k", 0) == 0)
        first = first.substr(first.find_first_not_of(' ', first.find(' ', 2)));
      out += fmt::format("  {:5.1f}  {:8.4f}  {} {}\n", share, double(p->ns[k]) / double(p->calls) / 1e6, name, first);
      size_t at = 0;
      while (at < rest.size()) {
        size_t end = rest.find('\n', at);
        std::string line = rest.substr(at, end == std::string::npos ? std::string::npos : end - at);
        out += fmt::format("                   {}\n", line.substr(std::min(line.size(), line.find_first_not_of(' '))));
        at = end == std::string::npos ? rest.size() : end + 1;
      }
    }
    if (shown < order.size())
      out += fmt::format("  ({} more kernels, {:.1f}% together)\n", order.size() - shown,
                         total ? 100.0 * double(total - shownNs) / double(total) : 0.0);
  }
  return out;
}

} // namespace nnc

extern "C" void nnc_profile_mark(int32_t k) {
  nnc::KernelProfile *p = nnc::active;
  if (!p)
    return;
  uint64_t now = nnc::nowNs();
  if (p->open >= 0 && size_t(p->open) < p->ns.size())
    p->ns[size_t(p->open)] += now - p->openedAt;
  if (k < 0) {
    p->open = -1;
    ++p->calls;
    return;
  }
  p->open = k;
  p->openedAt = now;
}
