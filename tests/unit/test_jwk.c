/* Unit tests for api/jwk.c: JWKS text in, PEM public keys out. The keys are
 * generated here at run time with OpenSSL (RSA 2048 and 1024, EC P-256 and
 * P-384), their public numbers written as base64url JWKs, and a converted
 * PEM must verify a signature made with the original private key. */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdlib.h>
#include "check.h"
#include "g1p/base64url.h"
#include "g1p/jwk.h"

static EVP_PKEY *rsa2048, *rsa1024, *ec256, *ec384;

/* A BIGNUM parameter of k as base64url; pad > 0 left-pads to pad bytes (EC
 * coordinates have a fixed width, RSA numbers have no leading zeros). */
static char *b64_param(EVP_PKEY *k, const char *name, int pad) {
  BIGNUM *bn = NULL;
  char *out = NULL;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) return NULL;
  int len = pad > 0 ? pad : BN_num_bytes(bn);
  unsigned char *buf = malloc((size_t)len);
  if (buf && BN_bn2binpad(bn, buf, len) == len) out = base64url_encode(buf, (size_t)len);
  free(buf);
  BN_free(bn);
  return out;
}

static void set_str(json_t *o, const char *name, char *owned) {
  json_object_set_new(o, name, json_string(owned));
  free(owned);
}

static json_t *rsa_jwk(EVP_PKEY *k, const char *kid) {
  json_t *o = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "use", "sig");
  set_str(o, "n", b64_param(k, OSSL_PKEY_PARAM_RSA_N, 0));
  set_str(o, "e", b64_param(k, OSSL_PKEY_PARAM_RSA_E, 0));
  return o;
}

static json_t *ec_jwk(EVP_PKEY *k, const char *kid, const char *crv, int coord) {
  json_t *o = json_pack("{s:s, s:s, s:s}", "kty", "EC", "kid", kid, "crv", crv);
  set_str(o, "x", b64_param(k, OSSL_PKEY_PARAM_EC_PUB_X, coord));
  set_str(o, "y", b64_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, coord));
  return o;
}

static json_t *with(json_t *key, const char *name, const char *value) {
  json_object_set_new(key, name, json_string(value));
  return key;
}

/* Parses {"keys": keys} (keys is consumed). */
static int parse(json_t *keys, struct jwk_set *s, char *err, size_t err_len) {
  json_t *root = json_pack("{s:o}", "keys", keys);
  char *text = json_dumps(root, JSON_COMPACT);
  int rc = jwk_set_parse(text, strlen(text), s, err, err_len);
  free(text);
  json_decref(root);
  return rc;
}

static bool is_zeroed(const struct jwk_set *s) { return s->keys == NULL && s->n == 0; }

/* The set is refused and the reason contains want, on one line. */
static bool refused_text(const char *text, size_t len, const char *want) {
  struct jwk_set s;
  char err[256];
  int rc = jwk_set_parse(text, len, &s, err, sizeof err);
  bool ok = rc == -1 && is_zeroed(&s) && strstr(err, want) && !strchr(err, '\n');
  if (!ok) fprintf(stderr, "  expected refusal with \"%s\", got rc %d: %s\n", want, rc, err);
  jwk_set_free(&s);
  return ok;
}

static bool refused(json_t *keys, const char *want) {
  json_t *root = json_pack("{s:o}", "keys", keys);
  char *text = json_dumps(root, JSON_COMPACT);
  bool ok = refused_text(text, strlen(text), want);
  free(text);
  json_decref(root);
  return ok;
}

/* The set parses to exactly n usable keys. */
static bool accepted(json_t *keys, size_t n) {
  struct jwk_set s;
  char err[256] = "";
  int rc = parse(keys, &s, err, sizeof err);
  bool ok = rc == 0 && s.n == n;
  if (!ok) fprintf(stderr, "  expected %zu keys, got rc %d n %zu: %s\n", n, rc, s.n, err);
  jwk_set_free(&s);
  return ok;
}

static json_t *one(json_t *key) { return json_pack("[o]", key); }

static const char MESSAGE[] = "1 Gezin, 1 Plan";

static unsigned char *sign(EVP_PKEY *priv, size_t *sig_len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char *sig = NULL;
  if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, priv) == 1 &&
      EVP_DigestSign(ctx, NULL, sig_len, (const unsigned char *)MESSAGE, strlen(MESSAGE)) == 1 &&
      (sig = malloc(*sig_len)) &&
      EVP_DigestSign(ctx, sig, sig_len, (const unsigned char *)MESSAGE, strlen(MESSAGE)) != 1) {
    free(sig);
    sig = NULL;
  }
  EVP_MD_CTX_free(ctx);
  return sig;
}

static int verify(EVP_PKEY *pub, const unsigned char *sig, size_t sig_len, const char *msg) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int rc = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1
               ? EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)msg, strlen(msg))
               : -1;
  EVP_MD_CTX_free(ctx);
  return rc;
}

/* The PEM is a SubjectPublicKeyInfo that verifies what priv signed, and
 * only that, and is the same key. */
static void check_pem_matches(const struct jwk_key *k, EVP_PKEY *priv) {
  CHECK(k->pem && strncmp(k->pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
  CHECK(k->pem && k->pem[k->pem_len] == '\0' && strlen(k->pem) == k->pem_len);
  BIO *bio = BIO_new_mem_buf(k->pem, (int)k->pem_len);
  EVP_PKEY *pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
  size_t sig_len = 0;
  unsigned char *sig = sign(priv, &sig_len);
  CHECK(pub && sig);
  if (pub && sig) {
    CHECK(verify(pub, sig, sig_len, MESSAGE) == 1);
    CHECK(verify(pub, sig, sig_len, "1 Gezin, 2 Plannen") != 1);
    CHECK(EVP_PKEY_eq(pub, priv) == 1);
  }
  free(sig);
  EVP_PKEY_free(pub);
  BIO_free(bio);
}

static void test_good_keys(void) {
  struct jwk_set s;
  char err[256] = "";
  json_t *keys = json_pack("[o, o]", with(rsa_jwk(rsa2048, "rsa-1"), "alg", "RS256"),
                           ec_jwk(ec256, "ec_2.b", "P-256", 32));
  CHECK(parse(keys, &s, err, sizeof err) == 0);
  CHECK(s.n == 2);
  if (s.n == 2) {
    CHECK_STR(s.keys[0].kid, "rsa-1");
    CHECK(s.keys[0].alg == JWK_RS256);
    check_pem_matches(&s.keys[0], rsa2048);
    CHECK_STR(s.keys[1].kid, "ec_2.b");
    CHECK(s.keys[1].alg == JWK_ES256);
    check_pem_matches(&s.keys[1], ec256);
  }
  jwk_set_free(&s);
  CHECK(is_zeroed(&s));
  jwk_set_free(&s); /* twice is harmless: free zeroes */
  /* alg ES256 stated; members we do not know are ignored */
  CHECK(accepted(one(with(with(ec_jwk(ec256, "e", "P-256", 32), "alg", "ES256"), "x5t", "abc")), 1));
}

static void test_refused_secrets(void) {
  CHECK(refused(one(json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "s", "k", "c2VjcmV0")), "kty oct"));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "alg", "none")), "alg none"));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "alg", "HS256")), "alg HS256"));
  /* even on a key we would otherwise skip */
  CHECK(refused(json_pack("[o, o]", rsa_jwk(rsa2048, "a"), with(ec_jwk(ec384, "b", "P-384", 48), "alg", "none")),
                "alg none"));
  CHECK(refused(one(with(ec_jwk(ec256, "a", "P-256", 32), "d", "AAAA")), "a private key was published"));
  CHECK(refused(one(with(with(rsa_jwk(rsa2048, "a"), "use", "enc"), "p", "AAAA")), "a private key was published"));
  json_t *alg_num = rsa_jwk(rsa2048, "a");
  json_object_set_new(alg_num, "alg", json_integer(256));
  CHECK(refused(one(alg_num), "alg that is not a string"));
}

static void test_rsa_rules(void) {
  CHECK(refused(one(rsa_jwk(rsa1024, "small")), "RSA key small has 1024 bits; at least 2048 are required"));
  json_t *no_n = rsa_jwk(rsa2048, "a");
  json_object_del(no_n, "n");
  CHECK(refused(one(no_n), "no \"n\""));

  json_t *k = rsa_jwk(rsa2048, "a");
  char *n = strdup(json_string_value(json_object_get(k, "n")));
  char *plus = strdup(n);
  plus[5] = '+';
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "n", plus)), "not base64url"));
  size_t len = strlen(n);
  char *padded = malloc(len + 3);
  memcpy(padded, n, len);
  strcpy(padded + len, len % 4 == 2 ? "==" : "="); /* what base64 (not url) would add */
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "n", padded)), "not base64url"));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "n", "")), "not base64url"));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "e", "AQAC")), "unusable exponent"));  /* even */
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "e", "AQ")), "unusable exponent"));    /* 1 */
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "e", "AQAAAAE")), "unusable exponent")); /* 5 bytes */
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "e", "AQAB=")), "not base64url"));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "e", "AQF")), "not base64url")); /* 0x0101 is "AQE" */
  CHECK(accepted(one(with(rsa_jwk(rsa2048, "a"), "e", "Aw")), 1)); /* e = 3 is odd and above 1 */

  /* 8193 bits (not a real modulus; the size is refused before anything else) */
  unsigned char big[1025];
  memset(big, 0xff, sizeof big);
  big[0] = 0x01;
  char *big64 = base64url_encode(big, sizeof big);
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "n", big64)), "has 8193 bits; at most 8192"));
  free(big64);
  /* a leading zero byte does not make 2048 bits into 2056 */
  unsigned char lead[257] = {0};
  lead[1] = 0x80;
  lead[256] = 0x01;
  char *lead64 = base64url_encode(lead, sizeof lead);
  CHECK(accepted(one(with(rsa_jwk(rsa2048, "a"), "n", lead64)), 1));
  lead[256] = 0x02;
  free(lead64);
  lead64 = base64url_encode(lead, sizeof lead);
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "n", lead64)), "even modulus"));
  free(lead64);

  CHECK(accepted(json_pack("[o, o]", rsa_jwk(rsa2048, "a"), with(rsa_jwk(rsa2048, "b"), "alg", "PS256")), 1));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "alg", "RS384")), "no usable signing key"));
  free(n);
  free(plus);
  free(padded);
  json_decref(k);
}

static void test_ec_rules(void) {
  CHECK(refused(one(ec_jwk(ec384, "p384", "P-384", 48)), "no usable signing key"));
  CHECK(accepted(json_pack("[o, o]", ec_jwk(ec384, "p384", "P-384", 48), ec_jwk(ec256, "p256", "P-256", 32)), 1));
  CHECK(refused(one(with(ec_jwk(ec256, "a", "P-256", 32), "alg", "ES384")), "no usable signing key"));

  /* y with its last bit flipped: (x, y') is not on the curve */
  unsigned char y[32];
  size_t y_len = 0;
  json_t *k = ec_jwk(ec256, "off", "P-256", 32);
  unsigned char *raw = base64url_decode(json_string_value(json_object_get(k, "y")),
                                        strlen(json_string_value(json_object_get(k, "y"))), &y_len);
  CHECK(raw && y_len == 32);
  memcpy(y, raw, 32);
  y[31] ^= 1;
  char *bad_y = base64url_encode(y, 32);
  CHECK(refused(one(with(k, "y", bad_y)), "EC key off is not a point on P-256"));
  free(bad_y);
  free(raw);

  json_t *short_x = ec_jwk(ec256, "a", "P-256", 32);
  char *x31 = base64url_encode((const unsigned char *)"0123456789012345678901234567890", 31);
  CHECK(refused(one(with(short_x, "x", x31)), "must be 32 bytes each, not 31 and 32"));
  free(x31);
  json_t *no_crv = ec_jwk(ec256, "a", "P-256", 32);
  json_object_del(no_crv, "crv");
  CHECK(refused(one(no_crv), "no \"crv\""));
  json_t *no_y = ec_jwk(ec256, "a", "P-256", 32);
  json_object_del(no_y, "y");
  CHECK(refused(one(no_y), "no \"y\""));
}

static void test_kids_and_use(void) {
  CHECK(refused(json_pack("[o, o]", rsa_jwk(rsa2048, "k1"), ec_jwk(ec256, "k1", "P-256", 32)),
                "kid k1 appears more than once"));
  /* a skipped key's kid does not count */
  CHECK(accepted(json_pack("[o, o]", rsa_jwk(rsa2048, "k1"), with(ec_jwk(ec256, "k1", "P-256", 32), "use", "enc")), 1));
  CHECK(refused(one(with(rsa_jwk(rsa2048, "a"), "use", "enc")), "no usable signing key"));
  json_t *no_kid = rsa_jwk(rsa2048, "a");
  json_object_del(no_kid, "kid");
  CHECK(refused(one(no_kid), "missing or malformed kid"));
  CHECK(refused(one(rsa_jwk(rsa2048, ".hidden")), "missing or malformed kid"));
  CHECK(refused(one(rsa_jwk(rsa2048, "../etc/passwd")), "missing or malformed kid"));
  CHECK(refused(one(rsa_jwk(rsa2048, "")), "missing or malformed kid"));
  char kid65[66];
  memset(kid65, 'k', 65);
  kid65[65] = '\0';
  CHECK(refused(one(rsa_jwk(rsa2048, kid65)), "missing or malformed kid"));
  kid65[64] = '\0';
  CHECK(accepted(one(rsa_jwk(rsa2048, kid65)), 1));
  CHECK(accepted(json_pack("[o, {s:s, s:s, s:s, s:s}]", rsa_jwk(rsa2048, "a"),
                           "kty", "OKP", "crv", "Ed25519", "kid", "ed", "x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"), 1));
  CHECK(refused(json_pack("[o, i]", rsa_jwk(rsa2048, "a"), 1), "key 1 is not a JSON object"));
  CHECK(refused(json_pack("[{s:s}]", "kid", "a"), "key 0 has no \"kty\""));
}

static void test_document(void) {
  CHECK(refused_text("{\"keys\":[", 9, "not valid JSON"));
  CHECK(refused_text("{\"keys\":\"a\nb\"}", 14, "not valid JSON")); /* and the reason stays one line */
  CHECK(refused_text("[]", 2, "not an object with a \"keys\" array"));
  CHECK(refused_text("{}", 2, "not an object with a \"keys\" array"));
  CHECK(refused_text("{\"keys\":{}}", 11, "not an object with a \"keys\" array"));
  CHECK(refused_text("{\"keys\":[]}", 11, "no usable signing key"));
  CHECK(refused_text("{\"keys\":[]} x", 13, "not valid JSON"));
  CHECK(refused_text("{\"keys\":[],\"keys\":[]}", 21, "duplicate"));
  CHECK(refused_text("{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"EC\"}]}", 35, "duplicate"));
  CHECK(refused_text(NULL, 0, "no JWKS text"));

  /* 2 MiB of otherwise valid JSON: refused for its size, unread */
  size_t big = 2 * 1024 * 1024;
  char *text = malloc(big);
  memset(text, 'a', big);
  memcpy(text, "{\"keys\":[],\"pad\":\"", 18);
  memcpy(text + big - 2, "\"}", 2);
  CHECK(refused_text(text, big, "JWKS is 2097152 bytes; at most 1048576 are accepted"));
  free(text);
}

static json_t *many_keys(int n) {
  json_t *keys = json_array();
  for (int i = 0; i < n; i++) {
    char kid[16];
    snprintf(kid, sizeof kid, "k%d", i);
    json_array_append_new(keys, ec_jwk(ec256, kid, "P-256", 32));
  }
  return keys;
}

static void test_limits(void) {
  CHECK(accepted(many_keys(100), 100));
  CHECK(refused(many_keys(101), "JWKS has 101 keys; at most 100 are accepted"));
}

static void test_free(void) {
  struct jwk_set zero = {0};
  jwk_set_free(&zero);
  CHECK(is_zeroed(&zero));
  jwk_set_free(NULL);
  char err[8]; /* a short buffer truncates, never overflows */
  struct jwk_set s;
  CHECK(jwk_set_parse("[]", 2, &s, err, sizeof err) == -1 && strlen(err) == sizeof err - 1);
  CHECK(jwk_set_parse("[]", 2, &s, NULL, 0) == -1 && is_zeroed(&s));
}

int main(void) {
  rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  CHECK(rsa2048 && rsa1024 && ec256 && ec384);
  if (rsa2048 && rsa1024 && ec256 && ec384) {
    test_good_keys();
    test_refused_secrets();
    test_rsa_rules();
    test_ec_rules();
    test_kids_and_use();
    test_document();
    test_limits();
    test_free();
  }
  EVP_PKEY_free(rsa2048);
  EVP_PKEY_free(rsa1024);
  EVP_PKEY_free(ec256);
  EVP_PKEY_free(ec384);
  return CHECK_DONE();
}
