/* The route table: every endpoint in one list (api/routes.c). */
#ifndef G1P_ROUTES_H
#define G1P_ROUTES_H
#include <stdbool.h>
#include <stddef.h>
#include <ulfius.h>
#include "g1p/http.h"

int routes_register(struct _u_instance *instance, const struct g1p_app *app);
/* When path names an endpoint under another method, writes the allowed
 * methods ("GET, PATCH") into out and returns true. */
bool routes_allowed_methods(const char *path, char *out, size_t len);
/* The route table, for labelling metrics by route template. */
size_t routes_count(void);
const struct route *routes_at(size_t i);
/* The index of rt in the table. */
size_t routes_index(const struct route *rt);
/* The index of the route method + path would reach, or routes_count() when
 * none (a 401 is answered before dispatch: its route is found afterwards). */
size_t routes_find(const char *method, const char *path);

#endif
