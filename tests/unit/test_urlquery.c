/* Unit tests for api/urlquery.c: the raw query-string decoder that refuses
 * what libmicrohttpd's decoded copy would cut short or drop. */
#include <string.h>
#include "check.h"
#include "g1p/urlquery.h"

static enum urlquery_error parse(const char *raw, struct urlquery *q, char *bad) {
  return urlquery_parse(raw, strlen(raw), q, bad, 64);
}

static void test_good(void) {
  struct urlquery q;
  char bad[64];
  CHECK(parse("limit=5&external_ref=A%2D1&region=gent", &q, bad) == URLQUERY_OK);
  CHECK(q.n == 3);
  CHECK(strcmp(urlquery_get(&q, "limit"), "5") == 0);
  CHECK(strcmp(urlquery_get(&q, "external_ref"), "A-1") == 0);
  CHECK(urlquery_get(&q, "cursor") == NULL);
  urlquery_free(&q);
  CHECK(parse("q=a+b%20c&&flag&x=%C3%A9", &q, bad) == URLQUERY_OK);
  CHECK(strcmp(urlquery_get(&q, "q"), "a b c") == 0);
  CHECK(strcmp(urlquery_get(&q, "flag"), "") == 0);
  CHECK(strcmp(urlquery_get(&q, "x"), "\xc3\xa9") == 0);
  urlquery_free(&q);
  CHECK(parse("", &q, bad) == URLQUERY_OK && q.n == 0);
  urlquery_free(&q);
}

static void test_bad(void) {
  struct urlquery q;
  char bad[64];
  CHECK(parse("external_ref=%ff%fe", &q, bad) == URLQUERY_NOT_UTF8);
  CHECK(strcmp(bad, "external_ref") == 0);
  CHECK(q.n == 0 && q.buf == NULL);
  CHECK(parse("external_ref=A-1%00zzz", &q, bad) == URLQUERY_NUL);
  CHECK(parse("limit=1%00", &q, bad) == URLQUERY_NUL && strcmp(bad, "limit") == 0);
  CHECK(parse("limit=%2", &q, bad) == URLQUERY_BAD_ESCAPE);
  CHECK(parse("limit=%", &q, bad) == URLQUERY_BAD_ESCAPE);
  CHECK(parse("limit=%zz", &q, bad) == URLQUERY_BAD_ESCAPE);
  CHECK(parse("x=%C0%AF", &q, bad) == URLQUERY_NOT_UTF8);        /* overlong */
  CHECK(parse("x=%ED%A0%80", &q, bad) == URLQUERY_NOT_UTF8);     /* surrogate */
  CHECK(parse("x=\xe9", &q, bad) == URLQUERY_NOT_UTF8);          /* raw Latin-1 byte */
  CHECK(parse("x=a%0Ab", &q, bad) == URLQUERY_CONTROL);
  CHECK(parse("x=a%C2%85b", &q, bad) == URLQUERY_CONTROL);        /* C1 */
  CHECK(parse("x=%E2%80%AEabc", &q, bad) == URLQUERY_CONTROL);    /* RLO */
  CHECK(parse("limit=5&limit=6", &q, bad) == URLQUERY_REPEATED && strcmp(bad, "limit") == 0);
  CHECK(parse("li%6Dit=5&limit=6", &q, bad) == URLQUERY_REPEATED);
  CHECK(parse("=5", &q, bad) == URLQUERY_EMPTY_NAME);
  CHECK(parse("%ff=1", &q, bad) == URLQUERY_NOT_UTF8 && strcmp(bad, "%ff") == 0);
  CHECK(parse("a%00b=1", &q, bad) == URLQUERY_NUL);
  char many[400] = "";
  for (int i = 0; i < 33; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
  CHECK(parse(many, &q, bad) == URLQUERY_TOO_MANY);
}

static void test_printable(void) {
  char out[32];
  printable_copy(out, sizeof out, "a\xff\n\\b", 5);
  CHECK(strcmp(out, "a\\xff\\x0a\\x5cb") == 0);
  printable_copy(out, 8, "\xff\xff\xff", 3);
  CHECK(strlen(out) < 8);
}

int main(void) {
  test_good();
  test_bad();
  test_printable();
  return CHECK_DONE();
}
