/* ratelimit.c: an adaptive token bucket (util/ratelimit.h). */
#include "util/ratelimit.h"

#include <string.h>

#include "rotor/clock.h"

void rotor_bucket_init(struct rotor_bucket *b, struct rotor_clock *clock, double rate, double burst)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->clock = clock ? clock : rotor_clock_real();
	b->max_rate = rate > 0 ? rate : 1;
	b->min_rate = b->max_rate / 16 > 0.05 ? b->max_rate / 16 : 0.05;
	b->burst = burst >= 1 ? burst : 1;
	b->tokens = b->burst;
	b->last_ms = b->clock->monotonic_ms(b->clock);
}

void rotor_bucket_dispose(struct rotor_bucket *b)
{
	pthread_mutex_destroy(&b->lock);
}

/* The rate at monotonic time now; under the lock. */
static double rate_at(const struct rotor_bucket *b, int64_t now)
{
	if (!b->throttled_ms)
		return b->max_rate;
	int64_t since = now - b->throttled_ms;
	if (since >= ROTOR_BUCKET_RECOVER_MS)
		return b->max_rate;
	if (since < 0)
		since = 0;
	return b->floor_rate +
	       (b->max_rate - b->floor_rate) * (double)since / (double)ROTOR_BUCKET_RECOVER_MS;
}

/* Adds the tokens earned since last_ms; under the lock. */
static void refill(struct rotor_bucket *b, int64_t now)
{
	if (now > b->last_ms) {
		b->tokens += rate_at(b, now) * (double)(now - b->last_ms) / 1000.0;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_ms = now;
	}
}

int64_t rotor_bucket_take(struct rotor_bucket *b)
{
	pthread_mutex_lock(&b->lock);
	int64_t now = b->clock->monotonic_ms(b->clock);
	refill(b, now);
	b->tokens -= 1;
	int64_t wait = 0;
	if (b->tokens < 0)
		wait = (int64_t)(-b->tokens * 1000.0 / rate_at(b, now) + 0.999);
	b->taken++;
	b->waited_ms += wait;
	pthread_mutex_unlock(&b->lock);
	if (wait > 0)
		b->clock->sleep_ms(b->clock, wait);
	return wait;
}

void rotor_bucket_throttled(struct rotor_bucket *b)
{
	pthread_mutex_lock(&b->lock);
	int64_t now = b->clock->monotonic_ms(b->clock);
	refill(b, now);
	double r = rate_at(b, now) / 2;
	b->floor_rate = r < b->min_rate ? b->min_rate : r;
	b->throttled_ms = now ? now : 1;
	if (b->tokens > 0)
		b->tokens = 0;
	b->throttles++;
	pthread_mutex_unlock(&b->lock);
}

double rotor_bucket_rate(struct rotor_bucket *b)
{
	pthread_mutex_lock(&b->lock);
	double r = rate_at(b, b->clock->monotonic_ms(b->clock));
	pthread_mutex_unlock(&b->lock);
	return r;
}
