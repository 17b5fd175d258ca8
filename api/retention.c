/* See include/g1p/retention.h. Due resources are taken in batches, each in
 * its own short transaction with FOR UPDATE SKIP LOCKED: API traffic waits at
 * most for one batch's rows (and only if it touches them), and a second run
 * at the same moment skips what the first holds. The erasure itself is the
 * same database function the API uses, which erases each resource once. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "g1p/db.h"
#include "g1p/retention.h"
#include "g1p/validate.h"

/* Batches sized so that one holds its rows for well under 100 ms (measured
 * on the 1,000,000-referral set: README, Personal data). */
#define FAMILY_BATCH 20
#define REFERRAL_BATCH 150

int retention_args(int argc, char **argv, bool *dry_run, const char **as_of, char *err, size_t err_len) {
  *dry_run = false;
  *as_of = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--dry-run") == 0) *dry_run = true;
    else if (strcmp(argv[i], "--as-of") == 0 && i + 1 < argc && validate_date(argv[i + 1])) *as_of = argv[++i];
    else {
      snprintf(err, err_len, "usage: g1p-api retention [--dry-run] [--as-of YYYY-MM-DD]");
      return -1;
    }
  }
  return 0;
}

/* $1 as-of (or NULL: today), $2 years. */
static const char FAMILIES_DUE[] =
  "FROM families f WHERE f.erased_on IS NULL"
  " AND EXISTS (SELECT 1 FROM referrals r WHERE r.family_id = f.id)"
  " AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.family_id = f.id"
  "   AND (r.status NOT IN ('closed', 'withdrawn', 'declined') OR r.closed_on IS NULL))"
  " AND (SELECT max(r.closed_on) FROM referrals r WHERE r.family_id = f.id)"
  "   < coalesce($1::date, g1p_today()) - make_interval(years => $2::int)";
/* (the predicate of the partial index referrals_retention_due, sql/009) */
static const char REFERRALS_DUE[] =
  "FROM referrals r WHERE r.family_id IS NULL AND r.erased_on IS NULL"
  " AND r.status IN ('closed', 'withdrawn', 'declined')"
  " AND r.closed_on < coalesce($1::date, g1p_today()) - make_interval(years => $2::int)";

static PGresult *run(PGconn *c, const char *sql, int n, const char *const *params, char *err, size_t err_len) {
  PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return res;
  snprintf(err, err_len, "database: %s", PQerrorMessage(c));
  PQclear(res);
  return NULL;
}

static long count_due(PGconn *c, const char *from, const char *as_of, const char *years, char *err, size_t err_len) {
  char sql[1024];
  snprintf(sql, sizeof sql, "SELECT count(*) %s", from);
  const char *params[] = {as_of, years};
  PGresult *res = run(c, sql, 2, params, err, err_len);
  long n = res ? atol(PQgetvalue(res, 0, 0)) : -1;
  PQclear(res);
  return n;
}

/* Erases what is due, batch by batch; returns how many this run erased. */
struct batch_stats {
  long batches;
  double longest_ms;  /* the longest a batch held its rows locked */
};

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static long erase_due(PGconn *c, const char *resource, const char *from, int batch, const char *as_of, const char *years,
                      const char *run_id, struct batch_stats *stats, char *err, size_t err_len) {
  char sql[2048];
  if (resource[0] == 'f')
    snprintf(sql, sizeof sql,
             "WITH due AS (SELECT f.id %s ORDER BY f.id LIMIT %d FOR UPDATE OF f SKIP LOCKED),"
             " done AS (SELECT d.id, g1p_erase_family(d.id, 'retention', NULL, 'retention') AS erased FROM due d),"
             " audited AS (INSERT INTO audit_log (sub, action, resource, resource_id, family_id, request_id)"
             "   SELECT 'retention', 'erase', 'family', d.id::text, d.id, $3 FROM done d WHERE d.erased RETURNING 1)"
             " SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM audited)",
             from, batch);
  else
    snprintf(sql, sizeof sql,
             "WITH due AS (SELECT r.id %s ORDER BY r.closed_on, r.id LIMIT %d FOR UPDATE OF r SKIP LOCKED),"
             " erased AS (SELECT e.id FROM g1p_erase_referrals((SELECT array_agg(id) FROM due), 'retention', 'retention') AS e(id)),"
             " audited AS (INSERT INTO audit_log (sub, action, resource, resource_id, request_id)"
             "   SELECT 'retention', 'erase', 'referral', e.id::text, $3 FROM erased e RETURNING 1)"
             " SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM audited)",
             from, batch);
  const char *params[] = {as_of, years, run_id};
  long erased = 0;
  for (;;) {
    double t0 = now_ms();
    PGresult *res = run(c, "BEGIN", 0, NULL, err, err_len);
    PQclear(res);
    if (!res) return -1;
    res = run(c, sql, 3, params, err, err_len);
    if (!res) { PQclear(PQexec(c, "ROLLBACK")); return -1; }
    long taken = atol(PQgetvalue(res, 0, 0)), audited = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    res = run(c, "COMMIT", 0, NULL, err, err_len);
    PQclear(res);
    if (!res) return -1;
    double took = now_ms() - t0;
    stats->batches++;
    if (took > stats->longest_ms) stats->longest_ms = took;
    erased += audited;
    if (taken < batch) return erased;
  }
}

int retention_run(const struct g1p_config *cfg, bool dry_run, const char *as_of, FILE *out, char *err, size_t err_len) {
  char *info = db_conninfo(cfg->database_url, 600000, cfg->db_prepare);
  PGconn *c = info ? PQconnectdb(info) : NULL;
  free(info);
  int rc = -1;
  if (!c || PQstatus(c) != CONNECTION_OK) {
    snprintf(err, err_len, "cannot connect to the database: %s", c ? PQerrorMessage(c) : "out of memory");
    goto done;
  }
  char closed[16], unfollowed[16], run_id[64];
  snprintf(closed, sizeof closed, "%u", cfg->retention_closed_years);
  snprintf(unfollowed, sizeof unfollowed, "%u", cfg->retention_unfollowed_years);
  snprintf(run_id, sizeof run_id, "retention-%ld-%d", (long)time(NULL), (int)getpid());
  PGresult *day = run(c, "SELECT coalesce($1::date, g1p_today())::text", 1, (const char *const[]){as_of}, err, err_len);
  if (!day) goto done;
  fprintf(out, "retention as of %s (families closed more than %s years, referrals without a family ended more than %s years)%s\n",
          PQgetvalue(day, 0, 0), closed, unfollowed, dry_run ? ", dry run" : "");
  PQclear(day);
  long fam_due = count_due(c, FAMILIES_DUE, as_of, closed, err, err_len);
  long ref_due = fam_due < 0 ? -1 : count_due(c, REFERRALS_DUE, as_of, unfollowed, err, err_len);
  if (ref_due < 0) goto done;
  fprintf(out, "due: %ld families, %ld referrals without a family\n", fam_due, ref_due);
  if (!dry_run) {
    struct batch_stats stats = {0};
    double t0 = now_ms();
    long fam = erase_due(c, "family", FAMILIES_DUE, FAMILY_BATCH, as_of, closed, run_id, &stats, err, err_len);
    long ref = fam < 0 ? -1 : erase_due(c, "referral", REFERRALS_DUE, REFERRAL_BATCH, as_of, unfollowed, run_id, &stats, err, err_len);
    if (ref < 0) goto done;
    fprintf(out, "erased: %ld families, %ld referrals without a family\n", fam, ref);
    fprintf(out, "in %.1f s, %ld batches, the longest holding its rows %.0f ms\n", (now_ms() - t0) / 1e3, stats.batches, stats.longest_ms);
  }
  rc = 0;
done:
  if (c) PQfinish(c);
  return rc;
}
