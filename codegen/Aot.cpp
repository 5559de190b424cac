//===- Aot.cpp - The functions of a model as one self-contained module, for an object file --===//
//
// Each part is emitted into a module of its own and optimized there, as Executable::compile
// does for the JIT (the GEMM routines apart from the functions that call them), then the parts
// are linked with LLVM's IR linker and everything but the entry points is internalized. No
// optimization runs after linking: code generation alone turns the module into an object.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Aot.h"

#include "codegen/Jit.h"
#include "codegen/Loops.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Linker/Linker.h>

#include <algorithm>
#include <set>

namespace nnc {

AotModule::AotModule() = default;
AotModule::AotModule(AotModule &&) = default;
AotModule &AotModule::operator=(AotModule &&) = default;
AotModule::~AotModule() = default;

std::string aotSymbol(const std::string &prefix, const std::string &function, int64_t batch) {
  return prefix + "_" + function + "_b" + std::to_string(batch);
}

/// The module of the object's own runtime: nnc_parallel_for (serial, or the program's
/// parallel-for once installed), PREFIX_set_parallel_for, PREFIX_init_state and the initial
/// state it copies.
static std::unique_ptr<llvm::Module> runtimeModule(llvm::LLVMContext &context, const AotOptions &options) {
  auto m = std::make_unique<llvm::Module>("nnc_aot_runtime", context);
  llvm::IRBuilder<> b(context);
  llvm::Type *ptr = b.getPtrTy(), *i64 = b.getInt64Ty(), *voidTy = b.getVoidTy();
  auto global = [&](const char *name) {
    return new llvm::GlobalVariable(*m, ptr, false, llvm::GlobalValue::InternalLinkage,
                                    llvm::ConstantPointerNull::get(b.getPtrTy()), name);
  };
  llvm::GlobalVariable *hook = global("nnc.parallel_for.hook");
  llvm::GlobalVariable *user = global("nnc.parallel_for.user");

  // void nnc_parallel_for(i64 n, void (*body)(ptr ctx, i64 i), ptr ctx)
  llvm::FunctionCallee callee = parallelForCallee(*m);
  auto *pf = llvm::cast<llvm::Function>(callee.getCallee());
  llvm::Value *n = pf->getArg(0), *body = pf->getArg(1), *ctx = pf->getArg(2);
  b.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", pf));
  llvm::Value *installed = b.CreateLoad(ptr, hook, "hook");
  llvm::BasicBlock *serial = llvm::BasicBlock::Create(context, "serial", pf);
  llvm::BasicBlock *hooked = llvm::BasicBlock::Create(context, "hooked", pf);
  b.CreateCondBr(b.CreateIsNull(installed), serial, hooked);
  b.SetInsertPoint(hooked);
  // void fn(void *user, i64 n, void (*body)(void *ctx, i64 i), void *ctx)
  auto *hookTy = llvm::FunctionType::get(voidTy, {ptr, i64, ptr, ptr}, false);
  b.CreateCall(hookTy, installed, {b.CreateLoad(ptr, user, "user"), n, body, ctx});
  b.CreateRetVoid();
  b.SetInsertPoint(serial);
  auto *bodyTy = llvm::FunctionType::get(voidTy, {ptr, i64}, false);
  forStep(b, b.getInt64(0), n, 1, "i", [&](llvm::Value *i) { b.CreateCall(bodyTy, body, {ctx, i}); });
  b.CreateRetVoid();

  // void PREFIX_set_parallel_for(fn, void *user)
  auto *setTy = llvm::FunctionType::get(voidTy, {ptr, ptr}, false);
  auto *set = llvm::Function::Create(setTy, llvm::Function::ExternalLinkage,
                                     options.prefix + "_set_parallel_for", *m);
  b.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", set));
  b.CreateStore(set->getArg(0), hook);
  b.CreateStore(set->getArg(1), user);
  b.CreateRetVoid();

  // void PREFIX_init_state(void *state): the initial state, as nnc train starts from it.
  auto *data = llvm::ConstantDataArray::getString(context, options.initialState, /*AddNull=*/false);
  auto *initial = new llvm::GlobalVariable(*m, data->getType(), true, llvm::GlobalValue::InternalLinkage,
                                           data, "nnc.initial_state");
  initial->setAlignment(llvm::Align(64));
  auto *initTy = llvm::FunctionType::get(voidTy, {ptr}, false);
  auto *init = llvm::Function::Create(initTy, llvm::Function::ExternalLinkage, options.prefix + "_init_state", *m);
  b.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", init));
  b.CreateMemCpy(init->getArg(0), llvm::MaybeAlign(1), initial, llvm::MaybeAlign(64),
                 static_cast<uint64_t>(options.initialState.size()));
  b.CreateRetVoid();
  return m;
}

llvm::Expected<AotModule> buildAotModule(const std::vector<AotBatch> &batches, const AotOptions &options,
                                         Jit &jit) {
  AotModule out;
  out.context = std::make_unique<llvm::LLVMContext>();
  llvm::LLVMContext &context = *out.context;
  out.module = std::make_unique<llvm::Module>(options.prefix, context);
  llvm::Linker linker(*out.module);
  auto link = [&](std::unique_ptr<llvm::Module> part, Jit::Pipeline pipeline) -> llvm::Error {
    if (llvm::Error e = jit.optimize(*part, pipeline))
      return e;
    if (linker.linkInModule(std::move(part)))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "internal error: linking the object's modules failed");
    return llvm::Error::success();
  };

  // The GEMM routines, in a module of their own as the JIT compiles them.
  auto gemm = std::make_unique<llvm::Module>("nnc_gemm", context);
  emitFixedRoutines(*gemm, jit.vectorBits());
  if (llvm::Error e = link(std::move(gemm), Jit::Pipeline::Standard))
    return e;

  EmitOptions eo;
  disableCodegenPasses(eo, options.disabledPasses);
  eo.externalGemm = true;
  eo.vectorBits = jit.vectorBits();
  eo.threads = std::max(1, options.threads);
  std::set<std::string> exported = {options.prefix + "_set_parallel_for", options.prefix + "_init_state"};
  for (const AotBatch &batch : batches) {
    auto part = std::make_unique<llvm::Module>("nnc", context);
    for (const Function &fn : batch.graphs->functions()) {
      std::string symbol = aotSymbol(options.prefix, fn.name(), batch.batch);
      auto abi = emitFunction(fn, symbol, *part, eo);
      if (!abi)
        return abi.takeError();
      out.arenaBytes = std::max(out.arenaBytes, abi->arenaBytes);
      exported.insert(symbol);
      out.entries.push_back({fn.name(), batch.batch, std::move(*abi)});
    }
    if (llvm::Error e = link(std::move(part), Jit::Pipeline::Model))
      return e;
  }
  if (llvm::Error e = link(runtimeModule(context, options), Jit::Pipeline::Model))
    return e;

  // Only the entry points leave the object; GEMM routines, loop bodies, nnc_parallel_for and
  // the initial state stay local, so two models link into one program.
  for (llvm::GlobalValue &g : out.module->global_values())
    if (!g.isDeclaration() && !exported.count(g.getName().str())) {
      g.setLinkage(llvm::GlobalValue::InternalLinkage);
      g.setVisibility(llvm::GlobalValue::DefaultVisibility);
    }
  return out;
}

} // namespace nnc
