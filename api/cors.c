/* See include/g1p/cors.h. Origins are compared as exact strings, as browsers
 * send them serialized (RFC 6454): that is why the configuration must be in
 * the same canonical form, and is refused at start-up when it is not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/cors.h"

static bool is_host_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

/* s[0..n) is scheme://host[:port] in canonical form. */
static bool origin_is_canonical(const char *s, size_t n) {
  size_t i;
  if (n > 7 && strncmp(s, "http://", 7) == 0) i = 7;
  else if (n > 8 && strncmp(s, "https://", 8) == 0) i = 8;
  else return false;
  size_t host = i;
  if (s[i] == '[') {
    for (i++; i < n && s[i] != ']'; i++)
      if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || s[i] == ':' || s[i] == '.')) return false;
    if (i >= n || i == host + 1) return false;
    i++;
  } else {
    for (; i < n && s[i] != ':'; i++) if (!is_host_char(s[i])) return false;
    if (i == host || s[host] == '.' || s[host] == '-' || s[i - 1] == '.') return false;
  }
  if (i == n) return true;
  if (s[i] != ':' || i + 1 == n || n - i - 1 > 5 || s[i + 1] == '0') return false;
  long port = 0;
  for (i++; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    port = port * 10 + (s[i] - '0');
  }
  return port >= 1 && port <= 65535;
}

int cors_parse(const char *text, struct cors_origins *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  if (!text || !*text) return 0;
  const char *p = text;
  for (;;) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, ",");
    size_t len = n;
    while (len > 0 && p[len - 1] == ' ') len--;
    if (!origin_is_canonical(p, len)) {
      snprintf(err, err_len, "CORS_ALLOWED_ORIGINS: \"%.*s\" is not an origin like https://coach.example.be or http://localhost:5173 (lowercase scheme and host, optional port, no path or trailing slash)",
               (int)(len > 100 ? 100 : len), p);
      goto fail;
    }
    if (out->n == CORS_MAX_ORIGINS) {
      snprintf(err, err_len, "CORS_ALLOWED_ORIGINS: at most %d origins", CORS_MAX_ORIGINS);
      goto fail;
    }
    out->list[out->n] = strndup(p, len);
    if (!out->list[out->n]) { snprintf(err, err_len, "out of memory"); goto fail; }
    out->n++;
    if (p[n] == '\0') return 0;
    p += n + 1;
  }
fail:
  cors_free(out);
  return -1;
}

bool cors_allows(const struct cors_origins *o, const char *origin) {
  if (!origin) return false;
  for (size_t i = 0; i < o->n; i++) if (strcmp(o->list[i], origin) == 0) return true;
  return false;
}

void cors_free(struct cors_origins *o) {
  for (size_t i = 0; i < o->n; i++) free(o->list[i]);
  memset(o, 0, sizeof *o);
}
