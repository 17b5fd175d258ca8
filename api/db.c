/* Connection pool over libpq. libpq is thread-safe but a PGconn may be used
 * by one thread at a time, so the pool hands out whole connections under a
 * mutex + condition variable with a bounded wait: when every connection is
 * busy for too long the request gets a 503 instead of queueing forever.
 * Connections are opened lazily and reset in place when PostgreSQL went away,
 * so the service recovers without a restart when the database returns. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yder.h>
#include "g1p/db.h"
#include "g1p/telemetry.h"

#define POOL_WAIT_MS 5000
#define DB_MAX_STATEMENTS 512

/* Statements are prepared once per connection and then executed by name:
 * PostgreSQL then skips parsing and planning, which was more than half of
 * its CPU per request here. A statement is known by the address of its SQL
 * text, which db_exec's contract makes a string literal (static storage). */
static const char *statements[DB_MAX_STATEMENTS];
static atomic_int statement_count;
static pthread_mutex_t statements_lock = PTHREAD_MUTEX_INITIALIZER;

static int statement_id(const char *sql) {
  int n = atomic_load(&statement_count);
  for (int i = 0; i < n; i++) if (statements[i] == sql) return i;
  pthread_mutex_lock(&statements_lock);
  n = atomic_load(&statement_count);
  int id = -1;
  for (int i = 0; i < n; i++) if (statements[i] == sql) id = i;
  if (id < 0 && n < DB_MAX_STATEMENTS) {
    statements[n] = sql;
    atomic_store(&statement_count, n + 1);
    id = n;
  }
  pthread_mutex_unlock(&statements_lock);
  return id;
}

struct db_conn {
  PGconn *pg;
  bool prepared[DB_MAX_STATEMENTS];
};

struct db_pool {
  pthread_mutex_t lock;
  pthread_cond_t available;
  char *conninfo;
  unsigned int size;
  unsigned int free_count;
  unsigned int waiting;       /* requests waiting for a connection (for /metrics) */
  struct db_conn **free_list; /* stack of idle connections (pg NULL = not opened yet) */
  bool prepare;               /* false behind a transaction-mode pooler */
};

char *db_conninfo(const char *database_url, unsigned int statement_timeout_ms, bool session_options) {
  /* Both URI and key=value forms accept extra settings appended in the same
   * form. Behind PgBouncer in transaction mode the startup options are left
   * out (it refuses them): set them on the database role instead. */
  const char *url = database_url;
  bool uri = strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
  char extra[256];
  if (uri && session_options)
    snprintf(extra, sizeof extra, "%sconnect_timeout=3&keepalives=1&keepalives_idle=30&options=-c%%20statement_timeout%%3D%u%%20-c%%20TimeZone%%3DUTC&application_name=g1p-api",
             strchr(url, '?') ? "&" : "?", statement_timeout_ms);
  else if (uri)
    snprintf(extra, sizeof extra, "%sconnect_timeout=3&keepalives=1&keepalives_idle=30", strchr(url, '?') ? "&" : "?");
  else if (session_options)
    snprintf(extra, sizeof extra, " connect_timeout=3 keepalives=1 keepalives_idle=30 options='-c statement_timeout=%u -c TimeZone=UTC' application_name=g1p-api",
             statement_timeout_ms);
  else
    snprintf(extra, sizeof extra, " connect_timeout=3 keepalives=1 keepalives_idle=30");
  size_t n = strlen(url) + strlen(extra) + 1;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s%s", url, extra);
  return s;
}

struct db_pool *db_pool_new(const char *database_url, unsigned int size, unsigned int statement_timeout_ms, bool prepare) {
  struct db_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return NULL;
  pool->prepare = prepare;
  pool->conninfo = db_conninfo(database_url, statement_timeout_ms, prepare);
  pool->free_list = calloc(size, sizeof(struct db_conn *));
  bool ok = pool->conninfo && pool->free_list;
  for (unsigned int i = 0; ok && i < size; i++) ok = (pool->free_list[i] = calloc(1, sizeof(struct db_conn))) != NULL;
  if (!ok) {
    pool->free_count = size;
    db_pool_free(pool);
    return NULL;
  }
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->available, NULL);
  pool->size = size;
  pool->free_count = size;
  return pool;
}

void db_pool_free(struct db_pool *pool) {
  if (!pool) return;
  for (unsigned int i = 0; i < pool->free_count && pool->free_list; i++) {
    if (pool->free_list[i] && pool->free_list[i]->pg) PQfinish(pool->free_list[i]->pg);
    free(pool->free_list[i]);
  }
  pthread_mutex_destroy(&pool->lock);
  pthread_cond_destroy(&pool->available);
  free(pool->free_list);
  free(pool->conninfo);
  free(pool);
}

static int unavailable(struct g1p_problem *p, const char *why) {
  return problem_set(p, PROBLEM_UNAVAILABLE, "The database is not reachable right now (%s); retry shortly.", why);
}

/* Makes sure tx->conn is an open, healthy connection. */
static int ensure_connected(struct db_tx *tx, struct g1p_problem *p) {
  struct db_conn *c = tx->conn;
  if (c->pg == NULL) {
    c->pg = PQconnectdb(tx->pool->conninfo);
    memset(c->prepared, 0, sizeof c->prepared);
  } else if (PQstatus(c->pg) != CONNECTION_OK || tx->broken) {
    PQreset(c->pg);
    memset(c->prepared, 0, sizeof c->prepared); /* a new session has none */
  }
  tx->broken = false;
  if (PQstatus(c->pg) != CONNECTION_OK) {
    y_log_message(Y_LOG_LEVEL_WARNING, "db: connection failed: %s", PQerrorMessage(c->pg));
    tx->broken = true;
    return unavailable(p, "connection failed");
  }
  return 0;
}

int db_acquire(struct db_pool *pool, struct db_tx *tx, struct g1p_problem *p) {
  memset(tx, 0, sizeof *tx);
  tx->pool = pool;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += POOL_WAIT_MS / 1000;
  pthread_mutex_lock(&pool->lock);
  while (pool->free_count == 0) {
    pool->waiting++;
    int waited = pthread_cond_timedwait(&pool->available, &pool->lock, &deadline);
    pool->waiting--;
    if (waited == ETIMEDOUT) {
      pthread_mutex_unlock(&pool->lock);
      tx->pool = NULL;
      return problem_set(p, PROBLEM_UNAVAILABLE, "All database connections are busy; retry shortly.");
    }
  }
  tx->conn = pool->free_list[--pool->free_count];
  pthread_mutex_unlock(&pool->lock);
  return ensure_connected(tx, p);
}

void db_pool_stats(struct db_pool *pool, unsigned int *in_use, unsigned int *idle, unsigned int *waiting) {
  pthread_mutex_lock(&pool->lock);
  *idle = pool->free_count;
  *in_use = pool->size - pool->free_count;
  *waiting = pool->waiting;
  pthread_mutex_unlock(&pool->lock);
}

void db_end(struct db_tx *tx) {
  struct db_pool *pool = tx->pool;
  if (!pool) return;
  PGconn *pg = tx->conn->pg;
  if (tx->in_tx && pg && PQstatus(pg) == CONNECTION_OK) PQclear(PQexec(pg, "ROLLBACK"));
  /* A connection left in an unknown state is reset on its next use. */
  if (pg && PQtransactionStatus(pg) != PQTRANS_IDLE) tx->broken = true;
  if (tx->broken && pg) {
    PQfinish(pg);
    tx->conn->pg = NULL;
  }
  pthread_mutex_lock(&pool->lock);
  pool->free_list[pool->free_count++] = tx->conn;
  pthread_cond_signal(&pool->available);
  pthread_mutex_unlock(&pool->lock);
  memset(tx, 0, sizeof *tx);
}

/* SQLSTATE -> problem. Constraint violations are the database telling us a
 * rule (uniqueness, reference) holds, so they become 409/422, not 500. */
static void map_error_kind(struct db_tx *tx, const PGresult *res, struct g1p_problem *p);

/* Every database error also counts for /metrics, by the problem it became. */
static void map_error(struct db_tx *tx, const PGresult *res, struct g1p_problem *p) {
  map_error_kind(tx, res, p);
  telemetry_db_error(p->kind);
}

static void map_error_kind(struct db_tx *tx, const PGresult *res, struct g1p_problem *p) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
  if (state == NULL || PQstatus(tx->conn->pg) != CONNECTION_OK) {
    tx->broken = true;
    unavailable(p, "connection lost");
    return;
  }
  if (constraint) snprintf(p->constraint, sizeof p->constraint, "%s", constraint);
  if (strcmp(state, "23505") == 0) {
    problem_set(p, PROBLEM_CONFLICT, "A resource with the same unique value already exists (%s).", constraint ? constraint : "unique");
  } else if (strcmp(state, "23503") == 0) {
    problem_set(p, PROBLEM_CONFLICT, "The change conflicts with a reference between resources (%s).", constraint ? constraint : "reference");
  } else if (strcmp(state, "23514") == 0 || strcmp(state, "22P02") == 0 || strcmp(state, "22007") == 0 || strcmp(state, "22008") == 0 ||
             strcmp(state, "22003") == 0) {
    problem_set(p, PROBLEM_VALIDATION, "A value is not acceptable (%s).", constraint ? constraint : "check");
  } else if (strcmp(state, "GE001") == 0) {
    /* Raised by sql/007's triggers: the message is ours and names no data. */
    problem_set(p, PROBLEM_CONFLICT, "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
  } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
    problem_set(p, PROBLEM_UNAVAILABLE, "A concurrent change got in the way; retry the request.");
  } else if (strcmp(state, "57014") == 0) {
    problem_set(p, PROBLEM_UNAVAILABLE, "The database took too long to answer; retry shortly.");
  } else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0) {
    tx->broken = true;
    unavailable(p, state);
  } else {
    y_log_message(Y_LOG_LEVEL_ERROR, "db: SQLSTATE %s: %s", state, PQresultErrorMessage(res));
    problem_set(p, PROBLEM_INTERNAL, "The request could not be completed.");
  }
}

/* Runs sql as a named prepared statement, preparing it on first use on this
 * connection; or unprepared when the pool was told not to prepare. */
static PGresult *run(struct db_tx *tx, const char *sql, int nparams, const char *const *params, bool prepare) {
  struct db_conn *c = tx->conn;
  int id = prepare && tx->pool->prepare ? statement_id(sql) : -1;
  if (id < 0) return PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
  char name[16];
  snprintf(name, sizeof name, "g1p_%d", id);
  if (!c->prepared[id]) {
    PGresult *prep = PQprepare(c->pg, name, sql, 0, NULL);
    if (PQresultStatus(prep) != PGRES_COMMAND_OK) return prep;
    PQclear(prep);
    c->prepared[id] = true;
  }
  return PQexecPrepared(c->pg, name, nparams, params, NULL, NULL, 0);
}

static PGresult *exec(struct db_tx *tx, struct g1p_problem *p, const char *sql, int nparams,
                      const char *const *params, bool prepare) {
  for (int attempt = 0;; attempt++) {
    PGresult *res = run(tx, sql, nparams, params, prepare);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return res;
    /* After a PostgreSQL restart the first statement on an old connection
     * fails with no SQLSTATE. Nothing ran, so outside a transaction it is
     * safe to reconnect and run it once more. */
    bool lost = PQstatus(tx->conn->pg) != CONNECTION_OK;
    if (lost && attempt == 0 && !tx->in_tx) {
      PQclear(res);
      tx->broken = true;
      if (ensure_connected(tx, p)) return NULL;
      continue;
    }
    map_error(tx, res, p);
    PQclear(res);
    return NULL;
  }
}

PGresult *db_exec(struct db_tx *tx, struct g1p_problem *p, const char *sql, int nparams,
                  const char *const *params) {
  return exec(tx, p, sql, nparams, params, true);
}

PGresult *db_exec_custom(struct db_tx *tx, struct g1p_problem *p, const char *sql, int nparams,
                         const char *const *params) {
  return exec(tx, p, sql, nparams, params, false);
}

int db_begin(struct db_tx *tx, struct g1p_problem *p) {
  PGresult *r = db_exec(tx, p, "BEGIN", 0, NULL);
  if (!r) return -1;
  PQclear(r);
  tx->in_tx = true;
  return 0;
}

int db_commit(struct db_tx *tx, struct g1p_problem *p) {
  PGresult *r = PQexec(tx->conn->pg, "COMMIT");
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK) {
    map_error(tx, r, p);
    PQclear(r);
    return -1;
  }
  PQclear(r);
  tx->in_tx = false;
  return 0;
}
