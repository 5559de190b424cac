#!/usr/bin/env bash
# Compile time against model size: MLPs of 1,000, 5,000 and 10,000 dense+relu layers compiled
# to --emit=opt (parse, lowering, autodiff, graph passes, kernel plan), each three times,
# interleaved; prints the median seconds and the time per layer.
#   bench/compile_scaling.sh [path/to/nnc]
set -euo pipefail
nnc=${1:-build/release/tools/nnc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sizes="1000 5000 10000"
for n in $sizes; do
  awk -v n=$n 'BEGIN { print "model deep {\n  input x : f32[B, 16]\n  target y : i32[B]\n  h0 = x"
    for (i = 1; i <= n; i++) printf "  h%d = relu(dense(h%d, 16))\n", i, i - 1
    printf "  loss mean(softmax_cross_entropy(dense(h%d, 3), y))\n}\n", n }' > "$dir/$n.nn"
done
for r in 1 2 3; do
  for n in $sizes; do
    s=$EPOCHREALTIME
    "$nnc" "$dir/$n.nn" --emit=opt > /dev/null
    echo "$n $s $EPOCHREALTIME" >> "$dir/times"
  done
done
echo "layers  median s  ms/layer"
awk 'function med(a, b, c) { return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b)) }
     { t[$1, ++k[$1]] = $3 - $2 }
     END { split("1000 5000 10000", n, " ")
           for (i = 1; i <= 3; i++) { m = med(t[n[i], 1], t[n[i], 2], t[n[i], 3]); printf "%6d  %8.2f  %8.3f\n", n[i], m, 1000 * m / n[i] } }' "$dir/times"
