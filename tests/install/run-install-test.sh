#!/usr/bin/env bash
# The package test (tests/CMakeLists.txt): installs the build into a temporary prefix, checks
# the layout (tool, libraries, headers under include/nnc/, package config), configures and
# builds tests/install/ — examples/train_api.cpp against find_package(nnc) — and runs it.
# Usage: run-install-test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/nnc include/nnc/runtime/train/Trainer.h include/nnc/ir/Ops.def include/nnc/support/Result.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: the install lacks $f"; exit 1; }
done
config=$(find "$prefix" -name nncConfig.cmake)
[ -n "$config" ] || { echo "FAIL: no nncConfig.cmake"; exit 1; }
[ -n "$(find "$prefix" -name 'libnnc_runtime.a')" ] || { echo "FAIL: no libnnc_runtime.a"; exit 1; }
"$prefix/bin/nnc" "$src/examples/iris.nn"

# The consumer: configured from a copy outside nnc's tree, so nothing of the tree is found.
cp -r "$src/tests/install" "$work/consumer"
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$work/consumer" -B "$work/consumer-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" -DNNC_EXAMPLES_DIR="$src/examples" > "$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer-build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
cd "$src"
out=$(NNC_CACHE_DIR="$work/cache" "$work/consumer-build/train_api" examples/iris.nn examples/iris.csv "$work/iris.safetensors" 60)
echo "$out"
echo "$out" | awk '/^final:/ { found = 1; acc = $7 + 0 } END { exit !(found && acc >= 90) }' ||
  { echo "FAIL: the installed library did not train Iris to 90%"; exit 1; }
test -s "$work/iris.safetensors"
echo "PASS"
