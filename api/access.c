/* Authorisation rules, in one table a reviewer can read in a minute.
 *
 *   action                  scopes that allow it
 *   reference read          any token that is not a family token
 *   reference write         admin
 *
 * Scoping: a token sees the regions listed in its `regions` claim (or all
 * with ["*"]); reference data (regions, organisations) is managed by admins
 * for all regions. A family token (scope plan:family) only reaches its own
 * family's plan endpoints. */
#include "g1p/access.h"

struct rule {
  enum access_action action;
  unsigned int any_of;   /* scopes, any of which allows the action; 0 = any staff token */
  const char *needs;     /* for the 403 detail */
};

static const struct rule RULES[] = {
  {ACCESS_REFERENCE_READ, 0, "any staff scope"},
  {ACCESS_REFERENCE_WRITE, SCOPE_ADMIN, "admin"},
};

static bool is_family_token(const struct g1p_principal *p) { return (p->scopes & SCOPE_PLAN_FAMILY) != 0; }

int access_require(struct g1p_req *r, enum access_action action) {
  const struct rule *rule = &RULES[action];
  const struct g1p_principal *p = &r->who;
  bool ok = rule->any_of == 0 ? !is_family_token(p) : (p->scopes & rule->any_of) != 0 && !is_family_token(p);
  if (ok) return 0;
  return problem_set(&r->problem, PROBLEM_FORBIDDEN, "This needs the %s scope.", rule->needs);
}

bool access_sees_region(const struct g1p_req *r, const char *code) {
  return principal_has_scope(&r->who, SCOPE_ADMIN) || principal_sees_region(&r->who, code);
}

const char *access_region_filter(const struct g1p_req *r) {
  if (r->who.all_regions || principal_has_scope(&r->who, SCOPE_ADMIN)) return NULL;
  return r->who.regions_pg;
}
