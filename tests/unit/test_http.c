/* test_http.c: the HTTP transport against tests/doubles/http_faults.py. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/clock.h"
#include "rotor/error.h"
#include "testsupport.h"
#include "util/buf.h"
#include "util/http.h"

static struct test_server srv;

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

/* A fixed clock that also records each sleep it is asked for. */
struct rec_clock {
	struct rotor_clock base; /* first, so a struct rotor_clock * casts back */
	void (*inner_sleep)(struct rotor_clock *c, int64_t ms);
	int64_t sleeps[16];
	int nsleeps;
};

static void rec_sleep(struct rotor_clock *c, int64_t ms)
{
	struct rec_clock *rc = (struct rec_clock *)c;
	if (rc->nsleeps < 16)
		rc->sleeps[rc->nsleeps] = ms;
	rc->nsleeps++;
	rc->inner_sleep(c, ms);
}

static void rec_clock_init(struct rec_clock *rc)
{
	memset(rc, 0, sizeof(*rc));
	rotor_clock_fixed_init(&rc->base, 1790000000);
	rc->inner_sleep = rc->base.sleep_ms;
	rc->base.sleep_ms = rec_sleep;
}

/* Counts attempts as the hook sees them, across calls. */
struct attempts {
	int before;
	int after;
	int last_attempt; /* the 1-based attempt number of the last call */
	int last_curl;
	long last_status;
};

static void on_before(void *ctx, const struct rotor_http_request *req, int attempt)
{
	struct attempts *a = ctx;
	(void)req;
	a->before++;
	/* A new call starts at 1; within a call attempts count up by one. */
	assert_true(attempt == 1 || attempt == a->last_attempt + 1);
	a->last_attempt = attempt;
}

static void on_after(void *ctx, const struct rotor_http_request *req, int attempt,
                     const struct rotor_http_response *res, int curl_code)
{
	struct attempts *a = ctx;
	(void)req;
	a->after++;
	assert_int_equal(attempt, a->last_attempt);
	a->last_curl = curl_code;
	a->last_status = res->status;
}

/* Options on the recording clock with the hook attached. */
static void test_options(struct rotor_http_options *o, struct rec_clock *clk, struct attempts *a)
{
	rotor_http_options_init(o);
	rec_clock_init(clk);
	memset(a, 0, sizeof(*a));
	o->clock = &clk->base;
	o->hook.before = on_before;
	o->hook.after = on_after;
	o->hook.ctx = a;
	o->timeout_ms = 5000;
}

static void request(struct rotor_http_request *req, const char *method, char *url, size_t url_len,
                    const char *path)
{
	memset(req, 0, sizeof(*req));
	snprintf(url, url_len, "%s%s", srv.base_url, path);
	req->method = method;
	req->url = url;
}

static void test_get_ok(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128], len[16];
	test_options(&o, &clk, &a);
	rotor_error_clear(&err);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/ok");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body.data, "hello");
	assert_int_equal(res.body.len, 5);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(a.before, 1);
	assert_int_equal(a.after, 1);
	assert_int_equal(a.last_curl, CURLE_OK);
	assert_int_equal(err.code, 0);
	/* Header lookup ignores case and trims the value. */
	assert_int_equal(rotor_http_response_header(&res, "content-LENGTH", len, sizeof(len)), 1);
	assert_string_equal(len, "5");
	assert_int_equal(rotor_http_response_header(&res, "X-Missing", len, sizeof(len)), 0);
	assert_int_equal(rotor_http_response_header(&res, "Content", len, sizeof(len)), 0);
	assert_null(strstr(res.headers.data, "HTTP/1.1"));
	rotor_http_response_dispose(&res);
	assert_null(res.body.data);
	rotor_http_free(h);
	rotor_http_free(NULL);
}

static void test_echo_post_patch_get(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	const char *body = "Action=ListAccessKeys&UserName=bob";
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);

	request(&req, "POST", url, sizeof(url), "/echo");
	assert_int_equal(rotor_http_request_header(&req, "X-Test", "hello"), 0);
	assert_int_equal(
	    rotor_http_request_header(&req, "Content-Type", "application/x-www-form-urlencoded"),
	    0);
	req.body = body;
	req.body_len = strlen(body);
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body.data, "method: POST\nx-test: hello\nbody: "
	                                   "Action=ListAccessKeys&UserName=bob");
	rotor_http_response_dispose(&res);

	request(&req, "PATCH", url, sizeof(url), "/echo");
	assert_int_equal(rotor_http_request_header(&req, "X-Test", "patched"), 0);
	req.body = "{\"v\":1}";
	req.body_len = 7;
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_string_equal(res.body.data, "method: PATCH\nx-test: patched\nbody: {\"v\":1}");
	rotor_http_response_dispose(&res);

	/* The same handle after a body-carrying request: a plain GET again. */
	request(&req, "GET", url, sizeof(url), "/echo");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_string_equal(res.body.data, "method: GET\nx-test: \nbody: ");
	rotor_http_response_dispose(&res);

	/* Header injection is refused before anything is sent. */
	request(&req, "GET", url, sizeof(url), "/echo");
	assert_int_equal(rotor_http_request_header(&req, "X-Test", "a\r\nX-Evil: 1"), 0);
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_EINVALID);
	assert_int_equal(a.before, 3);
	rotor_http_free(h);
}

static void test_connection_reused(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128], port1[16], port2[16];
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/ok");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(rotor_http_response_header(&res, "x-client-port", port1, sizeof(port1)),
	                 1);
	rotor_http_response_dispose(&res);
	request(&req, "POST", url, sizeof(url), "/echo");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(rotor_http_response_header(&res, "X-Client-Port", port2, sizeof(port2)),
	                 1);
	rotor_http_response_dispose(&res);
	assert_int_equal(a.before, 2);
	/* The same client port means the same TCP connection. */
	assert_string_equal(port1, port2);
	rotor_http_free(h);
}

static void test_retry_500_then_ok(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/flaky/f500/2/500");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body.data, "recovered");
	assert_int_equal(res.attempts, 3);
	assert_int_equal(a.before, 3);
	assert_int_equal(a.after, 3);
	/* Full jitter: [0, base] then [0, 2 * base]. */
	assert_int_equal(clk.nsleeps, 2);
	assert_in_range(clk.sleeps[0], 0, 1000);
	assert_in_range(clk.sleeps[1], 0, 2000);
	assert_int_equal(clk.base.slept_ms, clk.sleeps[0] + clk.sleeps[1]);
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
}

static void test_500_exhausted(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	rotor_error_clear(&err);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "POST", url, sizeof(url), "/status/500");
	req.what = "ListAccessKeys(bob)";
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ETRANSIENT);
	assert_int_equal(err.code, ROTOR_ETRANSIENT);
	assert_string_equal(err.message, "ListAccessKeys(bob): HTTP 500 after 3 attempts");
	assert_int_equal(err.http_status, 500);
	assert_int_equal(a.before, 3);
	assert_int_equal(clk.nsleeps, 2);
	assert_null(res.body.data); /* disposed already */
	assert_null(res.headers.data);

	/* Without `what`, the method and the URL minus its query name the call. */
	request(&req, "GET", url, sizeof(url), "/status/503?X-Amz-Signature=secret");
	o.max_attempts = 1;
	rotor_http_free(h);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ETRANSIENT);
	char want[200];
	snprintf(want, sizeof(want), "GET %s/status/503: HTTP 503 after 1 attempt", srv.base_url);
	assert_string_equal(err.message, want);
	rotor_http_free(h);
}

static void test_retry_after_honoured(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/throttle/t2/2/2");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.attempts, 3);
	assert_int_equal(clk.nsleeps, 2);
	assert_int_equal(clk.sleeps[0], 2000);
	assert_int_equal(clk.sleeps[1], 2000);
	assert_int_equal(clk.base.slept_ms, 4000);
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
}

static void test_retry_after_too_long(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	o.retry_after_max_ms = 10000;
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/throttle/t600/5/600");
	req.what = "CreateAccessKey(bob)";
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ETHROTTLED);
	assert_int_equal(a.before, 1);
	assert_int_equal(clk.nsleeps, 0);
	assert_int_equal(clk.base.slept_ms, 0);
	assert_int_equal(err.http_status, 429);
	assert_non_null(strstr(err.message, "CreateAccessKey(bob)"));
	assert_non_null(strstr(err.message, "600 s"));
	rotor_http_free(h);
}

static void test_retry_after_past_deadline(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	o.deadline_ms = 3000; /* room for one 2 s wait, not two */
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/throttle/tdl/5/2");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ETHROTTLED);
	assert_int_equal(a.before, 2);
	assert_int_equal(clk.nsleeps, 1);
	assert_int_equal(clk.sleeps[0], 2000);
	assert_non_null(strstr(err.message, "deadline"));
	rotor_http_free(h);
}

static void test_slow_body_times_out(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	struct rotor_clock *real = rotor_clock_real();
	rotor_http_options_init(&o);
	memset(&a, 0, sizeof(a));
	o.hook.before = on_before;
	o.hook.after = on_after;
	o.hook.ctx = &a;
	o.timeout_ms = 200;
	o.backoff_base_ms = 10;
	o.backoff_max_ms = 20;
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/slow/1500");
	int64_t t0 = real->monotonic_ms(real);
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ETRANSIENT);
	int64_t took = real->monotonic_ms(real) - t0;
	assert_int_equal(a.before, 3);
	assert_int_equal(a.last_curl, CURLE_OPERATION_TIMEDOUT);
	assert_non_null(strstr(err.message, "timed out after 3 attempts"));
	assert_in_range(took, 500, 3000);
	rotor_http_free(h);
}

static void test_truncated_body(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/truncated");
	rotor_error_set_remote(&err, 503, "Stale", NULL); /* from an earlier failure */
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ETRANSIENT);
	assert_int_equal(err.http_status, 0); /* no complete reply came */
	assert_string_equal(err.remote_code, "");
	assert_int_equal(a.before, 3);
	assert_int_equal(a.last_curl, CURLE_PARTIAL_FILE);
	assert_non_null(strstr(err.message, "truncated response after 3 attempts"));
	assert_null(res.body.data);
	rotor_http_free(h);
}

static void test_response_over_cap(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128], want[200];
	test_options(&o, &clk, &a);
	o.max_response = 1000;
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	/* With a Content-Length: refused before the body arrives. */
	request(&req, "GET", url, sizeof(url), "/big/5000");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ELIMIT);
	assert_int_equal(a.before, 1);
	assert_int_equal(clk.nsleeps, 0);
	snprintf(want, sizeof(want), "GET %s/big/5000: response larger than 1000 bytes",
	         srv.base_url);
	assert_string_equal(err.message, want);
	assert_null(res.body.data);
	/* Without one: stopped as the body passes the cap. */
	request(&req, "GET", url, sizeof(url), "/big/5000?nolength=1");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_ELIMIT);
	assert_int_equal(a.before, 2);
	assert_int_equal(a.last_curl, CURLE_WRITE_ERROR);
	assert_string_equal(err.message, want);
	/* Exactly at the cap is fine. */
	request(&req, "GET", url, sizeof(url), "/big/1000");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.body.len, 1000);
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
}

static void test_dropped_connection_recovers(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "GET", url, sizeof(url), "/drop/d2/2");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body.data, "recovered");
	assert_int_equal(a.before, 3);
	rotor_http_response_dispose(&res);
	request(&req, "GET", url, sizeof(url), "/count/d2");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_string_equal(res.body.data, "3");
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
}

/* An AWS-style classifier: a 400 whose body says Throttling is retried. */
static enum rotor_http_verdict classify_throttling(void *ctx, const struct rotor_http_response *res,
                                                   int64_t *retry_after_ms)
{
	int *calls = ctx;
	(*calls)++;
	if (res->status == 400 && res->body.data && strstr(res->body.data, "Throttling"))
		return ROTOR_HTTP_RETRY;
	return rotor_http_classify_default(NULL, res, retry_after_ms);
}

static void test_custom_classifier(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	int calls = 0;
	test_options(&o, &clk, &a);
	o.classify = classify_throttling;
	o.classify_ctx = &calls;
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "POST", url, sizeof(url), "/flaky/c400/2/400?body=Throttling");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.attempts, 3);
	assert_int_equal(calls, 3);
	assert_int_equal(clk.nsleeps, 2);
	rotor_http_response_dispose(&res);
	/* A 400 without it is the caller's to interpret. */
	request(&req, "POST", url, sizeof(url), "/status/400?body=InvalidInput");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 400);
	assert_string_equal(res.body.data, "InvalidInput");
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
}

static void test_404_is_success(void **state)
{
	(void)state;
	struct rotor_http_options o;
	struct rec_clock clk;
	struct attempts a;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	char url[128];
	test_options(&o, &clk, &a);
	assert_int_equal(rotor_http_new(&h, &o, &err), 0);
	request(&req, "DELETE", url, sizeof(url), "/status/404");
	assert_int_equal(rotor_http_do(h, &req, &res, &err), 0);
	assert_int_equal(res.status, 404);
	assert_string_equal(res.body.data, "status 404");
	assert_int_equal(a.before, 1);
	assert_int_equal(clk.nsleeps, 0);
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
}

static void test_bad_url(void **state)
{
	(void)state;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_error err;
	assert_int_equal(rotor_http_new(&h, NULL, &err), 0);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = "ftp://127.0.0.1/file";
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_EINVALID);
	req.url = "http://[::1";
	assert_int_equal(rotor_http_do(h, &req, &res, &err), ROTOR_EINVALID);
	assert_int_equal(res.attempts, 1);
	rotor_http_free(h);
}

static void test_request_header_limit(void **state)
{
	(void)state;
	struct rotor_http_request req;
	memset(&req, 0, sizeof(req));
	for (int i = 0; i < ROTOR_HTTP_MAX_HEADERS; i++)
		assert_int_equal(rotor_http_request_header(&req, "X-N", "v"), 0);
	assert_int_equal(rotor_http_request_header(&req, "X-N", "v"), ROTOR_ELIMIT);
	assert_int_equal(req.nheaders, ROTOR_HTTP_MAX_HEADERS);
}

static void test_parse_retry_after(void **state)
{
	(void)state;
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777. */
	const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";
	assert_int_equal(rotor_http_parse_retry_after("5", 0), 5000);
	assert_int_equal(rotor_http_parse_retry_after("0", 0), 0);
	assert_int_equal(rotor_http_parse_retry_after(" 7 ", 0), 7000);
	assert_int_equal(rotor_http_parse_retry_after("abc", 0), -1);
	assert_int_equal(rotor_http_parse_retry_after("", 0), -1);
	/* digits whose milliseconds pass INT64_MAX saturate, without overflow */
	assert_true(rotor_http_parse_retry_after("9223372036854779", 0) == INT64_MAX);
	assert_true(rotor_http_parse_retry_after("99999999999999999999999", 0) == INT64_MAX);
	assert_int_equal(rotor_http_parse_retry_after("-3", 0), -1);
	assert_int_equal(rotor_http_parse_retry_after("1.5", 0), -1);
	assert_int_equal(rotor_http_parse_retry_after(date, 784111767), 10000);
	assert_int_equal(rotor_http_parse_retry_after(date, 784111777), 0);
	assert_int_equal(rotor_http_parse_retry_after(date, 784111800), 0); /* past: 0 */
	assert_int_equal(rotor_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", 0), -1);
	assert_int_equal(rotor_http_parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0), -1);
}

static void test_urlencode(void **state)
{
	(void)state;
	struct rotor_buf b;
	rotor_buf_init(&b, 0);
	const char *s = "a b/c~d=\xc3\xa9";
	assert_int_equal(rotor_http_urlencode(&b, s, strlen(s)), 0);
	assert_string_equal(b.data, "a%20b%2Fc~d%3D%C3%A9");
	rotor_buf_reset(&b);
	assert_int_equal(rotor_http_urlencode(&b, "AZaz09-_.~", 10), 0);
	assert_string_equal(b.data, "AZaz09-_.~");
	rotor_buf_dispose(&b);
	/* The buffer's cap holds. */
	rotor_buf_init(&b, 4);
	assert_int_equal(rotor_http_urlencode(&b, "  ", 2), ROTOR_ELIMIT);
	rotor_buf_dispose(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_ok),
	    cmocka_unit_test(test_echo_post_patch_get),
	    cmocka_unit_test(test_connection_reused),
	    cmocka_unit_test(test_retry_500_then_ok),
	    cmocka_unit_test(test_500_exhausted),
	    cmocka_unit_test(test_retry_after_honoured),
	    cmocka_unit_test(test_retry_after_too_long),
	    cmocka_unit_test(test_retry_after_past_deadline),
	    cmocka_unit_test(test_slow_body_times_out),
	    cmocka_unit_test(test_truncated_body),
	    cmocka_unit_test(test_response_over_cap),
	    cmocka_unit_test(test_dropped_connection_recovers),
	    cmocka_unit_test(test_custom_classifier),
	    cmocka_unit_test(test_404_is_success),
	    cmocka_unit_test(test_bad_url),
	    cmocka_unit_test(test_request_header_limit),
	    cmocka_unit_test(test_parse_retry_after),
	    cmocka_unit_test(test_urlencode),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
