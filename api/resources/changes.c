/* The change feed: every committed change to a region, organisation,
 * referral, family or plan, once, in the order of its feed position (seq),
 * which never goes backwards as seen by a reader (see changes_stamp() in
 * sql/005). Each change is shown only to tokens that may read its resource,
 * as it is scoped now. Partner systems and offline clients sync with
 * ?after=<next_after> instead of re-reading everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/access.h"
#include "g1p/families.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

/* Walks at most a window of the feed (WINDOW_FACTOR x limit positions) in
 * seq order and looks up each change's resource by key; the CASE keeps
 * region codes away from the uuid cast. A bounded window keeps each call
 * cheap even for a token that may see few of the changes. */
#define WINDOW_FACTOR 10
static const char CHANGES_SQL[] =
  "WITH w AS (SELECT * FROM changes WHERE seq > $4::bigint ORDER BY seq LIMIT $9::int),"
  " page AS (SELECT row_to_json(x)::text AS doc, c.seq FROM w c"
  " LEFT JOIN LATERAL (SELECT r.region, r.source_org, r.referrer_organisation_id FROM referrals r"
  "   WHERE r.id = CASE WHEN c.resource = 'referral' THEN c.resource_id::uuid END) r ON true"
  " LEFT JOIN LATERAL (SELECT f.id, f.region, f.coach_organisation_id FROM families f"
  "   WHERE f.id = CASE WHEN c.resource IN ('family', 'plan') THEN c.resource_id::uuid END) f ON true"
  " CROSS JOIN LATERAL (SELECT c.seq, c.resource, c.resource_id AS id, c.version, c.op, g1p_ts(c.at) AS at) x"
  " WHERE c.resource = 'organisation'"
  "   OR (c.resource = 'region' AND ($5::text[] IS NULL OR c.resource_id = ANY($5::text[])))"
  "   OR (c.resource = 'referral' AND $6::bool AND r.region IS NOT NULL"
  "       AND ($1::text[] IS NULL OR r.region = ANY($1::text[]))"
  "       AND ($2::uuid IS NULL OR r.source_org = $2::uuid OR r.referrer_organisation_id = $2::uuid))"
  "   OR (c.resource IN ('family', 'plan') AND $7::bool AND f.id IS NOT NULL AND " FAMILY_SCOPED(1, 2, 3) ")"
  " ORDER BY c.seq LIMIT $8::int)"
  /* The page, then one last row holding the window's last position: both
   * from one snapshot, so next_after never passes a change the page did not
   * consider (a second statement could see stamps committed in between). */
  " SELECT doc, seq FROM (SELECT doc, seq, 0 AS k FROM page"
  "  UNION ALL SELECT NULL, (SELECT max(seq) FROM w), 1) u ORDER BY k, seq";

int changes_list(struct g1p_req *r) {
  int limit;
  if (access_require(r, ACCESS_CHANGES_READ) || req_limit(r, &limit)) return -1;
  /* after: a next_after of this feed ("<system id>.<timeline>.<position>"),
   * or a bare position as given out before cursors named their history. */
  const char *after = req_query(r, "after");
  long long after_n = 0;
  char history[48] = "", sid[24] = "", tl[12] = "";
  if (after && !parse_whole_number(after, 0, 999999999999999999LL, &after_n)) {
    const char *d1 = strchr(after, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || d1 - after >= (long)sizeof sid || d2 - d1 - 1 >= (long)sizeof tl) goto bad_after;
    memcpy(sid, after, (size_t)(d1 - after));
    memcpy(tl, d1 + 1, (size_t)(d2 - d1 - 1));
    /* A system identifier is a 64-bit number: up to 20 digits, compared as text. */
    bool sid_digits = sid[0] != '\0';
    for (const char *c = sid; *c; c++) sid_digits = sid_digits && *c >= '0' && *c <= '9';
    if (!sid_digits || !parse_whole_number(tl, 1, 2147483647, NULL) ||
        !parse_whole_number(d2 + 1, 0, 999999999999999999LL, &after_n))
      goto bad_after;
  }
  char after_s[24], lim[16], window[16];
  snprintf(after_s, sizeof after_s, "%lld", after_n);
  snprintf(lim, sizeof lim, "%d", limit);
  snprintf(window, sizeof window, "%d", limit * WINDOW_FACTOR);
  struct access_scope s = access_scope(r);
  bool referrals = access_allows(r, ACCESS_REFERRALS_READ);
  bool families = access_allows(r, ACCESS_FAMILIES_READ);
  const char *params[] = {s.regions, s.org, s.family, after_s, access_region_filter(r), referrals ? "t" : "f", families ? "t" : "f", lim, window};

  struct db_tx tx;
  PGresult *res = NULL;
  char *body = NULL;
  int rc = -1;
  if (db_acquire(r->app->db, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  /* The history first: a timeline seen for the first time records its branch
   * point before anything new is stamped on it. */
  PGresult *hist = db_exec(&tx, &r->problem, "SELECT g1p_feed_history()", 0, NULL);
  if (!hist) goto done;
  snprintf(history, sizeof history, "%s", PQgetvalue(hist, 0, 0));
  PQclear(hist);
  PGresult *stamp = db_exec(&tx, &r->problem, "SELECT changes_stamp()", 0, NULL);
  if (!stamp) goto done;
  PQclear(stamp);
  if (sid[0]) {
    const char *check[] = {sid, tl, after_s};
    PGresult *ok = db_exec(&tx, &r->problem, "SELECT g1p_feed_cursor_ok($1, $2::int, $3::bigint)", 3, check);
    if (!ok) goto done;
    bool good = strcmp(PQgetvalue(ok, 0, 0), "t") == 0;
    PQclear(ok);
    if (!good) {
      problem_set(&r->problem, PROBLEM_GONE,
                  "This cursor comes from a database history that is no longer this one (a restore or a failover): some changes it"
                  " has seen were lost. Read the feed again from the start (after=0) and reconcile what you hold.");
      goto done;
    }
  }
  res = db_exec_custom(&tx, &r->problem, CHANGES_SQL, 9, params);
  if (!res) goto done;
  /* A short page means the whole window was considered: the reader may
   * continue after its last position, past changes it may not see. */
  long long next = after_n;
  int rows = PQntuples(res) - 1; /* the last row is the window's end */
  if (rows == limit) next = atoll(PQgetvalue(res, rows - 1, 1));
  else if (!PQgetisnull(res, rows, 1)) next = atoll(PQgetvalue(res, rows, 1));
  if (db_commit(&tx, &r->problem)) goto done;
  size_t len = 160; /* the envelope and next_after with its history */
  for (int i = 0; i < rows; i++) len += (size_t)PQgetlength(res, i, 0) + 1;
  body = malloc(len);
  if (!body) { problem_set(&r->problem, PROBLEM_INTERNAL, "The response could not be built."); goto done; }
  size_t o = (size_t)sprintf(body, "{\"changes\":[");
  for (int i = 0; i < rows; i++) {
    if (i) body[o++] = ',';
    memcpy(body + o, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
    o += (size_t)PQgetlength(res, i, 0);
  }
  o += (size_t)sprintf(body + o, "],\"next_after\":\"%s.%lld\"}", history, next);
  rc = respond_json_text(r, 200, body, o);
done:
  PQclear(res);
  db_end(&tx);
  free(body);
  return rc;
bad_after:
  return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "after must be a next_after this feed gave out.");
}
