//===- Optimizers.cpp - Optimizer updates and learning-rate schedules as graph code ---------===//
//
// Resolving hyper-parameters (names and defaults as PyTorch's), the learning-rate schedules as
// scalar f64 IR driven by the step counter (and the same function on the host, for tests), and
// the per-parameter update of each optimizer. docs/TRAINING.md states the equations.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/Optimizers.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numbers>
#include <set>

namespace nnc {

namespace {

/// Rejects hyper-parameters the optimizer or schedule does not take.
std::optional<std::string> checkNames(std::string_view what, const std::string &name,
                                      const std::map<std::string, double> &args, const std::set<std::string> &known) {
  for (const auto &[k, v] : args)
    if (!known.count(k))
      return fmt::format("{} '{}' has no hyper-parameter '{}'", what, name, k);
  return std::nullopt;
}

double get(const std::map<std::string, double> &args, const std::string &k, double def) {
  auto it = args.find(k);
  return it == args.end() ? def : it->second;
}

} // namespace

// --- hyper-parameters --------------------------------------------------------------------------

Result<OptimizerParams> resolveOptimizer(const std::string &name, const std::map<std::string, double> &args,
                                         double weightDecay) {
  OptimizerParams p;
  std::set<std::string> known{"lr", "weight_decay"};
  if (name == "sgd" || name == "momentum" || name == "nesterov") {
    p.kind = OptimizerKind::SGD;
    known.insert("momentum");
    if (name == "sgd")
      known.insert("nesterov");
    p.lr = get(args, "lr", 0.01);
    p.momentum = get(args, "momentum", name == "sgd" ? 0.0 : 0.9);
    p.nesterov = name == "nesterov" || get(args, "nesterov", 0) != 0;
    if (p.nesterov && p.momentum <= 0)
      return Error{"Nesterov momentum needs a momentum above 0"};
  } else if (name == "adagrad") {
    p.kind = OptimizerKind::Adagrad;
    known.insert("eps");
    p.lr = get(args, "lr", 0.01);
    p.eps = get(args, "eps", 1e-10);
  } else if (name == "rmsprop") {
    p.kind = OptimizerKind::RMSprop;
    known.insert({"rho", "eps"});
    p.lr = get(args, "lr", 0.01);
    p.rho = get(args, "rho", 0.99);
    p.eps = get(args, "eps", 1e-8);
  } else if (name == "adam" || name == "adamw") {
    p.kind = name == "adam" ? OptimizerKind::Adam : OptimizerKind::AdamW;
    known.insert({"beta1", "beta2", "eps"});
    p.lr = get(args, "lr", 1e-3);
    p.beta1 = get(args, "beta1", 0.9);
    p.beta2 = get(args, "beta2", 0.999);
    p.eps = get(args, "eps", 1e-8);
  } else {
    return Error{fmt::format("unknown optimizer '{}' (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw)", name)};
  }
  if (auto e = checkNames("optimizer", name, args, known))
    return Error{*e};
  // Weight decay: AdamW's own is decoupled (default 0.01, or the train block's); every other
  // optimizer's is the coupled L2 kind, and the train block's setting adds a decoupled one.
  if (p.kind == OptimizerKind::AdamW) {
    p.decoupled = get(args, "weight_decay", weightDecay > 0 ? weightDecay : 0.01);
  } else {
    p.l2 = get(args, "weight_decay", 0.0);
    p.decoupled = weightDecay;
  }
  if (!(p.lr > 0))
    return Error{fmt::format("the learning rate must be positive, found {}", p.lr)};
  if (p.momentum < 0 || p.eps < 0 || p.l2 < 0 || p.decoupled < 0)
    return Error{"momentum, eps and weight decay must not be negative"};
  for (double beta : {p.beta1, p.beta2, p.rho})
    if (!(beta >= 0 && beta < 1))
      return Error{fmt::format("beta1, beta2 and rho must be in [0, 1), found {}", beta)};
  return p;
}

Result<ScheduleParams> resolveSchedule(const std::string &name, const std::map<std::string, double> &args) {
  ScheduleParams s;
  std::set<std::string> known;
  if (name == "constant") {
    s.kind = ScheduleKind::Constant;
  } else if (name == "step") {
    s.kind = ScheduleKind::Step;
    known = {"every", "gamma"};
    s.every = static_cast<int64_t>(get(args, "every", 1));
    s.gamma = get(args, "gamma", 0.1);
  } else if (name == "exponential") {
    s.kind = ScheduleKind::Exponential;
    known = {"gamma"};
    s.gamma = get(args, "gamma", 0.95);
  } else if (name == "cosine") {
    s.kind = ScheduleKind::Cosine;
    known = {"min_lr", "warmup"};
    s.minLr = get(args, "min_lr", 0.0);
    s.warmup = static_cast<int64_t>(get(args, "warmup", 0));
  } else if (name == "warmup") {
    s.kind = ScheduleKind::Warmup;
    known = {"epochs"};
    s.warmup = static_cast<int64_t>(get(args, "epochs", 1));
  } else {
    return Error{fmt::format("unknown schedule '{}' (constant, step, exponential, cosine, warmup)", name)};
  }
  if (auto e = checkNames("schedule", name, args, known))
    return Error{*e};
  if (s.every < 1)
    return Error{"the step schedule's 'every' must be at least 1"};
  if (!(s.gamma > 0 && s.gamma <= 1))
    return Error{fmt::format("the schedule's 'gamma' must be in (0, 1], found {}", s.gamma)};
  if (s.warmup < 0 || (s.kind == ScheduleKind::Warmup && s.warmup < 1))
    return Error{"warm-up epochs must be at least 1 (0 allowed for cosine)"};
  if (s.minLr < 0)
    return Error{"the schedule's 'min_lr' must not be negative"};
  return s;
}

// --- schedules -----------------------------------------------------------------------------------

namespace {
/// The coefficients 1, -1/2!, 1/4!, ... of cos x = sum_k (-1)^k x^2k / (2k)!, to k = 11: on
/// [0, pi] the first omitted term bounds the error by pi^24 / 24! < 2e-12.
constexpr int kCosTerms = 12;
double cosCoefficient(int k) {
  double c = 1;
  for (int i = 1; i <= 2 * k; ++i)
    c /= i;
  return k % 2 ? -c : c;
}
} // namespace

double learningRateAt(const ScheduleParams &s, double lr, int64_t step, int64_t stepsPerEpoch, int64_t totalEpochs) {
  stepsPerEpoch = std::max<int64_t>(1, stepsPerEpoch);
  totalEpochs = std::max<int64_t>(1, totalEpochs);
  double e = std::floor(static_cast<double>(step) / static_cast<double>(stepsPerEpoch));
  switch (s.kind) {
  case ScheduleKind::Constant: return lr;
  case ScheduleKind::Step: return lr * std::pow(s.gamma, std::floor(e / static_cast<double>(s.every)));
  case ScheduleKind::Exponential: return lr * std::pow(s.gamma, e);
  case ScheduleKind::Warmup: return lr * std::min(1.0, (e + 1) / static_cast<double>(s.warmup));
  case ScheduleKind::Cosine: {
    double w = static_cast<double>(s.warmup);
    if (e < w)
      return lr * (e + 1) / w;
    double p = std::min(1.0, (e - w) / std::max(1.0, static_cast<double>(totalEpochs) - w));
    return s.minLr + (lr - s.minLr) * (1 + std::cos(std::numbers::pi * p)) / 2;
  }
  }
  return lr;
}

ValueId appendLearningRate(Builder &b, const ScheduleParams &s, double lr, ValueId step, ValueId stepsPerEpoch,
                           ValueId totalEpochs) {
  auto c = [&](double v) { return b.scalar(v, DType::F64); };
  auto floorDiv = [&](ValueId x, ValueId d) { // floor(x / d) for x >= 0, d >= 1: truncation through i32
    return b.cast(b.cast(b.div(x, d), DType::I32), DType::F64);
  };
  // An i32 run-time count as an f64 of at least 1.
  auto count = [&](ValueId n) { return b.max(b.cast(n, DType::F64), c(1)); };
  // gamma^k = e^(k ln gamma), gamma > 0
  auto power = [&](double gamma, ValueId k) { return b.exp(b.mul(k, c(std::log(gamma)))); };
  if (s.kind == ScheduleKind::Constant)
    return c(lr);
  ValueId e = floorDiv(b.cast(step, DType::F64), count(stepsPerEpoch));
  switch (s.kind) {
  case ScheduleKind::Constant: break;
  case ScheduleKind::Step: return b.mul(c(lr), power(s.gamma, floorDiv(e, c(static_cast<double>(s.every)))));
  case ScheduleKind::Exponential: return b.mul(c(lr), power(s.gamma, e));
  case ScheduleKind::Warmup:
    return b.mul(c(lr), b.min(c(1), b.div(b.add(e, c(1)), c(static_cast<double>(s.warmup)))));
  case ScheduleKind::Cosine: {
    double w = static_cast<double>(s.warmup);
    // p = min(1, (e - w) / max(1, E - w)); cos(pi p) by its Taylor polynomial in x^2
    ValueId span = b.max(c(1), b.sub(count(totalEpochs), c(w)));
    ValueId p = b.min(c(1), b.div(b.sub(e, c(w)), span));
    ValueId x = b.mul(p, c(std::numbers::pi)), x2 = b.mul(x, x);
    ValueId cosine = c(cosCoefficient(kCosTerms - 1));
    for (int k = kCosTerms - 2; k >= 0; --k)
      cosine = b.add(b.mul(cosine, x2), c(cosCoefficient(k)));
    ValueId decayed = b.add(c(s.minLr), b.mul(c((lr - s.minLr) / 2), b.add(c(1), cosine)));
    if (s.warmup == 0)
      return decayed;
    ValueId warming = b.mul(c(lr / w), b.add(e, c(1)));
    return b.select(b.cmp(CmpPredicate::LT, e, c(w)), warming, decayed);
  }
  }
  return c(lr);
}

// --- optimizer updates ---------------------------------------------------------------------------

StepScalars appendStepScalars(Builder &b, const OptimizerParams &o, ValueId lr, ValueId t, DType dt) {
  auto in = [&](ValueId v) { return dt == DType::F64 ? v : b.cast(v, dt); };
  StepScalars s;
  s.lr = in(lr);
  if (o.kind == OptimizerKind::Adam || o.kind == OptimizerKind::AdamW) {
    // 1 - beta^t = 1 - e^(t ln beta), in f64
    auto correction = [&](double beta) {
      ValueId one = b.scalar(1, DType::F64);
      return in(beta == 0 ? one : b.sub(one, b.exp(b.mul(t, b.scalar(std::log(beta), DType::F64)))));
    };
    s.biasCorrection1 = correction(o.beta1);
    s.biasCorrection2 = correction(o.beta2);
  }
  return s;
}

Result<ValueId> appendParameterUpdate(Builder &b, const OptimizerParams &o, const ParamUpdateInputs &in) {
  Function &f = b.function();
  TensorType type = f.type(in.param);
  auto scalar = [&](double v) { return b.constant(v, type); };         // a constant of the parameter's type
  auto spread = [&](ValueId s) { return b.broadcast(s, type.shape, {}); }; // a scalar over the parameter
  ValueId lr = type.isScalar() ? in.scalars.lr : spread(in.scalars.lr);
  // The optimizer's slots: new state arguments `<param>.<slot>` of the parameter's type.
  std::vector<std::string> slots;
  switch (o.kind) {
  case OptimizerKind::SGD:
    if (o.momentum > 0)
      slots = {"velocity"};
    break;
  case OptimizerKind::Adagrad: slots = {"sum_sq"}; break;
  case OptimizerKind::RMSprop: slots = {"mean_sq"}; break;
  case OptimizerKind::Adam:
  case OptimizerKind::AdamW: slots = {"m", "v"}; break;
  }
  for (const std::string &s : slots)
    if (f.findArgument(in.name + "." + s))
      return Error::at(b.loc(), fmt::format("the optimizer's slot '{}.{}' has the name of an existing argument",
                                            in.name, s));
  auto slot = [&](const std::string &suffix) {
    return f.addArgument(in.name + "." + suffix, type, ArgRole::State, false, "zeros", b.loc());
  };

  ValueId p = in.param, g = in.grad;
  const SourceLoc updateLoc = b.loc();
  if (in.weightDecayLoc.valid())
    b.setLoc(in.weightDecayLoc);
  // Decoupled weight decay: p <- p - lr * wd * p
  if (o.decoupled > 0)
    p = b.sub(p, b.mul(b.mul(lr, scalar(o.decoupled)), p));
  // Coupled (L2) weight decay: g <- g + wd * p
  if (o.l2 > 0)
    g = b.add(g, b.mul(scalar(o.l2), in.param));
  b.setLoc(updateLoc);

  ValueId step; // the change subtracted from p
  switch (o.kind) {
  case OptimizerKind::SGD:
    if (o.momentum > 0) {
      // v <- mu v + g; step = lr (g + mu v) with Nesterov, lr v without
      ValueId v = slot("velocity");
      ValueId v2 = b.add(b.mul(scalar(o.momentum), v), g);
      f.addUpdate(v, v2);
      step = b.mul(lr, o.nesterov ? b.add(g, b.mul(scalar(o.momentum), v2)) : v2);
    } else {
      step = b.mul(lr, g); // step = lr g
    }
    break;
  case OptimizerKind::Adagrad: {
    // s <- s + g^2; step = lr g / (sqrt(s) + eps)
    ValueId s = slot("sum_sq");
    ValueId s2 = b.add(s, b.square(g));
    f.addUpdate(s, s2);
    step = b.div(b.mul(lr, g), b.add(b.sqrt(s2), scalar(o.eps)));
    break;
  }
  case OptimizerKind::RMSprop: {
    // s <- rho s + (1 - rho) g^2; step = lr g / (sqrt(s) + eps)
    ValueId s = slot("mean_sq");
    ValueId s2 = b.add(b.mul(scalar(o.rho), s), b.mul(scalar(1 - o.rho), b.square(g)));
    f.addUpdate(s, s2);
    step = b.div(b.mul(lr, g), b.add(b.sqrt(s2), scalar(o.eps)));
    break;
  }
  case OptimizerKind::Adam:
  case OptimizerKind::AdamW: {
    // m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    // step = lr m^ / (sqrt(v^) + eps), m^ = m / (1 - b1^t), v^ = v / (1 - b2^t)
    ValueId m = slot("m"), v = slot("v");
    ValueId m2 = b.add(b.mul(scalar(o.beta1), m), b.mul(scalar(1 - o.beta1), g));
    ValueId v2 = b.add(b.mul(scalar(o.beta2), v), b.mul(scalar(1 - o.beta2), b.square(g)));
    f.addUpdate(m, m2);
    f.addUpdate(v, v2);
    auto correction = [&](ValueId c) { return type.isScalar() ? c : spread(c); };
    ValueId mhat = b.div(m2, correction(in.scalars.biasCorrection1));
    ValueId vhat = b.div(v2, correction(in.scalars.biasCorrection2));
    step = b.div(b.mul(lr, mhat), b.add(b.sqrt(vhat), scalar(o.eps)));
    break;
  }
  }
  return b.sub(p, step);
}

} // namespace nnc
