//===- AotCompile.cpp - A model compiled ahead of time: object file and C header ------------===//
//
// The batch sizes and the schedule's initial steps per epoch follow the Trainer (runtime/train/Trainer.h): one
// compilation per batch size derived from the same checked program, the state initialized from
// each state argument's `init` text and the seed, in the order the functions first read it.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/aot/AotCompile.h"

#include "codegen/Emitter.h"
#include "runtime/exec/Storage.h"
#include "runtime/train/Initializers.h"

#include <fmt/format.h>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace nnc {

static const std::set<std::string> &cKeywords() {
  static const std::set<std::string> words = {
      "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
      "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
      "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
      "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
      "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "bool", "true", "false"};
  return words;
}

bool isCIdentifier(const std::string &name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return !cKeywords().count(name);
}

Result<std::unique_ptr<Jit>> aotTarget(JitOptions options) {
  options.emitOnly = true;
  auto jit = Jit::create(options);
  if (!jit)
    return Error{llvm::toString(jit.takeError())};
  return std::move(*jit);
}

/// A C identifier for the model name `name`, unique among `taken` (which it joins).
static std::string fieldName(const std::string &name, std::set<std::string> &taken) {
  std::string s;
  for (char c : name)
    s.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    s = "_" + s;
  if (cKeywords().count(s))
    s += "_";
  std::string unique = s;
  for (int i = 2; taken.count(unique); ++i)
    unique = fmt::format("{}_{}", s, i);
  taken.insert(unique);
  return unique;
}

Result<std::unique_ptr<AotArtifact>> compileAot(const Compilation &source, const AotSettings &settings,
                                                std::unique_ptr<Jit> target) {
  auto a = std::make_unique<AotArtifact>();
  const TrainConfig &config = source.trainConfig();
  a->batch = config.batch;
  a->examples = settings.examples;
  a->seed = config.seed;
  a->shuffle = config.shuffle;
  a->epochs = config.epochs;
  a->threads = std::max(1, source.settings().threads);
  if (settings.examples > 0) {
    a->stepsPerEpoch = (settings.examples + a->batch - 1) / a->batch;
    a->tailBatch = settings.examples % a->batch;
  } else {
    a->stepsPerEpoch = std::max<int64_t>(1, source.settings().stepsPerEpoch);
  }
  std::vector<int64_t> sizes = {a->batch};
  if (a->tailBatch > 0)
    sizes.push_back(a->tailBatch);
  std::vector<AotBatch> &batches = a->batches;
  for (int64_t b : sizes) {
    a->compilations.push_back(source.withBatch(b, a->stepsPerEpoch));
    auto graphs = a->compilations.back()->optimizedGraphs();
    if (!graphs)
      return graphs.error();
    batches.push_back({b, *graphs});
  }
  a->modelName = a->compilations.front()->model().name;
  a->sourceName = batches.front().graphs->sourceName();
  a->prefix = settings.prefix.empty() ? a->modelName : settings.prefix;
  if (!isCIdentifier(a->prefix))
    return Error{fmt::format("the symbol prefix '{}' is not a C identifier (--prefix names one)", a->prefix)};

  // The state block: every state argument of every function, in the order they are first
  // read, each at a 64-byte aligned offset, initialized as nnc train initializes it.
  std::set<std::string> taken;
  std::map<std::string, size_t> index;
  for (const AotBatch &batch : batches)
    for (const Function &fn : batch.graphs->functions())
      for (const Argument &arg : fn.arguments()) {
        if (arg.role != ArgRole::State)
          continue;
        if (auto it = index.find(arg.name); it != index.end()) {
          if (a->state[it->second].type != arg.type)
            return Error{fmt::format("internal error: state '{}' is {} in one function and {} in another",
                                     arg.name, a->state[it->second].type.str(), arg.type.str())};
          continue;
        }
        AotStateBuffer s{arg.name, fieldName(arg.name, taken), arg.type, arg.trainable, arg.init, 0, 0};
        s.bytes = static_cast<int64_t>(storageSize(arg.type));
        s.offset = a->stateBytes;
        a->stateBytes += (s.bytes + 63) / 64 * 64;
        index[arg.name] = a->state.size();
        a->state.push_back(std::move(s));
      }
  AotOptions options;
  options.prefix = a->prefix;
  options.threads = a->threads;
  options.disabledPasses = source.settings().disabledPasses;
  options.initialState.assign(static_cast<size_t>(a->stateBytes), '\0');
  for (const AotStateBuffer &s : a->state) {
    auto values = initialValues(s.init, s.type, config.seed, s.name);
    if (!values)
      return values.error();
    const std::vector<double> &v = *values;
    for (size_t i = 0; i < v.size(); ++i)
      writeElement(options.initialState.data() + s.offset, s.type.dtype, i, v[i]);
  }
  a->target = std::move(target);
  auto code = buildAotModule(batches, options, *a->target);
  if (!code)
    return Error{"code generation failed: " + llvm::toString(code.takeError())};
  a->code = std::move(*code);
  return a;
}

Result<std::string> aotObject(AotArtifact &a) {
  auto bytes = a.target->emitObject(*a.code.module);
  if (!bytes)
    return Error{"code generation failed: " + llvm::toString(bytes.takeError())};
  return std::string(bytes->begin(), bytes->end());
}

Result<std::string> aotText(AotArtifact &a, bool assembly) {
  if (!assembly)
    return Jit::printIR(*a.code.module);
  auto text = a.target->emitAssembly(*a.code.module);
  if (!text)
    return Error{"code generation failed: " + llvm::toString(text.takeError())};
  return std::move(*text);
}

std::string aotPortabilityWarning(const AotArtifact &a) {
  const Jit &t = *a.target;
  if (!t.triple().isX86() || t.cpu() == "x86-64" || t.cpu() == "generic")
    return {};
  // The extensions a program would trip over first, widest first.
  std::vector<std::string> needs;
  for (const char *f : {"avx512f", "avx2", "fma", "avx", "sse4.2"})
    if (t.hasFeature(f))
      needs.push_back(f);
  std::string what = needs.empty() ? std::string() : fmt::format(" ({})", fmt::join(needs, ", "));
  return fmt::format("the object is compiled for CPU '{}'{} and will not run on x86-64 machines without "
                     "these features; --target-cpu=x86-64 makes a portable object, x86-64-v3 or x86-64-v4 "
                     "one for a class of machines",
                     t.cpu().str(), what);
}

} // namespace nnc
