/* Webhook subscriptions of partner systems (scope webhooks:manage), their
 * deliveries, manual retry, secret rotation and ping. A subscription belongs
 * to the creating token's organisation and regions and hears only about what
 * such a token could read (sql/006_webhooks.sql, g1p_webhook_may_read); it
 * is visible to tokens of the same organisation whose regions cover it. The
 * delivery itself is api/deliver.c's: the two meet in the database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/audit.h"
#include "g1p/netcheck.h"
#include "g1p/query.h"
#include "g1p/resources.h"
#include "g1p/sign.h"
#include "g1p/validate.h"

static const char *const EVENT_TYPES[] = {
  "referral.created", "referral.updated", "referral.first_contact", "family.created", "family.updated",
  "plan.created", "plan.updated", "plan.agreed", "organisation.created", "organisation.updated",
  "organisation.deleted", "region.created", "region.updated", "family.erased", "referral.erased",
  "webhook.ping", NULL};

static const char *check_events(const json_t *v) {
  size_t i, n = json_array_size(v);
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *t = json_string_value(e);
    if (strcmp(t, "*") == 0) {
      if (n != 1) return "must be [\"*\"] alone or a list of event types";
      continue;
    }
    bool known = false;
    for (const char *const *k = EVENT_TYPES; *k && !known; k++) known = strcmp(*k, t) == 0;
    if (!known) return "holds an unknown event type";
    for (size_t j = 0; j < i; j++)
      if (strcmp(t, json_string_value(json_array_get(v, j))) == 0) return "lists an event type twice";
  }
  return NULL;
}

static const struct field_rule CREATE_FIELDS[] = {
  {.name = "url", .type = FT_STRING, .flags = F_REQUIRED, .min = 1, .max = 2048},
  {.name = "events", .type = FT_STRING_ARRAY, .flags = F_REQUIRED, .min = 1, .max = 32, .check = check_events},
  {.name = "description", .type = FT_STRING, .flags = F_NULLABLE, .min = 0, .max = 500},
  {.name = NULL},
};
static const struct field_rule PATCH_FIELDS[] = {
  {.name = "url", .type = FT_STRING, .min = 1, .max = 2048},
  {.name = "events", .type = FT_STRING_ARRAY, .min = 1, .max = 32, .check = check_events},
  {.name = "description", .type = FT_STRING, .flags = F_NULLABLE, .min = 0, .max = 500},
  {.name = "enabled", .type = FT_BOOL},
  {.name = NULL},
};

/* The representation of webhook row w; the secret is never part of it. */
#define WEBHOOK_JSON \
  "(SELECT row_to_json(x)::text FROM (SELECT w.id, w.url, w.events, w.description, w.enabled, w.disabled_reason," \
  " w.org AS organisation_id, w.regions, w.created_by, g1p_ts(w.previous_secret_until) AS previous_secret_expires_at," \
  " g1p_ts(w.created_at) AS created_at, g1p_ts(w.updated_at) AS updated_at, w.version) x)"
/* Visible to a token of the same organisation whose regions cover the
 * subscription's: $1 org (or NULL), $2 regions (text[] or NULL: all). */
#define WEBHOOK_VISIBLE \
  " (w.org IS NOT DISTINCT FROM $1::uuid) AND ($2::text[] IS NULL OR (w.regions IS NOT NULL AND w.regions <@ $2::text[]))"

static const char WEBHOOK_BY_ID[] = "SELECT " WEBHOOK_JSON ", w.version FROM webhooks w WHERE w.id = $3::uuid AND" WEBHOOK_VISIBLE;
static const char WEBHOOK_LOCK[] = "SELECT w.version FROM webhooks w WHERE w.id = $3::uuid AND" WEBHOOK_VISIBLE " FOR UPDATE";

static int not_found(struct g1p_req *r) {
  return problem_set(&r->problem, PROBLEM_NOT_FOUND, "No webhook subscription with that id is visible to you.");
}

/* The URL rules: https (unless allowed), no user info, no private, local or
 * numeric-trick address, checked on the name's addresses now and again on
 * the address connected to at each delivery. */
static void check_url(struct g1p_req *r, const json_t *value) {
  const struct g1p_config *c = r->app->cfg;
  const char *url = json_string_value(value);
  /* Not a string of the right length: validate_object has said so already. */
  if (!url || json_string_length(value) < 1 || json_string_length(value) > 2048) return;
  struct netcheck_target t;
  char why[200];
  if (netcheck_url(url, c->webhook_allow_http, c->webhook_allow_private, &t, why, sizeof why) != 0 ||
      (!t.is_ip && netcheck_resolve(t.host, t.port, c->webhook_allow_private, why, sizeof why) != 0))
    problem_add_error(&r->problem, "/url", "%s", why);
}

int webhooks_list(struct g1p_req *r) {
  int limit;
  char *cursor = NULL;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE) || req_limit(r, &limit) || query_cursor(r, &cursor)) return -1;
  const char *after_at = NULL, *after_id = NULL;
  int rc = -1;
  char *sep = cursor ? strchr(cursor, '|') : NULL;
  if (cursor && (!sep || !validate_uuid(sep + 1))) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  if (sep) { *sep = '\0'; after_at = cursor; after_id = sep + 1; }
  struct access_scope s = access_scope(r);
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {s.org, s.regions, after_at, after_id, lim};
  rc = query_read_page(r,
                       "SELECT " WEBHOOK_JSON ", w.created_at::text || '|' || w.id FROM webhooks w WHERE" WEBHOOK_VISIBLE
                       " AND ($3::text IS NULL OR (w.created_at, w.id) > ($3::timestamptz, $4::uuid))"
                       " ORDER BY w.created_at, w.id LIMIT $5::int",
                       5, params, limit);
done:
  free(cursor);
  return rc;
}

int webhooks_get(struct g1p_req *r) {
  const char *id = r->seg[2];
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE)) return -1;
  if (!validate_uuid(id)) return not_found(r);
  struct access_scope s = access_scope(r);
  const char *params[] = {s.org, s.regions, id};
  return query_read_one(r, WEBHOOK_BY_ID, 3, params, "webhook subscription");
}

/* Answers the subscription with its (new) secret: the only time it is shown. */
static int answer_with_secret(struct g1p_req *r, struct db_tx *tx, const char *id, const char *secret, int status) {
  struct access_scope s = access_scope(r);
  const char *params[] = {s.org, s.regions, id};
  PGresult *res = db_exec(tx, &r->problem, WEBHOOK_BY_ID, 3, params);
  if (!res) return -1;
  int rc = -1;
  json_t *doc = PQntuples(res) ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
  if (!doc) { problem_set(&r->problem, PROBLEM_INTERNAL, "The subscription could not be read back."); goto done; }
  json_object_set_new(doc, "secret", json_string(secret));
  if (audit_record(r, tx, status == 201 ? "create" : "rotate_secret", "webhook", id, NULL, PQgetvalue(res, 0, 1)) ||
      db_commit(tx, &r->problem)) {
    json_decref(doc);
    goto done;
  }
  respond_etag(r, PQgetvalue(res, 0, 1));
  rc = respond_json(r, status, doc);
done:
  PQclear(res);
  return rc;
}

int webhooks_create(struct g1p_req *r) {
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  char secret[SIGN_SECRET_MAX];
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE) || req_json_body(r, &body)) goto done;
  validate_object(body, CREATE_FIELDS, false, &r->problem);
  check_url(r, json_object_get(body, "url"));
  if (problem_has_errors(&r->problem)) goto done;
  if (sign_secret_new(secret) != 0) { problem_set(&r->problem, PROBLEM_INTERNAL, "No secret could be made."); goto done; }
  struct access_scope s = access_scope(r);
  char *events = json_dumps(json_object_get(body, "events"), JSON_COMPACT);
  const char *params[] = {json_string_value(json_object_get(body, "url")), events,
                          json_string_value(json_object_get(body, "description")), r->who.sub, s.org, s.regions,
                          access_allows(r, ACCESS_REFERRALS_READ) ? "t" : "f", access_allows(r, ACCESS_FAMILIES_READ) ? "t" : "f", secret};
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) { free(events); goto done; }
  res = db_exec(&tx, &r->problem,
                "INSERT INTO webhooks (url, events, description, created_by, org, regions, reads_referrals, reads_families, secret)"
                " SELECT $1, ARRAY(SELECT json_array_elements_text($2::json)), $3, $4, $5::uuid, $6::text[], $7::bool, $8::bool, $9"
                " RETURNING id",
                9, params);
  free(events);
  if (!res) goto done;
  char id[37], location[64];
  snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
  snprintf(location, sizeof location, "/v1/webhooks/%s", id);
  respond_header(r, "Location", location);
  rc = answer_with_secret(r, &tx, id, secret, 201);
done:
  explicit_bzero(secret, sizeof secret);
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

/* Opens the request's transaction on a visible subscription, locked; for a
 * change of the subscription itself (if_match) also checks If-Match. */
static int open_visible(struct g1p_req *r, struct db_tx *tx, const char *id, bool if_match) {
  if (!validate_uuid(id)) return not_found(r);
  if (db_acquire(r->app->db, tx, &r->problem) || db_begin(tx, &r->problem)) return -1;
  struct access_scope s = access_scope(r);
  const char *params[] = {s.org, s.regions, id};
  PGresult *res = db_exec(tx, &r->problem, WEBHOOK_LOCK, 3, params);
  if (!res) return -1;
  int rc = PQntuples(res) == 0 ? not_found(r) : if_match ? req_if_match(r, atoll(PQgetvalue(res, 0, 0))) : 0;
  PQclear(res);
  return rc;
}

int webhooks_update(struct g1p_req *r) {
  const char *id = r->seg[2];
  json_t *body = NULL;
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE) || req_json_body(r, &body)) goto done;
  validate_object(body, PATCH_FIELDS, true, &r->problem);
  check_url(r, json_object_get(body, "url"));
  if (problem_has_errors(&r->problem)) goto done;
  if (open_visible(r, &tx, id, true)) goto done;
  if (json_object_size(body) > 0) {
    char *doc = json_dumps(body, JSON_COMPACT);
    const char *params[] = {id, doc};
    /* Enabling again forgets why it was disabled and the failure streak. */
    res = db_exec(&tx, &r->problem,
                  "UPDATE webhooks SET"
                  " url = coalesce($2::jsonb->>'url', url),"
                  " events = CASE WHEN $2::jsonb ? 'events' THEN ARRAY(SELECT jsonb_array_elements_text($2::jsonb->'events')) ELSE events END,"
                  " description = CASE WHEN $2::jsonb ? 'description' THEN $2::jsonb->>'description' ELSE description END,"
                  " enabled = coalesce(($2::jsonb->>'enabled')::boolean, enabled),"
                  " disabled_reason = CASE WHEN ($2::jsonb->>'enabled')::boolean IS TRUE THEN NULL"
                  "   WHEN ($2::jsonb->>'enabled')::boolean IS FALSE THEN 'manual' ELSE disabled_reason END"
                  " WHERE id = $1",
                  2, params);
    free(doc);
    if (!res) goto done;
    PQclear(res);
    res = NULL;
    if (json_is_true(json_object_get(body, "enabled"))) {
      const char *key[] = {id};
      res = db_exec(&tx, &r->problem, "DELETE FROM webhook_failing WHERE webhook_id = $1", 1, key);
      if (!res) goto done;
      PQclear(res);
      res = NULL;
    }
  }
  struct access_scope s = access_scope(r);
  const char *params[] = {s.org, s.regions, id};
  res = db_exec(&tx, &r->problem, WEBHOOK_BY_ID, 3, params);
  if (!res || (json_object_size(body) > 0 && audit_record(r, &tx, "update", "webhook", id, NULL, PQgetvalue(res, 0, 1))) ||
      db_commit(&tx, &r->problem))
    goto done;
  rc = query_answer_one(r, res, 200, "webhook subscription");
done:
  PQclear(res);
  db_end(&tx);
  json_decref(body);
  return rc;
}

int webhooks_delete(struct g1p_req *r) {
  const char *id = r->seg[2];
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE)) goto done;
  if (open_visible(r, &tx, id, true)) goto done;
  const char *key[] = {id};
  res = db_exec(&tx, &r->problem, "DELETE FROM webhooks WHERE id = $1", 1, key);
  if (!res || audit_record(r, &tx, "delete", "webhook", id, NULL, NULL) || db_commit(&tx, &r->problem)) goto done;
  rc = respond_text(r, 204, NULL, "", 0);
done:
  PQclear(res);
  db_end(&tx);
  return rc;
}

/* The new secret signs at once; the old one keeps signing for 24 hours, so a
 * receiver can switch without losing a delivery. */
int webhooks_rotate_secret(struct g1p_req *r) {
  const char *id = r->seg[2];
  struct db_tx tx = {0};
  PGresult *res = NULL;
  char secret[SIGN_SECRET_MAX];
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE)) goto done;
  if (sign_secret_new(secret) != 0) { problem_set(&r->problem, PROBLEM_INTERNAL, "No secret could be made."); goto done; }
  if (open_visible(r, &tx, id, true)) goto done;
  const char *params[] = {id, secret};
  res = db_exec(&tx, &r->problem,
                "UPDATE webhooks SET previous_secret = secret, previous_secret_until = now() + interval '24 hours', secret = $2"
                " WHERE id = $1",
                2, params);
  if (!res) goto done;
  rc = answer_with_secret(r, &tx, id, secret, 200);
done:
  explicit_bzero(secret, sizeof secret);
  PQclear(res);
  db_end(&tx);
  return rc;
}

/* The representation of delivery d of event e. */
#define DELIVERY_JSON \
  "(SELECT row_to_json(x)::text FROM (SELECT d.id, 'msg_' || replace(e.id::text, '-', '') AS event_id, e.type," \
  " e.resource, e.resource_id, e.version, d.status, d.attempts, d.last_status_code, d.last_error, d.last_duration_ms," \
  " g1p_ts(d.last_attempt_at) AS last_attempt_at, CASE WHEN d.status = 'pending' THEN g1p_ts(d.next_attempt_at) END AS next_attempt_at," \
  " g1p_ts(d.delivered_at) AS delivered_at, g1p_ts(d.created_at) AS created_at) x)"
static const char DELIVERY_BY_ID[] =
  "SELECT " DELIVERY_JSON " FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.id = $1";

/* Reads delivery back in tx, records audit_action (unless NULL), commits and
 * answers 202 with it. */
static int answer_delivery(struct g1p_req *r, struct db_tx *tx, const char *webhook, const char *delivery, const char *audit_action) {
  const char *key[] = {delivery};
  PGresult *doc = db_exec(tx, &r->problem, DELIVERY_BY_ID, 1, key);
  int rc = -1;
  if (doc && (!audit_action || audit_record(r, tx, audit_action, "webhook", webhook, NULL, NULL) == 0) && db_commit(tx, &r->problem) == 0)
    rc = respond_json_text(r, 202, PQgetvalue(doc, 0, 0), (size_t)PQgetlength(doc, 0, 0));
  PQclear(doc);
  return rc;
}

/* Queues a webhook.ping event for this one subscription. */
int webhooks_ping(struct g1p_req *r) {
  const char *id = r->seg[2];
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE)) goto done;
  if (open_visible(r, &tx, id, false)) goto done;
  const char *params[] = {id};
  res = db_exec(&tx, &r->problem,
                "WITH e AS (INSERT INTO webhook_events (type, resource, resource_id, version)"
                "  SELECT 'webhook.ping', 'webhook', w.id::text, w.version FROM webhooks w WHERE w.id = $1 AND w.enabled RETURNING id),"
                " d AS (INSERT INTO webhook_deliveries (webhook_id, event_id) SELECT $1::uuid, e.id FROM e RETURNING id)"
                " SELECT d.id, pg_notify('g1p_webhooks', '') FROM d",
                1, params);
  if (!res) goto done;
  if (PQntuples(res) == 0) { problem_set(&r->problem, PROBLEM_CONFLICT, "The subscription is disabled: enable it first."); goto done; }
  rc = answer_delivery(r, &tx, id, PQgetvalue(res, 0, 0), NULL);
done:
  PQclear(res);
  db_end(&tx);
  return rc;
}

static const char *const DELIVERY_STATES[] = {"pending", "delivered", "failed", NULL};

int webhooks_deliveries(struct g1p_req *r) {
  const char *id = r->seg[2], *status;
  int limit;
  char *cursor = NULL;
  struct db_tx tx = {0};
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE) || req_limit(r, &limit) || query_cursor(r, &cursor) ||
      query_enum_param(r, "status", DELIVERY_STATES, &status))
    goto done;
  const char *after_at = NULL, *after_id = NULL;
  char *sep = cursor ? strchr(cursor, '|') : NULL;
  if (cursor && (!sep || !validate_uuid(sep + 1))) { problem_set(&r->problem, PROBLEM_BAD_REQUEST, "cursor is not a cursor this API gave out."); goto done; }
  if (sep) { *sep = '\0'; after_at = cursor; after_id = sep + 1; }
  if (open_visible(r, &tx, id, false)) goto done;
  char lim[16];
  query_limit_text(limit, lim);
  const char *params[] = {id, status, after_at, after_id, lim};
  rc = query_page_in(r, &tx,
                     "SELECT " DELIVERY_JSON ", d.created_at::text || '|' || d.id"
                     " FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
                     " WHERE d.webhook_id = $1::uuid AND ($2::text IS NULL OR d.status = $2)"
                     " AND ($3::text IS NULL OR (d.created_at, d.id) > ($3::timestamptz, $4::uuid))"
                     " ORDER BY d.created_at, d.id LIMIT $5::int",
                     5, params, limit);
  if (rc == 0 && db_commit(&tx, &r->problem)) rc = -1;
done:
  db_end(&tx);
  free(cursor);
  return rc;
}

/* Sends a delivery again now, whatever became of it. */
int webhooks_retry_delivery(struct g1p_req *r) {
  const char *id = r->seg[2], *delivery = r->seg[4];
  struct db_tx tx = {0};
  PGresult *res = NULL;
  int rc = -1;
  if (access_require(r, ACCESS_WEBHOOKS_MANAGE)) goto done;
  if (!validate_uuid(delivery)) { not_found(r); goto done; }
  if (open_visible(r, &tx, id, false)) goto done;
  const char *params[] = {delivery, id};
  res = db_exec(&tx, &r->problem,
                "WITH u AS (UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), lease_until = NULL"
                " WHERE id = $1::uuid AND webhook_id = $2::uuid RETURNING id) SELECT id, pg_notify('g1p_webhooks', '') FROM u",
                2, params);
  if (!res) goto done;
  if (PQntuples(res) == 0) { problem_set(&r->problem, PROBLEM_NOT_FOUND, "No delivery with that id belongs to this subscription."); goto done; }
  rc = answer_delivery(r, &tx, id, delivery, "retry_delivery");
done:
  PQclear(res);
  db_end(&tx);
  return rc;
}
