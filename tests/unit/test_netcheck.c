/* Unit tests for api/netcheck.c: the webhook URL rules, the address rules
 * (IPv4, IPv6 and the IPv6 forms that carry an IPv4 address) and resolution
 * through getaddrinfo (localhost comes from /etc/hosts; ".invalid" never
 * resolves, RFC 6761). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include "check.h"
#include "g1p/netcheck.h"

/* Refused, with the reason containing `reason` (NULL: any reason). */
static bool refused(const char *url, bool allow_http, bool allow_private, const char *reason) {
  struct netcheck_target t;
  char why[200] = "unset";
  if (netcheck_url(url, allow_http, allow_private, &t, why, sizeof why) == 0) {
    fprintf(stderr, "accepted: %s\n", url);
    return false;
  }
  if (reason && !strstr(why, reason)) {
    fprintf(stderr, "%s: reason \"%s\", wanted \"%s\"\n", url, why, reason);
    return false;
  }
  return why[0] != '\0' && t.host[0] == '\0';
}

static bool accepted(const char *url, bool allow_http, bool allow_private,
                     const char *host, int port, bool is_ip) {
  struct netcheck_target t;
  char why[200] = "unset";
  if (netcheck_url(url, allow_http, allow_private, &t, why, sizeof why) != 0) {
    fprintf(stderr, "refused: %s: %s\n", url, why);
    return false;
  }
  if (strcmp(t.host, host) != 0 || t.port != port || t.is_ip != is_ip) {
    fprintf(stderr, "%s: host \"%s\" port %d is_ip %d\n", url, t.host, t.port, t.is_ip);
    return false;
  }
  return why[0] == '\0';
}

#define PRIVATE "a private or local address"
#define NUMERIC "a numeric host must be written as four decimal numbers"

static void test_url_refused(void) {
  /* the forms the issue lists */
  CHECK(refused("https://127.0.0.1/", false, false, PRIVATE));
  CHECK(refused("https://localhost/", false, false, "the local machine"));
  CHECK(refused("https://[::1]/", false, false, PRIVATE));
  CHECK(refused("https://10.1.2.3/", false, false, PRIVATE));
  CHECK(refused("https://172.16.0.1/", false, false, PRIVATE));
  CHECK(refused("https://172.31.255.255/", false, false, PRIVATE));
  CHECK(refused("https://192.168.1.1/", false, false, PRIVATE));
  CHECK(refused("https://169.254.169.254/latest/meta-data", false, false, PRIVATE));
  CHECK(refused("https://100.64.0.1/", false, false, PRIVATE));
  CHECK(refused("https://0.0.0.0/", false, false, PRIVATE));
  CHECK(refused("https://[::ffff:127.0.0.1]/", false, false, PRIVATE));
  CHECK(refused("https://[::ffff:7f00:1]/", false, false, PRIVATE));
  CHECK(refused("https://2130706433/", false, false, NUMERIC));
  CHECK(refused("https://0177.0.0.1/", false, false, NUMERIC));
  CHECK(refused("https://0x7f000001/", false, false, NUMERIC));
  CHECK(refused("https://127.1/", false, false, NUMERIC));
  CHECK(refused("https://127.0.0.01/", false, false, NUMERIC));
  CHECK(refused("http://example.com/", false, false, "must start with https://"));
  CHECK(refused("https://user@example.com/", false, false, "must not carry user info"));
  CHECK(refused("https://user:pw@example.com/", false, false, "must not carry user info"));
  CHECK(refused("https://[fe80::1]/", false, false, PRIVATE));
  CHECK(refused("https://[fd00::1]/", false, false, PRIVATE));
  CHECK(refused("https://224.0.0.1/", false, false, PRIVATE));

  /* the numeric shorthands stay refused even when private hosts are
   * allowed: they are refused for how they are written */
  CHECK(refused("https://2130706433/", false, true, NUMERIC));
  CHECK(refused("https://0x7f.0.0.1/", false, true, NUMERIC));
  CHECK(refused("https://0X7F.1/", false, true, NUMERIC));
  CHECK(refused("https://127.0.0.1./", false, true, NUMERIC));
  CHECK(refused("https://1.2.3.4.5/", false, true, NUMERIC));
  CHECK(refused("https://256.1.1.1/", false, true, NUMERIC));
  CHECK(refused("https://1.2.3/", false, true, NUMERIC));
  CHECK(refused("https://1.2.3.0x4/", false, true, NUMERIC));
  CHECK(refused("https://example.0x10/", false, true, NUMERIC));
  CHECK(refused("https://example.123/", false, true, NUMERIC));
  /* more private and special hosts */
  CHECK(refused("https://LOCALHOST/", false, false, "the local machine"));
  CHECK(refused("https://localhost./", false, false, "the local machine"));
  CHECK(refused("https://hooks.localhost/", false, false, "the local machine"));
  CHECK(refused("https://localhost:8443/x", false, false, "the local machine"));
  CHECK(refused("https://127.0.0.1:443/", false, false, PRIVATE));
  CHECK(refused("https://255.255.255.255/", false, false, PRIVATE));
  CHECK(refused("https://[::]/", false, false, PRIVATE));
  CHECK(refused("https://[::]/", false, true, "unspecified"));
  CHECK(refused("https://0.0.0.0/", false, true, "unspecified"));
  CHECK(refused("https://[64:ff9b::a9fe:a9fe]/", false, false, PRIVATE));
  CHECK(refused("https://[2002:c0a8:101::1]/", false, false, PRIVATE));
  CHECK(refused("https://[ff02::1]/", false, false, PRIVATE));
  /* syntax */
  CHECK(refused(NULL, false, false, "empty"));
  CHECK(refused("", false, false, "empty"));
  CHECK(refused("example.com/hook", false, false, "https://"));
  CHECK(refused("ftp://example.com/", true, false, "https:// or http://"));
  CHECK(refused("https:/example.com/", false, false, NULL));
  CHECK(refused("https://", false, false, "no host"));
  CHECK(refused("https:///hook", false, false, "no host"));
  CHECK(refused("https://:443/", false, false, "no host"));
  CHECK(refused("https://example.com/#frag", false, false, "fragment"));
  CHECK(refused("https://example.com#", false, false, "fragment"));
  CHECK(refused("https://example.com:0/", false, false, "port"));
  CHECK(refused("https://example.com:65536/", false, false, "port"));
  CHECK(refused("https://example.com:/", false, false, "port"));
  CHECK(refused("https://example.com:+443/", false, false, "port"));
  CHECK(refused("https://example.com:443x/", false, false, "port"));
  CHECK(refused("https://example.com:000443/", false, false, "port"));
  CHECK(refused("https://[::1]x/", false, true, "port"));
  CHECK(refused("https://[::1/", false, true, "closing"));
  CHECK(refused("https://[fe80::1%25eth0]/", false, true, "IPv6"));
  CHECK(refused("https://[v1.x]/", false, true, "IPv6"));
  CHECK(refused("https://[127.0.0.1]/", false, true, "IPv6"));
  CHECK(refused("https://exa mple.com/", false, false, "whitespace"));
  CHECK(refused("https://example.com/a b", false, false, "whitespace"));
  CHECK(refused("https://example.com/\t", false, false, "whitespace"));
  CHECK(refused("https://example.com/\x7f", false, false, "control"));
  CHECK(refused("https://example.com/\r\nHost: x", false, false, "control"));
  CHECK(refused("https://ex\xc3\xa4mple.com/", false, false, "ASCII"));
  CHECK(refused("https://\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97\xe3\x80\x82\xef\xbc\x90\xe3\x80\x82\xef\xbc\x90\xe3\x80\x82\xef\xbc\x91/",
                false, false, "ASCII")); /* fullwidth 127。0。0。1 */
  CHECK(refused("https://example.com\\@127.0.0.1/", false, false, "backslash"));
  CHECK(refused("https://example.com%2F@127.0.0.1/", false, false, "user info"));
  CHECK(refused("https://127.0.0.%31/", false, true, "DNS name"));
  CHECK(refused("https://exa_mple.com/", false, false, "DNS name"));
  CHECK(refused("https://-example.com/", false, false, "DNS name"));
  CHECK(refused("https://example-.com/", false, false, "DNS name"));
  CHECK(refused("https://example..com/", false, false, "DNS name"));
  CHECK(refused("https://.example.com/", false, false, "DNS name"));
  CHECK(refused("https://./", false, false, "DNS name"));
  char long_label[128];
  snprintf(long_label, sizeof long_label, "https://%064d.com/", 0); /* a label of 64 */
  CHECK(refused(long_label, false, false, "DNS name"));
  memset(long_label, 'a', sizeof long_label);
  memcpy(long_label, "https://", 8);
  memcpy(long_label + 8 + 64, ".com/", 6);
  CHECK(refused(long_label, false, false, "DNS name"));
  char long_url[NETCHECK_URL_MAX + 2];
  memset(long_url, 'a', sizeof long_url);
  memcpy(long_url, "https://example.com/", 20);
  long_url[NETCHECK_URL_MAX + 1] = '\0'; /* 2049 bytes */
  CHECK(refused(long_url, false, false, "longer than 2048"));
  long_url[NETCHECK_URL_MAX] = '\0';     /* 2048 bytes */
  CHECK(accepted(long_url, false, false, "example.com", 443, false));
  char long_host[300];
  memcpy(long_host, "https://", 8);
  size_t o = 8;
  for (int i = 0; i < 4; i++) { memset(long_host + o, 'a', 63); o += 63; long_host[o++] = '.'; }
  memcpy(long_host + o, "com/", 5); /* 4 * 64 + 3 = 259 characters */
  CHECK(refused(long_host, false, false, "longer than 253"));

  /* no reason buffer, no target: still refused */
  CHECK(netcheck_url("https://127.0.0.1/", false, false, NULL, NULL, 0) == -1);
}

static void test_url_allowed(void) {
  CHECK(accepted("https://example.com/hook", false, false, "example.com", 443, false));
  CHECK(accepted("https://93.184.216.34:8443/x?y=1", false, false, "93.184.216.34", 8443, true));
  CHECK(accepted("https://[2606:4700::1111]/", false, false, "2606:4700::1111", 443, true));
  CHECK(accepted("http://example.com/", true, false, "example.com", 80, false));
  CHECK(accepted("https://127.0.0.1:9999/", false, true, "127.0.0.1", 9999, true));
  CHECK(accepted("https://172.32.0.1/", false, false, "172.32.0.1", 443, true));
  CHECK(accepted("https://100.128.0.1/", false, false, "100.128.0.1", 443, true));
  CHECK(accepted("https://172.15.255.255/", false, false, "172.15.255.255", 443, true));
  CHECK(accepted("https://8.8.8.8", false, false, "8.8.8.8", 443, true));
  CHECK(accepted("https://example.com", false, false, "example.com", 443, false));
  CHECK(accepted("https://example.com?x=1", false, false, "example.com", 443, false));
  CHECK(accepted("HTTPS://Hooks.Example.COM:65535/A?b=C", false, false, "hooks.example.com", 65535, false));
  CHECK(accepted("https://example.com./", false, false, "example.com.", 443, false));
  CHECK(accepted("https://xn--bcher-kva.example/", false, false, "xn--bcher-kva.example", 443, false));
  CHECK(accepted("https://a1.0x10.example/", false, false, "a1.0x10.example", 443, false));
  CHECK(accepted("https://123.example/", false, false, "123.example", 443, false));
  CHECK(accepted("https://notlocalhost/", false, false, "notlocalhost", 443, false));
  CHECK(accepted("https://localhost.example/", false, false, "localhost.example", 443, false));
  CHECK(accepted("https://example.com:1/p%20q/@x", false, false, "example.com", 1, false)); /* '@' in the path */
  CHECK(accepted("https://[::ffff:8.8.8.8]/", false, false, "::ffff:8.8.8.8", 443, true));
  CHECK(accepted("https://[2002:0808:0808::1]/", false, false, "2002:0808:0808::1", 443, true));
  CHECK(accepted("https://[64:ff9b::808:808]/", false, false, "64:ff9b::808:808", 443, true));
  CHECK(accepted("https://[2606:4700::1111]:8443/", false, false, "2606:4700::1111", 8443, true));
  /* allow_private lifts the private rules */
  CHECK(accepted("https://localhost/", false, true, "localhost", 443, false));
  CHECK(accepted("https://[::1]:8080/", false, true, "::1", 8080, true));
  CHECK(accepted("http://10.1.2.3/", true, true, "10.1.2.3", 80, true));
  CHECK(accepted("https://[FD00::1]/", false, true, "fd00::1", 443, true));
  CHECK(netcheck_url("https://example.com/", false, false, NULL, NULL, 0) == 0);
}

static bool v4(const char *text, bool allow_private) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, text, &sa.sin_addr) != 1) { fprintf(stderr, "bad test address %s\n", text); return false; }
  return netcheck_address_allowed((const struct sockaddr *)&sa, allow_private);
}

static bool v6(const char *text, bool allow_private) {
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
  if (inet_pton(AF_INET6, text, &sa.sin6_addr) != 1) { fprintf(stderr, "bad test address %s\n", text); return false; }
  return netcheck_address_allowed((const struct sockaddr *)&sa, allow_private);
}

static void test_address_v4(void) {
  static const char *const REFUSED[] = {
    "0.0.0.0", "0.1.2.3", "0.255.255.255", "10.0.0.0", "10.255.255.255",
    "100.64.0.0", "100.64.0.1", "100.127.255.255", "127.0.0.1", "127.255.255.254",
    "169.254.0.1", "169.254.169.254", "172.16.0.0", "172.31.255.255",
    "192.0.0.1", "192.0.0.255", "192.0.2.1", "192.168.0.1", "192.168.255.255",
    "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "250.1.2.3", "255.255.255.255",
  };
  static const char *const ALLOWED[] = {
    "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "93.184.216.34",
    "100.63.255.255", "100.128.0.1", "126.255.255.255", "128.0.0.0", "169.253.255.255",
    "169.255.0.0", "172.15.255.255", "172.32.0.1", "192.0.1.1", "192.0.3.1",
    "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "198.51.99.1",
    "198.51.101.1", "203.0.112.1", "203.0.114.1", "223.255.255.255",
  };
  for (size_t i = 0; i < sizeof REFUSED / sizeof REFUSED[0]; i++) {
    if (v4(REFUSED[i], false)) fprintf(stderr, "allowed: %s\n", REFUSED[i]);
    CHECK(!v4(REFUSED[i], false));
    if (strcmp(REFUSED[i], "0.0.0.0") != 0) CHECK(v4(REFUSED[i], true));
  }
  for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
    if (!v4(ALLOWED[i], false)) fprintf(stderr, "refused: %s\n", ALLOWED[i]);
    CHECK(v4(ALLOWED[i], false));
    CHECK(v4(ALLOWED[i], true));
  }
  CHECK(!v4("0.0.0.0", true));
}

static void test_address_v6(void) {
  static const char *const REFUSED[] = {
    "::", "::1",
    "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "::ffff:192.168.1.1", "::ffff:0.0.0.0", "::ffff:255.255.255.255",
    "::127.0.0.1", "::10.0.0.1", "::0.0.0.2",                    /* IPv4-compatible */
    "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::192.168.0.1", /* NAT64 */
    "64:ff9b:1::8.8.8.8",                                         /* local-use NAT64 */
    "2002:7f00:1::", "2002:a00:1::1", "2002:c0a8:101:1::1", "2002:a9fe:a9fe::", /* 6to4 */
    "fc00::1", "fd00::1", "fdff:ffff::1", "fe80::1", "febf::1", "fec0::1",
    "ff00::", "ff02::1", "ff05::1:3", "2001:db8::1", "2001:db8:ffff::", "100::1",
  };
  static const char *const ALLOWED[] = {
    "2606:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::200e",
    "::ffff:8.8.8.8", "::ffff:172.32.0.1", "::8.8.8.8",
    "64:ff9b::8.8.8.8", "64:ff9b::100.128.0.1",
    "2002:808:808::1", "2002:5db8:d822::",
    "fb00::1", "fe00::1", "2001:db9::1", "2001:db7::1", "101::1", "100:0:0:1::1",
    "64:ff9a::7f00:1",
  };
  for (size_t i = 0; i < sizeof REFUSED / sizeof REFUSED[0]; i++) {
    if (v6(REFUSED[i], false)) fprintf(stderr, "allowed: %s\n", REFUSED[i]);
    CHECK(!v6(REFUSED[i], false));
  }
  for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
    if (!v6(ALLOWED[i], false)) fprintf(stderr, "refused: %s\n", ALLOWED[i]);
    CHECK(v6(ALLOWED[i], false));
    CHECK(v6(ALLOWED[i], true));
  }
  /* allow_private: only the unspecified addresses stay refused */
  CHECK(!v6("::", true));
  CHECK(!v6("::ffff:0.0.0.0", true));
  CHECK(v6("::1", true));
  CHECK(v6("::ffff:127.0.0.1", true));
  CHECK(v6("fe80::1", true));
  CHECK(v6("2002:7f00:1::", true));
  /* not an internet address at all */
  struct sockaddr sa = {.sa_family = AF_UNIX};
  CHECK(!netcheck_address_allowed(&sa, true));
  CHECK(!netcheck_address_allowed(NULL, true));
}

static void test_resolve(void) {
  char why[200];
  CHECK(netcheck_resolve("localhost", 443, false, why, sizeof why) == -1);
  CHECK(strstr(why, "resolves to a private or local address") != NULL);
  CHECK(netcheck_resolve("localhost", 443, true, why, sizeof why) == 0);
  CHECK_STR(why, "");
  CHECK(netcheck_resolve("nonexistent.invalid", 443, false, why, sizeof why) == -1);
  CHECK(strstr(why, "does not resolve") != NULL);
  CHECK(netcheck_resolve("nonexistent.invalid", 443, true, why, sizeof why) == -1);
  /* numeric hosts go through the same check, whatever their spelling */
  CHECK(netcheck_resolve("127.0.0.1", 443, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve("2130706433", 443, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve("::1", 443, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve("169.254.169.254", 80, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve("0.0.0.0", 80, true, why, sizeof why) == -1);
  CHECK(strstr(why, "unspecified") != NULL);
  CHECK(netcheck_resolve("93.184.216.34", 443, false, why, sizeof why) == 0);
  CHECK(netcheck_resolve("2606:4700::1111", 443, false, why, sizeof why) == 0);
  CHECK(netcheck_resolve("93.184.216.34", 0, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve("93.184.216.34", 65536, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve("", 443, false, why, sizeof why) == -1);
  CHECK(netcheck_resolve(NULL, 443, false, NULL, 0) == -1);
}

int main(void) {
  test_url_refused();
  test_url_allowed();
  test_address_v4();
  test_address_v6();
  test_resolve();
  return CHECK_DONE();
}
