/* The query string of a request, decoded from the raw bytes of the request
 * line. libmicrohttpd's own decoded copy cuts a value at an encoded NUL and
 * ulfius drops values that are not UTF-8, so a filter could vanish silently;
 * this decoder refuses such input instead. Pure code: unit-tested. */
#ifndef G1P_URLQUERY_H
#define G1P_URLQUERY_H
#include <stddef.h>

#define URLQUERY_MAX_PARAMS 32

struct urlquery_param {
  const char *name;
  const char *value;  /* "" for a parameter without '=' */
};

struct urlquery {
  char *buf;          /* owns every decoded name and value */
  int n;
  struct urlquery_param p[URLQUERY_MAX_PARAMS];
};

enum urlquery_error {
  URLQUERY_OK = 0,
  URLQUERY_BAD_ESCAPE,   /* '%' not followed by two hex digits */
  URLQUERY_NUL,          /* an encoded NUL */
  URLQUERY_NOT_UTF8,     /* decoded bytes are not well-formed UTF-8 */
  URLQUERY_CONTROL,      /* breaks the one-line text rule (validate.h) */
  URLQUERY_REPEATED,     /* the same name twice */
  URLQUERY_EMPTY_NAME,   /* "=x" */
  URLQUERY_TOO_MANY,     /* more than URLQUERY_MAX_PARAMS */
  URLQUERY_NOMEM,
};

/* Decodes raw (len bytes, without the '?'): pairs split at '&', names and
 * values percent-decoded, '+' read as a space (HTML form encoding). Empty
 * pairs ("a=1&&b=2") are skipped. On error q is left empty and `bad` holds
 * the offending name, printable (other bytes as \xNN). */
enum urlquery_error urlquery_parse(const char *raw, size_t len, struct urlquery *q, char *bad, size_t badlen);
/* The value of name, or NULL when absent. */
const char *urlquery_get(const struct urlquery *q, const char *name);
/* What is wrong, as the end of "query parameter X ...". */
const char *urlquery_error_text(enum urlquery_error e);
void urlquery_free(struct urlquery *q);

/* Copies s (n bytes) into out as printable ASCII, other bytes as \xNN, for
 * naming hostile input in a problem's detail. */
void printable_copy(char *out, size_t outlen, const char *s, size_t n);

#endif
