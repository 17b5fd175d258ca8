/* Schema migrations: the sql/ files compiled into the binary, applied in
 * name order, each once, in one transaction under an advisory lock so
 * instances starting together never apply one twice. */
#ifndef G1P_MIGRATE_H
#define G1P_MIGRATE_H
#include <stdbool.h>
#include <stddef.h>

/* Returns how many migrations were applied, or -1 with err filled. */
/* session_options: send statement_timeout and TimeZone at connection start
 * (off behind a transaction pooler that refuses them). */
int migrate_run(const char *database_url, bool session_options, char *err, size_t err_len);

#endif
