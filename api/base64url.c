/* base64url without padding; see include/g1p/base64url.h. */
#include <stdlib.h>
#include "g1p/base64url.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int value_of(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

unsigned char *base64url_decode(const char *in, size_t in_len, size_t *out_len) {
  if (in_len % 4 == 1) return NULL;
  unsigned char *out = malloc(in_len * 3 / 4 + 3);
  if (!out) return NULL;
  size_t o = 0;
  unsigned int acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in_len; i++) {
    int v = value_of((unsigned char)in[i]);
    if (v < 0) { free(out); return NULL; }
    acc = ((acc << 6) | (unsigned int)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)((acc >> bits) & 0xff);
    }
  }
  out[o] = '\0';
  *out_len = o;
  return out;
}

char *base64url_encode(const unsigned char *in, size_t in_len) {
  char *out = malloc((in_len + 2) / 3 * 4 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < in_len; i += 3) {
    unsigned int n = (unsigned int)in[i] << 16;
    if (i + 1 < in_len) n |= (unsigned int)in[i + 1] << 8;
    if (i + 2 < in_len) n |= in[i + 2];
    out[o++] = ALPHABET[(n >> 18) & 63];
    out[o++] = ALPHABET[(n >> 12) & 63];
    if (i + 1 < in_len) out[o++] = ALPHABET[(n >> 6) & 63];
    if (i + 2 < in_len) out[o++] = ALPHABET[n & 63];
  }
  out[o] = '\0';
  return out;
}
