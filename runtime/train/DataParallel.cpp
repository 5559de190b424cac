//===- DataParallel.cpp - The Trainer over several processes: one allreduce per step ---------===//
//
// Each process holds the whole state and computes `train_grad` on its shard of the global
// minibatch (shardOf: contiguous rows of the global batch, in rank order). Its gradients land
// directly in one float buffer (bucket_), each parameter's at a 16-float-aligned offset, followed
// by the step's counters:
//
//   [ grad p1 | grad p2 | ... | rows | rows * loss | correct | failed | stop ]
//
// Each process scales its gradients by its row count; one MPI_Allreduce sums the buffer; each
// divides by the summed row count, which gives the gradient of the loss averaged over the
// global minibatch (the loss is a mean over the rows), and then runs `train_apply` on it. The
// counters come along in the same call: the global loss and accuracy, whether any process
// failed to stage or compute its shard (then all return the first error, via agree), and whether
// any was asked to stop (Ctrl-C). So a step makes exactly one allreduce call. docs/DISTRIBUTED.md
// has the design and its cost.
//
//===----------------------------------------------------------------------------------------===//
#include "passes/training/TrainStep.h"
#include "runtime/data/Batching.h"
#include "runtime/exec/Executable.h"
#include "runtime/exec/Storage.h"
#include "runtime/train/Trainer.h"
#include "runtime/train/TrainerParts.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstring>

namespace nnc {

namespace {

/// The counters after the gradients in the step's buffer.
enum Tail : size_t { kRows, kLossSum, kCorrect, kFailed, kStop, kTailSlots };

/// The state the frontend gives dropout's counter-based random numbers (frontend/Lower.cpp).
constexpr const char *kRngCounter = "rng.counter";
/// Process k draws with counter + k * this (mod 2^32): an odd constant, so the processes' counters
/// stay apart for billions of steps and no two draw the same numbers for their rows.
constexpr uint32_t kRngStride = 0x9E3779B9u;

size_t roundUp16(size_t n) { return (n + 15) / 16 * 16; }

} // namespace

Result<void> Trainer::setUpDataParallel() {
  const auto &program = mainProgram();
  if (!program.grad || !program.apply)
    return Error{"internal error: the data-parallel step's halves were not compiled"};
  gradOffset_.clear();
  size_t offset = 0;
  for (const std::string &name : params_) {
    const State &s = *state_.at(name);
    if (s.type.dtype != DType::F32)
      return Error{fmt::format("data-parallel training sums f32 gradients; parameter '{}' is {}", name, s.type.str())};
    gradOffset_[name] = offset;
    offset += roundUp16(static_cast<size_t>(s.type.numElements()));
  }
  gradTail_ = offset;
  bucket_.assign(gradTail_ + kTailSlots, 0.f);
  for (auto &[batch, v] : programs_) { // the split step's halves read and write the buffer
    bind(*v, v->gradB, v->grad, kGradStep);
    bind(*v, v->applyB, v->apply, kApplyStep);
  }
  commStats_.bytesPerStep = bucket_.size() * sizeof(float);

  // The float state that train_grad updates is the batchnorm running statistics.
  runningStats_.clear();
  const Function &grad = *program.module->findFunction(kGradStep);
  for (const StateUpdate &u : grad.updates()) {
    const Argument &a = grad.argument(u.state);
    if (a.type.dtype == DType::F32 || a.type.dtype == DType::F64)
      runningStats_.push_back(a.name);
  }

  // The initializers are seeded, so every process starts from the same state; sending rank 0's
  // makes sure of it.
  for (const std::string &name : stateOrder_) {
    std::vector<uint8_t> &bytes = state_.at(name)->bytes;
    comm_->broadcast(bytes, 0);
  }
  return {};
}

void Trainer::shiftRngCounter(int sign) {
  auto it = state_.find(kRngCounter);
  if (it == state_.end() || it->second->bytes.size() != sizeof(uint32_t))
    return;
  uint32_t counter;
  std::memcpy(&counter, it->second->bytes.data(), sizeof counter);
  uint32_t shift = static_cast<uint32_t>(comm_->rank()) * kRngStride;
  counter = sign > 0 ? counter + shift : counter - shift;
  std::memcpy(it->second->bytes.data(), &counter, sizeof counter);
}

Result<StepResult> Trainer::exchangeStep(BatchProgram *v, size_t rows, Result<void> local, bool stopHere,
                                         bool &stopAll) {
  float *tail = bucket_.data() + gradTail_;
  bool computed = false;
  if (local && v && rows > 0) {
    // Each process draws its own random numbers (dropout) for its rows.
    shiftRngCounter(+1);
    call(*v, v->gradB);
    shiftRngCounter(-1);
    if (local) {
      double loss = readElement(v->gradB.loss, v->gradB.lossType, 0);
      double correct = 0;
      if (v->gradB.correct)
        correct = readElement(v->gradB.correct, v->gradB.correctType, 0);
      // The gradient of this shard's mean loss, weighted by its rows; the padding stays zero.
      const float w = static_cast<float>(rows);
      for (size_t i = 0; i < gradTail_; ++i)
        bucket_[i] *= w;
      tail[kRows] = w;
      tail[kLossSum] = static_cast<float>(loss * double(rows));
      tail[kCorrect] = static_cast<float>(correct);
      computed = true;
    }
  }
  if (!computed)
    std::fill(bucket_.begin(), bucket_.end(), 0.f);
  tail[kFailed] = local ? 0.f : 1.f;
  tail[kStop] = stopHere ? 1.f : 0.f;

  auto start = std::chrono::steady_clock::now();
  comm_->allreduceSum(std::span<float>(bucket_));
  commStats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++commStats_.allreduces;
  ++commStats_.steps;

  if (tail[kFailed] > 0) {
    auto r = comm_->agree(std::move(local));
    return r ? Error{"internal error: a process failed but reported no error"} : r.error();
  }
  stopAll = tail[kStop] > 0;
  const float total = tail[kRows];
  if (!(total > 0))
    return Error{"internal error: a data-parallel step had no rows"};
  for (size_t i = 0; i < gradTail_; ++i)
    bucket_[i] /= total;
  // Every process applies the same update to the same state with the same summed gradients.
  BatchProgram &any = mainProgram();
  call(any, any.applyB);
  StepResult out;
  out.loss = double(tail[kLossSum]) / double(total);
  out.correct = tail[kCorrect];
  return out;
}

Result<StepResult> Trainer::dataParallelStep(const Dataset &data, const Batcher &batcher, size_t s, bool stopHere,
                                             bool &stopAll) {
  Shard shard = shardOf(batcher.rowsIn(s), comm_->rank(), comm_->size());
  Result<void> local;
  BatchProgram *v = nullptr;
  if (shard.count > 0) {
    if (auto program = batchProgram(static_cast<int64_t>(shard.count)); !program) {
      local = program.error();
    } else if (auto staged = stage(**program, data, batcher, s, shard); !staged) {
      local = staged.error();
    } else {
      v = *program;
    }
  }
  return exchangeStep(v, shard.count, std::move(local), stopHere, stopAll);
}

Result<EvalStats> Trainer::trainEpochDataParallel(const Dataset &data, uint64_t epoch, const ProgressFn &progress,
                                                  const std::atomic<bool> *stop) {
  if (auto r = comm_->agree(checkData(data)); !r)
    return r.error();
  Batcher batcher(data, static_cast<size_t>(config().batch), config().seed, config().shuffle);
  batcher.startEpoch(epoch); // the same global order on every process
  size_t steps = batcher.numBatches();
  if (auto r = comm_->agree(setStepsPerEpoch(static_cast<int64_t>(steps))); !r)
    return r.error();
  prefetchTail(data.size()); // this process's shard of the final partial minibatch
  // The run's position is the same on every process (the state and the position come from the
  // same checkpoint bytes), so all continue at the same step, as trainEpoch does.
  if (position_.epoch != static_cast<int64_t>(epoch) || position_.stepInEpoch > static_cast<int64_t>(steps))
    position_ = RunPosition{static_cast<int64_t>(epoch)};
  BatchTotals totals{position_.lossSum, position_.correct, static_cast<size_t>(position_.examples)};
  auto record = [&](size_t stepsDone) {
    position_.stepInEpoch = static_cast<int64_t>(stepsDone);
    position_.lossSum = totals.lossSum;
    position_.correct = totals.correct;
    position_.examples = static_cast<int64_t>(totals.examples);
  };
  auto add = [&](const StepResult &out, size_t s) {
    const size_t rows = batcher.rowsIn(s);
    totals.lossSum += out.loss * double(rows);
    totals.correct += out.correct;
    totals.examples += rows;
  };
  // The non-finite guard of trainEpoch, over processes: the step's loss is the global one (the
  // same number on every process); the state test is agreed (batchnorm statistics differ between
  // processes until they are averaged).
  auto stateBad = [&] { return comm_->any(!stateIsFinite()); };
  size_t s = static_cast<size_t>(position_.stepInEpoch);
  StateCopy good = copyState();
  size_t goodStep = s;
  BatchTotals goodTotals = totals;
  bool stopAll = false;
  while (s < steps && !stopAll) {
    auto out = dataParallelStep(data, batcher, s, stop && stop->load(), stopAll);
    if (!out)
      return out.error();
    bool bad = !std::isfinite(out->loss);
    if (!bad)
      add(*out, s);
    if (!bad && (s + 1 - goodStep >= size_t(kGuardInterval) || s + 1 == steps)) {
      if (!stateBad()) {
        copyStateInto(good);
        goodStep = s + 1;
        goodTotals = totals;
      } else {
        bad = true;
      }
    }
    if (bad) {
      // Replay from the last good state, every process alike, to find the first bad step.
      restoreState(good);
      totals = goodTotals;
      size_t badStep = steps;
      std::string what;
      for (size_t j = goodStep; j <= s; ++j) {
        StateCopy before = copyState();
        bool ignored = false;
        auto replay = dataParallelStep(data, batcher, j, false, ignored);
        if (!replay)
          return replay.error();
        bool lossBad = !std::isfinite(replay->loss);
        if (!lossBad && !stateBad()) {
          add(*replay, j);
          continue;
        }
        restoreState(before);
        badStep = j;
        what = lossBad ? fmt::format("the loss is {}", replay->loss) : std::string("the state became non-finite");
        break;
      }
      if (badStep == steps)
        return Error{fmt::format("internal error: a non-finite value at step {} of epoch {} did not recur when the "
                                 "steps were replayed",
                                 s + 1, epoch + 1)};
      std::string at = fmt::format("at step {} (epoch {})", stepCount() + 1, epoch + 1);
      // Rank 0 locates the op: the reference interpreter runs the whole minibatch from the state
      // before the step (its own batchnorm statistics and dropout stream: the processes' draws
      // are not replayed, so a value that only their shards produce may not recur).
      std::string where = comm_->isLeader() ? firstNonFiniteOp(data, batcher, badStep) : std::string();
      where = comm_->broadcastString(std::move(where), 0);
      std::string message;
      if (where.empty()) {
        message = fmt::format("{} {}; replaying that minibatch in the reference interpreter found no op producing a "
                              "non-finite value (the compiled code rounds differently, or the value came from "
                              "data-parallel dropout draws)",
                              what, at);
      } else {
        size_t eol = where.find('\n');
        std::string first = where.substr(0, eol), rest = eol == std::string::npos ? "" : where.substr(eol);
        while (!rest.empty() && rest.back() == '\n')
          rest.pop_back();
        message = fmt::format("{} {}{}", first, at, rest);
      }
      record(badStep);
      if (nonFinite_ == NonFinitePolicy::Stop) {
        averageRunningStats(); // the state every process keeps (and rank 0 may save) is the same
        return Error{fmt::format("{}\nnote: training stopped; the state is the one before that step (use "
                                 "--on-nonfinite=skip to skip such minibatches)",
                                 message)};
      }
      if (size_t e = message.find(": error: "); e != std::string::npos)
        message.replace(e, 9, ": warning: ");
      if (comm_->isLeader()) {
        if (skipped_ == 0)
          fmt::print(stderr, "{}\nnote: skipping that minibatch (--on-nonfinite=skip)\n", message);
        else
          fmt::print(stderr, "{}; skipped\n", message.substr(0, message.find('\n')));
      }
      ++skipped_;
      s = badStep + 1;
      record(s);
      good = copyState();
      goodStep = s;
      goodTotals = totals;
      continue;
    }
    record(s + 1);
    if (onStep_)
      onStep_(stepCount(), static_cast<int64_t>(epoch), out->loss);
    if (progress)
      progress(s + 1, steps, totals.examples ? totals.lossSum / double(totals.examples) : 0.0, totals.examples);
    ++s;
  }
  averageRunningStats();
  EvalStats stats = statsOf(totals);
  stats.complete = s >= steps;
  if (stats.complete)
    position_ = RunPosition{static_cast<int64_t>(epoch) + 1};
  return stats;
}

Result<EvalStats> Trainer::evaluateDataParallel(const Dataset &data) {
  Result<void> local = checkEvalData(data);
  Batcher batcher(data, static_cast<size_t>(config().batch), config().seed, /*shuffle=*/false);
  BatchTotals totals;
  for (size_t b = 0; local && b < batcher.numBatches(); ++b) {
    Shard shard = shardOf(batcher.rowsIn(b), comm_->rank(), comm_->size());
    if (shard.count > 0)
      if (auto r = runBatch(data, batcher, b, /*training=*/false, totals, shard); !r)
        local = r.error();
  }
  // Each process evaluated its shard of every batch: one sum gives the totals.
  double sums[4] = {totals.lossSum, totals.correct, double(totals.examples), local ? 0.0 : 1.0};
  comm_->allreduceSum(std::span<double>(sums));
  if (sums[3] > 0) {
    auto r = comm_->agree(std::move(local));
    return r ? Error{"internal error: a process failed but reported no error"} : r.error();
  }
  totals.lossSum = sums[0];
  totals.correct = sums[1];
  totals.examples = static_cast<size_t>(sums[2]);
  return statsOf(totals);
}

void Trainer::averageRunningStats() {
  const double p = comm_->size();
  for (const std::string &name : runningStats_) {
    State &s = *state_.at(name);
    const size_t n = static_cast<size_t>(s.type.numElements());
    std::vector<double> values(n);
    for (size_t i = 0; i < n; ++i)
      values[i] = readElement(s.bytes.data(), s.type.dtype, i);
    comm_->allreduceSum(std::span<double>(values));
    for (size_t i = 0; i < n; ++i)
      writeElement(s.bytes.data(), s.type.dtype, i, values[i] / p);
  }
}

} // namespace nnc
