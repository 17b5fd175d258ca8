/* See include/g1p/telemetry.h. Each worker thread owns one block of counters,
 * registered once in a list (the only lock, taken once per thread); the
 * request path does a few relaxed atomic adds on its own block, so threads
 * never share a cache line on the hot path. A scrape sums the blocks. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/routes.h"
#include "g1p/telemetry.h"

#define MAX_ROUTES 128
static const char *const METHODS[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "other"};
#define NMETHODS 8
/* Unmatched requests (no route) are kept per method: slots after the routes. */
#define SLOTS (MAX_ROUTES + NMETHODS)
static const int STATUSES[] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413, 414, 415, 422, 428, 431, 500, 503};
#define NSTATUS ((int)(sizeof STATUSES / sizeof STATUSES[0]) + 1) /* + other */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBUCKETS ((int)(sizeof BUCKETS / sizeof BUCKETS[0]) + 1) /* + Inf */

struct block {
  atomic_ulong requests[SLOTS][NSTATUS];
  atomic_ulong latency[SLOTS][NBUCKETS];  /* not cumulative */
  atomic_ulong latency_us[SLOTS];         /* sum, microseconds */
  struct block *next;
};

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static struct block *blocks;
static __thread struct block *mine;

static const char *const AUTH_REASONS[] = {"missing", "expired", "not_yet_valid", "bad_signature", "unknown_kid", "algorithm", "malformed", "claims"};
#define NREASONS 8
static atomic_ulong auth_failures[NREASONS];
static const char *const DB_KINDS[] = {"unavailable", "conflict", "validation", "internal"};
static atomic_ulong db_errors[4];
static const char *const WEBHOOK_RESULTS[] = {"delivered", "retry", "failed", "gone", "refused"};
static atomic_ulong webhook_attempts[5];

static struct block *my_block(void) {
  if (mine) return mine;
  struct block *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  pthread_mutex_lock(&registry);
  b->next = blocks;
  blocks = b;
  pthread_mutex_unlock(&registry);
  return mine = b; /* kept until exit: a scrape may still read it */
}

static int method_index(const char *m) {
  for (int i = 0; i < NMETHODS - 1; i++) if (strcmp(METHODS[i], m) == 0) return i;
  return NMETHODS - 1;
}

void telemetry_request(size_t route, const char *method, int status, double seconds) {
  struct block *b = my_block();
  if (!b) return;
  size_t slot = route < routes_count() && route < MAX_ROUTES ? route : MAX_ROUTES + (size_t)method_index(method);
  int s = NSTATUS - 1;
  for (int i = 0; i < NSTATUS - 1; i++) if (STATUSES[i] == status) { s = i; break; }
  int k = NBUCKETS - 1;
  for (int i = 0; i < NBUCKETS - 1; i++) if (seconds <= BUCKETS[i]) { k = i; break; }
  atomic_fetch_add_explicit(&b->requests[slot][s], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&b->latency[slot][k], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&b->latency_us[slot], (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

void telemetry_auth_failure(const char *why) {
  /* The reasons auth.c and http.c give, folded into a fixed list. */
  int i = 7;
  if (!why || strstr(why, "Send a bearer")) i = 0;
  else if (strstr(why, "expired")) i = 1;
  else if (strstr(why, "not yet valid")) i = 2;
  else if (strstr(why, "signature")) i = 3;
  else if (strstr(why, "unknown kid")) i = 4;
  else if (strstr(why, "algorithm")) i = 5;
  else if (strstr(why, "JWT") || strstr(why, "JSON") || strstr(why, "too large") || strstr(why, "kid missing")) i = 6;
  atomic_fetch_add_explicit(&auth_failures[i], 1, memory_order_relaxed);
}

void telemetry_db_error(enum problem_kind kind) {
  int i = kind == PROBLEM_UNAVAILABLE ? 0 : kind == PROBLEM_CONFLICT ? 1 : kind == PROBLEM_VALIDATION ? 2 : 3;
  atomic_fetch_add_explicit(&db_errors[i], 1, memory_order_relaxed);
}

void telemetry_webhook_attempt(const char *outcome) {
  for (int i = 0; i < 5; i++)
    if (strcmp(WEBHOOK_RESULTS[i], outcome) == 0) atomic_fetch_add_explicit(&webhook_attempts[i], 1, memory_order_relaxed);
}

/* ---- rendering -------------------------------------------------------- */

struct text {
  char *buf;
  size_t len, cap;
  bool oom;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...) {
  if (t->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) { t->oom = true; return; }
    if ((size_t)n < t->cap - t->len) { t->len += (size_t)n; return; }
    size_t cap = (t->cap + (size_t)n + 1) * 2;
    char *grown = realloc(t->buf, cap);
    if (!grown) { t->oom = true; return; }
    t->buf = grown;
    t->cap = cap;
  }
}

/* The route template as a label: "/v1/referrals/:id" -> "/v1/referrals/{id}". */
static void route_label(size_t slot, char *out, size_t len, const char **method) {
  if (slot >= MAX_ROUTES) {
    snprintf(out, len, "unmatched");
    *method = METHODS[slot - MAX_ROUTES];
    return;
  }
  const struct route *rt = routes_at(slot);
  *method = rt->method;
  size_t o = 0;
  for (const char *p = rt->path; *p && o + 2 < len; p++) {
    if (*p == ':') {
      out[o++] = '{';
      while (p[1] && p[1] != '/' && o + 2 < len) out[o++] = *++p;
      out[o++] = '}';
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

char *telemetry_render(struct db_pool *pool, size_t *len) {
  static unsigned long req[SLOTS][NSTATUS], lat[SLOTS][NBUCKETS], sum[SLOTS];
  static pthread_mutex_t render = PTHREAD_MUTEX_INITIALIZER; /* one scrape at a time owns the sums above */
  pthread_mutex_lock(&render);
  memset(req, 0, sizeof req);
  memset(lat, 0, sizeof lat);
  memset(sum, 0, sizeof sum);
  pthread_mutex_lock(&registry);
  for (struct block *b = blocks; b; b = b->next)
    for (int r = 0; r < SLOTS; r++) {
      for (int s = 0; s < NSTATUS; s++) req[r][s] += atomic_load_explicit(&b->requests[r][s], memory_order_relaxed);
      for (int k = 0; k < NBUCKETS; k++) lat[r][k] += atomic_load_explicit(&b->latency[r][k], memory_order_relaxed);
      sum[r] += atomic_load_explicit(&b->latency_us[r], memory_order_relaxed);
    }
  pthread_mutex_unlock(&registry);

  struct text t = {0};
  char route[160];
  const char *method;
  put(&t, "# HELP g1p_http_requests_total HTTP requests answered, by route template, method and status.\n"
          "# TYPE g1p_http_requests_total counter\n");
  for (int r = 0; r < SLOTS; r++)
    for (int s = 0; s < NSTATUS; s++) {
      if (!req[r][s]) continue;
      route_label((size_t)r, route, sizeof route, &method);
      if (s < NSTATUS - 1) put(&t, "g1p_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %lu\n", route, method, STATUSES[s], req[r][s]);
      else put(&t, "g1p_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} %lu\n", route, method, req[r][s]);
    }
  put(&t, "# HELP g1p_http_request_duration_seconds Time from the request's arrival to its response, by route template.\n"
          "# TYPE g1p_http_request_duration_seconds histogram\n");
  for (int r = 0; r < SLOTS; r++) {
    unsigned long count = 0;
    for (int k = 0; k < NBUCKETS; k++) count += lat[r][k];
    if (!count) continue;
    route_label((size_t)r, route, sizeof route, &method);
    unsigned long cumulative = 0;
    for (int k = 0; k < NBUCKETS - 1; k++) {
      cumulative += lat[r][k];
      put(&t, "g1p_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %lu\n", route, method, BUCKETS[k], cumulative);
    }
    put(&t, "g1p_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"} %lu\n", route, method, count);
    put(&t, "g1p_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n", route, method, (double)sum[r] / 1e6);
    put(&t, "g1p_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %lu\n", route, method, count);
  }
  pthread_mutex_unlock(&render);

  if (pool) {
    unsigned int in_use, idle, waiting;
    db_pool_stats(pool, &in_use, &idle, &waiting);
    put(&t, "# HELP g1p_db_pool_connections Database connections of this instance's pool, by state.\n"
            "# TYPE g1p_db_pool_connections gauge\n"
            "g1p_db_pool_connections{state=\"in_use\"} %u\ng1p_db_pool_connections{state=\"idle\"} %u\n"
            "# HELP g1p_db_pool_waiting Requests waiting for a database connection.\n"
            "# TYPE g1p_db_pool_waiting gauge\ng1p_db_pool_waiting %u\n", in_use, idle, waiting);
  }
  put(&t, "# HELP g1p_db_errors_total Database errors, by the answer they became.\n# TYPE g1p_db_errors_total counter\n");
  for (int i = 0; i < 4; i++) put(&t, "g1p_db_errors_total{kind=\"%s\"} %lu\n", DB_KINDS[i], atomic_load(&db_errors[i]));
  put(&t, "# HELP g1p_auth_failures_total Requests refused for their bearer token, by reason.\n# TYPE g1p_auth_failures_total counter\n");
  for (int i = 0; i < NREASONS; i++) put(&t, "g1p_auth_failures_total{reason=\"%s\"} %lu\n", AUTH_REASONS[i], atomic_load(&auth_failures[i]));
  put(&t, "# HELP g1p_webhook_attempts_total Webhook delivery attempts of this instance, by result.\n# TYPE g1p_webhook_attempts_total counter\n");
  for (int i = 0; i < 5; i++) put(&t, "g1p_webhook_attempts_total{result=\"%s\"} %lu\n", WEBHOOK_RESULTS[i], atomic_load(&webhook_attempts[i]));
  if (pool) {
    struct db_tx tx;
    struct g1p_problem p = {0};
    if (db_acquire(pool, &tx, &p) == 0) {
      PGresult *res = db_exec(&tx, &p, "SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= now()) FROM webhook_deliveries WHERE status = 'pending'", 0, NULL);
      if (res)
        put(&t, "# HELP g1p_webhook_queue_depth Pending webhook deliveries (all instances): waiting for a retry, or due now.\n"
                "# TYPE g1p_webhook_queue_depth gauge\ng1p_webhook_queue_depth{state=\"scheduled\"} %ld\ng1p_webhook_queue_depth{state=\"due\"} %s\n",
            atol(PQgetvalue(res, 0, 0)) - atol(PQgetvalue(res, 0, 1)), PQgetvalue(res, 0, 1));
      PQclear(res);
    }
    db_end(&tx);
    problem_clear(&p);
  }
  put(&t, "# HELP g1p_build_info The running build.\n# TYPE g1p_build_info gauge\ng1p_build_info{version=\"0.1.0\"} 1\n");
  if (t.oom) { free(t.buf); return NULL; }
  *len = t.len;
  return t.buf;
}

/* ---- the listener ------------------------------------------------------ */

struct telemetry_server {
  struct MHD_Daemon *daemon;
  struct db_pool *pool;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                              const char *upload, size_t *upload_len, void **state) {
  struct telemetry_server *t = cls;
  (void)version;
  (void)upload;
  (void)upload_len;
  (void)state;
  struct MHD_Response *resp;
  unsigned int status;
  if (strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0) {
    size_t len = 0;
    char *text = telemetry_render(t->pool, &len);
    if (!text) return MHD_NO;
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    status = MHD_HTTP_OK;
  } else {
    static const char body[] = "Not found: metrics are at GET /metrics\n";
    resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    status = MHD_HTTP_NOT_FOUND;
  }
  enum MHD_Result rc = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

struct telemetry_server *telemetry_listen(const struct g1p_config *cfg, struct db_pool *pool, char *err, size_t err_len) {
  if (!cfg->metrics_port) return NULL;
  struct telemetry_server *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->pool = pool;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)cfg->metrics_port);
  inet_pton(AF_INET, cfg->bind_address, &addr.sin_addr);
  t->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)cfg->metrics_port, NULL, NULL, answer, t,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
  if (!t->daemon) {
    snprintf(err, err_len, "cannot listen for metrics on %s:%u", cfg->bind_address, cfg->metrics_port);
    free(t);
    return NULL;
  }
  return t;
}

void telemetry_stop(struct telemetry_server *t) {
  if (!t) return;
  MHD_stop_daemon(t->daemon);
  free(t);
}
