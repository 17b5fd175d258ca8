/* The one family plan (gezinsplan): a singular sub-resource of a family, so
 * "one family, one plan" holds by construction. No lost updates: writes to
 * an existing plan need If-Match (428 without, 412 when stale), creation is
 * PUT with If-None-Match: *, and every accepted write is kept as an
 * immutable version. The family itself (token with scope plan:family and
 * claim family) reads its plan and versions and records its agreement. */
#include <ctype.h>
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

static const char *const GOAL_STATUSES[] = {"open", "in_progress", "reached", "dropped", NULL};
static const char *const ACTION_STATUSES[] = {"planned", "done", "cancelled", NULL};
static const char *const OWNER_KINDS[] = {"family", "network", "professional", NULL};
static const char *const ROLES[] = {"parent", "child", "network", "professional", NULL};

/* Ids of goals and actions are chosen by clients (so an offline client can
 * link an action to a goal it just made) or by the server when left out. */
static const char *item_id_check(const json_t *v) {
  const char *s = json_string_value(v);
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') return "must hold only letters, digits, '-' and '_'";
  return NULL;
}

static const struct field_rule OWNER_FIELDS[] = {
  {.name = "kind", .type = FT_ENUM, .flags = F_REQUIRED, .values = OWNER_KINDS},
  {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "organisation_id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule GOAL_FIELDS[] = {
  {.name = "id", .type = FT_STRING, .min = 1, .max = 64, .check = item_id_check},
  {.name = "title", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 500},
  {.name = "status", .type = FT_ENUM, .flags = F_REQUIRED, .values = GOAL_STATUSES},
  {.name = "target_date", .type = FT_DATE, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule ACTION_FIELDS[] = {
  {.name = "id", .type = FT_STRING, .min = 1, .max = 64, .check = item_id_check},
  {.name = "goal_id", .type = FT_STRING, .flags = F_NULLABLE, .min = 1, .max = 64},
  {.name = "description", .type = FT_TEXT, .flags = F_REQUIRED, .min = 1, .max = 2000},
  {.name = "owner", .type = FT_OBJECT, .flags = F_REQUIRED, .fields = OWNER_FIELDS},
  {.name = "due_on", .type = FT_DATE, .flags = F_NULLABLE},
  {.name = "status", .type = FT_ENUM, .flags = F_REQUIRED, .values = ACTION_STATUSES},
  {.name = NULL},
};
static const struct field_rule PARTICIPANT_FIELDS[] = {
  {.name = "role", .type = FT_ENUM, .flags = F_REQUIRED, .values = ROLES},
  {.name = "name", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "organisation_id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule PLAN_FIELDS[] = {
  {.name = "family_question", .type = FT_TEXT, .flags = F_REQUIRED, .min = 1, .max = 5000},
  {.name = "strengths", .type = FT_STRING_ARRAY, .min = 0, .max = 50},
  {.name = "goals", .type = FT_OBJECT_ARRAY, .min = 0, .max = 100, .fields = GOAL_FIELDS},
  {.name = "actions", .type = FT_OBJECT_ARRAY, .min = 0, .max = 300, .fields = ACTION_FIELDS},
  {.name = "participants", .type = FT_OBJECT_ARRAY, .min = 0, .max = 100, .fields = PARTICIPANT_FIELDS},
  {.name = "next_review_on", .type = FT_DATE, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule AGREEMENT_FIELDS[] = {
  {.name = "version", .type = FT_INT, .flags = F_REQUIRED, .min = 1, .max = 2147483647},
  {.name = NULL},
};

/* Members of the representation that a client may send back unchanged
 * (PUT of what GET returned); the server sets them, so they are ignored. */
static const char *const READ_ONLY[] = {"family_id", "agreed_by_family_on", "agreed_version", "updated_by",
                                        "created_at", "updated_at", "version", NULL};

static const char PLAN_DOC[] = "SELECT doc, version FROM plan_docs WHERE family_id = $1";


/* Gives every goal and action an id, and checks ids are unique and every
 * action's goal_id names a goal of this plan. */
static void check_items(struct g1p_req *r, json_t *plan) {
  const char *lists[] = {"goals", "actions"};
  for (int l = 0; l < 2; l++) {
    json_t *items = json_object_get(plan, lists[l]);
    size_t i, j;
    json_t *it, *other;
    json_array_foreach(items, i, it) {
      if (!json_object_get(it, "id")) {
        char id[37];
        uuid_random(id);
        json_object_set_new(it, "id", json_string(id));
      }
      json_array_foreach(items, j, other) {
        if (j >= i) break;
        if (json_equal(json_object_get(it, "id"), json_object_get(other, "id"))) {
          char ptr[64];
          snprintf(ptr, sizeof ptr, "/%s/%zu/id", lists[l], i);
          problem_add_error(&r->problem, ptr, "is already the id of /%s/%zu", lists[l], j);
          break;
        }
      }
    }
  }
  size_t i, j;
  json_t *action, *goal;
  json_array_foreach(json_object_get(plan, "actions"), i, action) {
    json_t *goal_id = json_object_get(action, "goal_id");
    if (!json_is_string(goal_id)) continue;
    bool found = false;
    json_array_foreach(json_object_get(plan, "goals"), j, goal) found |= json_equal(json_object_get(goal, "id"), goal_id);
    if (!found) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/actions/%zu/goal_id", i);
      problem_add_error(&r->problem, ptr, "names no goal of this plan");
    }
  }
}

static json_t *plan_org_refs(json_t *plan) {
  json_t *refs = json_array();
  size_t i;
  json_t *x;
  char ptr[64];
  json_array_foreach(json_object_get(plan, "participants"), i, x) {
    json_t *id = json_object_get(x, "organisation_id");
    snprintf(ptr, sizeof ptr, "/participants/%zu/organisation_id", i);
    if (json_is_string(id)) json_array_append_new(refs, json_pack("{s:s,s:O}", "pointer", ptr, "id", id));
  }
  json_array_foreach(json_object_get(plan, "actions"), i, x) {
    json_t *id = json_object_get(json_object_get(x, "owner"), "organisation_id");
    snprintf(ptr, sizeof ptr, "/actions/%zu/owner/organisation_id", i);
    if (json_is_string(id)) json_array_append_new(refs, json_pack("{s:s,s:O}", "pointer", ptr, "id", id));
  }
  return refs;
}

/* Validates a whole plan document (defaults filled in); -1 with a 422. */
static int validate_plan(struct g1p_req *r, struct db_tx *tx, json_t *plan) {
  for (const char *const *k = READ_ONLY; *k; k++) json_object_del(plan, *k);
  if (validate_object(plan, PLAN_FIELDS, false, &r->problem)) return -1;
  const char *arrays[] = {"strengths", "goals", "actions", "participants"};
  for (int i = 0; i < 4; i++) if (!json_object_get(plan, arrays[i])) json_object_set_new(plan, arrays[i], json_array());
  if (!json_object_get(plan, "next_review_on")) json_object_set_new(plan, "next_review_on", json_null());
  check_items(r, plan);
  if (problem_has_errors(&r->problem)) return -1;
  if (organisations_check_exist(r, tx, plan_org_refs(plan))) return -1;
  return problem_has_errors(&r->problem) ? -1 : 0;
}

/* Keeps the version just written, then reads, commits and answers. */
static int snapshot_and_answer(struct g1p_req *r, struct db_tx *tx, const char *family_id, int status, const char *action) {
  const char *key[] = {family_id};
  PGresult *res = db_exec(tx, &r->problem,
                          "INSERT INTO plan_versions (family_id, version, doc, changed_by, changed_at)"
                          " SELECT p.family_id, p.version, p.doc::jsonb, pl.updated_by, pl.updated_at"
                          " FROM plan_docs p JOIN plans pl ON pl.family_id = p.family_id WHERE p.family_id = $1",
                          1, key);
  if (!res) return -1;
  PQclear(res);
  res = db_exec(tx, &r->problem, PLAN_DOC, 1, key);
  int rc = -1;
  if (res && audit_record(r, tx, action, "plan", family_id, family_id, PQgetvalue(res, 0, 1)) == 0 && db_commit(tx, &r->problem) == 0) {
    if (status == 201) {
      char location[80];
      snprintf(location, sizeof location, "/v1/families/%s/plan", family_id);
      respond_header(r, "Location", location);
    }
    rc = query_answer_one(r, res, status, "plan");
  }
  PQclear(res);
  return rc;
}

/* The plan's current version under lock: 0 when there is no plan yet. */
static int lock_plan(struct g1p_req *r, struct db_tx *tx, const char *family_id, long long *version) {
  const char *key[] = {family_id};
  PGresult *res = db_exec(tx, &r->problem, "SELECT version FROM plans WHERE family_id = $1 FOR UPDATE", 1, key);
  if (!res) return -1;
  *version = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
  PQclear(res);
  return 0;
}

static int precondition_required(struct g1p_req *r, long long version) {
  problem_set(&r->problem, PROBLEM_PRECONDITION_REQUIRED,
              "Changing an existing plan needs If-Match with the version you edited (now \"%lld\"), so no one's change is lost.", version);
  r->problem.extra = json_pack("{s:I}", "current_version", (json_int_t)version);
  return -1;
}

static int write_plan(struct g1p_req *r, struct db_tx *tx, const char *family_id, json_t *plan, bool create) {
  char *doc = json_dumps(plan, JSON_COMPACT);
  const char *params[] = {family_id, doc, r->who.sub};
  PGresult *res = db_exec(tx, &r->problem,
                          create ? "INSERT INTO plans (family_id, content, updated_by) VALUES ($1, $2::jsonb, $3) ON CONFLICT DO NOTHING"
                                 : "UPDATE plans SET content = $2::jsonb, updated_by = $3 WHERE family_id = $1",
                          3, params);
  free(doc);
  if (!res) return -1;
  bool none = create && atoi(PQcmdTuples(res)) == 0;
  PQclear(res);
  if (none) return problem_set(&r->problem, PROBLEM_PRECONDITION_FAILED, "The plan was created by someone else just now; fetch it.");
  return 0;
}

int plans_put(struct g1p_req *r) {
  const char *family_id = r->seg[2];
  json_t *plan = NULL;
  struct db_tx tx = {0};
  long long version = 0;
  int rc = -1;
  if (access_require(r, ACCESS_FAMILIES_WRITE) || req_json_body(r, &plan)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (family_lock(r, &tx, family_id, NULL) || lock_plan(r, &tx, family_id, &version)) goto done;
  const char *none_match = req_header(r, "If-None-Match");
  if (none_match) {
    if (strcmp(none_match, "*") != 0) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "If-None-Match on a plan may only be *."); goto done; }
    if (version > 0) {
      problem_set(&r->problem, PROBLEM_PRECONDITION_FAILED, "This family already has its plan (version %lld): change it with If-Match.", version);
      r->problem.extra = json_pack("{s:I}", "current_version", (json_int_t)version);
      goto done;
    }
  } else if (version > 0) {
    if (!req_has_if_match(r)) { precondition_required(r, version); goto done; }
    if (req_if_match(r, version)) goto done;
  } else if (req_has_if_match(r)) {
    problem_set(&r->problem, PROBLEM_PRECONDITION_FAILED, "This family has no plan yet: create it with If-None-Match: *.");
    goto done;
  }
  if (validate_plan(r, &tx, plan) || write_plan(r, &tx, family_id, plan, version == 0)) goto done;
  rc = snapshot_and_answer(r, &tx, family_id, version == 0 ? 201 : 200, version == 0 ? "create" : "update");
done:
  db_end(&tx);
  json_decref(plan);
  return rc;
}

int plans_patch(struct g1p_req *r) {
  const char *family_id = r->seg[2];
  json_t *patch = NULL, *current = NULL, *next = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  long long version = 0;
  int rc = -1;
  if (access_require(r, ACCESS_FAMILIES_WRITE) || req_json_body(r, &patch)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (family_lock(r, &tx, family_id, NULL) || lock_plan(r, &tx, family_id, &version)) goto done;
  if (version == 0) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "This family has no plan yet: create it with PUT and If-None-Match: *."); goto done; }
  if (!req_has_if_match(r)) { precondition_required(r, version); goto done; }
  if (req_if_match(r, version)) goto done;
  const char *key[] = {family_id};
  res = db_exec(&tx, &r->problem, "SELECT content FROM plans WHERE family_id = $1", 1, key);
  if (!res) goto done;
  current = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
  for (const char *const *k = READ_ONLY; *k; k++) json_object_del(patch, *k);
  next = merge_patch_apply(current, patch);
  if (validate_plan(r, &tx, next)) goto done;
  if (!json_equal(current, next) && write_plan(r, &tx, family_id, next, false)) goto done;
  if (json_equal(current, next)) {
    /* Nothing changed: no new version. */
    PQclear(res);
    res = db_exec(&tx, &r->problem, PLAN_DOC, 1, key);
    if (res && db_commit(&tx, &r->problem) == 0) rc = query_answer_one(r, res, 200, "plan");
    goto done;
  }
  rc = snapshot_and_answer(r, &tx, family_id, 200, "update");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(patch);
  json_decref(current);
  json_decref(next);
  return rc;
}

int plans_get(struct g1p_req *r) {
  const char *family_id = r->seg[2];
  if (access_require(r, ACCESS_PLAN_READ)) return -1;
  if (!validate_uuid(family_id)) return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No family with that id is visible to you.");
  struct access_scope s = access_scope(r);
  const char *params[] = {family_id, s.regions, s.org, s.family, r->who.sub, r->who.org[0] ? r->who.org : NULL, r->id};
  /* Who read a family's plan is kept (the family may ask): the audit row is
   * written by the same statement that reads, committed asynchronously (no
   * WAL flush wait on a read; a crash may lose the last fraction of a
   * second of read records, never a change). */
  return query_read_one(r,
                        "WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),"
                        " d AS (SELECT p.doc, p.version, f.id FROM plan_docs p JOIN families f ON f.id = p.family_id"
                        "           WHERE f.id = $1 AND " FAMILY_SCOPED(2, 3, 4) "),"
                        " a AS (INSERT INTO audit_log (sub, org, action, resource, resource_id, family_id, version, request_id)"
                        "       SELECT $5, $6::uuid, 'read', 'plan', d.id::text, d.id, d.version, $7 FROM d, s)"
                        " SELECT doc, version FROM d",
                        7, params, "plan (or family)");
}

int plans_versions(struct g1p_req *r) {
  const char *family_id = r->seg[2];
  int limit;
  char *cursor = NULL;
  struct db_tx tx = {0};
  int rc = -1;
  if (access_require(r, ACCESS_PLAN_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) goto done;
  if (cursor && !parse_whole_number(cursor, 1, 2147483647, NULL)) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  if (db_acquire(r->app->db, &tx, &r->problem) || family_lock(r, &tx, family_id, NULL)) goto done;
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {family_id, cursor, lim};
  rc = query_page_in(r, &tx,
                     "SELECT row_to_json(x), x.version FROM (SELECT v.version, g1p_ts(v.changed_at) AS changed_at, v.changed_by"
                     " FROM plan_versions v WHERE v.family_id = $1 AND ($2::int IS NULL OR v.version > $2::int)"
                     " ORDER BY v.version LIMIT $3::int) x",
                     3, params, limit);
done:
  db_end(&tx);
  free(cursor);
  return rc;
}

int plans_version_get(struct g1p_req *r) {
  const char *family_id = r->seg[2], *n = r->seg[5];
  if (access_require(r, ACCESS_PLAN_READ)) return -1;
  if (!validate_uuid(family_id) || !parse_whole_number(n, 1, 2147483647, NULL))
    return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No such plan version is visible to you.");
  struct access_scope s = access_scope(r);
  const char *params[] = {family_id, s.regions, s.org, s.family, n, r->who.sub, r->who.org[0] ? r->who.org : NULL, r->id};
  return query_read_one(r,
                        "WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),"
                        " d AS (SELECT v.doc, v.version, f.id FROM plan_versions v JOIN families f ON f.id = v.family_id"
                        "           WHERE f.id = $1 AND v.version = $5::int AND " FAMILY_SCOPED(2, 3, 4) "),"
                        " a AS (INSERT INTO audit_log (sub, org, action, resource, resource_id, family_id, version, request_id)"
                        "       SELECT $6, $7::uuid, 'read', 'plan', d.id::text, d.id, d.version, $8 FROM d, s)"
                        " SELECT doc, version FROM d",
                        8, params, "plan version");
}

int plans_agreement(struct g1p_req *r) {
  const char *family_id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  long long version = 0;
  int rc = -1;
  if (access_require(r, ACCESS_PLAN_AGREE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, AGREEMENT_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (family_lock(r, &tx, family_id, NULL) || lock_plan(r, &tx, family_id, &version)) goto done;
  if (version == 0) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "This family has no plan yet."); goto done; }
  json_int_t agreed = json_integer_value(json_object_get(body, "version"));
  if (agreed != version) {
    problem_set(&r->problem, PROBLEM_PRECONDITION_FAILED, "The plan changed since version %lld: it is at version %lld now. Read it again before agreeing.",
                (long long)agreed, version);
    r->problem.extra = json_pack("{s:I}", "current_version", (json_int_t)version);
    goto done;
  }
  char today[11], v[24];
  referral_today(today);
  snprintf(v, sizeof v, "%lld", version);
  const char *params[] = {family_id, today, v, r->who.sub};
  /* The agreement is a change of the plan: it gets a version of its own,
   * whose agreed_version names the version the family agreed to. */
  res = db_exec(&tx, &r->problem, "UPDATE plans SET agreed_by_family_on = $2::date, agreed_version = $3::int, updated_by = $4 WHERE family_id = $1", 4, params);
  if (!res) goto done;
  rc = snapshot_and_answer(r, &tx, family_id, 200, "agreement");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}
