/* Unit tests for api/csv.c: RFC 4180 quoting and formula defusing. */
#include <stdlib.h>
#include "check.h"
#include "g1p/csv.h"

static const char *one(const char *json) {
  static char out[256];
  json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
  struct csv_buf b = {0};
  csv_field(&b, v, 1);
  snprintf(out, sizeof out, "%s", b.data ? b.data : "");
  csv_buf_free(&b);
  json_decref(v);
  return out;
}

int main(void) {
  CHECK_STR(one("\"gent\""), "gent");
  CHECK_STR(one("\"a,b\""), "\"a,b\"");
  CHECK_STR(one("\"say \\\"hi\\\"\""), "\"say \"\"hi\"\"\"");
  CHECK_STR(one("\"line\\nbreak\""), "\"line\nbreak\"");
  CHECK_STR(one("\"=HYPERLINK(\\\"x\\\")\""), "\"'=HYPERLINK(\"\"x\"\")\"");
  CHECK_STR(one("\"+32 9 000\""), "\"'+32 9 000\"");
  CHECK_STR(one("\"-1\""), "\"'-1\"");
  CHECK_STR(one("\"@SUM(A1)\""), "\"'@SUM(A1)\"");
  CHECK_STR(one("42"), "42");
  CHECK_STR(one("-3"), "-3");
  CHECK_STR(one("0.875"), "0.875");
  CHECK_STR(one("null"), "");

  json_t *rows = json_loads("[{\"region\":\"gent\",\"n\":3,\"rate\":null},{\"region\":\"=cmd\",\"n\":0,\"rate\":0.5}]", 0, NULL);
  const char *cols[] = {"region", "n", "rate", NULL};
  size_t len = 0;
  char *csv = csv_from_rows(rows, cols, &len);
  CHECK_STR(csv, "region,n,rate\r\ngent,3,\r\n\"'=cmd\",0,0.5\r\n");
  CHECK(len == strlen(csv));
  free(csv);
  json_decref(rows);
  return CHECK_DONE();
}
