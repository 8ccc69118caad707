/*
 * retry.h (internal): the one retry policy — attempts, back-off with
 * jitter, a deadline, and a wait the server names (Retry-After) — that the
 * transport and every provider use. The caller classifies each failure
 * (retryable or not, and any wait the remote asked for); this decides
 * whether to try again and for how long to wait, and sleeps through the
 * injected clock, so tests run every back-off in simulated time.
 *
 * Thread rules: a struct rotor_retry is one call's state, on its stack.
 */
#ifndef ROTOR_RETRY_H
#define ROTOR_RETRY_H

#include <stdint.h>

struct rotor_clock;

enum rotor_retry_jitter {
	ROTOR_JITTER_FULL = 0, /* uniform in [0, ceiling] (the AWS SDKs' choice) */
	ROTOR_JITTER_EQUAL,    /* ceiling/2 + uniform in [0, ceiling/2] */
	ROTOR_JITTER_NONE,     /* exactly the ceiling */
};

struct rotor_retry_policy {
	int max_attempts;           /* 0: no limit (then a deadline is needed) */
	int64_t base_ms;            /* the first back-off's ceiling */
	int64_t max_ms;             /* the ceiling doubles per attempt up to this */
	int64_t deadline_ms;        /* the whole call, first attempt included; 0: none */
	int64_t retry_after_max_ms; /* a longer named wait is refused; 0: none accepted */
	enum rotor_retry_jitter jitter;
};

enum rotor_retry_verdict {
	ROTOR_RETRY_AGAIN = 0,    /* waited; try again */
	ROTOR_RETRY_ATTEMPTS,     /* max_attempts used up */
	ROTOR_RETRY_DEADLINE,     /* the wait would pass the deadline */
	ROTOR_RETRY_WAIT_TOO_LONG /* the server named a wait past retry_after_max_ms */
};

struct rotor_retry {
	const struct rotor_retry_policy *policy;
	struct rotor_clock *clock;
	int64_t start_ms; /* monotonic, at rotor_retry_begin */
	int attempt;      /* attempts made so far */
	int64_t waited;   /* the last wait, for messages */
	uint64_t rng;     /* fallback jitter state when getrandom fails */
};

void rotor_retry_begin(struct rotor_retry *r, const struct rotor_retry_policy *p,
                       struct rotor_clock *clock);

/* Milliseconds left before the deadline (INT64_MAX without one). */
int64_t rotor_retry_remaining_ms(const struct rotor_retry *r);

/* The back-off after attempt number `attempt` (1-based), jitter included. */
int64_t rotor_retry_backoff_ms(struct rotor_retry *r, int attempt);

/* Call after each failed attempt the caller judged retryable;
 * retry_after_ms >= 0 is a wait the remote named (taken exactly, or
 * refused). On ROTOR_RETRY_AGAIN the wait has been slept. */
enum rotor_retry_verdict rotor_retry_next(struct rotor_retry *r, int64_t retry_after_ms);

#endif
