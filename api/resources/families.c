/* Families (gezinnen): created from a referral (which then moves to
 * in_trajectory) or stand-alone, with one constant coach, the referrals they
 * collected, and the regular care they wait for while 1G1P bridges the gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
static const char *const SECTORS[] = {"caw", "kind_en_gezin", "cgg", "vaph", "jeugdhulp", "clb", "ocmw", "onderwijs", "other", NULL};
static const char *const WAIT_ENDS[] = {"started", "no_longer_needed", "other", NULL};

/* Care starts on a day that has come: a stored started_on is never in the
 * future, so judging it again on every write is safe. */
static const char *not_future(const json_t *v) {
  char today[11];
  referral_today(today);
  return strcmp(json_string_value(v), today) > 0 ? "must not be in the future (Europe/Brussels)" : NULL;
}

/* A waiting item as written; settle_waiting() checks what spans fields. */
static const struct field_rule WAITING_FIELDS[] = {
  {.name = "id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = "module", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 200},
  {.name = "sector", .type = FT_ENUM, .flags = F_NULLABLE, .values = SECTORS},
  {.name = "organisation_id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = "since", .type = FT_DATE, .flags = F_REQUIRED},
  {.name = "started_on", .type = FT_DATE, .flags = F_NULLABLE, .check = not_future},
  {.name = "ended", .type = FT_ENUM, .flags = F_NULLABLE, .values = WAIT_ENDS},
  {.name = NULL},
};
/* Members every stored item has (null when not given). */
static const char *const WAITING_OPTIONAL[] = {"sector", "organisation_id", "started_on", "ended", NULL};
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


/* The stored item of this family with that id, or NULL. */
static json_t *stored_item(json_t *stored, const char *id) {
  size_t i;
  json_t *it;
  json_array_foreach(stored, i, it) {
    const char *sid = json_string_value(json_object_get(it, "id"));
    if (sid && strcasecmp(sid, id) == 0) return it;
  }
  return NULL;
}

/* A member that holds a valid date, or NULL (the field rules report it). */
static const char *date_member(json_t *item, const char *name) {
  const char *s = json_string_value(json_object_get(item, name));
  return s && validate_date(s) ? s : NULL;
}

/* Ties item i to a stored item by its id (422 when the id names none, or
 * names the same item as an earlier one), or gives a new item an id.
 * Returns the stored item, or NULL for a new one. */
static json_t *settle_id(struct g1p_req *r, json_t *stored, json_t *items, size_t i) {
  json_t *item = json_array_get(items, i), *id = json_object_get(item, "id");
  char ptr[64];
  snprintf(ptr, sizeof ptr, "/waiting_for/%zu/id", i);
  if (!id || json_is_null(id)) {
    char fresh[37];
    uuid_random(fresh);
    json_object_set_new(item, "id", json_string(fresh));
    return NULL;
  }
  if (!json_is_string(id) || !validate_uuid(json_string_value(id))) return NULL; /* the field rules say why */
  json_t *before = stored_item(stored, json_string_value(id));
  if (!before) {
    problem_add_error(&r->problem, ptr, "names no waiting item of this family (%s); leave id out for a new item", json_string_value(id));
    return NULL;
  }
  for (size_t j = 0; j < i; j++) {
    const char *other = json_string_value(json_object_get(json_array_get(items, j), "id"));
    if (other && strcasecmp(other, json_string_value(id)) == 0) {
      problem_add_error(&r->problem, ptr, "is already the id of /waiting_for/%zu", j);
      return NULL;
    }
  }
  /* Stored ids are lowercase: a client's uppercase spelling is the same item. */
  json_object_set(item, "id", json_object_get(before, "id"));
  return before;
}

/* Settles the waiting list a write leaves behind, given the stored one: ids
 * (see settle_id), every member present (null when not given), and the
 * rules that span fields: started_on not before since, ended "started"
 * only with started_on, since not in the future. since is judged when it is
 * written: an item kept as it was is not judged again. */
static void settle_waiting(struct g1p_req *r, json_t *stored, json_t *items) {
  if (!json_is_array(items) || json_array_size(items) > 20) return; /* the field rules say why */
  char today[11];
  referral_today(today);
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    if (!json_is_object(item)) continue;
    json_t *before = settle_id(r, stored, items, i);
    for (const char *const *m = WAITING_OPTIONAL; *m; m++)
      if (!json_object_get(item, *m)) json_object_set_new(item, *m, json_null());
    const char *since = date_member(item, "since"), *started = date_member(item, "started_on");
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/waiting_for/%zu/since", i);
    if (since && strcmp(since, today) > 0 && !(before && json_equal(json_object_get(before, "since"), json_object_get(item, "since"))))
      problem_add_error(&r->problem, ptr, "must not be in the future (Europe/Brussels)");
    snprintf(ptr, sizeof ptr, "/waiting_for/%zu/started_on", i);
    if (since && started && strcmp(started, since) < 0) problem_add_error(&r->problem, ptr, "must not be before since (%s)", since);
    const char *ended = json_string_value(json_object_get(item, "ended"));
    if (ended && strcmp(ended, "started") == 0 && json_is_null(json_object_get(item, "started_on")))
      problem_add_error(&r->problem, ptr, "is required when ended is \"started\": the day the care started");
  }
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
  /* Every bad field at once: the rules of one field, then those of the
   * waiting list as a whole (a new family has no stored items). */
  int bad = validate_object(body, CREATE_FIELDS, false, &r->problem);
  json_t *none = json_array();
  settle_waiting(r, none, json_object_get(body, "waiting_for"));
  json_decref(none);
  if (bad || problem_has_errors(&r->problem)) goto done;
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
                "INSERT INTO families (region, label, coach_sub, coach_name, coach_organisation_id, waiting_for, created_by, referral_received_on)"
                " SELECT coalesce(d->>'region', rf.region), coalesce(d->>'label', rf.family_label),"
                "  d->'coach'->>'sub', d->'coach'->>'name', (d->'coach'->>'organisation_id')::uuid,"
                "  coalesce(d->'waiting_for', '[]'::jsonb), $3, rf.received_on"
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

/* A coach's sub as a filter: 1 to 255 characters. */
static int coach_param(struct g1p_req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  if (*out && (strlen(*out) == 0 || strlen(*out) > 255))
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "%s must be a coach's sub (1 to 255 characters).", name);
  return 0;
}

int families_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  if (access_require(r, ACCESS_FAMILIES_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) return -1;
  const char *region, *coach, *coach_sub, *waiting;
  static const char *const BOOLS[] = {"true", "false", NULL};
  int rc = -1;
  if (query_region_param(r, "region", &region) || coach_param(r, "coach", &coach) || coach_param(r, "coach_sub", &coach_sub) ||
      query_enum_param(r, "waiting", BOOLS, &waiting))
    goto done;
  if (cursor && !validate_uuid(cursor)) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  char lim[16];
  query_limit_text(limit, lim);
  struct access_scope s = access_scope(r);
  const char *params[] = {s.regions, s.org, s.family, region, coach, cursor, lim, coach_sub, waiting};
  /* waiting: whether the family has an open waiting item today (care not
   * started, wait not ended), from the partial index family_waits_open. */
  rc = query_read_page(r,
                       "SELECT f.doc, f.id FROM family_docs f WHERE " FAMILY_SCOPED(1, 2, 3)
                       " AND ($4::text IS NULL OR f.region = $4) AND ($5::text IS NULL OR f.coach_sub = $5)"
                       " AND ($8::text IS NULL OR f.coach_sub = $8)"
                       " AND ($9::bool IS NULL OR $9::bool = EXISTS (SELECT 1 FROM family_waits w"
                       "      WHERE w.family_id = f.id AND w.started_on IS NULL AND w.ended IS NULL))"
                       " AND ($6::uuid IS NULL OR f.id > $6::uuid) ORDER BY f.id LIMIT $7::int",
                       9, params, limit);
done:
  free(cursor);
  return rc;
}

/* The family's coach periods, oldest first. Scoped like a family read and,
 * like it, not audited: it shows who coached, not what the family said. */
int families_coaches(struct g1p_req *r) {
  const char *id = r->seg[2];
  int limit;
  char *cursor = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_FAMILIES_READ) || req_limit(r, &limit) || query_cursor(r, &cursor)) goto done;
  if (cursor && !parse_whole_number(cursor, 1, 2147483647, NULL)) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  if (!validate_uuid(id)) { not_found(r); goto done; }
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  struct access_scope s = access_scope(r);
  const char *scope[] = {id, s.regions, s.org, s.family};
  res = db_exec(&tx, &r->problem, "SELECT 1 FROM families f WHERE f.id = $1 AND " FAMILY_SCOPED(2, 3, 4), 4, scope);
  if (!res) goto done;
  if (PQntuples(res) == 0) { not_found(r); goto done; }
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {id, cursor, lim};
  rc = query_page_in(r, &tx,
                     "SELECT c.doc, c.period FROM family_coach_docs c WHERE c.family_id = $1"
                     " AND ($2::int IS NULL OR c.period > $2::int) ORDER BY c.period LIMIT $3::int",
                     3, params, limit);
  if (rc == 0 && db_commit(&tx, &r->problem)) rc = -1;
done:
  PQclear(res);
  db_end(&tx);
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
  int bad = validate_object(next, EDIT_FIELDS, false, &r->problem);
  settle_waiting(r, json_object_get(current, "waiting_for"), json_object_get(next, "waiting_for"));
  if (bad || problem_has_errors(&r->problem)) goto done;
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
