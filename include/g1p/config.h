/* Configuration: read once from the environment at start-up into one
 * immutable struct that every module receives (never re-read later). */
#ifndef G1P_CONFIG_H
#define G1P_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include "g1p/cors.h"

struct g1p_config {
  char *database_url;       /* DATABASE_URL (required by the server itself) */
  char *database_read_url;  /* DATABASE_READ_URL: a streaming replica for metrics and the audit trail, optional */
  unsigned int port;        /* PORT, default 8080 */
  unsigned int metrics_port;/* METRICS_PORT: Prometheus metrics on their own listener; 0 (unset): off */
  char *bind_address;       /* BIND_ADDRESS, default 127.0.0.1 */
  char *jwt_hs256_secret;   /* JWT_HS256_SECRET, >= 32 bytes, optional */
  char *jwt_public_keys_dir;/* JWT_PUBLIC_KEYS_DIR: <kid>.pem files, optional */
  char *jwt_issuer;         /* JWT_ISSUER, optional: iss must equal it */
  char *jwt_audience;       /* JWT_AUDIENCE, optional: aud must contain it */
  char *jwt_jwks_file;      /* JWT_JWKS_FILE: an RFC 7517 key set, reloaded on SIGHUP */
  char *jwt_jwks_url;       /* JWT_JWKS_URL: fetched at start and refreshed */
  char *jwt_oidc_issuer;    /* JWT_OIDC_ISSUER: discovery gives jwks_uri; iss must equal it */
  char *jwt_jwks_ca_file;   /* JWT_JWKS_CA_FILE: extra trust anchors for those fetches */
  unsigned int jwt_jwks_refresh_s; /* JWT_JWKS_REFRESH_SECONDS, default 300 */
  unsigned int jwt_jwks_timeout_s; /* JWT_JWKS_TIMEOUT_SECONDS, default 10 */
  bool jwt_jwks_allow_http;        /* JWT_JWKS_ALLOW_HTTP=1: http:// URLs too (tests only) */
  unsigned int pool_size;   /* DB_POOL_SIZE, default 2 per core (at least 4) */
  size_t max_body_bytes;    /* MAX_BODY_BYTES, default 1 MiB */
  unsigned int log_level;   /* LOG_LEVEL: error|warning|info|debug, as yder level */
  unsigned int request_timeout_s; /* HTTP_TIMEOUT_SECONDS: idle connection timeout, default 30 */
  unsigned int db_timeout_ms;     /* DB_STATEMENT_TIMEOUT_MS, default 5000 */
  bool db_prepare;                /* DB_PREPARED_STATEMENTS: on (default) | off for PgBouncer transaction mode */
  struct cors_origins cors;       /* CORS_ALLOWED_ORIGINS; empty: no CORS headers at all */
  unsigned int webhook_workers;   /* WEBHOOK_WORKERS, default 1; 0: this instance delivers nothing */
  unsigned int webhook_timeout_s; /* WEBHOOK_TIMEOUT_SECONDS, default 10 (at most 10) */
  unsigned int webhook_lease_s;   /* WEBHOOK_LEASE_SECONDS, default 30: a killed worker's claims expire after it */
  bool webhook_allow_http;        /* WEBHOOK_ALLOW_HTTP=1: http:// receivers (tests only) */
  bool webhook_allow_private;
  unsigned int retention_closed_years;     /* RETENTION_CLOSED_YEARS, default 10 */
  unsigned int retention_unfollowed_years; /* RETENTION_UNFOLLOWED_YEARS, default 2 */     /* WEBHOOK_ALLOW_PRIVATE_NETWORKS=1: on-premises receivers, tests */
};

/* Fills cfg from the environment. On a bad value returns -1 and writes one
 * human-readable line into err. */
int config_load(struct g1p_config *cfg, char *err, size_t err_len);
void config_free(struct g1p_config *cfg);

#endif
