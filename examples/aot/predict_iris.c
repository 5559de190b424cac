/* predict_iris.c: loads a checkpoint written by `nnc train --save` into the state of the Iris
 * object and predicts, in plain C11.
 *
 *   nnc train examples/iris.nn --data examples/iris.csv --save iris.safetensors
 *   nnc examples/iris.nn -o iris.o --header iris.h --examples 150
 *   cc -std=c11 -O2 -I. examples/aot/predict_iris.c iris.o -lm -o predict_iris
 *   ./predict_iris iris.safetensors examples/iris.csv probs.npy
 *
 * Every state buffer of the header's table is read from the checkpoint by name (dtype and size
 * checked). The features are prepared with the standardization stored in the checkpoint, as
 * `nnc predict` prepares them, and the class probabilities of every example are written as a
 * float32 .npy file laid out as `nnc predict --out probs.npy` writes it; the accuracy against
 * the labels is printed.
 */
#include "iris.h"
#include "iris_data.h"
#include "safetensors_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dtype_name(nnc_dtype d) {
  switch (d) {
  case NNC_F32: return "F32";
  case NNC_F64: return "F64";
  case NNC_I32: return "I32";
  case NNC_BOOL: return "BOOL";
  }
  return "?";
}

/* Copies every state buffer of the table from the checkpoint into *state. */
static int load_state(const st_file *f, const char *path, iris_state *state) {
  int i;
  for (i = 0; i < IRIS_NUM_BUFFERS; ++i) {
    const nnc_buffer *b = &iris_buffers[i];
    const st_tensor *t;
    if (b->role != NNC_PARAMETER && b->role != NNC_STATE)
      continue;
    t = st_find(f, b->name);
    if (!t) {
      fprintf(stderr, "%s: the checkpoint has no tensor '%s'\n", path, b->name);
      return -1;
    }
    if (strcmp(t->dtype, dtype_name(b->dtype)) != 0 || t->end - t->begin != b->bytes) {
      fprintf(stderr, "%s: tensor '%s' is %s of %llu bytes, the model's is %s of %llu\n", path, b->name, t->dtype,
              (unsigned long long)(t->end - t->begin), dtype_name(b->dtype), (unsigned long long)b->bytes);
      return -1;
    }
    memcpy((char *)state + b->offset, f->data + t->begin, b->bytes);
  }
  return 0;
}

/* The feature map stored with the checkpoint; 0 when present. */
static int load_transform(const st_file *f, int64_t features, float *shift, float *factor) {
  const st_tensor *s = st_find(f, "nnc:feature_shift"), *k = st_find(f, "nnc:feature_factor");
  size_t bytes = sizeof(float) * (size_t)features;
  if (!s || !k || strcmp(s->dtype, "F32") != 0 || strcmp(k->dtype, "F32") != 0 || s->end - s->begin != bytes ||
      k->end - k->begin != bytes)
    return -1;
  memcpy(shift, f->data + s->begin, bytes);
  memcpy(factor, f->data + k->begin, bytes);
  return 0;
}

/* A float32 .npy file of shape (rows, cols), with the header padded to 64 bytes as nnc pads it. */
static int write_npy(const char *path, const float *values, int64_t rows, int64_t cols) {
  char dict[128];
  unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
  size_t len, header;
  FILE *out = fopen(path, "wb");
  if (!out)
    return -1;
  snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }", (long long)rows,
           (long long)cols);
  len = strlen(dict);
  header = (10 + len + 1 + 63) / 64 * 64 - 10;
  memset(dict + len, ' ', header - len - 1);
  dict[header - 1] = '\n';
  preamble[8] = (unsigned char)(header & 0xFF);
  preamble[9] = (unsigned char)(header >> 8);
  fwrite(preamble, 1, sizeof preamble, out);
  fwrite(dict, 1, header, out);
  fwrite(values, sizeof(float), (size_t)(rows * cols), out);
  return fclose(out) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  iris_data data;
  st_file checkpoint;
  float shift[IRIS_DATA_MAX_FEATURES], factor[IRIS_DATA_MAX_FEATURES], *probs;
  iris_state *state = aligned_alloc(64, sizeof(iris_state));
  void *arena = aligned_alloc(64, IRIS_ARENA_BYTES);
  int64_t first, r, k, right = 0;

  if (argc != 4) {
    fprintf(stderr, "usage: %s checkpoint.safetensors iris.csv probs.npy\n", argv[0]);
    return 2;
  }
  if (!state || !arena || st_open(argv[1], &checkpoint) != 0 || load_state(&checkpoint, argv[1], state) != 0 ||
      iris_data_read(argv[2], &data) != 0)
    return 1;
  if (data.features != IRIS_X_PER_EXAMPLE) {
    fprintf(stderr, "%s has %lld features per example, the model takes %d\n", argv[2], (long long)data.features,
            IRIS_X_PER_EXAMPLE);
    return 1;
  }
  if (load_transform(&checkpoint, data.features, shift, factor) != 0)
    iris_data_fit_standardization(&data, shift, factor); /* what nnc predict does without one */
  iris_data_apply(&data, shift, factor);
  memset(arena, 0, IRIS_ARENA_BYTES);
  probs = malloc(sizeof(float) * (size_t)(data.rows * IRIS_PROBS_PER_EXAMPLE));

  for (first = 0; first < data.rows; first += IRIS_BATCH) {
    int64_t rows = data.rows - first < IRIS_BATCH ? data.rows - first : IRIS_BATCH;
    if (iris_predict(state, rows, &data.x[first * IRIS_X_PER_EXAMPLE], &probs[first * IRIS_PROBS_PER_EXAMPLE],
                     arena) != 0) {
      fprintf(stderr, "no predict compiled for a batch of %lld rows: compile with --examples %lld\n", (long long)rows,
              (long long)data.rows);
      return 1;
    }
  }
  for (r = 0; r < data.rows; ++r) {
    int64_t best = 0;
    for (k = 1; k < IRIS_PROBS_PER_EXAMPLE; ++k)
      if (probs[r * IRIS_PROBS_PER_EXAMPLE + k] > probs[r * IRIS_PROBS_PER_EXAMPLE + best])
        best = k;
    right += best == data.y[r];
  }
  if (write_npy(argv[3], probs, data.rows, IRIS_PROBS_PER_EXAMPLE) != 0) {
    fprintf(stderr, "cannot write '%s'\n", argv[3]);
    return 1;
  }
  printf("wrote 'probs' for %lld examples to %s; accuracy %.2f%%\n", (long long)data.rows, argv[3],
         100.0 * (double)right / (double)data.rows);
  free(probs);
  free(arena);
  free(state);
  st_close(&checkpoint);
  iris_data_free(&data);
  return 0;
}
