/* See include/g1p/dates.h. Civil-date conversions after Howard Hinnant's
 * public-domain algorithms (days_from_civil / civil_from_days). */
#include <stdio.h>
#include "g1p/dates.h"

long dates_days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void dates_civil_from_days(long z, int *y, int *m, int *d) {
  z += 719468;
  long era = (z >= 0 ? z : z - 146096) / 146097;
  long doe = z - era * 146097;
  long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

long dates_parse(const char *s) {
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0');
  int d = (s[8] - '0') * 10 + (s[9] - '0');
  return dates_days_from_civil(y, m, d);
}

void dates_format(long days, char out[11]) {
  int y, m, d;
  dates_civil_from_days(days, &y, &m, &d);
  /* Dates outside 0000..9999 do not occur: inputs are validated years. */
  unsigned uy = (unsigned)y % 10000u, um = (unsigned)m % 13u, ud = (unsigned)d % 32u;
  snprintf(out, 11, "%04u-%02u-%02u", uy, um, ud);
}

static long last_sunday(int y, int m) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  long last = dates_days_from_civil(y, m, mdays[m - 1]);
  long weekday = (last + 4) % 7; /* 1970-01-01 was a Thursday (4); 0 = Sunday */
  if (weekday < 0) weekday += 7;
  return last - weekday;
}

long dates_brussels_day(time_t t) {
  long utc_days = (long)(t / 86400);
  if (t < 0 && t % 86400) utc_days--;
  int y, m, d;
  dates_civil_from_days(utc_days, &y, &m, &d);
  time_t dst_start = (time_t)last_sunday(y, 3) * 86400 + 3600;
  time_t dst_end = (time_t)last_sunday(y, 10) * 86400 + 3600;
  time_t offset = (t >= dst_start && t < dst_end) ? 7200 : 3600;
  time_t local = t + offset;
  long days = (long)(local / 86400);
  if (local < 0 && local % 86400) days--;
  return days;
}
