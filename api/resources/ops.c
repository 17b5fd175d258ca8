/* Operations endpoints, served without a token: liveness, readiness (the
 * database answers), the OpenAPI contract the binary was built with and its
 * HTML reference. */
#include <string.h>
#include "g1p/embedded.h"
#include "g1p/resources.h"

int ops_health(struct g1p_req *r) {
  static const char body[] = "{\"status\":\"ok\"}";
  return respond_json_text(r, 200, body, sizeof body - 1);
}

int ops_ready(struct g1p_req *r) {
  /* Ready means a request could use the database now: run a statement on a
   * pooled connection (PQping would say "ok" even when our database is gone,
   * as long as the server answers). */
  struct db_tx tx;
  int rc = -1;
  if (db_acquire(r->app->db, &tx, &r->problem) == 0) {
    PGresult *res = db_exec(&tx, &r->problem, "SELECT 1 FROM schema_migrations LIMIT 1", 0, NULL);
    if (res) {
      static const char body[] = "{\"status\":\"ready\"}";
      rc = respond_json_text(r, 200, body, sizeof body - 1);
      PQclear(res);
    }
  }
  db_end(&tx);
  if (rc != 0) {
    problem_clear(&r->problem);
    problem_set(&r->problem, PROBLEM_UNAVAILABLE, "The database is not reachable.");
  }
  return rc;
}

int ops_openapi(struct g1p_req *r) {
  return respond_text(r, 200, "application/yaml; charset=utf-8", embedded_openapi, embedded_openapi_len);
}

/* The reference page (openapi/docs.html) is Redoc with its script, styles,
 * icons and font inlined, and loads nothing else: the policy allows exactly
 * that and nothing from anywhere, this server included. 'unsafe-inline' is
 * the page's own script and styles (Redoc adds styles at run time, so no
 * hashes); data: is its inlined images and icon font. Nothing may frame it,
 * set a <base> or post a form. */
static const char DOCS_CSP[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

int ops_docs(struct g1p_req *r) {
  respond_header(r, "Content-Security-Policy", DOCS_CSP);
  respond_header(r, "X-Content-Type-Options", "nosniff");
  return respond_text(r, 200, "text/html; charset=utf-8", embedded_docs, embedded_docs_len);
}
