#!/usr/bin/env bash
# The ahead-of-time test (tests/CMakeLists.txt): compiles examples/iris.nn to an object and a
# header, builds the two C programs of examples/aot/ with `cc` alone, and requires
#  - that neither program links LLVM, libstdc++ or any nnc library (ldd);
#  - the loss of every train step to equal the JIT's bitwise (jit_step_losses: same seed, data
#    order and thread count), and the final loss and accuracy to equal `nnc train`'s;
#  - the predictions from a checkpoint of `nnc train --save` to equal `nnc predict`'s, byte for byte;
#  - two models (two prefixes) to link into one program, with a convolutional one (its objects
#    carry the convolution and batch-norm routines) that trains two steps there.
# Usage: run-aot-test.sh SOURCE_DIR NNC JIT_STEP_LOSSES WORK_DIR
set -euo pipefail
src=$1 nnc=$2 jit_losses=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export NNC_CACHE_DIR="$work/cache" # fresh: nothing compiled elsewhere is reused
cc=${CC:-cc}
cflags=(-std=c11 -O2 -Wall -Wextra -pedantic -Werror -I. -I"$src/examples/aot")

"$nnc" "$src/examples/iris.nn" -o iris.o --header iris.h --examples 150 2> nnc-warnings.txt
"$cc" "${cflags[@]}" "$src/examples/aot/train_iris.c" iris.o -lm -o train_iris
"$cc" "${cflags[@]}" "$src/examples/aot/predict_iris.c" iris.o -lm -o predict_iris
for program in train_iris predict_iris; do
  if ldd "$program" | grep -Ei 'llvm|stdc\+\+|nnc'; then
    echo "FAIL: $program links more than libc and libm"; exit 1
  fi
done

# Training: every step's loss bitwise, then the summary line of nnc train.
./train_iris "$src/examples/iris.csv" aot-losses.txt > aot-train.txt
"$jit_losses" "$src/examples/iris.nn" "$src/examples/iris.csv" > jit-losses.txt
steps=$(wc -l < jit-losses.txt)
[ "$steps" -eq 2000 ] || { echo "FAIL: expected 2000 JIT steps, got $steps"; exit 1; }
if ! cmp aot-losses.txt jit-losses.txt; then
  echo "FAIL: the object's losses differ from the JIT's:"; diff aot-losses.txt jit-losses.txt | head; exit 1
fi
"$nnc" train "$src/examples/iris.nn" --data "$src/examples/iris.csv" --threads 1 --save iris.safetensors > jit-train.txt
want=$(grep '^final:' jit-train.txt)
got=$(grep '^final:' aot-train.txt)
echo "nnc train:  $want"; echo "train_iris: $got"
[ "$want" = "$got" ] || { echo "FAIL: the summaries differ"; exit 1; }

# Prediction from the checkpoint: the .npy files are equal byte for byte.
./predict_iris iris.safetensors "$src/examples/iris.csv" aot-probs.npy
"$nnc" predict "$src/examples/iris.nn" --init-from iris.safetensors --data "$src/examples/iris.csv" --out jit-probs.npy
cmp aot-probs.npy jit-probs.npy || { echo "FAIL: the predictions differ from nnc predict's"; exit 1; }

# Two models in one program: iris under two prefixes (one portable, x86-64), regress, and the
# Fashion-MNIST CNN (convolutions, batch norm, pooling) taking two steps on a made-up batch.
"$nnc" "$src/examples/iris.nn" -o iris2.o --header iris2.h --prefix iris2 --target-cpu x86-64
"$nnc" "$src/examples/regress.nn" -o regress.o --header regress.h
"$nnc" "$src/examples/fashion_cnn.nn" -o cnn.o --header cnn.h --prefix cnn 2>> nnc-warnings.txt
cat > two.c <<'C'
#include "iris.h"
#include "iris2.h"
#include "regress.h"
#include "cnn.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  iris_state *a = aligned_alloc(64, sizeof(iris_state));
  iris2_state *b = aligned_alloc(64, sizeof(iris2_state));
  regress_state *r = aligned_alloc(64, sizeof(regress_state));
  if (!a || !b || !r)
    return 1;
  iris_init_state(a);
  iris2_init_state(b);
  regress_init_state(r);
  /* The same seed gives the same initial parameters in both iris objects. */
  if (memcmp(a->V, b->V, sizeof a->V) != 0)
    return 1;
  {
    static float x[IRIS_BATCH * IRIS_X_PER_EXAMPLE], p1[IRIS_BATCH * IRIS_PROBS_PER_EXAMPLE],
        p2[IRIS_BATCH * IRIS_PROBS_PER_EXAMPLE], rx[REGRESS_BATCH * REGRESS_X_PER_EXAMPLE],
        rt[REGRESS_BATCH * REGRESS_T_PER_EXAMPLE], loss;
    void *arena = aligned_alloc(64, IRIS_ARENA_BYTES + IRIS2_ARENA_BYTES + REGRESS_ARENA_BYTES);
    int i;
    if (!arena || iris_predict(a, IRIS_BATCH, x, p1, arena) || iris2_predict(b, IRIS_BATCH, x, p2, arena) ||
        regress_train_step(r, REGRESS_BATCH, rx, rt, &loss, arena))
      return 1;
    for (i = 0; i < IRIS_BATCH * IRIS_PROBS_PER_EXAMPLE; ++i) /* both give probabilities */
      if (!(p1[i] > 0 && p1[i] < 1 && p2[i] > 0 && p2[i] < 1))
        return 1;
    if (!(loss >= 0))
      return 1;
    free(arena);
  }
  {
    /* Two CNN steps: finite, positive losses, and the weights move. */
    static float x[CNN_BATCH * 28 * 28];
    static int32_t y[CNN_BATCH];
    cnn_state *c = aligned_alloc(64, sizeof(cnn_state));
    void *arena = aligned_alloc(64, CNN_ARENA_BYTES);
    float loss[2], correct, before;
    int i;
    if (!c || !arena)
      return 1;
    memset(arena, 0, CNN_ARENA_BYTES);
    cnn_init_state(c);
    before = c->b2_conv2d_2_weight[7];
    for (i = 0; i < CNN_BATCH * 28 * 28; ++i)
      x[i] = (float)((i * 37) % 101) / 100.0f;
    for (i = 0; i < CNN_BATCH; ++i)
      y[i] = i % 10;
    for (i = 0; i < 2; ++i)
      if (cnn_train_step(c, CNN_BATCH, x, y, &loss[i], &correct, arena))
        return 1;
    if (!(isfinite(loss[0]) && loss[0] > 0 && isfinite(loss[1]) && loss[1] > 0) || c->b2_conv2d_2_weight[7] == before)
      return 1;
    printf("cnn: losses %.4f %.4f\n", loss[0], loss[1]);
    free(arena);
    free(c);
  }
  printf("models: iris %d buffers, iris2 %d, regress %d\n", IRIS_NUM_BUFFERS, IRIS2_NUM_BUFFERS, REGRESS_NUM_BUFFERS);
  free(a);
  free(b);
  free(r);
  return 0;
}
C
"$cc" "${cflags[@]}" two.c iris.o iris2.o regress.o cnn.o -lm -o two
./two
echo "PASS"
