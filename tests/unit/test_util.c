/* test_util.c: error, secret, redaction, logging, buffers and the clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/error.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "testsupport.h"
#include "util/buf.h"

static void test_error_set_and_prefix(void **state)
{
	(void)state;
	struct rotor_error err;
	rotor_error_clear(&err);
	assert_int_equal(rotor_error_set(&err, ROTOR_ELIMIT, "CreateAccessKey(%s): quota", "bob"),
	                 ROTOR_ELIMIT);
	rotor_error_set_remote(&err, 409, "LimitExceeded", "7a62c49f");
	rotor_error_prefix(&err, "%s", "s3-backup-writer");
	assert_string_equal(err.message, "s3-backup-writer: CreateAccessKey(bob): quota");
	assert_int_equal(err.code, ROTOR_ELIMIT);
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.remote_code, "LimitExceeded");
	assert_string_equal(err.request_id, "7a62c49f");
	assert_string_equal(rotor_error_code_name(ROTOR_ELIMIT), "limit");
	assert_true(rotor_error_is_retryable(ROTOR_ETHROTTLED));
	assert_true(rotor_error_is_retryable(ROTOR_ETRANSIENT));
	assert_false(rotor_error_is_retryable(ROTOR_EAUTH));
	/* NULL err is allowed and still returns the code. */
	assert_int_equal(rotor_error_set(NULL, ROTOR_EAUTH, "x"), ROTOR_EAUTH);
}

static void test_error_one_line(void **state)
{
	(void)state;
	struct rotor_error err;
	rotor_error_clear(&err);
	rotor_error_set(&err, ROTOR_EINVALID, "remote said: %s", "line one\nline two\r");
	assert_null(strchr(err.message, '\n'));
	assert_null(strchr(err.message, '\r'));
	assert_string_equal(err.message, "remote said: line one line two ");
}

static void test_secret_lifecycle(void **state)
{
	(void)state;
	struct rotor_secret *s = NULL, *t = NULL;
	struct rotor_error err;
	size_t before = rotor_redact_count();
	assert_int_equal(
	    rotor_secret_from_str(&s, "wJalrXUtnFEMI/K7MDENG", ROTOR_SECRET_REDACT, &err), 0);
	assert_int_equal(rotor_redact_count(), before + 1);
	assert_int_equal(rotor_secret_len(s), 21);
	assert_string_equal(rotor_secret_bytes(s), "wJalrXUtnFEMI/K7MDENG");
	assert_int_equal(rotor_secret_dup(&t, s, &err), 0);
	assert_true(rotor_secret_equal(s, t));
	assert_true(rotor_secret_equal_bytes(s, "wJalrXUtnFEMI/K7MDENG", 21));
	assert_false(rotor_secret_equal_bytes(s, "wJalrXUtnFEMI/K7MDENX", 21));
	assert_false(rotor_secret_equal_bytes(s, "wJalr", 5));
	assert_true(rotor_secret_equal(NULL, NULL));
	assert_false(rotor_secret_equal(s, NULL));
	rotor_secret_free(t);
	rotor_secret_free(s);
	assert_int_equal(rotor_redact_count(), before);
	rotor_secret_free(NULL); /* no-op */
}

static void test_redaction_in_errors(void **state)
{
	(void)state;
	struct rotor_secret *s = NULL;
	struct rotor_error err;
	const char *value = "AKIDSECRETVALUE1234567890abcdef";
	assert_int_equal(rotor_secret_from_str(&s, value, ROTOR_SECRET_REDACT, &err), 0);
	rotor_error_set(&err, ROTOR_EINVALID, "bad value %s in %s%s", value, "x", value);
	assert_null(strstr(err.message, value));
	assert_string_equal(err.message, "bad value [REDACTED] in x[REDACTED]");
	rotor_error_set_remote(&err, 400, value, value);
	assert_null(strstr(err.remote_code, value));
	assert_null(strstr(err.request_id, value));
	rotor_secret_free(s);
	/* A secret with a tab or newline is redacted too (it used to be
	 * flattened to spaces first, and then matched nothing). */
	struct rotor_secret *ws = NULL;
	const char *odd = "line-one\tline-two\nline-three";
	assert_int_equal(rotor_secret_from_str(&ws, odd, ROTOR_SECRET_REDACT, &err), 0);
	rotor_error_set(&err, ROTOR_EINVALID, "remote said: %s.", odd);
	assert_string_equal(err.message, "remote said: [REDACTED].");
	rotor_error_prefix(&err, "ctx");
	assert_string_equal(err.message, "ctx: remote said: [REDACTED].");
	rotor_secret_free(ws);
	/* Once freed, the value is no longer redacted (it is no longer a secret). */
	rotor_error_set(&err, ROTOR_EINVALID, "%s", value);
	assert_string_equal(err.message, value);
}

static void test_redaction_overlapping(void **state)
{
	(void)state;
	struct rotor_secret *a = NULL, *b = NULL, *tiny = NULL;
	struct rotor_error err;
	assert_int_equal(rotor_secret_from_str(&a, "abcdef", ROTOR_SECRET_REDACT, &err), 0);
	assert_int_equal(rotor_secret_from_str(&b, "abcdefghij", ROTOR_SECRET_REDACT, &err), 0);
	/* Too short to be a secret: never registered, never mangles text. */
	assert_int_equal(rotor_secret_from_str(&tiny, "ab", ROTOR_SECRET_REDACT, &err), 0);
	char buf[64] = "x abcdefghij y abcdef z ab";
	assert_int_equal(rotor_redact(buf, sizeof(buf)), 2);
	assert_string_equal(buf, "x [REDACTED] y [REDACTED] z ab");
	/* Truncation keeps the buffer terminated and secret-free. */
	char small[12] = "abcdefghij!";
	rotor_redact(small, sizeof(small));
	assert_null(strstr(small, "abcdef"));
	assert_true(strlen(small) < sizeof(small));
	rotor_secret_free(a);
	rotor_secret_free(b);
	rotor_secret_free(tiny);
}

static char *capture_log(enum rotor_log_format fmt, enum rotor_log_level level, const char *scope,
                         const char *msg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct rotor_clock clock;
	rotor_clock_fixed_init(&clock, 1795341600); /* 2026-11-22T10:00:00Z */
	rotor_log_setup(f, ROTOR_LOG_INFO, fmt, &clock);
	rotor_log(level, scope, "%s", msg);
	fclose(f);
	rotor_log_setup(NULL, ROTOR_LOG_INFO, ROTOR_LOG_AUTO, NULL);
	return out;
}

static void test_log_formats_and_redaction(void **state)
{
	(void)state;
	struct rotor_secret *s = NULL;
	struct rotor_error err;
	const char *value = "9drTJvcXLB89EXAMPLELB8923FB892xMFI";
	assert_int_equal(rotor_secret_from_str(&s, value, ROTOR_SECRET_REDACT, &err), 0);

	char *text = capture_log(ROTOR_LOG_TEXT, ROTOR_LOG_INFO, "s3-backup-writer",
	                         "stored pair with secret 9drTJvcXLB89EXAMPLELB8923FB892xMFI ok");
	assert_non_null(text);
	assert_null(strstr(text, value));
	assert_string_equal(text, "2026-11-22T10:00:00Z info  s3-backup-writer: stored pair with "
	                          "secret [REDACTED] ok\n");
	free(text);

	char *json = capture_log(ROTOR_LOG_JSON, ROTOR_LOG_WARN, NULL,
	                         "quote \" and 9drTJvcXLB89EXAMPLELB8923FB892xMFI\n");
	assert_null(strstr(json, value));
	assert_string_equal(json, "{\"time\":\"2026-11-22T10:00:00Z\",\"level\":\"warn\","
	                          "\"msg\":\"quote \\\" and [REDACTED]\\u000a\"}\n");
	free(json);

	/* Below the level: nothing written. */
	char *none = capture_log(ROTOR_LOG_TEXT, ROTOR_LOG_DEBUG, NULL, "hidden");
	assert_string_equal(none, "");
	free(none);
	rotor_secret_free(s);

	assert_int_equal(rotor_log_level_parse("warn"), ROTOR_LOG_WARN);
	assert_int_equal(rotor_log_level_parse("loud"), -1);
}

static void test_buf_cap(void **state)
{
	(void)state;
	struct rotor_buf b;
	rotor_buf_init(&b, 10);
	assert_int_equal(rotor_buf_puts(&b, "hello"), 0);
	assert_int_equal(rotor_buf_printf(&b, "%d", 1234), 0);
	assert_string_equal(b.data, "hello1234");
	assert_int_equal(rotor_buf_puts(&b, "xy"), ROTOR_ELIMIT);
	assert_string_equal(b.data, "hello1234"); /* unchanged on failure */
	assert_int_equal(rotor_buf_puts(&b, "x"), 0);
	assert_int_equal(b.len, 10);
	rotor_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* A long printf goes through the heap path. */
	rotor_buf_dispose(&b);
	rotor_buf_init(&b, 0);
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(rotor_buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, 2001);
	size_t len = 0;
	char *data = rotor_buf_detach(&b, &len);
	assert_int_equal(len, 2001);
	assert_null(b.data);
	free(data);
	rotor_buf_dispose(&b);
}

static void test_fixed_clock(void **state)
{
	(void)state;
	struct rotor_clock c;
	rotor_clock_fixed_init(&c, 1000);
	assert_int_equal(c.now(&c), 1000);
	c.sleep_ms(&c, 2500);
	assert_int_equal(c.now(&c), 1002);
	assert_int_equal(c.monotonic_ms(&c), 1002500);
	assert_int_equal(c.slept_ms, 2500);
	rotor_clock_fixed_advance(&c, 60);
	assert_int_equal(c.now(&c), 1062);
	rotor_clock_fixed_set(&c, 5);
	assert_int_equal(c.now(&c), 5);
	struct rotor_clock *real = rotor_clock_real();
	assert_true(real->now(real) > 1700000000);
	int64_t a = real->monotonic_ms(real);
	real->sleep_ms(real, 5);
	assert_true(real->monotonic_ms(real) >= a + 5);
}

static void test_test_time_hook(void **state)
{
	(void)state;
#ifndef ROTOR_TEST_HOOKS
	skip(); /* built without -DROTOR_TEST_HOOKS=ON */
#endif
	struct rotor_clock *real = rotor_clock_real();
	setenv("ROTOR_TEST_TIME", "2030-01-02T03:04:05Z", 1);
	assert_int_equal(real->now(real), 1893553445);
	char path[] = "/tmp/rotor-test-time-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("2026-11-22T10:00:00Z\n", f);
	fclose(f);
	setenv("ROTOR_TEST_TIME", path, 1);
	assert_int_equal(real->now(real), 1795341600);
	unlink(path);
	unsetenv("ROTOR_TEST_TIME");
	assert_true(real->now(real) > 1700000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_set_and_prefix),
	    cmocka_unit_test(test_error_one_line),
	    cmocka_unit_test(test_secret_lifecycle),
	    cmocka_unit_test(test_redaction_in_errors),
	    cmocka_unit_test(test_redaction_overlapping),
	    cmocka_unit_test(test_log_formats_and_redaction),
	    cmocka_unit_test(test_buf_cap),
	    cmocka_unit_test(test_fixed_clock),
	    cmocka_unit_test(test_test_time_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
