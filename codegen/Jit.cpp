//===- Jit.cpp - ORC LLJIT wrapper with nnc's optimisation pipeline -------------------------===//
//
// Builds the host target machine once, uses it for the pass pipeline's cost model and for
// emitting files, and gives LLJIT a copy of the same builder so JIT-compiled code matches what
// `--emit=asm` shows.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Jit.h"

#include <llvm/Support/MemoryBuffer.h>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/X86TargetParser.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Transforms/Utils/ValueMapper.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>

#include <cstdlib>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace nnc {

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    // LLVM's own options for experiments, e.g. NNC_LLVM_ARGS="-time-passes -disable-lsr".
    if (const char *args = std::getenv("NNC_LLVM_ARGS"); args && *args) {
      static std::vector<std::string> words; // cl keeps pointers into them
      std::istringstream in(args);
      for (std::string w; in >> w;)
        words.push_back(w);
      std::vector<const char *> argv{"nnc"};
      for (const std::string &w : words)
        argv.push_back(w.c_str());
      llvm::cl::ParseCommandLineOptions(int(argv.size()), argv.data(), "", &llvm::errs());
    }
  });
}

/// Every target LLVM was built with, for cross compilation (once, thread-safe).
static void initializeAllTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
}

/// The features a named CPU has, with every feature they imply (avx512vl brings avx512f, avx2
/// brings avx), as "+f1,+f2,..." (x86 only; empty elsewhere, where the CPU name alone selects
/// them).
static std::string featuresOfCpu(const llvm::Triple &triple, llvm::StringRef cpu) {
  if (!triple.isX86())
    return {};
  llvm::SmallVector<llvm::StringRef, 64> named;
  llvm::X86::getFeaturesForCPU(cpu, named, /*NeedPlus=*/false);
  llvm::StringMap<bool> features;
  for (llvm::StringRef f : named) {
    features[f] = true;
    llvm::X86::updateImpliedFeatures(f, true, features); // sets what f implies, not f
  }
  std::vector<std::string> on;
  for (const auto &f : features)
    if (f.getValue())
      on.push_back("+" + f.getKey().str());
  std::sort(on.begin(), on.end()); // StringMap's order is not fixed; the cache key uses this
  return llvm::join(on, ",");
}

llvm::Expected<std::unique_ptr<Jit>> Jit::create(JitOptions options) {
  auto fail = [](const std::string &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s", message.c_str());
  };
  initializeNativeTarget();
  llvm::Triple host(llvm::sys::getProcessTriple());
  llvm::Triple triple = options.triple.empty() ? host : llvm::Triple(llvm::Triple::normalize(options.triple));
  bool cross = triple != host;
  if (cross) {
    initializeAllTargets();
    options.emitOnly = true;
  }
  std::string lookupError;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple.str(), lookupError);
  if (!target)
    return fail("unknown target triple '" + options.triple + "': " + lookupError);
  if (options.cpu == "host" || options.cpu == "native")
    options.cpu.clear();
  if (cross && options.cpu.empty())
    options.cpu = "generic";

  auto jtmb = cross ? llvm::Expected<llvm::orc::JITTargetMachineBuilder>(llvm::orc::JITTargetMachineBuilder(triple))
                    : llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return jtmb.takeError();
  if (!options.cpu.empty()) {
    std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple.str(), "", ""));
    if (!info || !info->isCPUStringValid(options.cpu))
      return fail("unknown target CPU '" + options.cpu + "' for " + triple.str() +
                  " (for example: x86-64, x86-64-v3, x86-64-v4, znver4, sapphirerapids)");
    jtmb->setCPU(options.cpu);
    // A named CPU brings its own features, not the host's.
    jtmb->setFeatures(options.features.empty() ? featuresOfCpu(triple, options.cpu) : options.features);
  } else if (!options.features.empty()) {
    jtmb->setFeatures(options.features); // replaces the host's list
  }
  jtmb->setCodeGenOptLevel(options.optLevel == 0 ? llvm::CodeGenOptLevel::None
                                                 : llvm::CodeGenOptLevel::Aggressive);
  // Modify the options in place: replacing the object would drop what detectHost() set.
  jtmb->getOptions().AllowFPOpFusion = llvm::FPOpFusion::Fast;
  // Objects for ahead-of-time use may be linked into position-independent executables.
  if (options.emitOnly)
    jtmb->setRelocationModel(llvm::Reloc::PIC_);

  std::unique_ptr<Jit> jit(new Jit());
  jit->options_ = options;
  jit->cpu_ = jtmb->getCPU();
  jit->features_ = jtmb->getFeatures().getString();
  auto tm = jtmb->createTargetMachine();
  if (!tm)
    return tm.takeError();
  jit->tm_ = std::move(*tm);
  jit->machineBuilder_ = std::make_unique<llvm::orc::JITTargetMachineBuilder>(*jtmb);
  jit->dataLayout_ = std::make_unique<llvm::DataLayout>(jit->tm_->createDataLayout());
  jit->triple_ = std::make_unique<llvm::Triple>(jit->tm_->getTargetTriple());
  if (options.emitOnly)
    return jit;

  auto lljit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!lljit)
    return lljit.takeError();
  jit->lljit_ = std::move(*lljit);
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      jit->lljit_->getDataLayout().getGlobalPrefix());
  if (!generator)
    return generator.takeError();
  jit->lljit_->getMainJITDylib().addGenerator(std::move(*generator));
  return jit;
}

Jit::~Jit() = default;

bool Jit::hasFeature(llvm::StringRef feature) const {
  llvm::SmallVector<llvm::StringRef, 64> parts;
  llvm::StringRef(features_).split(parts, ',');
  bool on = false; // a later entry overrides an earlier one, as in SubtargetFeatures
  for (llvm::StringRef part : parts)
    if (part.size() > 1 && part.drop_front() == feature)
      on = part.front() == '+';
  return on;
}

unsigned Jit::vectorBits() const {
  if (hasFeature("avx512f"))
    return 512;
  if (hasFeature("avx") || hasFeature("avx2"))
    return 256;
  return 128;
}

void Jit::prepare(llvm::Module &module) const {
  module.setTargetTriple(triple().str());
  module.setDataLayout(dataLayout());
  bool wide = hasFeature("avx512f");
  for (llvm::Function &fn : module) {
    if (fn.isDeclaration())
      continue;
    fn.addFnAttr("target-cpu", cpu_);
    fn.addFnAttr("target-features", features_);
    if (wide)
      fn.addFnAttr("prefer-vector-width", "512");
  }
}

/// The pipeline for model code (Jit::Pipeline::Model). The emitter's IR is plain loops over
/// flat buffers with the vector math inline and nothing to inline across functions: it needs
/// scalar clean-up, loop-invariant code motion, the loop vectorizer (its elementwise loops are
/// written scalar so that the vectorizer picks the width), and clean-up of what the vectorizer
/// leaves. The loops arrive rotated (LoopNest tests at the bottom), so no loop-rotate. No
/// inliner, no unrolling (the emitter blocks what it wants blocked), no interprocedural passes:
/// those are where most of O3's time went, for nothing on this code (docs/CODEGEN-NOTES.md).
static const char *kModelPipeline =
    "function(sroa,early-cse,simplifycfg,instcombine<no-verify-fixpoint>,"
    "loop-mssa(licm),simplifycfg,"
    "loop-vectorize,instcombine<no-verify-fixpoint>,simplifycfg,"
    "loop-mssa(licm),early-cse,adce)";

std::string Jit::modelPipeline() const {
  if (const char *over = std::getenv("NNC_LLVM_PIPELINE"); over && *over)
    return over;
  std::string text = kModelPipeline;
  if (!options_.vectorize)
    text.replace(text.find("loop-vectorize,"), std::strlen("loop-vectorize,"), "");
  return text;
}

llvm::Error Jit::optimize(llvm::Module &module, Pipeline which) {
  prepare(module);
  if (llvm::Error e = verify(module))
    return e;
  std::lock_guard<std::mutex> lock(mutex_);
  return runPipeline(*tm_, module, which);
}

llvm::Error Jit::verify(const llvm::Module &module) {
  std::string problems;
  llvm::raw_string_ostream problemStream(problems);
  if (llvm::verifyModule(module, &problemStream))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "invalid LLVM IR in module '%s': %s",
                                   module.getName().str().c_str(), problems.c_str());
  return llvm::Error::success();
}

llvm::Error Jit::runPipeline(llvm::TargetMachine &tm, llvm::Module &module, Pipeline which) const {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = options_.vectorize;
  tuning.SLPVectorization = options_.vectorize; // off by default in PipelineTuningOptions
  // Built with the target machine, so the vectorisers see AVX-512 costs and register widths.
  llvm::PassBuilder builder(&tm, tuning);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);

  static const llvm::OptimizationLevel levels[] = {
      llvm::OptimizationLevel::O0, llvm::OptimizationLevel::O1, llvm::OptimizationLevel::O2,
      llvm::OptimizationLevel::O3};
  llvm::OptimizationLevel level = levels[std::min(options_.optLevel, 3u)];
  llvm::ModulePassManager pipeline;
  if (level == llvm::OptimizationLevel::O0) {
    pipeline = builder.buildO0DefaultPipeline(level);
  } else if (which == Pipeline::Model) {
    if (llvm::Error e = builder.parsePassPipeline(pipeline, modelPipeline()))
      return e;
  } else {
    pipeline = builder.buildPerModuleDefaultPipeline(level);
  }
  pipeline.run(module, mam);
  return llvm::Error::success();
}

/// The error of add, addObject, defineSymbol and lookup on a Jit made with emitOnly.
static llvm::Error emitOnlyError() {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "this Jit only emits files (JitOptions::emitOnly or another target)");
}

llvm::Error Jit::defineSymbol(llvm::StringRef name, void *address) {
  if (!lljit_)
    return emitOnlyError();
  llvm::orc::SymbolMap symbols;
  symbols[lljit_->mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                            llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  return lljit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols)));
}

llvm::Error Jit::addObject(std::unique_ptr<llvm::MemoryBuffer> object) {
  if (!lljit_)
    return emitOnlyError();
  return lljit_->addObjectFile(std::move(object));
}

llvm::Error Jit::add(std::unique_ptr<llvm::Module> module,
                     std::unique_ptr<llvm::LLVMContext> context, Pipeline which) {
  if (!module || !context)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "Jit::add needs a module and its context");
  if (!lljit_)
    return emitOnlyError();
  if (auto error = optimize(*module, which))
    return error;
  return lljit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context)));
}

llvm::Expected<void *> Jit::lookup(llvm::StringRef name) {
  if (!lljit_)
    return emitOnlyError();
  auto address = lljit_->lookup(name);
  if (!address)
    return address.takeError();
  return address->toPtr<void *>();
}

std::string Jit::printIR(const llvm::Module &module) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  module.print(stream, nullptr);
  return text;
}

/// While model code is generated: no loop strength reduction. On the emitter's loops it
/// took a third of the machine-code time for no measurable speed (docs/CODEGEN-NOTES.md).
/// LLVM has this only as a process-wide option, so it is set for the duration and restored,
/// and the sections take turns.
class ModelCodegenOptions {
public:
  explicit ModelCodegenOptions(bool model) : lock_(mutex()) {
    auto &options = llvm::cl::getRegisteredOptions();
    auto it = options.find("disable-lsr");
    if (it == options.end())
      return;
    lsr_ = static_cast<llvm::cl::opt<bool> *>(it->second);
    saved_ = *lsr_;
    // NNC_LLVM_ARGS names its own choice.
    const char *args = std::getenv("NNC_LLVM_ARGS");
    if (model && !(args && std::strstr(args, "disable-lsr")))
      *lsr_ = true;
  }
  ~ModelCodegenOptions() {
    if (lsr_)
      *lsr_ = saved_;
  }
  ModelCodegenOptions(const ModelCodegenOptions &) = delete;
  ModelCodegenOptions &operator=(const ModelCodegenOptions &) = delete;

private:
  static std::mutex &mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> lock_;
  llvm::cl::opt<bool> *lsr_ = nullptr;
  bool saved_ = false;
};

llvm::Expected<llvm::SmallVector<char, 0>> Jit::generate(llvm::TargetMachine &tm, llvm::Module &module,
                                                         bool assembly) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  llvm::legacy::PassManager passes;
  auto type = assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (tm.addPassesToEmitFile(passes, stream, nullptr, type))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the target machine cannot emit this file type");
  passes.run(module);
  return buffer;
}

llvm::Expected<llvm::SmallVector<char, 0>> Jit::emitFile(const llvm::Module &module, bool assembly,
                                                         Pipeline which) {
  // Code generation changes the module (it lowers intrinsics), so work on a copy.
  std::unique_ptr<llvm::Module> copy = llvm::CloneModule(module);
  prepare(*copy);
  ModelCodegenOptions codegenOptions(which == Pipeline::Model);
  std::lock_guard<std::mutex> lock(mutex_);
  return generate(*tm_, *copy, assembly);
}

/// The instructions of `f` that optimization keeps, roughly: those with side effects and
/// those they use. The emitter's IR is not cleaned up yet: an outlined kernel reloads every
/// buffer pointer and two thirds of it is dead, while a step's body is nearly all live, so the
/// raw count would deal three times too much work to the pieces of small kernels.
static size_t liveInstructions(const llvm::Function &f) {
  llvm::SmallPtrSet<const llvm::Instruction *, 32> live;
  llvm::SmallVector<const llvm::Instruction *, 256> work;
  for (const llvm::BasicBlock &bb : f)
    for (const llvm::Instruction &i : bb)
      if (i.mayHaveSideEffects() || i.isTerminator())
        if (live.insert(&i).second)
          work.push_back(&i);
  while (!work.empty()) {
    const llvm::Instruction *i = work.pop_back_val();
    for (const llvm::Use &u : i->operands())
      if (auto *op = llvm::dyn_cast<llvm::Instruction>(u.get()))
        if (live.insert(op).second)
          work.push_back(op);
  }
  return live.size();
}

/// Which of `parts` pieces each function definition of `module` goes to: the largest first,
/// each to the piece with the fewest live instructions so far.
static std::map<const llvm::Function *, unsigned> balance(const llvm::Module &module, unsigned parts) {
  std::vector<std::pair<size_t, const llvm::Function *>> sizes;
  for (const llvm::Function &f : module)
    if (!f.isDeclaration())
      sizes.emplace_back(liveInstructions(f), &f);
  std::stable_sort(sizes.begin(), sizes.end(), [](const auto &a, const auto &b) { return a.first > b.first; });
  std::vector<size_t> load(parts, 0);
  std::map<const llvm::Function *, unsigned> part;
  for (const auto &[size, f] : sizes) {
    unsigned least = unsigned(std::min_element(load.begin(), load.end()) - load.begin());
    part[f] = least;
    load[least] += size;
  }
  return part;
}

llvm::Expected<std::vector<llvm::SmallVector<char, 0>>> Jit::compile(llvm::Module &module, Pipeline which,
                                                                     unsigned parts, CompileReport &report) {
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
  };
  size_t definitions = 0;
  for (const llvm::Function &f : module)
    definitions += !f.isDeclaration();
  parts = std::max(1u, std::min<unsigned>(parts, unsigned(definitions)));
  report = CompileReport{};
  report.parts = parts;
  std::vector<llvm::SmallVector<char, 0>> objects;
  if (parts == 1) {
    auto start = Clock::now();
    if (llvm::Error e = optimize(module, which))
      return e;
    auto generating = Clock::now();
    report.optimizeMs = ms(start, generating);
    ModelCodegenOptions codegenOptions(which == Pipeline::Model);
    std::lock_guard<std::mutex> lock(mutex_);
    auto object = generate(*tm_, module, /*assembly=*/false);
    if (!object)
      return object.takeError();
    report.machineCodeMs = ms(generating, Clock::now());
    objects.push_back(std::move(*object));
    return objects;
  }

  // Pieces that link to each other: what was internal becomes external but hidden, defined in
  // one piece and declared in the others. Each piece is compiled on a thread of its own, with
  // its own context and target machine (neither is thread-safe): piece 0 in the module itself,
  // on this thread, the others from a copy of it as bitcode that their thread reads (about
  // 7 ms for a VGG) and drops the other pieces' function bodies from.
  auto start = Clock::now();
  prepare(module);
  if (llvm::Error e = verify(module))
    return e;
  for (llvm::GlobalValue &g : module.global_values())
    if (!g.isDeclaration() && g.hasLocalLinkage()) {
      g.setLinkage(llvm::GlobalValue::ExternalLinkage);
      g.setVisibility(llvm::GlobalValue::HiddenVisibility);
    }
  std::map<const llvm::Function *, unsigned> dealt = balance(module, parts);
  std::map<std::string, unsigned> part;
  for (const auto &[f, i] : dealt)
    part[f->getName().str()] = i;
  llvm::SmallVector<char, 0> bitcode;
  {
    llvm::raw_svector_ostream out(bitcode);
    llvm::WriteBitcodeToFile(module, out);
  }
  report.splitMs = ms(start, Clock::now());

  struct Piece {
    llvm::SmallVector<char, 0> object;
    std::string error;
    double optimizeMs = 0;
  };
  std::vector<Piece> pieces(parts);
  // Piece i of `m`, a copy of the module (the module itself for piece 0): the other pieces'
  // functions become declarations, and global variables are defined in piece 0 only.
  auto compilePiece = [&](unsigned i, llvm::Module &m) {
    Piece &piece = pieces[i];
    auto fail = [&](llvm::Error e) { piece.error = llvm::toString(std::move(e)); };
    for (llvm::Function &f : m)
      if (!f.isDeclaration() && part.at(f.getName().str()) != i)
        f.deleteBody();
    if (i != 0)
      for (llvm::GlobalVariable &g : m.globals())
        if (!g.isDeclaration()) {
          g.setInitializer(nullptr);
          g.setComdat(nullptr);
        }
    auto tm = machineBuilder_->createTargetMachine();
    if (!tm)
      return fail(tm.takeError());
    auto optimizing = Clock::now();
    if (llvm::Error e = runPipeline(**tm, m, which))
      return fail(std::move(e));
    piece.optimizeMs = ms(optimizing, Clock::now());
    auto object = generate(**tm, m, /*assembly=*/false);
    if (!object)
      return fail(object.takeError());
    piece.object = std::move(*object);
  };
  auto fromBitcode = [&](unsigned i) {
    llvm::LLVMContext context;
    auto parsed = llvm::parseBitcodeFile(llvm::MemoryBufferRef(llvm::StringRef(bitcode.data(), bitcode.size()), "piece"),
                                         context);
    if (!parsed) {
      pieces[i].error = llvm::toString(parsed.takeError());
      return;
    }
    compilePiece(i, **parsed);
  };
  auto compiling = Clock::now();
  {
    ModelCodegenOptions codegenOptions(which == Pipeline::Model);
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < parts; ++i)
      threads.emplace_back(fromBitcode, i);
    compilePiece(0, module);
    for (std::thread &t : threads)
      t.join();
  }
  double wall = ms(compiling, Clock::now());
  for (Piece &piece : pieces) {
    if (!piece.error.empty())
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s", piece.error.c_str());
    report.optimizeMs = std::max(report.optimizeMs, piece.optimizeMs);
    objects.push_back(std::move(piece.object));
  }
  report.machineCodeMs = std::max(0.0, wall - report.optimizeMs);
  return objects;
}

llvm::Expected<std::string> Jit::emitAssembly(const llvm::Module &module, Pipeline which) {
  auto buffer = emitFile(module, /*assembly=*/true, which);
  if (!buffer)
    return buffer.takeError();
  return std::string(buffer->begin(), buffer->end());
}

llvm::Expected<llvm::SmallVector<char, 0>> Jit::emitObject(const llvm::Module &module, Pipeline which) {
  return emitFile(module, /*assembly=*/false, which);
}

} // namespace nnc
