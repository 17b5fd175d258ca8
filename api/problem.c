/* The one place error responses are written: application/problem+json with
 * type, title, status, detail and (for validation) errors[]. Titles are fixed
 * per kind, like PostgreSQL's primary messages; the detail says what
 * happened to this request. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "g1p/problem.h"

struct kind_info { int status; const char *slug; const char *title; };

static const struct kind_info KINDS[] = {
  [PROBLEM_NONE] = {500, "internal", "Internal error"},
  [PROBLEM_BAD_REQUEST] = {400, "bad-request", "Malformed request"},
  [PROBLEM_UNAUTHORIZED] = {401, "unauthorized", "Authentication required"},
  [PROBLEM_FORBIDDEN] = {403, "forbidden", "Insufficient scope"},
  [PROBLEM_NOT_FOUND] = {404, "not-found", "Resource not found"},
  [PROBLEM_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method not allowed"},
  [PROBLEM_CONFLICT] = {409, "conflict", "Conflict with the current state"},
  [PROBLEM_GONE] = {410, "gone", "Cursor from another history"},
  [PROBLEM_PRECONDITION_FAILED] = {412, "precondition-failed", "Precondition failed"},
  [PROBLEM_BODY_TOO_LARGE] = {413, "body-too-large", "Request body too large"},
  [PROBLEM_URI_TOO_LONG] = {414, "uri-too-long", "Request target too long"},
  [PROBLEM_UNSUPPORTED_MEDIA] = {415, "unsupported-media-type", "Unsupported media type"},
  [PROBLEM_VALIDATION] = {422, "validation", "Validation failed"},
  [PROBLEM_PRECONDITION_REQUIRED] = {428, "precondition-required", "Precondition required"},
  [PROBLEM_HEADERS_TOO_LARGE] = {431, "headers-too-large", "Request header fields too large"},
  [PROBLEM_INTERNAL] = {500, "internal", "Internal error"},
  [PROBLEM_UNAVAILABLE] = {503, "unavailable", "Service unavailable"},
};

int problem_status(enum problem_kind kind) { return KINDS[kind].status; }

int problem_set(struct g1p_problem *p, enum problem_kind kind, const char *fmt, ...) {
  va_list ap;
  p->kind = kind;
  va_start(ap, fmt);
  vsnprintf(p->detail, sizeof p->detail, fmt, ap);
  va_end(ap);
  return -1;
}

void problem_add_error(struct g1p_problem *p, const char *field, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->errors == NULL) p->errors = json_array();
  /* A hostile body can name thousands of bad fields; report the first 100. */
  if (json_array_size(p->errors) < 100)
    json_array_append_new(p->errors, json_pack("{s:s,s:s}", "field", field, "message", msg));
  if (p->kind == PROBLEM_NONE) {
    p->kind = PROBLEM_VALIDATION;
    snprintf(p->detail, sizeof p->detail, "The request body has invalid fields; see errors.");
  }
}

int problem_has_errors(const struct g1p_problem *p) { return p->errors && json_array_size(p->errors) > 0; }

void problem_clear(struct g1p_problem *p) {
  json_decref(p->errors);
  json_decref(p->extra);
  memset(p, 0, sizeof *p);
}

json_t *problem_to_json(const struct g1p_problem *p) {
  const struct kind_info *k = &KINDS[p->kind];
  char type[64];
  snprintf(type, sizeof type, "urn:1g1p:problem:%s", k->slug);
  json_t *body = json_pack("{s:s,s:s,s:i,s:s}", "type", type, "title", k->title, "status", k->status,
                           "detail", p->detail[0] ? p->detail : k->title);
  if (p->errors) json_object_set(body, "errors", p->errors);
  if (p->extra) json_object_update_missing(body, p->extra);
  return body;
}

void problem_send(struct _u_response *resp, const struct g1p_problem *p) {
  const struct kind_info *k = &KINDS[p->kind];
  json_t *body = problem_to_json(p);
  char *text = json_dumps(body, JSON_COMPACT);
  ulfius_set_string_body_response(resp, (unsigned int)k->status, text ? text : "{}");
  u_map_put(resp->map_header, "Content-Type", "application/problem+json");
  if (p->kind == PROBLEM_UNAUTHORIZED)
    u_map_put(resp->map_header, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
  if (p->kind == PROBLEM_UNAVAILABLE) u_map_put(resp->map_header, "Retry-After", "2");
  free(text);
  json_decref(body);
}
