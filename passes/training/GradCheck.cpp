//===- GradCheck.cpp - Numerical check of a model's gradients through the interpreter -------===//
//
// Builds two functions from the forward one: the loss alone (for finite differences) and the
// loss with its reverse-mode gradients and forward-mode JVP; evaluates them in f64 and
// compares. Also draws the random arguments of a check.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/GradCheck.h"

#include "passes/training/Autodiff.h"
#include "passes/training/ForwardMode.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>
#include <random>

namespace nnc {

namespace {

const InterpreterOptions kF64{/*promoteF32ToF64=*/true, /*keepAllValues=*/false};

/// `forward` with only its loss result and no state updates.
Function lossOnly(const Function &forward) {
  Function f = forward;
  ValueId loss = f.findResult("loss");
  f.results().clear();
  f.updates().clear();
  f.addResult("loss", loss);
  f.removeDeadNodes();
  return f;
}

double relativeError(double a, double b, double floor) {
  return std::fabs(a - b) / std::max({std::fabs(a), std::fabs(b), floor});
}

Result<double> evalLoss(const Function &f, const std::map<std::string, Tensor> &args) {
  Result<EvalResult> r = evaluate(f, args, kF64);
  if (!r)
    return std::move(r).error();
  return r->results.at("loss").data[0];
}

} // namespace

Result<GradCheckReport> checkGradients(const Function &forward, const std::map<std::string, Tensor> &args,
                                       const GradCheckOptions &o) {
  if (!forward.findResult("loss").valid())
    return Error{fmt::format("@{} has no loss to check", forward.name())};
  Function lossFn = lossOnly(forward);

  // The loss with its gradients (results grad.<param>) and its JVP along tangent.<param>.
  Function f = lossOnly(forward);
  std::vector<ValueId> params;
  std::vector<std::string> names;
  for (const Argument &a : f.arguments())
    if (a.role == ArgRole::State && a.trainable && isFloat(a.type.dtype)) {
      params.push_back(a.value);
      names.push_back(a.name);
    }
  if (params.empty())
    return Error{fmt::format("@{} has no trainable parameters", forward.name())};
  ValueId loss = f.findResult("loss");
  Result<std::vector<ValueId>> grads = appendGradients(f, loss, params, *o.rules);
  if (!grads)
    return std::move(grads).error();
  std::vector<std::pair<ValueId, ValueId>> seeds;
  for (size_t i = 0; i < params.size(); ++i) {
    f.addResult("grad." + names[i], (*grads)[i]);
    seeds.emplace_back(params[i], f.addArgument("tangent." + names[i], f.type(params[i]), ArgRole::Input));
  }
  Result<ValueId> jvp = appendJvp(f, loss, seeds, *o.rules);
  if (!jvp)
    return std::move(jvp).error();
  f.addResult("jvp", *jvp);

  // A random direction for the JVP.
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal;
  std::map<std::string, Tensor> withTangents = args;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor t = Tensor::filled(f.type(params[i]), 0);
    for (double &v : t.data)
      v = normal(rng);
    withTangents["tangent." + names[i]] = std::move(t);
  }
  Result<EvalResult> base = evaluate(f, withTangents, kF64);
  if (!base)
    return std::move(base).error();
  const EvalResult &r = *base;

  GradCheckReport report;
  report.loss = r.results.at("loss").data[0];
  report.jvp = r.results.at("jvp").data[0];
  bool ok = std::isfinite(report.loss);

  // Finite differences on a sample of coordinates of each parameter.
  std::map<std::string, Tensor> point = args;
  for (size_t i = 0; i < params.size(); ++i) {
    ParamGradCheck pc;
    pc.name = names[i];
    pc.type = f.type(params[i]);
    const Tensor &grad = r.results.at("grad." + names[i]);
    const Tensor &direction = withTangents.at("tangent." + names[i]);
    for (size_t k = 0; k < grad.data.size(); ++k)
      report.dot += grad.data[k] * direction.data[k];
    std::vector<int64_t> coords(grad.data.size());
    std::iota(coords.begin(), coords.end(), 0);
    if (static_cast<int64_t>(coords.size()) > o.samplesPerParam) {
      std::shuffle(coords.begin(), coords.end(), rng);
      coords.resize(static_cast<size_t>(o.samplesPerParam));
      std::sort(coords.begin(), coords.end());
    }
    std::vector<double> &x = point.at(names[i]).data;
    for (int64_t c : coords) {
      double saved = x[c], best = INFINITY, bestFd = 0;
      for (double h = o.step; h >= o.step / 100 && best > o.tolerance; h /= 10) {
        double f[4]; // f(x + h), f(x - h), f(x + 2h), f(x - 2h)
        const double offsets[4] = {h, -h, 2 * h, -2 * h};
        for (int k = 0; k < 4; ++k) {
          x[c] = saved + offsets[k];
          Result<double> v = evalLoss(lossFn, point);
          if (!v) {
            x[c] = saved;
            return std::move(v).error();
          }
          f[k] = *v;
        }
        x[c] = saved;
        double fd = (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h);
        double err = relativeError(fd, grad.data[c], o.absFloor);
        if (!(err >= best)) { // also takes a NaN error, so that it fails
          best = err;
          bestFd = fd;
        }
      }
      ++pc.checked;
      if (!(best <= pc.worstError)) {
        pc.worstError = best;
        pc.worstIndex = c;
        pc.finiteDifference = bestFd;
        pc.gradient = grad.data[c];
      }
    }
    ok = ok && pc.worstError <= o.tolerance;
    report.params.push_back(std::move(pc));
  }
  report.jvpError = relativeError(report.jvp, report.dot, o.absFloor);
  report.passed = ok && report.jvpError <= o.tolerance;
  return report;
}

// --- random arguments ----------------------------------------------------------------------------

namespace {

/// The exclusive upper bound of the i32 value `v` implied by its uses: the class count of a
/// loss or one_hot, the rows of a gather or scatter_add; looking through reshapes, broadcasts,
/// transposes and slices. 0 when no use tells.
int64_t indexBound(const Function &f, ValueId v, const std::vector<std::vector<ValueId>> &users) {
  int64_t bound = 0;
  auto take = [&](int64_t b) { bound = bound == 0 ? b : std::min(bound, b); };
  for (ValueId u : users[v.index]) {
    const Node &n = *f.definingNode(u);
    switch (n.op) {
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::MulticlassHinge:
      if (n.operands[1] == v)
        take(f.type(n.operands[0]).shape.back());
      break;
    case OpKind::OneHot: take(n.attrs.getInt("depth")); break;
    case OpKind::Gather:
      if (n.operands[1] == v)
        take(f.type(n.operands[0]).shape[0]);
      break;
    case OpKind::ScatterAdd:
      if (n.operands[1] == v)
        take(n.attrs.getInt("rows"));
      break;
    case OpKind::Reshape:
    case OpKind::Broadcast:
    case OpKind::Transpose:
    case OpKind::Slice:
      if (int64_t b = indexBound(f, n.result, users))
        take(b);
      break;
    default: break;
    }
  }
  return bound;
}

} // namespace

Result<std::map<std::string, Tensor>> randomCheckArguments(const Function &f, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  auto users = f.computeUsers();
  std::map<std::string, Tensor> args;
  for (const Argument &a : f.arguments()) {
    Tensor t = Tensor::filled(a.type, 0);
    if (a.type.dtype == DType::I1) {
      for (double &v : t.data)
        v = static_cast<double>(rng() % 2);
    } else if (a.type.dtype == DType::I32) {
      if (a.role != ArgRole::State) {
        int64_t bound = indexBound(f, a.value, users);
        if (bound == 0)
          return Error::at(a.loc, fmt::format("cannot tell the range of the i32 argument '{}' from its uses", a.name));
        for (double &v : t.data)
          v = static_cast<double>(rng() % static_cast<uint64_t>(bound));
      }
    } else if (a.role == ArgRole::State && a.trainable) {
      const std::vector<int64_t> &s = a.type.shape;
      double sigma = s.size() < 2 ? 0.5 : 1.0 / std::sqrt(static_cast<double>(a.type.numElements() / s.back()));
      for (double &v : t.data)
        v = sigma * normal(rng);
    } else if (a.role == ArgRole::State) {
      std::fill(t.data.begin(), t.data.end(), a.init == "ones" ? 1.0 : 0.0);
    } else {
      for (double &v : t.data)
        v = a.role == ArgRole::Target ? uniform(rng) : normal(rng);
    }
    args[a.name] = std::move(t);
  }
  return args;
}

} // namespace nnc
