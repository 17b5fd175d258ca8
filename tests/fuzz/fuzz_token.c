/* libFuzzer harness: bearer tokens and their claims. The first byte picks
 * the target: the whole token verification (header, key choice, libjwt,
 * claims), or the claim parsing of a JSON payload. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "g1p/auth.h"
#include "g1p/base64url.h"

static struct auth_keys *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[128], why[128];
  if (!keys) keys = auth_keys_load("fuzz-secret-0123456789-0123456789-abc", NULL, "https://idp", "g1p", err, sizeof err);
  if (size < 1) return 0;
  struct g1p_principal p;
  if (data[0] & 1) {
    char *token = malloc(size);
    memcpy(token, data + 1, size - 1);
    token[size - 1] = '\0';
    if (auth_verify(keys, token, 1700000000, &p, why, sizeof why) == 0) principal_clear(&p);
    free(token);
  } else {
    json_t *claims = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(claims) && auth_claims_parse(keys, claims, 1700000000, &p, why, sizeof why) == 0) principal_clear(&p);
    json_decref(claims);
    size_t n = 0;
    free(base64url_decode((const char *)data + 1, size - 1, &n));
  }
  return 0;
}
