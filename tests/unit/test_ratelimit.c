/*
 * test_ratelimit.c: the adaptive token bucket (util/ratelimit.h) under a
 * fixed clock: its pace, its burst, a throttle halving the rate for every
 * caller, the linear recovery, the floor of a throttle storm.
 */
#include <string.h>

#include "rotor/clock.h"
#include "testsupport.h"
#include "util/ratelimit.h"

#define T0 1780272000

static void test_pace_and_burst(void **state)
{
	(void)state;
	struct rotor_clock clk;
	struct rotor_bucket b;
	rotor_clock_fixed_init(&clk, T0);
	rotor_bucket_init(&b, &clk, 10, 10);
	/* the burst goes at once */
	for (int i = 0; i < 10; i++)
		assert_int_equal(rotor_bucket_take(&b), 0);
	assert_int_equal(clk.slept_ms, 0);
	/* then one every 100 ms */
	assert_int_equal(rotor_bucket_take(&b), 100);
	for (int i = 0; i < 19; i++)
		rotor_bucket_take(&b);
	assert_int_equal(clk.slept_ms, 2000);
	/* idle time refills up to the burst, no more */
	rotor_clock_fixed_advance(&clk, 60);
	int64_t before = clk.slept_ms;
	for (int i = 0; i < 10; i++)
		rotor_bucket_take(&b);
	assert_int_equal(clk.slept_ms, before);
	assert_int_equal(rotor_bucket_take(&b), 100);
	assert_int_equal((int)b.taken, 41);
	rotor_bucket_dispose(&b);
}

static void test_throttle_slows_and_recovers(void **state)
{
	(void)state;
	struct rotor_clock clk;
	struct rotor_bucket b;
	rotor_clock_fixed_init(&clk, T0);
	rotor_bucket_init(&b, &clk, 10, 1);
	rotor_bucket_take(&b);
	rotor_bucket_throttled(&b);
	/* half the rate, and the bucket emptied: the next waits 1/5 s */
	assert_true(rotor_bucket_rate(&b) > 4.99 && rotor_bucket_rate(&b) < 5.01);
	assert_int_equal(rotor_bucket_take(&b), 200);
	/* half-way through the recovery: 7.5 a second */
	clk.fixed_ms += ROTOR_BUCKET_RECOVER_MS / 2 - 200;
	assert_true(rotor_bucket_rate(&b) > 7.49 && rotor_bucket_rate(&b) < 7.51);
	/* recovered */
	clk.fixed_ms += ROTOR_BUCKET_RECOVER_MS / 2;
	assert_true(rotor_bucket_rate(&b) > 9.99 && rotor_bucket_rate(&b) < 10.01);
	rotor_bucket_dispose(&b);
}

static void test_throttle_storm_has_a_floor(void **state)
{
	(void)state;
	struct rotor_clock clk;
	struct rotor_bucket b;
	rotor_clock_fixed_init(&clk, T0);
	rotor_bucket_init(&b, &clk, 16, 1);
	for (int i = 0; i < 20; i++)
		rotor_bucket_throttled(&b);
	assert_true(rotor_bucket_rate(&b) > 0.99 && rotor_bucket_rate(&b) < 1.01); /* 16/16 */
	assert_int_equal((int)b.throttles, 20);
	/* still moving: one a second */
	assert_int_equal(rotor_bucket_take(&b), 1000);
	rotor_bucket_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pace_and_burst),
	    cmocka_unit_test(test_throttle_slows_and_recovers),
	    cmocka_unit_test(test_throttle_storm_has_a_floor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
