#!/usr/bin/env bash
# Builds the libFuzzer targets in build/fuzz (clang-19, ASan + UBSan + libFuzzer) and runs each
# for a bounded time from a seed corpus made of the repository's own files; fails on the first
# crash, sanitizer report, timeout or out-of-memory, leaving the reproducer in build/fuzz/crashes/.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]     (default 30; $NNC_FUZZ_SECONDS also sets it)
#
# Seeds: .nn files of examples/, tests/golden/ and tests/diagnostics/; .nnir files of the same;
# examples/iris.csv and tests/data/*.csv; the IDX, .npy and .safetensors files under tests/data/
# and ones nnc writes (a checkpoint, predictions) during the run. A crash found once becomes a
# regression input under tests/fuzz/regressions/<target>/, which every run replays first.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-${NNC_FUZZ_SECONDS:-30}}
build=build/fuzz
jobs=$(nproc)

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# -O1 with line tables: sanitized code compiles much faster than at -O2 and still runs well.
cmake -S . -B "$build" -G Ninja -Wno-dev -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DCMAKE_CXX_COMPILER=clang++-19 \
  -DNNC_FUZZ=ON -DNNC_TESTS=OFF -DNNC_WERROR=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target nnc_fuzzers nnc

# Seed corpora, made fresh from the repository's files.
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{nn,nnir,csv,idx,npy,safetensors}
# (not the resource-limit tests: the def bomb expands to the 500,000-operation limit, which
# takes longer than the per-input timeout under the sanitizers)
find examples tests/golden tests/diagnostics -name '*.nn' ! -name 'limits-*' ! -name 'slow-*' -exec cp {} "$seeds/nn/" \;
find tests -name '*.nnir' -exec cp {} "$seeds/nnir/" \; 
cp examples/iris.csv "$seeds/csv/"
find tests/data -name '*.csv' -exec cp {} "$seeds/csv/" \; 2>/dev/null || true
find tests/data -name '*.idx*' -exec cp {} "$seeds/idx/" \; 2>/dev/null || true
find tests/data -name '*.npy' -exec cp {} "$seeds/npy/" \; 2>/dev/null || true
find tests/data -name '*.safetensors' -exec cp {} "$seeds/safetensors/" \; 2>/dev/null || true
# Files nnc itself writes: a checkpoint and predictions of Iris; IDX from the text below.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
NNC_CACHE=off ASAN_OPTIONS=detect_leaks=0 "$build/tools/nnc" train examples/iris.nn --data examples/iris.csv \
  --epochs 1 --quiet --save "$seeds/safetensors/iris.safetensors" >/dev/null
NNC_CACHE=off ASAN_OPTIONS=detect_leaks=0 "$build/tools/nnc" predict examples/iris.nn --data examples/iris.csv \
  --init-from "$seeds/safetensors/iris.safetensors" --out "$seeds/npy/probs.npy" >/dev/null
printf '\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03' > "$seeds/idx/labels.idx"
printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x00\x40\x80\xff' > "$seeds/idx/images.idx"
gzip -c "$seeds/idx/images.idx" > "$seeds/idx/images.idx.gz"

mkdir -p "$build/crashes"
status=0
for target in nn nnir csv idx npy safetensors; do
  bin=$build/tests/fuzz/fuzz_$target
  regressions=tests/fuzz/regressions/$target
  corpus=$build/corpus/$target
  mkdir -p "$corpus"
  # Known crashes first: each must now run clean.
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    ASAN_OPTIONS=detect_leaks=0 "$bin" -rss_limit_mb=4096 "$regressions"/* >/dev/null 2>"$build/fuzz_$target.regressions.log" ||
      { echo "fuzz_$target: a regression input fails again:"; tail -40 "$build/fuzz_$target.regressions.log"; status=1; continue; }
  fi
  max_len=4096
  [ "$target" = nn ] || [ "$target" = nnir ] || max_len=65536
  log=$build/fuzz_$target.log
  if ASAN_OPTIONS=detect_leaks=0 "$bin" -max_total_time="$seconds" -max_len=$max_len -timeout=20 \
       -rss_limit_mb=4096 -malloc_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/crashes/${target}-" "$corpus" "$seeds/$target" >"$log" 2>&1; then
    echo "fuzz_$target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds} s, no crash"
  else
    echo "fuzz_$target: FAILED (log $log); reproducer in $build/crashes/:"
    grep -m1 -E 'ERROR: |runtime error|deadly signal|timeout|out-of-memory' "$log" || tail -20 "$log"
    status=1
  fi
done
exit $status
