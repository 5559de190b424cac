//===- AotOutput.cpp - `nnc model.nn -o model.o --header model.h`: ahead-of-time output -----===//
//
// The compile command's output files, in the style of clang: `-o FILE` writes an object (.o),
// a C header (.h), or with --emit=llvm|asm the object's LLVM IR or assembly; `--header FILE`
// writes the header beside another output. The target is the host unless --target-cpu or
// --target says otherwise. Every file is written atomically, after everything compiled.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/aot/AotCompile.h"
#include "support/AtomicFile.h"
#include "tools/nnc/Driver.h"

#include <fmt/format.h>

#include <filesystem>

#include <unistd.h>

namespace nnc::driver {

void addAotFlags(CLI::App &app, AotFlags &flags) {
  app.add_option("-o", flags.output,
                 "write a relocatable object (FILE.o) with train_step, eval and predict, or its C "
                 "header (FILE.h); with --emit=llvm or asm, that text of the object");
  app.add_option("--header", flags.header, "also write the object's C header to this file");
  app.add_option("--target-cpu", flags.jit.cpu,
                 "the CPU the object runs on: host (default), x86-64, x86-64-v3, x86-64-v4, or a named "
                 "CPU such as znver4");
  app.add_option("--target", flags.jit.triple, "the target triple of the object (default: the host's)");
  app.add_option("--prefix", flags.prefix, "the prefix of the object's symbols (default: the model's name)");
  app.add_option("--examples", flags.examples,
                 "training examples per epoch: also compile the final partial batch, and start "
                 "learning-rate schedules at their steps per epoch")
      ->check(CLI::PositiveNumber);
}

namespace {

enum class Output { Object, Header, Text };

/// Which file `path` is, from its extension and --emit; nullopt (and a printed error) when
/// neither tells.
std::optional<Output> outputKind(const std::string &path, const std::string &emit) {
  if (emit == "llvm" || emit == "asm")
    return Output::Text;
  if (!emit.empty()) {
    fmt::print(stderr, "nnc: error: --emit={} has no object form; -o writes an object (.o), a C header "
                       "(.h), or with --emit=llvm or asm the object's code as text\n", emit);
    return std::nullopt;
  }
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".o" || ext == ".obj")
    return Output::Object;
  if (ext == ".h" || ext == ".hpp")
    return Output::Header;
  fmt::print(stderr, "nnc: error: cannot tell what to write to '{}': -o takes an object (.o) or a C header "
                     "(.h), or --emit=llvm or asm\n", path);
  return std::nullopt;
}

/// True when `path` can be written: its directory exists and is writable (else prints why).
bool canWrite(const std::string &path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty())
    dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    fmt::print(stderr, "nnc: error: cannot write '{}': the directory '{}' does not exist\n", path, dir.string());
    return false;
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    fmt::print(stderr, "nnc: error: cannot write '{}': the directory '{}' is not writable\n", path, dir.string());
    return false;
  }
  return true;
}

} // namespace

int checkAotFlags(const AotFlags &flags, const std::string &emit, bool irText) {
  if (flags.output.empty() && flags.header.empty()) {
    if (!flags.jit.cpu.empty() || !flags.jit.triple.empty() || !flags.prefix.empty() || flags.examples > 0) {
      fmt::print(stderr, "nnc: error: --target-cpu, --target, --prefix and --examples apply to an object: "
                         "give -o FILE.o or --header FILE.h\n");
      return kUsageError;
    }
    return kOk;
  }
  if (irText) {
    fmt::print(stderr, "nnc: error: -o and --header need a .nn model, not textual IR\n");
    return kUsageError;
  }
  if (!flags.output.empty() && (!outputKind(flags.output, emit) || !canWrite(flags.output)))
    return kUsageError;
  if (!flags.header.empty() && !canWrite(flags.header))
    return kUsageError;
  return kOk;
}

int writeAot(const Compilation &c, const AotFlags &flags, const std::string &emit) {
  auto target = aotTarget(flags.jit);
  if (!target) {
    fmt::print(stderr, "nnc: error: {}\n", target.message());
    return kUsageError;
  }
  AotSettings settings;
  settings.prefix = flags.prefix;
  settings.examples = flags.examples;
  if (!settings.prefix.empty() && !isCIdentifier(settings.prefix)) {
    fmt::print(stderr, "nnc: error: --prefix '{}' is not a C identifier\n", settings.prefix);
    return kUsageError;
  }
  auto artifact = compileAot(c, settings, std::move(*target));
  if (!artifact)
    return reportError(artifact.error());
  AotArtifact &a = **artifact;
  // Everything is produced before anything is written.
  std::vector<std::pair<std::string, std::string>> files;
  if (!flags.output.empty()) {
    Output kind = *outputKind(flags.output, emit);
    Result<std::string> bytes = kind == Output::Object ? aotObject(a)
                                : kind == Output::Header ? Result<std::string>(aotHeader(a))
                                                         : aotText(a, emit == "asm");
    if (!bytes)
      return reportError(bytes.error());
    files.emplace_back(flags.output, std::move(*bytes));
    if (kind != Output::Header)
      if (std::string warning = aotPortabilityWarning(a); !warning.empty())
        fmt::print(stderr, "nnc: warning: {}\n", warning);
  }
  if (!flags.header.empty())
    files.emplace_back(flags.header, aotHeader(a));
  for (const auto &[path, bytes] : files)
    if (auto r = writeFileAtomically(path, bytes); !r)
      return reportError(r.error());
  return kOk;
}

} // namespace nnc::driver
