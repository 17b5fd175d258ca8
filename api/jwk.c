/* A JSON Web Key Set (RFC 7517) turned into the PEM public keys libjwt 1.10
 * verifies with; see include/g1p/jwk.h. The set is refused as a whole on
 * anything that suggests a broken or compromised publisher (a secret or a
 * private key in it, a weak or malformed key, a duplicate kid), because the
 * caller then keeps the keys it has; keys we merely cannot use are skipped.
 * The PEM is written by OpenSSL 3 from the raw numbers (EVP_PKEY_fromdata),
 * never by hand. */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/base64url.h"
#include "g1p/jwk.h"
#include "g1p/validate.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define P256_COORD_BYTES 32

/* Members that only a private key (or a symmetric secret) has: "oth" is
 * RSA's multi-prime private part, "k" an oct key's secret. */
static const char *const PRIVATE_MEMBERS[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};

__attribute__((format(printf, 3, 4)))
static void fail(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* The reason goes to a log line: jansson's message quotes the input and an
 * alg is whatever the publisher wrote, so keep it one line of plain ASCII. */
static void one_line(char *err, size_t err_len) {
  if (!err || err_len == 0) return;
  for (char *c = err; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
}

static int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* base64url as RFC 7515 writes it: only [A-Za-z0-9_-], no padding, and the
 * unused low bits of the last character zero, so each value has one
 * spelling. base64url_decode already refuses '+', '/' and '=', but it takes
 * the empty string and non-zero trailing bits, hence this check first. */
static bool is_strict_b64url(const char *s, size_t len) {
  if (len == 0 || len % 4 == 1) return false;
  int last = 0;
  for (size_t i = 0; i < len; i++)
    if ((last = b64url_value(s[i])) < 0) return false;
  if (len % 4 == 2) return (last & 0x0f) == 0;
  if (len % 4 == 3) return (last & 0x03) == 0;
  return true;
}

/* Decodes the base64url member name of key; on failure err says which key
 * and member. The caller frees *out. */
static int member_bytes(const json_t *key, const char *name, const char *what,
                        unsigned char **out, size_t *out_len, char *err, size_t err_len) {
  const json_t *v = json_object_get(key, name);
  if (!json_is_string(v)) {
    fail(err, err_len, "%s has no \"%s\" string", what, name);
    return -1;
  }
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (!is_strict_b64url(s, len) || !(*out = base64url_decode(s, len, out_len))) {
    fail(err, err_len, "%s: \"%s\" is not base64url (RFC 7515: [A-Za-z0-9_-], no padding)", what, name);
    return -1;
  }
  return 0;
}

/* Big-endian bytes without their leading zeros (a JWK should have none, but
 * some publishers keep the sign byte; the value is what counts). */
static const unsigned char *strip_zeros(const unsigned char *b, size_t *len) {
  while (*len > 0 && b[0] == 0) { b++; (*len)--; }
  return b;
}

static size_t bit_length(const unsigned char *b, size_t len) {
  if (len == 0) return 0;
  size_t bits = (len - 1) * 8;
  for (unsigned int top = b[0]; top; top >>= 1) bits++;
  return bits;
}

/* Public key from the parameters in bld (type "RSA" or "EC"); NULL when
 * OpenSSL refuses them (for EC that includes a point off the curve). */
static EVP_PKEY *pkey_from(const char *type, OSSL_PARAM_BLD *bld) {
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  EVP_PKEY *pkey = NULL;
  /* On failure EVP_PKEY_fromdata frees what it allocated and leaves pkey NULL. */
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

/* OpenSSL's own check of a public key: for EC, on the curve and of the
 * group's order. */
static bool public_check(EVP_PKEY *pkey) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
  bool ok = ctx && EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

/* SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") into key->pem, NUL-terminated. */
static int write_pem(EVP_PKEY *pkey, struct jwk_key *key) {
  BIO *bio = BIO_new(BIO_s_mem());
  int rc = -1;
  char *data = NULL;
  if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1) goto done;
  long n = BIO_get_mem_data(bio, &data);
  if (n <= 0 || !(key->pem = malloc((size_t)n + 1))) goto done;
  memcpy(key->pem, data, (size_t)n);
  key->pem[n] = '\0';
  key->pem_len = (size_t)n;
  rc = 0;
done:
  BIO_free(bio);
  return rc;
}

/* n and e: at least 2048 and at most 8192 bits, odd modulus, exponent odd,
 * above 1 and at most 4 bytes. */
static int rsa_to_pem(const json_t *jk, struct jwk_key *key, char *err, size_t err_len) {
  unsigned char *n_raw = NULL, *e_raw = NULL;
  size_t n_len = 0, e_len = 0;
  BIGNUM *n = NULL, *e = NULL;
  OSSL_PARAM_BLD *bld = NULL;
  EVP_PKEY *pkey = NULL;
  int rc = -1;
  char what[80];
  snprintf(what, sizeof what, "RSA key %s", key->kid);

  if (member_bytes(jk, "n", what, &n_raw, &n_len, err, err_len) ||
      member_bytes(jk, "e", what, &e_raw, &e_len, err, err_len))
    goto done;
  const unsigned char *nb = strip_zeros(n_raw, &n_len);
  const unsigned char *eb = strip_zeros(e_raw, &e_len);
  size_t bits = bit_length(nb, n_len);
  if (bits < RSA_MIN_BITS) {
    fail(err, err_len, "%s has %zu bits; at least %d are required", what, bits, RSA_MIN_BITS);
    goto done;
  }
  if (bits > RSA_MAX_BITS) {
    fail(err, err_len, "%s has %zu bits; at most %d are accepted", what, bits, RSA_MAX_BITS);
    goto done;
  }
  if ((nb[n_len - 1] & 1) == 0) {
    fail(err, err_len, "%s has an even modulus", what);
    goto done;
  }
  if (e_len == 0 || e_len > 4 || (eb[e_len - 1] & 1) == 0 || (e_len == 1 && eb[0] == 1)) {
    fail(err, err_len, "%s has an unusable exponent (odd, above 1, at most 4 bytes)", what);
    goto done;
  }
  /* The builder keeps pointers to n and e until to_param (in pkey_from). */
  if (!(n = BN_bin2bn(nb, (int)n_len, NULL)) || !(e = BN_bin2bn(eb, (int)e_len, NULL)) ||
      !(bld = OSSL_PARAM_BLD_new()) || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) || !(pkey = pkey_from("RSA", bld)) ||
      write_pem(pkey, key)) {
    fail(err, err_len, "%s could not be converted to PEM", what);
    goto done;
  }
  key->alg = JWK_RS256;
  rc = 0;
done:
  if (rc) ERR_clear_error(); /* a failure here must not surface in a later, unrelated OpenSSL call */
  EVP_PKEY_free(pkey);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  free(n_raw);
  free(e_raw);
  return rc;
}

/* P-256 x and y, 32 bytes each, as an uncompressed point that OpenSSL
 * places on the curve or refuses. */
static int ec_to_pem(const json_t *jk, struct jwk_key *key, char *err, size_t err_len) {
  unsigned char *x = NULL, *y = NULL;
  size_t x_len = 0, y_len = 0;
  OSSL_PARAM_BLD *bld = NULL;
  EVP_PKEY *pkey = NULL;
  int rc = -1;
  char what[80];
  snprintf(what, sizeof what, "EC key %s", key->kid);

  if (member_bytes(jk, "x", what, &x, &x_len, err, err_len) ||
      member_bytes(jk, "y", what, &y, &y_len, err, err_len))
    goto done;
  if (x_len != P256_COORD_BYTES || y_len != P256_COORD_BYTES) {
    fail(err, err_len, "%s: x and y must be %d bytes each, not %zu and %zu", what, P256_COORD_BYTES,
         x_len, y_len);
    goto done;
  }
  unsigned char point[1 + 2 * P256_COORD_BYTES];
  point[0] = 0x04; /* uncompressed (SEC 1, 2.3.3) */
  memcpy(point + 1, x, P256_COORD_BYTES);
  memcpy(point + 1 + P256_COORD_BYTES, y, P256_COORD_BYTES);
  if (!(bld = OSSL_PARAM_BLD_new()) ||
      !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point)) {
    fail(err, err_len, "%s could not be converted to PEM", what);
    goto done;
  }
  if (!(pkey = pkey_from("EC", bld)) || !public_check(pkey)) {
    fail(err, err_len, "%s is not a point on P-256", what);
    goto done;
  }
  if (write_pem(pkey, key)) {
    fail(err, err_len, "%s could not be converted to PEM", what);
    goto done;
  }
  key->alg = JWK_ES256;
  rc = 0;
done:
  if (rc) ERR_clear_error();
  EVP_PKEY_free(pkey);
  OSSL_PARAM_BLD_free(bld);
  free(x);
  free(y);
  return rc;
}

/* The refusals that hold whatever the key's use or type: anything secret in
 * a public document means the publisher is broken, not just this key. */
static int refuse_secrets(const json_t *jk, size_t i, const char *kty, char *err, size_t err_len) {
  if (strcmp(kty, "oct") == 0) {
    fail(err, err_len, "key %zu is a symmetric (kty oct) key; secrets must never be published", i);
    return -1;
  }
  const json_t *alg = json_object_get(jk, "alg");
  if (alg && !json_is_string(alg)) {
    fail(err, err_len, "key %zu has an alg that is not a string", i);
    return -1;
  }
  const char *a = json_string_value(alg);
  if (a && (strcmp(a, "none") == 0 || strncmp(a, "HS", 2) == 0)) {
    fail(err, err_len, "key %zu has alg %.16s; only signature keys may be published", i, a);
    return -1;
  }
  for (const char *const *m = PRIVATE_MEMBERS; *m; m++)
    if (json_object_get(jk, *m)) {
      fail(err, err_len, "key %zu: a private key was published (member \"%s\")", i, *m);
      return -1;
    }
  return 0;
}

/* Whether alg, when present, is the one we verify with. */
static bool alg_is(const json_t *jk, const char *want) {
  const char *a = json_string_value(json_object_get(jk, "alg"));
  return !a || strcmp(a, want) == 0;
}

/* Entry i of "keys": 1 when it became *key, 0 when skipped, -1 (err filled)
 * when the whole set must be refused. */
static int take_key(const json_t *jk, size_t i, struct jwk_key *key, char *err, size_t err_len) {
  if (!json_is_object(jk)) {
    fail(err, err_len, "key %zu is not a JSON object", i);
    return -1;
  }
  const char *kty = json_string_value(json_object_get(jk, "kty"));
  if (!kty) {
    fail(err, err_len, "key %zu has no \"kty\" string", i);
    return -1;
  }
  if (refuse_secrets(jk, i, kty, err, err_len)) return -1;
  const char *use = json_string_value(json_object_get(jk, "use"));
  if (json_object_get(jk, "use") && (!use || strcmp(use, "sig") != 0)) return 0;

  bool rsa = strcmp(kty, "RSA") == 0;
  if (rsa) {
    if (!alg_is(jk, "RS256")) return 0; /* PS256, RS384...: we only verify RS256 */
  } else if (strcmp(kty, "EC") == 0) {
    const char *crv = json_string_value(json_object_get(jk, "crv"));
    if (!crv) {
      fail(err, err_len, "EC key %zu has no \"crv\" string", i);
      return -1;
    }
    if (strcmp(crv, "P-256") != 0 || !alg_is(jk, "ES256")) return 0;
  } else {
    return 0; /* OKP and whatever comes next */
  }

  const json_t *kid = json_object_get(jk, "kid");
  if (!json_is_string(kid) || !validate_kid(json_string_value(kid), json_string_length(kid))) {
    fail(err, err_len, "key %zu has a missing or malformed kid (1..64 of [A-Za-z0-9._-], not starting with '.')", i);
    return -1;
  }
  memset(key, 0, sizeof *key);
  memcpy(key->kid, json_string_value(kid), json_string_length(kid));
  int rc = rsa ? rsa_to_pem(jk, key, err, err_len) : ec_to_pem(jk, key, err, err_len);
  return rc ? -1 : 1;
}

static bool kid_taken(const struct jwk_set *s, size_t before, const char *kid) {
  for (size_t i = 0; i < before; i++)
    if (strcmp(s->keys[i].kid, kid) == 0) return true;
  return false;
}

int jwk_set_parse(const char *text, size_t len, struct jwk_set *out, char *err, size_t err_len) {
  struct jwk_set set = {0};
  json_t *root = NULL;
  int rc = -1;
  memset(out, 0, sizeof *out);
  if (err && err_len) err[0] = '\0';

  if (!text) {
    fail(err, err_len, "no JWKS text");
    goto done;
  }
  if (len > JWK_MAX_TEXT_BYTES) {
    fail(err, err_len, "JWKS is %zu bytes; at most %d are accepted", len, JWK_MAX_TEXT_BYTES);
    goto done;
  }
  json_error_t jerr;
  if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
    fail(err, err_len, "JWKS is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    goto done;
  }
  const json_t *keys = json_object_get(root, "keys"); /* NULL when root is not an object */
  if (!json_is_object(root) || !json_is_array(keys)) {
    fail(err, err_len, "JWKS is not an object with a \"keys\" array");
    goto done;
  }
  size_t count = json_array_size(keys);
  if (count > JWK_MAX_KEYS) {
    fail(err, err_len, "JWKS has %zu keys; at most %d are accepted", count, JWK_MAX_KEYS);
    goto done;
  }
  if (count && !(set.keys = calloc(count, sizeof *set.keys))) {
    fail(err, err_len, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < count; i++) {
    int took = take_key(json_array_get(keys, i), i, &set.keys[set.n], err, err_len);
    if (took < 0) goto done;
    if (took == 0) continue;
    set.n++; /* counted first, so the failure path frees its PEM too */
    if (kid_taken(&set, set.n - 1, set.keys[set.n - 1].kid)) {
      fail(err, err_len, "kid %s appears more than once", set.keys[set.n - 1].kid);
      goto done;
    }
  }
  if (set.n == 0) {
    fail(err, err_len, "no usable signing key (RS256 or ES256 with use \"sig\") in the JWKS");
    goto done;
  }
  *out = set;
  set = (struct jwk_set){0};
  rc = 0;
done:
  if (rc) one_line(err, err_len);
  jwk_set_free(&set);
  json_decref(root);
  return rc;
}

void jwk_set_free(struct jwk_set *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) free(s->keys[i].pem);
  free(s->keys);
  memset(s, 0, sizeof *s);
}
