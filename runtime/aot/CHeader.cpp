//===- CHeader.cpp - The C header of an ahead-of-time object --------------------------------===//
//
// The header is the object's contract (docs/AOT.md): the state block as a struct whose layout
// is checked at compile time against the offsets the object was built with, a table of every
// buffer, the constants a program needs (batch sizes, arena bytes, seed, epochs), the raw entry
// points and one typed inline wrapper per function that picks the entry point for the number of
// rows. Shared declarations (nnc_dtype, nnc_buffer, the parallel-for types, the shuffle) are
// guarded, so the headers of several models can be included together.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/aot/AotCompile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace nnc {
namespace {

const char *cType(DType d) {
  switch (d) {
  case DType::F32: return "float";
  case DType::F64: return "double";
  case DType::I32: return "int32_t";
  case DType::I1: return "uint8_t";
  }
  return "float";
}

const char *dtypeConstant(DType d) {
  switch (d) {
  case DType::F32: return "NNC_F32";
  case DType::F64: return "NNC_F64";
  case DType::I32: return "NNC_I32";
  case DType::I1: return "NNC_BOOL";
  }
  return "NNC_F32";
}

std::string upper(const std::string &s) {
  std::string out;
  for (char c : s)
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

/// `s` as a C identifier that is not in `taken` (then added to it).
std::string identifier(const std::string &s, std::set<std::string> &taken) {
  std::string id;
  for (char c : s)
    id.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0])) || !isCIdentifier(id))
    id = "_" + id;
  std::string unique = id;
  for (int i = 2; taken.count(unique); ++i)
    unique = fmt::format("{}_{}", id, i);
  taken.insert(unique);
  return unique;
}

std::string shapeList(const std::vector<int64_t> &shape) {
  if (shape.empty())
    return "{0}";
  return fmt::format("{{{}}}", fmt::join(shape, ", "));
}

/// One input, target or output buffer of the functions (at batch B).
struct IoBuffer {
  std::string name;
  const char *role;
  TensorType type;
};

const char *kCommon = R"(#ifndef NNC_AOT_COMMON_H
#define NNC_AOT_COMMON_H
/* Declarations shared by the headers of all nnc ahead-of-time objects (docs/AOT.md). */
#define NNC_AOT_ABI_VERSION 1
#define NNC_MAX_RANK 8
#ifdef __cplusplus
#define NNC_ALIGN64 alignas(64)
#define NNC_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define NNC_ALIGN64 _Alignas(64)
#define NNC_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Element types: NNC_F32 float, NNC_F64 double, NNC_I32 int32_t, NNC_BOOL one byte (0 or 1). */
typedef enum nnc_dtype { NNC_F32 = 0, NNC_F64 = 1, NNC_I32 = 2, NNC_BOOL = 3 } nnc_dtype;
/* What a buffer holds: a trained parameter, other state (optimizer slots, counters, running
   statistics), or a function's input, target or output. */
typedef enum nnc_role { NNC_PARAMETER = 0, NNC_STATE = 1, NNC_INPUT = 2, NNC_TARGET = 3, NNC_OUTPUT = 4 } nnc_role;

/* One buffer. Inputs, targets and outputs are described at the batch size B (their first
   dimension, when they have one per example); `offset` is the state buffer's place in the
   state struct (0 for the others). */
typedef struct nnc_buffer {
  const char *name;
  nnc_role role;
  nnc_dtype dtype;
  int32_t rank;
  int64_t shape[NNC_MAX_RANK];
  int64_t elements;
  size_t bytes;
  size_t offset;
} nnc_buffer;

/* The parallel-for a program may install (PREFIX_set_parallel_for): run body(ctx, i) for every
   i in [0, n), in any order and on any threads, and return when all have finished. Each i
   writes its own rows, so the results do not depend on the order or on the threads. */
typedef void (*nnc_parallel_body)(void *ctx, int64_t i);
typedef void (*nnc_parallel_for_fn)(void *user, int64_t n, nnc_parallel_body body, void *ctx);

/* The order nnc train visits n examples in epoch `epoch` (0, 1, ...): splitmix64 and
   Fisher-Yates, as runtime/data/Batching.cpp defines it. */
static inline uint64_t nnc_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static inline void nnc_shuffled_order(uint64_t seed, uint64_t epoch, int64_t n, int64_t *order) {
  uint64_t e = epoch, s;
  int64_t i;
  for (i = 0; i < n; ++i)
    order[i] = i;
  s = seed ^ nnc_splitmix64(&e);
  s = nnc_splitmix64(&s);
  for (i = n; i > 1; --i) {
    uint64_t bound = (uint64_t)i, reject = (0 - bound) % bound, r;
    int64_t t;
    do
      r = nnc_splitmix64(&s);
    while (r < reject);
    t = order[i - 1];
    order[i - 1] = order[r % bound];
    order[r % bound] = t;
  }
}
#endif /* NNC_AOT_COMMON_H */

)";

} // namespace

std::string aotHeader(const AotArtifact &a) {
  const std::string P = a.prefix, U = upper(a.prefix);
  const Module &main = *a.batches.front().graphs;
  std::string h;
  auto out = [&h]<typename... T>(fmt::format_string<T...> f, T &&...args) {
    h += fmt::format(f, std::forward<T>(args)...);
  };

  out("/* {}.h: the C interface of the nnc model '{}' (from {}), compiled ahead of time.\n", P, a.modelName,
      a.sourceName);
  out("   Generated by nnc {}; the calling convention is described in nnc's docs/AOT.md.\n\n", NNC_VERSION);
  out("   Use: allocate a {}_state and an arena of {}_ARENA_BYTES bytes (64-byte aligned, zeroed),\n", P, U);
  out("   call {}_init_state, then {}_train_step / {}_eval / {}_predict once per minibatch of `rows`\n", P, P, P, P);
  out("   examples ({}_BATCH, or {}_TAIL_BATCH for the final partial one when it is not 0).\n", U, U);
  out("   Threads: the functions run serially on the calling thread unless the program installs a\n");
  out("   parallel-for with {}_set_parallel_for; results are bitwise the same either way, and\n", P);
  out("   bitwise those of nnc's JIT compiled for the same machine. Calls that run at the same time\n");
  out("   need their own arena and must not share a state block that one of them updates. */\n");
  out("#ifndef {}_NNC_H\n#define {}_NNC_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", U, U);
  out("#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n");
  h += kCommon;

  out("/* The compiled batch sizes; the examples, steps per epoch and epochs init_state gives a\n");
  out("   learning-rate schedule (the state's schedule_steps_per_epoch and schedule_epochs, which\n");
  out("   the caller may set for another data-set size or run length). */\n");
  out("#define {}_BATCH {}\n", U, a.batch);
  out("#define {}_TAIL_BATCH {} /* the final partial batch of {}_EXAMPLES; 0: none compiled */\n", U,
      a.tailBatch, U);
  out("#define {}_EXAMPLES {} /* 0: not given at compile time (--examples) */\n", U, a.examples);
  out("#define {}_STEPS_PER_EPOCH {}\n", U, a.stepsPerEpoch);
  out("#define {}_EPOCHS {}\n", U, a.epochs);
  out("#define {}_SEED {}ULL /* of the initial state and the shuffle */\n", U, a.seed);
  out("#define {}_SHUFFLE {} /* 1: each epoch visits the examples in nnc_shuffled_order({}_SEED, epoch, ...) */\n",
      U, a.shuffle ? 1 : 0, U);
  out("#define {}_THREADS {} /* blocks the large kernels are split into for a parallel-for */\n", U, a.threads);
  out("/* Scratch bytes any one call needs, GEMM packing scratch included: a multiple of 64. */\n");
  out("#define {}_ARENA_BYTES {}\n\n", U, (std::max<int64_t>(a.code.arenaBytes, 64) + 63) / 64 * 64);

  // The state block.
  out("/* The state: parameters, optimizer slots, counters; updated in place by train_step. */\n");
  out("typedef struct {}_state {{\n", P);
  for (const AotStateBuffer &s : a.state)
    out("  NNC_ALIGN64 {} {}[{}]; /* {} {}{}{} */\n", cType(s.type.dtype), s.field,
        std::max<int64_t>(1, s.type.numElements()), s.name, s.type.str(), s.trainable ? " parameter" : "",
        s.init.empty() ? "" : ", init " + s.init);
  if (a.state.empty())
    out("  NNC_ALIGN64 uint8_t unused_[64];\n");
  out("}} {}_state;\n", P);
  for (const AotStateBuffer &s : a.state)
    out("NNC_STATIC_ASSERT(offsetof({}_state, {}) == {}, \"{}: state layout\");\n", P, s.field, s.offset, P);
  out("NNC_STATIC_ASSERT(sizeof({}_state) == {}, \"{}: state size\");\n\n", P, std::max<int64_t>(a.stateBytes, 64), P);

  // Inputs, targets and outputs, in the order the functions take and return them.
  std::vector<IoBuffer> io;
  std::set<std::string> seen;
  for (const Function &fn : main.functions()) {
    for (const Argument &arg : fn.arguments())
      if (arg.role != ArgRole::State && seen.insert("a:" + arg.name).second)
        io.push_back({arg.name, arg.role == ArgRole::Input ? "NNC_INPUT" : "NNC_TARGET", arg.type});
    for (const FunctionResult &r : fn.results())
      if (seen.insert("r:" + r.name).second)
        io.push_back({r.name, "NNC_OUTPUT", fn.type(r.value)});
  }
  std::set<std::string> macros;
  out("/* Elements per example of the inputs, targets and outputs with a batch dimension. */\n");
  for (const IoBuffer &b : io) {
    std::string m = fmt::format("{}_{}_PER_EXAMPLE", U, upper(identifier(b.name, macros)));
    if (!b.type.shape.empty() && b.type.shape[0] == a.batch)
      out("#define {} {}\n", m, b.type.numElements() / a.batch);
  }
  out("\n/* Every buffer: the state (in struct order), then the inputs, targets and outputs. */\n");
  out("#define {}_NUM_BUFFERS {}\n", U, a.state.size() + io.size());
  out("static const nnc_buffer {}_buffers[{}_NUM_BUFFERS] = {{\n", P, U);
  for (const AotStateBuffer &s : a.state)
    out("  {{\"{}\", {}, {}, {}, {}, {}, {}, offsetof({}_state, {})}},\n", s.name,
        s.trainable ? "NNC_PARAMETER" : "NNC_STATE", dtypeConstant(s.type.dtype), s.type.shape.size(),
        shapeList(s.type.shape), s.type.numElements(), s.bytes, P, s.field);
  for (const IoBuffer &b : io)
    out("  {{\"{}\", {}, {}, {}, {}, {}, {}, 0}},\n", b.name, b.role, dtypeConstant(b.type.dtype),
        b.type.shape.size(), shapeList(b.type.shape), b.type.numElements(),
        b.type.numElements() * storageBytes(b.type.dtype));
  out("}};\n\n");

  // Entry points.
  out("/* Copies the initial state (seed {}_SEED, as nnc train initializes it) into *state. */\n", U);
  out("void {}_init_state({}_state *state);\n", P, P);
  out("/* Installs the parallel-for the functions split their large kernels over (NULL: serial,\n"
      "   the default); set it before calls, not during them. */\n");
  out("void {}_set_parallel_for(nnc_parallel_for_fn fn, void *user);\n\n", P);
  out("/* The raw entry points, one per function and batch size: buffers[i] is argument i, then\n"
      "   one per result, in the order of the wrappers below. */\n");
  for (const AotEntry &e : a.code.entries)
    out("void {}(void **buffers, void *arena);\n", e.abi.symbol);
  out("\n");

  // One typed wrapper per function.
  for (const Function &fn : main.functions()) {
    std::set<std::string> names = {"state", "rows", "arena", "buffers"};
    std::map<std::string, std::string> param; // argument or result name -> C parameter
    std::string sig = fmt::format("{}_state *state, int64_t rows", P);
    std::string doc;
    for (const Argument &arg : fn.arguments())
      if (arg.role != ArgRole::State) {
        param["a:" + arg.name] = identifier(arg.name, names);
        sig += fmt::format(", const {} *{}", cType(arg.type.dtype), param["a:" + arg.name]);
        doc += fmt::format("\n   {} {}: {}", arg.role == ArgRole::Input ? "input" : "target", arg.name, arg.type.str());
      }
    for (const FunctionResult &r : fn.results()) {
      param["r:" + r.name] = identifier(r.name, names);
      sig += fmt::format(", {} *{}", cType(fn.type(r.value).dtype), param["r:" + r.name]);
      doc += fmt::format("\n   output {}: {}", r.name, fn.type(r.value).str());
    }
    out("/* {}, on `rows` examples; shapes at {}_BATCH rows (the first dimension is `rows`):{}\n"
        "   Returns 0, or -1 when no entry point was compiled for `rows`. */\n",
        fn.name(), U, doc);
    out("static inline int {}_{}({}, void *arena) {{\n", P, fn.name(), sig);
    for (const AotBatch &batch : a.batches) {
      const Function *f = batch.graphs->findFunction(fn.name());
      if (!f)
        continue;
      std::vector<std::string> ptrs;
      for (const Argument &arg : f->arguments()) {
        if (arg.role == ArgRole::State) {
          auto it = std::find_if(a.state.begin(), a.state.end(), [&](const AotStateBuffer &s) { return s.name == arg.name; });
          ptrs.push_back(fmt::format("(void *)state->{}", it->field));
        } else {
          ptrs.push_back(fmt::format("(void *){}", param["a:" + arg.name]));
        }
      }
      for (const FunctionResult &r : f->results())
        ptrs.push_back(fmt::format("(void *){}", param["r:" + r.name]));
      out("  if (rows == {}) {{\n    void *buffers[] = {{{}}};\n    {}(buffers, arena);\n    return 0;\n  }}\n",
          batch.batch, fmt::join(ptrs, ", "), aotSymbol(P, fn.name(), batch.batch));
    }
    out("  (void)state;\n  (void)arena;\n  return -1;\n}}\n\n");
  }
  out("#ifdef __cplusplus\n}} /* extern \"C\" */\n#endif\n#endif /* {}_NNC_H */\n", U);
  return h;
}

} // namespace nnc
