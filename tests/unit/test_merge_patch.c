/* Unit tests for api/merge_patch.c: the examples of RFC 7396 appendix A. */
#include <stdlib.h>
#include "check.h"
#include "g1p/merge_patch.h"

static void example(const char *target, const char *patch, const char *want) {
  json_t *t = json_loads(target, JSON_DECODE_ANY, NULL), *p = json_loads(patch, JSON_DECODE_ANY, NULL);
  json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
  json_t *got = merge_patch_apply(t, p);
  checks_run++;
  if (!json_equal(got, w)) {
    checks_failed++;
    char *s = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);
    fprintf(stderr, "merge(%s, %s) = %s, want %s\n", target, patch, s, want);
    free(s);
  }
  json_decref(t); json_decref(p); json_decref(w); json_decref(got);
}

int main(void) {
  example("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
  example("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
  example("{\"a\":\"b\"}", "{\"a\":null}", "{}");
  example("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
  example("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
  example("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
  example("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
  example("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
  example("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
  example("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
  example("{\"a\":\"foo\"}", "null", "null");
  example("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
  example("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
  example("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
  example("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");

  json_t *t = json_loads("{\"a\":{\"b\":1}}", 0, NULL), *p = json_loads("{\"a\":{\"b\":null}}", 0, NULL);
  json_t *r = merge_patch_apply(t, p);
  CHECK(json_object_get(json_object_get(t, "a"), "b") != NULL); /* the target is not modified */
  json_decref(t); json_decref(p); json_decref(r);
  return CHECK_DONE();
}
