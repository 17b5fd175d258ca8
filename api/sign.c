/* Standard Webhooks signatures; see include/g1p/sign.h. The MAC is OpenSSL
 * 3's EVP_MAC (HMAC over SHA-256), fed the id, the timestamp and the body in
 * pieces so a large body is never copied to be signed. Keys are wiped from
 * the stack once used. */
#include <errno.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include "g1p/sign.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int sign_b64_encode(const unsigned char *in, size_t len, char *out, size_t out_len) {
  if (out && out_len > 0) out[0] = '\0';
  if (!out || (!in && len > 0) || len > (size_t)INT_MAX / 4 * 3 - 3) return -1;
  size_t need = (len + 2) / 3 * 4;
  if (out_len <= need) return -1;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned int n = (unsigned int)in[i] << 16;
    if (i + 1 < len) n |= (unsigned int)in[i + 1] << 8;
    if (i + 2 < len) n |= in[i + 2];
    out[o++] = ALPHABET[(n >> 18) & 63];
    out[o++] = ALPHABET[(n >> 12) & 63];
    out[o++] = i + 1 < len ? ALPHABET[(n >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? ALPHABET[n & 63] : '=';
  }
  out[o] = '\0';
  return (int)o;
}

/* One spelling per value: a secret compared or logged in its text form
 * then means one key, and a lenient decoder's guesses (missing padding,
 * stray bits) cannot turn a mistyped secret into a different working key. */
int sign_b64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_max, size_t *out_len) {
  if (!in || !out || !out_len || in_len % 4 != 0) return -1;
  size_t pad = 0;
  if (in_len >= 4 && in[in_len - 1] == '=') pad = in[in_len - 2] == '=' ? 2 : 1;
  size_t n = in_len / 4 * 3 - pad;
  if (n > out_max) return -1;
  size_t o = 0;
  for (size_t i = 0; i < in_len; i += 4) {
    bool last = i + 4 == in_len;
    int v[4];
    for (size_t j = 0; j < 4; j++) {
      /* '=' is no letter of the alphabet: b64_value refuses it anywhere but
       * in the padding positions of the last group, which are skipped here. */
      v[j] = last && j >= 4 - pad ? 0 : b64_value((unsigned char)in[i + j]);
      if (v[j] < 0) return -1;
    }
    if (last && pad == 1 && (v[2] & 0x03)) return -1;
    if (last && pad == 2 && (v[1] & 0x0f)) return -1;
    unsigned int w = (unsigned int)v[0] << 18 | (unsigned int)v[1] << 12 | (unsigned int)v[2] << 6 | (unsigned int)v[3];
    out[o++] = (unsigned char)(w >> 16);
    if (o < n) out[o++] = (unsigned char)(w >> 8 & 0xff);
    if (o < n) out[o++] = (unsigned char)(w & 0xff);
  }
  *out_len = n;
  return 0;
}

/* getrandom() without flags blocks only until the kernel's pool is first
 * initialised; a signal can cut it short, hence the loop. */
static int fill_random(unsigned char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = getrandom(buf + got, len - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

int sign_secret_new(char out[SIGN_SECRET_MAX]) {
  unsigned char key[SIGN_SECRET_BYTES];
  size_t plen = strlen(SIGN_SECRET_PREFIX);
  int rc = -1;
  out[0] = '\0';
  if (fill_random(key, sizeof key) != 0) goto done;
  memcpy(out, SIGN_SECRET_PREFIX, plen);
  if (sign_b64_encode(key, sizeof key, out + plen, SIGN_SECRET_MAX - plen) < 0) goto done;
  rc = 0;
done:
  if (rc != 0) out[0] = '\0';
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

int sign_secret_key(const char *secret, unsigned char key[SIGN_KEY_MAX], size_t *key_len) {
  size_t plen = strlen(SIGN_SECRET_PREFIX);
  size_t n = 0;
  int rc = -1;
  if (!secret || !key || !key_len || strncmp(secret, SIGN_SECRET_PREFIX, plen) != 0) goto done;
  const char *b64 = secret + plen;
  if (sign_b64_decode(b64, strlen(b64), key, SIGN_KEY_MAX, &n) != 0 || n < SIGN_KEY_MIN) goto done;
  *key_len = n;
  rc = 0;
done:
  if (rc != 0 && key) OPENSSL_cleanse(key, SIGN_KEY_MAX);
  if (rc != 0 && key_len) *key_len = 0;
  return rc;
}

/* The id goes out as the webhook-id header and into the signed text, where
 * a space or a line break would make the two disagree or split the header. */
static bool msg_id_ok(const char *id) {
  if (!id || !*id) return false;
  for (const char *c = id; *c; c++)
    if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) return false;
  return true;
}

int sign_v1(const char *secret, const char *msg_id, long long timestamp,
            const char *body, size_t body_len, char *out, size_t out_len) {
  unsigned char key[SIGN_KEY_MAX];
  size_t key_len = 0;
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  char ts[24];
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
    OSSL_PARAM_construct_end(),
  };
  /* Fetched per call: no global state to set up or tear down, and a
   * delivery's network round trip dwarfs the cost. */
  EVP_MAC *hmac = NULL;
  EVP_MAC_CTX *ctx = NULL;
  int rc = -1;
  if (!out || out_len < 4) goto done;
  out[0] = '\0';
  if (!msg_id_ok(msg_id) || timestamp < 0 || (!body && body_len > 0)) goto done;
  if (sign_secret_key(secret, key, &key_len) != 0) goto done;
  snprintf(ts, sizeof ts, "%lld", timestamp);
  if (!(hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(ctx = EVP_MAC_CTX_new(hmac))) goto done;
  if (EVP_MAC_init(ctx, key, key_len, params) != 1
      || EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) != 1
      || EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1
      || EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1
      || EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1
      || (body_len > 0 && EVP_MAC_update(ctx, (const unsigned char *)body, body_len) != 1)
      || EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) != 1)
    goto done;
  memcpy(out, "v1,", 3);
  if (sign_b64_encode(mac, mac_len, out + 3, out_len - 3) < 0) goto done;
  rc = 0;
done:
  if (rc != 0 && out && out_len > 0) out[0] = '\0';
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(hmac);
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

int sign_header(const char *const *secrets, size_t n, const char *msg_id, long long ts,
                const char *body, size_t len, char *out, size_t out_len) {
  size_t used = 0;
  int rc = -1;
  if (!out || out_len == 0) return -1;
  out[0] = '\0';
  if (!secrets || n == 0) goto done;
  for (size_t i = 0; i < n; i++) {
    if (i > 0) {
      if (used + 1 >= out_len) goto done;
      out[used++] = ' ';
      out[used] = '\0';
    }
    if (sign_v1(secrets[i], msg_id, ts, body, len, out + used, out_len - used) != 0) goto done;
    used += strlen(out + used);
  }
  rc = 0;
done:
  if (rc != 0) out[0] = '\0';
  return rc;
}
