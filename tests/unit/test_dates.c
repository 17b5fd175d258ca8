/* Unit tests for api/dates.c: date arithmetic, and "today" in
 * Europe/Brussels around midnight and DST changes. (The one-month rule is
 * the database's; tests/http/deadlines.test.mjs checks it with the SPEC's
 * table.) */
#include "check.h"
#include "g1p/dates.h"

static const char *brussels(time_t t) {
  static char out[11];
  dates_format(dates_brussels_day(t), out);
  return out;
}

int main(void) {
  char day[11];
  dates_format(dates_parse("2024-02-29") + 1, day);
  CHECK_STR(day, "2024-03-01");
  dates_format(dates_parse("2025-12-31") + 1, day);
  CHECK_STR(day, "2026-01-01");
  CHECK(dates_parse("1970-01-01") == 0);
  CHECK(dates_parse("2025-02-07") - dates_parse("2025-02-03") == 4);

  /* 2025-01-15 22:59:59 UTC is 23:59:59 in Brussels (CET); a second later it is the 16th. */
  CHECK_STR(brussels(1736981999), "2025-01-15");
  CHECK_STR(brussels(1736982000), "2025-01-16");
  /* Summer (CEST, UTC+2): 2025-07-01 21:59:59 UTC is 23:59:59 local. */
  CHECK_STR(brussels(1751407199), "2025-07-01");
  CHECK_STR(brussels(1751407200), "2025-07-02");
  /* DST starts 2025-03-30 01:00 UTC (1743296400); ends 2025-10-26 01:00 UTC (1761440400). */
  CHECK_STR(brussels(1743292800 - 3601), "2025-03-29"); /* 23:59:59 CET */
  CHECK_STR(brussels(1743292800 - 3600), "2025-03-30");
  CHECK_STR(brussels(1743292800 + 79199), "2025-03-30"); /* 23:59:59 CEST */
  CHECK_STR(brussels(1743292800 + 79200), "2025-03-31");
  CHECK_STR(brussels(1761436800 - 7201), "2025-10-25"); /* 23:59:59 CEST */
  CHECK_STR(brussels(1761436800 - 7200), "2025-10-26");
  CHECK_STR(brussels(1761436800 + 82799), "2025-10-26"); /* 23:59:59 CET */
  CHECK_STR(brussels(1761436800 + 82800), "2025-10-27");
  return CHECK_DONE();
}
