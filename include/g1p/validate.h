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
/* A new random (version 4) UUID, lowercase, for ids the server gives items
 * inside a document (plan goals and actions, waiting items). */
void uuid_random(char out[37]);
bool validate_region_code(const char *s);   /* lowercase slug, 2..64 chars */
bool validate_kbo(const char *s);           /* 10 digits, first 0/1, mod-97 */
bool validate_date(const char *s);          /* YYYY-MM-DD, a real calendar day */
bool validate_email(const char *s);
/* A JWT key id: 1..64 of [A-Za-z0-9._-], not starting with '.' (it may name
 * a <kid>.pem file, so it is never a path). */
bool validate_kid(const char *kid, size_t len);
/* A whole number written as ASCII digits only (no sign, no spaces, at most
 * 18 digits) within [min, max]: what ids, limits and positions look like in
 * query parameters and paths (strtol would also take " 5" and "+5"). */
bool parse_whole_number(const char *s, long long min, long long max, long long *out);
/* Code points in a valid UTF-8 string (jansson guarantees validity). */
size_t utf8_length(const char *s);
/* The one text rule, for every text the API takes (body fields and query
 * values): s (len bytes) must be well-formed UTF-8 without NUL, without
 * control characters (Cc: U+0000-U+001F, U+007F-U+009F; multi-line text may
 * keep TAB, LF and CR), without U+2028/U+2029 on one line, without the
 * invisible format characters that can disguise text (bidirectional
 * embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069,
 * U+200B, U+2060-U+2064, U+FEFF, U+FFF9-U+FFFB, U+E0001) and without
 * noncharacters. Format characters that real text needs stay allowed: soft
 * hyphen, ZWNJ/ZWJ (scripts, emoji), LRM/RLM/ALM (mixed-direction names) and
 * emoji tag characters. Returns NULL when acceptable, else a message;
 * TEXT_NOT_UTF8 is the one for malformed UTF-8 (overlong forms and encoded
 * surrogates included). */
const char *text_rule(const char *s, size_t len, bool multiline);
extern const char TEXT_NOT_UTF8[];

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
  FT_BOOL,          /* true or false */
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
