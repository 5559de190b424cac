#!/usr/bin/python3
"""Runs every benchmark, nnc and PyTorch/OpenBLAS interleaved, and writes bench/RESULTS.md and
bench/ratios.svg. Called by bench/run.sh after the build; see bench/README.md.

    /usr/bin/python3 bench/run_all.py --build build/bench [--rounds 4] [--quick]
    /usr/bin/python3 bench/run_all.py --from-json bench/results.json   # rewrite the report only

The machine may be shared: every figure is a median over repetitions pooled from --rounds
rounds, and in each round nnc and PyTorch run one after the other for each model (which one
goes first alternates between rounds). Each run is a fresh process (cold compile, own peak
resident memory). Besides wall time, the CPU time of the process is recorded, which is less
disturbed by other work on the machine.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import nnmodel  # noqa: E402

PY = "/usr/bin/python3"
# name, file, features per example, classes, label
MODELS = [
    ("iris_adam", 4, 3, "Iris 4-16-3, Adam"),
    ("mlp256_sgdm", 784, 10, "784-256-10, SGD-momentum"),
    ("mlp256_adam", 784, 10, "784-256-10, Adam"),
    ("mlp512_sgdm", 784, 10, "784-512-512-10, SGD-momentum"),
    ("mlp512_adam", 784, 10, "784-512-512-10, Adam"),
    ("wide1024_sgdm", 1024, 10, "1024-1024-1024-10, SGD-momentum"),
    ("cnn_sgdm", 784, 10, "CNN 3×3×8 conv, pool, dense, SGD-mom."),
    ("lenet_sgdm", 784, 10, "LeNet-5 (conv 5×5×6, 5×5×16, dense 120-84-10), SGD-mom."),
    ("vgg_sgdm", 3072, 10, "small VGG (conv 3×3 32,32,64,64 + batchnorm, dense 256-10), SGD-mom."),
]
# The large models, timed also with 2 threads (all cores), nnc and PyTorch, in rounds < TWO_THREAD_ROUNDS.
TWO_THREAD_MODELS = ["mlp512_sgdm", "mlp512_adam", "wide1024_sgdm", "cnn_sgdm", "vgg_sgdm"]
TWO_THREAD_ROUNDS = 2
# The models of the ablation ("What each optimization buys"): nnc's step with every pass on, with
# each code generation pass off in turn, and with every graph pass off.
ABLATION_MODELS = ["mlp512_sgdm", "mlp512_adam", "mlp256_adam"]
ABLATION_ROUNDS = 3
ABLATION_REPS = 3


# Settings inherited from the caller's environment that would change what OpenBLAS (and so
# PyTorch and NumPy) does; removed for every run so that OpenBLAS picks its kernels itself.
SCRUBBED = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "GOTO_NUM_THREADS", "MKL_NUM_THREADS"]
INHERITED = {k: os.environ[k] for k in SCRUBBED if k in os.environ}


# The OpenBLAS kernels every PyTorch and NumPy run uses: None lets OpenBLAS choose; set by
# choose_blas_core when OpenBLAS does not recognize the CPU and a forced choice is faster.
BLAS_CORE = None
# Kernels to try when OpenBLAS's own choice is not one of GOOD_BLAS_CORES on an AVX-512 CPU.
BLAS_CORE_CANDIDATES = ["SkylakeX", "Cooperlake", "Haswell"]


def env_for(threads, **extra):
    """The environment of a benchmark process: the caller's without SCRUBBED, with the OpenMP
    and OpenBLAS thread counts set (and BLAS_CORE, when one was chosen)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if BLAS_CORE:
        env["OPENBLAS_CORETYPE"] = BLAS_CORE
    env.update(**extra)
    return env


def sgemm_rate(core):
    """Median GFLOP/s of NumPy's 1024^3 sgemm on one thread, with OPENBLAS_CORETYPE=core (None:
    OpenBLAS's own choice), and the kernels OpenBLAS reports it used."""
    code = """
import json, time, numpy as np
a = np.random.rand(1024, 1024).astype(np.float32); b = np.random.rand(1024, 1024).astype(np.float32)
a @ b
ts = []
for _ in range(5):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps(2 * 1024**3 / ts[2] / 1e9))
"""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OPENBLAS_VERBOSE="2")
    if core:
        env["OPENBLAS_CORETYPE"] = core
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return 0.0, "unknown"
    used = re.findall(r"Core: (\w+)", p.stderr)
    return json.loads(p.stdout), used[-1] if used else "unknown"


def choose_blas_core(info):
    """When OpenBLAS picked weak kernels on an AVX-512 CPU (it did not recognize the CPU), time
    its sgemm with each of BLAS_CORE_CANDIDATES and use the fastest for every PyTorch and NumPy
    run, so that nnc is compared with OpenBLAS at its best on this machine. Records the trial."""
    global BLAS_CORE
    if not weak_blas(info):
        return
    own, _ = sgemm_rate(None)
    trials = {"(OpenBLAS's choice: " + info["openblas_core"] + ")": own}
    best, best_rate = None, own
    for core in BLAS_CORE_CANDIDATES:
        rate, used = sgemm_rate(core)
        if used.lower() != core.lower():
            continue  # this OpenBLAS does not have those kernels
        trials[core] = rate
        if rate > best_rate * 1.05:
            best, best_rate = core, rate
    BLAS_CORE = best
    info["blas_core_trials"] = trials
    info["blas_core_forced"] = best
    log(f"OpenBLAS chose {info['openblas_core']} ({own:.1f} GFLOP/s); forcing {best} ({best_rate:.1f} GFLOP/s)"
        if best else f"OpenBLAS chose {info['openblas_core']}; no forced choice was faster")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, env=None):
    """Runs cmd; returns (stdout, rusage of that child: its own peak RSS and CPU time, wall s)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
        if p.returncode != 0:
            raise SystemExit(f"run_all: {' '.join(cmd)} failed ({p.returncode}):\n{errors}{text}")
        return text, usage, wall


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def med(values):
    return statistics.median(values) if values else float("nan")


def machine_info():
    cpu = "unknown"
    flags = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and cpu == "unknown":
            cpu = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = line
    probe = subprocess.run([PY, "-c", """
import json, torch, numpy
cfg = torch.__config__.show()
blas = [kv.strip().split('Build settings: ')[-1] for kv in cfg.replace(',', '\\n').splitlines() if 'BLAS_INFO' in kv or 'LAPACK_INFO' in kv]
torch.set_num_threads(1)
a = torch.randn(256, 256); a @ a
libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l and '.so' in l})
par = [l.strip() for l in torch.__config__.parallel_info().splitlines() if 'get_num' in l or 'backend' in l]
print(json.dumps({'torch': torch.__version__, 'numpy': numpy.__version__, 'blas_info': blas,
                  'blas_loaded': libs, 'parallel': par, 'default_threads': torch.get_num_threads()}))
"""], capture_output=True, text=True, check=True, env=env_for(1, OPENBLAS_VERBOSE="2"))
    info = json.loads(probe.stdout)
    core = re.findall(r"Core: (\w+)", probe.stderr)
    info["openblas_core"] = core[-1] if core else "unknown"
    info["inherited"] = INHERITED
    info.update(cpu=cpu, cores=os.cpu_count(), avx512="avx512f" in flags,
                kernel=platform.release(), date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                load_start=os.getloadavg())
    return info


def bench_models(a, rounds):
    nnc_bench = os.path.join(a.build, "bench", "nnc_bench")
    res = {m[0]: {"nnc": [], "torch": [], "torch2": [], "nnc2": []} for m in MODELS}
    reps = str(a.reps)
    env1, env2 = env_for(1), env_for(2)
    # nnc's one-thread runs time the cold compile: without the object cache (which would hand
    # every run after the first the machine code of the one before). Its two-thread runs, like the
    # ablation's, may use a cache of this run's own.
    nnc_env1 = env_for(1, NNC_CACHE="off")
    nnc_env2 = env_for(2, NNC_CACHE_DIR=os.path.join(a.work, "nnc-cache"))
    for r in range(rounds):
        for name, features, classes, _ in MODELS:
            model = f"bench/models/{name}.nn"
            out = os.path.join(a.work, name)
            nnc_cmd = [nnc_bench, model, "--out", out, "--features", str(features), "--classes", str(classes),
                       "--reps", reps, "--threads", "1", "--raw"] + ([] if r == 0 else ["--no-write"])
            torch_cmd = [PY, "bench/torch_bench.py", model, "--dir", out, "--reps", reps,
                         "--nnc-json", os.path.join(out, "nnc.json")]
            order = ["nnc", "torch"] if r % 2 == 0 or r == 0 else ["torch", "nnc"]
            for who in order:
                if who == "nnc":
                    text, _, _ = run(nnc_cmd, nnc_env1)
                    j = json_lines(text)[-1]
                    if r == 0:
                        open(os.path.join(out, "nnc.json"), "w").write(json.dumps(j))
                    res[name]["nnc"].append(j)
                else:
                    text, _, _ = run(torch_cmd + ["--threads", "1"], env1)
                    res[name]["torch"].append(json_lines(text)[-1])
            two = ""
            if name in TWO_THREAD_MODELS and r < TWO_THREAD_ROUNDS:  # two rounds suffice on a 2-core machine
                nnc2_cmd = [c for c in nnc_cmd if c != "--raw"]
                nnc2_cmd[nnc2_cmd.index("--threads") + 1] = "2"
                if "--no-write" not in nnc2_cmd:
                    nnc2_cmd.append("--no-write")
                for who in order:
                    if who == "nnc":
                        text, _, _ = run(nnc2_cmd, nnc_env2)
                        res[name]["nnc2"].append(json_lines(text)[-1])
                    else:
                        text, _, _ = run(torch_cmd + ["--threads", "2"], env2)
                        res[name]["torch2"].append(json_lines(text)[-1])
                two = (f"; 2 threads: nnc {med(res[name]['nnc2'][-1]['step_s']) * 1e3:.3f} ms, "
                       f"PyTorch {med(res[name]['torch2'][-1]['step_s']) * 1e3:.3f} ms")
            n, t = res[name]["nnc"][-1], res[name]["torch"][-1]
            log(f"round {r + 1}/{rounds} {name}: nnc {med(n['step_s']) * 1e3:.3f} ms, "
                f"PyTorch {med(t['step_s']) * 1e3:.3f} ms, compile {n['compile_s'] * 1e3:.0f} ms{two}")
    return res


# --- Start-up: compile time, time to the first step, the Iris step ----------------------------
# The targets these figures are held against (milliseconds; the Iris step in microseconds).
STARTUP_TARGETS = {"model_compile_ms": 150, "cold_start_ms": 300, "warm_start_ms": 30, "iris_step_us": 1.0}
# Small models timed by nnc_bench with 1 and with 2 threads in each start-up round (the runtime
# must never make them slower with more threads): name, features, classes, label.
SMALL_THREAD_MODELS = [("iris_adam", 4, 3, "Iris 4-16-3, Adam, batch 16"),
                       ("deep128_sgdm", 784, 10, "784-128-128-128-128-10 ReLU, SGD-momentum, batch 32")]
STARTUP_MODEL = ("fashion_mlp", "examples/fashion_mlp.nn", 784, 10)
JIT_RE = re.compile(r"jit compile: ([\d.]+) ms in all; emit ([\d.]+) ms; model functions ([\d.]+) ms optimizing \+ "
                    r"([\d.]+) ms machine code.*?; GEMM routines (?:([\d.]+) ms optimizing \+ ([\d.]+) ms machine code|"
                    r"([\d.]+) ms from the object cache|prebuilt \(([^)]*)\))")


def bench_startup(a, rounds):
    """Cold compile of each bench model's functions (`nnc MODEL --stats`, object cache off), the
    time to the first finished step of STARTUP_MODEL with a fresh cache directory (cold start) and
    again with the cache it filled (warm start), each as `nnc_bench --startup` sees it inside the
    process and as the whole process's wall time, and the Iris step through Trainer::step."""
    nnc_bin = os.path.join(a.build, "tools", "nnc")
    nnc_bench = os.path.join(a.build, "bench", "nnc_bench")
    out = {"compile": {}, "cold": [], "warm": [], "iris": [], "small_threads": {}, "rounds": rounds,
           "load_start": os.getloadavg()[0]}
    for r in range(rounds):
        for name, *_ in MODELS:
            text = subprocess.run([nnc_bin, f"bench/models/{name}.nn", "--stats"], cwd=ROOT, capture_output=True,
                                  text=True, env=env_for(1, NNC_CACHE="off"), check=True).stderr
            m = JIT_RE.search(text)
            if not m:
                raise SystemExit(f"run_all: no compile split in `nnc {name}.nn --stats`:\n{text}")
            g = [float(x) if x else None for x in m.groups()[:7]]  # the 8th: a prebuilt level (0 ms)
            out["compile"].setdefault(name, []).append(
                {"total_ms": g[0], "emit_ms": g[1], "optimize_ms": g[2], "machine_code_ms": g[3],
                 "gemm_ms": g[6] if g[6] is not None else (g[4] or 0) + (g[5] or 0)})
        sname, model, features, classes = STARTUP_MODEL
        cache = os.path.join(a.work, f"startup-cache-{r}")
        cmd = [nnc_bench, model, "--startup", "--features", str(features), "--classes", str(classes)]
        for kind in ("cold", "warm"):  # the first run fills the fresh cache the second finds
            text, usage, wall = run(cmd, env_for(1, NNC_CACHE_DIR=cache))
            j = json_lines(text)[-1]
            j["process_s"] = wall
            out[kind].append(j)
        text, _, _ = run([nnc_bench, "bench/models/iris_adam.nn", "--out", os.path.join(a.work, "startup-iris"),
                          "--features", "4", "--classes", "3", "--reps", "5", "--no-write"],
                         env_for(1, NNC_CACHE_DIR=os.path.join(a.work, "startup-iris-cache")))
        out["iris"].append(json_lines(text)[-1])
        for name, features, classes, _ in SMALL_THREAD_MODELS:
            runs = out["small_threads"].setdefault(name, {"1": [], "2": []})
            for threads in ((1, 2) if r % 2 == 0 else (2, 1)):  # alternate which goes first
                text, _, _ = run([nnc_bench, f"bench/models/{name}.nn", "--out", os.path.join(a.work, f"small-{name}"),
                                  "--features", str(features), "--classes", str(classes), "--reps", "5",
                                  "--threads", str(threads), "--no-write"],
                                 env_for(1, NNC_CACHE_DIR=os.path.join(a.work, "small-threads-cache")))
                runs[str(threads)].append(json_lines(text)[-1])
        c, w = out["cold"][-1], out["warm"][-1]
        log(f"start-up round {r + 1}/{rounds}: model functions "
            f"{max(v[-1]['emit_ms'] + v[-1]['optimize_ms'] + v[-1]['machine_code_ms'] for v in out['compile'].values()):.0f}"
            f" ms at most; {sname} cold start {c['first_step_s'] * 1e3:.0f} ms (process {c['process_s'] * 1e3:.0f}), "
            f"warm {w['first_step_s'] * 1e3:.0f} ms (process {w['process_s'] * 1e3:.0f}); Iris step "
            f"{med(out['iris'][-1]['step_s']) * 1e6:.2f} µs")
    out["load_end"] = os.getloadavg()[0]
    return out


def startup_section(L, st):
    """The start-up section of RESULTS.md from bench_startup's figures."""
    T = STARTUP_TARGETS

    def met(ok):
        return "**met**" if ok else "**not met**"

    L.append("<!-- startup: written by bench/run_all.py (bench_startup), also alone with --startup-only -->")
    L.append("## Compile time, start-up and the smallest step\n")
    load = (f" Load average {st['load_start']:.1f} at the start and {st['load_end']:.1f} at the end (on a loaded "
            "machine every wall-clock figure here grows with the load)." if "load_start" in st else "")
    L.append(f"Medians over {st['rounds']} round(s).{load} Cold compile: `nnc MODEL --stats` with the object cache off "
             "(`NNC_CACHE=off`), its `jit compile` line: the model's functions are emitted as LLVM IR, optimized by "
             "nnc's own pass pipeline (codegen/Jit.cpp) and turned into machine code; the GEMM routines are compiled "
             "apart (once per CPU, then from the cache) and shown for comparison.\n")
    L.append("| model | model functions ms (target ≤ {}) | emit | optimize | machine code | GEMM routines ms | "
             "whole JIT compile ms |".format(T["model_compile_ms"]))
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    labels = {m[0]: m[3] for m in MODELS}
    for name, runs in st["compile"].items():
        e, o, mc = (med([j[k] for j in runs]) for k in ("emit_ms", "optimize_ms", "machine_code_ms"))
        total = med([j["emit_ms"] + j["optimize_ms"] + j["machine_code_ms"] for j in runs])
        worst = max(worst, total)
        L.append(f"| {labels.get(name, name)} | **{total:.0f}** | {e:.1f} | {o:.0f} | {mc:.0f} | "
                 f"{med([j['gemm_ms'] for j in runs]):.0f} | {med([j['total_ms'] for j in runs]):.0f} |")
    L.append("")

    def phases(runs):
        keys = ["graphs_ms", "emit_ms", "model_load_ms", "model_optimize_ms", "model_machine_code_ms", "gemm_load_ms",
                "gemm_optimize_ms", "gemm_machine_code_ms"]
        return {k: med([j[k] for j in runs]) for k in keys}

    sname, model, *_ = STARTUP_MODEL
    cold, warm = st["cold"], st["warm"]
    cs, ws = med([j["first_step_s"] for j in cold]) * 1e3, med([j["first_step_s"] for j in warm]) * 1e3
    cp, wp = med([j["process_s"] for j in cold]) * 1e3, med([j["process_s"] for j in warm]) * 1e3
    L.append(f"Start-up of `{model}`: `nnc_bench --startup` compiles it (`Trainer::fromFile`) and takes one step; "
             "cold with a fresh, empty cache directory (`NNC_CACHE_DIR`), warm with the cache that run filled. "
             "\"To the first step\" is inside the process (from before the compile to the end of the first step); "
             "\"whole process\" adds starting the program (loading its libraries) and exiting. Phases from "
             "`Trainer::compileSplit()` (what `nnc train --stats` prints).\n")
    L.append("| start | to the first step ms | target ms | whole process ms | graphs | emit | model: cache load / "
             "optimize / machine code | GEMM: cache load / optimize / machine code |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for label, runs, v, p, target in (("cold (fresh cache)", cold, cs, cp, T["cold_start_ms"]),
                                      ("warm (cache hit)", warm, ws, wp, T["warm_start_ms"])):
        ph = phases(runs)
        L.append(f"| {label} | **{v:.0f}** | {target} | {p:.0f} | {ph['graphs_ms']:.1f} | {ph['emit_ms']:.1f} | "
                 f"{ph['model_load_ms']:.1f} / {ph['model_optimize_ms']:.0f} / {ph['model_machine_code_ms']:.0f} | "
                 f"{ph['gemm_load_ms']:.1f} / {ph['gemm_optimize_ms']:.0f} / {ph['gemm_machine_code_ms']:.0f} |")
    iris = med([med(j["step_s"]) for j in st["iris"]]) * 1e6
    iris_cpu = med([med(j["step_cpu_s"]) for j in st["iris"]]) * 1e6
    L.append("")
    L.append(f"- **Cold compile of a model's functions ≤ {T['model_compile_ms']} ms**: at most {worst:.0f} ms — "
             f"{met(worst <= T['model_compile_ms'])}.")
    L.append(f"- **Cold start to the first step ≤ {T['cold_start_ms']} ms** ({sname}): {cs:.0f} ms — "
             f"{met(cs <= T['cold_start_ms'])}"
             + (" (the GEMM routines' compile, which moves to build time, is most of it)."
                if phases(cold)["gemm_optimize_ms"] + phases(cold)["gemm_machine_code_ms"] > 0.5 * cs else "."))
    L.append(f"- **Warm start ≤ {T['warm_start_ms']} ms**: {ws:.0f} ms — {met(ws <= T['warm_start_ms'])}.")
    L.append(f"- **Iris step through `Trainer::step` ≤ {T['iris_step_us']:.0f} µs**: {iris:.2f} µs wall, "
             f"{iris_cpu:.2f} µs CPU — {met(iris <= T['iris_step_us'])}. Heap allocations per step: 0, held by the "
             "test `alloc/iris_step` (tests/alloc/step_allocations.cpp, an interposed counting allocator).")
    small = st.get("small_threads", {})
    if small:
        L.append("")
        L.append("Small models with 1 and 2 threads (`nnc_bench --threads 1|2`, the same 5 repetitions of about 150 ms "
                 "after 1 s of warm-up, the two alternating which runs first; medians over the rounds). The runtime "
                 "splits a kernel only where its work pays for a second thread, so these must never be slower with "
                 "two: speed-up = 1-thread time / 2-thread time, target ≥ 1 (at most 3% slower is within this "
                 "machine's run-to-run noise, see the ablation's `parallel-loops` row).\n")
        L.append("| model | 1 thread µs | 2 threads µs | **speed-up** | 2 threads CPU/wall |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        labels_small = {m[0]: m[3] for m in SMALL_THREAD_MODELS}
        verdicts = []
        for name, runs in small.items():
            one = med([med(j["step_s"]) for j in runs["1"]]) * 1e6
            two = med([med(j["step_s"]) for j in runs["2"]]) * 1e6
            util = med([med(j["step_cpu_s"]) / med(j["step_s"]) for j in runs["2"]])
            L.append(f"| {labels_small.get(name, name)} | {one:.2f} | {two:.2f} | **{one / two:.2f}×** | {util:.2f} |")
            verdicts.append((labels_small.get(name, name), one / two))
        L.append("")
        L.append("- **2 threads never slower than 1 on the small models**: "
                 + "; ".join(f"{n}: {v:.2f}×" for n, v in verdicts)
                 + f" — {met(all(v >= 0.97 for _, v in verdicts))}.")
    L.append("<!-- /startup -->\n")


def write_startup_only(a, st):
    """--startup-only: replaces (or adds before the targets) the start-up section of RESULTS.md and
    keeps the figures in results.json."""
    L = []
    startup_section(L, st)
    text = open(a.out).read() if os.path.exists(a.out) else ""
    section = "\n".join(L)
    m = re.search(r"<!-- startup:.*?<!-- /startup -->\n", text, re.S)
    if m:
        text = text[:m.start()] + section + text[m.end():]
    elif "## Where nnc stands" in text:
        i = text.index("## Where nnc stands")
        text = text[:i] + section + "\n" + text[i:]
    else:
        text += "\n" + section
    open(a.out, "w").write(text)
    d = json.load(open(a.raw_json)) if os.path.exists(a.raw_json) else {}
    d["startup"] = st
    with open(a.raw_json, "w") as f:
        json.dump(d, f, indent=1)


def list_passes(nnc_bin):
    """The pass names `nnc --passes=list` prints: {"graph": [...], "codegen": [...]} in its order, so
    that passes added to nnc are picked up without changing this script."""
    text = subprocess.run([nnc_bin, "--passes=list"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    passes, section = {"graph": [], "codegen": []}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            head = line.strip().lower()
            section = "graph" if head.startswith("graph") else "codegen" if head.startswith("code gen") else None
        elif section:
            passes[section].append(line.split()[0])
    return passes


def ablation_variants(passes):
    """(key, passes to disable) of the ablation: everything on, each codegen pass off, all graph passes off."""
    return ([("all-on", [])] + [(p, [p]) for p in passes["codegen"]]
            + ([("graph-passes", list(passes["graph"]))] if passes["graph"] else []))


# The arena's intermediates part (after the GEMM scratch) against the sum of the intermediates.
KERNELS_RE = re.compile(r"kernels of @train_step: (\d+) kernels, (\d+) fused ops, arena \d+ bytes: GEMM scratch \d+ "
                        r"\+ (\d+) for (\d+) bytes of intermediates")


def kernel_stats(nnc_bin, model, disabled):
    """`nnc MODEL --stats [--disable-pass P]...`: train_step's kernels, fused ops, arena and intermediate bytes."""
    cmd = [nnc_bin, model, "--stats"] + [x for p in disabled for x in ("--disable-pass", p)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env_for(1))
    m = KERNELS_RE.search(p.stderr + p.stdout)
    if p.returncode != 0 or not m:
        log(f"warning: {' '.join(cmd)} printed no kernel statistics (exit {p.returncode})")
        return None
    return dict(zip(["kernels", "fused_ops", "arena_bytes", "intermediate_bytes"], map(int, m.groups())))


def bench_ablation(a, rounds, passes):
    """nnc's step with each optimization off against everything on, one thread. In each round and for
    each model, the all-on step runs first and last, the variants between (their order reversed in odd
    rounds), so that every variant is compared with all-on runs of the same minutes."""
    nnc_bench = os.path.join(a.build, "bench", "nnc_bench")
    nnc_bin = os.path.join(a.build, "tools", "nnc")
    variants = ablation_variants(passes)
    features = {m[0]: m[1] for m in MODELS}
    classes = {m[0]: m[2] for m in MODELS}
    times = {name: {k: [] for k, _ in variants} for name in ABLATION_MODELS}
    stats = {name: {k: kernel_stats(nnc_bin, f"bench/models/{name}.nn", d) for k, d in variants}
             for name in ABLATION_MODELS}
    env = env_for(1, NNC_CACHE_DIR=os.path.join(a.work, "nnc-cache"))
    reps = str(ABLATION_REPS)
    for r in range(rounds):
        for name in ABLATION_MODELS:
            out = os.path.join(a.work, name)  # written by bench_models' first round
            middle = variants[1:] if r % 2 == 0 else variants[-1:0:-1]
            for key, disabled in [variants[0]] + middle + [variants[0]]:
                cmd = [nnc_bench, f"bench/models/{name}.nn", "--out", out, "--features", str(features[name]),
                       "--classes", str(classes[name]), "--reps", reps, "--threads", "1", "--no-write"]
                for p in disabled:
                    cmd += ["--disable-pass", p]
                text, _, _ = run(cmd, env)
                times[name][key].append(json_lines(text)[-1])
            on = med(pooled(times[name]["all-on"], "step_s"))
            log(f"ablation round {r + 1}/{rounds} {name}: all on {on * 1e3:.3f} ms; "
                + ", ".join(f"-{k} {med(pooled(times[name][k], 'step_s')) / on:.2f}x" for k, _ in variants[1:]))
    return {"variants": variants, "times": times, "stats": stats, "rounds": rounds, "reps": ABLATION_REPS}


def bench_gemm(a, rounds):
    gemm_bench = os.path.join(a.build, "bench", "gemm_bench")
    samples = "5" if a.quick else "9"
    models = [f"{name}:{features}:bench/models/{name}.nn" for name, features, _, _ in MODELS
              if not nnmodel.parse_model(open(f"{BENCH}/models/{name}.nn").read())["conv"]]
    # The cases of gemm_cases.txt, the CNN models' per-image convolution products of
    # conv_cases.txt, then every matrix product of each MLP's step ("step:MODEL:what"), so that
    # each step's GEMM time alone can be summed for nnc and for OpenBLAS.
    cases = os.path.join(a.work, "cases.txt")
    with open(cases, "w") as f:
        f.write(open(f"{BENCH}/gemm_cases.txt").read())
        f.write(open(f"{BENCH}/conv_cases.txt").read())
        for m in models:
            name, features, path = m.split(":", 2)
            spec = nnmodel.parse_model(open(os.path.join(ROOT, path)).read())
            for label, mm, nn, kk, flags in nnmodel.step_gemms(int(features), spec["layers"], spec["batch"]):
                f.write(f"step:{name}:{label.replace(' ', '-')} {mm} {nn} {kk} {flags}\n")
    env = env_for(1)
    nnc, blas, blas_models, header = {}, {}, {}, {}
    for r in range(rounds):
        order = ["nnc", "blas"] if r % 2 == 0 else ["blas", "nnc"]
        for who in order:
            if who == "nnc":
                lines = json_lines(run([gemm_bench, samples, cases, "--json"], env)[0])
                header.update(lines[0])
                for j in lines[1:]:
                    nnc.setdefault(j["case"], (j, []))[1].append(j["median_gflops"])
            else:
                cmd = [PY, "bench/blas_bench.py", "--cases", cases, "--samples", samples]
                for m in models:
                    cmd += ["--model", m]
                lines = json_lines(run(cmd, env)[0])
                header["blas"] = lines[0]
                for j in lines[1:]:
                    if "case" in j:
                        blas.setdefault(j["case"], []).append(j["median_gflops"])
                    else:
                        blas_models.setdefault(j["model"], []).append(j["median_gflops"])
        log(f"gemm round {r + 1}/{rounds} done")
    return nnc, blas, blas_models, header


def is_conv_case(case):
    """A product of conv_cases.txt: MODEL:LAYER:ROLE for one of the CNN bench models."""
    return case.split(":")[0] in ("cnn", "lenet", "vgg")


def nnc_train_epoch(nnc_bin, model, env, extra=()):
    """One `nnc train MODEL --epochs 1` run: its wall and CPU time, the epoch and compile seconds it
    prints, and the test accuracy."""
    text, usage, wall = run([nnc_bin, "train", model, "--epochs", "1", *extra], env)
    epoch = re.search(r"epoch\s+1/1 .*?([\d.]+) s\s+\d+ ex/s", text)
    comp = re.search(r"compile ([\d.]+) s", text)
    acc = re.search(r"test accuracy ([\d.]+)%", text)
    return {"total_s": wall, "epoch_s": float(epoch.group(1)) if epoch else float("nan"),
            "compile_s": float(comp.group(1)) if comp else float("nan"),
            "test_accuracy": float(acc.group(1)) / 100 if acc else float("nan"),
            "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}


def torch_fashion_epoch(model, env):
    """One `bench/torch_fashion.py --model MODEL --threads 1` run: its JSON, with the wall and CPU time."""
    text, usage, wall = run([PY, "bench/torch_fashion.py", "--model", model, "--threads", "1"], env)
    j = json_lines(text)[-1]
    j["total_s"] = wall
    j["cpu_s"] = usage.ru_utime + usage.ru_stime
    return j


def bench_fashion(a, rounds):
    nnc_bin = os.path.join(a.build, "tools", "nnc")
    env = env_for(1)
    nnc_runs, torch_runs, epoch_runs = [], [], []
    nnc_bench = os.path.join(a.build, "bench", "nnc_bench")
    for r in range(rounds):
        order = ["nnc", "torch", "epoch"] if r % 2 == 0 else ["torch", "epoch", "nnc"]
        for who in order:
            if who == "epoch":
                text, _, _ = run([nnc_bench, "examples/fashion_mlp.nn", "--epoch", "fashion-mnist", "--seed", "1"], env)
                epoch_runs.append(json_lines(text)[-1])
                continue
            if who == "nnc":
                nnc_runs.append(nnc_train_epoch(nnc_bin, "examples/fashion_mlp.nn", env))
            else:
                torch_runs.append(torch_fashion_epoch("mlp", env))
        log(f"fashion round {r + 1}/{rounds}: nnc {nnc_runs[-1]['total_s']:.1f} s, "
            f"PyTorch {torch_runs[-1]['total_s']:.1f} s")
    return nnc_runs, torch_runs, epoch_runs


def bench_fashion_cnn(a, rounds=1):
    """One Fashion-MNIST epoch of examples/fashion_cnn.nn in nnc and in bench/torch_fashion.py
    --model cnn, one thread each, interleaved (about a minute a run, so one round by default)."""
    nnc_bin = os.path.join(a.build, "tools", "nnc")
    env = env_for(1)
    out = {"nnc": [], "torch": []}
    for r in range(rounds):
        for who in (["nnc", "torch"] if r % 2 == 0 else ["torch", "nnc"]):
            if who == "nnc":
                out["nnc"].append(nnc_train_epoch(nnc_bin, "examples/fashion_cnn.nn", env, ["--threads", "1"]))
            else:
                out["torch"].append(torch_fashion_epoch("cnn", env))
        log(f"fashion CNN round {r + 1}/{rounds}: nnc {out['nnc'][-1]['total_s']:.1f} s "
            f"(epoch {out['nnc'][-1]['epoch_s']:.1f} s), PyTorch {out['torch'][-1]['total_s']:.1f} s "
            f"(epoch {out['torch'][-1]['epoch_s']:.1f} s)")
    return out


def pooled(runs, key):
    return [v for j in runs for v in j[key]]


def fmt_ms(s):
    return f"{s * 1e3:.3f}" if s < 0.01 else f"{s * 1e3:.2f}" if s < 0.1 else f"{s * 1e3:.1f}"


def svg_chart(rows, path):
    """Horizontal bars of PyTorch time / nnc time on a log scale, 1 = parity."""
    width, left, right, bar, gap, top = 820, 330, 80, 26, 12, 50
    height = top + len(rows) * (bar + gap) + 50
    lo, hi = 0.1, 300.0
    import math

    def x(v):
        v = min(max(v, lo), hi)
        return left + (width - left - right) * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
           'PyTorch step time / nnc step time (1 thread; &gt; 1: nnc faster)</text>']
    for v in [0.1, 0.3, 1, 3, 10, 30, 100, 300]:
        out.append(f'<line x1="{x(v):.1f}" y1="{top - 8}" x2="{x(v):.1f}" y2="{height - 40}" '
                   f'stroke="{"#444" if v == 1 else "#ddd"}" stroke-width="{2 if v == 1 else 1}"/>')
        out.append(f'<text x="{x(v):.1f}" y="{height - 24}" text-anchor="middle" fill="#444">{v:g}×</text>')
    for i, (label, ratio, target, cpu_ratio) in enumerate(rows):
        y = top + i * (bar + gap)
        color = "#2a7ab9" if ratio >= 1 else "#d0603a"
        x0, x1, xc = x(1), x(ratio), x(cpu_ratio)
        out.append(f'<text x="{left - 8}" y="{y + bar * 0.55:.1f}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{min(x0, x1):.1f}" y="{y}" width="{abs(x1 - x0):.1f}" height="{bar * 0.7:.1f}" '
                   f'fill="{color}"/>')
        out.append(f'<rect x="{min(x0, xc):.1f}" y="{y + bar * 0.72:.1f}" width="{abs(xc - x0):.1f}" '
                   f'height="{bar * 0.28:.1f}" fill="#999"/>')
        tx = max(x0, x1, xc, x(target) if target else 0) + 6
        out.append(f'<text x="{tx:.1f}" y="{y + bar * 0.55:.1f}">{ratio:.2f}×</text>')
        if target:
            out.append(f'<line x1="{x(target):.1f}" y1="{y - 2}" x2="{x(target):.1f}" y2="{y + bar + 2}" '
                       f'stroke="black" stroke-width="2" stroke-dasharray="3,2"/>')
    out.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" fill="#444" font-size="11">'
               'log scale; bars: wall-clock medians (blue: nnc faster, orange: PyTorch faster); thin grey bars: '
               'the same from CPU time; dashed: the issue\'s target</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="1 round, fewer repetitions (a smoke test)")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--svg", default=os.path.join(BENCH, "ratios.svg"))
    ap.add_argument("--raw-json", default=os.path.join(BENCH, "results.json"),
                    help="where every measurement of the run is saved")
    ap.add_argument("--from-json", help="rewrite RESULTS.md and the chart from a saved run, without running")
    ap.add_argument("--startup-only", action="store_true",
                    help="run only the start-up figures (compile time, start-up, the Iris step) and rewrite their "
                         "section of RESULTS.md")
    ap.add_argument("--no-fashion-cnn", action="store_true",
                    help="skip the Fashion-MNIST CNN epoch (examples/fashion_cnn.nn against torch_fashion.py --model "
                         "cnn, about a minute a run; --quick skips it too)")
    a = ap.parse_args()
    if a.from_json:
        d = json.load(open(a.from_json))
        gemm_nnc = {k: tuple(v) for k, v in d["gemm_nnc"].items()}
        write_results(a, d["info"], d["rounds"], d["res"], gemm_nnc, d["gemm_blas"], d["blas_models"],
                      d["gemm_header"], d["fashion_nnc"], d["fashion_torch"], d["elapsed"], d.get("ablation"),
                      d.get("startup"), d.get("fashion_cnn"))
        return
    a.build = os.path.abspath(a.build)
    rounds = 1 if a.quick else a.rounds
    if a.startup_only:
        with tempfile.TemporaryDirectory(prefix="nnc-bench-") as work:
            a.work = work
            write_startup_only(a, bench_startup(a, max(1, rounds)))
        log(f"wrote the start-up section of {os.path.relpath(a.out, ROOT)}")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nnc-bench-") as work:
        a.work = work
        info = machine_info()
        choose_blas_core(info)
        a.reps = info["reps"] = 3 if a.quick else 5
        info["nnc_cache_off"] = True  # the one-thread nnc_bench runs: NNC_CACHE=off
        log(f"{info['cpu']}, {info['cores']} cores, load {info['load_start'][0]:.1f}; PyTorch {info['torch']}")
        res = bench_models(a, rounds)
        ablation = bench_ablation(a, 1 if a.quick else ABLATION_ROUNDS,
                                  list_passes(os.path.join(a.build, "tools", "nnc")))
        gemm_nnc, gemm_blas, blas_models, gemm_header = bench_gemm(a, 1 if a.quick else 2)
        fashion_nnc, fashion_torch, fashion_epoch = bench_fashion(a, 1 if a.quick else 2)
        fashion_nnc[0]["epoch_runs"] = fashion_epoch
        fashion_cnn = None if a.quick or a.no_fashion_cnn else bench_fashion_cnn(a, 1)
        startup = bench_startup(a, 1 if a.quick else 3)
    info["load_end"] = os.getloadavg()
    elapsed = time.perf_counter() - started
    with open(a.raw_json, "w") as f:
        json.dump({"info": info, "rounds": rounds, "res": res, "gemm_nnc": gemm_nnc, "gemm_blas": gemm_blas,
                   "blas_models": blas_models, "gemm_header": gemm_header, "fashion_nnc": fashion_nnc,
                   "fashion_torch": fashion_torch, "elapsed": elapsed, "ablation": ablation, "startup": startup,
                   "fashion_cnn": fashion_cnn},
                  f, indent=1)
    write_results(a, info, rounds, res, gemm_nnc, gemm_blas, blas_models, gemm_header, fashion_nnc, fashion_torch,
                  elapsed, ablation, startup, fashion_cnn)
    log(f"wrote {os.path.relpath(a.out, ROOT)}, {os.path.relpath(a.svg, ROOT)} and "
        f"{os.path.relpath(a.raw_json, ROOT)} in {elapsed:.0f} s")


# OpenBLAS kernels that use AVX-512 or AVX2 well; on an AVX-512 CPU any other choice (Prescott,
# Nehalem, ...) means OpenBLAS did not recognize the CPU and runs far below its speed.
GOOD_BLAS_CORES = {"skylakex", "cooperlake", "sapphirerapids", "haswell", "zen"}


def weak_blas(info):
    return bool(info.get("avx512")) and info.get("openblas_core", "unknown").lower() not in GOOD_BLAS_CORES | {"unknown"}


def ablation_section(L, ablation, main_reps):
    """"What each optimization buys": the ablation's table and, per pass, its speed-up on each model."""
    variants = [(k, list(d)) for k, d in ablation["variants"]]
    times, stats = ablation["times"], ablation.get("stats", {})
    models = [m for m in MODELS if m[0] in times]
    graph = next((d for k, d in variants if k == "graph-passes"), [])

    def what(key, disabled):
        if key == "all-on":
            return "nothing (everything on)"
        if key == "graph-passes":
            return f"all graph passes ({', '.join(disabled)})"
        return f"`{key}`"

    L.append("## What each optimization buys\n")
    runs = max((len(v["all-on"]) for v in times.values()), default=0)
    L.append(f"nnc's step, one thread, with every pass on and with each code generation pass turned off in turn "
             f"(`nnc_bench --disable-pass NAME`; the names are those `nnc --passes=list` prints), and with every "
             f"graph pass off ({', '.join(graph) or 'none'}). In each of {ablation.get('rounds', '?')} round(s) and "
             f"for each model the all-on step runs first and last and the variants between them (in reverse order "
             f"in odd rounds), each a fresh process; each figure is the median over the runs' "
             f"{ablation.get('reps', '?')} repetitions of about 150 ms"
             + (f" (fewer than the first table's {main_reps}, and fewer rounds, to keep the whole run near 10 "
                "minutes)" if ablation.get("reps", 0) < main_reps else "")
             + f"; the all-on figure pools {runs} runs. **Speed-up the pass gives** = "
             "ms/step with it off / ms/step with everything on (> 1: the pass makes the step faster). Kernels, "
             "fused ops, arena and intermediate bytes: `nnc MODEL --stats` with the same `--disable-pass` flags, "
             "its `kernels of @train_step` line.\n")
    L.append("| model | turned off | ms/step | CPU ms/step | **speed-up the pass gives** | same, CPU time | kernels "
             "| fused ops | arena KB | intermediates KB |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    per_pass = {}
    for name, _, _, label in models:
        t = times[name]
        on, on_cpu = med(pooled(t["all-on"], "step_s")), med(pooled(t["all-on"], "step_cpu_s"))
        base = (stats.get(name) or {}).get("all-on")
        for key, disabled in variants:
            if not t.get(key):
                continue
            w, c = med(pooled(t[key], "step_s")), med(pooled(t[key], "step_cpu_s"))
            st = (stats.get(name) or {}).get(key)
            cells = ([str(st["kernels"]), str(st["fused_ops"]), f"{st['arena_bytes'] / 1024:,.0f}",
                      f"{st['intermediate_bytes'] / 1024:,.0f}"] if st else ["—"] * 4)
            if key == "all-on":
                L.append(f"| {label} | {what(key, disabled)} | {fmt_ms(w)} | {fmt_ms(c)} | — | — | " + " | ".join(cells) + " |")
                continue
            same_code = bool(st and base and all(st[k] == base[k] for k in st))
            per_pass.setdefault(key, []).append((label, w / on, c / on_cpu, same_code))
            L.append(f"| {label} | {what(key, disabled)} | {fmt_ms(w)} | {fmt_ms(c)} | **{w / on:.2f}×** | "
                     f"{c / on_cpu:.2f}× | " + " | ".join(cells) + " |")
    L.append("")
    if per_pass:
        L.append("Per pass, the speed-up it gives on each model (wall; CPU time in parentheses):\n")
        for key, disabled in variants[1:]:
            if key not in per_pass:
                continue
            rows = per_pass[key]
            line = f"- {what(key, disabled)}: " + ", ".join(f"{lab}: {v:.2f}× ({cv:.2f}×)" for lab, v, cv, _ in rows).replace(")," , ");")
            idle = [lab for lab, v, cv, same in rows if same and 0.97 <= v <= 1.03]
            if idle:
                line += (f". Turning it off changes neither the kernels, fused ops nor arena on {', '.join(idle)}, "
                         "and the time only within ±3% (noise)")
            L.append(line + ".")
        L.append("")
        # A variant whose code is the same as all-on (parallel-loops at one thread) measures how far
        # two sets of runs of one program differ here: speed-ups inside that band are noise.
        control = [(lab, v) for key in per_pass for lab, v, cv, same in per_pass[key]
                   if key == "parallel-loops" and same]
        if control:
            lo, hi = min(v for _, v in control), max(v for _, v in control)
            L.append(f"`parallel-loops` does nothing at one thread (the same code is compiled), yet its runs measured "
                     f"{lo:.2f}–{hi:.2f}× the all-on runs: that is how much separate processes running the same "
                     "code differ on this machine, and a speed-up inside that band is not a measurement of the "
                     "pass.\n")


def fashion_cnn_section(L, runs):
    """The Fashion-MNIST CNN epoch: nnc against its PyTorch twin, medians of the runs."""
    fn = {k: med([j[k] for j in runs["nnc"]]) for k in ["total_s", "epoch_s", "compile_s", "test_accuracy", "cpu_s",
                                                         "maxrss_kb"]}
    ft = {k: med([j[k] for j in runs["torch"]]) for k in ["total_s", "epoch_s", "import_s", "load_s", "eval_s",
                                                           "test_accuracy", "cpu_s", "maxrss_kb"]}
    n = len(runs["nnc"])
    L.append("### The CNN: `examples/fashion_cnn.nn`\n")
    L.append("`nnc train examples/fashion_cnn.nn --epochs 1 --threads 1` against `bench/torch_fashion.py --model cnn` "
             "(each minibatch shifted by up to 1 pixel and flipped left-right at random; two blocks of 3×3 "
             "convolution without bias, batch normalization, ReLU and 2×2 max pooling with 32 then 64 filters; "
             "dropout 0.25, dense 128 ReLU, dropout 0.25, dense 10; Adam lr 0.002, constant through a one-epoch "
             "cosine schedule; batch 64: 937 minibatches and one of 32; then the same evaluations as above). "
             + (f"Medians of {n} runs each, interleaved.\n" if n > 1 else "One run each, one after the other.\n"))
    L.append("| | nnc | PyTorch | PyTorch / nnc |")
    L.append("| --- | ---: | ---: | ---: |")
    L.append(f"| **training epoch, wall s** | **{fn['epoch_s']:.2f}** | **{ft['epoch_s']:.2f}** | "
             f"**{ft['epoch_s'] / fn['epoch_s']:.2f}×** |")
    L.append(f"| whole command, wall s | {fn['total_s']:.2f} | {ft['total_s']:.2f} | "
             f"{ft['total_s'] / fn['total_s']:.2f}× |")
    L.append(f"| whole command, CPU s | {fn['cpu_s']:.2f} | {ft['cpu_s']:.2f} | {ft['cpu_s'] / fn['cpu_s']:.2f}× |")
    L.append(f"| compiling, whole command | {fn['compile_s']:.2f} | — | |")
    L.append(f"| Python + torch import, data load, evaluation s | — | {ft['import_s']:.2f} + {ft['load_s']:.2f} + "
             f"{ft['eval_s']:.2f} | |")
    L.append(f"| test accuracy after 1 epoch | {100 * fn['test_accuracy']:.2f}% | {100 * ft['test_accuracy']:.2f}% | |")
    L.append(f"| peak RSS MB | {fn['maxrss_kb'] / 1024:.0f} | {ft['maxrss_kb'] / 1024:.0f} | |")
    L.append("\nnnc's epoch is the figure `nnc train` prints (it includes compiling the step's variants for the "
             "epoch and for the final minibatch of 32); the ratio is PyTorch's seconds over nnc's (> 1: nnc faster). "
             "The initializations, shuffles and augmentation draws differ, so the accuracies differ.\n")
    return fn, ft


def write_results(a, info, rounds, res, gemm_nnc, gemm_blas, blas_models, gemm_header, fashion_nnc, fashion_torch,
                  elapsed, ablation=None, startup=None, fashion_cnn=None):
    # Results saved before a model was added to MODELS give the report without it.
    models = [m for m in MODELS if m[0] in res]
    sq1024 = med(gemm_blas.get("square-1024", []))
    L = []
    L.append("# nnc against PyTorch: benchmark results\n")
    L.append(f"Written by `bench/run.sh` on {info['date']} in {elapsed / 60:.1f} minutes. Machine: **{info['cpu']}**, "
             f"{info['cores']} cores{' with AVX-512' if info['avx512'] else ''} (LLVM host CPU "
             f"`{gemm_header.get('cpu', '?')}`), Linux {info['kernel']}; load average "
             f"{info['load_start'][0]:.1f} at the start and {info['load_end'][0]:.1f} at the end (a shared machine: "
             "other work competed for the cores, which is why CPU-time figures are given beside wall-clock ones).\n")
    blas = ", ".join(info["blas_info"])
    L.append(f"PyTorch {info['torch']} (Debian `python3-torch`, `/usr/bin/python3`), built with {blas}; it loads "
             f"`{', '.join(os.path.basename(p) for p in info['blas_loaded'])}`; OpenBLAS chose its `{info['openblas_core']}` "
             f"kernels. NumPy {info['numpy']} loads "
             f"`{', '.join(os.path.basename(p) for p in gemm_header.get('blas', {}).get('blas_libraries', []))}`. "
             f"Threads: `torch.set_num_threads(1)` (PyTorch's own default here: {info['default_threads']}; "
             f"{'; '.join(info['parallel'])}), `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`; nnc: `nnc_bench --threads 1` "
             "(`CompileSettings::threads`), except in the two-thread table."
             + (f" Removed from the environment of every run: {', '.join(f'`{k}={v}`' for k, v in info['inherited'].items())} "
                "(the caller's settings; `OPENBLAS_CORETYPE=Haswell` alone halves OpenBLAS's sgemm rate here, and "
                "PyTorch's with it)." if info["inherited"] else "") + "\n")
    if info.get("blas_core_forced"):
        trials = ", ".join(f"{k} {v:.1f}" for k, v in info["blas_core_trials"].items())
        L.append(f"**OpenBLAS did not recognize this CPU**: it chose its `{info['openblas_core']}` kernels. `run_all.py` "
                 f"timed NumPy's 1024³ sgemm (one thread, GFLOP/s) with each candidate — {trials} — and ran every "
                 f"PyTorch, NumPy and OpenBLAS measurement below with the fastest, "
                 f"`OPENBLAS_CORETYPE={info['blas_core_forced']}`, so that nnc is compared with OpenBLAS at its best "
                 "here.\n")
    elif weak_blas(info):
        L.append(f"**Caveat: OpenBLAS chose its `{info['openblas_core']}` kernels on a CPU with AVX-512** (it did "
                 f"not recognize this CPU): its sgemm reaches {sq1024:.1f} GFLOP/s here, a fraction of what the CPU "
                 "can do, so PyTorch's, NumPy's and OpenBLAS's figures below are far slower than they could be on "
                 "this machine and every ratio against them overstates nnc. (`run_all.py` leaves the choice to "
                 "OpenBLAS; `OPENBLAS_CORETYPE` would force one.)\n")
    L.append(f"Method: each figure is the median over {rounds} rounds × {info.get('reps', 5)} repetitions (each repetition runs the step "
             "for about 150 ms, after 1 s of warm-up) of seconds per train step; in each round nnc and PyTorch "
             "run back to back in fresh processes, alternating which goes first. Both start from the same "
             "parameters (nnc's initializers, seed 7, written as .npy and loaded by PyTorch) and train on the same "
             "4 synthetic minibatches in turn; the first 3 losses agree (second table). "
             "GFLOP/s counts 2·M·N·K per matrix product: per dense layer 1 forward and 2 backward, except the first "
             "layer's input gradient (not computed). \"OpenBLAS step GEMMs\" is the rate of exactly those products "
             "run back to back through NumPy's sgemm, one thread: the time a step would take if it were nothing "
             "but OpenBLAS's GEMMs.\n")

    L.append("## Train step, one thread\n")
    L.append("| model | batch | nnc ms/step | PyTorch ms/step | **PyTorch / nnc** | same, CPU time | nnc examples/s "
             "| PyTorch examples/s | nnc GFLOP/s | PyTorch GFLOP/s | OpenBLAS step GEMMs GFLOP/s | nnc % of it "
             "| nnc % of sgemm 1024³ |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    chart = []
    summary = {}
    for name, features, _, label in models:
        r = res[name]
        spec = nnmodel.parse_model(open(f"{BENCH}/models/{name}.nn").read())
        flops, _ = nnmodel.model_flops(spec)
        b = spec["batch"]
        tn, tt = med(pooled(r["nnc"], "step_s")), med(pooled(r["torch"], "step_s"))
        cn, ct = med(pooled(r["nnc"], "step_cpu_s")), med(pooled(r["torch"], "step_cpu_s"))
        gn, gt = flops / tn / 1e9, flops / tt / 1e9
        ob = med(blas_models.get(name, []))
        s = summary[name] = {"tn": tn, "tt": tt, "ratio": tt / tn, "cpu_ratio": ct / cn, "gn": gn, "ob": ob}
        L.append(f"| {label} | {b} | {fmt_ms(tn)} | {fmt_ms(tt)} | **{tt / tn:.2f}×** | {ct / cn:.2f}× | "
                 f"{b / tn:,.0f} | {b / tt:,.0f} | {gn:.1f} | {gt:.1f} | "
                 f"{'%.1f' % ob if ob == ob else 'n/a'} | {'%.0f%%' % (100 * gn / ob) if ob == ob else 'n/a'} | "
                 f"{100 * gn / sq1024:.0f}% |")
        target = {"iris_adam": 150, "mlp256_sgdm": 1.4, "mlp256_adam": 1.4, "mlp512_sgdm": 1.15,
                  "mlp512_adam": 1.15}.get(name)
        chart.append((label, tt / tn, target, ct / cn))
    L.append(f"\nsgemm 1024³ through OpenBLAS (NumPy, one thread), median: **{sq1024:.1f} GFLOP/s**. "
             "The CNNs' FLOPs count each convolution as the GEMMs nnc runs (forward, weight gradient, and the "
             "input gradient but for the first layer) plus the dense layers.\n")

    L.append("## Compile time, memory, agreement\n")
    L.append("| model | nnc cold compile ms (wall) | CPU ms | nnc peak RSS MB | PyTorch peak RSS MB | first 3 losses, "
             "max relative difference | nnc step ms: through `Trainer::step` | the compiled function alone |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _, _, label in models:
        r = res[name]
        comp = med([j["compile_s"] for j in r["nnc"]])
        compc = med([j["compile_cpu_s"] for j in r["nnc"]])
        summary[name]["compile"] = comp
        summary[name]["compile_cpu"] = compc
        rn = max(j["maxrss_kb"] for j in r["nnc"]) / 1024
        rt = max(j["maxrss_kb"] for j in r["torch"]) / 1024
        diff = max(j.get("check_max_rel_diff", float("nan")) for j in r["torch"])
        raw = med([j["raw_step_s"] for j in r["nnc"] if j.get("raw_step_s")])
        L.append(f"| {label} | {comp * 1e3:.0f} | {compc * 1e3:.0f} | {rn:.0f} | {rt:.0f} | {diff:.1e} | "
                 f"{fmt_ms(summary[name]['tn'])} | {fmt_ms(raw)} |")
    L.append("\nThe compile is `Trainer::fromFile` in a fresh process"
             + (" with the object cache off (`NNC_CACHE=off`)" if info.get("nnc_cache_off") else "") + ": parse, lower the train, eval and predict "
             "functions, autodiff, optimizer, LLVM O3 and machine code, for the model's batch size. Peak RSS is "
             "`ru_maxrss` of the whole process (PyTorch's includes the interpreter and libtorch, about 240 MB "
             "before any model). The last two columns split nnc's step: through the runtime's `Trainer::step` (what the "
             "first table times: staging copies of the minibatch, name lookups, reading the loss) and the compiled "
             "`train_step` function alone, called directly with buffers staged once (`nnc_bench --raw`, the model "
             "compiled a second time in the same way, median of the rounds' medians).\n")

    L.append("## Where the step's time goes\n")
    L.append("Each MLP step's matrix products timed alone (the `step:` cases that `run_all.py` adds to "
             "`gemm_cases.txt` for `gemm_bench` and `blas_bench.py`; the time of each product at its median rate, "
             "summed), against the whole step. What is left is everything else: bias, activation and their "
             "gradients, softmax cross-entropy, the optimizer update, and for nnc's first column the runtime's "
             "staging.\n")
    L.append("| model | nnc step ms | nnc compiled function ms | nnc's GEMMs alone ms | nnc outside GEMMs ms "
             "| PyTorch step ms | OpenBLAS GEMMs alone ms | PyTorch outside GEMMs ms |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _, _, label in models:
        steps = [(c, j) for c, (j, _) in gemm_nnc.items() if c.startswith(f"step:{name}:")]
        if not steps:
            continue
        gn = sum(2.0 * j["M"] * j["N"] * j["K"] / (med(gemm_nnc[c][1]) * 1e9) for c, j in steps)
        gb = sum(2.0 * j["M"] * j["N"] * j["K"] / (med(gemm_blas[c]) * 1e9) for c, j in steps if c in gemm_blas)
        raw = med([j["raw_step_s"] for j in res[name]["nnc"] if j.get("raw_step_s")])
        tn, tt = summary[name]["tn"], summary[name]["tt"]
        summary[name]["gemm_nnc_s"], summary[name]["gemm_blas_s"] = gn, gb
        L.append(f"| {label} | {fmt_ms(tn)} | {fmt_ms(raw)} | {fmt_ms(gn)} | {fmt_ms(raw - gn)} "
                 f"({100 * (raw - gn) / raw:.0f}%) | {fmt_ms(tt)} | {fmt_ms(gb)} | {fmt_ms(tt - gb)} "
                 f"({100 * (tt - gb) / tt:.0f}%) |")
    L.append("")

    if ablation:
        ablation_section(L, ablation, info.get("reps", 5))

    labels = {m[0]: m[3] for m in MODELS}
    L.append("## Two threads (all cores): nnc and PyTorch\n")
    two_rounds = max([len(res[n].get(k, [])) for n in TWO_THREAD_MODELS if n in res for k in ("nnc2", "torch2")]
                     + [0])
    L.append(f"The large models with `nnc_bench --threads 2` and `torch.set_num_threads(2)` "
             f"(`OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2`), run right after the one-thread runs of the same "
             f"round (nnc and PyTorch alternating which goes first), in the first {two_rounds} round(s);"
             " the one-thread figures here are the medians of those same rounds. Speed-up = 1-thread "
             "time / 2-thread time (the ideal on 2 cores: 2×). \"nnc CPU/wall\" is the process's CPU seconds per "
             "wall second at two threads: about 2 when both threads computed (or spun) the whole step.\n")
    L.append("| model | nnc 1 thread ms | nnc 2 threads ms | **nnc speed-up** | nnc CPU/wall | PyTorch 1 thread ms "
             "| PyTorch 2 threads ms | PyTorch speed-up |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    thread_speedups, slower = {}, []

    def ms(v):
        return fmt_ms(v) if v == v else "—"

    for name in TWO_THREAD_MODELS:
        if name not in res:
            continue
        r = res[name]
        n2, t2 = r.get("nnc2", []), r.get("torch2", [])
        if not n2 and not t2:
            continue
        n1 = med(pooled(r["nnc"][:max(len(n2), 1)], "step_s"))
        t1 = med(pooled(r["torch"][:max(len(t2), 1)], "step_s"))
        w2, c2 = med(pooled(n2, "step_s")), med(pooled(n2, "step_cpu_s"))
        p2 = med(pooled(t2, "step_s"))
        if n2:
            thread_speedups[name] = n1 / w2
        slower += [who for who, one, two in (("nnc", n1, w2), ("PyTorch", t1, p2)) if two == two and two > one]
        L.append(f"| {labels[name]} | {ms(n1)} | {ms(w2)} | **{n1 / w2:.2f}×** | {c2 / w2:.2f} | {ms(t1)} | {ms(p2)} "
                 f"| {t1 / p2:.2f}× |".replace("**nan×**", "—").replace("nan×", "—").replace("| nan |", "| — |"))
    load = info.get("load_start", [float("nan")])[0]
    util = [med(pooled(res[n].get("nnc2", []), "step_cpu_s")) / med(pooled(res[n].get("nnc2", []), "step_s"))
            for n in thread_speedups]
    one_core = bool(util) and max(util) < 1.5
    L.append(f"\nLoad average at the start of the run: {load:.1f} on {info.get('cores', '?')} cores."
             + (f" nnc's CPU/wall of {min(util):.2f}{f'–{max(util):.2f}' if f'{max(util):.2f}' != f'{min(util):.2f}' else ''} at two threads shows that its two threads got "
                "about one core between them: other work held the second core." if one_core else "")
             + (f" Where two threads are slower than one ({', '.join(sorted(set(slower)))}), every parallel region "
                "waited for a thread that was not running, so such figures measure the machine's load rather than "
                "the scaling." if slower else "") + "\n")
    summary["threads"] = thread_speedups

    L.append("## Fashion-MNIST, one epoch, wall time\n")
    fn = {k: med([j[k] for j in fashion_nnc]) for k in fashion_nnc[0] if k != "epoch_runs"}
    ep_runs = fashion_nnc[0].get("epoch_runs", [])
    ep = {k: med([j[k] for j in ep_runs]) for k in ep_runs[0]
          if isinstance(ep_runs[0][k], (int, float))} if ep_runs else {}
    ft = {k: med([j[k] for j in fashion_torch]) for k in ["total_s", "epoch_s", "import_s", "load_s", "eval_s",
                                                              "test_accuracy", "cpu_s", "maxrss_kb"]}
    L.append(f"`nnc train examples/fashion_mlp.nn --epochs 1` against `bench/torch_fashion.py` (784-256-128-10 ReLU, "
             "dropout 0.2, SGD lr 0.1 Nesterov momentum 0.9, batch 128, 60,000 images: 468 minibatches and one "
             "of 96; then the test set is evaluated, and at the end the training and test sets). Medians of "
             f"{len(fashion_nnc)} runs each, interleaved.\n")
    L.append("| | nnc | PyTorch |")
    L.append("| --- | ---: | ---: |")
    L.append(f"| whole command, wall s | {fn['total_s']:.2f} | {ft['total_s']:.2f} |")
    L.append(f"| whole command, CPU s | {fn['cpu_s']:.2f} | {ft['cpu_s']:.2f} |")
    L.append(f"| training epoch, wall s, as `nnc train` prints it | {fn['epoch_s']:.2f} | {ft['epoch_s']:.2f} |")
    L.append(f"| compiling, whole command, what the training thread waited for (see below) | {fn['compile_s']:.2f} | — |")
    if ep:
        L.append(f"| `nnc_bench --epoch`: the training epoch, wall s | {ep['epoch_s']:.2f} | {ft['epoch_s']:.2f} |")
        L.append(f"| of which waiting for a compile (the 96-row variant, compiled in the background) | {ep['epoch_compile_s']:.2f} | — |")
        L.append(f"| **the training epoch without compiling, wall s** | **{ep['epoch_s'] - ep['epoch_compile_s']:.2f}** "
                 f"| **{ft['epoch_s']:.2f}** |")
        L.append(f"| test-set evaluation, wall s (of which compiling the 16-row variant) | {ep['eval_s']:.2f} "
                 f"({ep['eval_compile_s']:.2f}) | — |")
    L.append(f"| Python + torch import, data load, evaluation s | — | {ft['import_s']:.2f} + {ft['load_s']:.2f} + "
             f"{ft['eval_s']:.2f} |")
    L.append(f"| test accuracy after 1 epoch | {100 * fn['test_accuracy']:.2f}% | {100 * ft['test_accuracy']:.2f}% |")
    L.append(f"| peak RSS MB | {fn['maxrss_kb'] / 1024:.0f} | {ft['maxrss_kb'] / 1024:.0f} |")
    L.append(f"\nPyTorch's whole run is **{ft['total_s'] / fn['total_s']:.2f}×** nnc's wall time "
             f"(> 1: nnc faster)"
             + (f"; PyTorch's epoch is **{ft['epoch_s'] / (ep['epoch_s'] - ep['epoch_compile_s']):.2f}×** nnc's "
                "epoch without compilation" if ep else "")
             + ". nnc's runtime compiles in this command: the train step for batch 128 when the model is loaded "
             "(the learning-rate schedule reads its steps per epoch from the state, so the data's size never "
             "recompiles it); while the epoch trains, on a background thread, eval and predict for batch 128 and "
             "the step for the final minibatch of 96; and eval for the test set's final 16 rows. The compile "
             "figures are what the training thread waited for (`Trainer::compileSeconds`). The two initializations "
             "and shuffles differ, so the accuracies differ slightly.\n")
    summary["fashion"] = (fn, ft, ep)
    if fashion_cnn and fashion_cnn.get("nnc") and fashion_cnn.get("torch"):
        summary["fashion_cnn"] = fashion_cnn_section(L, fashion_cnn)

    L.append("## GEMM: nnc's generated sgemm against OpenBLAS, one thread\n")
    L.append(f"`gemm_bench` (tile {gemm_header.get('mr')}×{gemm_header.get('nr')}, KC {gemm_header.get('kc')}, "
             f"MC {gemm_header.get('mc')}) and `blas_bench.py` (NumPy `matmul` into a preallocated output; "
             "transposed operands as transposed views) on the cases of `bench/gemm_cases.txt`; medians over "
             "samples of ≥ 20 ms, median of the runs.\n")
    L.append("| case | M | N | K | op | nnc GFLOP/s | OpenBLAS GFLOP/s | nnc / OpenBLAS |")
    L.append("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    mlp_ratios, conv_rows = [], []
    for case, (j, rates) in gemm_nnc.items():
        if case.startswith("step:"):
            continue
        if is_conv_case(case):
            conv_rows.append((case, j, med(rates), med(gemm_blas.get(case, [0]))))
            continue
        n, o = med(rates), med(gemm_blas.get(case, []))
        op = {0: "", 1: "Aᵀ", 2: "Bᵀ"}.get(j["flags"], str(j["flags"]))
        if not case.startswith("square"):
            mlp_ratios.append((case, n / o))
        L.append(f"| {case} | {j['M']} | {j['N']} | {j['K']} | {op} | {n:.1f} | {o:.1f} | {100 * n / o:.0f}% |")
    L.append("")
    # The convolutions' products against the sgemm rate: nnc's own median on the largest square
    # case (what its GEMM reaches on this core).
    squares = [(j["M"], med(rates)) for case, (j, rates) in gemm_nnc.items() if case.startswith("square")]
    peak = max(squares)[1] if squares else 0
    conv_share = []
    if conv_rows and peak:
        L.append("### Convolution products\n")
        L.append(f"The per-image matrix products of the CNN models' convolutions (`bench/conv_cases.txt`: forward "
                 f"w·col, weight gradient dy·colᵀ, input gradient wᵀ·dy), timed the same way, against the sgemm "
                 f"rate: nnc's {max(squares)[0]}×{max(squares)[0]} square case, {peak:.1f} GFLOP/s.\n")
        L.append("| product | M | N | K | op | nnc GFLOP/s | % of sgemm rate | OpenBLAS GFLOP/s |")
        L.append("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
        for case, j, n, o in conv_rows:
            op = {0: "", 1: "Aᵀ", 2: "Bᵀ"}.get(j["flags"], str(j["flags"]))
            conv_share.append((n / peak, case))
            L.append(f"| {case} | {j['M']} | {j['N']} | {j['K']} | {op} | {n:.1f} | {100 * n / peak:.0f}% | "
                     f"{o:.1f} |")
        L.append("")
    summary["conv_share"] = conv_share

    if startup:
        startup_section(L, startup)
    L.append("## Where nnc stands against the issue's targets\n")
    if weak_blas(info) and not info.get("blas_core_forced"):
        L.append(f"The targets against PyTorch and OpenBLAS are measured here against OpenBLAS's "
                 f"`{info['openblas_core']}` kernels (see the caveat at the top), so \"met\" overstates nnc "
                 "wherever the comparison is with PyTorch or OpenBLAS.\n")
    s = summary

    def met(ok):
        return "**met**" if ok else "**not met**"

    iris_raw = med([j["raw_step_s"] for j in res["iris_adam"]["nnc"] if j.get("raw_step_s")])
    L.append(f"- **Iris step ≥ 150× faster than PyTorch**: {s['iris_adam']['ratio']:.0f}× "
             f"({fmt_ms(s['iris_adam']['tn'])} ms against {fmt_ms(s['iris_adam']['tt'])} ms; CPU time "
             f"{s['iris_adam']['cpu_ratio']:.0f}×) — {met(s['iris_adam']['ratio'] >= 150)}. The compiled function "
             f"alone takes {iris_raw * 1e6:.1f} µs of the {s['iris_adam']['tn'] * 1e6:.1f} µs"
             + (", so most of the step is the generated code, not the runtime's host path (staging, lookups)."
                if iris_raw >= 0.5 * s['iris_adam']['tn'] else
                ", so the runtime's host path (staging copies, lookups) is most of the step."))
    for n in ["mlp256_sgdm", "mlp256_adam"]:
        L.append(f"- **784-256-10 ≥ 1.4× faster, one thread** ({n.split('_')[1]}): {s[n]['ratio']:.2f}× "
                 f"(CPU time {s[n]['cpu_ratio']:.2f}×) — {met(s[n]['ratio'] >= 1.4)}.")
    for n in ["mlp512_sgdm", "mlp512_adam"]:
        frac = s[n]["gn"] / s[n]["ob"]
        L.append(f"- **784-512-512-10 ≥ 1.15× faster and ≥ 90% of the sgemm rate** ({n.split('_')[1]}): "
                 f"{s[n]['ratio']:.2f}× (CPU time {s[n]['cpu_ratio']:.2f}×) — {met(s[n]['ratio'] >= 1.15)}; "
                 f"{s[n]['gn']:.1f} GFLOP/s = {100 * frac:.0f}% of OpenBLAS on the step's own GEMMs "
                 f"({s[n]['ob']:.1f}) and {100 * s[n]['gn'] / sq1024:.0f}% of OpenBLAS sgemm 1024³ ({sq1024:.1f}) — "
                 f"{met(frac >= 0.9 and s[n]['gn'] / sq1024 >= 0.9)}.")
    sp = summary.get("threads", {})
    if sp:
        L.append("- **≥ 1.8× from 1 to 2 threads on the large models**: "
                 + "; ".join(f"{labels[n]}: {v:.2f}×" for n, v in sp.items())
                 + f" — {met(all(v >= 1.8 for v in sp.values()) and len(sp) == len(TWO_THREAD_MODELS))}"
                 + ("" if len(sp) == len(TWO_THREAD_MODELS) else
                    f" (not measured: {', '.join(labels[n] for n in TWO_THREAD_MODELS if n not in sp)})") + ".")
        gemm_bound = {n: v for n, v in sp.items() if n.startswith(("mlp512", "wide1024"))}
        if gemm_bound:
            L.append("- **≥ 1.8× from 1 to 2 threads on the GEMM-bound MLPs** (784-512-512-10, 1024-wide): "
                     + "; ".join(f"{labels[n]}: {v:.2f}×" for n, v in gemm_bound.items())
                     + f" — {met(all(v >= 1.8 for v in gemm_bound.values()))}.")
    else:
        L.append("- **≥ 1.8× from 1 to 2 threads on the large models**: not measured (these results have no nnc "
                 "two-thread runs).")
    low = min(mlp_ratios, key=lambda t: t[1]) if mlp_ratios else ("?", float("nan"))
    below = [c for c, v in mlp_ratios if v < 0.95]
    L.append(f"- **Generated GEMM ≥ 95% of OpenBLAS on the MLP shapes**: {len(mlp_ratios) - len(below)} of "
             f"{len(mlp_ratios)} shapes; lowest {100 * low[1]:.0f}% ({low[0]})"
             + (f"; below 95%: {', '.join(below)}" if below else "") + f" — {met(not below)}.")
    comps = [(s[n]["compile"], n) for n, *_ in models]
    L.append(f"- **JIT compile ≤ 150 ms cold**{' (object cache off)' if info.get('nnc_cache_off') else ''}: "
             f"{min(comps)[0] * 1e3:.0f}–{max(comps)[0] * 1e3:.0f} ms wall "
             f"({min(s[n]['compile_cpu'] for n, *_ in models) * 1e3:.0f}–"
             f"{max(s[n]['compile_cpu'] for n, *_ in models) * 1e3:.0f} ms CPU) — "
             f"{met(max(comps)[0] <= 0.15)}.")
    if s.get("conv_share"):
        low = min(s["conv_share"])
        below = [c for r, c in sorted(s["conv_share"]) if r < 0.75]
        L.append(f"- **Convolution products ≥ 75% of the sgemm rate**: lowest {100 * low[0]:.0f}% ({low[1]})"
                 + (f"; below 75%: {', '.join(below)}" if below else "") + f" — {met(not below)}.")
    for name, what, goal in [("cnn_sgdm", "bench CNN", 1.5), ("lenet_sgdm", "LeNet-5", 2.0),
                             ("vgg_sgdm", "small VGG", 1.2)]:
        if name not in s:
            continue
        L.append(f"- **{what} ≥ {goal}× PyTorch** (one thread, CPU time): {s[name]['cpu_ratio']:.2f}× "
                 f"({s[name]['ratio']:.2f}× wall) — {met(s[name]['cpu_ratio'] >= goal)}.")
    L.append(f"- Other models: wide 1024-1024-1024-10 {s['wide1024_sgdm']['ratio']:.2f}×; Fashion-MNIST "
             f"epoch, whole command: {summary['fashion'][1]['total_s'] / summary['fashion'][0]['total_s']:.2f}×"
             + (f"; Fashion-MNIST CNN epoch (training only): "
                f"{summary['fashion_cnn'][1]['epoch_s'] / summary['fashion_cnn'][0]['epoch_s']:.2f}×"
                if "fashion_cnn" in summary else "") + ".\n")
    L.append("![PyTorch / nnc step-time ratios](ratios.svg)\n")
    # The hand-written analysis of the missed targets (profiles), then the data-parallel figures of
    # bench/dist_bench.sh, stay at the end of the report.
    misses = os.path.join(BENCH, "misses.md")
    if os.path.exists(misses):
        L.append(open(misses).read())
    dist = os.path.join(BENCH, "distributed.md")
    if os.path.exists(dist):
        L.append(open(dist).read())
    open(a.out, "w").write("\n".join(L))
    svg_chart(chart, a.svg)


if __name__ == "__main__":
    main()
