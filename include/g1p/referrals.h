/* Shared by the referral-related resource files (referrals.c, deadlines.c,
 * and families later): the scope filter every referral query carries, and
 * the lock-and-load of one referral for a write. */
#ifndef G1P_REFERRALS_H
#define G1P_REFERRALS_H
#include <stdbool.h>
#include "g1p/http.h"

/* The referral fields a write needs, loaded under FOR UPDATE. */
struct referral_row {
  char id[37];
  char region[65];
  char status[16];
  char received_on[11];
  char first_contact_on[11];  /* "" when none */
  char first_contact_mode[8];
  char open_pause_from[11];   /* "" when no open pause */
  char closed_on[11];
  char outcome[24];
  char family_id[37];         /* "" when none */
  long long version;
};

/* Locks the referral id within the caller's scope; 404 when it is not
 * visible (or not a UUID). */
int referral_lock(struct g1p_req *r, struct db_tx *tx, const char *id, struct referral_row *out);
/* Reads the referral's representation in tx, records audit_action (unless
 * NULL), commits, and answers with it (status, ETag). */
int referral_answer(struct g1p_req *r, struct db_tx *tx, const char *id, int status, const char *audit_action);
/* Today in Europe/Brussels as YYYY-MM-DD. */
void referral_today(char out[11]);

#endif
