/* window.c: spec.windows, when rotor may change a user (rotor/plan.h). */
#include <stdio.h>
#include <string.h>

#include "rotor/plan.h"
#include "util/tz.h"

#define DAY 86400

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Is t inside window w? */
static int inside(const struct rotor_window *w, int64_t t)
{
	int32_t off = 0;
	if (rotor_tz_offset(w->time_zone ? w->time_zone : "UTC", t, &off) != 0)
		return 0; /* an unknown zone never opens (the config check says so) */
	int64_t local = t + off;
	int64_t day = floordiv(local, DAY);
	int dow = (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday; Monday = 0 */
	int minute = (int)((local - day * DAY) / 60);
	return (w->days & (1u << dow)) && minute >= w->start_min && minute < w->end_min;
}

int rotor_window_open(const struct rotor_manifest *m, int64_t t)
{
	if (!m->nwindows)
		return 1;
	for (size_t i = 0; i < m->nwindows; i++)
		if (inside(&m->windows[i], t))
			return 1;
	return 0;
}

int64_t rotor_window_next(const struct rotor_manifest *m, int64_t now)
{
	int64_t best = 0;
	if (rotor_window_open(m, now))
		return now;
	for (size_t i = 0; i < m->nwindows; i++) {
		const struct rotor_window *w = &m->windows[i];
		int32_t off = 0;
		if (rotor_tz_offset(w->time_zone ? w->time_zone : "UTC", now, &off) != 0)
			continue;
		int64_t today =
		    floordiv(now + off, DAY) * DAY; /* local midnight, as local seconds */
		for (int d = 0; d <= 8; d++) {
			int64_t local = today + (int64_t)d * DAY + (int64_t)w->start_min * 60;
			/* the offset at that moment (a DST change may lie between) */
			int32_t o2 = off;
			rotor_tz_offset(w->time_zone ? w->time_zone : "UTC", local - off, &o2);
			int64_t t = local - o2;
			if (t > now && inside(w, t) && (!best || t < best))
				best = t;
		}
	}
	return best;
}

void rotor_window_describe(const struct rotor_manifest *m, char *buf, size_t len)
{
	static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < m->nwindows && o < len; i++) {
		const struct rotor_window *w = &m->windows[i];
		o += (size_t)snprintf(buf + o, len - o, "%s", i ? "; " : "");
		int first = 1;
		for (int d = 0; d < 7 && o < len; d++)
			if (w->days & (1u << d)) {
				o += (size_t)snprintf(buf + o, len - o, "%s%s", first ? "" : ",",
				                      days[d]);
				first = 0;
			}
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, " %02d:%02d-%02d:%02d %s",
			                      w->start_min / 60, w->start_min % 60, w->end_min / 60,
			                      w->end_min % 60, w->time_zone ? w->time_zone : "UTC");
	}
}
