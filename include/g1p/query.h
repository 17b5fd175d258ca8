/* Read-side helpers shared by the resource files: run one query that yields
 * a resource's JSON (built by PostgreSQL) and answer with it, or a page of
 * them with an opaque keyset cursor. */
#ifndef G1P_QUERY_H
#define G1P_QUERY_H
#include "g1p/http.h"

/* Expects rows of (json, version). One row: answers status with the JSON and
 * its ETag; no row: 404 naming `what`. */
int query_answer_one(struct g1p_req *r, PGresult *res, int status, const char *what);

/* Runs sql on a pooled connection outside any transaction (one statement is
 * one transaction) and answers with query_answer_one. */
int query_read_one(struct g1p_req *r, const char *sql, int n, const char *const *params, const char *what);

/* Runs sql (rows of (json, cursor_text), at most limit + 1; planned for the
 * actual filter values, see db_exec_custom) and answers
 * {"items": [...], "next_cursor": ...}. */
int query_read_page(struct g1p_req *r, const char *sql, int n, const char *const *params, int limit);
/* The same on a pool of the caller's choice (a read replica). */
int query_read_page_on(struct g1p_req *r, struct db_pool *pool, const char *sql, int n, const char *const *params, int limit);

/* The same on a connection the caller holds (e.g. after a visibility check). */
int query_page_in(struct g1p_req *r, struct db_tx *tx, const char *sql, int n, const char *const *params, int limit);

/* Query parameters of searches. Each leaves *out NULL when the parameter is
 * absent, and answers -1 with a 400 problem naming it when it is malformed. */
int query_date_param(struct g1p_req *r, const char *name, const char **out);
int query_region_param(struct g1p_req *r, const char *name, const char **out);
int query_enum_param(struct g1p_req *r, const char *name, const char *const *values, const char **out);
/* A "<YYYY-MM-DD>|<uuid>" keyset cursor (the sort key of the last row):
 * splits the decoded cursor (owned by the caller, see query_cursor) in place. */
int query_cursor_date_id(struct g1p_req *r, char *cursor, const char **date, const char **id);
/* limit + 1 as the text parameter of a page query (one row more tells
 * whether there is a next page). */
void query_limit_text(int limit, char out[16]);

/* Decodes ?cursor= into its text (NULL when absent). -1 with a 400 problem
 * when it is not one of ours. Caller frees *out. */
int query_cursor(struct g1p_req *r, char **out);

#endif
