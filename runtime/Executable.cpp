//===- Executable.cpp - IR functions compiled to native code --------------------------------===//
#include "runtime/Executable.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace nnc {

CompiledFunction::CompiledFunction(FunctionABI abi, Entry entry) : abi_(std::move(abi)), entry_(entry) {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(abi_.arenaBytes, 64));
  bytes = (bytes + 63) / 64 * 64;
  arena_.reset(static_cast<char *>(std::aligned_alloc(64, bytes)));
  std::memset(arena_.get(), 0, bytes);
}

/// The LLVM symbol of IR function `name`.
static std::string symbolFor(const std::string &name) {
  std::string s = "nnc_";
  for (char c : name)
    s.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return s;
}

/// Emits all functions of `module` into a fresh LLVM module; returns their ABIs by name.
static llvm::Expected<std::map<std::string, FunctionABI>>
emitAll(const Module &module, llvm::Module &llvmModule, const Jit &jit) {
  std::map<std::string, FunctionABI> abis;
  EmitOptions eo;
  eo.vectorBits = jit.vectorBits();
  for (const Function &fn : module.functions()) {
    auto abi = emitFunction(fn, symbolFor(fn.name()), llvmModule, eo);
    if (!abi)
      return abi.takeError();
    abis.emplace(fn.name(), std::move(*abi));
  }
  return abis;
}

llvm::Expected<std::unique_ptr<Executable>> Executable::compile(const Module &module,
                                                                const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  auto jit = Jit::create(options.jit);
  if (!jit)
    return jit.takeError();
  auto context = std::make_unique<llvm::LLVMContext>();
  auto llvmModule = std::make_unique<llvm::Module>("nnc", *context);
  auto abis = emitAll(module, *llvmModule, **jit);
  if (!abis)
    return abis.takeError();
  auto exe = std::unique_ptr<Executable>(new Executable());
  if (llvm::Error e = (*jit)->optimize(*llvmModule))
    return e;
  exe->llvmText_ = Jit::printIR(*llvmModule);
  if (llvm::Error e = (*jit)->add(std::move(llvmModule), std::move(context)))
    return e;
  for (auto &[name, abi] : *abis) {
    auto entry = (*jit)->lookupAs<void(void **, char *)>(abi.symbol);
    if (!entry)
      return entry.takeError();
    exe->functions_[name] = std::make_unique<CompiledFunction>(abi, *entry);
  }
  exe->jit_ = std::move(*jit);
  exe->compileSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return exe;
}

CompiledFunction *Executable::function(const std::string &name) {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : it->second.get();
}

llvm::Expected<std::string> emitModuleText(const Module &module, bool assembly) {
  auto jit = Jit::create();
  if (!jit)
    return jit.takeError();
  llvm::LLVMContext context;
  llvm::Module llvmModule("nnc", context);
  auto abis = emitAll(module, llvmModule, **jit);
  if (!abis)
    return abis.takeError();
  if (llvm::Error e = (*jit)->optimize(llvmModule))
    return e;
  if (!assembly)
    return Jit::printIR(llvmModule);
  return (*jit)->emitAssembly(llvmModule);
}

} // namespace nnc
