/* See include/g1p/deliver.h. One thread = one database connection (never the
 * request pool's) + one curl multi handle. The loop: claim what is due (up to
 * MAX_IN_FLIGHT, never a subscription already in flight), run the transfers,
 * record each outcome as it completes, and sleep in curl_multi_poll on the
 * transfers and on the connection's socket, where LISTEN g1p_webhooks wakes
 * it as soon as a writer commits an event. Polling every POLL_MS remains as
 * the fallback (behind PgBouncer in transaction mode LISTEN is not kept). */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <yder.h>
#include "g1p/db.h"
#include "g1p/deliver.h"
#include "g1p/netcheck.h"
#include "g1p/sign.h"
#include "g1p/telemetry.h"

#define MAX_IN_FLIGHT 16
#define POLL_MS 2000
#define DRAIN_MS 5000
#define RESPONSE_KEEP 1024

static const long BACKOFF_S[] = {5, 300, 1800, 7200, 18000, 36000, 36000};

long deliver_backoff(int attempt) {
  int n = (int)(sizeof BACKOFF_S / sizeof BACKOFF_S[0]);
  return attempt >= 1 && attempt <= n ? BACKOFF_S[attempt - 1] : -1;
}

long deliver_retry_after(const char *v, long now) {
  if (!v || !*v) return -1;
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (end != v && *end == '\0' && v[0] >= '0' && v[0] <= '9') return n;
  time_t at = curl_getdate(v, NULL);
  if (at < 0) return -1;
  return at > now ? (long)(at - now) : 0;
}

struct transfer {
  CURL *easy;
  struct curl_slist *headers;
  char id[37], webhook[37];
  char *body;
  char response[RESPONSE_KEEP + 1];
  size_t response_len;
  bool cut;                 /* we stopped reading the answer after RESPONSE_KEEP bytes */
  bool refused_address;     /* the address connected to is not allowed */
  bool allow_private;
  char retry_after[64];
  char curl_error[CURL_ERROR_SIZE];
  int attempt;              /* this attempt's number, from 1 */
  struct timespec started;
};

struct worker {
  struct deliver *owner;
  pthread_t thread;
  PGconn *conn;
  CURLM *multi;
  struct transfer *flight[MAX_IN_FLIGHT];
  int n;
};

struct deliver {
  const struct g1p_config *cfg;
  /* Tests only (WEBHOOK_TEST_RESOLVE="host:port:address"): stands in for a
   * DNS answer that changed after the subscription was written. */
  struct curl_slist *resolve;
  atomic_bool stopping;
  unsigned int nworkers;
  struct worker *workers;
};

static double ms_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- libcurl callbacks ------------------------------------------------ */

static size_t keep_response(char *data, size_t size, size_t n, void *user) {
  struct transfer *t = user;
  size_t len = size * n, room = RESPONSE_KEEP - t->response_len;
  if (len > room) {
    memcpy(t->response + t->response_len, data, room);
    t->response_len = RESPONSE_KEEP;
    t->cut = true;
    return 0; /* read no further: a receiver's answer is never ours to store */
  }
  memcpy(t->response + t->response_len, data, len);
  t->response_len += len;
  return len;
}

static size_t read_header(char *line, size_t size, size_t n, void *user) {
  struct transfer *t = user;
  size_t len = size * n;
  if (len > 12 && strncasecmp(line, "Retry-After:", 12) == 0) {
    size_t i = 12;
    while (i < len && line[i] == ' ') i++;
    size_t k = 0;
    while (i < len && line[i] != '\r' && line[i] != '\n' && k + 1 < sizeof t->retry_after) t->retry_after[k++] = line[i++];
    t->retry_after[k] = '\0';
  }
  return len;
}

/* Every connection's address is checked as it is opened: a name that
 * resolved to a public address when the subscription was written may point
 * inward now (DNS rebinding). */
static curl_socket_t open_checked(void *user, curlsocktype purpose, struct curl_sockaddr *a) {
  struct transfer *t = user;
  (void)purpose;
  if (!netcheck_address_allowed(&a->addr, t->allow_private)) {
    t->refused_address = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

/* ---- database ----------------------------------------------------------- */

static bool connect_db(struct worker *w) {
  const struct g1p_config *cfg = w->owner->cfg;
  if (w->conn && PQstatus(w->conn) == CONNECTION_OK) return true;
  if (w->conn) PQfinish(w->conn);
  char *info = db_conninfo(cfg->database_url, cfg->db_timeout_ms, cfg->db_prepare);
  w->conn = info ? PQconnectdb(info) : NULL;
  free(info);
  if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) return false;
  PGresult *res = PQexec(w->conn, "LISTEN g1p_webhooks");
  PQclear(res);
  return true;
}

static PGresult *run(struct worker *w, const char *sql, int n, const char *const *params) {
  PGresult *res = PQexecParams(w->conn, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    y_log_message(Y_LOG_LEVEL_WARNING, "webhooks: database: %s", PQerrorMessage(w->conn));
    PQclear(res);
    return NULL;
  }
  return res;
}

/* Claims up to `room` due deliveries of subscriptions not in flight here
 * (nor, as far as the database shows, elsewhere). A delivery's body is
 * fixed at its first claim, so every retry sends the same bytes; an event
 * waits until its change has its feed position (seq). */
static const char CLAIM_SQL[] =
  "WITH pick AS (SELECT c.id FROM webhooks w"
  "  CROSS JOIN LATERAL (SELECT x.id FROM webhook_deliveries x JOIN webhook_events e ON e.id = x.event_id"
  "    LEFT JOIN changes ch ON ch.id = e.change_id"
  "    WHERE x.webhook_id = w.id AND x.status = 'pending' AND x.next_attempt_at <= now()"
  "      AND (x.lease_until IS NULL OR x.lease_until < now()) AND (e.change_id IS NULL OR ch.seq IS NOT NULL)"
  "    ORDER BY x.next_attempt_at LIMIT 1 FOR UPDATE OF x SKIP LOCKED) c"
  "  WHERE w.enabled AND NOT (w.id = ANY ($1::uuid[]))"
  "    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries y WHERE y.webhook_id = w.id AND y.status = 'pending' AND y.lease_until >= now())"
  "  LIMIT $2::int)"
  " UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $3::int), attempts = d.attempts + 1,"
  "  last_attempt_at = now(),"
  "  payload = coalesce(d.payload, (SELECT json_build_object('type', e.type, 'timestamp', g1p_ts(e.created_at),"
  "    'data', json_build_object('resource', e.resource, 'id', e.resource_id, 'version', e.version, 'seq', ch.seq))::text"
  "    FROM webhook_events e LEFT JOIN changes ch ON ch.id = e.change_id WHERE e.id = d.event_id))"
  " FROM pick, webhooks w, webhook_events ev"
  " WHERE d.id = pick.id AND w.id = d.webhook_id AND ev.id = d.event_id"
  " RETURNING d.id, d.webhook_id, w.url, 'msg_' || replace(ev.id::text, '-', ''), d.payload, w.secret,"
  "  CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END, d.attempts";

/* One attempt's outcome; the subscription's failure streak and the
 * automatic disabling (410 at once, five days of failures) go with it. */
static const char RECORD_SQL[] =
  "WITH d AS (UPDATE webhook_deliveries SET lease_until = NULL, last_status_code = $2::int, last_error = $3,"
  "   last_duration_ms = $4::int,"
  "   status = CASE WHEN $5 = 'ok' THEN 'delivered' WHEN $5 = 'gone' OR $6::int IS NULL THEN 'failed' ELSE 'pending' END,"
  "   delivered_at = CASE WHEN $5 = 'ok' THEN now() END,"
  "   next_attempt_at = CASE WHEN $6::int IS NOT NULL THEN now() + make_interval(secs => $6::int) ELSE next_attempt_at END"
  "  WHERE id = $1::uuid AND status = 'pending' RETURNING webhook_id),"
  " cleared AS (DELETE FROM webhook_failing f USING d WHERE $5 = 'ok' AND f.webhook_id = d.webhook_id),"
  " streak AS (INSERT INTO webhook_failing (webhook_id, since) SELECT d.webhook_id, now() FROM d WHERE $5 <> 'ok'"
  "   ON CONFLICT (webhook_id) DO UPDATE SET since = webhook_failing.since RETURNING webhook_id, since)"
  " UPDATE webhooks w SET enabled = false, disabled_reason = CASE WHEN $5 = 'gone' THEN 'gone' ELSE 'failing' END"
  " FROM streak s WHERE w.id = s.webhook_id AND w.enabled AND ($5 = 'gone' OR s.since < now() - interval '5 days')";

/* ---- transfers ------------------------------------------------------------ */

static void transfer_free(struct transfer *t) {
  if (!t) return;
  if (t->easy) curl_easy_cleanup(t->easy);
  curl_slist_free_all(t->headers);
  free(t->body);
  free(t);
}

static struct transfer *transfer_new(struct worker *w, PGresult *res, int row) {
  const struct g1p_config *cfg = w->owner->cfg;
  struct transfer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  snprintf(t->id, sizeof t->id, "%s", PQgetvalue(res, row, 0));
  snprintf(t->webhook, sizeof t->webhook, "%s", PQgetvalue(res, row, 1));
  t->body = strdup(PQgetvalue(res, row, 4));
  t->attempt = atoi(PQgetvalue(res, row, 7));
  t->allow_private = cfg->webhook_allow_private;
  t->easy = curl_easy_init();
  const char *secrets[2] = {PQgetvalue(res, row, 5), PQgetisnull(res, row, 6) ? NULL : PQgetvalue(res, row, 6)};
  char sig[512], line[600];
  long long now = (long long)time(NULL);
  const char *msg = PQgetvalue(res, row, 3);
  if (!t->body || !t->easy ||
      sign_header(secrets, secrets[1] ? 2 : 1, msg, now, t->body, strlen(t->body), sig, sizeof sig) != 0) {
    transfer_free(t);
    return NULL;
  }
  t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
  t->headers = curl_slist_append(t->headers, "Expect:");
  snprintf(line, sizeof line, "webhook-id: %s", msg);
  t->headers = curl_slist_append(t->headers, line);
  snprintf(line, sizeof line, "webhook-timestamp: %lld", now);
  t->headers = curl_slist_append(t->headers, line);
  snprintf(line, sizeof line, "webhook-signature: %s", sig);
  t->headers = curl_slist_append(t->headers, line);
  const char *schemes = cfg->webhook_allow_http ? "http,https" : "https";
  CURL *e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, PQgetvalue(res, row, 2));
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, schemes);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)cfg->webhook_timeout_s);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)(cfg->webhook_timeout_s < 5 ? cfg->webhook_timeout_s : 5));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(t->body));
  curl_easy_setopt(e, CURLOPT_USERAGENT, "g1p-api-webhooks/1");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_checked);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
  if (w->owner->resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, w->owner->resolve);
  clock_gettime(CLOCK_MONOTONIC, &t->started);
  return t;
}

static void record(struct worker *w, struct transfer *t, CURLcode rc) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  bool answered = status > 0 && (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t->cut));
  char error[256] = "";
  const char *outcome = "retry";
  long next = -1;
  if (answered && status >= 200 && status < 300) {
    outcome = "ok";
  } else if (answered && status == 410) {
    outcome = "gone";
    snprintf(error, sizeof error, "HTTP 410: the receiver is gone; the subscription is disabled");
  } else {
    if (t->refused_address) snprintf(error, sizeof error, "the address connected to is private or local: refused");
    else if (!answered) snprintf(error, sizeof error, "%s", t->curl_error[0] ? t->curl_error : curl_easy_strerror(rc));
    else snprintf(error, sizeof error, "HTTP %ld", status);
    long after = answered && (status == 429 || status == 503) ? deliver_retry_after(t->retry_after, (long)time(NULL)) : -1;
    next = deliver_backoff(t->attempt);
    if (next >= 0 && after >= 0) next = after < 1 ? 1 : after > 86400 ? 86400 : after;
  }
  telemetry_webhook_attempt(strcmp(outcome, "ok") == 0 ? "delivered" : strcmp(outcome, "gone") == 0 ? "gone"
                            : t->refused_address ? "refused" : next >= 0 ? "retry" : "failed");
  char code[16], ms[16], nexts[24];
  snprintf(code, sizeof code, "%ld", status);
  snprintf(ms, sizeof ms, "%d", (int)ms_since(&t->started));
  snprintf(nexts, sizeof nexts, "%ld", next);
  const char *params[] = {t->id, answered ? code : NULL, error[0] ? error : NULL, ms, outcome, next >= 0 ? nexts : NULL};
  PQclear(run(w, RECORD_SQL, 6, params));
}

static void claim(struct worker *w) {
  const struct g1p_config *cfg = w->owner->cfg;
  PQclear(run(w, "SELECT changes_stamp()", 0, NULL));
  char inflight[MAX_IN_FLIGHT * 40 + 4], room[16], lease[16];
  size_t o = (size_t)snprintf(inflight, sizeof inflight, "{");
  for (int i = 0; i < w->n; i++) o += (size_t)snprintf(inflight + o, sizeof inflight - o, "%s%s", i ? "," : "", w->flight[i]->webhook);
  snprintf(inflight + o, sizeof inflight - o, "}");
  snprintf(room, sizeof room, "%d", MAX_IN_FLIGHT - w->n);
  snprintf(lease, sizeof lease, "%u", cfg->webhook_lease_s);
  const char *params[] = {inflight, room, lease};
  PGresult *res = run(w, CLAIM_SQL, 3, params);
  for (int i = 0; res && i < PQntuples(res) && w->n < MAX_IN_FLIGHT; i++) {
    struct transfer *t = transfer_new(w, res, i);
    if (!t) {
      y_log_message(Y_LOG_LEVEL_ERROR, "webhooks: delivery %s could not be prepared", PQgetvalue(res, i, 0));
      continue;
    }
    curl_multi_add_handle(w->multi, t->easy);
    w->flight[w->n++] = t;
  }
  PQclear(res);
}

static void finish(struct worker *w, CURL *easy, CURLcode rc) {
  for (int i = 0; i < w->n; i++) {
    if (w->flight[i]->easy != easy) continue;
    struct transfer *t = w->flight[i];
    curl_multi_remove_handle(w->multi, easy);
    record(w, t, rc);
    transfer_free(t);
    w->flight[i] = w->flight[--w->n];
    return;
  }
}

/* Stop: what is still in flight goes back unclaimed, its attempt not
 * counted, for this or another instance to send. */
static void release_all(struct worker *w) {
  for (int i = 0; i < w->n; i++) {
    const char *key[] = {w->flight[i]->id};
    PQclear(run(w, "UPDATE webhook_deliveries SET lease_until = NULL, attempts = attempts - 1 WHERE id = $1 AND status = 'pending'", 1, key));
    curl_multi_remove_handle(w->multi, w->flight[i]->easy);
    transfer_free(w->flight[i]);
  }
  w->n = 0;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct timespec stop_at = {0};
  for (;;) {
    bool stopping = atomic_load(&w->owner->stopping);
    if (stopping && stop_at.tv_sec == 0) clock_gettime(CLOCK_MONOTONIC, &stop_at);
    if (stopping && (w->n == 0 || ms_since(&stop_at) > DRAIN_MS)) break;
    if (!connect_db(w)) {
      usleep(500000);
      continue;
    }
    if (!stopping && w->n < MAX_IN_FLIGHT) claim(w);
    int running = 0;
    curl_multi_perform(w->multi, &running);
    CURLMsg *m;
    int left, finished = 0;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL)
      if (m->msg == CURLMSG_DONE) { finish(w, m->easy_handle, m->data.result); finished++; }
    /* A subscription that just finished may have its next event waiting:
     * claim again at once rather than sleep. */
    struct curl_waitfd db = {.fd = PQsocket(w->conn), .events = CURL_WAIT_POLLIN};
    curl_multi_poll(w->multi, &db, db.fd >= 0 ? 1 : 0, finished ? 0 : w->n ? 100 : POLL_MS, NULL);
    PQconsumeInput(w->conn);
    PGnotify *note;
    while ((note = PQnotifies(w->conn)) != NULL) PQfreemem(note);
  }
  if (w->conn && PQstatus(w->conn) == CONNECTION_OK) release_all(w);
  return NULL;
}

struct deliver *deliver_start(const struct g1p_config *cfg) {
  struct deliver *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->cfg = cfg;
  const char *resolve = getenv("WEBHOOK_TEST_RESOLVE");
  if (resolve && *resolve) d->resolve = curl_slist_append(NULL, resolve);
  d->workers = calloc(cfg->webhook_workers ? cfg->webhook_workers : 1, sizeof *d->workers);
  if (!d->workers) { free(d); return NULL; }
  for (unsigned int i = 0; i < cfg->webhook_workers; i++) {
    struct worker *w = &d->workers[i];
    w->owner = d;
    w->multi = curl_multi_init();
    if (!w->multi || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      if (w->multi) curl_multi_cleanup(w->multi);
      deliver_stop(d);
      return NULL;
    }
    d->nworkers++;
  }
  return d;
}

void deliver_stop(struct deliver *d) {
  if (!d) return;
  atomic_store(&d->stopping, true);
  for (unsigned int i = 0; i < d->nworkers; i++) curl_multi_wakeup(d->workers[i].multi);
  for (unsigned int i = 0; i < d->nworkers; i++) {
    struct worker *w = &d->workers[i];
    pthread_join(w->thread, NULL);
    curl_multi_cleanup(w->multi);
    if (w->conn) PQfinish(w->conn);
  }
  curl_slist_free_all(d->resolve);
  free(d->workers);
  free(d);
}
