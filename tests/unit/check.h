/* A minimal assertion kit for the unit tests: each CHECK counts, a failure
 * prints where and why, and the program exits non-zero if any failed. */
#ifndef G1P_TEST_CHECK_H
#define G1P_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int checks_run, checks_failed;

#define CHECK(cond) do { checks_run++; if (!(cond)) { checks_failed++; \
  fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); checks_run++; \
  if (!a_ || !b_ || strcmp(a_, b_) != 0) { checks_failed++; \
  fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)
#define CHECK_DONE() (printf("%d passed, %d failed\n", checks_run - checks_failed, checks_failed), checks_failed ? 1 : 0)

#endif
