#!/usr/bin/env bash
# Data-parallel scaling over MPI (bench/dist_bench.py): builds dist_bench (Release, build/bench)
# and writes bench/distributed.md, also appended to bench/RESULTS.md. Needs Open MPI
# (tools/setup.sh installs it). About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DNNC_TESTS=OFF -DNNC_MPI=ON >/dev/null
cmake --build build/bench -j2 --target dist_bench
exec /usr/bin/python3 bench/dist_bench.py build/bench
