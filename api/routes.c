/* Every endpoint of the API, in one table a reader can scan. Authorisation
 * (scopes, regions, organisation) is decided inside each handler through
 * access.c; the JWT gate (http.c) covers everything under /v1. */
#include <string.h>
#include "g1p/resources.h"
#include "g1p/routes.h"

static const struct route ROUTES[] = {
  {"GET", "/health", ops_health, NULL},
  {"GET", "/ready", ops_ready, NULL},
  {"GET", "/openapi.yaml", ops_openapi, NULL},
  {"GET", "/docs", ops_docs, NULL},

  {"GET", "/v1/regions", regions_list, "limit cursor"},
  {"POST", "/v1/regions", regions_create, NULL},
  {"GET", "/v1/regions/:code", regions_get, NULL},
  {"PATCH", "/v1/regions/:code", regions_update, NULL},

  {"GET", "/v1/organisations", organisations_list, "limit cursor region sector"},
  {"POST", "/v1/organisations", organisations_create, NULL},
  {"GET", "/v1/organisations/:id", organisations_get, NULL},
  {"PATCH", "/v1/organisations/:id", organisations_update, NULL},
  {"DELETE", "/v1/organisations/:id", organisations_delete, NULL},

  {"GET", "/v1/referrals", referrals_list, "limit cursor region status received_from received_to external_ref"},
  {"POST", "/v1/referrals", referrals_create, NULL},
  {"POST", "/v1/referrals:batch", referrals_batch, NULL},
  {"GET", "/v1/referrals/:id", referrals_get, NULL},
  {"PATCH", "/v1/referrals/:id", referrals_update, NULL},
  {"POST", "/v1/referrals/:id/first-contact", referrals_first_contact, NULL},
  {"GET", "/v1/referrals/:id/deadline-pauses", pauses_list, NULL},
  {"POST", "/v1/referrals/:id/deadline-pauses", pauses_create, NULL},
  {"GET", "/v1/referrals/:id/deadline-pauses/:pause_id", pauses_get, NULL},
  {"PATCH", "/v1/referrals/:id/deadline-pauses/:pause_id", pauses_update, NULL},

  {"GET", "/v1/deadlines", deadlines_list, "limit cursor region state due_before due_after as_of"},

  {"GET", "/v1/families", families_list, "limit cursor region coach coach_sub waiting"},
  {"POST", "/v1/families", families_create, NULL},
  {"GET", "/v1/families/:id", families_get, NULL},
  {"PATCH", "/v1/families/:id", families_update, NULL},
  {"POST", "/v1/families/:id/referrals", families_attach_referral, NULL},
  {"GET", "/v1/families/:id/coaches", families_coaches, "limit cursor"},
  {"GET", "/v1/families/:id/plan", plans_get, NULL},
  {"PUT", "/v1/families/:id/plan", plans_put, NULL},
  {"PATCH", "/v1/families/:id/plan", plans_patch, NULL},
  {"GET", "/v1/families/:id/plan/versions", plans_versions, "limit cursor"},
  {"GET", "/v1/families/:id/plan/versions/:n", plans_version_get, NULL},
  {"POST", "/v1/families/:id/plan/agreement", plans_agreement, NULL},
  {"GET", "/v1/families/:id/plan/audit", plans_audit, "limit cursor"},
  {"GET", "/v1/families/:id/statements", statements_list, "limit cursor"},
  {"POST", "/v1/families/:id/statements", statements_create, NULL},
  {"GET", "/v1/families/:id/statements/:statement_id", statements_get, NULL},
  {"GET", "/v1/families/:id/export", privacy_export_family, NULL},
  {"POST", "/v1/families/:id/erasure", privacy_erase_family, NULL},
  {"GET", "/v1/referrals/:id/export", privacy_export_referral, NULL},
  {"POST", "/v1/referrals/:id/erasure", privacy_erase_referral, NULL},

  {"GET", "/v1/audit", audit_list, "limit cursor resource id sub from to"},
  {"GET", "/v1/metrics", metrics_get, "from to region group_by format"},
  {"GET", "/v1/changes", changes_list, "after limit"},

  {"GET", "/v1/webhooks", webhooks_list, "limit cursor"},
  {"POST", "/v1/webhooks", webhooks_create, NULL},
  {"GET", "/v1/webhooks/:id", webhooks_get, NULL},
  {"PATCH", "/v1/webhooks/:id", webhooks_update, NULL},
  {"DELETE", "/v1/webhooks/:id", webhooks_delete, NULL},
  {"POST", "/v1/webhooks/:id/secret", webhooks_rotate_secret, NULL},
  {"POST", "/v1/webhooks/:id/ping", webhooks_ping, NULL},
  {"GET", "/v1/webhooks/:id/deliveries", webhooks_deliveries, "limit cursor status"},
  {"POST", "/v1/webhooks/:id/deliveries/:delivery_id/retry", webhooks_retry_delivery, NULL},
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

int routes_register(struct _u_instance *inst, const struct g1p_app *app) {
  void *ctx = (void *)app;
  if (ulfius_add_endpoint_by_val(inst, "*", NULL, "*", LAYER_REQUEST, layer_request, ctx) != U_OK) return -1;
  if (ulfius_add_endpoint_by_val(inst, "*", "/v1", "*", LAYER_AUTH, layer_auth, ctx) != U_OK) return -1;
  for (size_t i = 0; i < NROUTES; i++)
    if (ulfius_add_endpoint_by_val(inst, ROUTES[i].method, NULL, ROUTES[i].path, LAYER_HANDLER, layer_dispatch,
                                   (void *)&ROUTES[i]) != U_OK)
      return -1;
  if (ulfius_add_endpoint_by_val(inst, "*", NULL, "*", LAYER_CATCH_ALL, layer_catch_all, ctx) != U_OK) return -1;
  return 0;
}

/* Segment-by-segment match where ":name" matches any one segment. */
static bool path_matches(const char *pattern, const char *path) {
  while (*pattern == '/') pattern++;
  while (*path == '/') path++;
  while (*pattern && *path) {
    size_t pl = strcspn(pattern, "/"), tl = strcspn(path, "/");
    if (pattern[0] != ':' && (pl != tl || strncmp(pattern, path, pl) != 0)) return false;
    pattern += pl;
    path += tl;
    while (*pattern == '/') pattern++;
    while (*path == '/') path++;
  }
  return *pattern == '\0' && *path == '\0';
}

bool routes_allowed_methods(const char *path, char *out, size_t len) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < NROUTES; i++) {
    if (!path_matches(ROUTES[i].path, path) || strstr(out, ROUTES[i].method)) continue;
    size_t need = strlen(ROUTES[i].method) + 2;
    if (o + need + 1 > len) break;
    o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "", ROUTES[i].method);
  }
  return o > 0;
}

size_t routes_count(void) { return NROUTES; }
const struct route *routes_at(size_t i) { return &ROUTES[i]; }
size_t routes_index(const struct route *rt) { return (size_t)(rt - ROUTES); }

size_t routes_find(const char *method, const char *path) {
  for (size_t i = 0; i < NROUTES; i++)
    if (strcmp(ROUTES[i].method, method) == 0 && path_matches(ROUTES[i].path, path)) return i;
  return NROUTES;
}
