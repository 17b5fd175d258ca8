/* The one-month first-contact deadline: the deadlines list (states computed
 * on the day `as_of`, never stored) and the pauses that move a deadline
 * while a family cannot be reached or asks to wait.
 *
 * due(as_of) = due_base + (days of an open pause up to as_of), where
 * due_base = received_on + 1 month + days of closed pauses (sql/002). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/dates.h"
#include "g1p/query.h"
#include "g1p/referrals.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const char *const STATES[] = {"open", "due_soon", "overdue", "met", "met_late", "cancelled", "paused", NULL};
static const char *const REASONS[] = {"family_unreachable", "family_postponed", "other", NULL};

#define SCOPED(a, b) \
  "($" #a "::text[] IS NULL OR r.region = ANY($" #a "::text[])) AND " \
  "($" #b "::uuid IS NULL OR r.source_org = $" #b "::uuid OR r.referrer_organisation_id = $" #b "::uuid)"

/* Every state, any as_of. */
static const char DEADLINES_ALL[] =
  "SELECT row_to_json(x), x.due_on || '|' || x.referral_id FROM referrals r"
  " CROSS JOIN LATERAL (SELECT r.due_base + CASE WHEN r.open_pause_from <= $3::date"
  "     THEN $3::date - r.open_pause_from + 1 ELSE 0 END AS due_on,"
  "   CASE WHEN r.first_contact_on <= $3::date THEN r.first_contact_on END AS fc) d"
  " CROSS JOIN LATERAL (SELECT CASE"
  "   WHEN d.fc IS NOT NULL THEN CASE WHEN d.fc <= d.due_on THEN 'met' ELSE 'met_late' END"
  "   WHEN r.status IN ('withdrawn', 'declined') AND r.closed_on <= $3::date THEN 'cancelled'"
  "   WHEN r.open_pause_from <= $3::date OR EXISTS (SELECT 1 FROM deadline_pauses p"
  "     WHERE p.referral_id = r.id AND p.from_on <= $3::date AND p.to_on >= $3::date) THEN 'paused'"
  "   WHEN $3::date > d.due_on THEN 'overdue'"
  "   WHEN d.due_on - $3::date <= 7 THEN 'due_soon'"
  "   ELSE 'open' END AS state) s"
  " CROSS JOIN LATERAL (SELECT r.id AS referral_id, r.region, r.received_on, d.due_on, d.fc AS first_contact_on, s.state,"
  "   CASE WHEN s.state IN ('met', 'met_late', 'cancelled') THEN NULL ELSE d.due_on - $3::date END AS days_remaining) x"
  " WHERE " SCOPED(1, 2) " AND r.received_on <= $3::date AND ($4::text IS NULL OR r.region = $4)"
  "   AND ($5::text IS NULL OR s.state = $5) AND ($6::date IS NULL OR d.due_on < $6::date) AND ($7::date IS NULL OR d.due_on > $7::date)"
  "   AND ($8::date IS NULL OR (d.due_on, r.id) > ($8::date, $9::uuid))"
  " ORDER BY d.due_on, r.id LIMIT $10::int";

/* state=overdue from today on: only referrals still waiting can be overdue,
 * and without an open pause their due date is due_base, so the partial
 * index referrals_waiting_due (region, due_base, id) answers in order. */
static const char DEADLINES_OVERDUE[] =
  "SELECT row_to_json(x), x.due_on || '|' || x.referral_id FROM referrals r"
  " CROSS JOIN LATERAL (SELECT r.id AS referral_id, r.region, r.received_on, r.due_base AS due_on,"
  "   NULL::date AS first_contact_on, 'overdue' AS state, r.due_base - $3::date AS days_remaining) x"
  " WHERE r.first_contact_on IS NULL AND r.status = 'received' AND " SCOPED(1, 2)
  "   AND ($4::text IS NULL OR r.region = $4) AND $5::text = 'overdue'"
  "   AND r.due_base < $3::date AND (r.open_pause_from IS NULL OR r.open_pause_from > $3::date)"
  "   AND NOT EXISTS (SELECT 1 FROM deadline_pauses p WHERE p.referral_id = r.id AND p.from_on <= $3::date AND p.to_on >= $3::date)"
  "   AND ($6::date IS NULL OR r.due_base < $6::date) AND ($7::date IS NULL OR r.due_base > $7::date)"
  "   AND ($8::date IS NULL OR (r.due_base, r.id) > ($8::date, $9::uuid))"
  " ORDER BY r.due_base, r.id LIMIT $10::int";

int deadlines_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  const char *region, *state, *before, *after, *as_of, *after_on, *after_id;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_READ) || req_limit(r, &limit) || query_cursor(r, &cursor) ||
      query_region_param(r, "region", &region) || query_enum_param(r, "state", STATES, &state) ||
      query_date_param(r, "due_before", &before) || query_date_param(r, "due_after", &after) ||
      query_date_param(r, "as_of", &as_of) || query_cursor_date_id(r, cursor, &after_on, &after_id))
    goto done;
  char today[11], lim[16];
  referral_today(today);
  if (!as_of) as_of = today;
  query_limit_text(limit, lim);
  struct access_scope s = access_scope(r);
  const char *params[] = {s.regions, s.org, as_of, region, state, before, after, after_on, after_id, lim};
  bool fast = state && strcmp(state, "overdue") == 0 && strcmp(as_of, today) >= 0;
  rc = query_read_page(r, fast ? DEADLINES_OVERDUE : DEADLINES_ALL, 10, params, limit);
done:
  free(cursor);
  return rc;
}

/* ---- pauses ------------------------------------------------------------ */

static const struct field_rule PAUSE_FIELDS[] = {
  {.name = "from", .type = FT_DATE, .flags = F_REQUIRED},
  {.name = "to", .type = FT_DATE, .flags = F_NULLABLE},
  {.name = "reason", .type = FT_ENUM, .flags = F_REQUIRED, .values = REASONS},
  {.name = "note", .type = FT_TEXT, .flags = F_NULLABLE, .min = 0, .max = 2000},
  {.name = NULL},
};
static const struct field_rule PAUSE_PATCH_FIELDS[] = {
  {.name = "to", .type = FT_DATE},
  {.name = "reason", .type = FT_ENUM, .values = REASONS},
  {.name = "note", .type = FT_TEXT, .flags = F_NULLABLE, .min = 0, .max = 2000},
  {.name = NULL},
};

static const char PAUSE_DOC[] = "SELECT doc, version, id FROM deadline_pause_docs WHERE id = $1";

/* Reads the pause's representation, commits, answers. */
static int pause_answer(struct g1p_req *r, struct db_tx *tx, const char *pause_id, int status) {
  const char *key[] = {pause_id};
  PGresult *res = db_exec(tx, &r->problem, PAUSE_DOC, 1, key);
  int rc = -1;
  if (res && db_commit(tx, &r->problem) == 0) rc = query_answer_one(r, res, status, "deadline pause");
  PQclear(res);
  return rc;
}

/* Checks the dates of a pause [from, to] (to NULL = open) of a referral that
 * still waits for its first contact, against its other pauses. */
static int check_pause(struct g1p_req *r, struct db_tx *tx, const struct referral_row *row, const char *from,
                       const char *to, const char *except_id) {
  char today[11];
  referral_today(today);
  if (row->first_contact_on[0] || strcmp(row->status, "received") != 0)
    return problem_set(&r->problem, PROBLEM_CONFLICT, "Pauses apply before the first contact; this referral is %s.", row->status);
  if (strcmp(from, row->received_on) < 0) problem_add_error(&r->problem, "/from", "must not be before received_on (%s)", row->received_on);
  if (strcmp(from, today) > 0) problem_add_error(&r->problem, "/from", "must not be in the future (Europe/Brussels)");
  if (to && strcmp(to, from) < 0) problem_add_error(&r->problem, "/to", "must not be before from (%s)", from);
  if (to && strcmp(to, today) > 0) problem_add_error(&r->problem, "/to", "must not be in the future: close a pause once it has ended");
  if (problem_has_errors(&r->problem)) return -1;
  const char *params[] = {row->id, from, to, except_id};
  PGresult *res = db_exec(tx, &r->problem,
                          "SELECT id, from_on, to_on FROM deadline_pauses WHERE referral_id = $1"
                          " AND ($4::uuid IS NULL OR id <> $4::uuid)"
                          " AND daterange(from_on, to_on, '[]') && daterange($2::date, $3::date, '[]') LIMIT 1",
                          4, params);
  if (!res) return -1;
  int rc = 0;
  if (PQntuples(res) > 0) {
    rc = problem_set(&r->problem, PROBLEM_CONFLICT, "Pauses never overlap: this one overlaps the pause from %s%s%s.",
                     PQgetvalue(res, 0, 1), PQgetisnull(res, 0, 2) ? " (still open)" : " to ", PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2));
    r->problem.extra = json_pack("{s:s}", "pause_id", PQgetvalue(res, 0, 0));
  }
  PQclear(res);
  return rc;
}

int pauses_create(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  struct referral_row row;
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_REFERRALS_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, PAUSE_FIELDS, false, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (referral_lock(r, &tx, r->seg[2], &row)) goto done;
  const char *from = json_string_value(json_object_get(body, "from"));
  const char *to = json_string_value(json_object_get(body, "to"));
  if (check_pause(r, &tx, &row, from, to, NULL)) goto done;
  const char *params[] = {row.id, from, to, json_string_value(json_object_get(body, "reason")),
                          json_string_value(json_object_get(body, "note")), r->who.sub};
  res = db_exec(&tx, &r->problem,
                "WITH p AS (INSERT INTO deadline_pauses (referral_id, from_on, to_on, reason, note, created_by)"
                "           VALUES ($1, $2::date, $3::date, $4, $5, $6) RETURNING id)"
                ", r AS (UPDATE referrals SET"
                "   open_pause_from = CASE WHEN $3::date IS NULL THEN $2::date ELSE open_pause_from END,"
                "   paused_days = paused_days + CASE WHEN $3::date IS NULL THEN 0 ELSE $3::date - $2::date + 1 END"
                "   WHERE id = $1 RETURNING version)"
                " SELECT p.id, r.version FROM p, r",
                6, params);
  if (!res) goto done;
  char id[37];
  snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
  if (audit_record(r, &tx, "pause_create", "referral", row.id, NULL, PQgetvalue(res, 0, 1))) goto done;
  char location[128];
  snprintf(location, sizeof location, "/v1/referrals/%s/deadline-pauses/%s", row.id, id);
  respond_header(r, "Location", location);
  rc = pause_answer(r, &tx, id, 201);
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int pauses_update(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  struct referral_row row;
  PGresult *res = NULL;
  int rc = -1;
  const char *pause_id = r->seg[4];
  if (access_require(r, ACCESS_REFERRALS_WRITE) || req_json_body(r, &body)) goto done;
  if (validate_object(body, PAUSE_PATCH_FIELDS, true, &r->problem)) goto done;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  if (referral_lock(r, &tx, r->seg[2], &row)) goto done;
  if (!validate_uuid(pause_id)) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No such deadline pause on this referral."); goto done; }
  const char *key[] = {pause_id, row.id};
  res = db_exec(&tx, &r->problem, "SELECT from_on, to_on, version FROM deadline_pauses WHERE id = $1 AND referral_id = $2 FOR UPDATE", 2, key);
  if (!res) goto done;
  if (PQntuples(res) == 0) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No such deadline pause on this referral."); goto done; }
  char from[11], old_to[11];
  snprintf(from, sizeof from, "%s", PQgetvalue(res, 0, 0));
  snprintf(old_to, sizeof old_to, "%s", PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
  long long version = atoll(PQgetvalue(res, 0, 2));
  PQclear(res);
  res = NULL;
  if (req_if_match(r, version)) goto done;
  const char *to = json_string_value(json_object_get(body, "to"));
  if (!to) to = old_to[0] ? old_to : NULL;
  if (check_pause(r, &tx, &row, from, to, pause_id)) goto done;
  const char *params[] = {pause_id, row.id, to, old_to[0] ? old_to : NULL, json_string_value(json_object_get(body, "reason")),
                          json_object_get(body, "note") ? "t" : "f", json_string_value(json_object_get(body, "note"))};
  /* Move the referral's deadline by the change in paused days: an open
   * pause that closes now counts in full; a closed one by the difference. */
  res = db_exec(&tx, &r->problem,
                "WITH p AS (UPDATE deadline_pauses SET to_on = $3::date, reason = coalesce($5, reason),"
                "           note = CASE WHEN $6::bool THEN $7 ELSE note END WHERE id = $1 RETURNING from_on)"
                " UPDATE referrals SET"
                "  open_pause_from = CASE WHEN $3::date IS NOT NULL AND $4::date IS NULL THEN NULL ELSE open_pause_from END,"
                "  paused_days = paused_days + CASE"
                "    WHEN $3::date IS NULL THEN 0"
                "    WHEN $4::date IS NULL THEN $3::date - (SELECT from_on FROM p) + 1"
                "    ELSE $3::date - $4::date END"
                " WHERE id = $2 RETURNING version",
                7, params);
  if (!res || audit_record(r, &tx, "pause_update", "referral", row.id, NULL, PQgetvalue(res, 0, 0))) goto done;
  rc = pause_answer(r, &tx, pause_id, 200);
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int pauses_list(struct g1p_req *r) {
  if (access_require(r, ACCESS_REFERRALS_READ)) return -1;
  const char *id = r->seg[2];
  if (!validate_uuid(id)) return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No referral with that id is visible to you.");
  struct access_scope s = access_scope(r);
  const char *params[] = {s.regions, s.org, id};
  /* A referral has a handful of pauses: one page holds them all. The ETag
   * is the referral's version, which every pause change bumps. */
  return query_read_one(r,
                        "SELECT json_build_object('items', coalesce((SELECT json_agg(d.doc ORDER BY d.from_on)"
                        "   FROM deadline_pause_docs d WHERE d.referral_id = r.id), '[]'::json), 'next_cursor', NULL), r.version"
                        " FROM referrals r WHERE r.id = $3 AND " SCOPED(1, 2),
                        3, params, "referral");
}

int pauses_get(struct g1p_req *r) {
  if (access_require(r, ACCESS_REFERRALS_READ)) return -1;
  const char *id = r->seg[2], *pause_id = r->seg[4];
  if (!validate_uuid(id) || !validate_uuid(pause_id))
    return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No such deadline pause on a referral visible to you.");
  struct access_scope s = access_scope(r);
  const char *params[] = {s.regions, s.org, id, pause_id};
  return query_read_one(r,
                        "SELECT d.doc, d.version FROM deadline_pause_docs d JOIN referrals r ON r.id = d.referral_id"
                        " WHERE r.id = $3 AND d.id = $4 AND " SCOPED(1, 2),
                        4, params, "deadline pause");
}
