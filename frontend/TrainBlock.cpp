//===- TrainBlock.cpp - The train block, read and resolved to typed settings ----------------===//
//
// Sema has checked each setting's kind (a positive integer, a quoted string, an optimizer call);
// this file reads the values and hands the optimizer and schedule to the resolution tables of
// passes/training/Optimizers.cpp, reporting what they reject at the setting that wrote it.
//
//===----------------------------------------------------------------------------------------===//
#include "frontend/TrainBlock.h"

#include "frontend/Builtins.h"

#include <fmt/format.h>

namespace nnc {

namespace {

/// The value of a number literal, or of a negated one.
double literalNumber(const Expr &e) {
  if (e.kind == Expr::Kind::Unary)
    return -literalNumber(*e.args[0]);
  return e.number;
}

/// The arguments of `NAME(args)` by parameter name; nothing for a bare `NAME`.
std::map<std::string, double> callArguments(const Expr &e, const Builtin *b) {
  std::map<std::string, double> out;
  if (e.kind != Expr::Kind::Call || !b)
    return out;
  for (size_t i = 0; i < e.args.size() && i < b->params.size(); ++i)
    out[std::string(b->params[i].name)] = literalNumber(*e.args[i]);
  for (const KeywordArg &k : e.kwargs)
    out[k.name] = literalNumber(*k.value);
  return out;
}

/// Resolves the optimizer and schedule of `c` as written; reports a rejected value at `optLoc`
/// or `schedLoc`.
bool resolve(TrainConfig &c, DiagnosticEngine &diags, SourceLoc optLoc, SourceLoc schedLoc) {
  bool ok = true;
  auto opt = resolveOptimizer(c.optimizerName, c.optimizerArgs, c.weightDecay);
  if (auto *e = std::get_if<std::string>(&opt)) {
    diags.error(optLoc, *e);
    ok = false;
  } else {
    c.optimizer = std::get<OptimizerParams>(opt);
  }
  auto schedule = resolveSchedule(c.scheduleName, c.scheduleArgs);
  if (auto *e = std::get_if<std::string>(&schedule)) {
    diags.error(schedLoc, *e);
    ok = false;
  } else {
    c.schedule = std::get<ScheduleParams>(schedule);
  }
  return ok;
}

} // namespace

std::optional<TrainConfig> readTrainBlock(const Program &program, DiagnosticEngine &diags) {
  TrainConfig c;
  if (!program.trains.empty())
    for (const TrainSetting &s : program.trains.front().settings) {
      const Expr &v = *s.value;
      if (s.name == "optimizer") {
        c.optimizerName = v.text;
        c.optimizerArgs = callArguments(v, findBuiltin(v.text, BuiltinKind::Optimizer));
        c.optimizerLoc = v.loc;
      } else if (s.name == "schedule") {
        c.scheduleName = v.text;
        c.scheduleArgs = callArguments(v, findBuiltin(v.text, BuiltinKind::Schedule));
        c.scheduleLoc = v.loc;
      } else if (s.name == "batch") {
        c.batch = static_cast<int64_t>(v.number);
      } else if (s.name == "epochs") {
        c.epochs = static_cast<int64_t>(v.number);
      } else if (s.name == "seed") {
        c.seed = static_cast<uint64_t>(v.number);
      } else if (s.name == "clip") {
        c.clip = v.number;
      } else if (s.name == "weight_decay") {
        c.weightDecay = v.number;
      } else if (s.name == "shuffle") {
        c.shuffle = v.number != 0;
      } else if (s.name == "data") {
        c.data = v.text;
      } else if (s.name == "test_data") {
        c.testData = v.text;
      }
    }
  // One hyper-parameter written twice: the optimizer's own weight_decay and the block's.
  if (!program.trains.empty())
    for (const TrainSetting &s : program.trains.front().settings)
      if (s.name == "weight_decay")
        if (auto it = c.optimizerArgs.find("weight_decay"); it != c.optimizerArgs.end() && it->second != c.weightDecay) {
          diags.error(s.loc, fmt::format("weight_decay {} contradicts the optimizer's weight_decay = {}: give it "
                                         "once, in the optimizer or in the train block",
                                         c.weightDecay, it->second));
          return std::nullopt;
        }
  if (!resolve(c, diags, c.optimizerLoc, c.scheduleLoc))
    return std::nullopt;
  return c;
}

bool applyTrainOverrides(TrainConfig &c, const TrainOverrides &o, DiagnosticEngine &diags) {
  if (o.batch > 0)
    c.batch = o.batch;
  if (o.seed)
    c.seed = *o.seed;
  if (o.epochs)
    c.epochs = *o.epochs;
  if (o.shuffle)
    c.shuffle = *o.shuffle;
  bool optimizerChanged = false;
  if (o.optimizer && *o.optimizer != c.optimizerName) {
    c.optimizerName = *o.optimizer;
    auto lr = c.optimizerArgs.find("lr");
    std::map<std::string, double> kept;
    if (lr != c.optimizerArgs.end() && lr->second > 0)
      kept["lr"] = lr->second;
    c.optimizerArgs = std::move(kept);
    optimizerChanged = true;
  }
  if (o.lr) {
    c.optimizerArgs["lr"] = *o.lr;
    optimizerChanged = true;
  }
  if (!optimizerChanged)
    return true;
  // A flag has no place in the file: its errors carry no location.
  return resolve(c, diags, SourceLoc{}, c.scheduleLoc);
}

int64_t trainBlockBatch(const Program &program) {
  if (!program.trains.empty())
    for (const TrainSetting &s : program.trains.front().settings)
      if (s.name == "batch")
        return static_cast<int64_t>(s.value->number);
  return TrainConfig().batch;
}

} // namespace nnc
