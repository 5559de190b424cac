//===- ScalarOps.cpp - One element of each elementwise op, as LLVM IR -----------------------===//
//
// The table of scalar lowerings (ScalarOps.h): one row per elementwise op, each following the
// reference interpreter's definition of the op (ir/Interpreter.cpp), including its integer and
// NaN cases. exp, log, log1p, sigmoid, tanh and softplus are the inline polynomials of
// codegen/VectorMath.h, so the loops around them vectorize.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/ScalarOps.h"

#include "codegen/VectorMath.h"

#include <array>

namespace nnc {

using llvm::Value;

llvm::Type *valueType(llvm::LLVMContext &ctx, DType dtype) {
  switch (dtype) {
  case DType::F32: return llvm::Type::getFloatTy(ctx);
  case DType::F64: return llvm::Type::getDoubleTy(ctx);
  case DType::I32: return llvm::Type::getInt32Ty(ctx);
  case DType::I1: return llvm::Type::getInt1Ty(ctx);
  }
  return llvm::Type::getFloatTy(ctx);
}

Value *constantOf(llvm::IRBuilderBase &b, DType dtype, double value) {
  if (isFloat(dtype))
    return llvm::ConstantFP::get(valueType(b.getContext(), dtype), value);
  if (dtype == DType::I1)
    return b.getInt1(value != 0);
  return b.getInt32(static_cast<uint32_t>(static_cast<int32_t>(value)));
}

namespace {

using B = llvm::IRBuilderBase;
using In = ScalarOperands;

bool flt(const In &in) { return isFloat(in.node.type.dtype); }
Value *cst(B &b, const In &in, double v) { return constantOf(b, in.node.type.dtype, v); }
Value *call(B &b, llvm::Intrinsic::ID id, Value *x) { return b.CreateIntrinsic(id, {x->getType()}, {x}); }
Value *call2(B &b, llvm::Intrinsic::ID id, Value *x, Value *y) { return b.CreateIntrinsic(id, {x->getType()}, {x, y}); }
Value *fmax(B &b, Value *x, Value *y) { return call2(b, llvm::Intrinsic::maxnum, x, y); }

Value *lowerSign(B &b, const In &in) {
  Value *x = in.x[0];
  Value *zero = flt(in) ? cst(b, in, 0) : b.getInt32(0);
  Value *pos = flt(in) ? b.CreateFCmpOGT(x, zero) : b.CreateICmpSGT(x, zero);
  Value *neg = flt(in) ? b.CreateFCmpOLT(x, zero) : b.CreateICmpSLT(x, zero);
  return b.CreateSelect(pos, cst(b, in, 1), b.CreateSelect(neg, cst(b, in, -1), x));
}

Value *lowerPowC(B &b, const In &in) {
  Value *x = in.x[0];
  double e = in.node.attrs.getFloat("exponent");
  if (e == 1) return x;
  if (e == 2) return b.CreateFMul(x, x);
  if (e == 0.5) return call(b, llvm::Intrinsic::sqrt, x);
  if (e == -1) return b.CreateFDiv(cst(b, in, 1), x);
  return call2(b, llvm::Intrinsic::pow, x, cst(b, in, e));
}

Value *lowerCast(B &b, const In &in) {
  DType from = in.operandType, d = in.node.type.dtype;
  Value *v = in.x[0];
  if (from == d) return v;
  llvm::Type *to = valueType(b.getContext(), d);
  if (d == DType::I1)
    return isFloat(from) ? b.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0))
                         : b.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
  if (from == DType::I1)
    return flt(in) ? b.CreateUIToFP(v, to) : b.CreateZExt(v, to);
  if (isFloat(from) && flt(in)) return b.CreateFPCast(v, to);
  if (isFloat(from)) // NaN -> 0, saturating, truncating: as the interpreter defines it
    return b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {to, v->getType()}, {v});
  return b.CreateSIToFP(v, to);
}

Value *lowerDiv(B &b, const In &in) {
  if (flt(in)) return b.CreateFDiv(in.x[0], in.x[1]);
  // Integer division by zero gives 0 instead of trapping.
  Value *zero = b.CreateICmpEQ(in.x[1], b.getInt32(0));
  Value *q = b.CreateSDiv(in.x[0], b.CreateSelect(zero, b.getInt32(1), in.x[1]));
  return b.CreateSelect(zero, b.getInt32(0), q);
}

Value *lowerCmp(B &b, const In &in) {
  auto p = parseCmpPredicate(in.node.attrs.getString("predicate")).value_or(CmpPredicate::EQ);
  using P = llvm::CmpInst::Predicate;
  static const P fp[] = {P::FCMP_OLT, P::FCMP_OLE, P::FCMP_OGT, P::FCMP_OGE, P::FCMP_OEQ, P::FCMP_UNE};
  static const P ip[] = {P::ICMP_SLT, P::ICMP_SLE, P::ICMP_SGT, P::ICMP_SGE, P::ICMP_EQ, P::ICMP_NE};
  int k = static_cast<int>(p);
  return isFloat(in.operandType) ? b.CreateFCmp(fp[k], in.x[0], in.x[1]) : b.CreateICmp(ip[k], in.x[0], in.x[1]);
}

// max(x,0) - x*t + log1p(e^-|x|)
Value *lowerBceWithLogits(B &b, const In &in) {
  Value *a = call(b, llvm::Intrinsic::fabs, in.x[0]);
  Value *l = emitLog1p(b, emitExp(b, b.CreateFNeg(a)));
  return b.CreateFAdd(b.CreateFSub(fmax(b, in.x[0], cst(b, in, 0)), b.CreateFMul(in.x[0], in.x[1])), l);
}

#define OP(Name, mnemonic, numOperands, flags, attrs, doc) +1
constexpr size_t kOpCount = 0
#include "ir/Ops.def"
    ;

using Table = std::array<ScalarLowering, kOpCount>;

/// One row per elementwise op; the rest stay null.
Table makeTable() {
  Table t{};
  auto row = [&](OpKind op, ScalarLowering f) { t[size_t(op)] = f; };
  using K = OpKind;
  row(K::Neg, [](B &b, const In &in) { return flt(in) ? b.CreateFNeg(in.x[0]) : b.CreateNeg(in.x[0]); });
  row(K::Exp, [](B &b, const In &in) { return emitExp(b, in.x[0]); });
  row(K::Log, [](B &b, const In &in) { return emitLog(b, in.x[0]); });
  row(K::Log1p, [](B &b, const In &in) { return emitLog1p(b, in.x[0]); });
  row(K::Sqrt, [](B &b, const In &in) { return call(b, llvm::Intrinsic::sqrt, in.x[0]); });
  row(K::Rsqrt, [](B &b, const In &in) { return b.CreateFDiv(cst(b, in, 1), call(b, llvm::Intrinsic::sqrt, in.x[0])); });
  row(K::Abs, [](B &b, const In &in) {
    return flt(in) ? call(b, llvm::Intrinsic::fabs, in.x[0])
                   : b.CreateIntrinsic(llvm::Intrinsic::abs, {in.x[0]->getType()}, {in.x[0], b.getFalse()});
  });
  row(K::Sign, lowerSign);
  row(K::Square, [](B &b, const In &in) { return flt(in) ? b.CreateFMul(in.x[0], in.x[0]) : b.CreateMul(in.x[0], in.x[0]); });
  row(K::Sigmoid, [](B &b, const In &in) { return emitSigmoid(b, in.x[0]); });
  row(K::Tanh, [](B &b, const In &in) { return emitTanh(b, in.x[0]); });
  row(K::Relu, [](B &b, const In &in) {
    return b.CreateSelect(b.CreateFCmpOGT(in.x[0], cst(b, in, 0)), in.x[0], cst(b, in, 0));
  });
  row(K::LeakyRelu, [](B &b, const In &in) {
    return b.CreateSelect(b.CreateFCmpOGT(in.x[0], cst(b, in, 0)), in.x[0],
                          b.CreateFMul(in.x[0], cst(b, in, in.node.attrs.getFloat("alpha", 0.01))));
  });
  row(K::Softplus, [](B &b, const In &in) { return emitSoftplus(b, in.x[0]); });
  row(K::PowC, lowerPowC);
  row(K::Cast, lowerCast);
  row(K::Add, [](B &b, const In &in) { return flt(in) ? b.CreateFAdd(in.x[0], in.x[1]) : b.CreateAdd(in.x[0], in.x[1]); });
  row(K::Sub, [](B &b, const In &in) { return flt(in) ? b.CreateFSub(in.x[0], in.x[1]) : b.CreateSub(in.x[0], in.x[1]); });
  row(K::Mul, [](B &b, const In &in) { return flt(in) ? b.CreateFMul(in.x[0], in.x[1]) : b.CreateMul(in.x[0], in.x[1]); });
  row(K::Div, lowerDiv);
  row(K::Max, [](B &b, const In &in) {
    return flt(in) ? fmax(b, in.x[0], in.x[1])
                   : b.CreateIntrinsic(llvm::Intrinsic::smax, {in.x[0]->getType()}, {in.x[0], in.x[1]});
  });
  row(K::Min, [](B &b, const In &in) {
    return flt(in) ? call2(b, llvm::Intrinsic::minnum, in.x[0], in.x[1])
                   : b.CreateIntrinsic(llvm::Intrinsic::smin, {in.x[0]->getType()}, {in.x[0], in.x[1]});
  });
  row(K::Cmp, lowerCmp);
  row(K::Select, [](B &b, const In &in) { return b.CreateSelect(in.x[0], in.x[1], in.x[2]); });
  row(K::BceWithLogits, lowerBceWithLogits);
  return t;
}

} // namespace

ScalarLowering scalarLowering(OpKind op) {
  static const Table table = makeTable();
  size_t i = size_t(op);
  return i < table.size() && hasFlag(op, OpElementwise) ? table[i] : nullptr;
}

} // namespace nnc
