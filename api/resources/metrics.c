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
 *   annual_family_target                    sum of the targets of the row's regions
 *   families_bridging                       families waiting for regular care on the period's
 *                                           last day (its end, capped at to and today)
 *   median_days_waiting_for_care            median of started_on - since over the waiting
 *                                           items whose care started in the period
 *   families_with_one_coach_rate            of the families started in the row that ever had
 *                                           a coach, the share that never changed coach
 *
 * The three family figures count families of the row's region(s); for a
 * token with `org`, the families its organisation coaches or takes part in
 * (FAMILY_SCOPED), while the referral figures keep the referrals the
 * organisation made. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "g1p/access.h"
#include "g1p/csv.h"
#include "g1p/families.h"
#include "g1p/referrals.h"
#include "g1p/resources.h"
#include "g1p/validate.h"

static const char *const COLUMNS[] = {"region", "month", "referrals_received", "first_contacts_held",
                                      "first_contacts_within_deadline", "within_deadline_rate",
                                      "median_days_to_first_contact", "first_contacts_within_original_deadline",
                                      "open_overdue", "families_started", "annual_family_target", "families_bridging",
                                      "median_days_waiting_for_care", "families_with_one_coach_rate", NULL};

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
  /* The family figures. scoped_families: only for a token with org ($9,
   * a family, is always null here), else never read. */
  " scoped_families AS (SELECT f.id FROM families f WHERE $2::uuid IS NOT NULL AND " FAMILY_SCOPED(1, 2, 9) "),"
  /* families_bridging, from the merged spells [from_on, to_on) of
   * family_bridging. A spell counts in a row when it covers the row's last
   * day L (month end, capped at to and today). L grows with the month, so
   * a spell covers a run of consecutive rows: +1 in the row of its first
   * day (or the first row), -1 in the row of its end when that is within
   * the range, and each row is the running sum. Only spells that cover some
   * row's L are read: from_on <= lmax and to_on > lmin (the first row's L).
   * Both counts come from one scan (two grouping sets, hashed). */
  " bounds AS (SELECT least($5::date, $8::date) AS lmax, date_trunc('month', $4::date)::date AS first_month,"
  "   CASE WHEN $7::bool THEN least((date_trunc('month', $4::date) + interval '1 month - 1 day')::date, $5::date, $8::date)"
  "   ELSE least($5::date, $8::date) END AS lmin),"
  " spells AS ("
  "  SELECT CASE WHEN $6::bool THEN b.region END AS region,"
  "   CASE WHEN $7::bool THEN greatest(b.from_on - (date_part('day', b.from_on)::int - 1), bounds.first_month) END AS starts,"
  "   CASE WHEN $7::bool AND b.to_on <= bounds.lmax THEN b.to_on - (date_part('day', b.to_on)::int - 1) END AS ends"
  "  FROM family_bridging b CROSS JOIN bounds"
  "  WHERE coalesce(b.to_on, 'infinity'::date) > bounds.lmin AND b.from_on <= bounds.lmax"
  "    AND ($1::text[] IS NULL OR b.region = ANY($1::text[])) AND ($3::text IS NULL OR b.region = $3)"
  "    AND ($2::uuid IS NULL OR b.family_id IN (SELECT id FROM scoped_families))),"
  " bridging_steps AS ("
  "  SELECT region, m, sum(step) AS step FROM ("
  "   SELECT region, CASE WHEN GROUPING(starts) = 0 THEN starts ELSE ends END AS m,"
  "    CASE WHEN GROUPING(starts) = 0 THEN count(*) ELSE -count(ends) END AS step"
  "   FROM spells GROUP BY GROUPING SETS ((region, starts), (region, ends))) e"
  "  GROUP BY 1, 2),"
  /* median_days_waiting_for_care, grouped by month, then region: the
   * order of the index family_waits_started, so no sort of the range. */
  " wait_agg AS ("
  "  SELECT CASE WHEN $6::bool THEN w.region END AS region, CASE WHEN $7::bool THEN w.started_month END AS m,"
  "   percentile_cont(0.5) WITHIN GROUP (ORDER BY w.started_on - w.since) AS median"
  "  FROM family_waits w"
  "  WHERE w.started_on IS NOT NULL AND w.started_month BETWEEN date_trunc('month', $4::date)::date AND $5::date"
  "    AND w.started_on BETWEEN $4::date AND $5::date"
  "    AND ($1::text[] IS NULL OR w.region = ANY($1::text[])) AND ($3::text IS NULL OR w.region = $3)"
  "    AND ($2::uuid IS NULL OR w.family_id IN (SELECT id FROM scoped_families))"
  "  GROUP BY 2, 1),"
  /* families_with_one_coach_rate: the families the row's referrals started
   * (families.referral_received_on), by their coach periods. */
  " coach_agg AS ("
  "  SELECT CASE WHEN $6::bool THEN f.region END AS region,"
  "   CASE WHEN $7::bool THEN f.referral_received_on - (date_part('day', f.referral_received_on)::int - 1) END AS m,"
  "   count(*) FILTER (WHERE f.coach_periods >= 1) AS coached, count(*) FILTER (WHERE f.coach_periods = 1) AS one_coach"
  "  FROM families f"
  "  WHERE f.referral_received_on BETWEEN $4::date AND $5::date"
  "    AND ($1::text[] IS NULL OR f.region = ANY($1::text[])) AND ($3::text IS NULL OR f.region = $3)"
  "    AND ($2::uuid IS NULL OR f.id IN (SELECT id FROM scoped_families))"
  "  GROUP BY 1, 2),"
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
  "   coalesce(g.target, 0)::int AS annual_family_target,"
  /* a period that starts after today has no last day yet: null */
  "   CASE WHEN greatest(coalesce(g.m, $4::date), $4::date) <= $8::date"
  "     THEN (sum(coalesce(b.step, 0)) OVER (PARTITION BY g.region ORDER BY g.m))::bigint END AS families_bridging,"
  "   w.median::float8 AS median_days_waiting_for_care,"
  "   c.one_coach::float8 / nullif(c.coached, 0) AS families_with_one_coach_rate"
  "  FROM groups g LEFT JOIN agg a"
  "    ON coalesce(a.region, '') = coalesce(g.region, '') AND coalesce(a.m, '0001-01-01') = coalesce(g.m, '0001-01-01')"
  "  LEFT JOIN bridging_steps b"
  "    ON coalesce(b.region, '') = coalesce(g.region, '') AND coalesce(b.m, '0001-01-01') = coalesce(g.m, '0001-01-01')"
  "  LEFT JOIN wait_agg w"
  "    ON coalesce(w.region, '') = coalesce(g.region, '') AND coalesce(w.m, '0001-01-01') = coalesce(g.m, '0001-01-01')"
  "  LEFT JOIN coach_agg c"
  "    ON coalesce(c.region, '') = coalesce(g.region, '') AND coalesce(c.m, '0001-01-01') = coalesce(g.m, '0001-01-01')) x";

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
  /* Ten years cost enough for JIT compilation, which took about 45 ms per
   * call and won back less: the aggregates are few and cheap per row. */
  set = db_exec(&tx, &r->problem, "SET LOCAL jit = off", 0, NULL);
  if (!set) goto done;
  PQclear(set);
  PGresult *res = db_exec_custom(&tx, &r->problem, METRICS_SQL, 9, params);
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
  /* $9: FAMILY_SCOPED's family, null: a metrics token is never a family's own. */
  const char *params[] = {s.regions, s.org, region, from, to, by_region ? "t" : "f", by_month ? "t" : "f", today, NULL};
  /* A reporting read: from the replica when there is one, else (or when it
   * is unreachable) from the primary. */
  struct db_pool *pool = req_read_pool(r);
  int rc = metrics_query(r, pool, params, format, from, to);
  if (rc != 0 && req_read_failover(r, pool)) rc = metrics_query(r, req_read_pool(r), params, format, from, to);
  return rc;
}
