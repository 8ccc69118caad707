/* clock.c: the real clock and the fixed clock tests drive by hand. */
#include "rotor/clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rotor/timefmt.h"

#ifdef ROTOR_TEST_HOOKS
/* ROTOR_TEST_TIME is either a timestamp or a file holding one, which the
 * test doubles and rotor read alike: one settable clock for a whole test.
 * Test builds only, like curl's CURL_TIME. */
static int test_time(int64_t *out)
{
	const char *v = getenv("ROTOR_TEST_TIME");
	char buf[64];
	if (!v || !*v)
		return 0;
	if (v[0] == '/') {
		FILE *f = fopen(v, "r");
		if (!f)
			return 0;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		v = buf;
	}
	return rotor_time_parse(out, v, NULL, 0) == 0;
}

/* ROTOR_TEST_SLEEP_SCALE=F, with 0 <= F <= 1, runs the real clock's sleeps
 * in simulated time: a sleep of ms waits ms * F for real and counts the rest
 * as slept, in skipped_ms, which monotonic_ms() adds. Every loop bounded by
 * a monotonic deadline (HTTP retries, the new key's validation, Infisical's
 * pacing and 429 waits) thus sees the whole wait and makes the attempts it
 * would make with real sleeps, only sooner, and still ends. Wall time
 * (now()) does not move: in the end-to-end tests that is ROTOR_TEST_TIME,
 * which only the test moves. Waits outside this clock stay real (socket
 * timeouts, a consumer's reload command, a double's own delays), so a test
 * that checks that rotor waits long enough for something real (IAM
 * propagating a new key, a rate-limit window moved by a background job)
 * sets 1. Unset, empty or not a number in [0, 1]: real sleeps. CTest's
 * end-to-end tests set 0 (tests/CMakeLists.txt). Test builds only. */
static _Atomic int64_t skipped_ms;

static double test_sleep_scale(void)
{
	const char *v = getenv("ROTOR_TEST_SLEEP_SCALE");
	char *end;
	if (!v || !*v)
		return 1.0;
	double f = strtod(v, &end);
	if (*end != '\0' || !(f >= 0.0 && f <= 1.0))
		return 1.0;
	return f;
}
#endif

static int64_t real_now(struct rotor_clock *c)
{
	(void)c;
#ifdef ROTOR_TEST_HOOKS
	int64_t t;
	if (test_time(&t))
		return t;
#endif
	return (int64_t)time(NULL);
}

static int64_t real_monotonic_ms(struct rotor_clock *c)
{
	struct timespec ts;
	(void)c;
	clock_gettime(CLOCK_MONOTONIC, &ts);
#ifdef ROTOR_TEST_HOOKS
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&skipped_ms);
#else
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

static void real_sleep_ms(struct rotor_clock *c, int64_t ms)
{
	struct timespec ts;
	(void)c;
	if (ms <= 0)
		return;
#ifdef ROTOR_TEST_HOOKS
	double scale = test_sleep_scale();
	if (scale < 1.0) {
		int64_t slept = (int64_t)((double)ms * scale);
		atomic_fetch_add(&skipped_ms, ms - slept);
		ms = slept;
		if (ms <= 0)
			return;
	}
#endif
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct rotor_clock *rotor_clock_real(void)
{
	static struct rotor_clock real = {
	    .now = real_now,
	    .monotonic_ms = real_monotonic_ms,
	    .sleep_ms = real_sleep_ms,
	};
	return &real;
}

static int64_t fixed_now(struct rotor_clock *c)
{
	return c->fixed_ms / 1000;
}

static int64_t fixed_monotonic_ms(struct rotor_clock *c)
{
	return c->fixed_ms;
}

static void fixed_sleep_ms(struct rotor_clock *c, int64_t ms)
{
	if (ms > 0) {
		c->fixed_ms += ms;
		c->slept_ms += ms;
	}
}

void rotor_clock_fixed_init(struct rotor_clock *c, int64_t now)
{
	memset(c, 0, sizeof(*c));
	c->now = fixed_now;
	c->monotonic_ms = fixed_monotonic_ms;
	c->sleep_ms = fixed_sleep_ms;
	c->fixed_ms = now * 1000;
}

void rotor_clock_fixed_set(struct rotor_clock *c, int64_t now)
{
	c->fixed_ms = now * 1000;
}

void rotor_clock_fixed_advance(struct rotor_clock *c, int64_t seconds)
{
	c->fixed_ms += seconds * 1000;
}

int64_t rotor_process_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rotor_process_sleep_ms(int64_t ms)
{
	struct timespec ts;
	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
