#!/usr/bin/env python3
"""Data-parallel scaling: steps/s of 1 process x 2 threads against 2 processes x 1 thread on the
bench models (interleaved rounds, medians), the time each step spends in its allreduce, and
MPI_Allreduce alone by message size. Writes bench/distributed.md and puts it at the end of
bench/RESULTS.md (bench/run_all.py keeps it there). Needs nnc built with MPI.

    bench/dist_bench.sh                 # build dist_bench in build/bench, run, write
"""
import json, os, statistics, subprocess, sys, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench")
ROUNDS = int(os.environ.get("DIST_ROUNDS", "3"))
STEPS = os.environ.get("DIST_STEPS", "100")
BIN = os.path.join(BUILD, "bench", "dist_bench")
MODELS = [("iris_adam", 4, 3), ("mlp256_sgdm", 784, 10), ("mlp512_sgdm", 784, 10),
          ("wide1024_sgdm", 1024, 10), ("cnn_sgdm", 784, 10)]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none")
MPIRUN = ["mpirun", "--oversubscribe", "-np", "2"]


def run(cmd):
    out = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    res = {m: {"one": [], "two": []} for m, *_ in MODELS}
    for r in range(ROUNDS):
        for name, f, c in MODELS:
            args = [f"bench/models/{name}.nn", "--features", str(f), "--classes", str(c), "--steps", STEPS]
            res[name]["one"] += run([BIN] + args + ["--threads", "2"])
            res[name]["two"] += run(MPIRUN + [BIN] + args + ["--threads", "1"])
            print(f"round {r + 1}: {name}", file=sys.stderr)
    sizes = run(MPIRUN + [BIN, "--allreduce"])
    load = os.getloadavg()
    L = ["<!-- distributed: written by bench/dist_bench.py -->",
         "## Data-parallel: 1 process × 2 threads against 2 processes × 1 thread (MPI)\n",
         f"{datetime.date.today()}, `bench/dist_bench.sh`: {ROUNDS} interleaved rounds of {STEPS} steps per "
         "configuration, medians; synthetic data, the model's own batch (the global batch, split 2 ways). "
         f"**The machine was loaded by other builds** (load average {load[0]:.1f} on 2 cores at the end of the "
         "run), so the 2-process figures mostly show the cost of waiting for a descheduled peer at every step, "
         "not the transfer (see the allreduce table below and docs/DISTRIBUTED.md).\n",
         "| model | gradient bytes | 1×2 steps/s | 2×1 steps/s | 2×1 / 1×2 | allreduce ms/step (2×1) | of the step |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, *_ in MODELS:
        one, two = res[name]["one"], res[name]["two"]
        s1 = statistics.median(j["steps_per_s"] for j in one)
        s2 = statistics.median(j["steps_per_s"] for j in two)
        ar = statistics.median(j["allreduce_ms_per_step"] for j in two)
        ms = statistics.median(j["ms_per_step"] for j in two)
        L.append(f"| {name} | {two[0]['allreduce_bytes']:,} | {s1:.0f} | {s2:.0f} | {s2 / s1:.2f}× | {ar:.2f} | "
                 f"{100 * ar / ms:.0f}% |")
    L += ["", "MPI_Allreduce alone (2 processes, shared memory, both ready: a barrier before each call; median):\n",
          "| bytes | µs |", "| ---: | ---: |"]
    for j in sizes:
        L.append(f"| {j['allreduce_bytes']:,} | {j['median_us']:.1f} |")
    text = "\n".join(L) + "\n"
    open(os.path.join(ROOT, "bench", "distributed.md"), "w").write(text)
    results = os.path.join(ROOT, "bench", "RESULTS.md")
    body = open(results).read()
    mark = "<!-- distributed:"
    if mark in body:
        body = body[:body.index(mark)]
    open(results, "w").write(body.rstrip("\n") + "\n\n" + text)
    json.dump({"rounds": res, "allreduce": sizes, "load": load},
              open(os.path.join(ROOT, "bench", "distributed.json"), "w"), indent=1)
    print(text)


main()
