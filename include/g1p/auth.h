/* Bearer-token verification: a JWT in, one principal value out. Which
 * algorithm is accepted is decided by configuration and the key, never by
 * the token (libjwt 1.10 would otherwise accept alg "none" or an HS256 token
 * keyed with an RSA public key's PEM). */
#ifndef G1P_AUTH_H
#define G1P_AUTH_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "g1p/jwk.h"

#define AUTH_MAX_TOKEN_BYTES 8192
#define AUTH_LEEWAY_SECONDS 60

enum scope {
  SCOPE_REFERRALS_READ = 1u << 0,
  SCOPE_REFERRALS_WRITE = 1u << 1,
  SCOPE_PLANS_READ = 1u << 2,
  SCOPE_PLANS_WRITE = 1u << 3,
  SCOPE_PLAN_FAMILY = 1u << 4,
  SCOPE_METRICS_READ = 1u << 5,
  SCOPE_ADMIN = 1u << 6,
  SCOPE_WEBHOOKS_MANAGE = 1u << 7,
  SCOPE_PRIVACY = 1u << 8,
};

/* Who is calling, as the token says. Owned by the request; principal_clear
 * frees it. */
struct g1p_principal {
  char sub[256];
  unsigned int scopes;      /* bit set of enum scope */
  bool all_regions;         /* regions: ["*"] */
  json_t *regions;          /* array of region codes (empty when none) */
  char *regions_pg;         /* the same as a PostgreSQL text[] literal, e.g. {gent,meetjesland} */
  char org[37];             /* partner organisation UUID or "" */
  char family[37];          /* family UUID (scope plan:family) or "" */
  double exp, nbf;          /* the token's validity window (nbf 0 when absent) */
};

struct auth_key {
  char kid[65];
  int alg;                  /* JWK_RS256 or JWK_ES256 when the key pins it (JWKS), 0: either (PEM folder) */
  char *pem;                /* PEM public key */
  size_t pem_len;
};

/* Everything needed to verify a token; immutable once loaded. */
struct auth_keys {
  unsigned char *hs256_secret;
  size_t hs256_len;
  struct auth_key *keys;    /* RS256/ES256 public keys by kid */
  size_t nkeys;
  char *issuer;             /* may be NULL */
  char *audience;           /* may be NULL */
  struct auth_keys *retired_next; /* the keyring's list of replaced sets */
  unsigned long generation;       /* distinct per loaded set: cached verifications of another set do not count */
};

/* The keys in force, replaced as a whole on SIGHUP (key rotation). Readers
 * take the current set with one atomic load; a replaced set stays allocated
 * until shutdown, so a request that loaded it just before a reload is safe. */
struct auth_keyring;
struct auth_keyring *auth_keyring_new(struct auth_keys *initial);
const struct auth_keys *auth_keyring_current(const struct auth_keyring *ring);
void auth_keyring_replace(struct auth_keyring *ring, struct auth_keys *next);
void auth_keyring_free(struct auth_keyring *ring);

/* Loads the HS256 secret and every <kid>.pem in dir (dir may be NULL).
 * Returns NULL with err filled when a key cannot be read. */
struct auth_keys *auth_keys_load(const char *hs256_secret, const char *dir, const char *issuer,
                                 const char *audience, char *err, size_t err_len);
void auth_keys_free(struct auth_keys *keys);
/* Adds the keys of a JWK set (copies). A kid already present is skipped:
 * returns how many were skipped, or -1 when out of memory. */
int auth_keys_add_jwks(struct auth_keys *keys, const struct jwk_set *set);

/* Verifies token at time now and fills out. Returns 0, or -1 with a short
 * reason (for the 401 detail and the security log; never the token). */
int auth_verify(const struct auth_keys *keys, const char *token, time_t now,
                struct g1p_principal *out, char *why, size_t why_len);

/* Parses the payload claims alone (no signature): exposed for unit tests. */
int auth_claims_parse(const struct auth_keys *keys, json_t *claims, time_t now,
                      struct g1p_principal *out, char *why, size_t why_len);

/* auth_verify with a small per-thread cache of tokens this key set has
 * verified: a client sends the same token with every request, and a hit
 * skips the signature and the parsing (the validity window is still checked
 * on every request). Only successful verifications are cached. */
int auth_verify_cached(const struct auth_keys *keys, const char *token, time_t now,
                       struct g1p_principal *out, char *why, size_t why_len);

void principal_clear(struct g1p_principal *p);
/* Deep copy (dst owns its own regions); -1 when out of memory. */
int principal_copy(struct g1p_principal *dst, const struct g1p_principal *src);
bool principal_has_scope(const struct g1p_principal *p, unsigned int scope);
bool principal_sees_region(const struct g1p_principal *p, const char *code);

#endif
