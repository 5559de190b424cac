//===- e2e_trainer_test.cpp - The Trainer C++ API end to end ---------------------------------===//
//
// Compiling from a string, errors as values (bad model text, mismatched data, foreign, corrupt,
// truncated and incomplete checkpoints), checkpoints that restore every state tensor and
// continue training exactly like an uninterrupted run, reproducibility from the seed, the final
// partial minibatch, evaluation denominators and predict's rows.
//
//===----------------------------------------------------------------------------------------===//
#include "e2e_support.h"

#include "passes/training/TrainStep.h"
#include "runtime/data/DataSource.h"
#include "runtime/records/Safetensors.h"
#include "runtime/train/Trainer.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <tuple>
#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <unistd.h>

using namespace nnc;
using namespace nnc::e2e;
namespace fs = std::filesystem;

namespace {

/// A directory under the system's temporary directory, removed with everything in it.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string &tag) {
    path = fs::temp_directory_path() / fmt::format("nnc-e2e-{}-{}", tag, getpid());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string &name) const { return (path / name).string(); }
};

std::string bytesOf(const std::string &path) { return readText(path); }

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

/// A small classifier with dropout (so the random-number counter is part of the state) and
/// momentum (so there are optimizer slots), for 4 features and 3 classes.
const char *kSmallModel = R"(model small {
  input  x : f32[B, 4]
  target y : i32[B]
  h = dense(x, 8, act = tanh)
  logits = dense(dropout(h, 0.1), 3)
  output probs = softmax(logits)
  loss mean(softmax_cross_entropy(logits, y))
}
train {
  optimizer momentum(lr = 0.1, momentum = 0.9)
  batch 4
  epochs 2
  seed 3
}
)";

/// `n` synthetic examples of 4 features and 3 classes (class = the largest of the first three
/// features), deterministic.
Dataset syntheticData(size_t n, size_t features = 4) {
  Dataset d;
  d.featureShape = {int64_t(features)};
  d.labelKind = LabelKind::Class;
  for (size_t i = 0; i < n; ++i) {
    float best = -1;
    int32_t label = 0;
    for (size_t f = 0; f < features; ++f) {
      float v = float(randomUniform(42, i, f) * 2 - 1);
      d.features.push_back(v);
      if (f < 3 && v > best) {
        best = v;
        label = int32_t(f);
      }
    }
    d.classLabels.push_back(label);
  }
  return d;
}

Dataset irisData() {
  auto d = loadDataSource(examplePath("iris.csv"), Split::Train);
  REQUIRE(d);
  Dataset data = std::move(*d);
  auto norm = normalizeFeatures(data, nullptr, Normalization::Auto, examplePath("iris.csv"));
  REQUIRE(norm);
  return data;
}

std::unique_ptr<Trainer> small(CompileSettings o = {}) {
  auto t = Trainer::fromSource("small.nn", kSmallModel, o);
  INFO((t ? std::string() : t.message()));
  REQUIRE(t);
  return std::move(*t);
}

/// Every state tensor of `t`, by name.
std::map<std::string, HostTensor> allState(const Trainer &t, const std::string &checkpoint) {
  auto ckpt = readSafetensors(checkpoint);
  REQUIRE(ckpt);
  std::map<std::string, HostTensor> out;
  for (const auto &[name, _] : ckpt->tensors) {
    auto v = t.tensor(name);
    REQUIRE(v);
    out[name] = *v;
  }
  return out;
}

} // namespace

TEST_CASE("fromSource compiles a model string and trains it", "[e2e][trainer]") {
  auto t = small();
  CHECK(t->modelName() == "small");
  CHECK(t->batchSize() == 4);
  CHECK(t->isClassifier());
  CHECK(t->predictOutput() == "probs");
  CHECK(t->parameterNames() == std::vector<std::string>{"h.weight", "h.bias", "logits.weight", "logits.bias"});
  Dataset data = syntheticData(64);
  REQUIRE(t->checkData(data));
  auto before = t->evaluate(data);
  REQUIRE(before);
  for (uint64_t e = 0; e < 5; ++e)
    REQUIRE(t->trainEpoch(data, e));
  auto after = t->evaluate(data);
  REQUIRE(after);
  CHECK(after->loss < before->loss * 0.8);
  CHECK(after->accuracy > 0.8);
  CHECK(t->stepCount() == 5 * 16);
}

TEST_CASE("a bad model text is an Error carrying the rendered diagnostic", "[e2e][trainer]") {
  auto t = Trainer::fromSource("bad.nn", "model m {\n  input x : f32[B, 4]\n  loss mean(nosuch(x))\n}\n", {});
  REQUIRE_FALSE(t);
  INFO(t.message());
  CHECK(t.message().find("bad.nn:3:") != std::string::npos);
  CHECK(t.message().find("error:") != std::string::npos);
  CHECK(t.message().find("nosuch") != std::string::npos);

  auto syntax = Trainer::fromSource("syntax.nn", "model m { input x : f32[B, 4] loss ", {});
  REQUIRE_FALSE(syntax);
  CHECK(syntax.message().find("syntax.nn:") != std::string::npos);

  auto missing = Trainer::fromFile("/nonexistent/model.nn", {});
  REQUIRE_FALSE(missing);
  CHECK(missing.message().find("/nonexistent/model.nn") != std::string::npos);
}

TEST_CASE("data of the wrong shape is an Error for train, evaluate and predict", "[e2e][trainer]") {
  auto t = small();
  Dataset wrong = syntheticData(10, 5);
  auto tr = t->trainEpoch(wrong, 0);
  REQUIRE_FALSE(tr);
  CHECK(tr.message().find("5 features") != std::string::npos);
  CHECK_FALSE(t->evaluate(wrong));
  std::vector<int64_t> shape;
  CHECK_FALSE(t->predict(wrong, shape));
  CHECK(t->stepCount() == 0);
  // Float targets for an i32 class target.
  Dataset floats = syntheticData(10);
  floats.labelKind = LabelKind::Target;
  floats.targets.assign(10, 0.5f);
  floats.targetShape = {};
  CHECK_FALSE(t->trainEpoch(floats, 0));
  // A step with the wrong number of values.
  std::vector<float> x(7, 0.f);
  std::vector<int32_t> y(2, 0);
  CHECK_FALSE(t->step(x, y, {}, 2));
  CHECK_FALSE(t->step({}, {}, {}, 0));
}

TEST_CASE("step() on the caller's rows trains exactly as the epoch over the same minibatches",
          "[e2e][trainer]") {
  // step() reads the caller's features in place (and copies the labels once); the epoch stages
  // each minibatch first. Unshuffled, both see the same minibatches in the same order: the
  // losses and the state must be the same bit for bit, for class labels and for float targets.
  std::string unshuffled = std::string(kSmallModel);
  unshuffled.replace(unshuffled.find("  seed 3"), 8, "  seed 3\n  shuffle false");
  const char *kRegression = R"(model reg {
  input  x : f32[B, 4]
  target t : f32[B, 2]
  h = dense(x, 8, act = tanh)
  output out = dense(h, 2)
  loss mean(square(out - t))
}
train {
  optimizer adam(lr = 0.01)
  batch 4
  shuffle false
}
)";
  Dataset data = syntheticData(16);
  Dataset regression = syntheticData(16);
  regression.labelKind = LabelKind::Target;
  regression.targetShape = {2};
  for (size_t i = 0; i < 16; ++i)
    for (int k = 0; k < 2; ++k)
      regression.targets.push_back(regression.features[i * 4 + size_t(k)] * 0.5f - 0.25f);
  for (auto [name, source, d] : {std::tuple{"small.nn", unshuffled.c_str(), &data},
                                 std::tuple{"reg.nn", kRegression, &regression}}) {
    CAPTURE(name);
    auto byEpoch = Trainer::fromSource(name, source, {});
    auto bySteps = Trainer::fromSource(name, source, {});
    INFO((byEpoch ? std::string() : byEpoch.message()));
    REQUIRE(byEpoch);
    REQUIRE(bySteps);
    auto epoch = (*byEpoch)->trainEpoch(*d, 0);
    REQUIRE(epoch);
    double lossSum = 0;
    for (size_t b = 0; b < 4; ++b) {
      std::span<const float> x(d->features.data() + b * 16, 16);
      std::span<const int32_t> y;
      std::span<const float> t;
      if (d->labelKind == LabelKind::Class)
        y = std::span<const int32_t>(d->classLabels.data() + b * 4, 4);
      else
        t = std::span<const float>(d->targets.data() + b * 8, 8);
      auto r = (*bySteps)->step(x, y, t, 4);
      INFO((r ? std::string() : r.message()));
      REQUIRE(r);
      lossSum += r->loss;
    }
    CHECK(lossSum / 4 == epoch->loss);
    for (const std::string &param : (*byEpoch)->parameterNames()) {
      auto a = (*byEpoch)->tensor(param), b = (*bySteps)->tensor(param);
      REQUIRE(a);
      REQUIRE(b);
      CHECK(a->bytes == b->bytes);
    }
  }
}

TEST_CASE("checkpoints that do not fit are Errors and leave the state intact", "[e2e][trainer]") {
  TempDir dir("ckpt-errors");
  auto t = small();
  Dataset data = syntheticData(12);
  REQUIRE(t->trainEpoch(data, 0));
  std::string good = dir.file("good.safetensors");
  REQUIRE(t->save(good));
  auto reference = allState(*t, good);
  REQUIRE(reference.size() >= 10); // 4 parameters, 4 velocities, step, rng counter

  // One fresh trainer for all the rejections (compiling is the slow part): a failed load must
  // leave it exactly as it was.
  auto fresh = small();
  const std::vector<uint8_t> initialWeights = fresh->tensor("h.weight")->bytes;
  auto expectRejected = [&](const std::string &path, const std::string &needle) {
    auto r = fresh->load(path);
    INFO(path << (r ? std::string(" loaded") : ": " + r.message()));
    REQUIRE_FALSE(r);
    CHECK(r.message().find(needle) != std::string::npos);
    CHECK(fresh->stepCount() == 0);
    CHECK(fresh->tensor("h.weight")->bytes == initialWeights);
  };

  SECTION("another model's checkpoint") {
    auto iris = Trainer::fromFile(examplePath("iris.nn"), {});
    REQUIRE(iris);
    std::string other = dir.file("iris.safetensors");
    REQUIRE((*iris)->save(other));
    expectRejected(other, "iris");
  }
  SECTION("the same model with a different shape") {
    std::string text = kSmallModel;
    text.replace(text.find("8, act"), 1, "9");
    auto wider = Trainer::fromSource("small.nn", text, {});
    REQUIRE(wider);
    std::string other = dir.file("wider.safetensors");
    REQUIRE((*wider)->save(other));
    expectRejected(other, "h.weight");
  }
  SECTION("a missing tensor") {
    auto ckpt = readSafetensors(good);
    REQUIRE(ckpt);
    REQUIRE(ckpt->tensors.erase("logits.bias.velocity") == 1);
    std::string partial = dir.file("partial.safetensors");
    REQUIRE(writeSafetensors(partial, *ckpt));
    expectRejected(partial, "logits.bias.velocity");
  }
  SECTION("a missing file") { expectRejected(dir.file("nothing.safetensors"), "nothing.safetensors"); }
  SECTION("every truncation") {
    std::string bytes = bytesOf(good);
    std::string cut = dir.file("cut.safetensors");
    for (size_t len = 0; len < bytes.size(); len += (len < 64 ? 1 : 37)) {
      writeBytes(cut, bytes.substr(0, len));
      expectRejected(cut, "cut.safetensors");
    }
  }
  SECTION("corrupt headers") {
    std::string bytes = bytesOf(good);
    std::string bad = dir.file("bad.safetensors");
    uint64_t headerLen = 0;
    std::memcpy(&headerLen, bytes.data(), 8);
    REQUIRE(headerLen + 8 < bytes.size());
    // A header length beyond the file, and a garbled JSON header.
    std::string huge = bytes;
    uint64_t big = uint64_t(1) << 40;
    std::memcpy(huge.data(), &big, 8);
    writeBytes(bad, huge);
    expectRejected(bad, "bad.safetensors");
    std::string garbled = bytes;
    garbled[8] = '[';
    garbled[9 + headerLen / 2] = '\x01';
    writeBytes(bad, garbled);
    expectRejected(bad, "bad.safetensors");
    // Every byte of the header overwritten in turn: an Error or a load, never a crash; the
    // loads that succeed must be of a model-conforming checkpoint.
    for (size_t i = 0; i < 8 + headerLen; i += 3) {
      std::string flipped = bytes;
      flipped[i] = char(flipped[i] ^ 0x5a);
      writeBytes(bad, flipped);
      const std::vector<uint8_t> before = fresh->tensor("h.weight")->bytes;
      auto r = fresh->load(bad);
      if (r) // a flip inside a name or a number that still makes a fitting checkpoint
        CHECK(fresh->tensor("h.weight")->bytes.size() == reference.at("h.weight").bytes.size());
      else
        CHECK(fresh->tensor("h.weight")->bytes == before);
    }
  }
}

TEST_CASE("save and load restore every state tensor and continue training exactly", "[e2e][trainer]") {
  TempDir dir("roundtrip");
  Dataset data = syntheticData(10); // 3 steps per epoch, the last one partial

  auto straight = small();
  REQUIRE(straight->trainEpoch(data, 0));
  REQUIRE(straight->trainEpoch(data, 1));

  auto first = small();
  REQUIRE(first->trainEpoch(data, 0));
  std::string ckpt = dir.file("epoch1.safetensors");
  REQUIRE(first->save(ckpt));
  auto saved = allState(*first, ckpt);

  auto resumed = small();
  auto epochs = resumed->load(ckpt);
  REQUIRE(epochs);
  CHECK(epochs->at("epoch") == "1");
  CHECK(epochs->at("epoch_step") == "0");
  CHECK(resumed->position().epoch == 1);
  // Every state tensor of the checkpoint is restored, bitwise, including step and rng counter.
  for (const auto &[name, value] : saved) {
    INFO(name);
    CHECK(resumed->tensor(name)->bytes == value.bytes);
  }
  CHECK(resumed->stepCount() == 3);
  REQUIRE(resumed->trainEpoch(data, 1));

  auto file = readSafetensors(ckpt);
  REQUIRE(file);
  for (const auto &[name, _] : file->tensors) {
    INFO(name);
    CHECK(resumed->tensor(name)->bytes == straight->tensor(name)->bytes);
  }
  CHECK(resumed->stepCount() == 6);
  // And the run really moved: the parameters differ from the first epoch's.
  CHECK(resumed->tensor("h.weight")->bytes != saved.at("h.weight").bytes);
}

TEST_CASE("the same seed gives bitwise identical checkpoints, another seed different ones", "[e2e][trainer]") {
  TempDir dir("repro");
  Dataset data = irisData();
  std::vector<size_t> first48(48);
  for (size_t i = 0; i < 48; ++i)
    first48[i] = i * 3; // all three classes, a multiple of the batch
  Dataset some = data.select(first48);
  // The small model has dropout, so the seed drives initialization, shuffling and the masks.
  auto run = [&](uint64_t seed, const std::string &name) {
    CompileSettings o;
    o.train.seed = seed;
    auto t = small(o);
    for (uint64_t e = 0; e < 2; ++e)
      REQUIRE(t->trainEpoch(some, e));
    std::string path = dir.file(name);
    REQUIRE(t->save(path));
    return bytesOf(path);
  };
  std::string a = run(7, "a.safetensors"), b = run(7, "b.safetensors"), c = run(8, "c.safetensors");
  REQUIRE(a.size() > 500);
  CHECK(a == b);
  CHECK(a != c);
  // The Iris example through its own train block (Adam), over all 150 rows (a partial batch).
  auto iris = [&](const std::string &name) {
    auto t = Trainer::fromFile(examplePath("iris.nn"), {});
    REQUIRE(t);
    REQUIRE((*t)->trainEpoch(data, 0));
    REQUIRE((*t)->trainEpoch(data, 1));
    REQUIRE((*t)->save(dir.file(name)));
    return bytesOf(dir.file(name));
  };
  CHECK(iris("i1.safetensors") == iris("i2.safetensors"));
}

TEST_CASE("a learning-rate schedule is compiled once for any data-set size", "[e2e][trainer]") {
  // Steps per epoch is a run-time value of the step (the state schedule.steps_per_epoch): data
  // sets of other sizes train with the step compiled first.
  std::string text = kSmallModel;
  text.replace(text.find("  batch 4"), 0, "  schedule step(every = 1, gamma = 0.5)\n");
  auto t = Trainer::fromSource("small.nn", text, {});
  REQUIRE(t);
  Trainer &trainer = **t;
  REQUIRE(trainer.compileSplit().compiles == 1);
  auto stepsPerEpochState = [&] {
    auto s = trainer.tensor(kStepsPerEpoch);
    REQUIRE(s);
    return s->values<int32_t>().at(0);
  };
  CHECK(stepsPerEpochState() == 1);
  REQUIRE(trainer.trainEpoch(syntheticData(8), 0)); // 2 full steps
  CHECK(stepsPerEpochState() == 2);
  REQUIRE(trainer.trainEpoch(syntheticData(16), 1)); // 4 full steps
  CHECK(stepsPerEpochState() == 4);
  CHECK(trainer.compileSplit().compiles == 1);
  CHECK(trainer.stepCount() == 6);

  // The run-time value is the one the step counts with: the run above is bitwise the run of a
  // Trainer compiled knowing the epoch length (the initial value of the state), ...
  auto twin = [&](int64_t stepsPerEpoch) {
    CompileSettings settings;
    settings.stepsPerEpoch = stepsPerEpoch;
    auto u = Trainer::fromSource("small.nn", text, settings);
    REQUIRE(u);
    return std::move(*u);
  };
  auto a = twin(1), b = twin(4);
  REQUIRE(a->setStepsPerEpoch(4));
  Dataset data = syntheticData(16);
  REQUIRE(a->trainEpoch(data, 0));
  REQUIRE(b->trainEpoch(data, 0));
  REQUIRE(a->trainEpoch(data, 1));
  REQUIRE(b->trainEpoch(data, 1));
  CHECK(a->tensor("logits.weight")->bytes == b->tensor("logits.weight")->bytes);
  // ... and another value trains differently: the same steps counted as 4 epochs of 1 step
  // halve the rate three times within the first epoch.
  auto c = twin(4), d = twin(4);
  REQUIRE(c->setStepsPerEpoch(1));
  CHECK(c->tensor(kStepsPerEpoch)->values<int32_t>().at(0) == 1);
  std::vector<size_t> first{0, 1, 2, 3};
  Dataset part = data.select(first);
  for (auto *u : {c.get(), d.get()})
    for (int s = 0; s < 4; ++s)
      REQUIRE(u->step(part.features, part.classLabels, {}, 4));
  CHECK(c->tensor("logits.weight")->bytes != d->tensor("logits.weight")->bytes);
}

TEST_CASE("the final partial minibatch is trained on", "[e2e][trainer]") {
  auto t = small();
  Dataset data = syntheticData(10);
  size_t calls = 0, lastExamples = 0;
  auto stats = t->trainEpoch(data, 0, [&](size_t done, size_t total, double, size_t examples) {
    ++calls;
    CHECK(done == calls);
    CHECK(total == 3);
    lastExamples = examples;
  });
  REQUIRE(stats);
  CHECK(calls == 3);
  CHECK(lastExamples == 10);
  CHECK(stats->examples == 10);
  CHECK(t->stepCount() == 3);
  // The accuracy is over the 10 examples: a multiple of 1/10.
  double k = stats->accuracy * 10;
  CHECK(std::fabs(k - std::round(k)) < 1e-9);

  // The partial step changes the parameters: a data set of exactly 2 examples (one step of a
  // batch-2 variant) moves them.
  auto t2 = small();
  auto before = t2->tensor("logits.weight");
  REQUIRE(t2->trainEpoch(syntheticData(2), 0));
  CHECK(t2->stepCount() == 1);
  CHECK(t2->tensor("logits.weight")->bytes != before->bytes);
}

TEST_CASE("the final partial minibatch compiles in the background, bitwise the same training", "[e2e][trainer]") {
  // 10 examples in batches of 4: the program for 2 rows compiles while the first two steps run
  // (and is then waited for); compiled on first use instead, training is bitwise the same.
  std::string text = kSmallModel;
  text.replace(text.find("  batch 4"), 0, "  schedule cosine\n");
  auto trained = [&](bool background) {
    auto t = Trainer::fromSource("small.nn", text, {});
    REQUIRE(t);
    (*t)->setBackgroundCompile(background);
    Dataset data = syntheticData(10);
    for (uint64_t epoch = 0; epoch < 2; ++epoch) {
      auto stats = (*t)->trainEpoch(data, epoch);
      REQUIRE(stats);
      CHECK(stats->examples == 10);
    }
    CHECK((*t)->stepCount() == 6);
    CHECK((*t)->compileSplit().compiles == 2); // B = 4 and the partial 2, each once
    return std::move(*t);
  };
  auto a = trained(true), b = trained(false);
  CHECK(a->compileSplit().backgroundMs > 0);
  CHECK(b->compileSplit().backgroundMs == 0);
  CHECK(b->compileSplit().waitMs == 0);
  for (const char *name : {"h.weight", "h.bias", "logits.weight", "logits.weight.velocity", "step",
                                  "rng.counter"}) {
    INFO(name);
    auto x = a->tensor(name), y = b->tensor(name);
    REQUIRE(x);
    REQUIRE(y);
    CHECK(x->bytes == y->bytes);
  }
  // Evaluating and predicting a data set with another partial minibatch (3 rows) compiles it
  // in the background as well, with the same results.
  Dataset other = syntheticData(11);
  auto ea = a->evaluate(other), eb = b->evaluate(other);
  REQUIRE(ea);
  REQUIRE(eb);
  CHECK(ea->loss == eb->loss);
  CHECK(a->compileSplit().compiles == 4); // and eval and predict for 4 and 3 rows
  std::vector<int64_t> sa, sb;
  auto pa = a->predict(syntheticData(13), sa), pb = b->predict(syntheticData(13), sb);
  REQUIRE(pa);
  REQUIRE(pb);
  CHECK(*pa == *pb);
  CHECK(sa == sb);
}

TEST_CASE("training does not compile eval and predict; they compile on first use or in the background",
          "[e2e][trainer]") {
  auto run = [](bool prefetch) {
    auto t = small();
    CHECK(t->compileSplit().compiles == 1); // the train step alone
    if (prefetch)
      t->prefetchEvaluation();
    Dataset data = syntheticData(8);
    REQUIRE(t->trainEpoch(data, 0));
    CHECK(t->compileSplit().compiles == 1);
    auto ev = t->evaluate(data);
    REQUIRE(ev);
    CHECK(t->compileSplit().compiles == 2); // eval and predict for 4 rows
    std::vector<int64_t> shape;
    auto probs = t->predict(data, shape);
    REQUIRE(probs);
    CHECK(t->compileSplit().compiles == 2);
    CHECK(t->predictOutput() == "probs");
    CHECK((t->compileSplit().backgroundMs > 0) == prefetch);
    return std::make_pair(ev->loss, *probs);
  };
  auto lazy = run(false), early = run(true);
  CHECK(lazy.first == early.first);
  CHECK(lazy.second == early.second);
}

TEST_CASE("evaluate counts every example once, and predict returns one row per example", "[e2e][trainer]") {
  auto t = small();
  Dataset data = syntheticData(11); // batches of 4, 4, 3
  REQUIRE(t->trainEpoch(data, 0));
  auto ev = t->evaluate(data);
  REQUIRE(ev);
  CHECK(ev->examples == 11);
  CHECK(ev->hasAccuracy);
  std::vector<int64_t> shape;
  auto probs = t->predict(data, shape);
  REQUIRE(probs);
  CHECK(shape == std::vector<int64_t>{11, 3});
  REQUIRE(probs->size() == 33);
  // The accuracy of evaluate is the argmax of predict against the labels, over all 11.
  size_t correct = 0;
  for (size_t i = 0; i < 11; ++i) {
    const float *row = probs->data() + 3 * i;
    CHECK(std::fabs(row[0] + row[1] + row[2] - 1.0f) < 1e-5);
    size_t best = size_t(std::max_element(row, row + 3) - row);
    correct += int32_t(best) == data.classLabels[i];
  }
  CHECK(ev->accuracy == Approx(double(correct) / 11).epsilon(1e-12));
  // The loss over all 11 is the mean of the per-example losses: evaluate one at a time.
  double sum = 0;
  for (size_t i = 0; i < 11; ++i) {
    std::vector<size_t> one{i};
    auto e1 = t->evaluate(data.select(one));
    REQUIRE(e1);
    CHECK(e1->examples == 1);
    sum += e1->loss;
  }
  CHECK(ev->loss == Approx(sum / 11).epsilon(1e-5));
  // Evaluation does not train.
  CHECK(t->stepCount() == 3);
}

TEST_CASE("a run stopped mid-epoch and resumed from its checkpoint is bitwise the uninterrupted run",
          "[e2e][trainer][resume]") {
  TempDir dir("midepoch");
  Dataset data = syntheticData(10); // 3 steps per epoch, the last one partial
  std::string text = kSmallModel;   // momentum, dropout, and a schedule that counts steps
  text.replace(text.find("  batch 4"), 0, "  schedule cosine\n");
  auto make = [&] {
    auto t = Trainer::fromSource("small.nn", text, {});
    REQUIRE(t);
    return std::move(*t);
  };
  auto straight = make();
  std::vector<double> straightLosses, losses;
  straight->setStepObserver([&](int64_t, int64_t, double l) { straightLosses.push_back(l); });
  auto s0 = straight->trainEpoch(data, 0);
  auto s1 = straight->trainEpoch(data, 1);
  REQUIRE(s0);
  REQUIRE(s1);
  std::string a = dir.file("straight.safetensors");
  REQUIRE(straight->save(a));

  for (int stopAfter : {1, 2, 3, 4, 5}) {
    INFO("stopped after step " << stopAfter);
    auto first = make();
    std::atomic<bool> stop{false};
    int taken = 0;
    losses.clear();
    first->setStepObserver([&](int64_t, int64_t, double l) {
      losses.push_back(l);
      if (++taken == stopAfter)
        stop = true;
    });
    std::vector<EvalStats> epochStats;
    while (first->position().epoch < 2 && !stop) {
      auto st = first->trainEpoch(data, {}, &stop);
      REQUIRE(st);
      if (st->complete)
        epochStats.push_back(*st);
    }
    std::string ckpt = dir.file("stopped.safetensors");
    REQUIRE(first->save(ckpt));
    auto resumed = make();
    REQUIRE(resumed->load(ckpt));
    CHECK(resumed->position().stepInEpoch == first->position().stepInEpoch);
    resumed->setStepObserver([&](int64_t, int64_t, double l) { losses.push_back(l); });
    while (resumed->position().epoch < 2) {
      auto st = resumed->trainEpoch(data);
      REQUIRE(st);
      REQUIRE(st->complete);
      epochStats.push_back(*st);
    }
    std::string b = dir.file("resumed.safetensors");
    REQUIRE(resumed->save(b));
    CHECK(bytesOf(a) == bytesOf(b));
    CHECK(losses == straightLosses); // bitwise: every step's loss
    REQUIRE(epochStats.size() == 2);
    CHECK(epochStats[0].loss == s0->loss); // the epoch's mean includes the steps before the stop
    CHECK(epochStats[1].loss == s1->loss);
    CHECK(epochStats[1].accuracy == s1->accuracy);
  }
}

TEST_CASE("loadParameters starts a new run: the weights only, the optimizer state fresh", "[e2e][trainer][resume]") {
  TempDir dir("initfrom");
  auto t = small();
  REQUIRE(t->trainEpoch(syntheticData(12), 0));
  std::string ckpt = dir.file("trained.safetensors");
  REQUIRE(t->save(ckpt));
  // Another optimizer: its slots are not in the checkpoint, which load() rejects.
  std::string text = kSmallModel;
  text.replace(text.find("momentum(lr = 0.1, momentum = 0.9)"), 34, "adam(lr = 0.01)");
  auto other = Trainer::fromSource("small.nn", text, {});
  REQUIRE(other);
  auto full = (*other)->load(ckpt);
  REQUIRE_FALSE(full);
  CHECK(full.message().find(".m") != std::string::npos); // names the missing Adam slot
  REQUIRE((*other)->loadParameters(ckpt));
  CHECK((*other)->tensor("h.weight")->bytes == t->tensor("h.weight")->bytes);
  CHECK((*other)->stepCount() == 0);
  CHECK((*other)->position().epoch == 0);
}

TEST_CASE("a non-finite loss stops training at the first op that produced it, state before the step",
          "[e2e][trainer][nonfinite]") {
  // log(x - 2.5) is NaN for a feature below 2.5.
  const char *model = R"(model nan {
  input  x : f32[B, 4]
  target y : i32[B]
  param W : f32[4, 3] = glorot_uniform
  z = log(x - 2.5)
  loss mean(softmax_cross_entropy(z @ W, y))
}
train {
  optimizer adam(lr = 0.01)
  batch 2
  shuffle false
}
)";
  Dataset data = syntheticData(64);
  for (size_t i = 0; i < 64 * 4; ++i) // all above 2.5 but row 41's first feature (step 21)
    data.features[i] = i == 41 * 4 ? 1.0f : 3.0f + float(i % 7) * 0.25f;
  auto t = Trainer::fromSource("nan.nn", model, {});
  REQUIRE(t);
  auto r = (*t)->trainEpoch(data, 0);
  REQUIRE_FALSE(r);
  INFO(r.message());
  CHECK(r.message().find("nan.nn:5:7: error: 'log' produced NaN at step 21 (epoch 1)") != std::string::npos);
  CHECK((*t)->stepCount() == 20); // the state before the bad step
  CHECK((*t)->position().stepInEpoch == 20);
  CHECK((*t)->stateIsFinite());
  // Skipping instead: the bad minibatch is left out and the epoch goes on.
  auto s = Trainer::fromSource("nan.nn", model, {});
  REQUIRE(s);
  (*s)->setNonFinitePolicy(NonFinitePolicy::Skip);
  auto stats = (*s)->trainEpoch(data, 0);
  REQUIRE(stats);
  CHECK((*s)->skippedSteps() == 1);
  CHECK((*s)->stepCount() == 31);
  CHECK(stats->examples == 62);
  CHECK(std::isfinite(stats->loss));
}

TEST_CASE("a state with a NaN or infinity is never saved", "[e2e][trainer][nonfinite]") {
  TempDir dir("nonfinite-save");
  auto t = small();
  REQUIRE(t->trainEpoch(syntheticData(8), 0));
  std::string path = dir.file("good.safetensors");
  REQUIRE(t->save(path));
  const std::string good = bytesOf(path);
  auto w = t->tensor("h.weight");
  REQUIRE(w);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    HostTensor broken = *w;
    std::memcpy(broken.bytes.data() + 4, &bad, 4);
    REQUIRE(t->setTensor("h.weight", broken));
    CHECK_FALSE(t->stateIsFinite());
    auto saved = t->save(path);
    REQUIRE_FALSE(saved);
    CHECK(saved.message().find("non-finite") != std::string::npos);
    CHECK(bytesOf(path) == good); // the good checkpoint is left as it was
  }
}
