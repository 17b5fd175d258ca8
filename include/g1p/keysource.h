/* Where the token-verification keys come from, behind the one keyring that
 * auth.c reads: the HS256 secret and the PEM folder (JWT_PUBLIC_KEYS_DIR),
 * an RFC 7517 key set in a file (JWT_JWKS_FILE), and the identity provider's
 * published key set (JWT_JWKS_URL, or found by OpenID discovery from
 * JWT_OIDC_ISSUER), fetched at start, refreshed every
 * JWT_JWKS_REFRESH_SECONDS by a thread of its own, and at once when a token
 * names a kid we do not know (at most once per 30 s). A fetch or file that
 * fails, or yields no usable key, keeps the current keys and is logged. */
#ifndef G1P_KEYSOURCE_H
#define G1P_KEYSOURCE_H
#include <stdbool.h>
#include <stddef.h>
#include "g1p/auth.h"
#include "g1p/config.h"

struct keysource;

/* Loads every configured source (a bad PEM folder or key file is an error:
 * -1 with err; an unreachable identity provider is logged and retried) and
 * starts the refresh thread when a URL is configured. */
struct keysource *keysource_start(const struct g1p_config *cfg, char *err, size_t err_len);
/* The keyring requests verify against (owned by the keysource). */
struct auth_keyring *keysource_ring(struct keysource *ks);
/* SIGHUP: reads the PEM folder and the key file again, and refetches. */
void keysource_reload(struct keysource *ks);
/* A token named a kid missing from the key set of this generation: asks for
 * a refetch (rate-limited) and waits briefly for it. True when the keys have
 * changed since, so the caller verifies once more. */
bool keysource_unknown_kid(struct keysource *ks, unsigned long generation);
void keysource_stop(struct keysource *ks);

#endif
