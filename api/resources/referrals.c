/* Referrals (aanmeldingen): idempotent intake from partner systems (single
 * and batch), reading within the caller's regions/organisation, the status
 * lifecycle, and recording the first, perspective-offering conversation.
 *
 * Idempotency is the database's job: (source organisation, external_ref) and
 * (token sub, Idempotency-Key) are unique indexes; an insert that conflicts
 * does nothing, and the existing row's content hash decides between 200
 * (same content: the retry gets the referral) and 409 (different content). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/dates.h"
#include "g1p/query.h"
#include "g1p/referrals.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

#define BATCH_MAX 500

static const char *const REFERRER_KINDS[] = {"organisation", "school", "self", "other", NULL};
static const char *const QUESTION_KINDS[] = {"consult", "short_trajectory", "bridging", "coordination", "unclear", NULL};
static const char *const STATUSES[] = {"received", "contacted", "in_trajectory", "closed", "withdrawn", "declined", NULL};
static const char *const OUTCOMES[] = {"referred_to_care", "back_on_track", "consult_only", "family_declined", "moved", "other", NULL};
static const char *const CONTACT_MODES[] = {"home", "office", "phone", "video", NULL};

void referral_today(char out[11]) { dates_format(dates_brussels_day(time(NULL)), out); }

static int current_year(void) {
  int y, m, d;
  dates_civil_from_days(dates_brussels_day(time(NULL)), &y, &m, &d);
  return y;
}

static const char *birth_year_check(const json_t *v) {
  json_int_t y = json_integer_value(v), now = current_year();
  return (y < now - 25 || y > now) ? "must be a birth year within the last 25 years" : NULL;
}

static const char *postcode_check(const json_t *v) {
  const char *s = json_string_value(v);
  bool ok = strlen(s) == 4 && s[0] >= '1' && s[0] <= '9';
  for (int i = 1; ok && i < 4; i++) ok = s[i] >= '0' && s[i] <= '9';
  return ok ? NULL : "must be a Belgian postcode: 4 digits, not starting with 0";
}

/* A date of the programme's past: not in the future (Europe/Brussels), not
 * before the year 2000. */
static const char *past_date_check(const json_t *v) {
  char today[11];
  referral_today(today);
  const char *s = json_string_value(v);
  if (strcmp(s, today) > 0) return "must not be in the future (Europe/Brussels)";
  if (strcmp(s, "2000-01-01") < 0) return "must not be before 2000-01-01";
  return NULL;
}

static const struct field_rule CHILD_FIELDS[] = {
  {.name = "birth_year", .type = FT_INT, .flags = F_REQUIRED, .min = 1900, .max = 2200, .check = birth_year_check},
  {.name = NULL},
};
static const struct field_rule FAMILY_FIELDS[] = {
  {.name = "label", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 100},
  {.name = "postcode", .type = FT_STRING, .flags = F_REQUIRED, .min = 4, .max = 4, .check = postcode_check},
  {.name = "children", .type = FT_OBJECT_ARRAY, .min = 0, .max = 20, .fields = CHILD_FIELDS},
  {.name = NULL},
};
static const struct field_rule REFERRER_FIELDS[] = {
  {.name = "kind", .type = FT_ENUM, .flags = F_REQUIRED, .values = REFERRER_KINDS},
  {.name = "organisation_id", .type = FT_UUID, .flags = F_NULLABLE},
  {.name = NULL},
};
static const struct field_rule REFERRAL_FIELDS[] = {
  {.name = "region", .type = FT_REGION_CODE, .flags = F_REQUIRED},
  {.name = "referrer", .type = FT_OBJECT, .flags = F_REQUIRED, .fields = REFERRER_FIELDS},
  {.name = "external_ref", .type = FT_STRING, .flags = F_NULLABLE, .min = 1, .max = 200},
  {.name = "received_on", .type = FT_DATE, .check = past_date_check},
  {.name = "question", .type = FT_TEXT, .flags = F_REQUIRED, .min = 1, .max = 10000},
  {.name = "question_kind", .type = FT_ENUM, .flags = F_REQUIRED, .values = QUESTION_KINDS},
  {.name = "family", .type = FT_OBJECT, .flags = F_REQUIRED, .fields = FAMILY_FIELDS},
  {.name = NULL},
};
static const struct field_rule PATCH_FIELDS[] = {
  {.name = "status", .type = FT_ENUM, .values = STATUSES},
  {.name = "outcome", .type = FT_ENUM, .flags = F_NULLABLE, .values = OUTCOMES},
  {.name = "closed_on", .type = FT_DATE, .flags = F_NULLABLE, .check = past_date_check},
  {.name = NULL},
};
static const struct field_rule CONTACT_FIELDS[] = {
  {.name = "held_on", .type = FT_DATE, .flags = F_REQUIRED, .check = past_date_check},
  {.name = "mode", .type = FT_ENUM, .flags = F_REQUIRED, .values = CONTACT_MODES},
  {.name = NULL},
};

/* The scope every referral query carries: $A regions (text[] or NULL), $B
 * organisation (uuid or NULL). */
#define SCOPED(a, b) \
  "($" #a "::text[] IS NULL OR region = ANY($" #a "::text[])) AND " \
  "($" #b "::uuid IS NULL OR source_org = $" #b "::uuid OR referrer_organisation_id = $" #b "::uuid)"

static const char REFERRAL_DOC[] = "SELECT doc, version, id FROM referral_docs WHERE id = $1";

int referral_answer(struct g1p_req *r, struct db_tx *tx, const char *id, int status, const char *action) {
  const char *key[] = {id};
  PGresult *res = db_exec(tx, &r->problem, REFERRAL_DOC, 1, key);
  if (!res) return -1;
  int rc = -1;
  if ((!action || audit_record(r, tx, action, "referral", id, NULL, PQgetvalue(res, 0, 1)) == 0) && db_commit(tx, &r->problem) == 0)
    rc = query_answer_one(r, res, status, "referral");
  PQclear(res);
  return rc;
}

static void copy_field(char *dst, size_t len, PGresult *res, int col) {
  snprintf(dst, len, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

int referral_lock(struct g1p_req *r, struct db_tx *tx, const char *id, struct referral_row *out) {
  if (!validate_uuid(id)) return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No referral with that id is visible to you.");
  struct access_scope s = access_scope(r);
  const char *params[] = {id, s.regions, s.org};
  PGresult *res = db_exec(tx, &r->problem,
                          "SELECT id, region, status, received_on, first_contact_on, first_contact_mode, open_pause_from, "
                          "       closed_on, outcome, version, family_id FROM referrals WHERE id = $1 AND " SCOPED(2, 3) " FOR UPDATE",
                          3, params);
  if (!res) return -1;
  if (PQntuples(res) == 0) {
    PQclear(res);
    return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No referral with that id is visible to you.");
  }
  copy_field(out->id, sizeof out->id, res, 0);
  copy_field(out->region, sizeof out->region, res, 1);
  copy_field(out->status, sizeof out->status, res, 2);
  copy_field(out->received_on, sizeof out->received_on, res, 3);
  copy_field(out->first_contact_on, sizeof out->first_contact_on, res, 4);
  copy_field(out->first_contact_mode, sizeof out->first_contact_mode, res, 5);
  copy_field(out->open_pause_from, sizeof out->open_pause_from, res, 6);
  copy_field(out->closed_on, sizeof out->closed_on, res, 7);
  copy_field(out->outcome, sizeof out->outcome, res, 8);
  out->version = atoll(PQgetvalue(res, 0, 9));
  copy_field(out->family_id, sizeof out->family_id, res, 10);
  PQclear(res);
  return 0;
}

/* ---- intake ------------------------------------------------------------ */

/* Validates item and stores it as one referral in tx. Returns 201 (created),
 * 200 (the same referral was pushed before) or -1 with p set; *doc_out then
 * holds the (doc, version) row. idem_key may be NULL. */
static int intake_one(struct g1p_req *r, struct db_tx *tx, json_t *item, const char *idem_key,
                      struct g1p_problem *p, PGresult **doc_out) {
  *doc_out = NULL;
  if (validate_object(item, REFERRAL_FIELDS, false, p)) return -1;
  const char *region = json_string_value(json_object_get(item, "region"));
  json_t *referrer = json_object_get(item, "referrer");
  const char *kind = json_string_value(json_object_get(referrer, "kind"));
  const char *ref_org = json_string_value(json_object_get(referrer, "organisation_id"));
  const char *token_org = r->who.org[0] ? r->who.org : NULL;
  if (!access_in_regions(r, region)) problem_add_error(p, "/region", "is not one of your regions");
  if (token_org && ref_org && strcmp(ref_org, token_org) != 0)
    problem_add_error(p, "/referrer/organisation_id", "must be your own organisation or left out: referrals you push are attributed to it");
  if (token_org && !ref_org && strcmp(kind, "organisation") == 0) ref_org = token_org;
  if (!ref_org && strcmp(kind, "organisation") == 0)
    problem_add_error(p, "/referrer/organisation_id", "is required when the referrer is an organisation");
  if (problem_has_errors(p)) return -1;
  const char *source_org = token_org ? token_org : ref_org;

  /* Hash what the referral says once the referrer is resolved, so a retry
   * that spells it out or leaves it implicit is the same content. */
  json_t *norm = json_deep_copy(item);
  json_object_set_new(json_object_get(norm, "referrer"), "organisation_id", ref_org ? json_string(ref_org) : json_null());
  char *doc = json_dumps(norm, JSON_COMPACT);
  json_decref(norm);
  const char *ext = json_string_value(json_object_get(item, "external_ref"));
  const char *params[] = {doc, ref_org, source_org, idem_key ? r->who.sub : NULL, idem_key, r->who.sub};
  PGresult *res = db_exec(tx, p,
                "INSERT INTO referrals (region, referrer_kind, referrer_organisation_id, source_org, external_ref, "
                "  idempotency_sub, idempotency_key, content_hash, received_on, question, question_kind, "
                "  family_label, family_postcode, family_children, created_by) "
                "SELECT d->>'region', d->'referrer'->>'kind', $2::uuid, $3::uuid, d->>'external_ref', $4, $5, md5(d::text), "
                "  coalesce((d->>'received_on')::date, g1p_today()), d->>'question', d->>'question_kind', "
                "  d->'family'->>'label', d->'family'->>'postcode', coalesce(d->'family'->'children', '[]'::jsonb), $6 "
                "FROM (SELECT $1::jsonb AS d) s "
                "ON CONFLICT DO NOTHING RETURNING id",
                6, params);
  int rc = -1;
  char id[37] = "";
  if (!res) {
    /* The references are the database's to check (one round trip less
     * than asking first): name the field that names nothing. */
    const char *field = strcmp(p->constraint, "referrals_region_fkey") == 0                     ? "/region"
                        : strcmp(p->constraint, "referrals_referrer_organisation_id_fkey") == 0 ? "/referrer/organisation_id"
                        : strcmp(p->constraint, "referrals_source_org_fkey") == 0               ? "/referrer"
                                                                                               : NULL;
    if (field) {
      problem_clear(p);
      problem_add_error(p, field, strcmp(field, "/region") == 0 ? "names no region"
                                  : strcmp(field, "/referrer") == 0 ? "the organisation of your token (claim org) is not registered"
                                                                    : "names no organisation");
    }
    goto done;
  }
  if (PQntuples(res) == 1) {
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    rc = 201;
  } else {
    /* It exists: the same push again, or a reuse of the key. */
    PQclear(res);
    struct access_scope sc = access_scope(r);
    const char *find[] = {doc, source_org, ext, idem_key ? r->who.sub : NULL, idem_key, sc.regions, sc.org};
    res = db_exec(tx, p,
                  "SELECT id, content_hash = md5($1::jsonb::text), " SCOPED(6, 7) " FROM referrals "
                  "WHERE ($3::text IS NOT NULL AND external_ref = $3 AND source_org IS NOT DISTINCT FROM $2::uuid) "
                  "   OR ($5::text IS NOT NULL AND idempotency_sub = $4 AND idempotency_key = $5) "
                  "ORDER BY ($3::text IS NOT NULL AND external_ref = $3) DESC LIMIT 1",
                  7, find);
    if (!res) goto done;
    if (PQntuples(res) == 0) {
      problem_set(p, PROBLEM_CONFLICT, "The referral conflicts with one that exists.");
    } else if (PQgetvalue(res, 0, 1)[0] != 't') {
      problem_set(p, PROBLEM_CONFLICT, "%s was already used for a referral with different content; send a new %s for a new referral.",
                  ext ? "This external_ref" : "This Idempotency-Key", ext ? "external_ref" : "key");
      /* Name the existing referral only to a caller who may see it. */
      if (PQgetvalue(res, 0, 2)[0] == 't') p->extra = json_pack("{s:s}", "referral_id", PQgetvalue(res, 0, 0));
    } else if (PQgetvalue(res, 0, 2)[0] != 't') {
      problem_set(p, PROBLEM_CONFLICT, "%s is already used by a referral outside your scope.", ext ? "This external_ref" : "This Idempotency-Key");
    } else {
      snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
      rc = 200;
    }
  }
  PQclear(res);
  res = NULL;
  if (rc == 200) {
    const char *key[] = {id};
    *doc_out = db_exec(tx, p, REFERRAL_DOC, 1, key);
    if (!*doc_out) rc = -1;
  } else if (rc == 201) {
    /* The new referral's representation and its audit row, in one statement. */
    const char *audit[] = {id, r->who.sub, r->who.org[0] ? r->who.org : NULL, r->id};
    *doc_out = db_exec(tx, p,
                       "WITH a AS (INSERT INTO audit_log (sub, org, action, resource, resource_id, version, request_id)"
                       "           VALUES ($2, $3::uuid, 'create', 'referral', $1, 1, $4))"
                       " SELECT doc, version, id FROM referral_docs WHERE id = $1::uuid",
                       4, audit);
    if (!*doc_out) rc = -1;
  }
done:
  PQclear(res);
  free(doc);
  return rc;
}

/* Idempotency-Key: 1..200 visible ASCII characters but the comma (a header
 * sent twice arrives joined by one, and must not become another key). */
static int idempotency_key(struct g1p_req *r, const char **out) {
  *out = req_header(r, "Idempotency-Key");
  if (!*out) return 0;
  size_t n = strlen(*out);
  bool ok = n >= 1 && n <= 200;
  for (size_t i = 0; ok && i < n; i++) ok = (*out)[i] > ' ' && (*out)[i] < 0x7f && (*out)[i] != ',';
  if (!ok) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "Idempotency-Key must be 1 to 200 visible ASCII characters other than a comma.");
  return 0;
}

int referrals_create(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *doc = NULL;
  const char *key = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_WRITE) || idempotency_key(r, &key) || req_json_body(r, &body)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  int status = intake_one(r, &tx, body, key, &r->problem, &doc);
  if (status < 0 || db_commit(&tx, &r->problem)) goto done;
  if (status == 201) {
    char location[80];
    snprintf(location, sizeof location, "/v1/referrals/%s", PQgetvalue(doc, 0, 2));
    respond_header(r, "Location", location);
  }
  rc = query_answer_one(r, doc, status, "referral");
done:
  PQclear(doc);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int referrals_batch(struct g1p_req *r) {
  json_t *body = NULL, *results = NULL;
  struct db_tx tx = {0};
  const char *key = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_WRITE) || idempotency_key(r, &key) || req_json_body(r, &body)) goto done;
  json_t *items = json_object_get(body, "items");
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) if (strcmp(k, "items") != 0) problem_add_error(&r->problem, "/items", "is the only field of a batch");
  if (!json_is_array(items)) problem_add_error(&r->problem, "/items", "must be an array of referrals");
  else if (json_array_size(items) > BATCH_MAX) problem_add_error(&r->problem, "/items", "must hold at most %d referrals", BATCH_MAX);
  if (problem_has_errors(&r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  results = json_array();
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    /* Each item under its own savepoint: a failing one leaves no trace and
     * the others are kept. */
    PGresult *sp = db_exec(&tx, &r->problem, "SAVEPOINT batch_item", 0, NULL);
    if (!sp) goto done;
    PQclear(sp);
    char item_key[256];
    if (key) snprintf(item_key, sizeof item_key, "%s#%zu", key, i);
    struct g1p_problem p = {0};
    PGresult *doc = NULL;
    int status = intake_one(r, &tx, item, key ? item_key : NULL, &p, &doc);
    if (status < 0 && (p.kind == PROBLEM_UNAVAILABLE || p.kind == PROBLEM_INTERNAL)) {
      r->problem = p; /* the whole batch fails: nothing is kept */
      goto done;
    }
    sp = db_exec(&tx, &r->problem, status < 0 ? "ROLLBACK TO SAVEPOINT batch_item" : "RELEASE SAVEPOINT batch_item", 0, NULL);
    if (!sp) { PQclear(doc); problem_clear(&p); goto done; }
    PQclear(sp);
    if (status < 0) {
      json_array_append_new(results, json_pack("{s:i,s:o}", "status", problem_status(p.kind), "problem", problem_to_json(&p)));
    } else {
      json_t *ref = json_loads(PQgetvalue(doc, 0, 0), 0, NULL);
      json_array_append_new(results, json_pack("{s:i,s:o}", "status", status, "referral", ref ? ref : json_null()));
    }
    PQclear(doc);
    problem_clear(&p);
  }
  if (db_commit(&tx, &r->problem)) goto done;
  rc = respond_json(r, 200, json_pack("{s:O}", "results", results));
done:
  json_decref(results);
  db_end(&tx);
  json_decref(body);
  return rc;
}

/* ---- reads ------------------------------------------------------------- */

int referrals_get(struct g1p_req *r) {
  const char *id = r->seg[2];
  if (access_require(r, ACCESS_REFERRALS_READ)) return -1;
  if (!validate_uuid(id)) return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No referral with that id is visible to you.");
  struct access_scope s = access_scope(r);
  const char *params[] = {id, s.regions, s.org};
  return query_read_one(r, "SELECT doc, version FROM referral_docs WHERE id = $1 AND " SCOPED(2, 3), 3, params, "referral");
}

int referrals_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  const char *region, *status, *from, *to, *after_on, *after_id;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_READ) || req_limit(r, &limit) || query_cursor(r, &cursor) ||
      query_region_param(r, "region", &region) || query_enum_param(r, "status", STATUSES, &status) ||
      query_date_param(r, "received_from", &from) || query_date_param(r, "received_to", &to) ||
      query_cursor_date_id(r, cursor, &after_on, &after_id))
    goto done;
  const char *ext = req_query(r, "external_ref");
  if (ext && (strlen(ext) == 0 || strlen(ext) > 200)) {
    problem_set(&r->problem, PROBLEM_BAD_REQUEST, "external_ref must be 1 to 200 characters.");
    goto done;
  }
  char lim[16];
  query_limit_text(limit, lim);
  struct access_scope s = access_scope(r);
  const char *params[] = {s.regions, s.org, region, status, from, to, ext, after_on, after_id, lim};
  rc = query_read_page(r,
                       "SELECT doc, received_on || '|' || id FROM referral_docs WHERE " SCOPED(1, 2)
                       " AND ($3::text IS NULL OR region = $3) AND ($4::text IS NULL OR status = $4)"
                       " AND ($5::date IS NULL OR received_on >= $5::date) AND ($6::date IS NULL OR received_on <= $6::date)"
                       " AND ($7::text IS NULL OR external_ref = $7)"
                       " AND ($8::date IS NULL OR (received_on, id) > ($8::date, $9::uuid))"
                       " ORDER BY received_on, id LIMIT $10::int",
                       10, params, limit);
done:
  free(cursor);
  return rc;
}

/* ---- lifecycle --------------------------------------------------------- */

/* Which statuses a PATCH may move a referral to. received -> contacted is
 * recorded through POST .../first-contact (it needs the date and mode), and
 * contacted -> in_trajectory also happens when a family is created. */
static const struct { const char *from; const char *to[3]; } TRANSITIONS[] = {
  {"received", {"withdrawn", "declined", NULL}},
  {"contacted", {"in_trajectory", "closed", NULL}},
  {"in_trajectory", {"closed", NULL, NULL}},
};

static bool transition_allowed(const char *from, const char *to, json_t **allowed) {
  *allowed = json_array();
  bool ok = false;
  for (size_t i = 0; i < sizeof TRANSITIONS / sizeof TRANSITIONS[0]; i++) {
    if (strcmp(TRANSITIONS[i].from, from) != 0) continue;
    for (int j = 0; j < 3 && TRANSITIONS[i].to[j]; j++) {
      json_array_append_new(*allowed, json_string(TRANSITIONS[i].to[j]));
      ok |= strcmp(TRANSITIONS[i].to[j], to) == 0;
    }
  }
  return ok;
}

static bool is_ending(const char *status) {
  return strcmp(status, "closed") == 0 || strcmp(status, "withdrawn") == 0 || strcmp(status, "declined") == 0;
}

int referrals_update(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  struct referral_row row;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, PATCH_FIELDS, true, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (referral_lock(r, &tx, r->seg[2], &row) || req_if_match(r, row.version)) goto done;

  const char *to = json_string_value(json_object_get(body, "status"));
  if (!to) to = row.status;
  bool changes_status = strcmp(to, row.status) != 0;
  if (changes_status) {
    json_t *allowed = NULL;
    if (!transition_allowed(row.status, to, &allowed)) {
      const char *hint = strcmp(to, "contacted") == 0 ? " Record the first conversation with POST /v1/referrals/{id}/first-contact." : "";
      problem_set(&r->problem, PROBLEM_CONFLICT, "A referral cannot move from %s to %s.%s", row.status, to, hint);
      r->problem.extra = json_pack("{s:s,s:o}", "current_status", row.status, "allowed_transitions", allowed);
      goto done;
    }
    json_decref(allowed);
  } else if (json_object_size(body) > 0 && !is_ending(to)) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "outcome and closed_on belong to a referral that is closed, withdrawn or declined (this one is %s).", row.status);
    goto done;
  }
  /* The outcome and closing date of the state the referral ends up in. */
  json_t *outcome_v = json_object_get(body, "outcome");
  const char *outcome = outcome_v ? json_string_value(outcome_v) : (row.outcome[0] ? row.outcome : NULL);
  json_t *closed_v = json_object_get(body, "closed_on");
  char today[11];
  referral_today(today);
  const char *closed_on = closed_v ? json_string_value(closed_v) : (row.closed_on[0] ? row.closed_on : NULL);
  if (is_ending(to) && !closed_on) closed_on = today;
  if (strcmp(to, "closed") == 0 && !outcome) problem_add_error(&r->problem, "/outcome", "is required to close a referral");
  if (strcmp(to, "closed") != 0 && outcome) problem_add_error(&r->problem, "/outcome", "is only for closed referrals");
  if (closed_on && strcmp(closed_on, row.received_on) < 0) problem_add_error(&r->problem, "/closed_on", "must not be before received_on (%s)", row.received_on);
  if (closed_on && row.first_contact_on[0] && strcmp(closed_on, row.first_contact_on) < 0)
    problem_add_error(&r->problem, "/closed_on", "must not be before the first contact (%s)", row.first_contact_on);
  if (problem_has_errors(&r->problem)) goto done;
  const char *action = NULL;
  if (changes_status || outcome_v || closed_v) {
    action = changes_status ? "status_change" : "update";
    const char *params[] = {row.id, to, outcome, is_ending(to) ? closed_on : NULL};
    PGresult *res = db_exec(&tx, &r->problem,
                            "UPDATE referrals SET status = $2, outcome = $3, closed_on = $4::date,"
                            " open_pause_from = CASE WHEN $2 IN ('withdrawn', 'declined') THEN NULL ELSE open_pause_from END,"
                            " paused_days = CASE WHEN $2 IN ('withdrawn', 'declined') AND open_pause_from IS NOT NULL"
                            "   THEN paused_days + (greatest($4::date, open_pause_from) - open_pause_from + 1) ELSE paused_days END"
                            " WHERE id = $1",
                            4, params);
    if (!res) goto done;
    PQclear(res);
    if (strcmp(to, "withdrawn") == 0 || strcmp(to, "declined") == 0) {
      /* An open pause ends with the referral. */
      const char *close[] = {row.id, closed_on};
      res = db_exec(&tx, &r->problem, "UPDATE deadline_pauses SET to_on = greatest(from_on, $2::date) WHERE referral_id = $1 AND to_on IS NULL", 2, close);
      if (!res) goto done;
      PQclear(res);
    }
  }
  rc = referral_answer(r, &tx, row.id, 200, action);
done:
  db_end(&tx);
  json_decref(body);
  return rc;
}

int referrals_first_contact(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  struct referral_row row;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, CONTACT_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (referral_lock(r, &tx, r->seg[2], &row) || req_if_match(r, row.version)) goto done;
  const char *held_on = json_string_value(json_object_get(body, "held_on"));
  const char *mode = json_string_value(json_object_get(body, "mode"));
  if (row.first_contact_on[0]) {
    /* A retry of the same record (flaky mobile networks) is answered as if
     * it were the first; anything else is a conflict. */
    if (strcmp(row.first_contact_on, held_on) == 0 && strcmp(row.first_contact_mode, mode) == 0) {
      rc = referral_answer(r, &tx, row.id, 200, NULL);
      goto done;
    }
    problem_set(&r->problem, PROBLEM_CONFLICT, "The first contact was already recorded (held on %s).", row.first_contact_on);
    goto done;
  }
  if (strcmp(row.status, "received") != 0) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "A referral that is %s cannot get a first contact.", row.status);
    r->problem.extra = json_pack("{s:s}", "current_status", row.status);
    goto done;
  }
  if (strcmp(held_on, row.received_on) < 0) {
    problem_add_error(&r->problem, "/held_on", "must not be before received_on (%s)", row.received_on);
    goto done;
  }
  /* Pauses lie between receipt and contact: none may start after it. An
   * open pause ends the day before the contact (or on it, if it began then). */
  const char *pause_params[] = {row.id, held_on};
  PGresult *res = db_exec(&tx, &r->problem,
                          "SELECT count(*) FROM deadline_pauses WHERE referral_id = $1"
                          " AND (from_on > $2::date OR to_on > $2::date)", 2, pause_params);
  if (!res) goto done;
  bool late_pause = atoi(PQgetvalue(res, 0, 0)) > 0;
  PQclear(res);
  if (late_pause) {
    problem_set(&r->problem, PROBLEM_CONFLICT, "A deadline pause lasts beyond %s; pauses lie before the first contact (shorten the pause first).", held_on);
    goto done;
  }
  res = db_exec(&tx, &r->problem,
                "WITH closed AS (UPDATE deadline_pauses SET to_on = greatest(from_on, $2::date - 1) "
                "                WHERE referral_id = $1 AND to_on IS NULL RETURNING to_on - from_on + 1 AS days) "
                "UPDATE referrals SET status = 'contacted', first_contact_on = $2::date, first_contact_mode = $3,"
                " paused_days = paused_days + coalesce((SELECT sum(days) FROM closed), 0), open_pause_from = NULL "
                "WHERE id = $1",
                3, (const char *const[]){row.id, held_on, mode});
  if (!res) goto done;
  PQclear(res);
  rc = referral_answer(r, &tx, row.id, 200, "first_contact");
done:
  db_end(&tx);
  json_decref(body);
  return rc;
}
