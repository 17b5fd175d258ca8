/* Regions (samenwerkingsverbanden): reference data keyed by a stable slug.
 * Any staff token lists and reads the regions in its `regions` claim; admins
 * create and edit them (see access.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/query.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const char *const PROVINCES[] = {"Antwerpen", "Limburg", "Oost-Vlaanderen", "Vlaams-Brabant",
                                        "West-Vlaanderen", "Brussel", NULL};

static const char REGION_BY_CODE[] = "SELECT doc, version FROM region_docs WHERE code = $1";

static const struct field_rule REGION_FIELDS[] = {
  {.name = "code", .type = FT_REGION_CODE, .flags = F_REQUIRED},
  {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "province", .type = FT_ENUM, .flags = F_REQUIRED, .values = PROVINCES},
  {.name = "core_partner", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = "annual_family_target", .type = FT_INT, .min = 0, .max = 100000},
  {.name = NULL},
};

/* The same minus code: a region's code never changes (it is its identity). */
static const struct field_rule REGION_PATCH_FIELDS[] = {
  {.name = "name", .type = FT_STRING, .min = 1, .max = 200},
  {.name = "province", .type = FT_ENUM, .values = PROVINCES},
  {.name = "core_partner", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = "annual_family_target", .type = FT_INT, .min = 0, .max = 100000},
  {.name = NULL},
};

int regions_check_exist(struct g1p_req *r, struct db_tx *tx, json_t *codes, const char *pointer) {
  if (!codes || json_array_size(codes) == 0) return 0;
  char *text = json_dumps(codes, JSON_COMPACT);
  const char *params[] = {text};
  PGresult *res = db_exec(tx, &r->problem,
                          "SELECT t.ord - 1 FROM json_array_elements_text($1::json) WITH ORDINALITY AS t(code, ord) "
                          "WHERE NOT EXISTS (SELECT 1 FROM regions g WHERE g.code = t.code) ORDER BY t.ord",
                          1, params);
  free(text);
  if (!res) return -1;
  for (int i = 0; i < PQntuples(res); i++) {
    char field[96];
    snprintf(field, sizeof field, "%s/%s", pointer, PQgetvalue(res, i, 0));
    problem_add_error(&r->problem, field, "names no region");
  }
  PQclear(res);
  return 0;
}

/* core_partner must name an existing organisation. */
static int check_core_partner(struct g1p_req *r, struct db_tx *tx, json_t *body) {
  const char *id = json_string_value(json_object_get(body, "core_partner"));
  if (!id) return 0;
  const char *params[] = {id};
  PGresult *res = db_exec(tx, &r->problem, "SELECT 1 FROM organisations WHERE id = $1", 1, params);
  if (!res) return -1;
  if (PQntuples(res) == 0) problem_add_error(&r->problem, "/core_partner", "names no organisation");
  PQclear(res);
  return 0;
}

int regions_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  if (access_require(r, ACCESS_REFERENCE_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) return -1;
  if (cursor && !validate_region_code(cursor)) {
    free(cursor);
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out.");
  }
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {access_region_filter(r), cursor, lim};
  int rc = query_read_page(r,
                           "SELECT g.doc, g.code FROM region_docs g "
                           "WHERE ($1::text[] IS NULL OR g.code = ANY($1::text[])) AND ($2::text IS NULL OR g.code > $2) "
                           "ORDER BY g.code LIMIT $3::int",
                           3, params, limit);
  free(cursor);
  return rc;
}

int regions_get(struct g1p_req *r) {
  const char *code = r->seg[2];
  if (access_require(r, ACCESS_REFERENCE_READ)) return -1;
  if (!validate_region_code(code) || !access_sees_region(r, code))
    return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No region with that code is visible to you.");
  const char *params[] = {code};
  return query_read_one(r, REGION_BY_CODE, 1, params, "region");
}

int regions_create(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERENCE_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, REGION_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (check_core_partner(r, &tx, body) || problem_has_errors(&r->problem)) goto done;
  char *doc = json_dumps(body, JSON_COMPACT);
  const char *params[] = {doc};
  res = db_exec(&tx, &r->problem,
                "INSERT INTO regions (code, name, province, core_partner, annual_family_target) "
                "SELECT d->>'code', d->>'name', d->>'province', (d->>'core_partner')::uuid, "
                "       coalesce((d->>'annual_family_target')::int, 200) FROM (SELECT $1::jsonb AS d) s "
                "RETURNING code",
                1, params);
  free(doc);
  if (!res) {
    if (r->problem.kind == PROBLEM_CONFLICT)
      problem_set(&r->problem, PROBLEM_CONFLICT, "A region with code \"%s\" already exists.", json_string_value(json_object_get(body, "code")));
    goto done;
  }
  PQclear(res);
  const char *key[] = {json_string_value(json_object_get(body, "code"))};
  res = db_exec(&tx, &r->problem, REGION_BY_CODE, 1, key);
  if (!res || audit_record(r, &tx, "create", "region", key[0], NULL, PQgetvalue(res, 0, 1)) || db_commit(&tx, &r->problem)) goto done;
  char location[128];
  snprintf(location, sizeof location, "/v1/regions/%s", json_string_value(json_object_get(body, "code")));
  respond_header(r, "Location", location);
  rc = query_answer_one(r, res, 201, "region");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int regions_update(struct g1p_req *r) {
  const char *code = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERENCE_WRITE)) goto done;
  if (!validate_region_code(code)) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No region with that code is visible to you."); goto done; }
  if (req_json_body(r, &body)) goto done;
  if (json_object_get(body, "code")) {
    problem_add_error(&r->problem, "/code", "cannot be changed: it identifies the region");
    json_object_del(body, "code");
  }
  if (validate_object(body, REGION_PATCH_FIELDS, true, &r->problem) || problem_has_errors(&r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  const char *key[] = {code};
  res = db_exec(&tx, &r->problem, "SELECT version FROM regions WHERE code = $1 FOR UPDATE", 1, key);
  if (!res) goto done;
  if (PQntuples(res) == 0) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No region with that code is visible to you."); goto done; }
  long long version = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  res = NULL;
  if (req_if_match(r, version) || check_core_partner(r, &tx, body) || problem_has_errors(&r->problem)) goto done;
  if (json_object_size(body) > 0) {
    char *doc = json_dumps(body, JSON_COMPACT);
    const char *params[] = {code, doc};
    /* The validated merge patch goes in as one parameter; each column keeps
     * its value unless the patch names it (null clears core_partner). */
    res = db_exec(&tx, &r->problem,
                  "UPDATE regions SET "
                  " name = CASE WHEN $2::jsonb ? 'name' THEN $2::jsonb->>'name' ELSE name END,"
                  " province = CASE WHEN $2::jsonb ? 'province' THEN $2::jsonb->>'province' ELSE province END,"
                  " core_partner = CASE WHEN $2::jsonb ? 'core_partner' THEN ($2::jsonb->>'core_partner')::uuid ELSE core_partner END,"
                  " annual_family_target = CASE WHEN $2::jsonb ? 'annual_family_target' THEN ($2::jsonb->>'annual_family_target')::int ELSE annual_family_target END "
                  "WHERE code = $1",
                  2, params);
    free(doc);
    if (!res) goto done;
    PQclear(res);
  }
  res = db_exec(&tx, &r->problem, REGION_BY_CODE, 1, key);
  if (!res) goto done;
  if (json_object_size(body) > 0 && audit_record(r, &tx, "update", "region", code, NULL, PQgetvalue(res, 0, 1))) goto done;
  if (db_commit(&tx, &r->problem)) goto done;
  rc = query_answer_one(r, res, 200, "region");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}
