/* See include/g1p/migrate.h. Migration files are never edited once landed:
 * a new change is a new file. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yder.h>
#include "g1p/db.h"
#include "g1p/embedded.h"
#include "g1p/migrate.h"

/* Any constant shared by all instances; "g1p" in ASCII. */
#define MIGRATION_LOCK_KEY "6763632"

static int exec_ok(PGconn *c, const char *sql, char *err, size_t err_len) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  if (!ok) snprintf(err, err_len, "%s", PQresultErrorMessage(r));
  PQclear(r);
  return ok ? 0 : -1;
}

static int is_applied(PGconn *c, const char *name, int *applied, char *err, size_t err_len) {
  const char *params[] = {name};
  PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE name = $1", 1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    snprintf(err, err_len, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return -1;
  }
  *applied = PQntuples(r) > 0;
  PQclear(r);
  return 0;
}

static int apply_one(PGconn *c, const struct embedded_migration *m, char *err, size_t err_len) {
  char msg[400];
  if (exec_ok(c, m->sql, msg, sizeof msg)) {
    snprintf(err, err_len, "migration %s failed: %s", m->name, msg);
    return -1;
  }
  const char *params[] = {m->name};
  PGresult *r = PQexecParams(c, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, NULL, params, NULL, NULL, 0);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) snprintf(err, err_len, "recording %s failed: %s", m->name, PQresultErrorMessage(r));
  PQclear(r);
  return ok ? 0 : -1;
}

/* All pending migrations run in one transaction that holds a
 * transaction-level advisory lock: instances starting together wait for
 * each other and apply each file once, a failure leaves nothing half done,
 * and it works through PgBouncer in transaction mode (a session-level lock
 * and its unlock could land on two different server connections there). */
int migrate_run(const char *database_url, bool session_options, char *err, size_t err_len) {
  char *ci = db_conninfo(database_url, 600000, session_options);
  PGconn *c = ci ? PQconnectdb(ci) : NULL;
  free(ci);
  int applied_now = -1, count = 0;
  if (!c || PQstatus(c) != CONNECTION_OK) {
    snprintf(err, err_len, "cannot connect to the database: %s", c ? PQerrorMessage(c) : "out of memory");
    goto done;
  }
  if (exec_ok(c, "BEGIN", err, err_len)) goto done;
  if (exec_ok(c, "SET LOCAL client_min_messages = warning", err, err_len) ||
      exec_ok(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", err, err_len) ||
      exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", err, err_len))
    goto rollback;
  for (const struct embedded_migration *m = embedded_migrations; m->name; m++) {
    int applied = 0;
    if (is_applied(c, m->name, &applied, err, err_len)) goto rollback;
    if (applied) continue;
    if (apply_one(c, m, err, err_len)) goto rollback;
    y_log_message(Y_LOG_LEVEL_INFO, "migration %s applied", m->name);
    count++;
  }
  if (exec_ok(c, "COMMIT", err, err_len)) goto done;
  applied_now = count;
  goto done;
rollback:
  PQclear(PQexec(c, "ROLLBACK"));
done:
  if (c) PQfinish(c);
  return applied_now;
}
