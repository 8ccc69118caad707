/*
 * test_retry.c: the one retry policy (reconciler/util/retry.c), in
 * simulated time: attempts, the three jitters, the deadline, and a wait the
 * server names, taken exactly or refused.
 */
#include <stdint.h>

#include "rotor/clock.h"
#include "testsupport.h"
#include "util/retry.h"

static void test_attempts_and_exact_waits(void **state)
{
	(void)state;
	struct rotor_clock c;
	struct rotor_retry r;
	const struct rotor_retry_policy p = {3, 1000, 2000, 0, 0, ROTOR_JITTER_NONE};
	rotor_clock_fixed_init(&c, 1780272000);
	rotor_retry_begin(&r, &p, &c);
	assert_int_equal(rotor_retry_next(&r, -1), ROTOR_RETRY_AGAIN); /* after attempt 1 */
	assert_int_equal(c.slept_ms, 1000);
	assert_int_equal(rotor_retry_next(&r, -1), ROTOR_RETRY_AGAIN); /* after attempt 2 */
	assert_int_equal(c.slept_ms, 3000);
	assert_int_equal(rotor_retry_next(&r, -1), ROTOR_RETRY_ATTEMPTS); /* 3 made */
	assert_int_equal(c.slept_ms, 3000);
}

static void test_jitter_ranges(void **state)
{
	(void)state;
	struct rotor_clock c;
	struct rotor_retry r;
	const struct rotor_retry_policy full = {0, 100, 800, 0, 0, ROTOR_JITTER_FULL};
	const struct rotor_retry_policy equal = {0, 100, 800, 0, 0, ROTOR_JITTER_EQUAL};
	rotor_clock_fixed_init(&c, 1780272000);
	for (int i = 0; i < 200; i++) {
		int attempt = 1 + i % 6; /* ceilings 100, 200, 400, 800, 800, 800 */
		int64_t ceiling = 100LL << (attempt - 1 < 3 ? attempt - 1 : 3);
		rotor_retry_begin(&r, &full, &c);
		int64_t w = rotor_retry_backoff_ms(&r, attempt);
		assert_true(w >= 0 && w <= ceiling);
		rotor_retry_begin(&r, &equal, &c);
		w = rotor_retry_backoff_ms(&r, attempt);
		assert_true(w >= ceiling / 2 && w <= ceiling);
	}
}

static void test_deadline_and_named_waits(void **state)
{
	(void)state;
	struct rotor_clock c;
	struct rotor_retry r;
	const struct rotor_retry_policy p = {0, 4000, 4000, 10000, 5000, ROTOR_JITTER_NONE};
	rotor_clock_fixed_init(&c, 1780272000);
	rotor_retry_begin(&r, &p, &c);
	/* a named wait is taken exactly, whatever the back-off says */
	assert_int_equal(rotor_retry_next(&r, 1234), ROTOR_RETRY_AGAIN);
	assert_int_equal(c.slept_ms, 1234);
	/* longer than retry_after_max_ms: refused, no sleep */
	assert_int_equal(rotor_retry_next(&r, 6000), ROTOR_RETRY_WAIT_TOO_LONG);
	assert_int_equal(c.slept_ms, 1234);
	/* back-off 4 s: 1.2 + 4 = 5.2 s of 10 */
	assert_int_equal(rotor_retry_next(&r, -1), ROTOR_RETRY_AGAIN);
	assert_int_equal(c.slept_ms, 5234);
	assert_true(rotor_retry_remaining_ms(&r) == 10000 - 5234);
	/* the next 4 s would still fit (4.77 s left) ... */
	assert_int_equal(rotor_retry_next(&r, -1), ROTOR_RETRY_AGAIN);
	/* ... but not another: the deadline, no sleep */
	assert_int_equal(rotor_retry_next(&r, -1), ROTOR_RETRY_DEADLINE);
	assert_int_equal(c.slept_ms, 9234);
	/* a named wait past the deadline is refused too */
	assert_int_equal(rotor_retry_next(&r, 1000), ROTOR_RETRY_DEADLINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_attempts_and_exact_waits),
	    cmocka_unit_test(test_jitter_ranges),
	    cmocka_unit_test(test_deadline_and_named_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
