/* Every endpoint handler, one resource per file in api/resources/. Each takes
 * the request state and returns 0 (response written) or -1 (r->problem set). */
#ifndef G1P_RESOURCES_H
#define G1P_RESOURCES_H
#include "g1p/http.h"

/* api/resources/ops.c: no token */
int ops_health(struct g1p_req *r);
int ops_ready(struct g1p_req *r);
int ops_openapi(struct g1p_req *r);
int ops_docs(struct g1p_req *r);

/* api/resources/regions.c */
int regions_list(struct g1p_req *r);
int regions_get(struct g1p_req *r);
int regions_create(struct g1p_req *r);
int regions_update(struct g1p_req *r);

/* api/resources/organisations.c */
int organisations_list(struct g1p_req *r);
int organisations_get(struct g1p_req *r);
int organisations_create(struct g1p_req *r);
int organisations_update(struct g1p_req *r);
int organisations_delete(struct g1p_req *r);



/* api/resources/referrals.c */
int referrals_list(struct g1p_req *r);
int referrals_get(struct g1p_req *r);
int referrals_create(struct g1p_req *r);
int referrals_batch(struct g1p_req *r);
int referrals_update(struct g1p_req *r);
int referrals_first_contact(struct g1p_req *r);

/* api/resources/deadlines.c */
int deadlines_list(struct g1p_req *r);
int pauses_list(struct g1p_req *r);
int pauses_get(struct g1p_req *r);
int pauses_create(struct g1p_req *r);
int pauses_update(struct g1p_req *r);

/* api/resources/families.c */
int families_list(struct g1p_req *r);
int families_get(struct g1p_req *r);
int families_create(struct g1p_req *r);
int families_update(struct g1p_req *r);
int families_attach_referral(struct g1p_req *r);
int families_coaches(struct g1p_req *r);

/* api/resources/plans.c */
int plans_get(struct g1p_req *r);
int plans_put(struct g1p_req *r);
int plans_patch(struct g1p_req *r);
int plans_versions(struct g1p_req *r);
int plans_version_get(struct g1p_req *r);
int plans_agreement(struct g1p_req *r);

/* api/resources/audit.c */
int audit_list(struct g1p_req *r);
int plans_audit(struct g1p_req *r);

/* api/resources/metrics.c, api/resources/changes.c */
int metrics_get(struct g1p_req *r);
int changes_list(struct g1p_req *r);

/* api/resources/privacy.c */
int privacy_export_family(struct g1p_req *r);
int privacy_export_referral(struct g1p_req *r);
int privacy_erase_family(struct g1p_req *r);
int privacy_erase_referral(struct g1p_req *r);
int statements_list(struct g1p_req *r);
int statements_create(struct g1p_req *r);
int statements_get(struct g1p_req *r);

/* api/resources/webhooks.c */
int webhooks_list(struct g1p_req *r);
int webhooks_get(struct g1p_req *r);
int webhooks_create(struct g1p_req *r);
int webhooks_update(struct g1p_req *r);
int webhooks_delete(struct g1p_req *r);
int webhooks_rotate_secret(struct g1p_req *r);
int webhooks_ping(struct g1p_req *r);
int webhooks_deliveries(struct g1p_req *r);
int webhooks_retry_delivery(struct g1p_req *r);

/* Shared look-ups (api/resources/regions.c): adds a 422 error at
 * "<pointer>/<i>" for each code in the JSON array codes that names no
 * region. Returns -1 when the query failed (problem set), else 0. */
int regions_check_exist(struct g1p_req *r, struct db_tx *tx, json_t *codes, const char *pointer);
/* (api/resources/organisations.c) Adds a 422 error at each pointer whose
 * organisation id names no organisation. refs is an array of
 * {"pointer": "/x", "id": "uuid"}; it is consumed. */
int organisations_check_exist(struct g1p_req *r, struct db_tx *tx, json_t *refs);
#endif
