/* Cross-origin requests from the coaches' and coordinators' web apps
 * (CORS_ALLOWED_ORIGINS): exact origins only, bearer tokens only (no
 * credentials mode, so no Allow-Credentials). The list is parsed once at
 * start-up; matching and the headers are written per request by http.c. */
#ifndef G1P_CORS_H
#define G1P_CORS_H
#include <stdbool.h>
#include <stddef.h>

#define CORS_MAX_ORIGINS 32

struct cors_origins {
  char *list[CORS_MAX_ORIGINS]; /* each a serialized origin: scheme://host[:port] */
  size_t n;
};

/* What a browser may send and read, as the contract documents. */
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, Accept"
#define CORS_EXPOSE_HEADERS "ETag, Location, X-Request-Id, Retry-After, WWW-Authenticate"
#define CORS_MAX_AGE "600"

/* Parses a comma-separated list of exact origins ("https://coach.example.be,
 * http://localhost:5173"): lowercase http or https, a host name, IPv4 or
 * bracketed IPv6 address, an optional port 1-65535, nothing else (no path, no
 * trailing slash, no user info, no wildcard). NULL or "" gives an empty list
 * (CORS off). -1 with a one-line reason in err otherwise. */
int cors_parse(const char *text, struct cors_origins *out, char *err, size_t err_len);
/* True when origin (as sent in the Origin header) is one of the list. */
bool cors_allows(const struct cors_origins *o, const char *origin);
void cors_free(struct cors_origins *o);

#endif
