/* train_iris.c: trains examples/iris.nn through its ahead-of-time object, in plain C11.
 *
 *   nnc examples/iris.nn -o iris.o --header iris.h --examples 150
 *   cc -std=c11 -O2 -I. examples/aot/train_iris.c iris.o -lm -o train_iris
 *   ./train_iris examples/iris.csv [losses.txt]
 *
 * It does what `nnc train examples/iris.nn --data examples/iris.csv` does: the same initial
 * state (iris_init_state), standardized features, the same shuffled order each epoch, every
 * example once per epoch (the final partial batch through the functions compiled for it), then
 * the loss and accuracy over the training set. With a second argument it writes the loss of
 * every train step there, one C99 hex float per line, for a bitwise comparison.
 */
#include "iris.h"
#include "iris_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  iris_data data;
  float shift[IRIS_DATA_MAX_FEATURES], factor[IRIS_DATA_MAX_FEATURES];
  float x[IRIS_BATCH * IRIS_X_PER_EXAMPLE], loss, correct, probs[IRIS_BATCH * IRIS_PROBS_PER_EXAMPLE];
  int32_t y[IRIS_BATCH];
  double loss_sum = 0, correct_sum = 0;
  int64_t *order, epoch, first, r;
  FILE *losses = NULL;
  iris_state *state = aligned_alloc(64, sizeof(iris_state));
  void *arena = aligned_alloc(64, IRIS_ARENA_BYTES);

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s iris.csv [losses.txt]\n", argv[0]);
    return 2;
  }
  if (!state || !arena || iris_data_read(argv[1], &data) != 0)
    return 1;
  if (data.features != IRIS_X_PER_EXAMPLE || data.rows != IRIS_EXAMPLES) {
    fprintf(stderr, "the object was compiled for %d examples of %d features; %s has %lld of %lld\n",
            IRIS_EXAMPLES, IRIS_X_PER_EXAMPLE, argv[1], (long long)data.rows, (long long)data.features);
    return 1;
  }
  if (argc == 3 && !(losses = fopen(argv[2], "w"))) {
    fprintf(stderr, "cannot write '%s'\n", argv[2]);
    return 1;
  }
  iris_data_fit_standardization(&data, shift, factor);
  iris_data_apply(&data, shift, factor);
  memset(arena, 0, IRIS_ARENA_BYTES);
  iris_init_state(state);
  order = malloc(sizeof(int64_t) * (size_t)data.rows);

  for (epoch = 0; epoch < IRIS_EPOCHS; ++epoch) {
    if (IRIS_SHUFFLE)
      nnc_shuffled_order(IRIS_SEED, (uint64_t)epoch, data.rows, order);
    else
      for (r = 0; r < data.rows; ++r)
        order[r] = r;
    for (first = 0; first < data.rows; first += IRIS_BATCH) {
      int64_t rows = data.rows - first < IRIS_BATCH ? data.rows - first : IRIS_BATCH;
      for (r = 0; r < rows; ++r) {
        memcpy(&x[r * IRIS_X_PER_EXAMPLE], &data.x[order[first + r] * IRIS_X_PER_EXAMPLE],
               sizeof(float) * IRIS_X_PER_EXAMPLE);
        y[r] = data.y[order[first + r]];
      }
      if (iris_train_step(state, rows, x, y, &loss, &correct, arena) != 0) {
        fprintf(stderr, "no train step compiled for %lld rows\n", (long long)rows);
        return 1;
      }
      if (losses)
        fprintf(losses, "%a\n", (double)loss);
    }
  }

  /* The loss and accuracy over the training set, in order, as nnc train reports them. */
  for (first = 0; first < data.rows; first += IRIS_BATCH) {
    int64_t rows = data.rows - first < IRIS_BATCH ? data.rows - first : IRIS_BATCH;
    if (iris_eval(state, rows, &data.x[first * IRIS_X_PER_EXAMPLE], &data.y[first], &loss, &correct, probs,
                  arena) != 0)
      return 1;
    loss_sum += (double)loss * (double)rows;
    correct_sum += correct;
  }
  printf("final: train loss %.4f  train accuracy %.2f%%\n", loss_sum / (double)data.rows,
         100.0 * correct_sum / (double)data.rows);
  if (losses)
    fclose(losses);
  free(order);
  free(arena);
  free(state);
  iris_data_free(&data);
  return 0;
}
