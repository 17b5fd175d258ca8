/* Unit tests for api/validate.c: KBO mod-97, calendar dates, identifiers and
 * the table-driven object validator. */
#include <jansson.h>
#include "check.h"
#include "g1p/validate.h"

static void test_kbo(void) {
  CHECK(validate_kbo("0123456749"));  /* 01234567 mod 97 = 48 -> 49 */
  CHECK(validate_kbo("0403170701"));  /* a real enterprise number */
  CHECK(!validate_kbo("0123456748"));
  CHECK(!validate_kbo("2123456749")); /* first digit 0 or 1 */
  CHECK(!validate_kbo("012345674"));
  CHECK(!validate_kbo("01234567490"));
  CHECK(!validate_kbo("01234567a9"));
  CHECK(!validate_kbo(""));
  CHECK(!validate_kbo(NULL));
}

static void test_dates(void) {
  CHECK(validate_date("2025-02-28"));
  CHECK(!validate_date("2025-02-29"));
  CHECK(validate_date("2024-02-29"));
  CHECK(!validate_date("2100-02-29"));
  CHECK(validate_date("2000-02-29"));
  CHECK(!validate_date("2025-02-30"));
  CHECK(!validate_date("2025-04-31"));
  CHECK(validate_date("2025-12-31"));
  CHECK(!validate_date("2025-13-01"));
  CHECK(!validate_date("2025-00-10"));
  CHECK(!validate_date("2025-1-01"));
  CHECK(!validate_date("2025-01-01T00:00:00"));
  CHECK(!validate_date("20250101"));
}

static void test_ids(void) {
  CHECK(validate_uuid("d5ec466a-690e-42e6-a885-a8b47f247c37"));
  CHECK(!validate_uuid("d5ec466a-690e-42e6-a885-a8b47f247c3"));
  CHECK(!validate_uuid("d5ec466a-690e-42e6-a885-a8b47f247c3z"));
  CHECK(!validate_uuid("d5ec466a690e-42e6-a885-a8b47f247c37x"));
  CHECK(validate_region_code("gent"));
  CHECK(validate_region_code("voor-en-noorderkempen"));
  CHECK(!validate_region_code("Gent"));
  CHECK(!validate_region_code("-gent"));
  CHECK(!validate_region_code("gent-"));
  CHECK(!validate_region_code("ge--nt"));
  CHECK(!validate_region_code("g"));
  CHECK(!validate_region_code("../etc"));
  CHECK(validate_email("coach@caw.be"));
  CHECK(!validate_email("coach@caw"));
  CHECK(!validate_email("coach caw@x.be"));
  CHECK(!validate_email("@x.be"));
  CHECK(utf8_length("Gezin Ö.") == 8);
}

static bool text_ok(const char *s, bool multiline) { return text_rule(s, strlen(s), multiline) == NULL; }

static void test_text_rule(void) {
  CHECK(text_ok("Gezin J\xc3\xb6rg \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", false)); /* ZWJ emoji */
  CHECK(!text_ok("a\nb", false));
  CHECK(text_ok("a\nb\tc\r\n", true));
  CHECK(!text_ok("a\x01", true));
  CHECK(!text_ok("a\x7f", true));
  CHECK(!text_ok("a\x1b[31m", false));
  CHECK(!text_ok("a\xc2\x85" "b", false));      /* U+0085 NEL (C1) */
  CHECK(!text_ok("a\xc2\x9f", true));           /* U+009F */
  CHECK(text_ok("a\xc2\xa0" "b", false));        /* U+00A0 no-break space */
  CHECK(text_ok("ab\xc2\xad" "c", false));       /* soft hyphen stays */
  CHECK(!text_ok("abc\xe2\x80\xae" "cba", false)); /* U+202E RLO */
  CHECK(!text_ok("a\xe2\x81\xa6" "b", false));  /* U+2066 LRI */
  CHECK(!text_ok("a\xe2\x80\x8b" "b", false));  /* U+200B */
  CHECK(!text_ok("\xef\xbb\xbf" "a", false));   /* U+FEFF */
  CHECK(text_ok("\xe2\x80\x8f" "a", false));     /* U+200F RLM stays */
  CHECK(!text_ok("a\xe2\x80\xa8" "b", false));  /* U+2028 on one line */
  CHECK(text_ok("a\xe2\x80\xa8" "b", true));
  CHECK(!text_ok("\xef\xbf\xbe", false));       /* U+FFFE noncharacter */
  CHECK(!text_ok("\xef\xb7\x90", false));       /* U+FDD0 noncharacter */
  CHECK(text_rule("\xe9t\xe9", 5, false) == TEXT_NOT_UTF8);        /* Latin-1 */
  CHECK(text_rule("\xc0\xaf", 2, false) == TEXT_NOT_UTF8);         /* overlong '/' */
  CHECK(text_rule("\xe0\x80\xaf", 3, false) == TEXT_NOT_UTF8);    /* overlong, 3 bytes */
  CHECK(text_rule("\xed\xa0\x80", 3, false) == TEXT_NOT_UTF8);    /* encoded surrogate */
  CHECK(text_rule("\xf4\x90\x80\x80", 4, false) == TEXT_NOT_UTF8);/* above U+10FFFF */
  CHECK(text_rule("\xc3", 1, false) == TEXT_NOT_UTF8);              /* cut short */
  CHECK(text_rule("a\0b", 3, false) != NULL);
}

static const char *const COLOURS[] = {"red", "green", NULL};
static const struct field_rule RULES[] = {
  {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 5},
  {.name = "colour", .type = FT_ENUM, .values = COLOURS},
  {.name = "count", .type = FT_INT, .flags = F_NULLABLE, .min = 0, .max = 10},
  {.name = "on", .type = FT_DATE},
  {.name = NULL},
};

static int errors_for(const char *json, bool patch, struct g1p_problem *p) {
  json_t *j = json_loads(json, 0, NULL);
  int n = validate_object(j, RULES, patch, p);
  json_decref(j);
  return n;
}

static void test_object(void) {
  struct g1p_problem p = {0};
  CHECK(errors_for("{\"name\":\"abc\",\"colour\":\"red\",\"count\":null,\"on\":\"2024-02-29\"}", false, &p) == 0);
  problem_clear(&p);
  /* every bad field at once, with JSON pointers */
  CHECK(errors_for("{\"name\":\"abcdef\",\"colour\":\"blue\",\"count\":11,\"on\":\"2025-02-30\",\"x/y\":1}", false, &p) == 5);
  CHECK(p.kind == PROBLEM_VALIDATION);
  CHECK_STR(json_string_value(json_object_get(json_array_get(p.errors, 4), "field")), "/x~1y");
  problem_clear(&p);
  CHECK(errors_for("{}", false, &p) == 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(p.errors, 0), "field")), "/name");
  problem_clear(&p);
  CHECK(errors_for("{}", true, &p) == 0); /* patch: nothing required */
  problem_clear(&p);
  CHECK(errors_for("{\"name\":null,\"count\":\"3\",\"colour\":1}", true, &p) == 3);
  problem_clear(&p);
  CHECK(errors_for("{\"name\":\"a\\u0001b\"}", false, &p) == 1);
  problem_clear(&p);
  CHECK(errors_for("[1]", false, &p) == 1);
  problem_clear(&p);
}

int main(void) {
  test_kbo();
  test_dates();
  test_ids();
  test_object();
  test_text_rule();
  return CHECK_DONE();
}
