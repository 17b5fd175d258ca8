/* Unit tests for api/auth.c and api/base64url.c: the claim rules and the
 * algorithm pinning that libjwt 1.10 does not do by itself. Tokens are made
 * with libjwt's own encoder. */
#include <jwt.h>
#include <stdlib.h>
#include "check.h"
#include "g1p/auth.h"
#include "g1p/base64url.h"

static const char SECRET[] = "unit-test-secret-0123456789abcdefghij";

static char *make_token(jwt_alg_t alg, const char *secret, const char *claims_json) {
  jwt_t *jwt = NULL;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims_json);
  jwt_set_alg(jwt, alg, (const unsigned char *)secret, secret ? (int)strlen(secret) : 0);
  char *t = jwt_encode_str(jwt);
  jwt_free(jwt);
  return t;
}

static int verify(const struct auth_keys *k, const char *token, struct g1p_principal *p) {
  char why[128];
  int rc = auth_verify(k, token, 1000000, p, why, sizeof why);
  return rc;
}

static void test_base64url(void) {
  char *e = base64url_encode((const unsigned char *)"meetjesland", 11);
  CHECK_STR(e, "bWVldGplc2xhbmQ");
  size_t n = 0;
  unsigned char *d = base64url_decode(e, strlen(e), &n);
  CHECK(d && n == 11 && memcmp(d, "meetjesland", 11) == 0);
  free(d);
  free(e);
  CHECK(base64url_decode("a+b/", 4, &n) == NULL); /* not the url alphabet */
  CHECK(base64url_decode("abcde", 5, &n) == NULL); /* impossible length */
}

static void test_tokens(void) {
  char err[128];
  struct auth_keys *k = auth_keys_load(SECRET, NULL, NULL, NULL, err, sizeof err);
  struct g1p_principal p;
  CHECK(k != NULL);

  char *good = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"scope\":\"plans:read admin bogus\",\"regions\":[\"gent\",\"Bad Code\"],\"org\":\"d5ec466a-690e-42e6-a885-a8b47f247c37\"}");
  CHECK(verify(k, good, &p) == 0);
  CHECK_STR(p.sub, "c1");
  CHECK(p.scopes == (SCOPE_PLANS_READ | SCOPE_ADMIN));
  CHECK(principal_sees_region(&p, "gent"));
  CHECK(!principal_sees_region(&p, "meetjesland"));
  CHECK_STR(p.regions_pg, "{gent}");
  CHECK_STR(p.org, "d5ec466a-690e-42e6-a885-a8b47f247c37");
  principal_clear(&p);

  char *expired = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":999939}");
  CHECK(verify(k, expired, &p) != 0);
  char *leeway = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":999950}"); /* within 60 s */
  CHECK(verify(k, leeway, &p) == 0);
  principal_clear(&p);
  char *no_exp = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\"}");
  CHECK(verify(k, no_exp, &p) != 0);
  char *nbf = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"nbf\":1000061}");
  CHECK(verify(k, nbf, &p) != 0);
  char *no_sub = make_token(JWT_ALG_HS256, SECRET, "{\"exp\":1000100}");
  CHECK(verify(k, no_sub, &p) != 0);
  char *bad_regions = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"regions\":\"gent\"}");
  CHECK(verify(k, bad_regions, &p) != 0);
  char *other_secret = make_token(JWT_ALG_HS256, "another-secret-0123456789abcdefghijkl", "{\"sub\":\"c1\",\"exp\":1000100}");
  CHECK(verify(k, other_secret, &p) != 0);
  char *none = make_token(JWT_ALG_NONE, NULL, "{\"sub\":\"c1\",\"exp\":1000100}");
  CHECK(verify(k, none, &p) != 0);
  /* the payload of a good token swapped for another: signature no longer matches */
  char tampered[2048];
  snprintf(tampered, sizeof tampered, "%s", good);
  char *dot = strchr(tampered, '.');
  dot[3] = dot[3] == 'A' ? 'B' : 'A';
  CHECK(verify(k, tampered, &p) != 0);
  CHECK(verify(k, "", &p) != 0);
  CHECK(verify(k, "a.b", &p) != 0);
  CHECK(verify(k, "a.b.c.d", &p) != 0);

  free(good); free(expired); free(leeway); free(no_exp); free(nbf); free(no_sub);
  free(bad_regions); free(other_secret); free(none);
  auth_keys_free(k);
}

static void test_issuer_audience(void) {
  char err[128];
  struct auth_keys *k = auth_keys_load(SECRET, NULL, "https://idp.example", "g1p-api", err, sizeof err);
  struct g1p_principal p;
  char *ok = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"g1p-api\"]}");
  CHECK(verify(k, ok, &p) == 0);
  principal_clear(&p);
  char *wrong_iss = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"iss\":\"https://evil\",\"aud\":\"g1p-api\"}");
  CHECK(verify(k, wrong_iss, &p) != 0);
  char *wrong_aud = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"iss\":\"https://idp.example\",\"aud\":\"other\"}");
  CHECK(verify(k, wrong_aud, &p) != 0);
  char *no_aud = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"c1\",\"exp\":1000100,\"iss\":\"https://idp.example\"}");
  CHECK(verify(k, no_aud, &p) != 0);
  free(ok); free(wrong_iss); free(wrong_aud); free(no_aud);
  auth_keys_free(k);
}

/* The cache answers a repeated token without verifying it again, but still
 * checks its validity window, and never across key sets. */
static void test_cache(void) {
  char err[128], why[128];
  struct auth_keys *k = auth_keys_load(SECRET, NULL, NULL, NULL, err, sizeof err);
  struct auth_keys *k2 = auth_keys_load(SECRET, NULL, NULL, NULL, err, sizeof err);
  struct auth_keys *other = auth_keys_load("another-secret-0123456789abcdefghijkl", NULL, NULL, NULL, err, sizeof err);
  struct g1p_principal p;
  char *t = make_token(JWT_ALG_HS256, SECRET, "{\"sub\":\"cached\",\"exp\":1000100,\"nbf\":999990,\"regions\":[\"gent\"]}");
  CHECK(auth_verify_cached(k, t, 1000000, &p, why, sizeof why) == 0);
  principal_clear(&p);
  CHECK(auth_verify_cached(k, t, 1000001, &p, why, sizeof why) == 0); /* a hit */
  CHECK_STR(p.sub, "cached");
  CHECK_STR(p.regions_pg, "{gent}");
  principal_clear(&p);
  CHECK(auth_verify_cached(k, t, 1000161, &p, why, sizeof why) != 0); /* expired while cached */
  CHECK(auth_verify_cached(k, t, 999900, &p, why, sizeof why) != 0);  /* before nbf - leeway */
  CHECK(auth_verify_cached(k2, t, 1000001, &p, why, sizeof why) == 0); /* another set verifies again */
  principal_clear(&p);
  CHECK(auth_verify_cached(other, t, 1000001, &p, why, sizeof why) != 0); /* and may refuse */
  free(t);
  auth_keys_free(k);
  auth_keys_free(k2);
  auth_keys_free(other);
}

int main(void) {
  test_cache();
  test_base64url();
  test_tokens();
  test_issuer_audience();
  return CHECK_DONE();
}
