/* See include/g1p/audit.h. */
#include "g1p/audit.h"

int audit_record(struct g1p_req *r, struct db_tx *tx, const char *action, const char *resource, const char *id,
                 const char *family_id, const char *version) {
  const char *params[] = {r->who.sub, r->who.org[0] ? r->who.org : NULL, action, resource, id, family_id, version, r->id};
  PGresult *res = db_exec(tx, &r->problem,
                          "INSERT INTO audit_log (sub, org, action, resource, resource_id, family_id, version, request_id)"
                          " VALUES ($1, $2::uuid, $3, $4, $5, $6::uuid, $7::int, $8)",
                          8, params);
  PQclear(res);
  return res ? 0 : -1;
}
