/* Authorisation rules, in one table a reviewer can read in a minute.
 *
 *   action                  scopes that allow it
 *   reference read          any token that is not a family token
 *   reference write         admin
 *   referrals read          referrals:read or referrals:write (deadlines too)
 *   referrals write         referrals:write
 *   families read           plans:read or plans:write
 *   families write          plans:write (families and plans)
 *   plan read               plans:read, plans:write, or plan:family (own family only)
 *   plan agree              plan:family (own family only) or plans:write
 *   audit read              admin (a plan's own access log: as plan read)
 *   metrics read            metrics:read (the token's regions and organisation)
 *   change feed             any staff token; each change only if its resource
 *                           is readable by the token (scope and scoping)
 *   webhooks manage         webhooks:manage (subscriptions of the token's own
 *                           organisation and within its regions)
 *   privacy                 privacy (erasure; export of a referral)
 *   family export           privacy, or plan:family (own family only)
 *   statement write         plan:family (own family only) or plans:write
 *
 * Scoping: a token sees the regions listed in its `regions` claim (or all
 * with ["*"]); reference data (regions, organisations) is managed by admins
 * for all regions. Referrals are scoped by region for everyone (admin
 * included) and, for a token with `org`, to the referrals its organisation
 * made (as referrer or as the pushing system). Families and plans are
 * scoped by region and, for a token with `org`, to the families its
 * organisation takes part in (coach's organisation or a plan participant).
 * A family token (scope plan:family) only reaches its own
 * family's plan endpoints. */
#include "g1p/access.h"

struct rule {
  enum access_action action;
  unsigned int any_of;   /* scopes, any of which allows the action; 0 = any staff token */
  bool family_token_ok;  /* a family token (plan:family) may do it, for its own family */
  const char *needs;     /* for the 403 detail */
};

static const struct rule RULES[] = {
  {ACCESS_REFERENCE_READ, 0, false, "any staff scope"},
  {ACCESS_REFERENCE_WRITE, SCOPE_ADMIN, false, "admin"},
  {ACCESS_REFERRALS_READ, SCOPE_REFERRALS_READ | SCOPE_REFERRALS_WRITE, false, "referrals:read"},
  {ACCESS_REFERRALS_WRITE, SCOPE_REFERRALS_WRITE, false, "referrals:write"},
  {ACCESS_FAMILIES_READ, SCOPE_PLANS_READ | SCOPE_PLANS_WRITE, false, "plans:read"},
  {ACCESS_FAMILIES_WRITE, SCOPE_PLANS_WRITE, false, "plans:write"},
  {ACCESS_PLAN_READ, SCOPE_PLANS_READ | SCOPE_PLANS_WRITE, true, "plans:read or plan:family"},
  {ACCESS_PLAN_AGREE, SCOPE_PLANS_WRITE, true, "plan:family or plans:write"},
  {ACCESS_AUDIT_READ, SCOPE_ADMIN, false, "admin"},
  {ACCESS_METRICS_READ, SCOPE_METRICS_READ, false, "metrics:read"},
  {ACCESS_CHANGES_READ, 0, false, "any staff scope"},
  {ACCESS_WEBHOOKS_MANAGE, SCOPE_WEBHOOKS_MANAGE, false, "webhooks:manage"},
  {ACCESS_PRIVACY, SCOPE_PRIVACY, false, "privacy"},
  {ACCESS_FAMILY_EXPORT, SCOPE_PRIVACY, true, "privacy or plan:family"},
  {ACCESS_STATEMENT_WRITE, SCOPE_PLANS_WRITE, true, "plan:family or plans:write"},
};

/* A family token is one with scope plan:family: it stands for the family
 * itself and is never also a staff token, whatever else it claims. */
static bool is_family_token(const struct g1p_principal *p) { return (p->scopes & SCOPE_PLAN_FAMILY) != 0; }

bool access_allows(const struct g1p_req *r, enum access_action action) {
  const struct rule *rule = &RULES[action];
  const struct g1p_principal *p = &r->who;
  if (is_family_token(p)) return rule->family_token_ok;
  return rule->any_of == 0 || (p->scopes & rule->any_of) != 0;
}

int access_require(struct g1p_req *r, enum access_action action) {
  if (access_allows(r, action)) return 0;
  return problem_set(&r->problem, PROBLEM_FORBIDDEN, "This needs the %s scope.", RULES[action].needs);
}

bool access_sees_region(const struct g1p_req *r, const char *code) {
  return principal_has_scope(&r->who, SCOPE_ADMIN) || principal_sees_region(&r->who, code);
}

const char *access_region_filter(const struct g1p_req *r) {
  if (r->who.all_regions || principal_has_scope(&r->who, SCOPE_ADMIN)) return NULL;
  return r->who.regions_pg;
}

struct access_scope access_scope(const struct g1p_req *r) {
  if (is_family_token(&r->who)) {
    /* No family claim: a family token that names no family sees nothing. */
    struct access_scope f = {NULL, NULL, r->who.family[0] ? r->who.family : "00000000-0000-0000-0000-000000000000"};
    return f;
  }
  struct access_scope s = {r->who.all_regions ? NULL : r->who.regions_pg, r->who.org[0] ? r->who.org : NULL, NULL};
  return s;
}

bool access_in_regions(const struct g1p_req *r, const char *code) { return principal_sees_region(&r->who, code); }
