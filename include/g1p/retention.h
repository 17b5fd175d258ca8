/* The retention command (g1p-api retention [--dry-run] [--as-of DATE]):
 * erases, with reason "retention", the families whose trajectory closed more
 * than RETENTION_CLOSED_YEARS before as-of (every referral of the family is
 * closed, withdrawn or declined, the latest of their closed_on that long
 * ago) and the referrals without a family withdrawn, declined or closed more
 * than RETENTION_UNFOLLOWED_YEARS before as-of. Meant for a daily scheduler;
 * safe to run from several instances at once (each resource is erased and
 * audited once). */
#ifndef G1P_RETENTION_H
#define G1P_RETENTION_H
#include <stdbool.h>
#include <stdio.h>
#include "g1p/config.h"

/* Parses the command's arguments (after "retention"); -1 with a usage line
 * in err. as_of is NULL for today (Europe/Brussels). */
int retention_args(int argc, char **argv, bool *dry_run, const char **as_of, char *err, size_t err_len);
/* Runs it and prints what it did to out. 0, or -1 with err. */
int retention_run(const struct g1p_config *cfg, bool dry_run, const char *as_of, FILE *out, char *err, size_t err_len);

#endif
