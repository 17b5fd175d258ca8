/* Reading the audit trail: all of it for admins (GET /v1/audit), and the
 * log of one family plan (who read or changed it) for the family itself and
 * for staff who may read that plan. Rows are written by audit.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/families.h"
#include "g1p/query.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const char *const RESOURCES[] = {"region", "organisation", "referral", "family", "plan", "webhook", NULL};

/* ?cursor= of an audit page: the last seq seen. */
static int seq_cursor(struct g1p_req *r, char **cursor) {
  if (query_cursor(r, cursor)) return -1;
  if (*cursor && !parse_whole_number(*cursor, 1, 999999999999999999LL, NULL)) {
    free(*cursor);
    *cursor = NULL;
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out.");
  }
  return 0;
}

int audit_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  if (access_require(r, ACCESS_AUDIT_READ) || req_limit(r, &limit) || seq_cursor(r, &cursor)) return -1;
  int rc = -1;
  const char *resource, *from, *to, *id = req_query(r, "id"), *sub = req_query(r, "sub");
  if (query_enum_param(r, "resource", RESOURCES, &resource) || query_date_param(r, "from", &from) || query_date_param(r, "to", &to)) goto done;
  if ((id && (!*id || strlen(id) > 200)) || (sub && (!*sub || strlen(sub) > 255))) {
    problem_set(&r->problem, PROBLEM_BAD_REQUEST, "id must be 1 to 200 characters and sub 1 to 255.");
    goto done;
  }
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {resource, id, sub, from, to, cursor, lim};
  /* from/to are whole days in Europe/Brussels, both inclusive. A reporting
   * read: from the replica when there is one (DATABASE_READ_URL). */
  static const char AUDIT_SQL[] =
    "SELECT doc, seq FROM audit_docs WHERE ($1::text IS NULL OR resource = $1)"
    " AND ($2::text IS NULL OR resource_id = $2) AND ($3::text IS NULL OR sub = $3)"
    " AND ($4::date IS NULL OR at >= ($4::date::timestamp AT TIME ZONE 'Europe/Brussels'))"
    " AND ($5::date IS NULL OR at < (($5::date + 1)::timestamp AT TIME ZONE 'Europe/Brussels'))"
    " AND ($6::bigint IS NULL OR seq > $6::bigint) ORDER BY seq LIMIT $7::int";
  struct db_pool *pool = req_read_pool(r);
  rc = query_read_page_on(r, pool, AUDIT_SQL, 7, params, limit);
  if (rc != 0 && req_read_failover(r, pool)) rc = query_read_page_on(r, req_read_pool(r), AUDIT_SQL, 7, params, limit);
done:
  free(cursor);
  return rc;
}

int plans_audit(struct g1p_req *r) {
  const char *family_id = r->seg[2];
  int limit;
  char *cursor = NULL;
  struct db_tx tx = {0};
  int rc = -1;
  if (access_require(r, ACCESS_PLAN_READ) || req_limit(r, &limit) || seq_cursor(r, &cursor)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || family_lock(r, &tx, family_id, NULL)) goto done;
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {family_id, cursor, lim};
  rc = query_page_in(r, &tx,
                     "SELECT doc, seq FROM audit_docs WHERE family_id = $1::uuid AND resource = 'plan'"
                     " AND ($2::bigint IS NULL OR seq > $2::bigint) ORDER BY seq LIMIT $3::int",
                     3, params, limit);
done:
  db_end(&tx);
  free(cursor);
  return rc;
}
