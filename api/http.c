/* The callback layers every request passes through, in priority order:
 *   0 layer_request   request id, access-log state, body size and type
 *   1 layer_auth      bearer token -> principal, for /v1 only
 *   3 layer_dispatch  the matched route's handler (see routes.c)
 *  99 layer_catch_all nothing handled it: 404, or 405 if the path exists
 * Handlers return 0 after writing a success, or -1 with r->problem set; this
 * file is where that problem becomes a response. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <yder.h>
#include "g1p/cors.h"
#include "g1p/http.h"
#include "g1p/routes.h"
#include "g1p/telemetry.h"
#include "g1p/validate.h"

static struct g1p_req *req_of(struct _u_response *resp) { return resp->shared_data; }

/* Requests between layer_request and their response: what a graceful stop
 * waits for (idle keep-alive connections need not be waited for). */
static atomic_int in_flight;

int http_in_flight(void) { return atomic_load(&in_flight); }

static double elapsed_ms(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The access log line is written when ulfius frees the request state, i.e.
 * once the response is complete. Never the token, never a body. */
static void req_free(void *ptr) {
  struct g1p_req *r = ptr;
  double ms = elapsed_ms(&r->started);
  telemetry_request(r->route ? routes_index(r->route) : routes_find(r->method, r->path), r->method, r->status, ms / 1e3);
  y_log_message(r->status >= 500 ? Y_LOG_LEVEL_WARNING : Y_LOG_LEVEL_INFO, "%s %s %d %.2fms rid=%s sub=%s",
                r->method, r->path, r->status, ms, r->id,
                r->authenticated ? r->who.sub : "-");
  principal_clear(&r->who);
  problem_clear(&r->problem);
  urlquery_free(&r->query);
  free(r);
  atomic_fetch_sub(&in_flight, 1);
}

static bool request_id_is_safe(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return false;
  }
  return true;
}

static void split_path(struct g1p_req *r, const char *path) {
  r->nseg = 0;
  while (*path && r->nseg < REQ_MAX_SEGMENTS) {
    while (*path == '/') path++;
    size_t n = strcspn(path, "/");
    if (n == 0) break;
    if (n < sizeof r->seg[0]) {
      memcpy(r->seg[r->nseg], path, n);
      r->seg[r->nseg][n] = '\0';
    } else {
      r->seg[r->nseg][0] = '\0'; /* too long to name anything: no match */
    }
    r->nseg++;
    path += n;
  }
}

int respond_problem(struct g1p_req *r) {
  if (r->problem.kind == PROBLEM_NONE) problem_set(&r->problem, PROBLEM_INTERNAL, "The request could not be completed.");
  problem_send(r->resp, &r->problem);
  r->status = problem_status(r->problem.kind);
  return U_CALLBACK_COMPLETE;
}

static bool is_json_type(const char *ct) {
  /* application/json or application/merge-patch+json, optionally with
   * "; charset=utf-8"; any other charset is refused (bodies are UTF-8). */
  size_t n = strcspn(ct, ";");
  while (n > 0 && ct[n - 1] == ' ') n--;
  bool merge_patch = n == 28 && strncasecmp(ct, "application/merge-patch+json", 28) == 0;
  if (!merge_patch && !(n == 16 && strncasecmp(ct, "application/json", 16) == 0)) return false;
  const char *params = ct + strcspn(ct, ";");
  while (*params == ';') {
    params++;
    while (*params == ' ') params++;
    size_t len = strcspn(params, ";");
    if (strncasecmp(params, "charset=", 8) == 0) {
      const char *cs = params + 8;
      size_t cl = len - 8;
      if (cl >= 2 && cs[0] == '"') { cs++; cl -= 2; }
      if (!(cl == 5 && strncasecmp(cs, "utf-8", 5) == 0)) return false;
    }
    params += len;
  }
  return true;
}

/* Our own limits on the request head, well inside libmicrohttpd's buffer
 * (main.c), so that what exceeds them gets a problem rather than the
 * library's bare HTML page. */
#define MAX_TARGET_BYTES 8192
#define MAX_HEADER_BYTES 16384

/* The headers the API reads, whose values must be visible ASCII (with spaces
 * and tabs). ulfius is told to keep every header value as sent (main.c sets
 * check_utf8 = 0), so nothing is dropped before this check sees it.
 * X-Request-Id is not here: an unusable one is replaced (see the contract). */
static const char *const ASCII_HEADERS[] = {"Authorization", "Idempotency-Key", "If-Match", "If-None-Match",
                                            "Content-Type", "Content-Length", "Accept", "Origin",
                                            "Access-Control-Request-Method", NULL};

static bool header_is_ascii(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (!((c >= 0x20 && c < 0x7f) || c == '\t')) return false;
  }
  return true;
}

/* The request head: its size, the headers we read, the raw query string. */
static int check_request_head(struct g1p_req *r, const struct _u_request *req) {
  const char *target = req->http_url ? req->http_url : "";
  size_t tlen = strlen(target);
  if (tlen > MAX_TARGET_BYTES)
    return problem_set(&r->problem, PROBLEM_URI_TOO_LONG, "The request target (path and query) must be at most %d bytes; it has %zu.", MAX_TARGET_BYTES, tlen);
  size_t hbytes = 0;
  const struct _u_map *h = req->map_header;
  for (int i = 0; h && i < h->nb_values; i++) hbytes += strlen(h->keys[i]) + h->lengths[i] + 4;
  if (hbytes > MAX_HEADER_BYTES)
    return problem_set(&r->problem, PROBLEM_HEADERS_TOO_LARGE, "The request headers must be at most %d bytes together; they have %zu.", MAX_HEADER_BYTES, hbytes);
  for (const char *const *name = ASCII_HEADERS; *name; name++) {
    const char *v = u_map_get_case(req->map_header, *name);
    if (v && !header_is_ascii(v, strlen(v))) {
      problem_set(&r->problem, PROBLEM_BAD_REQUEST, "The %s header must be visible ASCII characters (with spaces).", *name);
      r->problem.extra = json_pack("{s:s}", "header", *name);
      return -1;
    }
  }
  const char *q = strchr(target, '?');
  if (q) {
    char bad[128];
    enum urlquery_error e = urlquery_parse(q + 1, tlen - (size_t)(q + 1 - target), &r->query, bad, sizeof bad);
    if (e != URLQUERY_OK) {
      problem_set(&r->problem, PROBLEM_BAD_REQUEST, "Query parameter %s %s.", bad[0] ? bad : "(unnamed)", urlquery_error_text(e));
      r->problem.extra = json_pack("{s:s}", "parameter", bad);
      return -1;
    }
  }
  return 0;
}

/* CORS on every response to an allowed origin, problems included (the
 * headers are set before anything can fail). Vary: Origin always when CORS
 * is on, so a shared cache never serves one origin's answer to another. */
static void cors_response_headers(struct g1p_req *r, const char *origin) {
  const struct cors_origins *allowed = &r->app->cfg->cors;
  if (allowed->n == 0) return;
  u_map_put(r->resp->map_header, "Vary", "Origin");
  if (!cors_allows(allowed, origin)) return;
  u_map_put(r->resp->map_header, "Access-Control-Allow-Origin", origin);
  u_map_put(r->resp->map_header, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

/* OPTIONS: the path's methods in Allow, and for a preflight from an allowed
 * origin what the browser needs to send the real request (no token needed:
 * browsers never send one with a preflight). */
static int answer_options(struct g1p_req *r, const char *origin) {
  char allow[64];
  if (!routes_allowed_methods(r->path, allow, sizeof allow)) {
    problem_set(&r->problem, PROBLEM_NOT_FOUND, "There is nothing at %s.", r->path);
    return respond_problem(r);
  }
  u_map_put(r->resp->map_header, "Allow", allow);
  if (cors_allows(&r->app->cfg->cors, origin) && req_header(r, "Access-Control-Request-Method")) {
    u_map_put(r->resp->map_header, "Access-Control-Allow-Methods", allow);
    u_map_put(r->resp->map_header, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    u_map_put(r->resp->map_header, "Access-Control-Max-Age", CORS_MAX_AGE);
  }
  respond_text(r, 204, NULL, NULL, 0);
  return U_CALLBACK_COMPLETE;
}

int layer_request(const struct _u_request *req, struct _u_response *resp, void *app) {
  struct g1p_req *r = calloc(1, sizeof *r);
  if (!r) return U_CALLBACK_ERROR;
  atomic_fetch_add(&in_flight, 1);
  clock_gettime(CLOCK_MONOTONIC, &r->started);
  r->app = app;
  r->http = req;
  r->resp = resp;
  snprintf(r->method, sizeof r->method, "%s", req->http_verb);
  snprintf(r->path, sizeof r->path, "%s", req->url_path ? req->url_path : "/");
  split_path(r, r->path);
  ulfius_set_response_shared_data(resp, r, req_free);

  const char *rid = u_map_get_case(req->map_header, "X-Request-Id");
  if (rid && request_id_is_safe(rid)) {
    snprintf(r->id, sizeof r->id, "%s", rid);
  } else {
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) memset(b, 0, sizeof b);
    for (size_t i = 0; i < sizeof b; i++) sprintf(r->id + 2 * i, "%02x", b[i]);
  }
  u_map_put(resp->map_header, "X-Request-Id", r->id);
  const char *origin = u_map_get_case(req->map_header, "Origin");
  cors_response_headers(r, origin);
  if (check_request_head(r, req) != 0) return respond_problem(r);
  if (strcmp(r->method, "OPTIONS") == 0) return answer_options(r, origin);

  /* ulfius truncates bodies silently at max_post_body_size, so a body of
   * exactly the limit may be a truncated one: both count as too large. */
  size_t limit = r->app->cfg->max_body_bytes;
  const char *cl = u_map_get_case(req->map_header, "Content-Length");
  if ((cl && strtoull(cl, NULL, 10) >= limit) || req->binary_body_length >= limit) {
    problem_set(&r->problem, PROBLEM_BODY_TOO_LARGE, "The request body must be smaller than %zu bytes.", limit);
    return respond_problem(r);
  }
  if (req->binary_body_length > 0) {
    const char *ct = u_map_get_case(req->map_header, "Content-Type");
    if (!ct || !is_json_type(ct)) {
      problem_set(&r->problem, PROBLEM_UNSUPPORTED_MEDIA, "Send request bodies as application/json (or application/merge-patch+json for PATCH), in UTF-8.");
      return respond_problem(r);
    }
  }
  return U_CALLBACK_CONTINUE;
}

/* Failed authentications per minute, logged (with a fixed prefix for
 * fail2ban-style matching) when the next minute's first failure arrives. */
static atomic_long auth_failures;
static atomic_long auth_failure_minute;

static void note_auth_failure(void) {
  long minute = (long)(time(NULL) / 60);
  long seen = atomic_load(&auth_failure_minute);
  if (seen != minute && atomic_compare_exchange_strong(&auth_failure_minute, &seen, minute)) {
    long n = atomic_exchange(&auth_failures, 0);
    if (n > 0 && seen != 0) y_log_message(Y_LOG_LEVEL_WARNING, "Security - %ld failed authentications in the minute before %ld", n, minute * 60);
  }
  atomic_fetch_add(&auth_failures, 1);
}

int layer_auth(const struct _u_request *req, struct _u_response *resp, void *app) {
  struct g1p_req *r = req_of(resp);
  const struct g1p_app *a = app;
  const char *h = u_map_get_case(req->map_header, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
    telemetry_auth_failure(NULL);
    problem_set(&r->problem, PROBLEM_UNAUTHORIZED, "Send a bearer token: Authorization: Bearer <JWT>.");
    respond_problem(r);
    u_map_put(resp->map_header, "WWW-Authenticate", "Bearer");
    return U_CALLBACK_COMPLETE;
  }
  const char *token = h + 7;
  while (*token == ' ') token++;
  char why[128];
  const struct auth_keys *keys = auth_keyring_current(a->keys);
  int rc = auth_verify_cached(keys, token, time(NULL), &r->who, why, sizeof why);
  /* A kid we do not know may be the identity provider's new key: fetch its
   * key set (rate-limited) and try once more. */
  if (rc != 0 && strcmp(why, "unknown kid") == 0 && keysource_unknown_kid(a->keysource, keys->generation))
    rc = auth_verify_cached(auth_keyring_current(a->keys), token, time(NULL), &r->who, why, sizeof why);
  if (rc != 0) {
    note_auth_failure();
    telemetry_auth_failure(why);
    char ip[64] = "-";
    if (req->client_address && req->client_address->sa_family == AF_INET)
      inet_ntop(AF_INET, &((struct sockaddr_in *)req->client_address)->sin_addr, ip, sizeof ip);
    else if (req->client_address && req->client_address->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)req->client_address)->sin6_addr, ip, sizeof ip);
    y_log_message(Y_LOG_LEVEL_WARNING, "Security - invalid token from %s: %s (rid=%s)", ip, why, r->id);
    problem_set(&r->problem, PROBLEM_UNAUTHORIZED, "The bearer token is not valid: %s.", why);
    return respond_problem(r);
  }
  r->authenticated = true;
  return U_CALLBACK_CONTINUE;
}

/* If-None-Match with weak comparison (RFC 9110 13.1.2): W/"3" matches "3". */
static bool none_match_hits(const char *list, const char *etag) {
  if (!list || !etag) return false;
  size_t elen = strlen(etag);
  for (const char *s = list; *s;) {
    while (*s == ' ' || *s == '\t' || *s == ',') s++;
    if (*s == '*') return true;
    if (strncmp(s, "W/", 2) == 0) s += 2;
    size_t n = strcspn(s, ",");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == elen && strncmp(s, etag, n) == 0) return true;
    s += strcspn(s, ",");
  }
  return false;
}

/* A conditional read of an unchanged single resource (it has an ETag): 304
 * with no body, so mobile clients on metered networks download nothing. */
static void not_modified_if_unchanged(struct g1p_req *r) {
  if (none_match_hits(req_header(r, "If-None-Match"), u_map_get(r->resp->map_header, "ETag"))) {
    ulfius_set_empty_body_response(r->resp, 304);
    u_map_remove_from_key(r->resp->map_header, "Content-Type");
    r->status = 304;
  }
}

int layer_dispatch(const struct _u_request *req, struct _u_response *resp, void *route) {
  struct g1p_req *r = req_of(resp);
  const struct route *rt = route;
  r->route = rt;
  for (int i = 0; i < r->query.n; i++) {
    const char *name = r->query.p[i].name, *at = rt->query ? strstr(rt->query, name) : NULL;
    size_t n = strlen(name);
    while (at && !((at == rt->query || at[-1] == ' ') && (at[n] == ' ' || at[n] == '\0'))) at = strstr(at + 1, name);
    if (!at) {
      char shown[128];
      printable_copy(shown, sizeof shown, name, n);
      problem_set(&r->problem, PROBLEM_BAD_REQUEST, "Query parameter %s is not one this operation reads%s%s.", shown,
                  rt->query ? "; it reads: " : "; it reads none", rt->query ? rt->query : "");
      r->problem.extra = json_pack("{s:s}", "parameter", shown);
      return respond_problem(r);
    }
  }
  if (rt->handler(r) != 0) return respond_problem(r);
  if (r->status == 200 && strcmp(r->method, "GET") == 0) not_modified_if_unchanged(r);
  return U_CALLBACK_COMPLETE;
}

int layer_catch_all(const struct _u_request *req, struct _u_response *resp, void *app) {
  struct g1p_req *r = req_of(resp);
  char allow[64];
  if (routes_allowed_methods(r->path, allow, sizeof allow)) {
    problem_set(&r->problem, PROBLEM_METHOD_NOT_ALLOWED, "%s is not supported here; allowed: %s.", r->method, allow);
    respond_problem(r);
    u_map_put(resp->map_header, "Allow", allow);
    return U_CALLBACK_COMPLETE;
  }
  problem_set(&r->problem, PROBLEM_NOT_FOUND, "There is nothing at %s.", r->path);
  return respond_problem(r);
}

const char *req_query(const struct g1p_req *r, const char *name) { return urlquery_get(&r->query, name); }
const char *req_header(const struct g1p_req *r, const char *name) { return u_map_get_case(r->http->map_header, name); }

int req_json_body(struct g1p_req *r, json_t **out) {
  *out = NULL;
  if (r->http->binary_body_length == 0)
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "A JSON object is required as the request body.");
  json_error_t err;
  json_t *j = json_loadb(r->http->binary_body, r->http->binary_body_length, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "The body is not valid JSON: %s (line %d, column %d).", err.text, err.line, err.column);
  if (!json_is_object(j)) {
    json_decref(j);
    problem_add_error(&r->problem, "", "must be a JSON object");
    return -1;
  }
  *out = j;
  return 0;
}

/* When the replica failed: reads go to the primary until then (seconds). */
static atomic_long replica_down_until;
#define REPLICA_RETRY_SECONDS 5

struct db_pool *req_read_pool(struct g1p_req *r) {
  if (!r->app->read_db || (long)time(NULL) < atomic_load(&replica_down_until)) return r->app->db;
  return r->app->read_db;
}

bool req_read_failover(struct g1p_req *r, struct db_pool *used) {
  if (used != r->app->read_db || used == NULL || r->problem.kind != PROBLEM_UNAVAILABLE) return false;
  long until = (long)time(NULL) + REPLICA_RETRY_SECONDS;
  if (atomic_exchange(&replica_down_until, until) < until - REPLICA_RETRY_SECONDS + 1)
    y_log_message(Y_LOG_LEVEL_WARNING, "read replica unreachable (%s): reporting reads use the primary for %d s", r->problem.detail, REPLICA_RETRY_SECONDS);
  problem_clear(&r->problem);
  return true;
}

bool req_has_if_match(const struct g1p_req *r) { return req_header(r, "If-Match") != NULL; }

int req_if_match(struct g1p_req *r, long long current) {
  const char *h = req_header(r, "If-Match");
  if (!h) return 0;
  /* A list of entity tags: any one equal to "<current>" matches; * matches
   * any existing resource. Weak tags never match (RFC 9110 strong compare). */
  const char *s = h;
  while (*s) {
    while (*s == ' ' || *s == ',') s++;
    if (*s == '*') return 0;
    if (*s == '"') {
      char *end = NULL;
      long long v = strtoll(s + 1, &end, 10);
      if (s[1] >= '0' && s[1] <= '9' && end && *end == '"' && v == current) return 0;
    }
    s += strcspn(s, ",");
  }
  problem_set(&r->problem, PROBLEM_PRECONDITION_FAILED, "The resource has changed: it is at version %lld. Fetch it again and retry with If-Match: \"%lld\".", current, current);
  r->problem.extra = json_pack("{s:I}", "current_version", (json_int_t)current);
  return -1;
}

int req_limit(struct g1p_req *r, int *limit) {
  const char *v = req_query(r, "limit");
  long long n = 50;
  if (v && !parse_whole_number(v, 1, 500, &n))
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "limit must be a whole number from 1 to 500.");
  *limit = (int)n;
  return 0;
}

int respond_text(struct g1p_req *r, int status, const char *content_type, const char *body, size_t len) {
  /* ulfius refuses a zero-length binary body (and would keep status 200). */
  if (len == 0) {
    ulfius_set_empty_body_response(r->resp, (unsigned int)status);
    r->status = status;
    return 0;
  }
  ulfius_set_binary_body_response(r->resp, (unsigned int)status, body, len);
  u_map_put(r->resp->map_header, "Content-Type", content_type);
  r->status = status;
  return 0;
}

int respond_json_text(struct g1p_req *r, int status, const char *json, size_t len) {
  return respond_text(r, status, "application/json", json, len);
}

int respond_json(struct g1p_req *r, int status, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) return problem_set(&r->problem, PROBLEM_INTERNAL, "The response could not be built.");
  respond_json_text(r, status, text, strlen(text));
  free(text);
  return 0;
}

void respond_header(struct g1p_req *r, const char *name, const char *value) { u_map_put(r->resp->map_header, name, value); }

void respond_etag(struct g1p_req *r, const char *version) {
  char etag[32];
  snprintf(etag, sizeof etag, "\"%s\"", version);
  u_map_put(r->resp->map_header, "ETag", etag);
}
