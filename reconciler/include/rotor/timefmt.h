/*
 * timefmt.h: durations ("90d", "1d12h") and RFC 3339 timestamps.
 *
 * Durations are a sequence of <integer><unit> with units w d h m s, each at
 * most once and in that order (largest first), e.g. "2w", "36h", "1d12h",
 * "45s". Timestamps are RFC 3339 as AWS and Infisical send them:
 * "2026-11-22T10:00:00Z", with fractional seconds ("...:28.381652Z") or an
 * offset ("+00:00", "-05:00"); fractions are truncated to whole seconds.
 */
/* Thread rules: pure: any thread. */
#ifndef ROTOR_TIMEFMT_H
#define ROTOR_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parses s into seconds. On failure returns ROTOR_EINVALID and writes a
 * message saying what is wrong and where into why (if non-NULL). */
int rotor_duration_parse(int64_t *out, const char *s, char *why, size_t why_len);
/* Formats seconds as the shortest duration string ("1d12h", "0s"). */
void rotor_duration_format(char *buf, size_t len, int64_t seconds);
/* A human form for reports: "3d 4h", "12m", "45s" (at most two units). */
void rotor_duration_human(char *buf, size_t len, int64_t seconds);

/* Parses an RFC 3339 timestamp into Unix seconds. */
int rotor_time_parse(int64_t *out, const char *s, char *why, size_t why_len);
/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (buf of at least 21). */
void rotor_time_format(char *buf, size_t len, int64_t t);
/* Unix seconds from a UTC civil date and time (no time zone involved). */
int64_t rotor_time_from_civil(int year, int month, int day, int hour, int min, int sec);

#define ROTOR_TIME_STR_MAX 21

#endif
