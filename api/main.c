/* g1p-api: start-up and shutdown. Reads the configuration, applies the
 * migrations, opens the connection pool, registers the routes and serves
 * until SIGTERM/SIGINT, then stops gracefully: no new connections, in-flight
 * requests finish, the pool closes.
 *
 *   g1p-api            migrate, then serve
 *   g1p-api migrate    migrate only
 *   g1p-api retention [--dry-run] [--as-of DATE]   erase what retention says (see retention.h)
 * SIGHUP reloads the JWT keys (key rotation; see keysource.h). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>
#include <yder.h>
#include "g1p/auth.h"
#include "g1p/config.h"
#include "g1p/db.h"
#include "g1p/deliver.h"
#include "g1p/http.h"
#include "g1p/keysource.h"
#include "g1p/migrate.h"
#include "g1p/retention.h"
#include "g1p/routes.h"
#include "g1p/telemetry.h"

#define DRAIN_SECONDS 10

/* After the listener is closed: wait until no request is being handled,
 * then give responses being written a moment to leave. */
static void wait_for_drain(void) {
  for (int i = 0; i < DRAIN_SECONDS * 100 && http_in_flight() > 0; i++) usleep(10000);
  usleep(50000);
}

/* A restored database starts a new WAL timeline: note where the change feed
 * branched off before anything is stamped on it (see sql/008). */
static void record_feed_history(struct db_pool *pool) {
  struct db_tx tx;
  struct g1p_problem p = {0};
  if (db_acquire(pool, &tx, &p) == 0) PQclear(db_exec(&tx, &p, "SELECT g1p_feed_history()", 0, NULL));
  db_end(&tx);
  problem_clear(&p);
}

static int serve(const struct g1p_config *cfg, const struct g1p_app *app) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)cfg->port);
  if (inet_pton(AF_INET, cfg->bind_address, &addr.sin_addr) != 1) {
    fprintf(stderr, "g1p-api: BIND_ADDRESS must be an IPv4 address (got \"%s\")\n", cfg->bind_address);
    return 2;
  }
  struct _u_instance inst;
  if (ulfius_init_instance(&inst, cfg->port, &addr, NULL) != U_OK) return 1;
  inst.max_post_body_size = cfg->max_body_bytes;
  inst.allowed_post_processor = U_POST_PROCESS_NONE;
  inst.timeout = cfg->request_timeout_s;
  /* Keep every header and query value as sent: layer_request checks them and
   * answers 400, where ulfius would drop a value that is not UTF-8. */
  inst.check_utf8 = 0;
  if (routes_register(&inst, app) != 0) { ulfius_clean_instance(&inst); return 1; }

  /* One MHD worker thread per pooled connection: measured here as the best
   * throughput with bounded threads (see README, Performance). */
  struct MHD_OptionItem ops[] = {
    {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->pool_size, NULL},
    {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->request_timeout_s, NULL},
    {MHD_OPTION_CONNECTION_LIMIT, 4096, NULL},
    /* The request head must fit in this per-connection buffer, or
     * libmicrohttpd itself answers 414/431 as HTML. 128 KiB leaves room for
     * layer_request's own limits (8 KiB target, 16 KiB headers) to answer
     * with a problem; only heads far beyond them meet the library's page. */
    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(128 * 1024), NULL},
    {MHD_OPTION_SOCK_ADDR, 0, &addr},
    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
    {MHD_OPTION_END, 0, NULL},
  };
  if (ulfius_start_framework_with_mhd_options(&inst, MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, ops) != U_OK) {
    fprintf(stderr, "g1p-api: cannot listen on %s:%u\n", cfg->bind_address, cfg->port);
    ulfius_clean_instance(&inst);
    return 1;
  }
  y_log_message(Y_LOG_LEVEL_INFO, "g1p-api listening on %s:%u (pool %u)", cfg->bind_address, cfg->port, cfg->pool_size);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  int sig = 0;
  while (sigwait(&set, &sig) == 0 && sig == SIGHUP) keysource_reload(app->keysource);
  y_log_message(Y_LOG_LEVEL_INFO, "signal %d: draining connections", sig);
  MHD_socket listen_fd = MHD_quiesce_daemon(inst.mhd_daemon);
  wait_for_drain();
  ulfius_stop_framework(&inst);
  if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
  ulfius_clean_instance(&inst);
  y_log_message(Y_LOG_LEVEL_INFO, "stopped");
  return 0;
}

int main(int argc, char **argv) {
  bool migrate_only = argc == 2 && strcmp(argv[1], "migrate") == 0;
  bool retention = argc >= 2 && strcmp(argv[1], "retention") == 0;
  bool dry_run = false;
  const char *as_of = NULL;
  char usage[160];
  if ((argc > 1 && !migrate_only && !retention) ||
      (retention && retention_args(argc - 2, argv + 2, &dry_run, &as_of, usage, sizeof usage) != 0)) {
    fprintf(stderr, "usage: g1p-api [migrate | retention [--dry-run] [--as-of YYYY-MM-DD]]\n");
    return 2;
  }
  /* Signals are handled by sigwait in the main thread only: block them
   * before any thread starts so the workers inherit the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* Before any thread: libcurl's global state (the key refresh uses it). */
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct g1p_config cfg;
  char err[512];
  if (config_load(&cfg, err, sizeof err) != 0) {
    fprintf(stderr, "g1p-api: %s\n", err);
    config_free(&cfg);
    return 2;
  }
  if (!cfg.database_url) {
    fprintf(stderr, "g1p-api: DATABASE_URL is not set\n");
    config_free(&cfg);
    return 2;
  }
  if (!migrate_only && !retention && !cfg.jwt_hs256_secret && !cfg.jwt_public_keys_dir && !cfg.jwt_jwks_file && !cfg.jwt_jwks_url && !cfg.jwt_oidc_issuer) {
    fprintf(stderr, "g1p-api: no token could be verified: set JWT_HS256_SECRET, JWT_PUBLIC_KEYS_DIR, JWT_JWKS_FILE, JWT_JWKS_URL or JWT_OIDC_ISSUER\n");
    config_free(&cfg);
    return 2;
  }
  y_init_logs("g1p-api", Y_LOG_MODE_CONSOLE, cfg.log_level, NULL, "g1p-api starting");

  int rc = 1;
  struct keysource *keys = NULL;
  struct db_pool *pool = NULL, *read_pool = NULL;
  struct deliver *workers = NULL;
  struct telemetry_server *metrics = NULL;
  int applied = migrate_run(cfg.database_url, cfg.db_prepare, err, sizeof err);
  if (applied < 0) {
    fprintf(stderr, "g1p-api: %s\n", err);
    goto done;
  }
  y_log_message(Y_LOG_LEVEL_INFO, "migrations: %d applied", applied);
  if (migrate_only) { rc = 0; goto done; }
  if (retention) {
    rc = retention_run(&cfg, dry_run, as_of, stdout, err, sizeof err) == 0 ? 0 : 1;
    if (rc) fprintf(stderr, "g1p-api: retention: %s\n", err);
    goto done;
  }

  keys = keysource_start(&cfg, err, sizeof err);
  if (!keys) {
    fprintf(stderr, "g1p-api: %s\n", err);
    rc = 2;
    goto done;
  }
  pool = db_pool_new(cfg.database_url, cfg.pool_size, cfg.db_timeout_ms, cfg.db_prepare);
  if (!pool) goto done;
  record_feed_history(pool);
  if (cfg.database_read_url) {
    /* Reporting reads are few and long: half the pool, at least two. */
    read_pool = db_pool_new(cfg.database_read_url, cfg.pool_size / 2 > 2 ? cfg.pool_size / 2 : 2, cfg.db_timeout_ms, cfg.db_prepare);
    if (!read_pool) goto done;
  }
  struct g1p_app app = {.cfg = &cfg, .db = pool, .read_db = read_pool, .keys = keysource_ring(keys), .keysource = keys};
  metrics = telemetry_listen(&cfg, pool, err, sizeof err);
  if (cfg.metrics_port && !metrics) {
    fprintf(stderr, "g1p-api: %s\n", err);
    goto done;
  }
  workers = deliver_start(&cfg);
  if (!workers) {
    fprintf(stderr, "g1p-api: the webhook delivery workers could not start\n");
    goto done;
  }
  rc = serve(&cfg, &app);
done:
  deliver_stop(workers);
  telemetry_stop(metrics);
  db_pool_free(read_pool);
  db_pool_free(pool);
  keysource_stop(keys);
  config_free(&cfg);
  curl_global_cleanup();
  y_close_logs();
  return rc;
}
