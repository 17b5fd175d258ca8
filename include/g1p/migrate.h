/* Schema migrations: the sql/ files compiled into the binary, applied in
 * name order, each once, each in its own transaction, under an advisory lock
 * so instances starting together never apply one twice. */
#ifndef G1P_MIGRATE_H
#define G1P_MIGRATE_H
#include <stddef.h>

/* Returns how many migrations were applied, or -1 with err filled. */
int migrate_run(const char *database_url, char *err, size_t err_len);

#endif
