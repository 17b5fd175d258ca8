/* Pure validation helpers; see include/g1p/validate.h. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include "g1p/validate.h"

bool validate_uuid(const char *s) {
  if (!s || strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) { if (s[i] != '-') return false; }
    else if (!isxdigit((unsigned char)s[i])) return false;
  }
  return true;
}

void uuid_random(char out[37]) {
  unsigned char b[16];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) memset(b, 0, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
           b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool validate_region_code(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 2 || n > 64 || s[0] == '-' || s[n - 1] == '-') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && s[i + 1] != '-'))) return false;
  }
  return true;
}

bool validate_kbo(const char *s) {
  if (!s || strlen(s) != 10 || (s[0] != '0' && s[0] != '1')) return false;
  for (int i = 0; i < 10; i++) if (!isdigit((unsigned char)s[i])) return false;
  long first8 = 0;
  for (int i = 0; i < 8; i++) first8 = first8 * 10 + (s[i] - '0');
  long check = (s[8] - '0') * 10 + (s[9] - '0');
  return check == 97 - (first8 % 97);
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

bool validate_date(const char *s) {
  if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
  for (int i = 0; i < 10; i++) if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return false;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0');
  int d = (s[8] - '0') * 10 + (s[9] - '0');
  return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool validate_email(const char *s) {
  /* Deliberately simple: one '@', something before, a dotted domain after,
   * no spaces. Deliverability is the mail system's job. */
  if (!s) return false;
  size_t n = strlen(s);
  const char *at = strchr(s, '@');
  if (n < 3 || n > 254 || !at || at == s || strchr(at + 1, '@')) return false;
  const char *dot = strrchr(at, '.');
  if (!dot || dot == at + 1 || dot[1] == '\0') return false;
  /* ASCII only: what every mail system and the contract's format accept. */
  for (size_t i = 0; i < n; i++) if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) return false;
  return true;
}

bool validate_kid(const char *kid, size_t len) {
  if (!kid || len == 0 || len > 64 || kid[0] == '.') return false;
  for (size_t i = 0; i < len; i++) {
    char c = kid[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

bool parse_whole_number(const char *s, long long min, long long max, long long *out) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 18) return false;
  long long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  if (v < min || v > max) return false;
  if (out) *out = v;
  return true;
}

size_t utf8_length(const char *s) {
  size_t n = 0;
  for (; *s; s++) if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

const char TEXT_NOT_UTF8[] = "must be valid UTF-8";

/* Decodes one code point at s[*i] (strict: no overlong forms, no surrogates,
 * nothing above U+10FFFF); -1 when malformed. */
static long utf8_next(const unsigned char *s, size_t len, size_t *i) {
  unsigned char c = s[*i];
  size_t need;
  long cp, min;
  if (c < 0x80) { (*i)++; return c; }
  if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; min = 0x10000; }
  else return -1;
  if (*i + need >= len) return -1;
  for (size_t k = 1; k <= need; k++) {
    if ((s[*i + k] & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (s[*i + k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i += need + 1;
  return cp;
}

static bool is_disguising_format(long cp) {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200B ||
         (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp == 0xE0001;
}

const char *text_rule(const char *text, size_t len, bool multiline) {
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    long cp = utf8_next(s, len, &i);
    if (cp < 0) return TEXT_NOT_UTF8;
    if (cp == 0) return "must not contain NUL characters";
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      if (!(multiline && (cp == '\n' || cp == '\t' || cp == '\r'))) return "must not contain control characters";
    } else if (cp == 0x2028 || cp == 0x2029) {
      if (!multiline) return "must not contain line or paragraph separators";
    } else if (is_disguising_format(cp)) {
      return "must not contain invisible formatting characters (bidirectional overrides or isolates, zero-width spaces, byte order marks)";
    } else if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
      return "must not contain Unicode noncharacters";
    }
  }
  return NULL;
}

static const struct field_rule *find_rule(const struct field_rule *rules, const char *name) {
  for (; rules->name; rules++) if (strcmp(rules->name, name) == 0) return rules;
  return NULL;
}

/* A JSON pointer token escapes '~' and '/' (RFC 6901). */
static void pointer(char *out, size_t len, const char *prefix, const char *key) {
  size_t o = (size_t)snprintf(out, len, "%s/", prefix);
  for (; *key && o + 3 < len; key++) {
    if (*key == '~') { out[o++] = '~'; out[o++] = '0'; }
    else if (*key == '/') { out[o++] = '~'; out[o++] = '1'; }
    else out[o++] = *key;
  }
  out[o < len ? o : len - 1] = '\0';
}

static void check_string(const json_t *v, const struct field_rule *r, const char *ptr, struct g1p_problem *p) {
  const char *s = json_string_value(v);
  if (!s) { problem_add_error(p, ptr, "must be a string"); return; }
  if (strlen(s) != json_string_length(v)) { problem_add_error(p, ptr, "must not contain NUL characters"); return; }
  switch (r->type) {
  case FT_STRING:
  case FT_TEXT: {
    size_t n = utf8_length(s);
    if ((long long)n < r->min || (long long)n > r->max)
      problem_add_error(p, ptr, "must be %lld to %lld characters long", r->min, r->max);
    else {
      const char *why = text_rule(s, json_string_length(v), r->type == FT_TEXT);
      if (why) problem_add_error(p, ptr, "%s", why);
    }
    break;
  }
  case FT_ENUM: {
    bool ok = false;
    for (const char *const *e = r->values; *e; e++) if (strcmp(*e, s) == 0) ok = true;
    if (!ok) {
      char list[256] = "";
      for (const char *const *e = r->values; *e; e++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", e == r->values ? "" : ", ", *e);
      problem_add_error(p, ptr, "must be one of: %s", list);
    }
    break;
  }
  case FT_UUID: if (!validate_uuid(s)) problem_add_error(p, ptr, "must be a UUID"); break;
  case FT_DATE: if (!validate_date(s)) problem_add_error(p, ptr, "must be a real calendar date as YYYY-MM-DD"); break;
  case FT_EMAIL: if (!validate_email(s)) problem_add_error(p, ptr, "must be an e-mail address"); break;
  case FT_KBO: if (!validate_kbo(s)) problem_add_error(p, ptr, "must be a Belgian enterprise number: 10 digits, starting with 0 or 1, with a valid mod-97 check"); break;
  case FT_REGION_CODE: if (!validate_region_code(s)) problem_add_error(p, ptr, "must be a region code: lowercase letters, digits and single hyphens, 2 to 64 characters"); break;
  default: break;
  }
}

static void check_region_codes(const json_t *v, const struct field_rule *r, const char *ptr, struct g1p_problem *p) {
  if (!json_is_array(v)) { problem_add_error(p, ptr, "must be an array of region codes"); return; }
  size_t n = json_array_size(v);
  if ((long long)n < r->min || (long long)n > r->max) { problem_add_error(p, ptr, "must hold %lld to %lld region codes", r->min, r->max); return; }
  for (size_t i = 0; i < n; i++) {
    char item[300];
    snprintf(item, sizeof item, "%s/%zu", ptr, i);
    const char *code = json_string_value(json_array_get(v, i));
    if (!code || !validate_region_code(code)) { problem_add_error(p, item, "must be a region code"); continue; }
    for (size_t j = 0; j < i; j++)
      if (strcmp(code, json_string_value(json_array_get(v, j)) ? json_string_value(json_array_get(v, j)) : "") == 0) {
        problem_add_error(p, item, "is listed twice");
        break;
      }
  }
}

static void check_value(const json_t *v, const struct field_rule *r, bool patch, const char *ptr, struct g1p_problem *p);

static void check_array(const json_t *v, const struct field_rule *r, const char *ptr, struct g1p_problem *p) {
  if (!json_is_array(v)) { problem_add_error(p, ptr, "must be an array"); return; }
  size_t n = json_array_size(v);
  if ((long long)n < r->min || (long long)n > r->max) { problem_add_error(p, ptr, "must hold %lld to %lld items", r->min, r->max); return; }
  for (size_t i = 0; i < n; i++) {
    char item[300];
    snprintf(item, sizeof item, "%s/%zu", ptr, i);
    const json_t *e = json_array_get(v, i);
    if (r->type == FT_OBJECT_ARRAY) {
      validate_object_at(e, r->fields, false, item, p);
    } else {
      static const struct field_rule line = {.name = "", .type = FT_STRING, .min = 1, .max = 2000};
      check_string(e, &line, item, p);
    }
  }
}

static void check_value(const json_t *v, const struct field_rule *r, bool patch, const char *ptr, struct g1p_problem *p) {
  size_t before = p->errors ? json_array_size(p->errors) : 0;
  switch (r->type) {
  case FT_INT:
    if (!json_is_integer(v)) problem_add_error(p, ptr, "must be an integer");
    else if (json_integer_value(v) < r->min || json_integer_value(v) > r->max)
      problem_add_error(p, ptr, "must be from %lld to %lld", r->min, r->max);
    break;
  case FT_REGION_CODES: check_region_codes(v, r, ptr, p); break;
  case FT_BOOL: if (!json_is_boolean(v)) problem_add_error(p, ptr, "must be true or false"); break;
  case FT_OBJECT: validate_object_at(v, r->fields, patch, ptr, p); break;
  case FT_OBJECT_ARRAY:
  case FT_STRING_ARRAY: check_array(v, r, ptr, p); break;
  default: check_string(v, r, ptr, p); break;
  }
  size_t after = p->errors ? json_array_size(p->errors) : 0;
  if (after == before && r->check) {
    const char *msg = r->check(v);
    if (msg) problem_add_error(p, ptr, "%s", msg);
  }
}

int validate_object_at(const json_t *body, const struct field_rule *rules, bool patch, const char *prefix,
                       struct g1p_problem *p) {
  size_t before = p->errors ? json_array_size(p->errors) : 0;
  if (!json_is_object(body)) {
    problem_add_error(p, prefix, "must be a JSON object");
    return 1;
  }
  const char *key;
  const json_t *v;
  char ptr[256];
  json_object_foreach((json_t *)body, key, v) {
    pointer(ptr, sizeof ptr, prefix, key);
    const struct field_rule *r = find_rule(rules, key);
    if (!r) { problem_add_error(p, ptr, "is not a known field"); continue; }
    if (json_is_null(v)) {
      if (!(r->flags & F_NULLABLE)) problem_add_error(p, ptr, "must not be null");
      continue;
    }
    check_value(v, r, patch, ptr, p);
  }
  if (!patch)
    for (const struct field_rule *r = rules; r->name; r++)
      if ((r->flags & F_REQUIRED) && !json_object_get(body, r->name)) {
        pointer(ptr, sizeof ptr, prefix, r->name);
        problem_add_error(p, ptr, "is required");
      }
  return (int)((p->errors ? json_array_size(p->errors) : 0) - before);
}

int validate_object(const json_t *body, const struct field_rule *rules, bool patch, struct g1p_problem *p) {
  return validate_object_at(body, rules, patch, "", p);
}
