/* Unit tests for api/sign.c: standard base64, whsec_ secrets and Standard
 * Webhooks v1 signatures. The expected signatures beyond the specification's
 * own vector were computed independently with node's crypto.createHmac when
 * the test was written. */
#include <stdbool.h>
#include "check.h"
#include "g1p/sign.h"

static bool encodes_to(const char *in, const char *want) {
  char out[64];
  int n = sign_b64_encode((const unsigned char *)in, strlen(in), out, sizeof out);
  return n == (int)strlen(want) && strcmp(out, want) == 0;
}

static bool decodes_to(const char *in, const char *want) {
  unsigned char out[64];
  size_t n = 99;
  return sign_b64_decode(in, strlen(in), out, sizeof out, &n) == 0
      && n == strlen(want) && memcmp(out, want, n) == 0;
}

static bool decodes(const char *in) {
  unsigned char out[64];
  size_t n;
  return sign_b64_decode(in, strlen(in), out, sizeof out, &n) == 0;
}

static void test_base64(void) {
  /* RFC 4648 section 10 */
  static const char *const V[][2] = {
    {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
    CHECK(encodes_to(V[i][0], V[i][1]));
    CHECK(decodes_to(V[i][1], V[i][0]));
  }
  const unsigned char hi[] = {0xfb, 0xff, 0xfe};
  char out[8];
  CHECK(sign_b64_encode(hi, sizeof hi, out, sizeof out) == 4);
  CHECK_STR(out, "+//+");                /* standard alphabet, not base64url */
  CHECK(sign_b64_encode(hi, sizeof hi, out, 4) == -1); /* no room for the NUL */
  CHECK(!decodes("-__-"));              /* base64url letters */
  CHECK(!decodes("Zg"));                /* padding required */
  CHECK(!decodes("Zg="));
  CHECK(!decodes("Zh=="));              /* unused bits not zero */
  CHECK(!decodes("Zm9="));
  CHECK(!decodes("Z==="));
  CHECK(!decodes("===="));
  CHECK(!decodes("Zg==Zg=="));          /* padding in the middle */
  CHECK(!decodes("Zm 9v"));
  CHECK(!decodes("Zm9v\n"));
  unsigned char small[2];
  size_t n;
  CHECK(sign_b64_decode("Zm9v", 4, small, sizeof small, &n) == -1); /* 3 bytes into 2 */
  CHECK(sign_b64_decode("Zm8=", 4, small, sizeof small, &n) == 0 && n == 2);
}

static void test_secret_key(void) {
  unsigned char key[SIGN_KEY_MAX];
  size_t len = 0;
  CHECK(sign_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len) == 0 && len == 24);
  CHECK(key[0] == 0x31 && key[1] == 0xf2 && key[23] == 0xb0);
  CHECK(sign_secret_key("whsec_//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eDf3t3c29rZ2NfW1dTT0tHQz87NzMvKycjHxsXEw8LBwA==",
                        key, &len) == 0 && len == 64);
  CHECK(sign_secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len) == -1);        /* no prefix */
  CHECK(len == 0);
  CHECK(sign_secret_key("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len) == -1);
  CHECK(sign_secret_key("whsec-MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len) == -1);
  CHECK(sign_secret_key(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len) == -1);
  CHECK(sign_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ", key, &len) == -1);
  CHECK(sign_secret_key("whsec_", key, &len) == -1);                                  /* empty */
  CHECK(sign_secret_key("", key, &len) == -1);
  CHECK(sign_secret_key(NULL, key, &len) == -1);
  CHECK(sign_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", key, &len) == -1);  /* bad base64 */
  CHECK(sign_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", key, &len) == -1);   /* not a multiple of 4 */
  CHECK(sign_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw_-", key, &len) == -1);
  /* 24 and 64 bytes are the bounds: 23 is too short, 65 too long */
  CHECK(sign_secret_key("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", key, &len) == 0 && len == 24);
  CHECK(sign_secret_key("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=", key, &len) == -1);
  CHECK(sign_secret_key("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlBQkNERUYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OUFCQ0RFRg==",
                        key, &len) == 0 && len == 64);
  CHECK(sign_secret_key("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlBQkNERUYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OUFCQ0RFRlg=",
                        key, &len) == -1);
}

static void test_secret_new(void) {
  char a[SIGN_SECRET_MAX], b[SIGN_SECRET_MAX];
  unsigned char key[SIGN_KEY_MAX];
  size_t len = 0;
  CHECK(sign_secret_new(a) == 0);
  CHECK(sign_secret_new(b) == 0);
  CHECK(strncmp(a, "whsec_", 6) == 0);
  CHECK(strlen(a) == SIGN_SECRET_MAX - 1);
  CHECK(strcmp(a, b) != 0);
  CHECK(sign_secret_key(a, key, &len) == 0 && len == SIGN_SECRET_BYTES);
  CHECK(sign_secret_key(b, key, &len) == 0 && len == SIGN_SECRET_BYTES);
}

#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS 1614265330LL
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* Computed with node: a 32-byte key (i * 7 + 3), and a 64-byte key
 * (255 - i), over a body with UTF-8 and an embedded NUL. */
#define NODE_SECRET_32 "whsec_AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dw="
#define NODE_SECRET_64 "whsec_//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eDf3t3c29rZ2NfW1dTT0tHQz87NzMvKycjHxsXEw8LBwA=="
#define NODE_ID "msg_2Ld0hYkBq5Gq3cYQ5ZcGmRXrJ8w"
#define NODE_TS 1700000000LL
static const char NODE_BODY[] = "{\"event\":\"referral.created\",\"name\":\"J\xc3\xb6rg\"}\0tail";
#define NODE_SIG_32 "v1,fd1GXdtRU5Fcv08F1K+mExByaLDboiT2zOcOb/H5LwA="
#define NODE_SIG_64 "v1,NJ1VET4imoEvjTm5QqRmmhzlQglboXmpRMSgvkDWIcc="
#define NODE_SIG_EMPTY "v1,62ch78LJ1NiVnvMQrQNN6k4pHfy9tzP3Sta0kJaBNkc=" /* 64-byte key, id "m", ts 0, empty body */

static void test_v1(void) {
  char out[SIGN_V1_MAX];
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == 0);
  CHECK_STR(out, SPEC_SIG);
  CHECK(strlen(out) == SIGN_V1_MAX - 1);
  CHECK(sign_v1(NODE_SECRET_32, NODE_ID, NODE_TS, NODE_BODY, sizeof NODE_BODY - 1, out, sizeof out) == 0);
  CHECK_STR(out, NODE_SIG_32);
  CHECK(sign_v1(NODE_SECRET_64, NODE_ID, NODE_TS, NODE_BODY, sizeof NODE_BODY - 1, out, sizeof out) == 0);
  CHECK_STR(out, NODE_SIG_64);
  CHECK(sign_v1(NODE_SECRET_64, "m", 0, NULL, 0, out, sizeof out) == 0);
  CHECK_STR(out, NODE_SIG_EMPTY);
  CHECK(sign_v1(NODE_SECRET_64, "m", 0, "", 0, out, sizeof out) == 0);
  CHECK_STR(out, NODE_SIG_EMPTY);
  /* the body is signed up to body_len, past the NUL */
  CHECK(sign_v1(NODE_SECRET_32, NODE_ID, NODE_TS, NODE_BODY, strlen(NODE_BODY), out, sizeof out) == 0);
  CHECK(strcmp(out, NODE_SIG_32) != 0);
  /* any change to id, timestamp or body changes the signature */
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, SPEC_TS + 1, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == 0);
  CHECK(strcmp(out, SPEC_SIG) != 0);
  CHECK(sign_v1(SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJeK", SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == 0);
  CHECK(strcmp(out, SPEC_SIG) != 0);
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY) - 1, out, sizeof out) == 0);
  CHECK(strcmp(out, SPEC_SIG) != 0);

  /* refusals leave out empty */
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, SIGN_V1_MAX - 1) == -1);
  CHECK_STR(out, "");
  CHECK(sign_v1("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK_STR(out, "");
  CHECK(sign_v1(SPEC_SECRET, "", SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK(sign_v1(SPEC_SECRET, NULL, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK(sign_v1(SPEC_SECRET, "msg 1", SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK(sign_v1(SPEC_SECRET, "msg_1\r\nX-Evil: 1", SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, -1, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, SPEC_TS, NULL, 3, out, sizeof out) == -1);
  CHECK(sign_v1(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), NULL, 0) == -1);
}

static void test_header(void) {
  char out[3 * SIGN_V1_MAX];
  const char *const one[] = {SPEC_SECRET};
  CHECK(sign_header(one, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == 0);
  CHECK_STR(out, SPEC_SIG);
  /* rotation: the new secret and the old, both valid for a while */
  const char *const two[] = {SPEC_SECRET, NODE_SECRET_32};
  CHECK(sign_header(two, 2, NODE_ID, NODE_TS, NODE_BODY, sizeof NODE_BODY - 1, out, sizeof out) == 0);
  char want[3 * SIGN_V1_MAX], first[SIGN_V1_MAX];
  CHECK(sign_v1(SPEC_SECRET, NODE_ID, NODE_TS, NODE_BODY, sizeof NODE_BODY - 1, first, sizeof first) == 0);
  snprintf(want, sizeof want, "%s %s", first, NODE_SIG_32);
  CHECK_STR(out, want);
  CHECK(strlen(out) == 2 * (SIGN_V1_MAX - 1) + 1);
  const char *const three[] = {NODE_SECRET_64, NODE_SECRET_32, SPEC_SECRET};
  CHECK(sign_header(three, 3, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == 0);
  CHECK(strlen(out) == 3 * (SIGN_V1_MAX - 1) + 2);
  CHECK(strcmp(out + 2 * SIGN_V1_MAX, SPEC_SIG) == 0);

  /* n * SIGN_V1_MAX is enough, one byte less is not */
  CHECK(sign_header(two, 2, NODE_ID, NODE_TS, NODE_BODY, sizeof NODE_BODY - 1, out, 2 * SIGN_V1_MAX) == 0);
  CHECK(sign_header(two, 2, NODE_ID, NODE_TS, NODE_BODY, sizeof NODE_BODY - 1, out, 2 * SIGN_V1_MAX - 1) == -1);
  CHECK_STR(out, "");
  /* one bad secret spoils the header rather than leaving a partial one */
  const char *const bad[] = {SPEC_SECRET, "whsec_short+="};
  CHECK(sign_header(bad, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK_STR(out, "");
  CHECK(sign_header(one, 0, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
  CHECK(sign_header(NULL, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out) == -1);
}

int main(void) {
  test_base64();
  test_secret_key();
  test_secret_new();
  test_v1();
  test_header();
  return CHECK_DONE();
}
