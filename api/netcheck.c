/* Server-side request forgery rules for webhook URLs; see
 * include/g1p/netcheck.h. The URL parser is deliberately narrower than RFC
 * 3986: every URL it accepts must mean the same host to us, to libcurl and to
 * the C library's resolver, so whatever those might read differently
 * (numeric shorthands, percent-escapes or Unicode in the host, a backslash,
 * user info) is refused rather than interpreted. Reasons never quote the
 * input, so they are safe on a log line and in a problem's detail. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "g1p/netcheck.h"

__attribute__((format(printf, 3, 4)))
static int refuse(char *why, size_t why_len, const char *fmt, ...) {
  if (why && why_len > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* IPv4 blocks that are not the public Internet (IANA special-purpose
 * registry), in host byte order. */
static const struct { uint32_t net; int bits; } V4_REFUSED[] = {
  {0x00000000, 8},   /* 0/8 "this network"; Linux connects 0.0.0.0 to itself */
  {0x0a000000, 8},   /* 10/8 private */
  {0x64400000, 10},  /* 100.64/10 shared address space (carrier-grade NAT) */
  {0x7f000000, 8},   /* 127/8 loopback */
  {0xa9fe0000, 16},  /* 169.254/16 link-local, with the cloud metadata service */
  {0xac100000, 12},  /* 172.16/12 private */
  {0xc0000000, 24},  /* 192.0.0/24 IETF protocol assignments */
  {0xc0000200, 24},  /* 192.0.2/24 TEST-NET-1 */
  {0xc0a80000, 16},  /* 192.168/16 private */
  {0xc6120000, 15},  /* 198.18/15 benchmarking */
  {0xc6336400, 24},  /* 198.51.100/24 TEST-NET-2 */
  {0xcb007100, 24},  /* 203.0.113/24 TEST-NET-3 */
  {0xe0000000, 4},   /* 224/4 multicast */
  {0xf0000000, 4},   /* 240/4 reserved, 255.255.255.255 broadcast included */
};

static bool v4_allowed(uint32_t a, bool allow_private) {
  if (a == 0) return false;
  if (allow_private) return true;
  for (size_t i = 0; i < sizeof V4_REFUSED / sizeof V4_REFUSED[0]; i++) {
    uint32_t mask = 0xffffffffu << (32 - V4_REFUSED[i].bits);
    if ((a & mask) == V4_REFUSED[i].net) return false;
  }
  return true;
}

static uint32_t v4_at(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool has_prefix(const unsigned char *a, const unsigned char *prefix, size_t n) {
  return memcmp(a, prefix, n) == 0;
}

/* The forms that carry an IPv4 address are judged by that address: a
 * dual-stack socket connects ::ffff:127.0.0.1 to the IPv4 loopback, and a
 * NAT64 or 6to4 gateway forwards to the embedded address. */
static bool v6_allowed(const unsigned char a[16], bool allow_private) {
  static const unsigned char COMPAT[12] = {0};
  static const unsigned char MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char NAT64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static const unsigned char NAT64_LOCAL[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
  static const unsigned char DISCARD[8] = {0x01, 0x00, 0, 0, 0, 0, 0, 0};
  static const unsigned char DOC[4] = {0x20, 0x01, 0x0d, 0xb8};
  bool compat = has_prefix(a, COMPAT, 12);
  if (compat && v4_at(a + 12) == 0) return false;                 /* :: */
  if (has_prefix(a, MAPPED, 12)) return v4_allowed(v4_at(a + 12), allow_private);
  if (allow_private) return true;
  if (compat) return v4_at(a + 12) != 1 && v4_allowed(v4_at(a + 12), false); /* ::1, ::/96 */
  if (has_prefix(a, NAT64, 12)) return v4_allowed(v4_at(a + 12), false);     /* 64:ff9b::/96 */
  if (a[0] == 0x20 && a[1] == 0x02) return v4_allowed(v4_at(a + 2), false);  /* 2002::/16 6to4 */
  if (has_prefix(a, NAT64_LOCAL, 6)) return false;   /* 64:ff9b:1::/48 local-use NAT64 */
  if (has_prefix(a, DISCARD, 8)) return false;       /* 100::/64 discard-only */
  if (has_prefix(a, DOC, 4)) return false;           /* 2001:db8::/32 documentation */
  if ((a[0] & 0xfe) == 0xfc) return false;           /* fc00::/7 unique local */
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return false; /* fe80::/10 link-local */
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return false; /* fec0::/10 old site-local */
  if (a[0] == 0xff) return false;                    /* ff00::/8 multicast */
  return true;
}

bool netcheck_address_allowed(const struct sockaddr *sa, bool allow_private) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    return v4_allowed(ntohl(in->sin_addr.s_addr), allow_private);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    return v6_allowed(in6->sin6_addr.s6_addr, allow_private);
  }
  return false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Whether a resolver would take host for an IPv4 address in one of
 * inet_aton's spellings, or a WHATWG URL parser would: the last label (one
 * trailing dot aside) is a decimal number or 0x and hex digits. Then it has
 * to be the one spelling everyone reads alike. */
static bool looks_numeric(const char *h, size_t n) {
  if (n > 0 && h[n - 1] == '.') n--;
  size_t start = n;
  while (start > 0 && h[start - 1] != '.') start--;
  const char *l = h + start;
  size_t ln = n - start;
  if (ln == 0) return false;
  size_t i = 0;
  if (ln >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
    for (i = 2; i < ln; i++) if (!is_hex(l[i])) return false;
    return true;
  }
  for (i = 0; i < ln; i++) if (!is_digit(l[i])) return false;
  return true;
}

/* Four decimal numbers 0-255, no leading zeros, nothing else. */
static bool dotted_decimal(const char *h, size_t n, uint32_t *addr) {
  uint32_t a = 0;
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part > 0 && (i >= n || h[i++] != '.')) return false;
    size_t start = i;
    unsigned int v = 0;
    while (i < n && is_digit(h[i]) && i - start < 3) v = v * 10 + (unsigned int)(h[i++] - '0');
    size_t digits = i - start;
    if (digits == 0 || v > 255 || (digits > 1 && h[start] == '0')) return false;
    a = a << 8 | v;
  }
  if (i != n) return false;
  *addr = a;
  return true;
}

/* RFC 1123 host name: labels of letters, digits and inner hyphens, 1-63
 * characters each, 253 in all; one trailing dot (a fully qualified name) is
 * allowed. No '_', '%' or anything else a resolver or curl might rewrite. */
static bool dns_name(const char *h, size_t n) {
  if (n > 0 && h[n - 1] == '.') n--;
  if (n == 0 || n > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || h[i] == '.') {
      if (label == 0 || label > 63 || h[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!is_alpha(h[i]) && !is_digit(h[i]) && h[i] != '-') return false;
    if (label == 0 && h[i] == '-') return false;
    label++;
  }
  return true;
}

static bool names_localhost(const char *h) {
  size_t n = strlen(h);
  if (n > 0 && h[n - 1] == '.') n--;
  static const char LOCAL[] = "localhost";
  size_t ln = sizeof LOCAL - 1;
  if (n == ln) return strncmp(h, LOCAL, ln) == 0;
  return n > ln && h[n - ln - 1] == '.' && strncmp(h + n - ln, LOCAL, ln) == 0;
}

/* 1-65535 in at most five decimal digits; an empty port (a legal "host:")
 * is refused as a likely mistake. */
static bool parse_port(const char *p, size_t n, int *port) {
  if (n == 0 || n > 5) return false;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(p[i])) return false;
    v = v * 10 + (p[i] - '0');
  }
  if (v < 1 || v > 65535) return false;
  *port = v;
  return true;
}

static void lower_copy(char *out, const char *in, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
  out[n] = '\0';
}

/* The host and port of authority a (len bytes, no user info) into t, with
 * the address of an IP literal into ss. */
static int parse_authority(const char *a, size_t len, struct netcheck_target *t,
                           struct sockaddr_storage *ss, char *why, size_t why_len) {
  const char *host = a, *after;
  size_t hlen;
  bool bracketed = len > 0 && a[0] == '[';
  if (bracketed) {
    const char *close = memchr(a, ']', len);
    if (!close) return refuse(why, why_len, "the IPv6 address has no closing ']'");
    host = a + 1;
    hlen = (size_t)(close - host);
    after = close + 1;
  } else {
    const char *colon = memchr(a, ':', len);
    hlen = colon ? (size_t)(colon - a) : len;
    after = a + hlen;
  }
  size_t after_len = (size_t)(a + len - after);
  if (hlen == 0) return refuse(why, why_len, "the URL has no host");
  if (after_len > 0 && (after[0] != ':' || !parse_port(after + 1, after_len - 1, &t->port)))
    return refuse(why, why_len, "the port must be a number from 1 to 65535");
  if (hlen >= sizeof t->host) return refuse(why, why_len, "the host is longer than 253 characters");
  lower_copy(t->host, host, hlen);

  if (bracketed) {
    /* inet_pton takes no zone ("%25eth0") and no IPvFuture ("v1.x"). */
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, t->host, &in6->sin6_addr) != 1)
      return refuse(why, why_len, "the IPv6 address is not valid");
    t->is_ip = true;
    return 0;
  }
  if (looks_numeric(host, hlen)) {
    uint32_t v4;
    if (!dotted_decimal(host, hlen, &v4))
      return refuse(why, why_len, "a numeric host must be written as four decimal numbers");
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(v4);
    t->is_ip = true;
    return 0;
  }
  if (!dns_name(host, hlen))
    return refuse(why, why_len, "the host is not a valid DNS name (letters, digits, '-' and '.'; xn-- for international names)");
  return 0;
}

int netcheck_url(const char *url, bool allow_http, bool allow_private,
                 struct netcheck_target *out, char *why, size_t why_len) {
  struct netcheck_target t = {.port = 443};
  struct sockaddr_storage ss = {0};
  const char *rest;
  if (why && why_len > 0) why[0] = '\0';
  if (out) memset(out, 0, sizeof *out);
  if (!url || !*url) return refuse(why, why_len, "the URL is empty");
  size_t len = strnlen(url, NETCHECK_URL_MAX + 1);
  if (len > NETCHECK_URL_MAX) return refuse(why, why_len, "the URL is longer than %d bytes", NETCHECK_URL_MAX);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c == 0x7f) return refuse(why, why_len, "the URL contains whitespace or control characters");
    /* IDNA would map fullwidth digits and dots to ASCII ones, turning a
     * "name" into 127.0.0.1 after our checks. */
    if (c >= 0x80) return refuse(why, why_len, "the URL must be ASCII (an international name in its xn-- form)");
    /* WHATWG parsers read '\' as '/', libcurl does not: two different hosts. */
    if (c == '\\') return refuse(why, why_len, "the URL must not contain a backslash");
  }
  if (strncasecmp(url, "https://", 8) == 0) {
    rest = url + 8;
  } else if (allow_http && strncasecmp(url, "http://", 7) == 0) {
    rest = url + 7;
    t.port = 80;
  } else {
    return refuse(why, why_len, allow_http ? "the URL must start with https:// or http://" : "the URL must start with https://");
  }
  if (strchr(rest, '#')) return refuse(why, why_len, "the URL must not carry a fragment");
  size_t alen = strcspn(rest, "/?");
  /* user:password@ both leaks a credential into logs and hides the real
   * host behind something that looks like one (https://good.example@evil/). */
  if (memchr(rest, '@', alen)) return refuse(why, why_len, "the URL must not carry user info");
  if (parse_authority(rest, alen, &t, &ss, why, why_len) != 0) return -1;
  if (t.is_ip && !netcheck_address_allowed((const struct sockaddr *)&ss, allow_private))
    return refuse(why, why_len, allow_private ? "the host is the unspecified address"
                                              : "the host is a private or local address");
  if (!t.is_ip && !allow_private && names_localhost(t.host))
    return refuse(why, why_len, "the host names the local machine");
  if (out) *out = t;
  return 0;
}

int netcheck_resolve(const char *host, int port, bool allow_private, char *why, size_t why_len) {
  struct addrinfo hints = {0}, *res = NULL;
  char service[8];
  int err, rc = -1;
  if (why && why_len > 0) why[0] = '\0';
  if (!host || !*host) {
    refuse(why, why_len, "no host to resolve");
    goto done;
  }
  if (port < 1 || port > 65535) {
    refuse(why, why_len, "the port must be a number from 1 to 65535");
    goto done;
  }
  snprintf(service, sizeof service, "%d", port);
  /* Every family, and no AI_ADDRCONFIG: the check must see each address
   * a connection might later use, not only those this host can reach now. */
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  err = getaddrinfo(host, service, &hints, &res);
  if (err != 0) {
    refuse(why, why_len, "the host does not resolve (%s)", gai_strerror(err));
    goto done;
  }
  if (!res) {
    refuse(why, why_len, "the host resolves to no address");
    goto done;
  }
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (netcheck_address_allowed(ai->ai_addr, allow_private)) continue;
    char text[INET6_ADDRSTRLEN] = "?";
    if (ai->ai_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr, text, sizeof text);
    else if (ai->ai_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr, text, sizeof text);
    refuse(why, why_len, "the host resolves to %s (%s)",
           allow_private ? "an unspecified address" : "a private or local address", text);
    goto done;
  }
  rc = 0;
done:
  if (res) freeaddrinfo(res);
  return rc;
}
