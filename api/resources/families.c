/* Families (gezinnen): created from a referral (which then moves to
 * in_trajectory) or stand-alone, with one constant coach, the referrals they
 * collected, and the regular care they wait for while 1G1P bridges the gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/families.h"
#include "g1p/merge_patch.h"
#include "g1p/query.h"
#include "g1p/referrals.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const struct field_rule COACH_FIELDS[] = {
  {.name = "sub", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 255},
  {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "organisation_id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule WAITING_FIELDS[] = {
  {.name = "module", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "organisation_id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = "since", .type = FT_DATE, .flags = F_REQUIRED},
  {.name = NULL},
};
static const struct field_rule CREATE_FIELDS[] = {
  {.name = "referral_id", .type = FT_UUID},
  {.name = "region", .type = FT_REGION_CODE},
  {.name = "label", .type = FT_STRING, .min = 1, .max = 100},
  {.name = "coach", .type = FT_OBJECT, .flags = F_NULLABLE, .fields = COACH_FIELDS},
  {.name = "waiting_for", .type = FT_OBJECT_ARRAY, .min = 0, .max = 20, .fields = WAITING_FIELDS},
  {.name = NULL},
};
/* What a family looks like after a merge patch: everything editable. */
static const struct field_rule EDIT_FIELDS[] = {
  {.name = "label", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 100},
  {.name = "coach", .type = FT_OBJECT, .flags = F_NULLABLE, .fields = COACH_FIELDS},
  {.name = "waiting_for", .type = FT_OBJECT_ARRAY, .min = 0, .max = 20, .fields = WAITING_FIELDS},
  {.name = NULL},
};
static const struct field_rule ATTACH_FIELDS[] = {
  {.name = "referral_id", .type = FT_UUID, .flags = F_REQUIRED},
  {.name = NULL},
};

static const char FAMILY_DOC[] = "SELECT doc, version, id FROM family_docs WHERE id = $1";

static int not_found(struct g1p_req *r) {
  return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No family with that id is visible to you.");
}

int family_lock(struct g1p_req *r, struct db_tx *tx, const char *id, long long *version) {
  if (!validate_uuid(id)) return not_found(r);
  struct access_scope s = access_scope(r);
  const char *params[] = {id, s.regions, s.org, s.family};
  PGresult *res = db_exec(tx, &r->problem, "SELECT version FROM families f WHERE id = $1 AND " FAMILY_SCOPED(2, 3, 4) " FOR UPDATE", 4, params);
  if (!res) return -1;
  int rc = PQntuples(res) == 1 ? 0 : not_found(r);
  if (rc == 0 && version) *version = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  return rc;
}

static void add_ref(json_t *refs, const char *pointer, json_t *id) {
  if (json_is_string(id)) json_array_append_new(refs, json_pack("{s:s,s:O}", "pointer", pointer, "id", id));
}

/* The organisation ids a family names: its coach's and its waiting list's. */
static json_t *family_org_refs(json_t *doc) {
  json_t *refs = json_array();
  add_ref(refs, "/coach/organisation_id", json_object_get(json_object_get(doc, "coach"), "organisation_id"));
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(doc, "waiting_for"), i, w) {
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/waiting_for/%zu/organisation_id", i);
    add_ref(refs, ptr, json_object_get(w, "organisation_id"));
  }
  return refs;
}

/* Reads the family, records audit_action (unless NULL), commits, answers. */
static int answer(struct g1p_req *r, struct db_tx *tx, const char *id, int status, const char *action) {
  const char *key[] = {id};
  PGresult *res = db_exec(tx, &r->problem, FAMILY_DOC, 1, key);
  if (!res) return -1;
  int rc = -1;
  if ((!action || audit_record(r, tx, action, "family", id, id, PQgetvalue(res, 0, 1)) == 0) && db_commit(tx, &r->problem) == 0)
    rc = query_answer_one(r, res, status, "family");
  PQclear(res);
  return rc;
}

/* Only a contacted referral without a family can join one: 409 otherwise. */
static int referral_can_join(struct g1p_req *r, const struct referral_row *row) {
  if (row->family_id[0]) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "The referral already belongs to a family.");
    r->problem.extra = json_pack("{s:s}", "family_id", row->family_id);
    return -1;
  }
  if (strcmp(row->status, "contacted") != 0) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "Only a contacted referral can start a family trajectory; this one is %s%s.", row->status,
                strcmp(row->status, "received") == 0 ? " (record the first contact first)" : "");
    r->problem.extra = json_pack("{s:s}", "current_status", row->status);
    return -1;
  }
  return 0;
}

/* Moves the referral into this family's trajectory (starts: the family was
 * created from it), with its audit row. */
static int take_referral(struct g1p_req *r, struct db_tx *tx, const struct referral_row *row, const char *family_id, bool starts) {
  const char *params[] = {row->id, family_id, starts ? "t" : "f"};
  PGresult *res = db_exec(tx, &r->problem,
                          "UPDATE referrals SET status = 'in_trajectory', family_id = $2, started_family = $3::bool WHERE id = $1 RETURNING version",
                          3, params);
  int rc = res ? audit_record(r, tx, "status_change", "referral", row->id, NULL, PQgetvalue(res, 0, 0)) : -1;
  PQclear(res);
  return rc;
}

int families_create(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_FAMILIES_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, CREATE_FIELDS, false, &r->problem)) goto done;
  const char *referral_id = json_string_value(json_object_get(body, "referral_id"));
  const char *region = json_string_value(json_object_get(body, "region"));
  if (referral_id && region) problem_add_error(&r->problem, "/region", "comes from the referral: leave it out");
  if (!referral_id && !region) problem_add_error(&r->problem, "/region", "is required for a family without referral_id");
  if (!referral_id && !json_object_get(body, "label")) problem_add_error(&r->problem, "/label", "is required for a family without referral_id");
  if (region && !access_in_regions(r, region)) problem_add_error(&r->problem, "/region", "is not one of your regions");
  if (problem_has_errors(&r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  struct referral_row row;
  if (referral_id) {
    if (referral_lock(r, &tx, referral_id, &row)) {
      if (r->problem.kind == PROBLEM_NOT_FOUND) {
        problem_clear(&r->problem);
        problem_add_error(&r->problem, "/referral_id", "names no referral visible to you");
      }
      goto done;
    }
    if (referral_can_join(r, &row)) goto done;
  } else {
    const char *key[] = {region};
    res = db_exec(&tx, &r->problem, "SELECT 1 FROM regions WHERE code = $1", 1, key);
    if (!res) goto done;
    if (PQntuples(res) == 0) problem_add_error(&r->problem, "/region", "names no region");
    PQclear(res);
    res = NULL;
  }
  if (organisations_check_exist(r, &tx, family_org_refs(body)) || problem_has_errors(&r->problem)) goto done;
  char *doc = json_dumps(body, JSON_COMPACT);
  const char *params[] = {doc, referral_id, r->who.sub};
  res = db_exec(&tx, &r->problem,
                "INSERT INTO families (region, label, coach_sub, coach_name, coach_organisation_id, waiting_for, created_by)"
                " SELECT coalesce(d->>'region', rf.region), coalesce(d->>'label', rf.family_label),"
                "  d->'coach'->>'sub', d->'coach'->>'name', (d->'coach'->>'organisation_id')::uuid,"
                "  coalesce(d->'waiting_for', '[]'::jsonb), $3"
                " FROM (SELECT $1::jsonb AS d) s LEFT JOIN referrals rf ON rf.id = $2::uuid"
                " RETURNING id",
                3, params);
  free(doc);
  if (!res) goto done;
  char id[37];
  snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
  if (referral_id && take_referral(r, &tx, &row, id, true)) goto done;
  char location[64];
  snprintf(location, sizeof location, "/v1/families/%s", id);
  respond_header(r, "Location", location);
  rc = answer(r, &tx, id, 201, "create");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int families_get(struct g1p_req *r) {
  const char *id = r->seg[2];
  if (access_require(r, ACCESS_FAMILIES_READ)) return -1;
  if (!validate_uuid(id)) return not_found(r);
  struct access_scope s = access_scope(r);
  const char *params[] = {id, s.regions, s.org, s.family};
  return query_read_one(r, "SELECT f.doc, f.version FROM family_docs f WHERE f.id = $1 AND " FAMILY_SCOPED(2, 3, 4), 4, params, "family");
}

int families_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  if (access_require(r, ACCESS_FAMILIES_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) return -1;
  const char *region, *coach = req_query(r, "coach");
  int rc = -1;
  if (query_region_param(r, "region", &region)) goto done;
  if (coach && (strlen(coach) == 0 || strlen(coach) > 255)) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "coach must be a coach's sub (1 to 255 characters)."); goto done; }
  if (cursor && !validate_uuid(cursor)) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  char lim[16];
  query_limit_text(limit, lim);
  struct access_scope s = access_scope(r);
  const char *params[] = {s.regions, s.org, s.family, region, coach, cursor, lim};
  rc = query_read_page(r,
                       "SELECT f.doc, f.id FROM family_docs f WHERE " FAMILY_SCOPED(1, 2, 3)
                       " AND ($4::text IS NULL OR f.region = $4) AND ($5::text IS NULL OR f.coach_sub = $5)"
                       " AND ($6::uuid IS NULL OR f.id > $6::uuid) ORDER BY f.id LIMIT $7::int",
                       7, params, limit);
done:
  free(cursor);
  return rc;
}

int families_update(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *patch = NULL, *current = NULL, *next = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  long long version = 0;
  int rc = -1;
  if (access_require(r, ACCESS_FAMILIES_WRITE) || req_json_body(r, &patch)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (family_lock(r, &tx, id, &version) || req_if_match(r, version)) goto done;
  const char *key[] = {id};
  res = db_exec(&tx, &r->problem,
                "SELECT json_build_object('label', label, 'coach', CASE WHEN coach_sub IS NULL THEN NULL ELSE"
                " json_build_object('sub', coach_sub, 'name', coach_name, 'organisation_id', coach_organisation_id) END,"
                " 'waiting_for', waiting_for), erased_on IS NOT NULL FROM families WHERE id = $1",
                1, key);
  if (!res) goto done;
  /* An erased family's skeleton would fail validation; say why it is refused. */
  if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "This family was erased (data protection): it can no longer be changed.");
    goto done;
  }
  current = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
  PQclear(res);
  res = NULL;
  /* Merge the patch into what is editable, then validate the result as a
   * whole: a patch can never leave an invalid family behind. */
  next = merge_patch_apply(current, patch);
  /* null removes a member in a merge patch: no coach, an empty waiting list. */
  if (json_is_object(next) && !json_object_get(next, "coach")) json_object_set_new(next, "coach", json_null());
  if (json_is_object(next) && !json_object_get(next, "waiting_for")) json_object_set_new(next, "waiting_for", json_array());
  if (validate_object(next, EDIT_FIELDS, false, &r->problem)) goto done;
  if (organisations_check_exist(r, &tx, family_org_refs(next)) || problem_has_errors(&r->problem)) goto done;
  if (!json_equal(current, next)) {
    char *doc = json_dumps(next, JSON_COMPACT);
    const char *params[] = {id, doc};
    res = db_exec(&tx, &r->problem,
                  "UPDATE families SET label = d->>'label', coach_sub = d->'coach'->>'sub', coach_name = d->'coach'->>'name',"
                  " coach_organisation_id = (d->'coach'->>'organisation_id')::uuid, waiting_for = d->'waiting_for'"
                  " FROM (SELECT $2::jsonb AS d) s WHERE id = $1",
                  2, params);
    free(doc);
    if (!res) goto done;
  }
  rc = answer(r, &tx, id, 200, json_equal(current, next) ? NULL : "update");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(patch);
  json_decref(current);
  json_decref(next);
  return rc;
}

int families_attach_referral(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  struct referral_row row;
  int rc = -1;
  if (access_require(r, ACCESS_FAMILIES_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, ATTACH_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (family_lock(r, &tx, id, NULL)) goto done;
  if (referral_lock(r, &tx, json_string_value(json_object_get(body, "referral_id")), &row)) {
    if (r->problem.kind == PROBLEM_NOT_FOUND) {
      problem_clear(&r->problem);
      problem_add_error(&r->problem, "/referral_id", "names no referral visible to you");
    }
    goto done;
  }
  const char *key[] = {id};
  res = db_exec(&tx, &r->problem, "SELECT region FROM families WHERE id = $1", 1, key);
  if (!res) goto done;
  if (strcmp(PQgetvalue(res, 0, 0), row.region) != 0) {
    problem_add_error(&r->problem, "/referral_id", "is a referral of another region (%s)", row.region);
    goto done;
  }
  if (referral_can_join(r, &row) || take_referral(r, &tx, &row, id, false)) goto done;
  /* The family changed (it collected a referral): a new version. */
  PQclear(res);
  res = db_exec(&tx, &r->problem, "UPDATE families SET version = version WHERE id = $1", 1, key);
  if (!res) goto done;
  rc = answer(r, &tx, id, 200, "referral_added");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}
