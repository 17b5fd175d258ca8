/* Calendar helpers for the programme's dates. The one-month deadline rule
 * itself lives in the database (sql/002_referrals.sql), in one place. "Today" is the date in
 * Europe/Brussels (the programme's clock), computed without touching the
 * process time zone (setenv("TZ") is not thread-safe). Pure: unit-tested. */
#ifndef G1P_DATES_H
#define G1P_DATES_H
#include <stdbool.h>
#include <time.h>

/* Days since 1970-01-01 for a proleptic Gregorian date. */
long dates_days_from_civil(int y, int m, int d);
void dates_civil_from_days(long days, int *y, int *m, int *d);
/* Parses a YYYY-MM-DD already checked by validate_date. */
long dates_parse(const char *s);
/* Writes YYYY-MM-DD (11 bytes with NUL). */
void dates_format(long days, char out[11]);
/* The date in Europe/Brussels at instant t (CET, CEST from the last Sunday
 * of March 01:00 UTC to the last Sunday of October 01:00 UTC). */
long dates_brussels_day(time_t t);

#endif
