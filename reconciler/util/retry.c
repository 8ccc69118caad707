/* retry.c: the one retry policy (see retry.h). */
#include "util/retry.h"

#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rotor/clock.h"

void rotor_retry_begin(struct rotor_retry *r, const struct rotor_retry_policy *p,
                       struct rotor_clock *clock)
{
	r->policy = p;
	r->clock = clock ? clock : rotor_clock_real();
	r->start_ms = r->clock->monotonic_ms(r->clock);
	r->attempt = 0;
	r->waited = 0;
	r->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
	if (!r->rng)
		r->rng = 0x9e3779b97f4a7c15u;
}

int64_t rotor_retry_remaining_ms(const struct rotor_retry *r)
{
	if (r->policy->deadline_ms <= 0)
		return INT64_MAX;
	return r->policy->deadline_ms - (r->clock->monotonic_ms(r->clock) - r->start_ms);
}

static uint64_t next_random(struct rotor_retry *r)
{
	uint64_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	r->rng ^= r->rng >> 12; /* xorshift64* */
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545f4914f6cdd1du;
}

int64_t rotor_retry_backoff_ms(struct rotor_retry *r, int attempt)
{
	const struct rotor_retry_policy *p = r->policy;
	int64_t ceiling = p->base_ms;
	for (int i = 1; i < attempt && ceiling < p->max_ms; i++)
		ceiling *= 2;
	if (ceiling > p->max_ms)
		ceiling = p->max_ms;
	if (ceiling <= 0)
		return 0;
	switch (p->jitter) {
	case ROTOR_JITTER_NONE:
		return ceiling;
	case ROTOR_JITTER_EQUAL:
		return ceiling / 2 + (int64_t)(next_random(r) % (uint64_t)(ceiling / 2 + 1));
	default:
		return (int64_t)(next_random(r) % (uint64_t)(ceiling + 1));
	}
}

enum rotor_retry_verdict rotor_retry_next(struct rotor_retry *r, int64_t retry_after_ms)
{
	const struct rotor_retry_policy *p = r->policy;
	r->attempt++;
	if (p->max_attempts > 0 && r->attempt >= p->max_attempts)
		return ROTOR_RETRY_ATTEMPTS;
	int64_t remaining = rotor_retry_remaining_ms(r);
	int64_t wait;
	if (retry_after_ms >= 0) {
		/* A server that names its wait gets exactly that, or nothing:
		 * less would be throttled again, more than our limit or the
		 * deadline would stall the caller. */
		if (retry_after_ms > p->retry_after_max_ms)
			return ROTOR_RETRY_WAIT_TOO_LONG;
		if (retry_after_ms >= remaining)
			return ROTOR_RETRY_DEADLINE;
		wait = retry_after_ms;
	} else {
		wait = rotor_retry_backoff_ms(r, r->attempt);
		if (wait >= remaining)
			return ROTOR_RETRY_DEADLINE;
	}
	r->waited = wait;
	r->clock->sleep_ms(r->clock, wait);
	return ROTOR_RETRY_AGAIN;
}
