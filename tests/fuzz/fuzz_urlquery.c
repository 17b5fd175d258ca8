/* libFuzzer harness: raw query strings and text. Any bytes are decoded as the
 * server decodes a request's query string, and checked by the one text rule
 * in both modes. Nothing may crash, leak or read out of bounds, and what the
 * decoder accepts must itself pass the text rule (no NUL, valid UTF-8). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/urlquery.h"
#include "g1p/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct urlquery q;
  char bad[64];
  if (urlquery_parse((const char *)data, size, &q, bad, sizeof bad) == URLQUERY_OK) {
    for (int i = 0; i < q.n; i++) {
      if (text_rule(q.p[i].name, strlen(q.p[i].name), false) || text_rule(q.p[i].value, strlen(q.p[i].value), false)) abort();
      if (urlquery_get(&q, q.p[i].name) != q.p[i].value) abort(); /* names are unique */
    }
  } else if (strlen(bad) >= sizeof bad) {
    abort();
  }
  urlquery_free(&q);
  text_rule((const char *)data, size, false);
  text_rule((const char *)data, size, true);
  return 0;
}
