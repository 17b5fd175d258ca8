/* One bounded GET for the server's own outbound calls to trusted services
 * (the identity provider's JWKS and OpenID discovery documents): https only
 * unless allowed, redirects only to allowed schemes, a total timeout, and a
 * size limit enforced while reading. Thread-safe once curl_global_init ran. */
#ifndef G1P_FETCH_H
#define G1P_FETCH_H
#include <stdbool.h>
#include <stddef.h>

struct fetch_opts {
  bool allow_http;       /* http:// as well as https:// (tests, on-premises) */
  const char *ca_file;   /* extra trust anchors (PEM bundle), or NULL for the system's */
  long timeout_s;        /* whole transfer, redirects included */
  size_t max_bytes;      /* a longer answer is refused (and not read further) */
};

/* True when url starts with https:// (or http:// when allowed). */
bool fetch_scheme_allowed(const char *url, bool allow_http);
/* GETs url; on 200 returns 0 with a NUL-terminated *body (caller frees) of
 * *len bytes. -1 with a one-line reason otherwise. */
int fetch_get(const char *url, const struct fetch_opts *o, char **body, size_t *len, char *err, size_t err_len);

#endif
