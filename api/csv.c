/* See include/g1p/csv.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/csv.h"

static int put(struct csv_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int csv_text(struct csv_buf *b, const char *text, int first) {
  if (!first && put(b, ",", 1)) return -1;
  /* A cell a spreadsheet would evaluate is kept as text. */
  int defuse = text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' || text[0] == '\t' || text[0] == '\r';
  int quote = defuse || strpbrk(text, ",\"\r\n") != NULL;
  if (quote && put(b, "\"", 1)) return -1;
  if (defuse && put(b, "'", 1)) return -1;
  for (const char *p = text; *p; p++) {
    if (*p == '"' && put(b, "\"\"", 2)) return -1;
    if (*p != '"' && put(b, p, 1)) return -1;
  }
  return quote ? put(b, "\"", 1) : 0;
}

int csv_field(struct csv_buf *b, const json_t *value, int first) {
  char num[64];
  if (json_is_string(value)) return csv_text(b, json_string_value(value), first);
  if (!first && put(b, ",", 1)) return -1;
  if (json_is_integer(value)) {
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    return put(b, num, strlen(num));
  }
  if (json_is_real(value)) {
    snprintf(num, sizeof num, "%.10g", json_real_value(value));
    return put(b, num, strlen(num));
  }
  if (json_is_true(value)) return put(b, "true", 4);
  if (json_is_false(value)) return put(b, "false", 5);
  return 0; /* null: an empty cell */
}

int csv_end_row(struct csv_buf *b) { return put(b, "\r\n", 2); }

void csv_buf_free(struct csv_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

char *csv_from_rows(const json_t *rows, const char *const *columns, size_t *len) {
  struct csv_buf b = {0};
  int err = 0;
  for (size_t c = 0; columns[c]; c++) err |= csv_text(&b, columns[c], c == 0);
  err |= csv_end_row(&b);
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    for (size_t c = 0; columns[c]; c++) err |= csv_field(&b, json_object_get(row, columns[c]), c == 0);
    err |= csv_end_row(&b);
  }
  if (err) {
    csv_buf_free(&b);
    return NULL;
  }
  *len = b.len;
  return b.data;
}
