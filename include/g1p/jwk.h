/* JSON Web Key Sets (RFC 7517) in, PEM public keys out: libjwt 1.10 verifies
 * RS256/ES256 only with a "-----BEGIN PUBLIC KEY-----" PEM, so an identity
 * provider's published JWKS is converted here, key by key, with OpenSSL 3.
 * Pure: no I/O, no globals; the caller fetches the text and decides what to
 * do with the keys. */
#ifndef G1P_JWK_H
#define G1P_JWK_H
#include <stddef.h>

#define JWK_MAX_TEXT_BYTES (1024 * 1024) /* a longer JWKS is refused unread */
#define JWK_MAX_KEYS 100                 /* entries in "keys", usable or not */

enum { JWK_RS256 = 1, JWK_ES256 = 2 };

struct jwk_key {
  char kid[65];  /* 1..64 of [A-Za-z0-9._-], not starting with '.' */
  int alg;       /* JWK_RS256 or JWK_ES256 */
  char *pem;     /* "-----BEGIN PUBLIC KEY-----" PEM, NUL-terminated; owned by the set */
  size_t pem_len;/* without the NUL */
};

struct jwk_set {
  struct jwk_key *keys;
  size_t n;
};

/* Parses text (len bytes; need not be NUL-terminated). Returns 0 with *out
 * holding at least one usable key, or -1 with *out zeroed and a one-line
 * reason in err (the set is refused as a whole: a bad key, a published
 * secret or private key, or no usable signing key at all). Keys we cannot
 * use (use other than "sig", other algorithms or curves, unknown kty) are
 * skipped. */
int jwk_set_parse(const char *text, size_t len, struct jwk_set *out, char *err, size_t err_len);

/* Frees what jwk_set_parse filled and zeroes *s; safe on a zeroed set and on
 * NULL. */
void jwk_set_free(struct jwk_set *s);

#endif
