#!/usr/bin/env bash
# Runs every benchmark, nnc side by side with PyTorch and OpenBLAS, and writes bench/RESULTS.md
# and bench/ratios.svg (about 12 minutes on a 2-core machine, plus the first build).
#   bench/run.sh            # set up (root or sudo), build Release in build/bench, run, write
#   bench/run.sh --quick    # one round, fewer repetitions: a smoke test (overwrites the results)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --bench
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DNNC_TESTS=OFF >/dev/null
cmake --build build/bench -j2 --target nnc nnc_bench gemm_bench
exec /usr/bin/python3 bench/run_all.py --build build/bench "$@"
