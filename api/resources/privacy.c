/* Data protection (GDPR): a family's file exported on request (Art. 15), the
 * family's own statements (the right to add its own account, also a minor's
 * from 12), and erasure (Art. 17), which the database does in one function
 * per resource (sql/007_privacy.sql) so that nothing can be half-erased and
 * every metric stays as it was. Scope privacy is the partnership's privacy
 * officer, bound by its regions like every token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/families.h"
#include "g1p/query.h"
#include "g1p/referrals.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

/* The family's whole file, as one document ($1 the family, already
 * checked visible). Who read or changed the plan comes from the audit trail. */
static const char FAMILY_EXPORT[] =
  "SELECT json_build_object("
  " 'exported_at', g1p_ts(now()),"
  " 'family', f.doc,"
  " 'referrals', coalesce((SELECT json_agg(r.doc::json ORDER BY r.received_on, r.id) FROM referral_docs r"
  "   WHERE r.id IN (SELECT x.id FROM referrals x WHERE x.family_id = f.id)), '[]'::json),"
  " 'plan', (SELECT p.doc FROM plan_docs p WHERE p.family_id = f.id),"
  " 'plan_versions', coalesce((SELECT json_agg(json_build_object('version', v.version, 'changed_at', g1p_ts(v.changed_at),"
  "   'changed_by', v.changed_by, 'plan', v.doc) ORDER BY v.version) FROM plan_versions v WHERE v.family_id = f.id), '[]'::json),"
  " 'coaches', coalesce((SELECT json_agg(c.doc ORDER BY c.period) FROM family_coach_docs c WHERE c.family_id = f.id), '[]'::json),"
  " 'statements', coalesce((SELECT json_agg(s.doc ORDER BY s.created_at, s.id) FROM family_statement_docs s WHERE s.family_id = f.id), '[]'::json),"
  " 'plan_access', coalesce((SELECT json_agg(json_build_object('at', g1p_ts(a.at), 'sub', a.sub, 'organisation_id', a.org,"
  "   'action', a.action, 'resource', a.resource, 'version', a.version) ORDER BY a.seq) FROM audit_log a WHERE a.family_id = f.id), '[]'::json),"
  " 'erasure', (SELECT json_build_object('erased_at', g1p_ts(e.erased_at), 'reason', e.reason) FROM erasures e"
  "   WHERE e.resource = 'family' AND e.resource_id = f.id)"
  ")::text FROM family_docs f WHERE f.id = $1";

static const char REFERRAL_EXPORT[] =
  "SELECT json_build_object('exported_at', g1p_ts(now()), 'referral', r.doc::json,"
  " 'erasure', (SELECT json_build_object('erased_at', g1p_ts(e.erased_at), 'reason', e.reason) FROM erasures e"
  "   WHERE e.resource = 'referral' AND e.resource_id = r.id))::text FROM referral_docs r WHERE r.id = $1";

/* Runs an export query in tx, audits it, commits and answers. */
static int answer_export(struct g1p_req *r, struct db_tx *tx, const char *sql, const char *resource, const char *id, const char *family) {
  const char *params[] = {id};
  PGresult *res = db_exec(tx, &r->problem, sql, 1, params);
  int rc = -1;
  if (!res || audit_record(r, tx, "export", resource, id, family, NULL) || db_commit(tx, &r->problem)) goto done;
  rc = respond_json_text(r, 200, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
done:
  PQclear(res);
  return rc;
}

int privacy_export_family(struct g1p_req *r) {
  const char *id = r->seg[2];
  struct db_tx tx = {0};
  int rc = -1;
  if (access_require(r, ACCESS_FAMILY_EXPORT)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || family_lock(r, &tx, id, NULL)) goto done;
  rc = answer_export(r, &tx, FAMILY_EXPORT, "family", id, id);
done:
  db_end(&tx);
  return rc;
}

int privacy_export_referral(struct g1p_req *r) {
  const char *id = r->seg[2];
  struct db_tx tx = {0};
  struct referral_row row;
  int rc = -1;
  if (access_require(r, ACCESS_PRIVACY)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || referral_lock(r, &tx, id, &row)) goto done;
  if (row.family_id[0]) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "This referral belongs to family %s: export the family, which holds it.", row.family_id);
    goto done;
  }
  rc = answer_export(r, &tx, REFERRAL_EXPORT, "referral", id, NULL);
done:
  db_end(&tx);
  return rc;
}

/* ---- statements --------------------------------------------------------- */

static const struct field_rule STATEMENT_FIELDS[] = {
  {.name = "text", .type = FT_TEXT, .flags = F_REQUIRED, .min = 1, .max = 10000},
  {.name = NULL},
};

int statements_list(struct g1p_req *r) {
  const char *id = r->seg[2];
  int limit;
  char *cursor = NULL;
  struct db_tx tx = {0};
  int rc = -1;
  if (access_require(r, ACCESS_PLAN_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) goto done;
  const char *after_at = NULL, *after_id = NULL;
  char *sep = cursor ? strchr(cursor, '|') : NULL;
  if (cursor && (!sep || !validate_uuid(sep + 1))) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  if (sep) { *sep = '\0'; after_at = cursor; after_id = sep + 1; }
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || family_lock(r, &tx, id, NULL)) goto done;
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {id, after_at, after_id, lim};
  rc = query_page_in(r, &tx,
                     "SELECT s.doc::text, s.created_at::text || '|' || s.id FROM family_statement_docs s WHERE s.family_id = $1::uuid"
                     " AND ($2::text IS NULL OR (s.created_at, s.id) > ($2::timestamptz, $3::uuid))"
                     " ORDER BY s.created_at, s.id LIMIT $4::int",
                     4, params, limit);
  if (rc == 0 && db_commit(&tx, &r->problem)) rc = -1;
done:
  db_end(&tx);
  free(cursor);
  return rc;
}

int statements_create(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_STATEMENT_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, STATEMENT_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || family_lock(r, &tx, id, NULL)) goto done;
  const char *params[] = {id, json_string_value(json_object_get(body, "text")), access_scope(r).family ? "t" : "f", r->who.sub};
  res = db_exec(&tx, &r->problem,
                "INSERT INTO family_statements (family_id, text, by_family, written_by) VALUES ($1, $2, $3::bool, $4) RETURNING id", 4, params);
  if (!res) goto done;
  const char *sid[] = {PQgetvalue(res, 0, 0)};
  PGresult *doc = db_exec(&tx, &r->problem, "SELECT doc::text, id FROM family_statement_docs WHERE id = $1", 1, sid);
  PQclear(res);
  res = doc;
  if (!res) goto done;
  char location[128];
  snprintf(location, sizeof location, "/v1/families/%s/statements/%s", id, PQgetvalue(res, 0, 1));
  if (audit_record(r, &tx, "statement", "family", id, id, NULL) || db_commit(&tx, &r->problem)) goto done;
  respond_header(r, "Location", location);
  rc = respond_json_text(r, 201, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int statements_get(struct g1p_req *r) {
  const char *id = r->seg[2], *sid = r->seg[4];
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_PLAN_READ)) goto done;
  if (!validate_uuid(sid)) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No such statement is visible to you."); goto done; }
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || family_lock(r, &tx, id, NULL)) goto done;
  const char *params[] = {sid, id};
  res = db_exec(&tx, &r->problem, "SELECT doc::text FROM family_statement_docs WHERE id = $1 AND family_id = $2", 2, params);
  if (!res || db_commit(&tx, &r->problem)) goto done;
  if (PQntuples(res) == 0) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No such statement is visible to you."); goto done; }
  rc = respond_json_text(r, 200, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
done:
  PQclear(res);
  db_end(&tx);
  return rc;
}

/* ---- erasure ------------------------------------------------------------ */

static const char *const REASONS[] = {"request", "retention", "other", NULL};
static const struct field_rule ERASURE_FIELDS[] = {
  {.name = "reason", .type = FT_ENUM, .flags = F_REQUIRED, .values = REASONS},
  {.name = "note", .type = FT_TEXT, .flags = F_NULLABLE, .min = 0, .max = 2000},
  {.name = NULL},
};

/* Erases through the database function and answers with the skeleton; a
 * second erasure answers the same skeleton (and audits nothing new). */
static int erase(struct g1p_req *r, struct db_tx *tx, json_t *body, const char *fn_sql, const char *read_sql, const char *resource, const char *id,
                 const char *family) {
  const char *params[] = {id, json_string_value(json_object_get(body, "reason")), json_string_value(json_object_get(body, "note")), r->who.sub};
  PGresult *res = db_exec(tx, &r->problem, fn_sql, 4, params);
  if (!res) return -1;
  bool erased_now = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  PQclear(res);
  const char *key[] = {id};
  res = db_exec(tx, &r->problem, read_sql, 1, key);
  int rc = -1;
  if (!res || (erased_now && audit_record(r, tx, "erase", resource, id, family, PQgetvalue(res, 0, 1))) || db_commit(tx, &r->problem)) goto done;
  rc = query_answer_one(r, res, 200, resource);
done:
  PQclear(res);
  return rc;
}

int privacy_erase_family(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  int rc = -1;
  if (access_require(r, ACCESS_PRIVACY) || req_json_body(r, &body) || validate_object(body, ERASURE_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || family_lock(r, &tx, id, NULL)) goto done;
  rc = erase(r, &tx, body, "SELECT g1p_erase_family($1::uuid, $2, $3, $4)", "SELECT doc, version FROM family_docs WHERE id = $1",
             "family", id, id);
done:
  db_end(&tx);
  json_decref(body);
  return rc;
}

int privacy_erase_referral(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  struct referral_row row;
  int rc = -1;
  if (access_require(r, ACCESS_PRIVACY) || req_json_body(r, &body) || validate_object(body, ERASURE_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem) || referral_lock(r, &tx, id, &row)) goto done;
  if (row.family_id[0]) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "This referral belongs to family %s: erase the family, which erases its referrals.", row.family_id);
    goto done;
  }
  rc = erase(r, &tx, body, "SELECT g1p_erase_referral($1::uuid, $2, $3, $4)", "SELECT doc, version FROM referral_docs WHERE id = $1",
             "referral", id, NULL);
done:
  db_end(&tx);
  json_decref(body);
  return rc;
}
