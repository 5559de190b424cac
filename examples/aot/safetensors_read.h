/* safetensors_read.h: finding tensors in a safetensors file (as `nnc train --save` writes
 * them), in plain C11.
 *
 * The format: 8 bytes little-endian header length n, n bytes of JSON mapping each tensor name to
 * {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (offsets into the data after
 * the header) plus an optional "__metadata__" object of strings, then the data. This reader
 * parses that JSON with a small recursive-descent scanner and answers lookups by name.
 */
#ifndef SAFETENSORS_READ_H
#define SAFETENSORS_READ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_tensor {
  char name[256];
  char dtype[16];
  int64_t shape[8];
  int rank;
  uint64_t begin, end; /* byte offsets into st_file.data */
} st_tensor;

typedef struct st_file {
  unsigned char *bytes; /* the whole file */
  size_t size;
  const unsigned char *data; /* after the header */
  size_t data_size;
  st_tensor tensors[1024];
  int count;
} st_file;

typedef struct st_cursor {
  const char *p, *end;
} st_cursor;

static void st_space(st_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
    ++c->p;
}

static int st_expect(st_cursor *c, char ch) {
  st_space(c);
  if (c->p >= c->end || *c->p != ch)
    return 0;
  ++c->p;
  return 1;
}

/* A JSON string into out (escapes other than \" and \\ are kept as they are). */
static int st_string(st_cursor *c, char *out, size_t cap) {
  size_t n = 0;
  if (!st_expect(c, '"'))
    return 0;
  while (c->p < c->end && *c->p != '"') {
    char ch = *c->p++;
    if (ch == '\\' && c->p < c->end)
      ch = *c->p++;
    if (n + 1 < cap)
      out[n++] = ch;
  }
  if (c->p >= c->end)
    return 0;
  ++c->p;
  out[n] = '\0';
  return 1;
}

static int st_uint(st_cursor *c, uint64_t *v) {
  st_space(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9')
    return 0;
  *v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
    *v = *v * 10 + (uint64_t)(*c->p++ - '0');
  return 1;
}

/* [u, u, ...] into v (at most cap entries); returns the count or -1. */
static int st_uints(st_cursor *c, uint64_t *v, int cap) {
  int n = 0;
  if (!st_expect(c, '['))
    return -1;
  st_space(c);
  if (c->p < c->end && *c->p == ']') {
    ++c->p;
    return 0;
  }
  do {
    if (n == cap || !st_uint(c, &v[n++]))
      return -1;
  } while (st_expect(c, ','));
  return st_expect(c, ']') ? n : -1;
}

/* Skips the __metadata__ object: {"k": "v", ...}. */
static int st_skip_strings(st_cursor *c) {
  char scratch[1024];
  if (!st_expect(c, '{'))
    return 0;
  st_space(c);
  if (c->p < c->end && *c->p == '}') {
    ++c->p;
    return 1;
  }
  do {
    if (!st_string(c, scratch, sizeof scratch) || !st_expect(c, ':') || !st_string(c, scratch, sizeof scratch))
      return 0;
  } while (st_expect(c, ','));
  return st_expect(c, '}');
}

static int st_entry(st_cursor *c, st_tensor *t) {
  char key[64];
  uint64_t v[8];
  int n, i;
  if (!st_expect(c, '{'))
    return 0;
  do {
    if (!st_string(c, key, sizeof key) || !st_expect(c, ':'))
      return 0;
    if (strcmp(key, "dtype") == 0) {
      if (!st_string(c, t->dtype, sizeof t->dtype))
        return 0;
    } else if (strcmp(key, "shape") == 0) {
      if ((n = st_uints(c, v, 8)) < 0)
        return 0;
      t->rank = n;
      for (i = 0; i < n; ++i)
        t->shape[i] = (int64_t)v[i];
    } else if (strcmp(key, "data_offsets") == 0) {
      if (st_uints(c, v, 2) != 2)
        return 0;
      t->begin = v[0];
      t->end = v[1];
    } else {
      return 0;
    }
  } while (st_expect(c, ','));
  return st_expect(c, '}');
}

/* Reads the file at `path`. Returns 0, or prints what is wrong and returns -1. */
static int st_open(const char *path, st_file *f) {
  FILE *in = fopen(path, "rb");
  long size;
  uint64_t n = 0;
  int i;
  st_cursor c;
  memset(f, 0, sizeof *f);
  if (!in || fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) < 8 || fseek(in, 0, SEEK_SET) != 0) {
    fprintf(stderr, "%s: cannot read a safetensors file\n", path);
    if (in)
      fclose(in);
    return -1;
  }
  f->size = (size_t)size;
  f->bytes = malloc(f->size);
  if (!f->bytes || fread(f->bytes, 1, f->size, in) != f->size) {
    fclose(in);
    fprintf(stderr, "%s: cannot read the file\n", path);
    return -1;
  }
  fclose(in);
  for (i = 7; i >= 0; --i)
    n = n << 8 | f->bytes[i];
  if (n > f->size - 8) {
    fprintf(stderr, "%s: the header length %llu runs past the end of the file\n", path, (unsigned long long)n);
    return -1;
  }
  f->data = f->bytes + 8 + n;
  f->data_size = f->size - 8 - (size_t)n;
  c.p = (const char *)f->bytes + 8;
  c.end = c.p + n;
  if (!st_expect(&c, '{'))
    goto bad;
  do {
    char name[256];
    if (!st_string(&c, name, sizeof name) || !st_expect(&c, ':'))
      goto bad;
    if (strcmp(name, "__metadata__") == 0) {
      if (!st_skip_strings(&c))
        goto bad;
      continue;
    }
    if (f->count == (int)(sizeof f->tensors / sizeof f->tensors[0]))
      goto bad;
    memset(&f->tensors[f->count], 0, sizeof f->tensors[0]);
    snprintf(f->tensors[f->count].name, sizeof f->tensors[0].name, "%s", name);
    if (!st_entry(&c, &f->tensors[f->count]) || f->tensors[f->count].end < f->tensors[f->count].begin ||
        f->tensors[f->count].end > f->data_size)
      goto bad;
    ++f->count;
  } while (st_expect(&c, ','));
  if (st_expect(&c, '}'))
    return 0;
bad:
  fprintf(stderr, "%s: the safetensors header is malformed\n", path);
  return -1;
}

/* The tensor called `name`, or NULL. */
static const st_tensor *st_find(const st_file *f, const char *name) {
  int i;
  for (i = 0; i < f->count; ++i)
    if (strcmp(f->tensors[i].name, name) == 0)
      return &f->tensors[i];
  return NULL;
}

static void st_close(st_file *f) { free(f->bytes); }

#endif /* SAFETENSORS_READ_H */
