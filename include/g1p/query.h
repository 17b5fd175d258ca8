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

/* The same on a connection the caller holds (e.g. after a visibility check). */
int query_page_in(struct g1p_req *r, struct db_tx *tx, const char *sql, int n, const char *const *params, int limit);

/* Decodes ?cursor= into its text (NULL when absent). -1 with a 400 problem
 * when it is not one of ours. Caller frees *out. */
int query_cursor(struct g1p_req *r, char **out);

#endif
