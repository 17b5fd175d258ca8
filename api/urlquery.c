/* See include/g1p/urlquery.h. One pass over the raw query: split, decode
 * into one buffer, then check each name and value as text. */
#include <stdlib.h>
#include <string.h>
#include "g1p/urlquery.h"
#include "g1p/validate.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes src[0..n) to dst (NUL-terminated); returns the decoded length or -1
 * on a malformed escape. */
static long decode(const char *src, size_t n, char *dst) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (src[i] == '%') {
      if (i + 2 >= n) return -1;
      int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      dst[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      dst[o++] = src[i] == '+' ? ' ' : src[i];
    }
  }
  dst[o] = '\0';
  return (long)o;
}

void printable_copy(char *out, size_t outlen, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n && o + 5 < outlen; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out[o++] = (char)c;
    } else {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  if (outlen) out[o < outlen ? o : outlen - 1] = '\0';
}

/* Checks one decoded name or value of dlen bytes. */
static enum urlquery_error check_text(const char *d, long dlen) {
  if ((long)strlen(d) != dlen) return URLQUERY_NUL;
  const char *why = text_rule(d, (size_t)dlen, false);
  if (why == TEXT_NOT_UTF8) return URLQUERY_NOT_UTF8;
  if (why) return URLQUERY_CONTROL;
  return URLQUERY_OK;
}

enum urlquery_error urlquery_parse(const char *raw, size_t len, struct urlquery *q, char *bad, size_t badlen) {
  memset(q, 0, sizeof *q);
  if (badlen) bad[0] = '\0';
  if (len == 0) return URLQUERY_OK;
  /* Decoded text never grows; one NUL per name and per value. */
  q->buf = malloc(len * 2 + 2);
  if (!q->buf) return URLQUERY_NOMEM;
  char *out = q->buf;
  enum urlquery_error e = URLQUERY_OK;
  size_t i = 0;
  while (i <= len && e == URLQUERY_OK) {
    size_t end = i;
    while (end < len && raw[end] != '&') end++;
    if (end > i) {
      const char *pair = raw + i;
      size_t plen = end - i;
      const char *eq = memchr(pair, '=', plen);
      size_t nlen = eq ? (size_t)(eq - pair) : plen;
      printable_copy(bad, badlen, pair, nlen);
      if (q->n == URLQUERY_MAX_PARAMS) { e = URLQUERY_TOO_MANY; break; }
      char *name = out;
      long dn = decode(pair, nlen, name);
      if (dn < 0) { e = URLQUERY_BAD_ESCAPE; break; }
      if (dn == 0) { e = URLQUERY_EMPTY_NAME; break; }
      if ((e = check_text(name, dn)) != URLQUERY_OK) break;
      printable_copy(bad, badlen, name, (size_t)dn);
      out += dn + 1;
      char *value = out;
      long dv = eq ? decode(eq + 1, plen - nlen - 1, value) : (value[0] = '\0', 0);
      if (dv < 0) { e = URLQUERY_BAD_ESCAPE; break; }
      if ((e = check_text(value, dv)) != URLQUERY_OK) break;
      out += dv + 1;
      if (urlquery_get(q, name)) { e = URLQUERY_REPEATED; break; }
      q->p[q->n].name = name;
      q->p[q->n].value = value;
      q->n++;
    }
    i = end + 1;
  }
  if (e != URLQUERY_OK) urlquery_free(q);
  else if (badlen) bad[0] = '\0';
  return e;
}

const char *urlquery_get(const struct urlquery *q, const char *name) {
  for (int i = 0; i < q->n; i++) if (strcmp(q->p[i].name, name) == 0) return q->p[i].value;
  return NULL;
}

const char *urlquery_error_text(enum urlquery_error e) {
  switch (e) {
  case URLQUERY_OK: return "is fine";
  case URLQUERY_BAD_ESCAPE: return "has a '%' that is not followed by two hexadecimal digits";
  case URLQUERY_NUL: return "contains an encoded NUL (%00)";
  case URLQUERY_NOT_UTF8: return "is not valid UTF-8 once percent-decoded";
  case URLQUERY_CONTROL: return "contains control or invisible formatting characters";
  case URLQUERY_REPEATED: return "is given more than once";
  case URLQUERY_EMPTY_NAME: return "has no name";
  case URLQUERY_TOO_MANY: return "is one too many: at most 32 query parameters are read";
  case URLQUERY_NOMEM: return "could not be read";
  }
  return "is malformed";
}

void urlquery_free(struct urlquery *q) {
  free(q->buf);
  memset(q, 0, sizeof *q);
}
