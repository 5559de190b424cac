/* iris_data.h: reading examples/iris.csv in plain C11 exactly as nnc reads it.
 *
 * nnc's CSV loader (runtime/data/CsvLoader.cpp) skips a header line, parses each feature as a
 * double and rounds it to float, and numbers the class names in the order they first appear.
 * `nnc train` then standardizes each feature with the training set's mean and population
 * standard deviation, accumulated in double (runtime/data/Preprocess.cpp); `nnc predict` applies
 * the shift and factor stored in the checkpoint instead. These functions do the same, so a
 * program built on an nnc object sees bitwise the features nnc's JIT sees.
 */
#ifndef IRIS_DATA_H
#define IRIS_DATA_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IRIS_DATA_MAX_ROWS 4096
#define IRIS_DATA_MAX_FEATURES 64
#define IRIS_DATA_MAX_CLASSES 64

typedef struct iris_data {
  int64_t rows, features, classes;
  float *x;      /* rows * features, row-major */
  int32_t *y;    /* rows class indices, in order of first appearance */
  char class_names[IRIS_DATA_MAX_CLASSES][64];
} iris_data;

/* Reads a CSV file of numeric features with the class name in the last column. Returns 0, or
   prints what is wrong and returns -1. */
static int iris_data_read(const char *path, iris_data *d) {
  char line[4096];
  int64_t lineno = 0;
  FILE *f = fopen(path, "r");
  memset(d, 0, sizeof *d);
  if (!f) {
    fprintf(stderr, "cannot open '%s'\n", path);
    return -1;
  }
  d->x = malloc(sizeof(float) * IRIS_DATA_MAX_ROWS * IRIS_DATA_MAX_FEATURES);
  d->y = malloc(sizeof(int32_t) * IRIS_DATA_MAX_ROWS);
  if (!d->x || !d->y) {
    fclose(f);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char *fields[IRIS_DATA_MAX_FEATURES + 1], *p = line, *end;
    int64_t n = 0, j, c;
    ++lineno;
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line)
      continue;
    while (n <= IRIS_DATA_MAX_FEATURES) {
      fields[n++] = p;
      p = strchr(p, ',');
      if (!p)
        break;
      *p++ = '\0';
    }
    if (n < 2 || n - 1 > IRIS_DATA_MAX_FEATURES) {
      fprintf(stderr, "%s:%lld: expected features and a label\n", path, (long long)lineno);
      fclose(f);
      return -1;
    }
    strtod(fields[0], &end);
    if (end == fields[0] || *end) { /* not a number: the header line */
      if (d->rows == 0 && lineno == 1)
        continue;
      fprintf(stderr, "%s:%lld: '%s' is not a number\n", path, (long long)lineno, fields[0]);
      fclose(f);
      return -1;
    }
    if (d->features == 0)
      d->features = n - 1;
    if (n - 1 != d->features || d->rows == IRIS_DATA_MAX_ROWS) {
      fprintf(stderr, "%s:%lld: expected %lld features\n", path, (long long)lineno, (long long)d->features);
      fclose(f);
      return -1;
    }
    for (j = 0; j < d->features; ++j) {
      double v = strtod(fields[j], &end);
      if (end == fields[j] || *end) {
        fprintf(stderr, "%s:%lld: '%s' is not a number\n", path, (long long)lineno, fields[j]);
        fclose(f);
        return -1;
      }
      d->x[d->rows * d->features + j] = (float)v;
    }
    for (c = 0; c < d->classes && strcmp(d->class_names[c], fields[n - 1]) != 0; ++c)
      ;
    if (c == d->classes) {
      if (d->classes == IRIS_DATA_MAX_CLASSES) {
        fprintf(stderr, "%s:%lld: too many classes\n", path, (long long)lineno);
        fclose(f);
        return -1;
      }
      snprintf(d->class_names[c], sizeof d->class_names[c], "%s", fields[n - 1]);
      ++d->classes;
    }
    d->y[d->rows++] = (int32_t)c;
  }
  fclose(f);
  return d->rows > 0 ? 0 : -1;
}

/* Standardization as nnc train fits it: shift = mean, factor = 1/std (population), in double,
   stored as float; a constant feature gets factor 1. */
static void iris_data_fit_standardization(const iris_data *d, float *shift, float *factor) {
  double sum[IRIS_DATA_MAX_FEATURES] = {0}, sq[IRIS_DATA_MAX_FEATURES] = {0};
  int64_t r, j;
  for (r = 0; r < d->rows; ++r)
    for (j = 0; j < d->features; ++j)
      sum[j] += d->x[r * d->features + j];
  for (j = 0; j < d->features; ++j)
    sum[j] /= (double)d->rows;
  for (r = 0; r < d->rows; ++r)
    for (j = 0; j < d->features; ++j) {
      double dev = d->x[r * d->features + j] - sum[j];
      sq[j] += dev * dev;
    }
  for (j = 0; j < d->features; ++j) {
    double sd = sqrt(sq[j] / (double)d->rows);
    shift[j] = (float)sum[j];
    factor[j] = sd > 1e-12 ? (float)(1.0 / sd) : 1.f;
  }
}

/* x' = (x - shift) * factor, in float. */
static void iris_data_apply(iris_data *d, const float *shift, const float *factor) {
  int64_t i;
  for (i = 0; i < d->rows * d->features; ++i)
    d->x[i] = (d->x[i] - shift[i % d->features]) * factor[i % d->features];
}

static void iris_data_free(iris_data *d) {
  free(d->x);
  free(d->y);
}

#endif /* IRIS_DATA_H */
