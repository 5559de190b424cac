//===- Executable.cpp - IR functions compiled to native code --------------------------------===//
//
// Compiling a module: emit every function into one LLVM module, take the machine code from the
// object cache or generate it, load it, and give each function its arena. Every llvm::Error
// from codegen/ is turned into an nnc Error here.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/exec/Executable.h"

#include "runtime/exec/ObjectCache.h"
#include "runtime/exec/PrebuiltGemm.h"
#include "runtime/exec/ThreadPool.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/TargetParser/Triple.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace nnc {

Result<std::unique_ptr<CompiledFunction>> CompiledFunction::create(FunctionABI abi, Entry entry) {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(abi.arenaBytes, 64));
  std::unique_ptr<CompiledFunction> f(new CompiledFunction(std::move(abi), entry));
  f->arena_ = ZeroedPages(bytes);
  if (f->arena_.empty())
    return Error{fmt::format("cannot allocate the {} bytes of scratch memory of function '{}': "
                             "the model is too large for this machine (a smaller batch needs less)",
                             bytes, f->abi_.symbol)};
  return f;
}

/// The text of an llvm::Error from code generation, as an nnc Error (consuming it).
static Error fromLlvm(llvm::Error error) { return Error{llvm::toString(std::move(error))}; }

/// The LLVM symbol of IR function `name`.
static std::string symbolFor(const std::string &name) {
  std::string s = "nnc_";
  for (char c : name)
    s.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return s;
}

/// Emits all functions of `module` into a fresh LLVM module; returns their ABIs by name, and
/// with `plans` the kernel plan of each.
static llvm::Expected<std::map<std::string, FunctionABI>>
emitAll(const Module &module, llvm::Module &llvmModule, unsigned gemmVectorBits, int threads, bool externalGemm,
        const std::vector<std::string> &disabledPasses, std::map<std::string, KernelPlan> *plans = nullptr,
        bool profile = false) {
  std::map<std::string, FunctionABI> abis;
  EmitOptions eo;
  eo.profile = profile;
  disableCodegenPasses(eo, disabledPasses);
  eo.externalGemm = externalGemm;
  eo.vectorBits = gemmVectorBits;
  eo.threads = threads;
  for (const Function &fn : module.functions()) {
    auto abi = emitFunction(fn, symbolFor(fn.name()), llvmModule, eo, plans ? &(*plans)[fn.name()] : nullptr);
    if (!abi)
      return abi.takeError();
    abis.emplace(fn.name(), std::move(*abi));
  }
  return abis;
}

/// How many pieces to compile a module of model code in (Jit::compile): one per core the process
/// may run on (at most 4) once the module has this many instructions; a smaller one compiles in a few tens
/// of milliseconds on one thread, less than the split would save. $NNC_COMPILE_THREADS
/// overrides the count (1: never split).
constexpr size_t kSplitMinInstructions = 1000;

static unsigned compilePieces(const llvm::Module &module) {
  unsigned threads = unsigned(std::min(4, availableCores()));
  if (const char *env = std::getenv("NNC_COMPILE_THREADS"); env && *env)
    return unsigned(std::clamp(std::atoi(env), 1, 64));
  size_t instructions = 0;
  for (const llvm::Function &f : module)
    instructions += f.getInstructionCount();
  return instructions >= kSplitMinInstructions ? threads : 1;
}

/// Object files as one cache entry: "NNCOBJS1", their count, each one's size (8 bytes each,
/// little-endian), then the files. A single object is stored as itself.
static constexpr std::string_view kObjectsMagic = "NNCOBJS1";

static std::string packObjects(const std::vector<llvm::SmallVector<char, 0>> &objects) {
  if (objects.size() == 1)
    return std::string(objects[0].begin(), objects[0].end());
  std::string blob(kObjectsMagic);
  auto put = [&](uint64_t v) {
    for (int b = 0; b < 8; ++b)
      blob.push_back(char((v >> (8 * b)) & 0xff));
  };
  put(objects.size());
  for (const auto &o : objects)
    put(o.size());
  for (const auto &o : objects)
    blob.append(o.begin(), o.end());
  return blob;
}

/// The object files of a cache entry; empty when the entry is not well formed.
static std::vector<std::string_view> unpackObjects(std::string_view blob) {
  if (!blob.starts_with(kObjectsMagic))
    return {blob};
  size_t at = kObjectsMagic.size();
  auto get = [&](uint64_t &v) {
    if (blob.size() - at < 8)
      return false;
    v = 0;
    for (int b = 0; b < 8; ++b)
      v |= uint64_t(uint8_t(blob[at + size_t(b)])) << (8 * b);
    at += 8;
    return true;
  };
  uint64_t count = 0;
  if (!get(count) || count == 0 || count > 64)
    return {};
  std::vector<uint64_t> sizes(count);
  for (uint64_t &size : sizes)
    if (!get(size))
      return {};
  std::vector<std::string_view> objects;
  for (uint64_t size : sizes) {
    if (blob.size() - at < size)
      return {};
    objects.push_back(blob.substr(at, size));
    at += size;
  }
  if (at != blob.size())
    return {};
  return objects;
}

/// Machine code for `module`, one object file or several (Jit::compile's pieces): from the
/// object cache when the same IR was compiled for the same target and options before (and the
/// entry verifies, see ObjectCache.h), else optimized, generated and stored there.
/// `times.fromCache` tells which.
static llvm::Expected<std::vector<std::unique_ptr<llvm::MemoryBuffer>>>
objectsFor(llvm::Module &module, Jit &jit, const CompileOptions &options, Jit::Pipeline pipeline,
           CompileTimes::Object &times) {
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto ms = [](auto from, auto to) { return std::chrono::duration<double, std::milli>(to - from).count(); };
  auto start = now();
  times.fromCache = false;
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> buffers;
  auto buffersOf = [&](const std::vector<std::string_view> &objects) {
    for (std::string_view o : objects)
      buffers.push_back(llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(o.data(), o.size()), module.getName()));
  };
  std::string dir = options.useCache ? objectCacheDir() : std::string();
  CacheKey key{};
  if (!dir.empty()) {
    const char *llvmArgs = std::getenv("NNC_LLVM_ARGS"); // LLVM's options change the code too
    std::string jitOptions = fmt::format("O{} vectorize={} pipeline={} llvm-args={}", options.jit.optLevel,
                                         options.jit.vectorize,
                                         pipeline == Jit::Pipeline::Model ? jit.modelPipeline() : "standard",
                                         llvmArgs ? llvmArgs : "");
    key = objectCacheKey(Jit::printIR(module), jit.triple().str(), jit.cpu(), jit.features(), jitOptions);
    auto cached = loadCachedObject(dir, key);
    if (!cached)
      std::fprintf(stderr, "nnc: warning: %s; compiling again\n", cached.message().c_str());
    else if (*cached) {
      std::vector<std::string_view> objects = unpackObjects(**cached);
      if (!objects.empty()) {
        times.fromCache = true;
        buffersOf(objects);
        times.loadMs = ms(start, now());
        return buffers;
      }
      std::fprintf(stderr, "nnc: warning: a malformed entry in the object cache; compiling again\n");
    }
  }
  Jit::CompileReport report;
  unsigned pieces = pipeline == Jit::Pipeline::Model ? compilePieces(module) : 1;
  auto objects = jit.compile(module, pipeline, pieces, report);
  if (!objects)
    return objects.takeError();
  times.pieces = report.parts;
  times.optimizeMs = report.splitMs + report.optimizeMs;
  times.machineCodeMs = report.machineCodeMs;
  std::string blob = packObjects(*objects);
  if (!dir.empty())
    storeCachedObject(dir, key, blob); // a cache that cannot be written is no error
  buffersOf(unpackObjects(blob));
  return buffers;
}

Result<std::unique_ptr<Executable>> Executable::compile(const Module &module, const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  auto jit = Jit::create(options.jit);
  if (!jit)
    return fromLlvm(jit.takeError());
  if (llvm::Error e = (*jit)->defineSymbol(kParallelForSymbol, reinterpret_cast<void *>(&nnc_parallel_for)))
    return fromLlvm(std::move(e));
  if (options.profile)
    if (llvm::Error e = (*jit)->defineSymbol(kProfileMarkSymbol, reinterpret_cast<void *>(&nnc_profile_mark)))
      return fromLlvm(std::move(e));
  // The GEMM routines: prebuilt for the CPU's feature level (the model code's calls resolve to
  // them), or else a second object, the same for every model on this CPU (so nearly always
  // from the cache). Then the model's functions, which call them.
  auto level = selectGemmLevel(**jit, options.gemmLevel);
  if (!level)
    return std::move(level).error();
  auto exe = std::unique_ptr<Executable>(new Executable());
  llvm::LLVMContext context;
  llvm::Module gemmModule("nnc_gemm", context);
  unsigned gemmVectorBits = (*jit)->vectorBits();
  if (*level) {
    if (auto defined = defineRoutineSymbols(**jit, **level); !defined)
      return std::move(defined).error();
    gemmVectorBits = (*level)->vectorBits;
    exe->times_.gemmLevel = (*level)->name;
  } else {
    emitFixedRoutines(gemmModule, gemmVectorBits);
  }
  llvm::Module llvmModule("nnc", context);
  auto emitting = std::chrono::steady_clock::now();
  auto abis = emitAll(module, llvmModule, gemmVectorBits, options.threads, /*externalGemm=*/true,
                      options.disabledPasses, &exe->plans_, options.profile);
  if (!abis)
    return fromLlvm(abis.takeError());
  exe->times_.emitMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - emitting).count();
  for (auto [m, times] : {std::pair<llvm::Module *, CompileTimes::Object *>{&gemmModule, &exe->times_.gemm},
                          {&llvmModule, &exe->times_.model}}) {
    if (m == &gemmModule && *level)
      continue;
    auto objects = objectsFor(*m, **jit, options,
                              m == &gemmModule ? Jit::Pipeline::Standard : Jit::Pipeline::Model, *times);
    if (!objects)
      return fromLlvm(objects.takeError());
    for (auto &object : *objects)
      if (llvm::Error e = (*jit)->addObject(std::move(object)))
        return fromLlvm(std::move(e));
  }
  exe->fromCache_ = exe->times_.model.fromCache;
  for (auto &[name, abi] : *abis) {
    auto entry = (*jit)->lookupAs<void(void **, char *)>(abi.symbol);
    if (!entry)
      return fromLlvm(entry.takeError());
    auto function = CompiledFunction::create(abi, *entry);
    if (!function)
      return std::move(function).error();
    if (abi.profiled)
      if (const Function *fn = module.findFunction(name))
        (*function)->profile_ = registerKernelProfile(
            "@" + name + (options.profileTag.empty() ? "" : " (" + options.profileTag + ")"),
            describeKernelLines(*fn, exe->plans_.at(name)));
    exe->functions_[name] = std::move(*function);
  }
  exe->jit_ = std::move(*jit);
  exe->compileSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return exe;
}

CompiledFunction *Executable::function(const std::string &name) {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : it->second.get();
}

Result<std::string> emitModuleText(const Module &module, bool assembly,
                                   const std::vector<std::string> &disabledPasses) {
  auto jit = Jit::create();
  if (!jit)
    return fromLlvm(jit.takeError());
  llvm::LLVMContext context;
  llvm::Module llvmModule("nnc", context);
  auto abis = emitAll(module, llvmModule, (*jit)->vectorBits(), 1, false, disabledPasses);
  if (!abis)
    return fromLlvm(abis.takeError());
  if (llvm::Error e = (*jit)->optimize(llvmModule, Jit::Pipeline::Model))
    return fromLlvm(std::move(e));
  if (!assembly)
    return Jit::printIR(llvmModule);
  auto text = (*jit)->emitAssembly(llvmModule, Jit::Pipeline::Model);
  if (!text)
    return fromLlvm(text.takeError());
  return std::move(*text);
}

} // namespace nnc
