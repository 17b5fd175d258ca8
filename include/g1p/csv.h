/* RFC 4180 CSV for spreadsheets: fields quoted when needed, and text cells
 * that a spreadsheet would run as a formula (= + - @, tab, CR) defused with
 * a leading apostrophe. Pure: unit-tested in tests/unit/test_csv.c. */
#ifndef G1P_CSV_H
#define G1P_CSV_H
#include <jansson.h>
#include <stddef.h>

/* A growable text buffer. */
struct csv_buf {
  char *data;
  size_t len, cap;
};

/* Appends one field: a JSON value (null -> empty, numbers as numbers,
 * strings quoted and defused). first: no separator before it. */
int csv_field(struct csv_buf *b, const json_t *value, int first);
int csv_text(struct csv_buf *b, const char *text, int first);
int csv_end_row(struct csv_buf *b);
/* The rows (array of objects) under the given column names, with a header. */
char *csv_from_rows(const json_t *rows, const char *const *columns, size_t *len);
void csv_buf_free(struct csv_buf *b);

#endif
