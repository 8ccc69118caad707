/* test_timefmt.c: durations and RFC 3339 timestamps, good and bad. */
#include <string.h>

#include "rotor/error.h"
#include "rotor/timefmt.h"
#include "testsupport.h"

static void test_duration_good(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t secs;
		const char *formatted;
	} cases[] = {
	    {"90d", 90 * 86400, "90d"},
	    {"36h", 36 * 3600, "1d12h"},
	    {"1d12h", 129600, "1d12h"},
	    {"45s", 45, "45s"},
	    {"2w", 14 * 86400, "2w"},
	    {"1w3d", 10 * 86400, "10d"},
	    {"0s", 0, "0s"},
	    {"1h30m15s", 5415, "1h30m15s"},
	    {"3650d", 3650LL * 86400, "3650d"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -1;
		char out[32];
		assert_int_equal(rotor_duration_parse(&v, cases[i].in, NULL, 0), 0);
		assert_int_equal(v, cases[i].secs);
		rotor_duration_format(out, sizeof(out), v);
		assert_string_equal(out, cases[i].formatted);
	}
}

static void test_duration_bad(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
	    {"", "empty duration"},
	    {"90", "has no unit"},
	    {"d", "expected a digit at offset 0"},
	    {"12x", "unknown unit 'x'"},
	    {"12h1d", "out of order or repeated"},
	    {"1h1h", "out of order or repeated"},
	    {"1.5h", "unknown unit '.'"},
	    {"-1h", "expected a digit at offset 0"},
	    {" 1h", "expected a digit"},
	    {"99999999999999999999d", "too large"},
	    {"3651d", "too large"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 0;
		char why[256] = "";
		assert_int_equal(rotor_duration_parse(&v, cases[i].in, why, sizeof(why)),
		                 ROTOR_EINVALID);
		if (!strstr(why, cases[i].why))
			fail_msg("duration \"%s\": expected \"%s\" in \"%s\"", cases[i].in,
			         cases[i].why, why);
	}
}

static void test_duration_human(void **state)
{
	(void)state;
	char b[32];
	rotor_duration_human(b, sizeof(b), 3 * 86400 + 4 * 3600 + 5);
	assert_string_equal(b, "3d 4h");
	rotor_duration_human(b, sizeof(b), 720);
	assert_string_equal(b, "12m");
	rotor_duration_human(b, sizeof(b), -45);
	assert_string_equal(b, "-45s");
}

static void test_time_good(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t t;
	} cases[] = {
	    {"2026-11-22T10:00:00Z", 1795341600},      {"2026-11-22T17:32:28.381652Z", 1795368748},
	    {"2026-11-22T10:00:00+00:00", 1795341600}, {"2026-11-22T05:00:00-05:00", 1795341600},
	    {"2026-11-22T11:30:00+01:30", 1795341600}, {"1970-01-01T00:00:00Z", 0},
	    {"2024-02-29T00:00:00Z", 1709164800},      {"2026-01-01T00:00:00.000Z", 1767225600},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;
		char why[128] = "";
		if (rotor_time_parse(&t, cases[i].in, why, sizeof(why)) != 0)
			fail_msg("%s: %s", cases[i].in, why);
		assert_int_equal(t, cases[i].t);
	}
	char out[ROTOR_TIME_STR_MAX];
	rotor_time_format(out, sizeof(out), 1795368748);
	assert_string_equal(out, "2026-11-22T17:32:28Z");
	rotor_time_format(out, sizeof(out), 1709164800);
	assert_string_equal(out, "2024-02-29T00:00:00Z");
	/* Round trip over a range of days, leap years included. */
	for (int64_t t = 0; t < 4102444800; t += 86400 * 7 + 3601) {
		int64_t back = 0;
		rotor_time_format(out, sizeof(out), t);
		assert_int_equal(rotor_time_parse(&back, out, NULL, 0), 0);
		assert_int_equal(back, t);
	}
}

static void test_time_bad(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
	    {"2026-11-22", "expected RFC 3339"},
	    {"2026-11-22T10:00:00", "expected RFC 3339"},
	    {"2026-13-01T00:00:00Z", "out of range"},
	    {"2026-02-29T00:00:00Z", "out of range"},
	    {"2026-11-22T24:00:00Z", "out of range"},
	    {"2026-11-22T10:00:00.Z", "empty fraction"},
	    {"2026-11-22T10:00:00+0100", "bad UTC offset"},
	    {"2026-11-22T10:00:00Zjunk", "trailing characters"},
	    {"2026-11-22T10:00:00 ", "missing time zone"},
	    {"22/11/2026 10:00", "expected RFC 3339"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;
		char why[256] = "";
		assert_int_equal(rotor_time_parse(&t, cases[i].in, why, sizeof(why)),
		                 ROTOR_EINVALID);
		if (!strstr(why, cases[i].why))
			fail_msg("time \"%s\": expected \"%s\" in \"%s\"", cases[i].in,
			         cases[i].why, why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_good),  cmocka_unit_test(test_duration_bad),
	    cmocka_unit_test(test_duration_human), cmocka_unit_test(test_time_good),
	    cmocka_unit_test(test_time_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
