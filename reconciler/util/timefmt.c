/* timefmt.c: durations and RFC 3339 timestamps, parsed strictly, in UTC only. */
#include "rotor/timefmt.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rotor/error.h"

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	if (why && why_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return ROTOR_EINVALID;
}

static const struct {
	char unit;
	int64_t seconds;
} units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* Ten years is far past any sensible cadence and keeps sums from overflowing. */
#define DURATION_MAX ((int64_t)3650 * 86400)

int rotor_duration_parse(int64_t *out, const char *s, char *why, size_t why_len)
{
	int64_t total = 0;
	size_t next_unit = 0; /* units must come largest first, each once */
	const char *p = s;
	if (!s || !*s)
		return fail(why, why_len, "empty duration: write an integer and a unit, e.g. 90d");
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return fail(
			    why, why_len,
			    "invalid duration \"%s\": expected a digit at offset %zu; write an "
			    "integer and a unit (w d h m s), e.g. 90d, 36h, 1d12h",
			    s, (size_t)(p - s));
		int64_t n = 0;
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX)
				return fail(why, why_len,
				            "duration \"%s\" is too large (at most 3650d)", s);
			p++;
		}
		if (!*p)
			return fail(
			    why, why_len,
			    "invalid duration \"%s\": the number %lld has no unit; add one of "
			    "w d h m s (e.g. %llds or %lldd)",
			    s, (long long)n, (long long)n, (long long)n);
		size_t u = 0;
		while (u < NUNITS && units[u].unit != *p)
			u++;
		if (u == NUNITS)
			return fail(why, why_len,
			            "invalid duration \"%s\": unknown unit '%c'; use w d h m s", s,
			            *p);
		if (u < next_unit)
			return fail(
			    why, why_len,
			    "invalid duration \"%s\": unit '%c' out of order or repeated; write "
			    "larger units first, each once (e.g. 1d12h)",
			    s, *p);
		next_unit = u + 1;
		total += n * units[u].seconds;
		if (total > DURATION_MAX)
			return fail(why, why_len, "duration \"%s\" is too large (at most 3650d)",
			            s);
		p++;
	}
	*out = total;
	return 0;
}

void rotor_duration_format(char *buf, size_t len, int64_t seconds)
{
	size_t o = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	if (seconds <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t u = 0; u < NUNITS && seconds > 0; u++) {
		/* Weeks only when the whole remainder is whole weeks: "10d" reads
		 * better than "1w3d". */
		if (units[u].unit == 'w' && seconds % units[u].seconds != 0)
			continue;
		int64_t n = seconds / units[u].seconds;
		if (n == 0)
			continue;
		int w = snprintf(buf + o, len - o, "%lld%c", (long long)n, units[u].unit);
		if (w < 0 || (size_t)w >= len - o)
			return;
		o += (size_t)w;
		seconds -= n * units[u].seconds;
	}
}

void rotor_duration_human(char *buf, size_t len, int64_t seconds)
{
	int neg = seconds < 0;
	int64_t s = neg ? -seconds : seconds;
	int64_t d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60, sec = s % 60;
	const char *sign = neg ? "-" : "";
	if (d > 0)
		h ? snprintf(buf, len, "%s%lldd %lldh", sign, (long long)d, (long long)h)
		  : snprintf(buf, len, "%s%lldd", sign, (long long)d);
	else if (h > 0)
		m ? snprintf(buf, len, "%s%lldh %lldm", sign, (long long)h, (long long)m)
		  : snprintf(buf, len, "%s%lldh", sign, (long long)h);
	else if (m > 0)
		sec ? snprintf(buf, len, "%s%lldm %llds", sign, (long long)m, (long long)sec)
		    : snprintf(buf, len, "%s%lldm", sign, (long long)m);
	else
		snprintf(buf, len, "%s%llds", sign, (long long)sec);
}

/* Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int64_t rotor_time_from_civil(int year, int month, int day, int hour, int min, int sec)
{
	return days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 +
	       min * 60 + sec;
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int rotor_time_parse(int64_t *out, const char *s, char *why, size_t why_len)
{
	int Y, M, D, h, m, sec;
	const char *hint = "expected RFC 3339 like 2026-11-22T10:00:00Z";
	if (!s)
		return fail(why, why_len, "empty timestamp: %s", hint);
	size_t len = strlen(s);
	if (len < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return fail(why, why_len, "invalid timestamp \"%s\": %s", s, hint);
	if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 || sec > 60)
		return fail(why, why_len, "invalid timestamp \"%s\": date or time out of range", s);
	if (sec == 60)
		sec = 59; /* a leap second: close enough for key ages */
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return fail(why, why_len, "invalid timestamp \"%s\": empty fraction", s);
		while (isdigit((unsigned char)*p))
			p++;
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return fail(why, why_len, "invalid timestamp \"%s\": bad UTC offset", s);
		offset = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return fail(why, why_len,
		            "invalid timestamp \"%s\": missing time zone (Z or +HH:MM)", s);
	}
	if (*p)
		return fail(why, why_len, "invalid timestamp \"%s\": trailing characters", s);
	*out = rotor_time_from_civil(Y, M, D, h, m, sec) - offset;
	return 0;
}

void rotor_time_format(char *buf, size_t len, int64_t t)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400;
	/* civil_from_days */
	int64_t z = days + 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	const unsigned d = doy - (153 * mp + 2) / 5 + 1;
	const unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(buf, len, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)y, m, d,
	         (long long)(secs / 3600), (long long)((secs % 3600) / 60), (long long)(secs % 60));
}
