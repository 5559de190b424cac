#!/usr/bin/env bash
# add-op.sh SOURCE_DIR PATCH OP [WORK_DIR]: adds an elementwise op the way docs/EXTENDING.md says, in a
# copy of the tree, and proves that the documented places are enough and each is needed.
#
#   1. Copy the tree's files (git ls-files: tracked, and untracked ones not ignored) to a
#      temporary directory.
#   2. The patch must touch exactly the places that the table "A new elementwise op" of
#      docs/EXTENDING.md lists: no file outside the table, and every row marked `always`.
#   3. Apply it; build `nnc` and `nnc_op_tests` (the op-table, shape-rule, interpreter,
#      gradient-rule, codegen-differential and docs tests) there, Release, with ccache if present.
#   4. Run those tests; then, with the new op in a model (tests/extending/OP.nn), `nnc check`
#      (finite differences and forward mode against the reverse-mode gradient) and a short
#      `nnc train` on Iris that must learn.
#   5. Take back one concern at a time (the interpreter kernel, the gradient rule, the codegen
#      row, the test sample, the docs/IR.md row): each time the op tests must fail.
# Exit 0 when all of that holds. Needs git, cmake, ninja and the build's packages. WORK_DIR (ctest
# gives one in its build tree) is emptied first and kept afterwards, so that a failure can be
# looked at and, the paths being the same, ccache serves a rerun; without it a temporary
# directory is used and removed.
set -euo pipefail

src=$(cd "$1" && pwd)
patch_file=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
op=$3
model="$src/tests/extending/$op.nn"

fail() { echo "add-op: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

if [ -n "${4:-}" ]; then
  work=$4
  rm -rf "$work"
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/nnc-add-op.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
tree="$work/src"
mkdir -p "$tree"

step "copying the tree"
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || fail "$src is not a git checkout (the copy is made from git ls-files)"
(cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r tar -cf - --no-recursion) |
  tar -xf - -C "$tree"

step "checking that the patch touches exactly the places docs/EXTENDING.md lists"
# The rows of the table under "## A new elementwise op": | `path` | what | when |
section=$(awk '/^## A new elementwise op$/ { on = 1; next } /^## / { on = 0 } on' "$tree/docs/EXTENDING.md")
listed=$(printf '%s\n' "$section" | sed -n 's/^| `\([^`]*\)` |.*$/\1/p' | sort -u)
always=$(printf '%s\n' "$section" | sed -n 's/^| `\([^`]*\)` |.*| always |$/\1/p' | sort -u)
[ -n "$listed" ] || fail "docs/EXTENDING.md has no table under '## A new elementwise op'"
touched=$(sed -n 's|^+++ b/||p' "$patch_file" | sort -u)
[ -n "$touched" ] || fail "the patch touches no file"
unlisted=$(comm -23 <(printf '%s\n' "$touched") <(printf '%s\n' "$listed"))
[ -z "$unlisted" ] || fail "the patch edits places docs/EXTENDING.md does not list: $(echo $unlisted)"
untouched=$(comm -13 <(printf '%s\n' "$touched") <(printf '%s\n' "$always"))
[ -z "$untouched" ] || fail "the patch leaves out places docs/EXTENDING.md marks 'always': $(echo $untouched)"
echo "touched: $(echo $touched)"

step "applying the patch"
# The copy is a repository of its own: inside another one (a build tree in a checkout), git apply
# would take the patch's paths as the outer repository's and silently skip them.
git -C "$tree" init -q || fail "cannot make $tree a repository"
(cd "$tree" && git apply --whitespace=nowarn "$patch_file") || fail "the patch does not apply"
for f in $touched; do
  ! cmp -s "$src/$f" "$tree/$f" || fail "the patch was not applied to $f"
done
mkdir -p "$work/patched"
for f in $touched; do
  mkdir -p "$work/patched/$(dirname "$f")"
  cp "$tree/$f" "$work/patched/$f"
done

step "building nnc and nnc_op_tests"
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$tree"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
build="$tree/build/release"
cmake -S "$tree" -B "$build" -G Ninja -Wno-dev -DCMAKE_BUILD_TYPE=Release -DNNC_TESTS=ON "${launcher[@]}" >/dev/null
cmake --build "$build" --target nnc nnc_op_tests || fail "the tree with the new op does not build"
nnc="$build/tools/nnc"
op_tests="$build/tests/nnc_op_tests"

step "the op tests"
"$op_tests" >"$work/test.log" 2>&1 || { cat "$work/test.log"; fail "the op tests fail with the new op"; }
tail -n 2 "$work/test.log"
grep -Eq '^All tests passed \([0-9]+ assertions? in [1-9][0-9]* test cases?\)' "$work/test.log" ||
  fail "nnc_op_tests ran no test"

step "the new op in a model: nnc check and nnc train"
builtins=$("$nnc" --list-builtins) || fail "nnc --list-builtins fails"
grep -q "^  $op(" <<<"$builtins" || fail "'$op' is not a builtin"
(cd "$work" && "$nnc" check "$model") || fail "the gradient check of $model fails"
out=$(cd "$work" && "$nnc" train "$model" --data "$src/examples/iris.csv" --quiet) ||
  fail "training $model fails"
echo "$out"
echo "$out" | awk '/^final:/ { found = 1; acc = $7 + 0 } END { exit !(found && acc >= 80) }' ||
  fail "$model did not learn Iris (final train accuracy under 80%)"

step "each concern, taken back alone, fails the op tests"
for f in ir/Interpreter.cpp passes/training/GradRules.cpp codegen/ScalarOps.cpp tests/unit/ir_samples.h docs/IR.md; do
  printf '%s\n' "$touched" | grep -qx "$f" || fail "the patch does not touch $f"
  cp "$src/$f" "$tree/$f"
  rm -f "$work/build.log" "$work/test.log"
  if cmake --build "$build" --target nnc_op_tests >"$work/build.log" 2>&1 && "$op_tests" >"$work/test.log" 2>&1; then
    fail "without its change to $f the op tests still pass"
  fi
  # Why: the first failed check's message, or the first compiler error.
  why=$(awk '/with messages?:$/ { getline; sub(/^ +/, ""); print; exit }' "$work/test.log" 2>/dev/null || true)
  [ -n "$why" ] || why=$(grep -m1 'error:' "$work/build.log" 2>/dev/null || true)
  echo "without $f: the op tests fail, as they must (${why:-see $work})"
  cp "$work/patched/$f" "$tree/$f"
done
echo "add-op: $op added the documented way: builds, passes, and needs every place"
