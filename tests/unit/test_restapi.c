/* test_restapi.c: the consumer kinds' REST calls (providers/consumers/
 * restapi.c) against tests/doubles/http_faults.py: reads retried on 5xx,
 * connection drops and timeouts; writes never re-sent; 429 waited out as
 * named by Retry-After; errors naming the call. Sleeps go to a fixed clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/consumers/restapi.h"
#include "rotor/clock.h"
#include "rotor/secret.h"
#include "testsupport.h"
#include "util/http.h"

static struct test_server srv;
static const struct rest_vendor vendor = {
    "Test",
    ROTOR_REMOTE_HEROKU,
    "application/json",
    NULL,
    "X-Request-Id",
    "RateLimit-Remaining",
    NULL,
    "id",
    100,
    800,
};

static int group_setup(void **state)
{
	(void)state;
	return test_server_start(&srv, "http_faults.py", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	test_server_stop(&srv);
	return 0;
}

struct fx {
	struct rest_conn conn;
	struct rotor_clock clock;
	struct rotor_secret *token;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rotor_error err;
	rotor_clock_fixed_init(&f->clock, 1790000000);
	assert_int_equal(rotor_secret_from_str(&f->token, "tok-123", 0, &err), 0);
	assert_int_equal(
	    rest_conn_init(&f->conn, &vendor, "test-conn", srv.base_url, f->token, &err), 0);
	f->conn.clock = &f->clock;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rest_conn_dispose(&f->conn);
	rotor_secret_free(f->token);
	free(f);
	return 0;
}

/* How many requests the server saw for key. */
static int count_of(const char *key)
{
	struct rotor_http_options o;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[256];
	rotor_http_options_init(&o);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	snprintf(url, sizeof(url), "%s/count/%s", srv.base_url, key);
	req.method = "GET";
	req.url = url;
	req.what = "count";
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	int n = atoi(res.body.data ? res.body.data : "0");
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
	return n;
}

/* A read that meets two 500s is retried and reaches the 200 (whose body,
 * "hello", is not JSON: the error says so, proving the 200 was reached). */
static void test_read_retries_server_errors(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	rotor_error_clear(&err);
	int rc = rest_call(&f->conn, "GET", "/flaky/r1/2/500", NULL, 0, 0, "GET thing", &r, &err);
	assert_int_equal(rc, ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "GET thing: Test answered HTTP 200 with a body that is "
	                                    "not JSON"));
	assert_int_equal(count_of("r1"), 3);
	assert_true(f->clock.slept_ms >= 1000 + 2000);
}

/* A write answered 500 may have been done: the reply comes back, once. */
static void test_write_never_resent_after_5xx(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	rotor_error_clear(&err);
	assert_int_equal(
	    rest_call(&f->conn, "PATCH", "/flaky/w1/2/500", "{}", 2, 1, "PATCH thing", &r, &err),
	    0);
	assert_int_equal(r.status, 500);
	rest_reply_dispose(&r);
	assert_int_equal(count_of("w1"), 1);
}

/* A write whose connection drops is not re-sent either. */
static void test_write_never_resent_after_drop(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	rotor_error_clear(&err);
	int rc = rest_call(&f->conn, "PATCH", "/drop/w2/1", "{}", 2, 1, "PATCH thing", &r, &err);
	assert_int_equal(rc, ROTOR_ETRANSIENT);
	assert_int_equal(count_of("w2"), 1);
	/* a read is retried */
	rotor_error_clear(&err);
	rc = rest_call(&f->conn, "GET", "/drop/r2/1", NULL, 0, 0, "GET thing", &r, &err);
	assert_int_equal(rc, ROTOR_EINVALID); /* the 200 "hello" */
	assert_int_equal(count_of("r2"), 2);
}

/* 429 with Retry-After: waited exactly that long, then sent again (safe for
 * a write: nothing was done); past the attempts: throttled, saying so. */
static void test_throttle_waited_out(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	rotor_error_clear(&err);
	int rc =
	    rest_call(&f->conn, "PATCH", "/throttle/t1/1/3", "{}", 2, 1, "PATCH thing", &r, &err);
	assert_int_equal(rc, ROTOR_EINVALID); /* reached the 200 */
	assert_int_equal(count_of("t1"), 2);
	assert_int_equal(f->clock.slept_ms, 3000);
	rotor_error_clear(&err);
	rc = rest_call(&f->conn, "GET", "/throttle/t2/9/1", NULL, 0, 0, "GET thing", &r, &err);
	assert_int_equal(rc, ROTOR_ETHROTTLED);
	assert_int_equal(err.http_status, 429);
	assert_non_null(strstr(err.message, "GET thing: HTTP 429"));
	assert_non_null(strstr(err.message, "still rate limited after waiting"));
	assert_int_equal(count_of("t2"), 4);
}

/* A 403 that says it is a (secondary) rate limit, without retry-after:
 * waited out and sent again; a 403 that does not is a permission error,
 * returned at once. */
static void test_secondary_rate_limit_403(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	rotor_error_clear(&err);
	int rc = rest_call(&f->conn, "PUT",
	                   "/flaky/s1/1/403?body=%7B%22message%22%3A%22You%20have%20"
	                   "exceeded%20a%20secondary%20rate%20limit%22%7D",
	                   "{}", 2, 1, "PUT thing", &r, &err);
	assert_int_equal(rc, ROTOR_EINVALID); /* reached the 200 "hello" */
	assert_int_equal(count_of("s1"), 2);
	assert_int_equal(f->clock.slept_ms, 2000);
	rotor_error_clear(&err);
	rc = rest_call(&f->conn, "PUT",
	               "/flaky/s2/1/403?body=%7B%22message%22%3A%22Resource%20not%20"
	               "accessible%22%7D",
	               "{}", 2, 1, "PUT thing", &r, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, 403);
	rest_reply_dispose(&r);
	assert_int_equal(count_of("s2"), 1);
}

/* One attempt that outlasts the timeout: a read gives up after its
 * attempts with a transport error naming the call. */
static void test_timeout(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	f->conn.timeout_ms = 300;
	rotor_error_clear(&err);
	int rc = rest_call(&f->conn, "PATCH", "/slow/2000", "{}", 2, 1, "PATCH slow", &r, &err);
	assert_int_equal(rc, ROTOR_ETRANSIENT);
	assert_non_null(strstr(err.message, "PATCH slow"));
}

/* No token: the call is refused before anything is sent. */
static void test_no_token(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	rotor_secret_free(f->conn.token);
	f->conn.token = NULL;
	rotor_error_clear(&err);
	assert_int_equal(rest_call(&f->conn, "GET", "/ok", NULL, 0, 0, "GET x", &r, &err),
	                 ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "the token of Test connection test-conn is not set"));
}

/* An error reply is named with its status, code, request id and hint. */
static void test_fail_message(void **state)
{
	struct fx *f = *state;
	struct rest_reply r;
	struct rotor_error err;
	memset(&r, 0, sizeof(r));
	r.status = 404;
	snprintf(r.code, sizeof(r.code), "not_found");
	snprintf(r.request_id, sizeof(r.request_id), "abc-1");
	snprintf(r.message, sizeof(r.message), "Couldn't find that app.");
	rotor_error_clear(&err);
	assert_int_equal(rest_fail(&f->conn, &r, "GET /apps/x", "check the app", &err),
	                 ROTOR_ENOTFOUND);
	assert_string_equal(err.message, "GET /apps/x: HTTP 404 not_found (request abc-1): check "
	                                 "the app; Test says \"Couldn't find that app.\"");
	assert_string_equal(err.remote_code, "not_found");
	assert_string_equal(err.request_id, "abc-1");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_read_retries_server_errors),
	    T(test_write_never_resent_after_5xx),
	    T(test_write_never_resent_after_drop),
	    T(test_throttle_waited_out),
	    T(test_timeout),
	    T(test_no_token),
	    T(test_secondary_rate_limit_403),
	    T(test_fail_message),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
