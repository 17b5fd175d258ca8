/* See include/g1p/keysource.h. Each change of keys builds a whole new
 * auth_keys set (with a new generation, so no cached verification survives
 * it) and swaps it into the keyring; a fetched text equal to the last one
 * changes nothing, so a routine refresh costs no cache misses. The refresh
 * thread never holds the mutex while it talks to the network. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yder.h>
#include "g1p/fetch.h"
#include "g1p/jwk.h"
#include "g1p/keysource.h"

#define UNKNOWN_KID_MIN_INTERVAL_S 30 /* a stream of made-up kids costs one fetch per 30 s */
#define RETRY_AFTER_FAILURE_S 30      /* without usable published keys, try again sooner */
#define UNKNOWN_KID_WAIT_S 5          /* how long a request waits for the refetch it asked for */

struct keysource {
  const struct g1p_config *cfg;
  struct auth_keyring *ring;
  struct jwk_set file_set;   /* JWT_JWKS_FILE */
  struct jwk_set url_set;    /* the last usable published set */
  char *url_text;            /* its text, to skip identical refreshes */
  bool remote;               /* JWT_JWKS_URL or JWT_OIDC_ISSUER */
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t install_mu; /* the sets above and the keyring swap: refresh thread vs SIGHUP */
  pthread_mutex_t mu;         /* the refresh thread's schedule below */
  pthread_cond_t wake, done;
  bool stop, wanted, fetching;
  unsigned long attempts;    /* fetches finished */
  time_t last_attempt;       /* CLOCK_MONOTONIC seconds, 0: never */
  time_t last_kid_trigger;   /* the last refetch an unknown kid asked for */
};

static time_t mono_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec;
}

static struct fetch_opts fetch_options(const struct g1p_config *cfg) {
  return (struct fetch_opts){.allow_http = cfg->jwt_jwks_allow_http, .ca_file = cfg->jwt_jwks_ca_file,
                             .timeout_s = (long)cfg->jwt_jwks_timeout_s, .max_bytes = JWK_MAX_TEXT_BYTES};
}

static int read_key_file(const char *path, struct jwk_set *out, char *err, size_t err_len) {
  FILE *f = fopen(path, "rb");
  if (!f) { snprintf(err, err_len, "JWT_JWKS_FILE %s cannot be read", path); return -1; }
  char *buf = malloc(JWK_MAX_TEXT_BYTES + 1);
  size_t n = buf ? fread(buf, 1, JWK_MAX_TEXT_BYTES + 1, f) : 0;
  fclose(f);
  char why[300];
  int rc = buf ? jwk_set_parse(buf, n, out, why, sizeof why) : -1;
  if (rc != 0) snprintf(err, err_len, "JWT_JWKS_FILE %s: %s", path, buf ? why : "out of memory");
  free(buf);
  return rc;
}

/* A new key set from every source; NULL with err when the PEM folder fails. */
static struct auth_keys *build(struct keysource *ks, char *err, size_t err_len) {
  const struct g1p_config *c = ks->cfg;
  const char *issuer = c->jwt_issuer ? c->jwt_issuer : c->jwt_oidc_issuer;
  struct auth_keys *k = auth_keys_load(c->jwt_hs256_secret, c->jwt_public_keys_dir, issuer, c->jwt_audience, err, err_len);
  if (!k) return NULL;
  int skipped_file = auth_keys_add_jwks(k, &ks->file_set);
  int skipped_url = skipped_file < 0 ? -1 : auth_keys_add_jwks(k, &ks->url_set);
  if (skipped_file < 0 || skipped_url < 0) {
    snprintf(err, err_len, "out of memory");
    auth_keys_free(k);
    return NULL;
  }
  if (skipped_file + skipped_url > 0)
    y_log_message(Y_LOG_LEVEL_WARNING, "Security - %d key(s) skipped: their kid is already taken by a PEM file or the key file", skipped_file + skipped_url);
  return k;
}

/* event: "reload" (SIGHUP) or "refresh" (published key set). */
static void install(struct keysource *ks, const char *event) {
  if (!ks->ring) return; /* at start: keysource_start builds the first set itself */
  char err[512];
  struct auth_keys *next = build(ks, err, sizeof err);
  if (!next) {
    y_log_message(Y_LOG_LEVEL_ERROR, "Security - key %s failed, keeping the current keys: %s", event, err);
    return;
  }
  size_t n = next->nkeys;
  auth_keyring_replace(ks->ring, next);
  y_log_message(Y_LOG_LEVEL_INFO, "Security - keys %sed: %zu public key(s)", event, n);
}

/* OpenID discovery: the issuer's own document names its key set. */
static char *discover_jwks_uri(const struct g1p_config *c, char *err, size_t err_len) {
  const struct fetch_opts o = fetch_options(c);
  size_t ilen = strlen(c->jwt_oidc_issuer);
  while (ilen > 0 && c->jwt_oidc_issuer[ilen - 1] == '/') ilen--;
  char url[2048];
  snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)(ilen > 1900 ? 1900 : ilen), c->jwt_oidc_issuer);
  char *text = NULL, *uri = NULL;
  size_t len = 0;
  char why[256];
  if (fetch_get(url, &o, &text, &len, why, sizeof why) != 0) {
    snprintf(err, err_len, "discovery %.200s: %s", url, why);
    return NULL;
  }
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
  const char *iss = json_string_value(json_object_get(doc, "issuer"));
  const char *jwks = json_string_value(json_object_get(doc, "jwks_uri"));
  if (!json_is_object(doc)) snprintf(err, err_len, "discovery %.200s: not a JSON object", url);
  else if (!iss || strcmp(iss, c->jwt_oidc_issuer) != 0) snprintf(err, err_len, "discovery %.200s: its issuer is not JWT_OIDC_ISSUER", url);
  else if (!fetch_scheme_allowed(jwks, c->jwt_jwks_allow_http)) snprintf(err, err_len, "discovery %.200s: jwks_uri is missing or not https", url);
  else uri = strdup(jwks);
  json_decref(doc);
  free(text);
  return uri;
}

/* One fetch of the published set; installs it when it changed. */
static void refresh_remote(struct keysource *ks) {
  const struct g1p_config *c = ks->cfg;
  char err[512], why[300];
  char *uri = c->jwt_jwks_url ? strdup(c->jwt_jwks_url) : discover_jwks_uri(c, err, sizeof err);
  char *text = NULL;
  size_t len = 0;
  struct jwk_set set = {0};
  const struct fetch_opts o = fetch_options(c);
  if (!uri) goto failed;
  if (fetch_get(uri, &o, &text, &len, why, sizeof why) != 0) {
    snprintf(err, sizeof err, "%.200s: %.280s", uri, why);
    goto failed;
  }
  if (jwk_set_parse(text, len, &set, why, sizeof why) != 0) {
    snprintf(err, sizeof err, "%.200s: %.280s", uri, why);
    goto failed;
  }
  pthread_mutex_lock(&ks->install_mu);
  if (!ks->url_text || strcmp(ks->url_text, text) != 0) { /* an unchanged set changes nothing */
    jwk_set_free(&ks->url_set);
    ks->url_set = set;
    memset(&set, 0, sizeof set);
    free(ks->url_text);
    ks->url_text = text;
    text = NULL;
    install(ks, "refresh");
  }
  pthread_mutex_unlock(&ks->install_mu);
  goto done;
failed:
  y_log_message(Y_LOG_LEVEL_ERROR, "Security - key refresh failed, keeping the current keys: %s", err);
done:
  jwk_set_free(&set);
  free(uri);
  free(text);
}

static void *refresh_main(void *arg) {
  struct keysource *ks = arg;
  pthread_mutex_lock(&ks->mu);
  while (!ks->stop) {
    time_t every = ks->url_text ? (time_t)ks->cfg->jwt_jwks_refresh_s : RETRY_AFTER_FAILURE_S;
    if (every > (time_t)ks->cfg->jwt_jwks_refresh_s) every = (time_t)ks->cfg->jwt_jwks_refresh_s;
    while (!ks->stop && !ks->wanted && mono_now() < ks->last_attempt + every) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1; /* re-check each second: the monotonic deadline is what counts */
      pthread_cond_timedwait(&ks->wake, &ks->mu, &until);
    }
    if (ks->stop) break;
    ks->wanted = false;
    ks->fetching = true;
    ks->last_attempt = mono_now();
    pthread_mutex_unlock(&ks->mu);
    refresh_remote(ks);
    pthread_mutex_lock(&ks->mu);
    ks->fetching = false;
    ks->attempts++;
    pthread_cond_broadcast(&ks->done);
  }
  pthread_mutex_unlock(&ks->mu);
  return NULL;
}

struct keysource *keysource_start(const struct g1p_config *cfg, char *err, size_t err_len) {
  struct keysource *ks = calloc(1, sizeof *ks);
  if (!ks) { snprintf(err, err_len, "out of memory"); return NULL; }
  ks->cfg = cfg;
  ks->remote = cfg->jwt_jwks_url || cfg->jwt_oidc_issuer;
  pthread_mutex_init(&ks->install_mu, NULL);
  pthread_mutex_init(&ks->mu, NULL);
  pthread_cond_init(&ks->wake, NULL);
  pthread_cond_init(&ks->done, NULL);
  if (cfg->jwt_jwks_file && read_key_file(cfg->jwt_jwks_file, &ks->file_set, err, err_len)) goto fail;
  if (ks->remote) {
    ks->last_attempt = mono_now();
    refresh_remote(ks); /* at start; a failure is retried by the thread */
  }
  struct auth_keys *initial = build(ks, err, err_len);
  if (!initial) goto fail;
  ks->ring = auth_keyring_new(initial);
  if (!ks->ring) { auth_keys_free(initial); snprintf(err, err_len, "out of memory"); goto fail; }
  if (ks->remote) {
    if (pthread_create(&ks->thread, NULL, refresh_main, ks) != 0) { snprintf(err, err_len, "cannot start the key refresh thread"); goto fail; }
    ks->thread_started = true;
  }
  return ks;
fail:
  keysource_stop(ks);
  return NULL;
}

struct auth_keyring *keysource_ring(struct keysource *ks) { return ks->ring; }

void keysource_reload(struct keysource *ks) {
  char err[512];
  struct jwk_set fresh = {0};
  pthread_mutex_lock(&ks->install_mu);
  if (ks->cfg->jwt_jwks_file) {
    if (read_key_file(ks->cfg->jwt_jwks_file, &fresh, err, sizeof err) == 0) {
      jwk_set_free(&ks->file_set);
      ks->file_set = fresh;
    } else {
      y_log_message(Y_LOG_LEVEL_ERROR, "Security - key file reload failed, keeping its current keys: %s", err);
    }
  }
  install(ks, "reload");
  pthread_mutex_unlock(&ks->install_mu);
  if (ks->remote) {
    pthread_mutex_lock(&ks->mu);
    ks->wanted = true;
    pthread_cond_signal(&ks->wake);
    pthread_mutex_unlock(&ks->mu);
  }
}

bool keysource_unknown_kid(struct keysource *ks, unsigned long generation) {
  if (!ks || !ks->remote) return false;
  pthread_mutex_lock(&ks->mu);
  time_t now = mono_now();
  bool may_trigger = ks->last_kid_trigger == 0 || now >= ks->last_kid_trigger + UNKNOWN_KID_MIN_INTERVAL_S;
  if (!ks->fetching && !ks->wanted && !may_trigger) {
    pthread_mutex_unlock(&ks->mu);
    return false;
  }
  unsigned long target = ks->attempts + 1;
  if (!ks->fetching && !ks->wanted) {
    ks->wanted = true;
    ks->last_kid_trigger = now;
    pthread_cond_signal(&ks->wake);
  }
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += UNKNOWN_KID_WAIT_S;
  while (ks->attempts < target && !ks->stop)
    if (pthread_cond_timedwait(&ks->done, &ks->mu, &until) != 0) break;
  pthread_mutex_unlock(&ks->mu);
  return auth_keyring_current(ks->ring)->generation != generation;
}

void keysource_stop(struct keysource *ks) {
  if (!ks) return;
  if (ks->thread_started) {
    pthread_mutex_lock(&ks->mu);
    ks->stop = true;
    pthread_cond_broadcast(&ks->wake);
    pthread_cond_broadcast(&ks->done);
    pthread_mutex_unlock(&ks->mu);
    pthread_join(ks->thread, NULL);
  }
  auth_keyring_free(ks->ring);
  jwk_set_free(&ks->file_set);
  jwk_set_free(&ks->url_set);
  free(ks->url_text);
  pthread_mutex_destroy(&ks->install_mu);
  pthread_mutex_destroy(&ks->mu);
  pthread_cond_destroy(&ks->wake);
  pthread_cond_destroy(&ks->done);
  free(ks);
}
