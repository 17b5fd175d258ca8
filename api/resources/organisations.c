/* Partner organisations: the ~500 members of the regional partnerships.
 * Every staff token may read the directory (coaches pick organisations from
 * other regions for waiting lists); admins maintain it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/query.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const char *const SECTORS[] = {"caw", "kind_en_gezin", "cgg", "vaph", "jeugdhulp", "clb", "ocmw", "onderwijs", "other", NULL};

static const struct field_rule ORG_FIELDS[] = {
  {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "sector", .type = FT_ENUM, .flags = F_REQUIRED, .values = SECTORS},
  {.name = "kbo_number", .type = FT_KBO, .flags = F_NULLABLE},
  {.name = "regions", .type = FT_REGION_CODES, .min = 0, .max = 64},
  {.name = "email", .type = FT_EMAIL, .flags = F_NULLABLE},
  {.name = NULL},
};

static const char ORG_BY_ID[] = "SELECT doc, version FROM organisation_docs WHERE id = $1";

static int not_found(struct g1p_req *r) {
  return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No organisation with that id is visible to you.");
}

/* Replaces the organisation's region memberships with the body's list. */
static int set_regions(struct g1p_req *r, struct db_tx *tx, const char *id, json_t *codes, bool replace) {
  const char *params[] = {id, NULL};
  PGresult *res;
  if (replace) {
    res = db_exec(tx, &r->problem, "DELETE FROM organisation_regions WHERE organisation_id = $1", 1, params);
    if (!res) return -1;
    PQclear(res);
  }
  if (!codes || json_array_size(codes) == 0) return 0;
  char *text = json_dumps(codes, JSON_COMPACT);
  params[1] = text;
  res = db_exec(tx, &r->problem,
                "INSERT INTO organisation_regions (organisation_id, region_code) "
                "SELECT $1::uuid, code FROM json_array_elements_text($2::json) AS t(code)",
                2, params);
  free(text);
  if (!res) return -1;
  PQclear(res);
  return 0;
}

int organisations_check_exist(struct g1p_req *r, struct db_tx *tx, json_t *refs) {
  int rc = 0;
  if (json_array_size(refs) > 0) {
    char *text = json_dumps(refs, JSON_COMPACT);
    const char *params[] = {text};
    PGresult *res = db_exec(tx, &r->problem,
                            "SELECT x->>'pointer' FROM jsonb_array_elements($1::jsonb) x"
                            " WHERE NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = (x->>'id')::uuid)",
                            1, params);
    free(text);
    if (!res) rc = -1;
    for (int i = 0; res && i < PQntuples(res); i++) problem_add_error(&r->problem, PQgetvalue(res, i, 0), "names no organisation");
    PQclear(res);
  }
  json_decref(refs);
  return rc;
}

static void explain_conflict(struct g1p_req *r, json_t *body) {
  if (r->problem.kind == PROBLEM_CONFLICT && json_string_value(json_object_get(body, "kbo_number")))
    problem_set(&r->problem, PROBLEM_CONFLICT, "An organisation with KBO number %s already exists.",
                json_string_value(json_object_get(body, "kbo_number")));
}

int organisations_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  if (access_require(r, ACCESS_REFERENCE_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) return -1;
  const char *region, *sector;
  int rc = -1;
  char *after_name = NULL, *after_id = NULL;
  if (query_region_param(r, "region", &region) || query_enum_param(r, "sector", SECTORS, &sector)) goto done;
  if (cursor) {
    /* Our cursor is "<name>\x1f<id>": the last row's sort key. */
    char *sep = strrchr(cursor, 0x1f);
    if (!sep || !validate_uuid(sep + 1)) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
    *sep = '\0';
    after_name = cursor;
    after_id = sep + 1;
  }
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {region, sector, after_name, after_id, lim};
  rc = query_read_page(r,
                       "SELECT o.doc, o.name || chr(31) || o.id FROM organisation_docs o "
                       "WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM organisation_regions x WHERE x.organisation_id = o.id AND x.region_code = $1)) "
                       "  AND ($2::text IS NULL OR o.sector = $2) "
                       "  AND ($3::text IS NULL OR (o.name, o.id) > ($3, $4::uuid)) "
                       "ORDER BY o.name, o.id LIMIT $5::int",
                       5, params, limit);
done:
  free(cursor);
  return rc;
}

int organisations_get(struct g1p_req *r) {
  const char *id = r->seg[2];
  if (access_require(r, ACCESS_REFERENCE_READ)) return -1;
  if (!validate_uuid(id)) return not_found(r);
  const char *params[] = {id};
  return query_read_one(r, ORG_BY_ID, 1, params, "organisation");
}

int organisations_create(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERENCE_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, ORG_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  json_t *regions = json_object_get(body, "regions");
  if (regions_check_exist(r, &tx, regions, "/regions") || problem_has_errors(&r->problem)) goto done;
  char *doc = json_dumps(body, JSON_COMPACT);
  const char *params[] = {doc};
  res = db_exec(&tx, &r->problem,
                "INSERT INTO organisations (name, sector, kbo_number, email) "
                "SELECT d->>'name', d->>'sector', d->>'kbo_number', d->>'email' FROM (SELECT $1::jsonb AS d) s RETURNING id",
                1, params);
  free(doc);
  if (!res) { explain_conflict(r, body); goto done; }
  char id[37];
  snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  res = NULL;
  if (set_regions(r, &tx, id, regions, false)) goto done;
  const char *key[] = {id};
  res = db_exec(&tx, &r->problem, ORG_BY_ID, 1, key);
  if (!res || audit_record(r, &tx, "create", "organisation", id, NULL, PQgetvalue(res, 0, 1)) || db_commit(&tx, &r->problem)) goto done;
  char location[64];
  snprintf(location, sizeof location, "/v1/organisations/%s", id);
  respond_header(r, "Location", location);
  rc = query_answer_one(r, res, 201, "organisation");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

/* Locks the row and checks If-Match; shared by update and delete. */
static int lock_for_write(struct g1p_req *r, struct db_tx *tx, const char *id) {
  const char *key[] = {id};
  PGresult *res = db_exec(tx, &r->problem, "SELECT version FROM organisations WHERE id = $1 FOR UPDATE", 1, key);
  if (!res) return -1;
  int rc;
  if (PQntuples(res) == 0) rc = not_found(r);
  else rc = req_if_match(r, atoll(PQgetvalue(res, 0, 0)));
  PQclear(res);
  return rc;
}

int organisations_update(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERENCE_WRITE)) goto done;
  if (!validate_uuid(id)) { not_found(r); goto done; }
  if (req_json_body(r, &body) || validate_object(body, ORG_FIELDS, true, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (lock_for_write(r, &tx, id)) goto done;
  json_t *regions = json_object_get(body, "regions");
  if (regions_check_exist(r, &tx, regions, "/regions") || problem_has_errors(&r->problem)) goto done;
  const char *key[] = {id};
  if (json_object_size(body) > 0) {
    char *doc = json_dumps(body, JSON_COMPACT);
    const char *params[] = {id, doc};
    res = db_exec(&tx, &r->problem,
                  "UPDATE organisations SET "
                  " name = CASE WHEN $2::jsonb ? 'name' THEN $2::jsonb->>'name' ELSE name END,"
                  " sector = CASE WHEN $2::jsonb ? 'sector' THEN $2::jsonb->>'sector' ELSE sector END,"
                  " kbo_number = CASE WHEN $2::jsonb ? 'kbo_number' THEN $2::jsonb->>'kbo_number' ELSE kbo_number END,"
                  " email = CASE WHEN $2::jsonb ? 'email' THEN $2::jsonb->>'email' ELSE email END "
                  "WHERE id = $1",
                  2, params);
    free(doc);
    if (!res) { explain_conflict(r, body); goto done; }
    PQclear(res);
    res = NULL;
    if (json_object_get(body, "regions") && set_regions(r, &tx, id, regions, true)) goto done;
  }
  res = db_exec(&tx, &r->problem, ORG_BY_ID, 1, key);
  if (!res) goto done;
  if (json_object_size(body) > 0 && audit_record(r, &tx, "update", "organisation", id, NULL, PQgetvalue(res, 0, 1))) goto done;
  if (db_commit(&tx, &r->problem)) goto done;
  rc = query_answer_one(r, res, 200, "organisation");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int organisations_delete(struct g1p_req *r) {
  const char *id = r->seg[2];
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERENCE_WRITE)) goto done;
  if (!validate_uuid(id)) { not_found(r); goto done; }
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (lock_for_write(r, &tx, id)) goto done;
  const char *key[] = {id};
  res = db_exec(&tx, &r->problem, "DELETE FROM organisations WHERE id = $1", 1, key);
  if (!res) {
    if (r->problem.kind == PROBLEM_CONFLICT)
      problem_set(&r->problem, PROBLEM_CONFLICT, "The organisation is still referenced (for example as a region's core partner); remove those references first.");
    goto done;
  }
  if (audit_record(r, &tx, "delete", "organisation", id, NULL, NULL) || db_commit(&tx, &r->problem)) goto done;
  rc = respond_text(r, 204, NULL, "", 0);
done:
  PQclear(res);
  db_end(&tx);
  return rc;
}
