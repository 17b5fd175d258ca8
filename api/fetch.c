/* See include/g1p/fetch.h. libcurl does the transport; this file only sets
 * the limits a mature client needs against a misbehaving or hijacked peer
 * (a redirect to plain http, an endless or huge answer). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/fetch.h"

bool fetch_scheme_allowed(const char *url, bool allow_http) {
  if (!url) return false;
  if (strncmp(url, "https://", 8) == 0 && url[8]) return true;
  return allow_http && strncmp(url, "http://", 7) == 0 && url[7];
}

struct sink {
  char *buf;
  size_t len, max;
  bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t n, void *user) {
  struct sink *s = user;
  size_t add = size * n;
  if (s->len + add > s->max) { s->too_big = true; return 0; } /* aborts the transfer */
  char *grown = realloc(s->buf, s->len + add + 1);
  if (!grown) return 0;
  s->buf = grown;
  memcpy(s->buf + s->len, data, add);
  s->len += add;
  s->buf[s->len] = '\0';
  return add;
}

int fetch_get(const char *url, const struct fetch_opts *o, char **body, size_t *len, char *err, size_t err_len) {
  *body = NULL;
  *len = 0;
  if (!fetch_scheme_allowed(url, o->allow_http)) {
    snprintf(err, err_len, "%s", o->allow_http ? "the URL is not http(s)" : "the URL is not https");
    return -1;
  }
  CURL *c = curl_easy_init();
  if (!c) { snprintf(err, err_len, "libcurl could not start"); return -1; }
  struct sink s = {.max = o->max_bytes};
  const char *schemes = o->allow_http ? "http,https" : "https";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, schemes);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, schemes);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->timeout_s < 5 ? o->timeout_s : 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "g1p-api");
  if (o->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  int result = -1;
  if (s.too_big || rc == CURLE_FILESIZE_EXCEEDED) snprintf(err, err_len, "the answer is larger than %zu bytes", o->max_bytes);
  else if (rc != CURLE_OK) snprintf(err, err_len, "%s", curl_easy_strerror(rc));
  else if (status != 200) snprintf(err, err_len, "HTTP status %ld", status);
  else if (!s.buf) snprintf(err, err_len, "the answer is empty");
  else { *body = s.buf; *len = s.len; s.buf = NULL; result = 0; }
  free(s.buf);
  curl_easy_cleanup(c);
  return result;
}
