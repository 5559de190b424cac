//===- Builtins.cpp - The table of functions, layers and settings ---------------------------===//
//
// The rows of builtins() and trainSettings(). A row that lowers to IR names its op
// (OpKind::...) or its lowering function (&Lowerer::lower...); docs/EXTENDING.md says which.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/Builtins.h"

#include "frontend/Lowerer.h"

#include <algorithm>
#include <string>

namespace nnc {

const char *describe(BuiltinKind kind) {
  switch (kind) {
  case BuiltinKind::Op: return "operation";
  case BuiltinKind::Activation: return "activation";
  case BuiltinKind::Reduction: return "reduction";
  case BuiltinKind::Loss: return "loss";
  case BuiltinKind::Penalty: return "penalty";
  case BuiltinKind::Layer: return "layer";
  case BuiltinKind::Initializer: return "initializer";
  case BuiltinKind::Optimizer: return "optimizer";
  case BuiltinKind::Schedule: return "schedule";
  }
  return "builtin";
}

namespace {
using K = BuiltinKind;
using P = ParamType;
using O = OpKind;
using L = lowering::Lowerer;
// Shorthands for the table: x = required tensor, i/oi = (optional) integer, n/on = (optional)
// number, ob = optional bool, act = optional activation, init = optional initializer.
constexpr BuiltinParam x(std::string_view n) { return {n, P::Tensor, true}; }
constexpr BuiltinParam i(std::string_view n) { return {n, P::Int, true}; }
constexpr BuiltinParam oi(std::string_view n) { return {n, P::Int, false}; }
constexpr BuiltinParam n(std::string_view n) { return {n, P::Number, true}; }
constexpr BuiltinParam on(std::string_view n) { return {n, P::Number, false}; }
constexpr BuiltinParam ob(std::string_view n) { return {n, P::Bool, false}; }
constexpr BuiltinParam act() { return {"act", P::Activation, false}; }
constexpr BuiltinParam init() { return {"init", P::Initializer, false}; }
} // namespace

const std::vector<Builtin> &builtins() {
  static const std::vector<Builtin> table = {
      // Activations: elementwise, usable as `act = NAME` in layers.
      {"sigmoid", K::Activation, {x("x")}, false, {}, "logistic function 1 / (1 + exp(-x))", O::Sigmoid},
      {"tanh", K::Activation, {x("x")}, false, {}, "hyperbolic tangent", O::Tanh},
      {"relu", K::Activation, {x("x")}, false, {}, "max(x, 0)", O::Relu},
      {"leaky_relu", K::Activation, {x("x"), on("alpha")}, false, {}, "x if x > 0 else alpha * x (alpha = 0.01)", O::LeakyRelu},
      {"softplus", K::Activation, {x("x")}, false, {}, "log(1 + exp(x)), computed stably", O::Softplus},
      {"softmax", K::Activation, {x("x"), oi("axis")}, false, {}, "exp(x) / sum(exp(x)) along axis (default -1), stable", O::Softmax},
      {"log_softmax", K::Activation, {x("x"), oi("axis")}, false, {}, "x - logsumexp(x) along axis (default -1)", O::LogSoftmax},
      // Elementwise and structural operations.
      {"exp", K::Op, {x("x")}, false, {}, "e^x", O::Exp},
      {"log", K::Op, {x("x")}, false, {}, "natural logarithm", O::Log},
      {"sqrt", K::Op, {x("x")}, false, {}, "square root", O::Sqrt},
      {"abs", K::Op, {x("x")}, false, {}, "absolute value", O::Abs},
      {"square", K::Op, {x("x")}, false, {}, "x * x", O::Square},
      {"pow", K::Op, {x("x"), {"p", P::Number, true, "exponent"}}, false, {}, "x to a constant power p", O::PowC},
      {"maximum", K::Op, {x("a"), x("b")}, false, {}, "elementwise maximum, broadcasting", O::Max, &L::lowerBroadcasting},
      {"minimum", K::Op, {x("a"), x("b")}, false, {}, "elementwise minimum, broadcasting", O::Min, &L::lowerBroadcasting},
      {"logsumexp", K::Op, {x("x"), oi("axis")}, false, {}, "log(sum(exp(x))) along axis (default -1), stable", O::LogSumExp},
      {"matmul", K::Op, {x("a"), x("b"), ob("transpose_a"), ob("transpose_b")}, false, {}, "matrix product; a @ b", O::MatMul},
      {"transpose", K::Op, {x("x")}, false, {}, "swaps the last two axes", {}, &L::lowerTranspose},
      {"flatten", K::Op, {x("x")}, false, {}, "[B, d1, d2, ...] to [B, d1*d2*...]", {}, &L::lowerFlatten},
      {"one_hot", K::Op, {x("labels"), i("depth")}, false, {}, "i32 class indices to f32 rows of 0 and 1", {}, &L::lowerOneHot},
      // Reductions: over all axes unless `axis` is given.
      {"sum", K::Reduction, {x("x"), oi("axis")}, false, {}, "sum of the elements", O::ReduceSum, &L::lowerReduction},
      {"mean", K::Reduction, {x("x"), oi("axis")}, false, {}, "mean of the elements", O::ReduceMean, &L::lowerReduction},
      {"max", K::Reduction, {x("x"), oi("axis")}, false, {}, "largest element", O::ReduceMax, &L::lowerReduction},
      // Losses: one value per example; average them with mean().
      {"softmax_cross_entropy", K::Loss, {x("logits"), x("labels")}, false, {}, "-log softmax(logits)[label] per row, via logsumexp", O::SoftmaxCrossEntropy, &L::lowerClassLoss},
      {"binary_cross_entropy", K::Loss, {x("logits"), x("targets")}, false, {}, "logistic loss from logits, targets in [0, 1], stable", O::BceWithLogits, &L::lowerBinaryCrossEntropy},
      {"hinge", K::Loss, {x("scores"), x("labels"), on("margin")}, false, {}, "multiclass SVM loss sum_j max(0, s_j - s_y + margin)", O::MulticlassHinge, &L::lowerClassLoss},
      {"squared_error", K::Loss, {x("y"), x("t")}, false, {}, "(y - t)^2 summed over each example's features", {}, &L::lowerSquaredError},
      // Penalties over parameters (any number of them).
      {"l1", K::Penalty, {}, true, {}, "sum of |w| over the given parameters", O::Abs, &L::lowerPenalty},
      {"l2", K::Penalty, {}, true, {}, "sum of w^2 over the given parameters", O::Square, &L::lowerPenalty},
      {"elastic_net", K::Penalty, {on("l1_ratio")}, true, {}, "l1_ratio * l1 + (1 - l1_ratio) * l2 (l1_ratio = 0.5)", {}, &L::lowerElasticNet},
      // Layers.
      {"dense", K::Layer, {x("x"), i("units"), act(), ob("bias"), init()}, false, {"weight", "bias"}, "x @ weight + bias, then act", {}, &L::lowerDense},
      {"conv2d", K::Layer, {x("x"), i("filters"), oi("kernel"), oi("stride"), oi("pad"), act(), ob("bias"), init()}, false, {"weight", "bias"}, "2-D convolution over NCHW input", O::Conv2D, &L::lowerConv2D},
      {"maxpool", K::Layer, {x("x"), i("size"), oi("stride"), oi("pad")}, false, {}, "max over size x size windows (stride = size)", O::MaxPool2D, &L::lowerPool},
      {"avgpool", K::Layer, {x("x"), i("size"), oi("stride"), oi("pad")}, false, {}, "mean over size x size windows (stride = size)", O::AvgPool2D, &L::lowerPool},
      {"batchnorm", K::Layer, {x("x"), on("momentum"), on("eps")}, false, {"gamma", "beta"}, "normalize per feature/channel over the batch; running statistics for eval", {}, &L::lowerBatchNorm},
      {"dropout", K::Layer, {x("x"), x("rate")}, false, {}, "zero each element with probability rate while training, scale the rest", {}, &L::lowerDropout},
      {"random_shift", K::Layer, {x("x"), i("pad")}, false, {}, "move each example by up to pad pixels in H and W, zeros coming in, while training", {}, &L::lowerRandomShift},
      {"random_flip", K::Layer, {x("x")}, false, {}, "mirror each example left to right with probability 1/2 while training", {}, &L::lowerRandomFlip},
      {"gaussian_noise", K::Layer, {x("x"), n("stddev")}, false, {}, "add normal(0, stddev) noise to each element while training", {}, &L::lowerGaussianNoise},
      {"embedding", K::Layer, {x("ids"), i("vocab"), i("dim"), init()}, false, {"weight"}, "rows of a [vocab, dim] table for i32 ids", O::Gather, &L::lowerEmbedding},
      {"rnn", K::Layer, {x("x"), i("units"), act()}, false, {"w_x", "w_h", "bias"}, "Elman recurrence over axis 1, unrolled; returns every step's state", {}, &L::lowerRnn},
      // Initializers.
      {"zeros", K::Initializer, {}, false, {}, "all 0"},
      {"ones", K::Initializer, {}, false, {}, "all 1"},
      {"constant", K::Initializer, {n("value")}, false, {}, "all value"},
      {"uniform", K::Initializer, {on("low"), on("high")}, false, {}, "uniform in [low, high) (default [-0.05, 0.05))"},
      {"normal", K::Initializer, {on("mean"), on("std")}, false, {}, "normal(mean, std) (default 0, 0.05)"},
      {"glorot_uniform", K::Initializer, {}, false, {}, "uniform with limit sqrt(6 / (fan_in + fan_out))"},
      {"glorot_normal", K::Initializer, {}, false, {}, "normal with std sqrt(2 / (fan_in + fan_out))"},
      {"xavier_uniform", K::Initializer, {}, false, {}, "same as glorot_uniform"},
      {"xavier_normal", K::Initializer, {}, false, {}, "same as glorot_normal"},
      {"he_uniform", K::Initializer, {}, false, {}, "uniform with limit sqrt(6 / fan_in)"},
      {"he_normal", K::Initializer, {}, false, {}, "normal with std sqrt(2 / fan_in)"},
      {"kaiming_uniform", K::Initializer, {}, false, {}, "same as he_uniform"},
      {"kaiming_normal", K::Initializer, {}, false, {}, "same as he_normal"},
      // Optimizers.
      {"sgd", K::Optimizer, {on("lr"), on("momentum"), ob("nesterov"), on("weight_decay")}, false, {}, "stochastic gradient descent, optionally with (Nesterov) momentum"},
      {"momentum", K::Optimizer, {on("lr"), on("momentum"), on("weight_decay")}, false, {}, "SGD with momentum (0.9)"},
      {"nesterov", K::Optimizer, {on("lr"), on("momentum"), on("weight_decay")}, false, {}, "SGD with Nesterov momentum (0.9)"},
      {"adagrad", K::Optimizer, {on("lr"), on("eps"), on("weight_decay")}, false, {}, "per-coordinate steps scaled by accumulated squared gradients"},
      {"rmsprop", K::Optimizer, {on("lr"), on("rho"), on("eps"), on("weight_decay")}, false, {}, "steps scaled by a running mean of squared gradients"},
      {"adam", K::Optimizer, {on("lr"), on("beta1"), on("beta2"), on("eps"), on("weight_decay")}, false, {}, "Adam with bias correction"},
      {"adamw", K::Optimizer, {on("lr"), on("beta1"), on("beta2"), on("eps"), on("weight_decay")}, false, {}, "Adam with decoupled weight decay (0.01)"},
      // Learning-rate schedules.
      {"constant", K::Schedule, {}, false, {}, "the same rate every step"},
      {"step", K::Schedule, {i("every"), on("gamma")}, false, {}, "multiply by gamma (0.1) every `every` epochs"},
      {"exponential", K::Schedule, {on("gamma")}, false, {}, "multiply by gamma (0.95) every epoch"},
      {"cosine", K::Schedule, {on("min_lr"), oi("warmup")}, false, {}, "cosine decay to min_lr over the run, after `warmup` epochs"},
      {"warmup", K::Schedule, {i("epochs")}, false, {}, "linear warm-up over the first epochs, then constant"},
  };
  return table;
}

const Builtin *findBuiltin(std::string_view name) {
  for (const Builtin &b : builtins())
    if (b.name == name)
      return &b;
  return nullptr;
}

const Builtin *findBuiltin(std::string_view name, BuiltinKind kind) {
  for (const Builtin &b : builtins())
    if (b.name == name && b.kind == kind)
      return &b;
  return nullptr;
}

std::vector<std::string_view> builtinNames(std::initializer_list<BuiltinKind> kinds) {
  std::vector<std::string_view> names;
  for (const Builtin &b : builtins())
    if (std::find(kinds.begin(), kinds.end(), b.kind) != kinds.end())
      names.push_back(b.name);
  return names;
}

const std::vector<TrainSettingSpec> &trainSettings() {
  static const std::vector<TrainSettingSpec> table = {
      {"optimizer", SettingValue::Optimizer, "the optimizer and its hyper-parameters"},
      {"schedule", SettingValue::Schedule, "the learning-rate schedule"},
      {"batch", SettingValue::PositiveInt, "minibatch size, binds B"},
      {"epochs", SettingValue::PositiveInt, "passes over the training data"},
      {"seed", SettingValue::PositiveInt, "seed of initialization, shuffling, dropout and augmentation"},
      {"clip", SettingValue::Number, "clip gradients to this global norm"},
      {"weight_decay", SettingValue::Number, "decoupled weight decay"},
      {"shuffle", SettingValue::Bool, "reshuffle the training data every epoch (true)"},
      {"data", SettingValue::String, "training data: a file or a built-in source name"},
      {"test_data", SettingValue::String, "test data: a file or a built-in source name"},
  };
  return table;
}

const TrainSettingSpec *findTrainSetting(std::string_view name) {
  for (const TrainSettingSpec &s : trainSettings())
    if (s.name == name)
      return &s;
  return nullptr;
}

std::string_view closestMatch(std::string_view name, const std::vector<std::string_view> &candidates) {
  // Edit distance with adjacent transpositions (optimal string alignment): "adma" is one
  // step from "adam", as a typist would count it.
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i)
      d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j)
      d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
      for (size_t j = 1; j <= b.size(); ++j) {
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    return d[a.size()][b.size()];
  };
  std::string_view best;
  size_t bestDist = std::max<size_t>(1, name.size() / 3) + 1;
  for (std::string_view c : candidates) {
    // The distance is at least the difference in length; skip the quadratic computation.
    if ((c.size() > name.size() ? c.size() - name.size() : name.size() - c.size()) >= bestDist)
      continue;
    size_t d = distance(name, c);
    // Replacing every character of a short name is no typo: 'Q' does not suggest 'x'.
    if (d < bestDist && d < name.size()) {
      bestDist = d;
      best = c;
    }
  }
  return best;
}

} // namespace nnc
