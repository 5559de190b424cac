//===- Emitter.cpp - Graph IR function to one native LLVM function --------------------------===//
//
// The entry points of code generation (Emitter.h): emitFunction plans the function
// (codegen/KernelPlan.h) and builds it from the plan (codegen/KernelEmitter.h); hasLowering
// answers from the scalar lowering table for elementwise ops and from the kernel kinds for the
// rest; the table of codegen passes that --disable-pass names; the module of fixed routines.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/Emitter.h"

#include "codegen/BatchNormRoutines.h"
#include "codegen/ConvRoutines.h"
#include "codegen/Gemm.h"
#include "codegen/KernelEmitter.h"
#include "codegen/KernelPlan.h"
#include "codegen/ScalarOps.h"

#include <string>

namespace nnc {

int64_t storageBytes(DType dtype) {
  switch (dtype) {
  case DType::F32: return 4;
  case DType::F64: return 8;
  case DType::I32: return 4;
  case DType::I1: return 1;
  }
  return 4;
}

bool hasLowering(OpKind op) {
  if (hasFlag(op, OpElementwise))
    return scalarLowering(op) != nullptr;
  return op == OpKind::Reshape || kernelKindOf(op).has_value(); // a reshape aliases its operand
}

std::span<const CodegenPass> codegenPasses() {
  static const CodegenPass passes[] = {
      {"fuse-elementwise", "compute each single-use elementwise op inside its user's loop", &EmitOptions::fuseElementwise},
      {"fuse-loops", "run adjacent elementwise kernels over one shape in one loop nest", &EmitOptions::fuseLoops},
      {"in-place-updates", "store each state update straight into its state's buffer", &EmitOptions::inPlaceUpdates},
      {"fuse-epilogue", "apply bias, activation and activation derivative as the GEMM stores C", &EmitOptions::fuseEpilogues},
      {"fuse-pool-relu", "apply a ReLU before max pooling to the pooled maximum instead, forward and backward",
       &EmitOptions::fusePoolRelu},
      {"fuse-softmax-loss", "compute softmax cross-entropy and its gradient in one pass over each row", &EmitOptions::fuseRows},
      {"parallel-loops", "split the rows of large elementwise kernels over threads", &EmitOptions::parallelLoops},
      {"inline-products", "compute matrix products that fit in L1 with loops in the step instead of GEMM calls",
       &EmitOptions::inlineProducts},
      {"outline-kernels", "emit each convolution, pooling and batch-norm kernel, and the second half of a large step, as a function of its own (compiles faster)",
       &EmitOptions::outlineKernels},
  };
  return passes;
}

const CodegenPass *findCodegenPass(std::string_view name) {
  for (const CodegenPass &p : codegenPasses())
    if (name == p.name)
      return &p;
  return nullptr;
}

void disableCodegenPasses(EmitOptions &options, const std::vector<std::string> &names) {
  for (const std::string &name : names)
    if (const CodegenPass *p = findCodegenPass(name))
      options.*(p->enabled) = false;
}

void emitFixedRoutines(llvm::Module &module, unsigned vectorBits, const std::string &prefix) {
  for (GemmSpec spec : {GemmSpec::forHost(vectorBits, false), GemmSpec::forHost(vectorBits, true),
                        GemmSpec::withActivationEpilogue(vectorBits), GemmSpec::narrow(vectorBits)}) {
    spec.name = prefix + spec.name.substr(std::string_view("nnc_").size());
    emitGemm(module, spec);
  }
  for (ConvRoutine routine : {ConvRoutine::Im2col, ConvRoutine::Col2im, ConvRoutine::Dots})
    for (bool f64 : {false, true})
      emitConvRoutine(module, routine, f64, vectorBits, prefix);
  for (BatchNormRoutine routine : {BatchNormRoutine::Moments, BatchNormRoutine::Norm, BatchNormRoutine::Sums})
    for (bool f64 : {false, true})
      emitBatchNormRoutine(module, routine, f64, prefix);
}

llvm::Expected<FunctionABI> emitFunction(const Function &fn, const std::string &symbol,
                                         llvm::Module &module, const EmitOptions &options, KernelPlan *planOut) {
  for (const Node &n : fn.nodes())
    if (!hasLowering(n.op))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "no lowering for op '%s'",
                                     std::string(mnemonic(n.op)).c_str());
  KernelPlan plan = planKernels(fn, options);
  auto abi = KernelEmitter(fn, plan, module, options).emit(symbol);
  if (planOut)
    *planOut = std::move(plan);
  return abi;
}

} // namespace nnc
