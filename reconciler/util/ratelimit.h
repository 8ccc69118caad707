/*
 * ratelimit.h (internal): a token bucket shared by every worker that calls
 * one remote (an AWS account's IAM, its STS endpoint), adaptive like the
 * AWS SDKs' adaptive retry mode: a throttling reply halves the rate for
 * every caller at once (not just the one that saw it), and the rate climbs
 * back to the configured one linearly over ROTOR_BUCKET_RECOVER_MS without
 * another throttle.
 *
 * A caller takes a token before every attempt (retries included). Tokens
 * are reserved under the lock and waited for outside it, on the injected
 * clock, so N workers asking at once leave at the bucket's pace, in order.
 *
 * Thread rules: any thread (one mutex).
 */
#ifndef ROTOR_RATELIMIT_H
#define ROTOR_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

struct rotor_clock;

#define ROTOR_BUCKET_RECOVER_MS 60000 /* from a throttle back to the full rate */

struct rotor_bucket {
	pthread_mutex_t lock;
	struct rotor_clock *clock;
	double max_rate;      /* tokens a second, as configured */
	double min_rate;      /* the floor a throttle storm can push it to */
	double burst;         /* capacity */
	double tokens;        /* may go negative: reserved by callers now waiting */
	double floor_rate;    /* the rate right after the last throttle */
	int64_t last_ms;      /* monotonic time tokens were last added */
	int64_t throttled_ms; /* when the last throttle was reported; 0 never */
	uint64_t taken, throttles;
	int64_t waited_ms; /* total wait handed out, for the benchmark */
};

/* rate tokens a second (> 0), burst at most at once (>= 1); clock NULL:
 * the real clock. */
void rotor_bucket_init(struct rotor_bucket *b, struct rotor_clock *clock, double rate,
                       double burst);
void rotor_bucket_dispose(struct rotor_bucket *b);
/* Takes one token, sleeping on the clock until it is there; returns the ms
 * this caller waited. */
int64_t rotor_bucket_take(struct rotor_bucket *b);
/* A throttling reply from the remote: halve the current rate (not below
 * min_rate) for every caller, and empty the bucket. */
void rotor_bucket_throttled(struct rotor_bucket *b);
/* The rate now (tokens a second), for tests and status. */
double rotor_bucket_rate(struct rotor_bucket *b);

#endif
