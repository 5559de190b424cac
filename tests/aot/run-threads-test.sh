#!/usr/bin/env bash
# The threading contract of ahead-of-time objects (tests/CMakeLists.txt): examples/fashion_mlp.nn
# (its matrix products and large loops split at --threads 2) compiled at one and at two
# threads; three train steps on the same synthetic minibatch through the one-thread object, the
# two-thread object run serially (its default), and the two-thread object with a POSIX-threads
# parallel-for installed must give bitwise the same losses and state.
# Usage: run-threads-test.sh SOURCE_DIR NNC WORK_DIR
set -euo pipefail
src=$1 nnc=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
cc=${CC:-cc}
"$nnc" "$src/examples/fashion_mlp.nn" -o fm1.o --header fm1.h --prefix fm1 --threads 1 2> /dev/null
"$nnc" "$src/examples/fashion_mlp.nn" -o fm2.o --header fm2.h --prefix fm2 --threads 2 2> /dev/null
nm fm2.o | grep -q 'nnc_parallel_for' && grep -q '#define FM2_THREADS 2' fm2.h
cat > threads.c <<'C'
#include "fm1.h"
#include "fm2.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct task { nnc_parallel_body body; void *ctx; int64_t i; } task;
static int calls;
static void *run(void *p) {
  task *t = p;
  t->body(t->ctx, t->i);
  return NULL;
}
/* One thread per index; the caller runs index 0. */
static void threads_for(void *user, int64_t n, nnc_parallel_body body, void *ctx) {
  pthread_t th[64];
  task t[64];
  int64_t i;
  (void)user;
  ++calls;
  for (i = 1; i < n && i < 64; ++i) {
    t[i].body = body, t[i].ctx = ctx, t[i].i = i;
    if (pthread_create(&th[i], NULL, run, &t[i]) != 0)
      abort();
  }
  body(ctx, 0);
  for (i = 1; i < n && i < 64; ++i)
    pthread_join(th[i], NULL);
}

int main(void) {
  static float x[FM1_BATCH * FM1_X_PER_EXAMPLE];
  static int32_t y[FM1_BATCH];
  float loss[3][3], correct;
  fm1_state *s1 = aligned_alloc(64, sizeof(fm1_state));
  fm2_state *s2 = aligned_alloc(64, sizeof(fm2_state)), *s3 = aligned_alloc(64, sizeof(fm2_state));
  void *arena = aligned_alloc(64, FM2_ARENA_BYTES > FM1_ARENA_BYTES ? FM2_ARENA_BYTES : FM1_ARENA_BYTES);
  uint64_t r = 1;
  int i, step;
  if (!s1 || !s2 || !s3 || !arena)
    return 1;
  for (i = 0; i < FM1_BATCH * FM1_X_PER_EXAMPLE; ++i)
    x[i] = (float)((nnc_splitmix64(&r) >> 40) & 0xFF) / 255.f;
  for (i = 0; i < FM1_BATCH; ++i)
    y[i] = (int32_t)(nnc_splitmix64(&r) % 10);
  fm1_init_state(s1);
  fm2_init_state(s2);
  fm2_init_state(s3);
  for (step = 0; step < 3; ++step) {
    if (fm1_train_step(s1, FM1_BATCH, x, y, &loss[0][step], &correct, arena) ||
        fm2_train_step(s2, FM2_BATCH, x, y, &loss[1][step], &correct, arena))
      return 1;
    fm2_set_parallel_for(threads_for, NULL);
    if (fm2_train_step(s3, FM2_BATCH, x, y, &loss[2][step], &correct, arena))
      return 1;
    fm2_set_parallel_for(NULL, NULL);
    printf("step %d: losses %a %a %a\n", step, loss[0][step], loss[1][step], loss[2][step]);
  }
  if (calls == 0) {
    printf("FAIL: the two-thread object never called the parallel-for\n");
    return 1;
  }
  if (memcmp(loss[0], loss[1], sizeof loss[0]) || memcmp(loss[0], loss[2], sizeof loss[0]) ||
      memcmp(s1, s2, sizeof *s1) || memcmp(s1, s3, sizeof *s1)) {
    printf("FAIL: the results depend on the threads\n");
    return 1;
  }
  printf("%d parallel-for calls; losses and state bitwise equal\n", calls);
  return 0;
}
C
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -pthread -I. threads.c fm1.o fm2.o -lm -o threads
./threads
echo "PASS"
