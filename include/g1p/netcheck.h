/* What a webhook URL may point at. A subscriber chooses the URL and the
 * server then sends requests to it, so without these rules anyone allowed to
 * register a webhook could make the server reach its own loopback, the
 * private network behind it or a cloud metadata service (server-side request
 * forgery). Three layers, each usable alone:
 *   - netcheck_url: the URL as text, refused at registration. Strict on the
 *     spellings that resolvers read as IP addresses (127.1, 0x7f000001,
 *     2130706433, 0177.0.0.1) and on anything parsers disagree about.
 *   - netcheck_resolve: every address a DNS name resolves to, now.
 *   - netcheck_address_allowed: one address. DNS may answer differently at
 *     delivery time than at the check (rebinding), so the delivery code must
 *     also apply this to the address it actually connects to (for libcurl,
 *     in CURLOPT_OPENSOCKETFUNCTION) or pin the checked address.
 * allow_private lifts the private-address rules for tests and on-premises
 * receivers; the unspecified addresses (0.0.0.0, ::) stay refused, since
 * connecting to them reaches the local host. Pure code apart from
 * getaddrinfo() in netcheck_resolve: unit-tested. */
#ifndef G1P_NETCHECK_H
#define G1P_NETCHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETCHECK_URL_MAX 2048   /* bytes, the whole URL */
#define NETCHECK_HOST_MAX 254   /* a DNS name of at most 253 characters + NUL */

struct netcheck_target {
  char host[NETCHECK_HOST_MAX]; /* lower case; an IPv6 literal without its brackets */
  int port;                     /* as written, else 443 for https and 80 for http */
  bool is_ip;                   /* host is an IPv4 or IPv6 literal */
};

/* Checks an absolute URL: scheme https (or http when allow_http); no user
 * info, no fragment; host a DNS name (letters, digits, '-', '.'), a
 * canonical dotted-decimal IPv4 address or a bracketed IPv6 address; an
 * optional port 1-65535; then an optional path and query. At most
 * NETCHECK_URL_MAX bytes of visible ASCII other than '\'. Unless
 * allow_private, an IP literal must pass netcheck_address_allowed and the
 * name "localhost" or any name under ".localhost" is refused. Returns 0 with
 * *out filled (out may be NULL), or -1 with a one-line reason in why (may be
 * NULL). */
int netcheck_url(const char *url, bool allow_http, bool allow_private,
                 struct netcheck_target *out, char *why, size_t why_len);

/* Whether the server may connect to sa (AF_INET or AF_INET6; anything else
 * is refused). Unless allow_private, refused: IPv4 0/8, 10/8, 100.64/10,
 * 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.168/16,
 * 198.18/15, 198.51.100/24, 203.0.113/24, 224/4, 240/4 (with
 * 255.255.255.255); IPv6 ::, ::1, 100::/64, 2001:db8::/32, fc00::/7,
 * fe80::/10, fec0::/10, ff00::/8, 64:ff9b:1::/48, and the forms that carry an
 * IPv4 address (::/96, ::ffff:0:0/96, 64:ff9b::/96, 2002::/16) when that
 * address is refused. With allow_private only 0.0.0.0 and :: (and
 * ::ffff:0.0.0.0) are refused. */
bool netcheck_address_allowed(const struct sockaddr *sa, bool allow_private);

/* Resolves host (a name or an address, without brackets) for port 1-65535
 * and checks every address it gets: 0 when there is at least one and all
 * are allowed, else -1 with a one-line reason in why (may be NULL). */
int netcheck_resolve(const char *host, int port, bool allow_private, char *why, size_t why_len);

#endif
