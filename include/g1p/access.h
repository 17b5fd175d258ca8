/* The one authorisation decision point. Handlers name the action they are
 * about to do; access.c holds the rule table (which scopes allow which
 * action) and the scoping rules (regions, organisation, family). */
#ifndef G1P_ACCESS_H
#define G1P_ACCESS_H
#include <stdbool.h>
#include "g1p/http.h"

enum access_action {
  ACCESS_REFERENCE_READ,   /* regions, organisations: any staff token */
  ACCESS_REFERENCE_WRITE,  /* create/update/delete reference data: admin */
  ACCESS_REFERRALS_READ,   /* referrals, deadlines: referrals:read or referrals:write */
  ACCESS_REFERRALS_WRITE,  /* push, lifecycle, first contact, pauses: referrals:write */
  ACCESS_FAMILIES_READ,    /* families: plans:read or plans:write */
  ACCESS_FAMILIES_WRITE,   /* create/update families, write plans: plans:write */
  ACCESS_PLAN_READ,        /* a plan and its versions: plans:read, plans:write, or the family's own token */
  ACCESS_PLAN_AGREE,       /* record the family's agreement: the family's own token, or plans:write */
  ACCESS_AUDIT_READ,       /* the whole audit trail: admin */
  ACCESS_METRICS_READ,     /* aggregates: metrics:read */
  ACCESS_CHANGES_READ,     /* the change feed: any staff token, each change scoped like its resource */
  ACCESS_WEBHOOKS_MANAGE,  /* subscriptions of the token's organisation and regions: webhooks:manage */
  ACCESS_PRIVACY,          /* erasure, a referral's export: privacy */
  ACCESS_FAMILY_EXPORT,    /* a family's export: privacy, or the family's own token */
  ACCESS_STATEMENT_WRITE,  /* a family's statement: the family's own token, or plans:write */
};

/* What a token may see of region-scoped data, as SQL parameters:
 * regions is a text[] literal or NULL (all regions); org is a UUID or NULL
 * (no organisation restriction). */
struct access_scope {
  const char *regions;
  const char *org;
  const char *family;  /* a family token's one family, else NULL */
};
struct access_scope access_scope(const struct g1p_req *r);
/* Whether the token's regions include code (no admin exception). */
bool access_in_regions(const struct g1p_req *r, const char *code);

/* Whether the principal may do action at all (scopes only; scoping to
 * regions and organisations is in each query). */
bool access_allows(const struct g1p_req *r, enum access_action action);
/* The same as 0, or -1 with a 403 problem naming the scope needed. */
int access_require(struct g1p_req *r, enum access_action action);
/* Whether the principal's regions include code (admins see every region). */
bool access_sees_region(const struct g1p_req *r, const char *code);
/* The principal's region filter as a text[] parameter, or NULL for "all". */
const char *access_region_filter(const struct g1p_req *r);

#endif
