/* The PostgreSQL side: a fixed pool of libpq connections, one transaction per
 * request, and the mapping from libpq failures to problems (SQLSTATE ->
 * status). A dead connection is reset in place; the database being away is a
 * 503, never a hang. */
#ifndef G1P_DB_H
#define G1P_DB_H
#include <libpq-fe.h>
#include <stdbool.h>
#include "g1p/problem.h"

struct db_pool;

/* prepare: use named prepared statements and session startup options (off
 * behind PgBouncer in transaction mode, where a session's statements do not
 * survive and startup options are refused). */
struct db_pool *db_pool_new(const char *database_url, unsigned int size, unsigned int statement_timeout_ms, bool prepare);
void db_pool_free(struct db_pool *pool);
/* Connections in use, idle, and requests waiting for one, right now. */
void db_pool_stats(struct db_pool *pool, unsigned int *in_use, unsigned int *idle, unsigned int *waiting);

/* One unit of work on one pooled connection. Reads that are one statement
 * run without BEGIN (a single statement is its own transaction); writes call
 * db_begin first. db_end always releases: it rolls back what was not
 * committed. */
struct db_conn;

struct db_tx {
  struct db_pool *pool;
  struct db_conn *conn;
  bool in_tx;
  bool broken;   /* connection must be reset before reuse */
};

int db_acquire(struct db_pool *pool, struct db_tx *tx, struct g1p_problem *p);
int db_begin(struct db_tx *tx, struct g1p_problem *p);
int db_commit(struct db_tx *tx, struct g1p_problem *p);
void db_end(struct db_tx *tx);

/* Runs one parameterised statement. sql must be a string literal (static
 * storage): its address names the prepared statement. Returns the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK) or NULL with the problem set from the SQLSTATE. */
PGresult *db_exec(struct db_tx *tx, struct g1p_problem *p, const char *sql, int nparams,
                  const char *const *params);
/* The same, planned for these parameter values every time (unprepared): for
 * searches with optional filters, where one generic plan would fit no case
 * well (the overdue list: 10 ms generic, under 1 ms custom, 100k rows). */
PGresult *db_exec_custom(struct db_tx *tx, struct g1p_problem *p, const char *sql, int nparams,
                         const char *const *params);



/* Builds the connection string with our timeouts and keepalives (and the
 * session options unless behind a transaction pooler). Caller frees. */
char *db_conninfo(const char *database_url, unsigned int statement_timeout_ms, bool session_options);

#endif
