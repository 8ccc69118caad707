/*
 * test_aws_replies.c: how the AWS client reads error replies, served from
 * memory by the fuzz harnesses' libcurl fake (tests/fuzz/fuzzsupport.h):
 * the error document in each shape AWS and its emulators send (moto uses
 * three), and the request id wherever it sits.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzzsupport.h"
#include "providers/aws/aws.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "testsupport.h"
#include "util/ratelimit.h"

#define MANAGER_AKID "AKIAMANAGER000000001"
#define MANAGER_SECRET "managersecretmanagersecretmanagersecret1"

static struct rotor_aws_credentials manager;

static int fixed_get(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	return rotor_aws_credentials_copy(out, ctx, err);
}

/* GetUser(bob) answered by the records of `replies` ("%%"-separated),
 * on a fixed clock, pacing through bucket when not NULL; returns its
 * result. */
static int get_user_paced(const char *replies, struct rotor_bucket *bucket, struct rotor_error *err)
{
	struct rotor_aws_client_options o;
	struct rotor_aws_client *iam = NULL;
	struct rotor_iam_user user;
	struct rotor_clock clock;
	struct fuzz_records recs;
	fuzz_http_check();
	fuzz_split((const uint8_t *)replies, strlen(replies), &recs);
	fuzz_http_serve(&recs, 0);
	rotor_clock_fixed_init(&clock, 1780272000);
	memset(&o, 0, sizeof(o));
	snprintf(o.endpoint.url, sizeof(o.endpoint.url), "https://iam.test.invalid/");
	snprintf(o.endpoint.region, sizeof(o.endpoint.region), "us-east-1");
	snprintf(o.endpoint.service, sizeof(o.endpoint.service), "iam");
	o.creds.get = fixed_get;
	o.creds.ctx = &manager;
	o.clock = &clock;
	o.bucket = bucket;
	rotor_http_options_init(&o.http);
	o.http.clock = &clock;
	assert_int_equal(rotor_aws_client_new(&iam, &o, err), 0);
	rotor_error_clear(err);
	/* A request id left unset must not show stack bytes (see
	 * fuzzsupport.h). */
	fuzz_poison_stack();
	int rc = rotor_iam_get_user(iam, "bob", &user, err);
	if (rc == 0)
		rotor_iam_user_dispose(&user);
	rotor_aws_client_free(iam);
	return rc;
}

static int get_user(const char *replies, struct rotor_error *err)
{
	return get_user_paced(replies, NULL, err);
}

static void test_error_shapes(void **state)
{
	static const struct {
		const char *body;
		const char *request_id;
	} shapes[] = {
	    /* IAM and STS */
	    {"<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
	     "<Type>Sender</Type><Code>NoSuchEntity</Code><Message>no bob</Message></Error>"
	     "<RequestId>r-1</RequestId></ErrorResponse>",
	     "r-1"},
	    /* moto's default (RESTError "error") */
	    {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Errors><Error>"
	     "<Code>NoSuchEntity</Code><Message><![CDATA[no bob]]></Message></Error></Errors>"
	     "<RequestId>r-2</RequestId></ErrorResponse>",
	     "r-2"},
	    /* EC2's shape, RequestID spelt so */
	    {"<Response><Errors><Error><Code>NoSuchEntity</Code><Message>no bob</Message>"
	     "</Error></Errors><RequestID>r-3</RequestID></Response>",
	     "r-3"},
	    /* moto's "single_error" */
	    {"<Error><Code>NoSuchEntity</Code><Message>no bob</Message>"
	     "<RequestId>r-4</RequestId></Error>",
	     "r-4"},
	    /* moto's "wrapped_single_error": the id inside <Error> */
	    {"<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>no bob</Message>"
	     "<RequestId>r-5</RequestId></Error></ErrorResponse>",
	     "r-5"},
	    /* <Errors> as the root */
	    {"<Errors><Error><Code>NoSuchEntity</Code><Message>no bob</Message></Error>"
	     "<RequestId>r-6</RequestId></Errors>",
	     "r-6"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char replies[1024];
		struct rotor_error err;
		snprintf(replies, sizeof(replies), "404\n\n%s", shapes[i].body);
		assert_int_equal(get_user(replies, &err), ROTOR_ENOTFOUND);
		assert_string_equal(err.remote_code, "NoSuchEntity");
		assert_string_equal(err.request_id, shapes[i].request_id);
		assert_non_null(strstr(err.message, "no bob"));
		assert_int_equal(err.http_status, 404);
	}
}

static void test_throttling_in_errors_shape_is_retried(void **state)
{
	struct rotor_error err;
	(void)state;
	assert_int_equal(get_user("400\n\n<Response><Errors><Error><Code>Throttling</Code>"
	                          "<Message>Rate exceeded</Message></Error></Errors></Response>"
	                          "\n%%\n400\n\n<Response><Errors><Error><Code>Throttling</Code>"
	                          "</Error></Errors></Response>"
	                          "\n%%\n200\n\n<GetUserResponse><GetUserResult><User>"
	                          "<Arn>arn:aws:iam::123456789012:user/bob</Arn></User>"
	                          "</GetUserResult></GetUserResponse>",
	                          &err),
	                 0);
	assert_int_equal(fuzz_http_requests(), 3);
}

/* A throttling reply slows the bucket every client of the account shares
 * (issue 17: adaptive, like the SDKs), and every attempt takes a token. */
static void test_throttling_slows_the_shared_bucket(void **state)
{
	struct rotor_error err;
	struct rotor_clock clock;
	struct rotor_bucket bucket;
	(void)state;
	rotor_clock_fixed_init(&clock, 1780272000);
	rotor_bucket_init(&bucket, &clock, 10, 10);
	assert_int_equal(get_user_paced("400\n\n<ErrorResponse><Error><Code>Throttling</Code>"
	                                "<Message>Rate exceeded</Message></Error></ErrorResponse>"
	                                "\n%%\n200\n\n<GetUserResponse><GetUserResult><User>"
	                                "<Arn>arn:aws:iam::123456789012:user/bob</Arn></User>"
	                                "</GetUserResult></GetUserResponse>",
	                                &bucket, &err),
	                 0);
	assert_int_equal((int)bucket.taken, 2);
	assert_int_equal((int)bucket.throttles, 1);
	assert_true(rotor_bucket_rate(&bucket) < 5.1); /* 5, recovering since */
	/* a non-throttling error does not slow it */
	assert_int_equal(get_user_paced("404\n\n<ErrorResponse><Error><Code>NoSuchEntity</Code>"
	                                "</Error></ErrorResponse>",
	                                &bucket, &err),
	                 ROTOR_ENOTFOUND);
	assert_int_equal((int)bucket.throttles, 1);
	rotor_bucket_dispose(&bucket);
}

static void test_unreadable_body_takes_the_header_request_id(void **state)
{
	struct rotor_error err;
	(void)state;
	assert_int_equal(get_user("502\nx-amzn-RequestId: hdr-7\n\n<html>Bad Gateway</html>"
	                          "\n%%\n502\n\n\n%%\n400\n\n<ErrorResponse><Error>",
	                          &err),
	                 ROTOR_EINVALID);
	assert_string_equal(err.request_id, "");
	assert_non_null(strstr(err.message, "(request unknown)"));
	assert_int_equal(get_user("502\nx-amzn-RequestId: hdr-7\n\n<html>Bad Gateway</html>"
	                          "\n%%\n503\nx-amzn-RequestId: hdr-8\n\n"
	                          "\n%%\n504\nx-amzn-RequestId: hdr-9\n\nupstream timeout",
	                          &err),
	                 ROTOR_ETRANSIENT);
	assert_string_equal(err.request_id, "hdr-9");
}

int main(void)
{
	struct rotor_error err;
	rotor_log_setup(NULL, ROTOR_LOG_OFF, ROTOR_LOG_TEXT, NULL);
	if (rotor_aws_credentials_set(&manager, MANAGER_AKID, MANAGER_SECRET, NULL, 0, &err))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_shapes),
	    cmocka_unit_test(test_throttling_slows_the_shared_bucket),
	    cmocka_unit_test(test_throttling_in_errors_shape_is_retried),
	    cmocka_unit_test(test_unreadable_body_takes_the_header_request_id),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rotor_aws_credentials_dispose(&manager);
	return rc;
}
