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

#endif
