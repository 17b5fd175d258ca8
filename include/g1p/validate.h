/* Input validation: small pure checks (UUID, region code, KBO number, date,
 * e-mail) and one table-driven object validator that reports every bad field
 * at once as JSON pointers. Pure code: unit-tested in tests/unit. */
#ifndef G1P_VALIDATE_H
#define G1P_VALIDATE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "g1p/problem.h"

bool validate_uuid(const char *s);
bool validate_region_code(const char *s);   /* lowercase slug, 2..64 chars */
bool validate_kbo(const char *s);           /* 10 digits, first 0/1, mod-97 */
bool validate_date(const char *s);          /* YYYY-MM-DD, a real calendar day */
bool validate_email(const char *s);
/* Code points in a valid UTF-8 string (jansson guarantees validity). */
size_t utf8_length(const char *s);
/* True when s has control characters (any below U+0020, or U+007F); a
 * multi-line text may keep \n and \t. */
bool has_control_chars(const char *s, bool multiline);

enum field_type {
  FT_STRING,        /* one line of text, length in [min, max] code points */
  FT_TEXT,          /* free text, may hold newlines and tabs */
  FT_INT,           /* integer in [min, max] */
  FT_ENUM,          /* one of values[] */
  FT_UUID,
  FT_DATE,
  FT_EMAIL,
  FT_KBO,
  FT_REGION_CODE,
  FT_REGION_CODES,  /* array of region codes, [min, max] items, no duplicates */
  FT_OBJECT,        /* nested object checked against fields */
  FT_OBJECT_ARRAY,  /* array of [min, max] objects, each checked against fields */
  FT_STRING_ARRAY,  /* array of [0, max] one-line strings of 1..2000 characters */
};

enum { F_REQUIRED = 1, F_NULLABLE = 2 };

struct field_rule {
  const char *name;
  enum field_type type;
  unsigned int flags;
  long long min, max;
  const char *const *values; /* FT_ENUM: NULL-terminated */
  const struct field_rule *fields; /* FT_OBJECT, FT_OBJECT_ARRAY: rules of the members */
  /* Optional extra check once the type is right: returns a message, or NULL. */
  const char *(*check)(const json_t *value);
};

/* Checks body (must be an object) against rules: unknown fields, types,
 * bounds; in patch mode required fields may be absent. Adds one entry per bad
 * field to p and returns how many it added. */
int validate_object(const json_t *body, const struct field_rule *rules, bool patch, struct g1p_problem *p);
/* The same for a nested object at JSON pointer prefix (e.g. "/family"). */
int validate_object_at(const json_t *body, const struct field_rule *rules, bool patch, const char *prefix,
                       struct g1p_problem *p);

#endif
