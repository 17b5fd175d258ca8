/* RFC 9457 problem details. Handlers never write an error response
 * themselves: they fill a struct g1p_problem (an error as a value) and return
 * it up; http.c writes it in one place (problem_send). */
#ifndef G1P_PROBLEM_H
#define G1P_PROBLEM_H
#include <jansson.h>
#include <ulfius.h>

enum problem_kind {
  PROBLEM_NONE = 0,
  PROBLEM_BAD_REQUEST,          /* 400 malformed JSON, bad query parameter */
  PROBLEM_UNAUTHORIZED,         /* 401 */
  PROBLEM_FORBIDDEN,            /* 403 missing scope */
  PROBLEM_NOT_FOUND,            /* 404 */
  PROBLEM_METHOD_NOT_ALLOWED,   /* 405 */
  PROBLEM_CONFLICT,             /* 409 */
  PROBLEM_GONE,                 /* 410 a change-feed cursor from another database history */
  PROBLEM_PRECONDITION_FAILED,  /* 412 stale If-Match */
  PROBLEM_BODY_TOO_LARGE,       /* 413 */
  PROBLEM_URI_TOO_LONG,         /* 414 request target over our limit */
  PROBLEM_UNSUPPORTED_MEDIA,    /* 415 */
  PROBLEM_VALIDATION,           /* 422 with errors[] */
  PROBLEM_PRECONDITION_REQUIRED,/* 428 */
  PROBLEM_HEADERS_TOO_LARGE,    /* 431 */
  PROBLEM_INTERNAL,             /* 500 */
  PROBLEM_UNAVAILABLE,          /* 503 with Retry-After */
};

struct g1p_problem {
  enum problem_kind kind;
  char detail[512];
  json_t *errors;    /* owned; [{"field": pointer, "message": text}] or NULL */
  json_t *extra;     /* owned; extension members merged into the body, or NULL */
  char constraint[64]; /* the database constraint that refused a change, if any */
};

/* Sets the problem and returns -1, so handlers can `return problem_set(...)`. */
int problem_set(struct g1p_problem *p, enum problem_kind kind, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* Adds one {"field","message"} entry (turns the problem into a 422 if unset). */
void problem_add_error(struct g1p_problem *p, const char *field, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
int problem_has_errors(const struct g1p_problem *p);
void problem_clear(struct g1p_problem *p);
int problem_status(enum problem_kind kind);

/* The problem as its JSON body (new reference). */
json_t *problem_to_json(const struct g1p_problem *p);
/* Writes the problem as the response body with its status and headers. */
void problem_send(struct _u_response *resp, const struct g1p_problem *p);

#endif
