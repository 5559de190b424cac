#!/bin/bash
# Straight runs against runs stopped and resumed (tests/golden/train/resume.nn): prints one line
# per comparison, "same" when the checkpoints are byte-identical and the logs (every step's
# loss at full precision; the per-epoch CSV without its wall-time column) are identical.
# Usage: resume.sh NNC SCRATCH_DIR MODEL DATA [extra train flags...]
set -u
nnc=$1 dir=$2 model=$3 data=$4
shift 4
rm -rf "$dir" && mkdir -p "$dir"
train() { "$nnc" train "$model" --data "$data" --log-every 1 "$@"; }
compare() { # name, straight prefix, resumed prefix
  if cmp -s "$dir/$2.st" "$dir/$3.st" && diff -q <(grep '^step ' "$dir/$2.out") <(cat "$dir"/$3.out* | grep '^step ') >/dev/null &&
     diff -q <(cut -d, -f1-5 "$dir/$2.csv") <(cut -d, -f1-5 "$dir/$3.csv") >/dev/null; then
    echo "$1: same"
  else
    echo "$1: DIFFERENT"
  fi
}
train "$@" --epochs 3 --save "$dir/a.st" --log "$dir/a.csv" > "$dir/a.out" || echo "straight run failed"
# Stopped after 1 step, inside the second epoch, at an epoch's end and in the last epoch, as
# Ctrl-C during that step would; then resumed once to the end.
for n in 1 13 20 27; do
  NNC_STOP_AFTER_STEPS=$n train "$@" --epochs 3 --save "$dir/s$n.st" --log "$dir/s$n.csv" > "$dir/s$n.out1"
  echo "stopped after $n: exit $?"
  train "$@" --resume "$dir/s$n.st" --save "$dir/s$n.st" --log "$dir/s$n.csv" > "$dir/s$n.out2" || echo "resume failed"
  compare "after $n steps" a "s$n"
done
# Stopped twice: resumed runs can be stopped and resumed again.
NNC_STOP_AFTER_STEPS=7 train "$@" --epochs 3 --save "$dir/t.st" --log "$dir/t.csv" > "$dir/t.out1"
NNC_STOP_AFTER_STEPS=9 train "$@" --resume "$dir/t.st" --save "$dir/t.st" --log "$dir/t.csv" > "$dir/t.out2"
train "$@" --resume "$dir/t.st" --save "$dir/t.st" --log "$dir/t.csv" > "$dir/t.out3"
compare "stopped twice" a t
