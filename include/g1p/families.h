/* Shared by families.c and plans.c: the scope every family query carries
 * and the lock of one family for a write. */
#ifndef G1P_FAMILIES_H
#define G1P_FAMILIES_H
#include "g1p/http.h"

/* $a regions (text[] or NULL), $b organisation (uuid or NULL: an
 * organisation sees the families it coaches or takes part in the plan of),
 * $c family (a family token's own family, or NULL). Table alias f. */
#define FAMILY_SCOPED(a, b, c) \
  "($" #a "::text[] IS NULL OR f.region = ANY($" #a "::text[])) AND " \
  "($" #b "::uuid IS NULL OR f.coach_organisation_id = $" #b "::uuid OR EXISTS (SELECT 1 FROM plans pp" \
  " WHERE pp.family_id = f.id AND pp.content -> 'participants' @> jsonb_build_array(jsonb_build_object('organisation_id', $" #b "::text)))) AND " \
  "($" #c "::uuid IS NULL OR f.id = $" #c "::uuid)"

/* Locks the family id if the caller may see it (404 otherwise). */
int family_lock(struct g1p_req *r, struct db_tx *tx, const char *id, long long *version);

#endif
