/* Webhook delivery workers (WEBHOOK_WORKERS threads per instance), outside
 * any request: each claims due deliveries from the database with FOR UPDATE
 * SKIP LOCKED and a lease, sends them with libcurl (several at once, at most
 * one per subscription, so a slow receiver delays only itself), records each
 * attempt and schedules the next. Any instance may deliver; a killed
 * instance's claims expire with their lease and are taken over. */
#ifndef G1P_DELIVER_H
#define G1P_DELIVER_H
#include "g1p/config.h"

struct deliver;

/* Starts cfg->webhook_workers threads (none when 0). NULL when a thread
 * cannot start. */
struct deliver *deliver_start(const struct g1p_config *cfg);
/* Stops claiming, lets deliveries in flight finish for a few seconds, then
 * hands the rest back (unclaimed, the attempt not counted) and joins. */
void deliver_stop(struct deliver *d);

/* The retry schedule after the n-th failed attempt (1-based): seconds until
 * the next one, or -1 when the delivery has failed for good. Pure. */
long deliver_backoff(int attempt);
/* Seconds from a Retry-After value (delta-seconds or an HTTP date) at now;
 * -1 when absent or unreadable. Pure. */
long deliver_retry_after(const char *value, long now);

#endif
