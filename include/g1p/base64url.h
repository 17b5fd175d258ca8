/* base64url without padding (RFC 4648 section 5): JWT segments and our
 * opaque pagination cursors. */
#ifndef G1P_BASE64URL_H
#define G1P_BASE64URL_H
#include <stddef.h>

/* Returns a NUL-terminated copy of the decoded bytes, or NULL on bad input.
 * Caller frees. */
unsigned char *base64url_decode(const char *in, size_t in_len, size_t *out_len);
/* Returns a NUL-terminated encoding. Caller frees. */
char *base64url_encode(const unsigned char *in, size_t in_len);

#endif
