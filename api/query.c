/* See include/g1p/query.h. Resource JSON comes from PostgreSQL as text and is
 * copied into the response as-is: no parse/re-serialise on the read path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/base64url.h"
#include "g1p/query.h"
#include "g1p/validate.h"

int query_answer_one(struct g1p_req *r, PGresult *res, int status, const char *what) {
  if (PQntuples(res) == 0) return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No %s with that identifier is visible to you.", what);
  respond_etag(r, PQgetvalue(res, 0, 1));
  return respond_json_text(r, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

int query_read_one(struct g1p_req *r, const char *sql, int n, const char *const *params, const char *what) {
  struct db_tx tx;
  int rc = -1;
  if (db_acquire(r->app->db, &tx, &r->problem)) goto done;
  PGresult *res = db_exec(&tx, &r->problem, sql, n, params);
  if (!res) goto done;
  rc = query_answer_one(r, res, 200, what);
  PQclear(res);
done:
  db_end(&tx);
  return rc;
}

int query_page_in(struct g1p_req *r, struct db_tx *tx, const char *sql, int n, const char *const *params, int limit) {
  int rc = -1;
  char *body = NULL, *cursor = NULL;
  PGresult *res = db_exec_custom(tx, &r->problem, sql, n, params);
  if (!res) goto done;
  int rows = PQntuples(res);
  int shown = rows > limit ? limit : rows;
  size_t len = 64;
  for (int i = 0; i < shown; i++) len += (size_t)PQgetlength(res, i, 0) + 1;
  if (rows > limit) {
    const char *last = PQgetvalue(res, shown - 1, 1);
    cursor = base64url_encode((const unsigned char *)last, strlen(last));
    if (!cursor) goto oom;
    len += strlen(cursor);
  }
  body = malloc(len);
  if (!body) goto oom;
  size_t o = 0;
  memcpy(body, "{\"items\":[", 10);
  o = 10;
  for (int i = 0; i < shown; i++) {
    if (i) body[o++] = ',';
    size_t l = (size_t)PQgetlength(res, i, 0);
    memcpy(body + o, PQgetvalue(res, i, 0), l);
    o += l;
  }
  if (cursor) o += (size_t)sprintf(body + o, "],\"next_cursor\":\"%s\"}", cursor);
  else o += (size_t)sprintf(body + o, "],\"next_cursor\":null}");
  rc = respond_json_text(r, 200, body, o);
  goto done;
oom:
  problem_set(&r->problem, PROBLEM_INTERNAL, "The response could not be built.");
done:
  PQclear(res);
  free(body);
  free(cursor);
  return rc;
}

int query_read_page_on(struct g1p_req *r, struct db_pool *pool, const char *sql, int n, const char *const *params, int limit) {
  struct db_tx tx;
  int rc = -1;
  if (db_acquire(pool, &tx, &r->problem) == 0) rc = query_page_in(r, &tx, sql, n, params, limit);
  db_end(&tx);
  return rc;
}

int query_read_page(struct g1p_req *r, const char *sql, int n, const char *const *params, int limit) {
  return query_read_page_on(r, r->app->db, sql, n, params, limit);
}

int query_cursor(struct g1p_req *r, char **out) {
  *out = NULL;
  const char *c = req_query(r, "cursor");
  if (!c) return 0;
  size_t n = 0;
  unsigned char *text = base64url_decode(c, strlen(c), &n);
  if (!text || n == 0 || n > 512 || strlen((char *)text) != n) {
    free(text);
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out.");
  }
  *out = (char *)text;
  return 0;
}

static int bad_param(struct g1p_req *r, const char *name, const char *what) {
  return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "%s must be %s.", name, what);
}

int query_date_param(struct g1p_req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  return *out && !validate_date(*out) ? bad_param(r, name, "a date (YYYY-MM-DD)") : 0;
}

int query_region_param(struct g1p_req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  return *out && !validate_region_code(*out) ? bad_param(r, name, "a region code") : 0;
}

int query_enum_param(struct g1p_req *r, const char *name, const char *const *values, const char **out) {
  *out = req_query(r, name);
  if (!*out) return 0;
  for (const char *const *v = values; *v; v++) if (strcmp(*v, *out) == 0) return 0;
  char list[256] = "";
  for (const char *const *v = values; *v; v++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", v == values ? "" : ", ", *v);
  return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "%s must be one of %s.", name, list);
}

int query_cursor_date_id(struct g1p_req *r, char *cursor, const char **date, const char **id) {
  *date = *id = NULL;
  if (!cursor) return 0;
  char *sep = strchr(cursor, '|');
  if (!sep) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out.");
  *sep = '\0';
  if (!validate_date(cursor) || !validate_uuid(sep + 1))
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out.");
  *date = cursor;
  *id = sep + 1;
  return 0;
}

void query_limit_text(int limit, char out[16]) { snprintf(out, 16, "%d", limit + 1); }
