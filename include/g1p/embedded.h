/* Files compiled into the binary at build time (see tests/embed.cmake). */
#ifndef G1P_EMBEDDED_H
#define G1P_EMBEDDED_H
#include <stddef.h>

struct embedded_migration {
  const char *name; /* file name, e.g. "001_regions.sql"; NULL ends the table */
  const char *sql;
};

extern const struct embedded_migration embedded_migrations[];
extern const char *const embedded_openapi;
extern const size_t embedded_openapi_len;
/* openapi/docs.html, the HTML reference served at /docs (.incbin, see
 * tests/embed.cmake); NUL-terminated like the contract. */
extern const char *const embedded_docs;
extern const size_t embedded_docs_len;

#endif
