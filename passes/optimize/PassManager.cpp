//===- PassManager.cpp - The graph optimization pipeline ------------------------------------===//
//
// The table of passes, the default pipeline, and the loop that runs, measures, verifies and
// prints each pass over every function of a module.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/optimize/PassManager.h"

#include "ir/TextPrinter.h"
#include "ir/Verifier.h"
#include "passes/optimize/GraphPasses.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>

namespace nnc {

namespace {

const Pass kPasses[] = {
    {"simplify", "algebraic identities (x*1, x+0, transpose of transpose, ...) and constant folding",
     simplify},
    {"stabilize", "stable forms: log(softmax) -> log_softmax, log(sigmoid x) -> -softplus(-x), "
                  "log(1-sigmoid x) -> -softplus(x), log(1+x) -> log1p (also before autodiff)",
     stabilize},
    {"expand-batchnorm", "batch_norm as elementwise ops over per-channel rows, to fuse with its users",
     expandBatchNorm},
    {"cse", "common-subexpression elimination by structural hashing", eliminateCommonSubexpressions},
    {"dce", "dead-code elimination: remove nodes that reach no result or update", eliminateDeadCode},
};

/// Simplify first: it folds the broadcast constants the stabilizer's `1 + x` must see as
/// constants. batch_norm's expansion makes per-channel views and a constant; CSE then merges
/// what the passes before made equal (repeated constants above all), and DCE removes what
/// every pass before left without users.
const std::string_view kDefaultPipeline[] = {"simplify", "stabilize", "expand-batchnorm", "cse", "dce"};

size_t countOps(const Module &m) {
  size_t n = 0;
  for (const Function &f : m.functions())
    n += f.nodes().size();
  return n;
}

uint64_t countBytes(const Module &m) {
  uint64_t n = 0;
  for (const Function &f : m.functions())
    n += intermediateBytes(f);
  return n;
}

bool contains(const std::vector<std::string> &names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

std::span<const Pass> registeredPasses() { return kPasses; }

const Pass *findPass(std::string_view name) {
  for (const Pass &p : kPasses)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::span<const std::string_view> defaultPipeline() { return kDefaultPipeline; }

uint64_t intermediateBytes(const Function &f) {
  uint64_t bytes = 0;
  for (const Node &n : f.nodes()) {
    uint64_t size = n.type.dtype == DType::F64 ? 8 : n.type.dtype == DType::I1 ? 1 : 4;
    bytes += static_cast<uint64_t>(n.type.numElements()) * size;
  }
  return bytes;
}

Result<Module> runPipeline(Module module, const PipelineOptions &options, PipelineReport *report) {
  PipelineReport local;
  PipelineReport &r = report ? *report : local;
  std::vector<std::string> names = options.passes;
  if (names.empty())
    names.assign(kDefaultPipeline, std::end(kDefaultPipeline));
  for (const std::string &name : names)
    if (!findPass(name))
      return Error{fmt::format("unknown pass '{}' (--passes=list shows the pipeline)", name)};
  for (const std::string &name : names) {
    if (contains(options.disabled, name))
      continue;
    const Pass &pass = *findPass(name);
    PassStats s;
    s.pass = name;
    s.opsBefore = countOps(module);
    s.bytesBefore = countBytes(module);
    auto start = std::chrono::steady_clock::now();
    for (Function &f : module.functions())
      s.changes += pass.run(f);
    s.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    s.opsAfter = countOps(module);
    s.bytesAfter = countBytes(module);
    r.stats.push_back(s);
    if (options.verifyEach) {
      if (Result<void> wellFormed = verify(module); !wellFormed) {
        std::vector<std::string> problems;
        for (const Diagnostic &d : wellFormed.error().diagnostics)
          problems.push_back(d.message);
        return Error{fmt::format("the IR does not verify after pass '{}': {}", name, fmt::join(problems, "; "))};
      }
    }
    if (options.dump && (options.printAfterAll || contains(options.dumpAfter, name)))
      options.dump(fmt::format("// ----- after {} -----\n{}", name, printModule(module)));
  }
  return module;
}

std::string describePipeline() {
  std::string out;
  for (std::string_view name : kDefaultPipeline)
    out += fmt::format("{:<16} {}\n", name, findPass(name)->description);
  return out;
}

std::string formatStats(const PipelineReport &report) {
  std::string out = fmt::format("{:<16} {:>10} {:>10} {:>14} {:>14} {:>8} {:>9}\n", "pass", "ops before",
                                "ops after", "bytes before", "bytes after", "changes", "ms");
  for (const PassStats &s : report.stats)
    out += fmt::format("{:<16} {:>10} {:>10} {:>14} {:>14} {:>8} {:>9.3f}\n", s.pass, s.opsBefore, s.opsAfter,
                       s.bytesBefore, s.bytesAfter, s.changes, s.milliseconds);
  if (!report.stats.empty()) {
    const PassStats &first = report.stats.front(), &last = report.stats.back();
    size_t changes = 0;
    double ms = 0;
    for (const PassStats &s : report.stats) {
      changes += s.changes;
      ms += s.milliseconds;
    }
    out += fmt::format("{:<16} {:>10} {:>10} {:>14} {:>14} {:>8} {:>9.3f}\n", "total", first.opsBefore,
                       last.opsAfter, first.bytesBefore, last.bytesAfter, changes, ms);
  }
  return out;
}

} // namespace nnc
