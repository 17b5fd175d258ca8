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
  CHECK(has_control_chars("a\nb", false));
  CHECK(!has_control_chars("a\nb", true));
  CHECK(has_control_chars("a\x01", true));
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
  return CHECK_DONE();
}
