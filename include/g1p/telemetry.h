/* Prometheus metrics on their own listener (METRICS_PORT): requests by route
 * template, method and status, latency histograms by route, the connection
 * pool, database errors, authentication failures by reason, webhook
 * deliveries by result and their queue, build info. The request path only
 * bumps counters of its own thread (relaxed atomics, no lock); a scrape
 * merges every thread's counters. Label values are route templates and fixed
 * lists, never raw paths, ids or methods, so the number of series is bounded. */
#ifndef G1P_TELEMETRY_H
#define G1P_TELEMETRY_H
#include <stddef.h>
#include "g1p/config.h"
#include "g1p/db.h"
#include "g1p/problem.h"

/* One answered request: route index from routes.h (routes_count() for none). */
void telemetry_request(size_t route, const char *method, int status, double seconds);
void telemetry_auth_failure(const char *why);
void telemetry_db_error(enum problem_kind kind);
/* outcome: "delivered", "retry", "failed", "gone" or "refused". */
void telemetry_webhook_attempt(const char *outcome);

/* The exposition text (caller frees); pool may be NULL. */
char *telemetry_render(struct db_pool *pool, size_t *len);

struct telemetry_server;
/* Listens on cfg->metrics_port (when set) at cfg->bind_address; NULL when
 * off or when it cannot listen (err says which). */
struct telemetry_server *telemetry_listen(const struct g1p_config *cfg, struct db_pool *pool, char *err, size_t err_len);
void telemetry_stop(struct telemetry_server *t);

#endif
