/* Metrics for reporting scripts: aggregates over referrals received in
 * [from, to], by region and/or month, as JSON or spreadsheet-safe CSV.
 * Aggregates only: no row carries a referral's or family's own data.
 *
 * Definitions (also in openapi.yaml):
 *   referrals_received                      referrals received in the row
 *   first_contacts_held                     of those, with a first contact recorded
 *   first_contacts_within_deadline          ... held on or before the paused-adjusted due date
 *   within_deadline_rate                    within / held (null when none held)
 *   median_days_to_first_contact            median of first_contact_on - received_on (null when none)
 *   first_contacts_within_original_deadline ... held on or before received_on + 1 month
 *   open_overdue                            no contact, not withdrawn/declined, due before min(to, today)
 *   families_started                        families created from referrals of the row
 *   annual_family_target                    sum of the targets of the row's regions */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "g1p/access.h"
#include "g1p/csv.h"
#include "g1p/referrals.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const char *const COLUMNS[] = {"region", "month", "referrals_received", "first_contacts_held",
                                      "first_contacts_within_deadline", "within_deadline_rate",
                                      "median_days_to_first_contact", "first_contacts_within_original_deadline",
                                      "open_overdue", "families_started", "annual_family_target", NULL};

/* Two stages, so that PostgreSQL can aggregate in parallel without sorting a
 * million rows: first a histogram per (region, month, days to first
 * contact) with additive counts, read from the covering index
 * referrals_metrics; then per row the sums, and the median from the
 * histogram's running totals (the mean of the values at positions
 * floor((n-1)/2) and floor(n/2), as percentile_cont(0.5) would give). */
static const char METRICS_SQL[] =
  "WITH scope_regions AS ("
  "  SELECT g.code, g.annual_family_target FROM regions g"
  "  WHERE ($1::text[] IS NULL OR g.code = ANY($1::text[])) AND ($3::text IS NULL OR g.code = $3)),"
  " months AS (SELECT m::date AS m FROM generate_series(date_trunc('month', $4::date), $5::date, interval '1 month') m),"
  " hist AS ("
  "  SELECT CASE WHEN $6::bool THEN r.region END AS region, CASE WHEN $7::bool THEN r.received_month END AS m,"
  "   r.contact_delay AS delay,"
  "   count(*) AS received,"
  "   count(*) FILTER (WHERE r.first_contact_on <= r.due_base) AS within,"
  "   count(*) FILTER (WHERE r.first_contact_on <= r.first_contact_due_original) AS within_original,"
  "   count(*) FILTER (WHERE r.first_contact_on IS NULL AND r.status NOT IN ('withdrawn', 'declined')"
  "     AND r.open_pause_from IS NULL AND r.due_base < least($5::date, $8::date)) AS open_overdue,"
  "   count(*) FILTER (WHERE r.started_family) AS families"
  "  FROM referrals r"
  "  WHERE r.received_on BETWEEN $4::date AND $5::date"
  "    AND ($1::text[] IS NULL OR r.region = ANY($1::text[])) AND ($3::text IS NULL OR r.region = $3)"
  "    AND ($2::uuid IS NULL OR r.source_org = $2::uuid OR r.referrer_organisation_id = $2::uuid)"
  "  GROUP BY 1, 2, 3),"
  " running AS ("
  "  SELECT hist.*, sum(CASE WHEN delay IS NULL THEN 0 ELSE received END) OVER w AS cum,"
  "   sum(CASE WHEN delay IS NULL THEN 0 ELSE received END) OVER (PARTITION BY region, m) AS held"
  "  FROM hist WINDOW w AS (PARTITION BY region, m ORDER BY delay ROWS UNBOUNDED PRECEDING)),"
  " agg AS ("
  "  SELECT region, m, sum(received) AS received, max(held) AS held, sum(within) AS within,"
  "   sum(within_original) AS within_original, sum(open_overdue) AS open_overdue, sum(families) AS families,"
  "   (min(delay) FILTER (WHERE delay IS NOT NULL AND cum > (held - 1) / 2)"
  "    + min(delay) FILTER (WHERE delay IS NOT NULL AND cum > held / 2)) / 2.0 AS median"
  "  FROM running GROUP BY region, m),"
  " periods AS (SELECT m FROM months WHERE $7::bool UNION ALL SELECT NULL WHERE NOT $7::bool),"
  /* every region and/or month is a row, also without referrals; without
   * grouping by region there is always a row (target: all regions' sum) */
  " groups AS ("
  "  SELECT s.code AS region, p.m, s.annual_family_target AS target FROM scope_regions s CROSS JOIN periods p WHERE $6::bool"
  "  UNION ALL"
  "  SELECT NULL, p.m, (SELECT coalesce(sum(annual_family_target), 0) FROM scope_regions) FROM periods p WHERE NOT $6::bool)"
  " SELECT json_build_object('from', $4::date, 'to', $5::date, 'rows', coalesce(json_agg(row_to_json(x) ORDER BY x.region, x.month), '[]'::json))"
  " FROM (SELECT g.region, to_char(g.m, 'YYYY-MM') AS month,"
  "   coalesce(a.received, 0)::bigint AS referrals_received, coalesce(a.held, 0)::bigint AS first_contacts_held,"
  "   coalesce(a.within, 0)::bigint AS first_contacts_within_deadline,"
  "   a.within::float8 / nullif(a.held, 0) AS within_deadline_rate,"
  "   a.median::float8 AS median_days_to_first_contact,"
  "   coalesce(a.within_original, 0)::bigint AS first_contacts_within_original_deadline,"
  "   coalesce(a.open_overdue, 0)::bigint AS open_overdue, coalesce(a.families, 0)::bigint AS families_started,"
  "   coalesce(g.target, 0)::int AS annual_family_target"
  "  FROM groups g LEFT JOIN agg a"
  "    ON coalesce(a.region, '') = coalesce(g.region, '') AND coalesce(a.m, '0001-01-01') = coalesce(g.m, '0001-01-01')) x";

static bool wants_csv(struct g1p_req *r, const char *format) {
  if (format) return strcmp(format, "csv") == 0;
  const char *accept = req_header(r, "Accept");
  return accept && strcasestr(accept, "text/csv") != NULL;
}

static int metrics_query(struct g1p_req *r, struct db_pool *pool, const char *const *params, const char *format, const char *from,
                         const char *to) {
  struct db_tx tx;
  int rc = -1;
  json_t *doc = NULL;
  char *csv = NULL;
  if (db_acquire(pool, &tx, &r->problem) || db_begin(&tx, &r->problem)) goto done;
  /* The histogram of ten years of Flanders (about 100,000 groups) is hashed
   * and sorted in memory, not on disk. */
  PGresult *set = db_exec(&tx, &r->problem, "SET LOCAL work_mem = '64MB'", 0, NULL);
  if (!set) goto done;
  PQclear(set);
  /* The index is narrow and usually cached: tell the planner so, or it
   * reads the wide table instead (0.73 s instead of 1.1 s for ten years). */
  set = db_exec(&tx, &r->problem, "SET LOCAL random_page_cost = 1.1", 0, NULL);
  if (!set) goto done;
  PQclear(set);
  PGresult *res = db_exec_custom(&tx, &r->problem, METRICS_SQL, 8, params);
  if (!res) goto done;
  if (!wants_csv(r, format)) {
    rc = respond_json_text(r, 200, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    goto done;
  }
  doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
  PQclear(res);
  size_t len = 0;
  csv = doc ? csv_from_rows(json_object_get(doc, "rows"), COLUMNS, &len) : NULL;
  if (!csv) { problem_set(&r->problem, PROBLEM_INTERNAL, "The CSV could not be built."); goto done; }
  char disposition[96];
  snprintf(disposition, sizeof disposition, "attachment; filename=\"1g1p-metrics-%s-%s.csv\"", from, to);
  respond_header(r, "Content-Disposition", disposition);
  rc = respond_text(r, 200, "text/csv; charset=utf-8", csv, len);
done:
  db_end(&tx);
  json_decref(doc);
  free(csv);
  return rc;
}

int metrics_get(struct g1p_req *r) {
  if (access_require(r, ACCESS_METRICS_READ)) return -1;
  const char *from = req_query(r, "from"), *to = req_query(r, "to"), *region = req_query(r, "region");
  const char *group_by = req_query(r, "group_by"), *format = req_query(r, "format");
  if (!from || !validate_date(from)) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "from is required: a date (YYYY-MM-DD).");
  if (!to || !validate_date(to)) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "to is required: a date (YYYY-MM-DD).");
  if (strcmp(to, from) < 0) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "to must not be before from.");
  /* At most ten years: compare with the same month and day ten years on. */
  char limit[24];
  snprintf(limit, sizeof limit, "%04d%.6s", (atoi(from) + 10) % 10000, from + 4);
  if (strcmp(to, limit) > 0) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "from..to may span at most 10 years (to <= %s).", limit);
  if (region && !validate_region_code(region)) return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "region must be a region code.");
  bool by_region = false, by_month = false;
  if (group_by) {
    if (strcmp(group_by, "region") == 0) by_region = true;
    else if (strcmp(group_by, "month") == 0) by_month = true;
    else if (strcmp(group_by, "region,month") == 0 || strcmp(group_by, "month,region") == 0) by_region = by_month = true;
    else return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "group_by must be region, month or region,month.");
  }
  if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
    return problem_set(&r->problem, PROBLEM_BAD_REQUEST, "format must be json or csv.");
  struct access_scope s = access_scope(r);
  char today[11];
  referral_today(today);
  const char *params[] = {s.regions, s.org, region, from, to, by_region ? "t" : "f", by_month ? "t" : "f", today};
  /* A reporting read: from the replica when there is one, else (or when it
   * is unreachable) from the primary. */
  struct db_pool *pool = req_read_pool(r);
  int rc = metrics_query(r, pool, params, format, from, to);
  if (rc != 0 && req_read_failover(r, pool)) rc = metrics_query(r, req_read_pool(r), params, format, from, to);
  return rc;
}
