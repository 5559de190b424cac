//===- CheckCommand.cpp - `nnc check`: the gradient check of a model ------------------------===//
//
// `nnc check model.nn [--batch N] [--seed S] [--tolerance T] [--samples K]` lowers the model in
// Train mode, draws random parameters and a random minibatch (labels in the range their loss
// implies), and compares the reverse-mode gradient of every parameter with central finite
// differences in f64 in the interpreter, plus forward mode against reverse mode. It prints a
// table with each parameter's worst relative error and exits 1 when one exceeds the tolerance.
// Dropout draws the same masks in every evaluation: the random-number counter is an argument.
//
//===----------------------------------------------------------------------------------------===//
#include "ir/NonFinite.h"
#include "passes/training/GradCheck.h"
#include "tools/nnc/Driver.h"

#include <fmt/format.h>

namespace nnc::driver {

namespace {

class CheckCommand : public Command {
public:
  CLI::App *attach(CLI::App &app) override {
    CLI::App *sub = app.add_subcommand("check", "gradient-check every parameter of a model: finite differences "
                                                "and forward mode against reverse mode, in f64");
    sub->add_option("file", file_, "the model (.nn)")->required();
    sub->add_option("--batch", batch_, "minibatch size B of the check (default 4)")->check(CLI::PositiveNumber);
    sub->add_option("--seed", seed_, "seed of the random parameters, minibatch and directions (default 1)");
    sub->add_option("--tolerance", options_.tolerance,
                    "largest relative error accepted (default 1e-6)")
        ->check(CLI::PositiveNumber);
    sub->add_option("--samples", options_.samplesPerParam,
                    "coordinates checked per parameter; smaller parameters are checked whole (default 16)")
        ->check(CLI::PositiveNumber);
    sub->add_option("--model", model_, "the model to check when the file has several");
    return sub;
  }

  int run() override {
    std::optional<std::string> text = readFile(file_);
    if (!text)
      return kUsageError;
    CompileSettings settings;
    settings.modelName = model_;
    settings.train.batch = batch_;
    auto compilation = Compilation::fromSource(file_, std::move(*text), settings);
    if (!compilation)
      return reportError(compilation.error());
    fmt::print(stderr, "{}", (*compilation)->warnings());
    auto graph = (*compilation)->modelGraph();
    if (!graph)
      return reportError(graph.error());
    const Function &forward = (*graph)->functions().front();
    options_.seed = seed_;
    auto args = randomCheckArguments(forward, seed_);
    if (auto *e = std::get_if<std::string>(&args)) {
      fmt::print(stderr, "{}: error: {}\n", file_, *e);
      return kUserError;
    }
    // A NaN or infinity in the loss or a gradient is reported like a training step's: the
    // first op of the train step (stabilized, as trained) that produced it, located.
    if (int r = reportNonFinite(**compilation, std::get<std::map<std::string, Tensor>>(args)); r != kOk)
      return r;
    auto checked = checkGradients(forward, std::get<std::map<std::string, Tensor>>(args), options_);
    if (auto *e = std::get_if<std::string>(&checked)) {
      fmt::print(stderr, "{}: error: {}\n", file_, *e);
      return kUserError;
    }
    print((*compilation)->model().name, std::get<GradCheckReport>(checked));
    return std::get<GradCheckReport>(checked).passed ? kOk : kUserError;
  }

private:
  /// Runs the train step on the check's arguments (optimizer slots and counters at their
  /// zero start) in the interpreter; an error naming the first op with a non-finite value.
  int reportNonFinite(Compilation &compilation, const std::map<std::string, Tensor> &forwardArgs) const {
    auto graphs = compilation.trainingGraphs();
    if (!graphs)
      return reportError(graphs.error());
    const Function *step = (*graphs)->findFunction("train_step");
    if (!step)
      return kOk;
    std::map<std::string, Tensor> args;
    for (const Argument &a : step->arguments()) {
      auto it = forwardArgs.find(a.name);
      args.emplace(a.name, it != forwardArgs.end() ? it->second : Tensor::filled(a.type, 0.0));
    }
    auto found = firstNonFinite(*step, args);
    auto *bad = std::get_if<std::optional<NonFiniteValue>>(&found);
    if (!bad || !*bad)
      return kOk;
    const Node &node = *(*bad)->node;
    const char *where = node.stage == Stage::Forward ? "the loss" : node.stage == Stage::Backward ? "the gradient"
                                                                                                  : "the update";
    fmt::print(stderr, "{}", compilation.renderError(node.loc, fmt::format("'{}' produced {} in {} (nnc check's random "
                                                                           "minibatch, seed {})",
                                                                           mnemonic(node.op),
                                                                           nonFiniteName((*bad)->value), where, seed_)));
    return kUserError;
  }

  void print(const std::string &model, const GradCheckReport &r) const {
    fmt::print("gradient check of model '{}': batch {}, seed {}, f64, fourth-order central differences, h = {:g}\n", model,
               batch_, seed_, options_.step);
    fmt::print("loss = {:.10g}\n\n", r.loss);
    fmt::print("{:<24} {:<16} {:>9}  {:>12}  {:>14}  {:>14}  {}\n", "parameter", "type", "checked",
               "worst error", "finite diff.", "reverse mode", "");
    for (const ParamGradCheck &p : r.params)
      fmt::print("{:<24} {:<16} {:>4}/{:<4}  {:>12.3e}  {:>14.6e}  {:>14.6e}  {}\n", p.name, p.type.str(), p.checked,
                 p.type.numElements(), p.worstError, p.finiteDifference, p.gradient,
                 p.worstError <= options_.tolerance ? "ok" : "FAIL");
    fmt::print("\nforward vs reverse: jvp = {:.12e}, <grad, v> = {:.12e}, error {:.3e}  {}\n", r.jvp, r.dot,
               r.jvpError, r.jvpError <= options_.tolerance ? "ok" : "FAIL");
    fmt::print("{} (tolerance {:g})\n", r.passed ? "passed" : "FAILED", options_.tolerance);
  }

  std::string file_, model_;
  int64_t batch_ = 4;
  uint64_t seed_ = 1;
  GradCheckOptions options_;
};

} // namespace

std::unique_ptr<Command> makeCheckCommand() { return std::make_unique<CheckCommand>(); }

} // namespace nnc::driver
