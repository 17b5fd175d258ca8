/* The audit trail (sql/004_audit.sql): who did what to which resource, at
 * which version, in which request. Recorded in the caller's transaction so a
 * change and its audit row commit or roll back together. */
#ifndef G1P_AUDIT_H
#define G1P_AUDIT_H
#include "g1p/http.h"

/* resource: region, organisation, referral, family or plan. family_id (may
 * be NULL) ties family and plan rows to the family's own access log.
 * version may be NULL. */
int audit_record(struct g1p_req *r, struct db_tx *tx, const char *action, const char *resource, const char *id,
                 const char *family_id, const char *version);

#endif
