/*
 * clock.h: the injectable clock.
 *
 * Nothing in rotor reads the time directly: it asks a struct rotor_clock.
 * The real clock reads the system; the fixed clock returns what a test set
 * and "sleeps" by advancing itself, so tests of windows and back-off run in
 * no time. Times are Unix seconds (UTC); sleeps are milliseconds.
 */
/* Thread rules: The real clock: any thread. A fixed clock is plain memory: set or
 * advance it only while no other thread reads it (tests move time between
 * rounds). */
#ifndef ROTOR_CLOCK_H
#define ROTOR_CLOCK_H

#include <stdint.h>

struct rotor_clock {
	/* Wall-clock time in Unix seconds. */
	int64_t (*now)(struct rotor_clock *c);
	/* Monotonic milliseconds, for deadlines and pacing. */
	int64_t (*monotonic_ms)(struct rotor_clock *c);
	/* Waits ms milliseconds (a fixed clock advances instead). */
	void (*sleep_ms)(struct rotor_clock *c, int64_t ms);
	int64_t fixed_ms; /* the fixed clock's time, in ms since the epoch */
	int64_t slept_ms; /* total sleep requested (for tests) */
};

/* The process-wide real clock. With ROTOR_TEST_HOOKS builds, when the
 * environment variable ROTOR_TEST_TIME holds an RFC 3339 time or the path of
 * a file holding one (the doubles' shared clock), now() returns that
 * instead. ROTOR_TEST_SLEEP_SCALE=F (0..1, test builds only) makes sleeps
 * last F of what is asked, and monotonic time counts the skipped part, so
 * deadline-bound retries make the same attempts in less real time (see
 * clock.c). Waits on other processes (rotor/lock.h) use real time. */
struct rotor_clock *rotor_clock_real(void);

/* Real time with no test hooks at all: for waits on other processes (a
 * reload command, another rotor holding a user's lock), which take the
 * time they take whatever a test does to rotor's own clock. */
int64_t rotor_process_ms(void);          /* monotonic milliseconds */
void rotor_process_sleep_ms(int64_t ms); /* sleeps, resuming after signals */

/* A fixed clock starting at `now` seconds. */
void rotor_clock_fixed_init(struct rotor_clock *c, int64_t now);
void rotor_clock_fixed_set(struct rotor_clock *c, int64_t now);
void rotor_clock_fixed_advance(struct rotor_clock *c, int64_t seconds);

#endif
