/* The HTTP side shared by every handler: the application context, the
 * per-request state, the callback layers (request id and body checks, JWT
 * gate, dispatch, catch-all) and the helpers that write a response. */
#ifndef G1P_HTTP_H
#define G1P_HTTP_H
#include <jansson.h>
#include <stdbool.h>
#include <time.h>
#include <ulfius.h>
#include "g1p/auth.h"
#include "g1p/config.h"
#include "g1p/db.h"
#include "g1p/keysource.h"
#include "g1p/problem.h"
#include "g1p/urlquery.h"

/* Built once at start-up, read-only afterwards; every callback gets it. */
struct g1p_app {
  const struct g1p_config *cfg;
  struct db_pool *db;
  struct db_pool *read_db;    /* DATABASE_READ_URL (a streaming replica) for reporting reads, or NULL */
  struct auth_keyring *keys;  /* the only mutable part: swapped on SIGHUP and key refreshes */
  struct keysource *keysource;/* asked again when a token names an unknown kid */
};

#define REQ_MAX_SEGMENTS 8

/* Per-request state, owned by the response (ulfius shared data) and freed
 * after the response is built; its free function writes the access log. */
struct g1p_req {
  const struct g1p_app *app;
  const struct _u_request *http;
  struct _u_response *resp;
  char id[65];                   /* X-Request-Id */
  char method[12];
  char path[200];
  struct timespec started;
  int status;                    /* status written, for the log line */
  bool authenticated;
  struct g1p_principal who;
  char seg[REQ_MAX_SEGMENTS][80];/* url path segments: /v1/regions/gent -> v1, regions, gent */
  int nseg;
  struct urlquery query;         /* decoded from the raw request line */
  const struct route *route;     /* the endpoint that handled it (metrics label), or NULL */
  struct g1p_problem problem;    /* filled by a failing handler */
};

typedef int (*g1p_handler)(struct g1p_req *r);

/* One row of the route table (routes.c). */
struct route {
  const char *method;
  const char *path;              /* ulfius format: /v1/regions/:code */
  g1p_handler handler;
  const char *query;             /* the query parameters it reads, space-separated; others are a 400 */
};

/* Callback priorities: lower runs first. */
enum { LAYER_REQUEST = 0, LAYER_AUTH = 1, LAYER_HANDLER = 3, LAYER_CATCH_ALL = 99 };

int layer_request(const struct _u_request *req, struct _u_response *resp, void *app);
int layer_auth(const struct _u_request *req, struct _u_response *resp, void *app);
int layer_dispatch(const struct _u_request *req, struct _u_response *resp, void *route);
int layer_catch_all(const struct _u_request *req, struct _u_response *resp, void *app);

/* Requests currently being handled (for the graceful stop). */
int http_in_flight(void);

/* Request helpers. Query values come decoded and checked (urlquery.h);
 * headers are the ones checked in layer_request. */
const char *req_query(const struct g1p_req *r, const char *name);
const char *req_header(const struct g1p_req *r, const char *name);
/* Parses the body as one JSON object (duplicate keys rejected). */
int req_json_body(struct g1p_req *r, json_t **out);
/* Checks If-Match against the current version: 0 when absent or matching,
 * else -1 with a 412 problem carrying current_version. */
int req_if_match(struct g1p_req *r, long long current_version);
bool req_has_if_match(const struct g1p_req *r);
/* The pool a reporting read (metrics, the audit trail) uses: the replica,
 * unless there is none or it failed in the last few seconds. */
struct db_pool *req_read_pool(struct g1p_req *r);
/* After a read on `used` failed: when `used` is the replica and it was
 * unreachable, logs it, keeps reads on the primary for a while, clears the
 * problem and returns true: run the read again on req_read_pool(r). */
bool req_read_failover(struct g1p_req *r, struct db_pool *used);
/* Reads ?limit= (default 50, 1..500); -1 with a 400 problem otherwise. */
int req_limit(struct g1p_req *r, int *limit);

/* Response helpers: every success goes through these. */
int respond_json_text(struct g1p_req *r, int status, const char *json, size_t len);
int respond_json(struct g1p_req *r, int status, json_t *body);
int respond_text(struct g1p_req *r, int status, const char *content_type, const char *body, size_t len);
void respond_header(struct g1p_req *r, const char *name, const char *value);
void respond_etag(struct g1p_req *r, const char *version);
int respond_problem(struct g1p_req *r);

#endif
