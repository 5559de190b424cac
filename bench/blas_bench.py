#!/usr/bin/python3
"""sgemm rates through NumPy (OpenBLAS), one thread: the yardstick for nnc's GEMM and steps.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/blas_bench.py [--cases bench/gemm_cases.txt]
        [--model NAME:FEATURES:FILE.nn ...] [--samples 15] [--cpu-time]

Prints JSON lines: the BLAS library NumPy loaded; one object per case of the cases file
(label M N K flags as gemm_bench reads them; flags 1 = op(A) = Aᵀ, 2 = op(B) = Bᵀ, passed to
sgemm as transposed views); and, per --model, the rate of the train step's matrix products
(nnmodel.step_gemms) run back to back, i.e. what the step's GEMMs alone cost through OpenBLAS.
Each sample repeats the call(s) to last at least 20 ms; medians over the samples. With
--cpu-time the samples are timed by the thread's CPU clock (as gemm_bench --cpu-time), which
other processes on a loaded machine do not advance.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402  (after the thread setting)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nnmodel import parse_model, step_gemms  # noqa: E402


clock = time.perf_counter


def operands(m, n, k, flags, rng):
    a = rng.uniform(-1, 1, (k, m) if flags & 1 else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if flags & 2 else (k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    return (a.T if flags & 1 else a), (b.T if flags & 2 else b), c


def rate(calls, flops, samples):
    for f in calls:
        f()
    reps = 1
    while True:
        start = clock()
        for _ in range(reps):
            for f in calls:
                f()
        if clock() - start >= 0.02:
            break
        reps *= 2
    rates = []
    for _ in range(samples):
        start = clock()
        for _ in range(reps):
            for f in calls:
                f()
        rates.append(flops * reps / (clock() - start) / 1e9)
    rates.sort()
    return rates[len(rates) // 2], rates[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--cpu-time", action="store_true")
    a = ap.parse_args()
    if a.cpu_time:
        global clock
        clock = time.thread_time
    rng = np.random.default_rng(1)
    np.matmul(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32))
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line and ".so" in line})
    print(json.dumps({"blas_libraries": libs, "numpy": np.__version__,
                      "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)
    if a.cases:
        for line in open(a.cases):
            if not line.strip() or line.startswith("#"):
                continue
            label, m, n, k, flags = line.split()
            m, n, k, flags = int(m), int(n), int(k), int(flags)
            x, y, c = operands(m, n, k, flags, rng)
            med, best = rate([lambda: np.matmul(x, y, out=c)], 2.0 * m * n * k, a.samples)
            print(json.dumps({"case": label, "M": m, "N": n, "K": k, "flags": flags,
                              "median_gflops": round(med, 2), "best_gflops": round(best, 2)}), flush=True)
    for spec in a.model:
        name, features, path = spec.split(":", 2)
        model = parse_model(open(path).read())
        calls, flops = [], 0.0
        for _, m, n, k, flags in step_gemms(int(features), model["layers"], model["batch"]):
            x, y, c = operands(m, n, k, flags, rng)
            calls.append(lambda x=x, y=y, c=c: np.matmul(x, y, out=c))
            flops += 2.0 * m * n * k
        med, best = rate(calls, flops, max(5, a.samples // 2))
        print(json.dumps({"model": name, "step_gflop": flops / 1e9, "median_gflops": round(med, 2),
                          "best_gflops": round(best, 2)}), flush=True)


if __name__ == "__main__":
    main()
