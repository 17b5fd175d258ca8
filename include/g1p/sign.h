/* Signatures for outgoing webhooks, as Standard Webhooks 1.0 defines them:
 * a subscriber's secret is "whsec_" + base64 of its key, and each delivery
 * carries webhook-id, webhook-timestamp and webhook-signature headers, the
 * last holding "v1,<base64 of HMAC-SHA256(key, id.timestamp.body)>" once per
 * live secret, space-separated, so a subscriber rotating its secret accepts
 * both for a while. base64 here is the standard alphabet with padding
 * (RFC 4648 section 4), not the base64url of base64url.h. Pure code apart
 * from getrandom(): unit-tested against the specification's test vector. */
#ifndef G1P_SIGN_H
#define G1P_SIGN_H
#include <stddef.h>

#define SIGN_SECRET_PREFIX "whsec_"
#define SIGN_SECRET_BYTES 32   /* the key of a secret we generate */
#define SIGN_KEY_MIN 24        /* shorter keys are refused (the spec's own vector is 24) */
#define SIGN_KEY_MAX 64        /* HMAC-SHA256's block size: a longer key is hashed first, gaining nothing */
/* "whsec_" + 44 characters of base64 for 32 bytes + NUL. */
#define SIGN_SECRET_MAX 51
/* "v1," + 44 characters of base64 for a SHA-256 MAC + NUL. */
#define SIGN_V1_MAX 48

/* Standard base64 with padding of in (len bytes) into out, NUL-terminated.
 * Returns the length written (without the NUL), or -1 when out is too small. */
int sign_b64_encode(const unsigned char *in, size_t len, char *out, size_t out_len);
/* Decodes standard base64 with padding (in_len characters, no whitespace)
 * into out (at most out_max bytes). Only the canonical spelling is taken:
 * length a multiple of 4, '=' only at the end, unused bits zero. Returns 0
 * with *out_len set, or -1 (bad input or too long for out). */
int sign_b64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_max, size_t *out_len);

/* A new secret: "whsec_" + base64 of SIGN_SECRET_BYTES from getrandom().
 * 0, or -1 when the kernel gave no randomness. */
int sign_secret_new(char out[SIGN_SECRET_MAX]);
/* The HMAC key of a "whsec_<base64>" secret into key (SIGN_KEY_MIN to
 * SIGN_KEY_MAX bytes), *key_len set. -1 for anything else: no prefix, empty,
 * bad base64, a key too short or too long. */
int sign_secret_key(const char *secret, unsigned char key[SIGN_KEY_MAX], size_t *key_len);
/* One signature, "v1,<base64>", into out (SIGN_V1_MAX is enough). msg_id
 * must be non-empty visible ASCII (it travels in the webhook-id header),
 * timestamp Unix seconds (not negative); body may hold any bytes, NUL
 * included, and may be NULL when body_len is 0. 0 or -1; on -1 out is "". */
int sign_v1(const char *secret, const char *msg_id, long long timestamp,
            const char *body, size_t body_len, char *out, size_t out_len);
/* The webhook-signature header value: sign_v1 for each of the n (at least
 * one) secrets, in order, separated by one space. n * SIGN_V1_MAX is enough
 * for out. 0 or -1; on -1 out is "". */
int sign_header(const char *const *secrets, size_t n, const char *msg_id, long long ts,
                const char *body, size_t len, char *out, size_t out_len);

#endif
