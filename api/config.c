/* Environment -> struct g1p_config. Every check that can stop start-up lives
 * here, so a bad deployment fails at once with one clear line instead of at
 * the first request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yder.h>
#include <libpq-fe.h>
#include "g1p/config.h"
#include "g1p/fetch.h"

static char *env_dup(const char *name, const char *fallback) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') v = fallback;
  return v ? strdup(v) : NULL;
}

/* Parses a decimal in [min, max]; returns -1 with err filled when it is not. */
static int env_uint(const char *name, unsigned long dflt, unsigned long min, unsigned long max,
                    unsigned long *out, char *err, size_t err_len) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') { *out = dflt; return 0; }
  char *end = NULL;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max) {
    snprintf(err, err_len, "%s must be a whole number from %lu to %lu (got \"%s\")", name, min, max, v);
    return -1;
  }
  *out = n;
  return 0;
}

static int parse_log_level(const char *v, unsigned int *out) {
  static const struct { const char *name; unsigned int level; } levels[] = {
    {"error", Y_LOG_LEVEL_ERROR}, {"warning", Y_LOG_LEVEL_WARNING},
    {"info", Y_LOG_LEVEL_INFO}, {"debug", Y_LOG_LEVEL_DEBUG}, {"none", Y_LOG_LEVEL_NONE}};
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
    if (strcasecmp(v, levels[i].name) == 0) { *out = levels[i].level; return 0; }
  return -1;
}

int config_load(struct g1p_config *cfg, char *err, size_t err_len) {
  unsigned long n;
  memset(cfg, 0, sizeof *cfg);
  cfg->database_url = env_dup("DATABASE_URL", NULL);
  cfg->database_read_url = env_dup("DATABASE_READ_URL", NULL);
  cfg->bind_address = env_dup("BIND_ADDRESS", "127.0.0.1");
  cfg->jwt_hs256_secret = env_dup("JWT_HS256_SECRET", NULL);
  cfg->jwt_public_keys_dir = env_dup("JWT_PUBLIC_KEYS_DIR", NULL);
  cfg->jwt_issuer = env_dup("JWT_ISSUER", NULL);
  cfg->jwt_audience = env_dup("JWT_AUDIENCE", NULL);
  cfg->jwt_jwks_file = env_dup("JWT_JWKS_FILE", NULL);
  cfg->jwt_jwks_url = env_dup("JWT_JWKS_URL", NULL);
  cfg->jwt_oidc_issuer = env_dup("JWT_OIDC_ISSUER", NULL);
  cfg->jwt_jwks_ca_file = env_dup("JWT_JWKS_CA_FILE", NULL);

  if (env_uint("PORT", 8080, 1, 65535, &n, err, err_len)) return -1;
  cfg->port = (unsigned int)n;
  if (env_uint("METRICS_PORT", 0, 1, 65535, &n, err, err_len)) return -1;
  cfg->metrics_port = (unsigned int)n;
  if (cfg->metrics_port == cfg->port) {
    snprintf(err, err_len, "METRICS_PORT must differ from PORT (%u): metrics have a listener of their own", cfg->port);
    return -1;
  }
  /* Default: two connections (and worker threads) per core, at least 4.
   * Measured on 2 cores: 4 kept p99 under 7 ms at 32 clients where 16
   * reached the same throughput with a 12-15 ms p99 (README, Performance). */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned long pool_default = cores > 2 ? (unsigned long)cores * 2 : 4;
  if (env_uint("DB_POOL_SIZE", pool_default, 1, 256, &n, err, err_len)) return -1;
  cfg->pool_size = (unsigned int)n;
  if (env_uint("MAX_BODY_BYTES", 1048576, 1024, 64ul * 1048576, &n, err, err_len)) return -1;
  cfg->max_body_bytes = n;
  if (env_uint("HTTP_TIMEOUT_SECONDS", 30, 1, 3600, &n, err, err_len)) return -1;
  cfg->request_timeout_s = (unsigned int)n;
  if (env_uint("DB_STATEMENT_TIMEOUT_MS", 5000, 100, 600000, &n, err, err_len)) return -1;
  cfg->db_timeout_ms = (unsigned int)n;

  const char *prep = getenv("DB_PREPARED_STATEMENTS");
  cfg->db_prepare = true;
  if (prep && *prep) {
    if (strcasecmp(prep, "on") == 0) cfg->db_prepare = true;
    else if (strcasecmp(prep, "off") == 0) cfg->db_prepare = false;
    else {
      snprintf(err, err_len, "DB_PREPARED_STATEMENTS must be on or off (got \"%s\")", prep);
      return -1;
    }
  }

  const char *lvl = getenv("LOG_LEVEL");
  cfg->log_level = Y_LOG_LEVEL_INFO;
  if (lvl && *lvl && parse_log_level(lvl, &cfg->log_level)) {
    snprintf(err, err_len, "LOG_LEVEL must be one of error, warning, info, debug, none (got \"%s\")", lvl);
    return -1;
  }
  if (cors_parse(getenv("CORS_ALLOWED_ORIGINS"), &cfg->cors, err, err_len)) return -1;
  if (cfg->database_read_url) {
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->database_read_url, &why);
    PQconninfoFree(opts);
    if (!opts) {
      snprintf(err, err_len, "DATABASE_READ_URL cannot be parsed: %.200s", why ? why : "out of memory");
      PQfreemem(why);
      for (char *c = err; *c; c++) if (*c == '\n') *c = ' ';
      return -1;
    }
  }
  if (env_uint("RETENTION_CLOSED_YEARS", 10, 1, 100, &n, err, err_len)) return -1;
  cfg->retention_closed_years = (unsigned int)n;
  if (env_uint("RETENTION_UNFOLLOWED_YEARS", 2, 1, 100, &n, err, err_len)) return -1;
  cfg->retention_unfollowed_years = (unsigned int)n;
  if (env_uint("WEBHOOK_WORKERS", 1, 0, 16, &n, err, err_len)) return -1;
  cfg->webhook_workers = (unsigned int)n;
  if (env_uint("WEBHOOK_TIMEOUT_SECONDS", 10, 1, 10, &n, err, err_len)) return -1;
  cfg->webhook_timeout_s = (unsigned int)n;
  if (env_uint("WEBHOOK_LEASE_SECONDS", 30, 2, 600, &n, err, err_len)) return -1;
  cfg->webhook_lease_s = (unsigned int)n;
  if (cfg->webhook_lease_s <= cfg->webhook_timeout_s) {
    snprintf(err, err_len, "WEBHOOK_LEASE_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS (%u)", cfg->webhook_timeout_s);
    return -1;
  }
  if (env_uint("WEBHOOK_ALLOW_HTTP", 0, 0, 1, &n, err, err_len)) return -1;
  cfg->webhook_allow_http = n == 1;
  if (env_uint("WEBHOOK_ALLOW_PRIVATE_NETWORKS", 0, 0, 1, &n, err, err_len)) return -1;
  cfg->webhook_allow_private = n == 1;
  if (env_uint("JWT_JWKS_REFRESH_SECONDS", 300, 1, 86400, &n, err, err_len)) return -1;
  cfg->jwt_jwks_refresh_s = (unsigned int)n;
  if (env_uint("JWT_JWKS_TIMEOUT_SECONDS", 10, 1, 60, &n, err, err_len)) return -1;
  cfg->jwt_jwks_timeout_s = (unsigned int)n;
  if (env_uint("JWT_JWKS_ALLOW_HTTP", 0, 0, 1, &n, err, err_len)) return -1;
  cfg->jwt_jwks_allow_http = n == 1;
  const char *scheme_rule = cfg->jwt_jwks_allow_http ? "http:// or https://" : "https:// (or set JWT_JWKS_ALLOW_HTTP=1)";
  if (cfg->jwt_jwks_url && !fetch_scheme_allowed(cfg->jwt_jwks_url, cfg->jwt_jwks_allow_http)) {
    snprintf(err, err_len, "JWT_JWKS_URL must start with %s (got \"%.200s\")", scheme_rule, cfg->jwt_jwks_url);
    return -1;
  }
  if (cfg->jwt_oidc_issuer && !fetch_scheme_allowed(cfg->jwt_oidc_issuer, cfg->jwt_jwks_allow_http)) {
    snprintf(err, err_len, "JWT_OIDC_ISSUER must start with %s (got \"%.200s\")", scheme_rule, cfg->jwt_oidc_issuer);
    return -1;
  }
  if (cfg->jwt_oidc_issuer && cfg->jwt_issuer && strcmp(cfg->jwt_oidc_issuer, cfg->jwt_issuer) != 0) {
    snprintf(err, err_len, "JWT_ISSUER and JWT_OIDC_ISSUER differ: set only JWT_OIDC_ISSUER (tokens' iss must equal it)");
    return -1;
  }
  if (cfg->jwt_hs256_secret && strlen(cfg->jwt_hs256_secret) < 32) {
    snprintf(err, err_len, "JWT_HS256_SECRET must be at least 32 bytes (got %zu)", strlen(cfg->jwt_hs256_secret));
    return -1;
  }
  return 0;
}

void config_free(struct g1p_config *cfg) {
  free(cfg->database_url);
  free(cfg->database_read_url);
  free(cfg->bind_address);
  free(cfg->jwt_hs256_secret);
  free(cfg->jwt_public_keys_dir);
  free(cfg->jwt_issuer);
  free(cfg->jwt_audience);
  free(cfg->jwt_jwks_file);
  free(cfg->jwt_jwks_url);
  free(cfg->jwt_oidc_issuer);
  free(cfg->jwt_jwks_ca_file);
  cors_free(&cfg->cors);
  memset(cfg, 0, sizeof *cfg);
}
