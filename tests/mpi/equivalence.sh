#!/usr/bin/env bash
# Data-parallel training equals training in one process: for an MLP (Iris) and a CNN, with SGD
# (momentum) and Adam, `mpirun -np 2 nnc train` and `nnc train` with the same global minibatch
# must end with the same parameters and optimizer state within relative 1e-5 (the sums are
# taken in another order). Batches that split unevenly over the processes and a final partial
# minibatch are included, a run started from a checkpoint's weights (--init-from), and a run
# stopped mid-epoch on 2 processes and resumed there (--resume), which must end as the
# uninterrupted one-process run does. Dropout is off in these models. eval and predict of a
# checkpoint on 2 processes print and write what they do on one.
#
# usage: equivalence.sh NNC COMPARE_CHECKPOINTS SOURCE_DIR WORK_DIR
set -euo pipefail
nnc=$1 compare=$2 src=$3 work=$4
mkdir -p "$work"
cd "$work"
# As root (CI containers) Open MPI needs these; --oversubscribe lets 2 processes share fewer
# cores; shared-memory single copy needs ptrace rights that containers often withhold.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under AddressSanitizer (the ASan build of the tests) leak checking is off in the processes
# mpirun starts: Open MPI unloads its components at MPI_Finalize, so the memory they keep shows
# as leaks from unknown modules that no suppression can name. Memory errors are still caught;
# the Trainer's own leaks are checked by the one-process tests.
mpi_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
mpirun=("${mpi_env[@]}" mpirun --oversubscribe -np 2)

# 100 8x8 images of three classes: the class decides where a bright square sits.
awk 'BEGIN {
  srand(11);
  for (n = 0; n < 100; n++) {
    k = n % 3; line = "";
    for (i = 0; i < 8; i++) for (j = 0; j < 8; j++) {
      v = rand() * 0.3;
      if (i >= 2 * k && i < 2 * k + 3 && j >= 2 && j < 6) v += 0.7;
      line = line sprintf("%.4f,", v);
    }
    print line k;
  }
}' > cnn8.csv

status=0
run_case() { # name model data optimizer batch [more nnc train flags]
  local name=$1 model=$2 data=$3 optimizer=$4 batch=$5
  shift 5
  local args=(train "$model" --data "$data" --optimizer "$optimizer" --batch "$batch" --epochs 2
              --threads 1 --quiet "$@")
  "$nnc" "${args[@]}" --save "one-$name.safetensors" > "one-$name.log"
  "${mpirun[@]}" "$nnc" "${args[@]}" --save "two-$name.safetensors" > "two-$name.log"
  echo "== $name: 1 process vs 2 processes"
  if ! "$compare" "one-$name.safetensors" "two-$name.safetensors" 1e-5; then
    echo "FAIL: $name differs"; status=1
  fi
}
run_case mlp-adam "$src/examples/iris.nn" "$src/examples/iris.csv" adam 16   # 150 = 9*16 + 6
run_case mlp-sgd  "$src/examples/iris.nn" "$src/examples/iris.csv" momentum 15  # 8 + 7 rows
# eval and predict of a checkpoint on 2 processes print and write what one process does: eval
# runs each process's shard of every minibatch (8 + 8 rows, the final 6 as 3 + 3) and sums the
# totals, predict runs on rank 0; each compiles eval or predict alone, never the train step.
ev=("$src/examples/iris.nn" --data "$src/examples/iris.csv" --init-from one-mlp-adam.safetensors --threads 1)
one=$("$nnc" eval "${ev[@]}")
two=$("${mpirun[@]}" "$nnc" eval "${ev[@]}" --stats 2> two-eval.err)
echo "== eval: 1 process: $one; 2 processes: $two"
[ -n "$one" ] && [ "$one" = "$two" ] || { echo "FAIL: eval on 2 processes differs"; status=1; }
grep -q '^compiled: eval (batch ' two-eval.err && ! grep -q 'train_step' two-eval.err ||
  { echo "FAIL: eval on 2 processes compiled more than eval:"; cat two-eval.err; status=1; }
"$nnc" predict "${ev[@]}" --out one-probs.csv > /dev/null
"${mpirun[@]}" "$nnc" predict "${ev[@]}" --out two-probs.csv > /dev/null
echo "== predict: 1 process vs 2 processes"
[ -s one-probs.csv ] && cmp one-probs.csv two-probs.csv || { echo "FAIL: predict on 2 processes differs"; status=1; }
run_case cnn-sgd  "$src/tests/mpi/cnn8.nn" cnn8.csv momentum 16            # 100 = 6*16 + 4
# Started from a checkpoint's weights, which rank 0 reads and sends to the other process.
run_case mlp-init "$src/examples/iris.nn" "$src/examples/iris.csv" adam 16 --init-from one-mlp-adam.safetensors
run_case cnn-adam "$src/tests/mpi/cnn8.nn" cnn8.csv adam 13                # 7 + 6 rows, 9 left
# Stopped mid-epoch (the test hook's stop is carried by the next step's allreduce) and resumed
# with --resume on 2 processes: the position, optimizer state and counters continue the run.
iris=("$src/examples/iris.nn" --data "$src/examples/iris.csv" --optimizer adam --batch 16 --epochs 2 --threads 1 --quiet)
rc=0
NNC_STOP_AFTER_STEPS=5 "${mpirun[@]}" "$nnc" train "${iris[@]}" --save two-stopped.safetensors > two-stopped.log || rc=$?
echo "== mlp-resume: 1 process vs 2 processes stopped mid-epoch and resumed"
if [ $rc -ne 130 ]; then
  echo "FAIL: the stopped run exited with $rc, expected 130"; status=1
fi
"${mpirun[@]}" "$nnc" train "${iris[@]}" --resume two-stopped.safetensors --save two-resumed.safetensors > two-resumed.log
grep -q '^continuing at epoch 1, step 6 of 10' two-resumed.log || { echo "FAIL: not resumed at step 6"; status=1; }
if ! "$compare" one-mlp-adam.safetensors two-resumed.safetensors 1e-5; then
  echo "FAIL: the resumed run differs"; status=1
fi
exit $status
