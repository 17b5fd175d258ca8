/* JWT verification. Order matters and each step closes a known libjwt 1.10
 * hole: read the header ourselves and pick the key from configuration by
 * alg/kid; refuse any alg the chosen key was not configured for; let libjwt
 * check the signature; then check the pinned alg again and every time-based
 * and audience claim ourselves (libjwt checks none of them). */
#include <dirent.h>
#include <jwt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "g1p/auth.h"
#include "g1p/base64url.h"
#include "g1p/validate.h"

static json_t *decode_segment(const char *seg, size_t len) {
  size_t n = 0;
  unsigned char *raw = base64url_decode(seg, len, &n);
  if (!raw) return NULL;
  json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
  free(raw);
  if (j && !json_is_object(j)) { json_decref(j); return NULL; }
  return j;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n > 0 && n < 65536 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
      if (fread(buf, 1, (size_t)n, f) == (size_t)n) { buf[n] = '\0'; *len = (size_t)n; }
      else { free(buf); buf = NULL; }
    }
  }
  fclose(f);
  return buf;
}

static int load_dir(struct auth_keys *k, const char *dir, char *err, size_t err_len) {
  DIR *d = opendir(dir);
  if (!d) { snprintf(err, err_len, "JWT_PUBLIC_KEYS_DIR %s cannot be read", dir); return -1; }
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".pem") != 0) continue;
    if (!validate_kid(e->d_name, n - 4)) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t len = 0;
    char *pem = read_file(path, &len);
    if (!pem || !strstr(pem, "-----BEGIN PUBLIC KEY-----")) {
      snprintf(err, err_len, "%s is not a PEM public key (BEGIN PUBLIC KEY)", path);
      free(pem);
      rc = -1;
      break;
    }
    struct auth_key *grown = realloc(k->keys, (k->nkeys + 1) * sizeof *grown);
    if (!grown) { free(pem); rc = -1; break; }
    k->keys = grown;
    struct auth_key *key = &k->keys[k->nkeys++];
    memset(key, 0, sizeof *key);
    memcpy(key->kid, e->d_name, n - 4);
    key->pem = pem;
    key->pem_len = len;
  }
  closedir(d);
  return rc;
}

static atomic_ulong key_generation;

struct auth_keys *auth_keys_load(const char *hs256_secret, const char *dir, const char *issuer,
                                 const char *audience, char *err, size_t err_len) {
  struct auth_keys *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->generation = atomic_fetch_add(&key_generation, 1) + 1;
  if (hs256_secret) {
    k->hs256_len = strlen(hs256_secret);
    k->hs256_secret = (unsigned char *)strdup(hs256_secret);
  }
  if (issuer) k->issuer = strdup(issuer);
  if (audience) k->audience = strdup(audience);
  if (dir && load_dir(k, dir, err, err_len)) { auth_keys_free(k); return NULL; }
  return k;
}

int auth_keys_add_jwks(struct auth_keys *k, const struct jwk_set *set) {
  int skipped = 0;
  for (size_t i = 0; i < set->n; i++) {
    bool taken = false;
    for (size_t j = 0; j < k->nkeys; j++) taken = taken || strcmp(k->keys[j].kid, set->keys[i].kid) == 0;
    if (taken) { skipped++; continue; }
    struct auth_key *grown = realloc(k->keys, (k->nkeys + 1) * sizeof *grown);
    if (!grown) return -1;
    k->keys = grown;
    struct auth_key *key = &k->keys[k->nkeys];
    memset(key, 0, sizeof *key);
    snprintf(key->kid, sizeof key->kid, "%s", set->keys[i].kid);
    key->alg = set->keys[i].alg;
    key->pem = malloc(set->keys[i].pem_len + 1);
    if (!key->pem) return -1;
    memcpy(key->pem, set->keys[i].pem, set->keys[i].pem_len + 1);
    key->pem_len = set->keys[i].pem_len;
    k->nkeys++;
  }
  return skipped;
}

void auth_keys_free(struct auth_keys *k) {
  if (!k) return;
  for (size_t i = 0; i < k->nkeys; i++) free(k->keys[i].pem);
  free(k->keys);
  free(k->hs256_secret);
  free(k->issuer);
  free(k->audience);
  free(k);
}

void principal_clear(struct g1p_principal *p) {
  json_decref(p->regions);
  free(p->regions_pg);
  memset(p, 0, sizeof *p);
}

int principal_copy(struct g1p_principal *dst, const struct g1p_principal *src) {
  *dst = *src;
  dst->regions = json_deep_copy(src->regions);
  dst->regions_pg = src->regions_pg ? strdup(src->regions_pg) : NULL;
  if (!dst->regions || (src->regions_pg && !dst->regions_pg)) {
    principal_clear(dst);
    return -1;
  }
  return 0;
}

bool principal_has_scope(const struct g1p_principal *p, unsigned int scope) { return (p->scopes & scope) != 0; }

bool principal_sees_region(const struct g1p_principal *p, const char *code) {
  if (p->all_regions) return true;
  size_t i;
  json_t *v;
  json_array_foreach(p->regions, i, v) if (strcmp(json_string_value(v), code) == 0) return true;
  return false;
}

static unsigned int parse_scopes(const char *s, size_t len) {
  static const struct { const char *name; unsigned int bit; } known[] = {
    {"referrals:read", SCOPE_REFERRALS_READ}, {"referrals:write", SCOPE_REFERRALS_WRITE},
    {"plans:read", SCOPE_PLANS_READ}, {"plans:write", SCOPE_PLANS_WRITE},
    {"plan:family", SCOPE_PLAN_FAMILY}, {"metrics:read", SCOPE_METRICS_READ}, {"admin", SCOPE_ADMIN},
    {"webhooks:manage", SCOPE_WEBHOOKS_MANAGE}, {"privacy", SCOPE_PRIVACY}};
  unsigned int bits = 0;
  const char *end = s + len;
  while (s < end) {
    while (s < end && *s == ' ') s++;
    size_t n = 0;
    while (s + n < end && s[n] != ' ') n++;
    for (size_t i = 0; n && i < sizeof known / sizeof known[0]; i++)
      if (strlen(known[i].name) == n && strncmp(known[i].name, s, n) == 0) bits |= known[i].bit;
    s += n;
  }
  return bits;
}

/* A NumericDate: JSON number of seconds. Returns false when absent. */
static bool numeric_date(json_t *claims, const char *name, double *out, bool *bad) {
  json_t *v = json_object_get(claims, name);
  if (!v) return false;
  if (!json_is_number(v)) { *bad = true; return false; }
  *out = json_number_value(v);
  return true;
}

static int fail(char *why, size_t why_len, const char *reason) {
  snprintf(why, why_len, "%s", reason);
  return -1;
}

static bool audience_matches(json_t *aud, const char *want) {
  if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
  size_t i;
  json_t *v;
  if (json_is_array(aud)) json_array_foreach(aud, i, v) if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) return true;
  return false;
}

int auth_claims_parse(const struct auth_keys *keys, json_t *claims, time_t now,
                      struct g1p_principal *out, char *why, size_t why_len) {
  memset(out, 0, sizeof *out);
  double exp = 0, nbf = 0;
  bool bad = false;
  if (!numeric_date(claims, "exp", &exp, &bad)) return fail(why, why_len, bad ? "exp is not a number" : "exp is missing");
  if ((double)now > exp + AUTH_LEEWAY_SECONDS) return fail(why, why_len, "token expired");
  if (numeric_date(claims, "nbf", &nbf, &bad) && (double)now + AUTH_LEEWAY_SECONDS < nbf) return fail(why, why_len, "token not yet valid");
  if (bad) return fail(why, why_len, "nbf is not a number");
  out->exp = exp;
  out->nbf = nbf;

  json_t *iss = json_object_get(claims, "iss");
  if (iss && !json_is_string(iss)) return fail(why, why_len, "iss is not a string");
  if (keys->issuer && (!iss || strcmp(json_string_value(iss), keys->issuer) != 0)) return fail(why, why_len, "wrong issuer");
  json_t *aud = json_object_get(claims, "aud");
  if (keys->audience && (!aud || !audience_matches(aud, keys->audience))) return fail(why, why_len, "wrong audience");

  json_t *sub = json_object_get(claims, "sub");
  if (!json_is_string(sub) || json_string_length(sub) == 0 || json_string_length(sub) >= sizeof out->sub)
    return fail(why, why_len, "sub is missing or not a string of at most 255 bytes");
  snprintf(out->sub, sizeof out->sub, "%s", json_string_value(sub));

  /* Identity providers differ: "scope" (RFC 8693/9068, Keycloak) is one
   * space-separated string; Microsoft Entra puts delegated scopes in "scp",
   * a string, and others make "scp" an array. Both count. */
  json_t *scope = json_object_get(claims, "scope"), *scp = json_object_get(claims, "scp");
  if (scope && !json_is_string(scope)) return fail(why, why_len, "scope is not a string");
  if (scp && !json_is_string(scp) && !json_is_array(scp)) return fail(why, why_len, "scp is not a string or an array");
  out->scopes = scope ? parse_scopes(json_string_value(scope), json_string_length(scope)) : 0;
  if (json_is_string(scp)) out->scopes |= parse_scopes(json_string_value(scp), json_string_length(scp));
  size_t si;
  json_t *sv;
  json_array_foreach(scp, si, sv) {
    if (!json_is_string(sv)) return fail(why, why_len, "scp holds a non-string");
    out->scopes |= parse_scopes(json_string_value(sv), json_string_length(sv));
  }
  /* Keycloak marks its ID and refresh tokens in the payload's "typ": they
   * prove a login, they do not grant access to an API. */
  json_t *ptyp = json_object_get(claims, "typ");
  if (json_is_string(ptyp) && strcasecmp(json_string_value(ptyp), "Bearer") != 0)
    return fail(why, why_len, "not an access token (payload typ)");

  json_t *regions = json_object_get(claims, "regions");
  if (regions && !json_is_array(regions)) return fail(why, why_len, "regions is not an array");
  out->regions = json_array();
  size_t cap = 3, i;
  json_t *v;
  json_array_foreach(regions, i, v) {
    const char *code = json_string_value(v);
    if (!code) { principal_clear(out); return fail(why, why_len, "regions holds a non-string"); }
    if (strcmp(code, "*") == 0) { out->all_regions = true; continue; }
    if (!validate_region_code(code)) continue; /* cannot name any region */
    json_array_append(out->regions, v);
    cap += strlen(code) + 1;
  }
  out->regions_pg = malloc(cap);
  if (!out->regions_pg) { principal_clear(out); return fail(why, why_len, "out of memory"); }
  char *w = out->regions_pg;
  *w++ = '{';
  json_array_foreach(out->regions, i, v) w += sprintf(w, "%s%s", i ? "," : "", json_string_value(v));
  *w++ = '}';
  *w = '\0';

  json_t *org = json_object_get(claims, "org");
  if (org && !json_is_null(org)) {
    if (!json_is_string(org) || !validate_uuid(json_string_value(org))) { principal_clear(out); return fail(why, why_len, "org is not a UUID"); }
    snprintf(out->org, sizeof out->org, "%s", json_string_value(org));
  }
  json_t *family = json_object_get(claims, "family");
  if (family && !json_is_null(family)) {
    if (!json_is_string(family) || !validate_uuid(json_string_value(family))) { principal_clear(out); return fail(why, why_len, "family is not a UUID"); }
    snprintf(out->family, sizeof out->family, "%s", json_string_value(family));
  }
  return 0;
}

int auth_verify(const struct auth_keys *keys, const char *token, time_t now,
                struct g1p_principal *out, char *why, size_t why_len) {
  memset(out, 0, sizeof *out);
  size_t len = strlen(token);
  if (len > AUTH_MAX_TOKEN_BYTES) return fail(why, why_len, "token too large");
  const char *dot1 = strchr(token, '.');
  const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0') return fail(why, why_len, "not a signed JWT");

  json_t *header = decode_segment(token, (size_t)(dot1 - token));
  json_t *claims = decode_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  jwt_t *jwt = NULL;
  int rc = -1;
  if (!header || !claims) { fail(why, why_len, "header or payload is not a JSON object"); goto done; }

  /* Access tokens are plain JWTs here (libjwt 1.10 refuses other types too). */
  json_t *typ = json_object_get(header, "typ");
  if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) { fail(why, why_len, "typ is not JWT"); goto done; }
  const char *alg = json_string_value(json_object_get(header, "alg"));
  const unsigned char *key = NULL;
  size_t key_len = 0;
  jwt_alg_t want = JWT_ALG_INVAL;
  if (alg && strcmp(alg, "HS256") == 0 && keys->hs256_secret) {
    key = keys->hs256_secret;
    key_len = keys->hs256_len;
    want = JWT_ALG_HS256;
  } else if (alg && (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0)) {
    const char *kid = json_string_value(json_object_get(header, "kid"));
    if (!kid || !validate_kid(kid, strlen(kid))) { fail(why, why_len, "kid missing or malformed"); goto done; }
    int pinned = 0;
    for (size_t i = 0; i < keys->nkeys; i++)
      if (strcmp(keys->keys[i].kid, kid) == 0) {
        key = (const unsigned char *)keys->keys[i].pem;
        key_len = keys->keys[i].pem_len;
        pinned = keys->keys[i].alg;
      }
    if (!key) { fail(why, why_len, "unknown kid"); goto done; }
    want = alg[0] == 'R' ? JWT_ALG_RS256 : JWT_ALG_ES256;
    /* A JWK's own alg pins it: an ES256 token never meets an RSA key's PEM. */
    if (pinned && pinned != (alg[0] == 'R' ? JWK_RS256 : JWK_ES256)) { fail(why, why_len, "algorithm not allowed for this key"); goto done; }
  } else {
    fail(why, why_len, "algorithm not accepted");
    goto done;
  }
  if (key_len == 0 || jwt_decode(&jwt, token, key, (int)key_len) != 0 || !jwt) { fail(why, why_len, "bad signature"); goto done; }
  if (jwt_get_alg(jwt) != want) { fail(why, why_len, "algorithm mismatch"); goto done; }
  rc = auth_claims_parse(keys, claims, now, out, why, why_len);
done:
  if (jwt) jwt_free(jwt);
  json_decref(header);
  json_decref(claims);
  return rc;
}

struct auth_keyring {
  _Atomic(struct auth_keys *) current;
  struct auth_keys *retired;
};

struct auth_keyring *auth_keyring_new(struct auth_keys *initial) {
  struct auth_keyring *ring = calloc(1, sizeof *ring);
  if (ring) atomic_store(&ring->current, initial);
  return ring;
}

const struct auth_keys *auth_keyring_current(const struct auth_keyring *ring) {
  return atomic_load(&((struct auth_keyring *)ring)->current);
}

void auth_keyring_replace(struct auth_keyring *ring, struct auth_keys *next) {
  struct auth_keys *old = atomic_exchange(&ring->current, next);
  old->retired_next = ring->retired;
  ring->retired = old;
}

void auth_keyring_free(struct auth_keyring *ring) {
  if (!ring) return;
  auth_keys_free(atomic_load(&ring->current));
  while (ring->retired) {
    struct auth_keys *next = ring->retired->retired_next;
    auth_keys_free(ring->retired);
    ring->retired = next;
  }
  free(ring);
}

/* ---- per-thread cache of verified tokens ------------------------------ */

#define TOKEN_CACHE_SLOTS 64

struct cached_token {
  char *token;                 /* NULL: empty slot */
  unsigned long generation;
  struct g1p_principal who;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *ptr) {
  struct cached_token *slots = ptr;
  for (int i = 0; i < TOKEN_CACHE_SLOTS; i++) {
    free(slots[i].token);
    principal_clear(&slots[i].who);
  }
  free(slots);
}

static void cache_init(void) { pthread_key_create(&cache_key, cache_free); }

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int auth_verify_cached(const struct auth_keys *keys, const char *token, time_t now,
                       struct g1p_principal *out, char *why, size_t why_len) {
  pthread_once(&cache_once, cache_init);
  struct cached_token *slots = pthread_getspecific(cache_key);
  if (!slots && (slots = calloc(TOKEN_CACHE_SLOTS, sizeof *slots)) != NULL) pthread_setspecific(cache_key, slots);
  struct cached_token *slot = slots ? &slots[fnv1a(token) % TOKEN_CACHE_SLOTS] : NULL;
  if (slot && slot->token && slot->generation == keys->generation && strcmp(slot->token, token) == 0) {
    if ((double)now > slot->who.exp + AUTH_LEEWAY_SECONDS) return fail(why, why_len, "token expired");
    if (slot->who.nbf && (double)now + AUTH_LEEWAY_SECONDS < slot->who.nbf) return fail(why, why_len, "token not yet valid");
    if (principal_copy(out, &slot->who) == 0) return 0;
  }
  int rc = auth_verify(keys, token, now, out, why, why_len);
  if (rc == 0 && slot) {
    free(slot->token);
    principal_clear(&slot->who);
    slot->token = strdup(token);
    slot->generation = keys->generation;
    if (!slot->token || principal_copy(&slot->who, out) != 0) {
      free(slot->token);
      slot->token = NULL;
    }
  }
  return rc;
}
