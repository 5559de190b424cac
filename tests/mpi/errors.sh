#!/usr/bin/env bash
# Data-parallel runs stop together: an error on one process stops all of them with that error
# shown once (and never hangs: ctest's timeout would fail the test), a batch too small to split
# is a clear error, an interrupt on one process stops every process after the same step, with
# one checkpoint written, and a non-finite loss stops every process with the op that produced it
# (or, with --on-nonfinite=skip, skips that minibatch on every process).
#
# usage: errors.sh NNC SOURCE_DIR WORK_DIR
set -uo pipefail
nnc=$1 src=$2 work=$3
mkdir -p "$work"
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under AddressSanitizer (the ASan build of the tests) leak checking is off in the processes
# mpirun starts: Open MPI unloads its components at MPI_Finalize, so the memory they keep shows
# as leaks from unknown modules that no suppression can name. Memory errors are still caught;
# the Trainer's own leaks are checked by the one-process tests.
mpi_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
status=0
fail() { echo "FAIL: $*"; status=1; }
model=$src/examples/iris.nn data=$src/examples/iris.csv

# 1. Process 1 cannot read its data (MPMD launch: the second process gets another --data).
out=$(timeout 120 "${mpi_env[@]}" mpirun --oversubscribe -np 1 "$nnc" train "$model" --data "$data" --epochs 1 --quiet : \
      -np 1 "$nnc" train "$model" --data missing.csv --epochs 1 --quiet 2>&1)
rc=$?
echo "$out"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a data error on process 1: exit status $rc"
[ "$(grep -c 'error: process 1: .*missing.csv' <<<"$out")" = 1 ] || fail "the error of process 1 is not shown exactly once"

# 2. A minibatch smaller than the number of processes.
out=$(timeout 120 "${mpi_env[@]}" mpirun --oversubscribe -np 2 "$nnc" train "$model" --data "$data" --batch 1 --quiet 2>&1)
rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "--batch 1 over 2 processes: exit status $rc, expected 1"
[ "$(grep -c 'cannot be split over 2 processes' <<<"$out")" = 1 ] || fail "the batch error is not shown exactly once"

# 3. SIGINT to one process: all stop after the same step, rank 0 saves, the state is whole.
rm -f int.safetensors
"${mpi_env[@]}" mpirun --oversubscribe -np 2 "$nnc" train "$model" --data "$data" --epochs 1000000 --threads 1 \
  --quiet --save int.safetensors > int.log 2>&1 &
launcher=$!
ranks=""
for _ in $(seq 1 200); do
  ranks=$(pgrep -P "$launcher" || true) # the two nnc processes mpirun started
  [ "$(wc -w <<<"$ranks")" = 2 ] && grep -q '^training' int.log && break
  sleep 0.1
done
sleep 0.5 # rank 0 printed its first line: the handlers are in place (set just before it)
last=$(tail -n1 <<<"$ranks")
if [ -n "$last" ]; then
  kill -INT "$last"
else
  fail "the two processes did not start"
fi
# They must stop within a minute; otherwise end them and fail.
for _ in $(seq 1 600); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$launcher" 2>/dev/null; then
  kill -TERM "$launcher"
  fail "the interrupted run did not stop"
fi
wait "$launcher"
cat int.log
grep -q '^interrupted in epoch' int.log || fail "no interruption reported"
[ "$(grep -c '^saved int.safetensors' int.log)" = 1 ] || fail "not exactly one checkpoint written"
[ -s int.safetensors ] || fail "no checkpoint"
# 4. A non-finite loss: log(x - 2.5) is NaN for row 41 only (step 11 of 16 at batch 4, unshuffled).
cat > nan.nn <<'EOF2'
model nan {
  input  x : f32[B, 4]
  target y : i32[B]
  param W : f32[4, 3] = glorot_uniform
  z = log(x - 2.5)
  loss mean(softmax_cross_entropy(z @ W, y))
}
train {
  optimizer adam(lr = 0.01)
  batch 4
  shuffle false
}
EOF2
awk 'BEGIN { for (n = 0; n < 64; n++) { a = n == 41 ? 1.0 : 3.0 + (n % 7) * 0.25; print a ",3.5,4,4.5," n % 3 } }' > nan.csv
rm -f nan.safetensors
out=$(timeout 120 "${mpi_env[@]}" mpirun --oversubscribe -np 2 "$nnc" train nan.nn --data nan.csv --epochs 1 \
      --normalize none --threads 1 --quiet --save nan.safetensors 2>&1)
rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "a NaN loss over 2 processes: exit status $rc, expected 1"
[ "$(grep -c "nan.nn:5:7: error: 'log' produced NaN at step 11 (epoch 1)" <<<"$out")" = 1 ] ||
  fail "the NaN's op and step are not reported exactly once"
[ "$(grep -c 'note: saved the state before that step to nan.safetensors' <<<"$out")" = 1 ] ||
  fail "the state before the bad step is not saved exactly once"
[ -s nan.safetensors ] || fail "no checkpoint of the state before the bad step"
out=$(timeout 120 "${mpi_env[@]}" mpirun --oversubscribe -np 2 "$nnc" train nan.nn --data nan.csv --epochs 1 \
      --normalize none --threads 1 --quiet --on-nonfinite=skip 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "--on-nonfinite=skip over 2 processes: exit status $rc, expected 0"
[ "$(grep -c "warning: 'log' produced NaN at step 11 (epoch 1)" <<<"$out")" = 1 ] ||
  fail "the skipped minibatch is not reported exactly once"
exit $status
