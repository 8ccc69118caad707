/*
 * test_iam.c: the IAM and STS clients against the IAM/STS double
 * (tests/doubles/aws_double.py), which checks every SigV4 signature,
 * enforces the two-key limit, records last use and keeps tags. Also: reply
 * and error parsing from fixed bodies, and AWS's retry behaviour.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"
#include "providers/aws/client.h"
#include "providers/aws/xml.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "testsupport.h"

#define MANAGER_AKID "AKIAMANAGER000000001"
#define MANAGER_SECRET "managersecretmanagersecretmanagersecret1"

static struct test_server srv;

struct fixed_creds {
	struct rotor_aws_credentials creds;
};

static int fixed_get(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	return rotor_aws_credentials_copy(out, &((struct fixed_creds *)ctx)->creds, err);
}

static struct fixed_creds manager;

static int setup(void **state)
{
	(void)state;
	const char *args[] = {"--manager-key", MANAGER_AKID ":" MANAGER_SECRET, NULL};
	if (test_server_start(&srv, "aws_double.py", args) != 0)
		return -1;
	struct rotor_error err;
	return rotor_aws_credentials_set(&manager.creds, MANAGER_AKID, MANAGER_SECRET, NULL, 0,
	                                 &err);
}

static int teardown(void **state)
{
	(void)state;
	test_server_stop(&srv);
	rotor_aws_credentials_dispose(&manager.creds);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	char url[128];
	int status;
	snprintf(url, sizeof(url), "%s/_control/reset", srv.base_url);
	free(test_http("POST", url, "{}", &status));
	return status == 200 ? 0 : -1;
}

static struct rotor_aws_client *client(const char *service, struct fixed_creds *who)
{
	struct rotor_aws_client_options o;
	struct rotor_aws_client *c = NULL;
	struct rotor_error err;
	memset(&o, 0, sizeof(o));
	snprintf(o.endpoint.url, sizeof(o.endpoint.url), "%s/", srv.base_url);
	snprintf(o.endpoint.region, sizeof(o.endpoint.region), "us-east-1");
	snprintf(o.endpoint.service, sizeof(o.endpoint.service), "%s", service);
	o.creds.get = fixed_get;
	o.creds.ctx = who ? who : &manager;
	rotor_http_options_init(&o.http);
	o.http.timeout_ms = 5000;
	o.http.backoff_base_ms = 20;
	if (rotor_aws_client_new(&c, &o, &err) != 0)
		fail_msg("client: %s", err.message);
	return c;
}

/* POSTs JSON to the double's control API and returns the parsed reply. */
static json_t *control(const char *method, const char *route, const char *body)
{
	char url[256];
	int status;
	snprintf(url, sizeof(url), "%s/_control/%s", srv.base_url, route);
	char *reply = test_http(method, url, body, &status);
	json_error_t je;
	json_t *j = json_loads(reply, 0, &je);
	if (status != 200 || !j)
		fail_msg("control %s %s: HTTP %d: %s", method, route, status, reply);
	free(reply);
	return j;
}

static void test_list_create_limit(void **state)
{
	(void)state;
	json_decref(control("POST", "users", "{\"name\": \"bob\", \"keys\": [{}]}"));
	struct rotor_aws_client *iam = client("iam", NULL);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n = 0;
	struct rotor_error err;
	rotor_error_clear(&err);
	assert_int_equal(rotor_iam_list_access_keys(iam, "bob", keys, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(keys[0].active);
	assert_string_equal(keys[0].user, "bob");
	assert_int_equal(strncmp(keys[0].id, "AKIA", 4), 0);

	struct rotor_iam_key created;
	struct rotor_secret *secret = NULL;
	assert_int_equal(rotor_iam_create_access_key(iam, "bob", &created, &secret, &err), 0);
	assert_int_equal(strlen(created.id), 20);
	assert_int_equal(rotor_secret_len(secret), 40);
	assert_true(created.active);
	assert_true(created.created > 0);
	/* The secret is registered: it cannot reach an error message. */
	char probe[128];
	snprintf(probe, sizeof(probe), "x %s y", rotor_secret_bytes(secret));
	rotor_redact(probe, sizeof(probe));
	assert_string_equal(probe, "x [REDACTED] y");
	rotor_secret_free(secret);

	/* A third key: LimitExceeded, mapped onto ROTOR_ELIMIT with the code,
	 * the request id and a hint. */
	assert_int_equal(rotor_iam_create_access_key(iam, "bob", &created, &secret, &err),
	                 ROTOR_ELIMIT);
	assert_null(secret);
	assert_string_equal(err.remote_code, "LimitExceeded");
	assert_int_equal(err.http_status, 409);
	assert_true(strlen(err.request_id) > 8);
	assert_non_null(strstr(err.message, "CreateAccessKey(bob): LimitExceeded (request "));
	assert_non_null(strstr(err.message, "AccessKeysPerUser: 2"));
	assert_non_null(strstr(err.message, "the user already has 2 keys"));

	assert_int_equal(rotor_iam_list_access_keys(iam, "bob", keys, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(keys[0].created <= keys[1].created);
	rotor_aws_client_free(iam);
}

static void test_not_found(void **state)
{
	(void)state;
	struct rotor_aws_client *iam = client("iam", NULL);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n = 0;
	struct rotor_error err;
	assert_int_equal(rotor_iam_list_access_keys(iam, "nosuchuser", keys, &n, &err),
	                 ROTOR_ENOTFOUND);
	assert_string_equal(err.remote_code, "NoSuchEntity");
	assert_int_equal(err.http_status, 404);
	assert_non_null(strstr(err.message, "ListAccessKeys(nosuchuser): NoSuchEntity (request "));
	assert_non_null(strstr(err.message, "check the user name"));
	rotor_aws_client_free(iam);
}

static void test_update_delete_and_inactive_fails_sts(void **state)
{
	(void)state;
	json_t *u = control("POST", "users", "{\"name\": \"carol\", \"keys\": [{}]}");
	json_t *k = json_array_get(json_object_get(u, "keys"), 0);
	const char *id = json_string_value(json_object_get(k, "access_key_id"));
	const char *sec = json_string_value(json_object_get(k, "secret_access_key"));
	struct fixed_creds carol;
	struct rotor_error err;
	memset(&carol, 0, sizeof(carol));
	assert_int_equal(rotor_aws_credentials_set(&carol.creds, id, sec, NULL, 0, &err), 0);

	struct rotor_aws_client *iam = client("iam", NULL);
	struct rotor_aws_client *sts = client("sts", NULL);
	struct rotor_sts_identity ident;
	assert_int_equal(rotor_sts_get_caller_identity(sts, &carol.creds, &ident, &err), 0);
	assert_string_equal(ident.arn, "arn:aws:iam::123456789012:user/carol");
	assert_string_equal(ident.account, "123456789012");
	assert_int_equal(rotor_sts_validate_key(sts, &carol.creds,
	                                        "arn:aws:iam::123456789012:user/carol", 5000, &err),
	                 0);
	assert_int_equal(rotor_sts_validate_key(sts, &carol.creds,
	                                        "arn:aws:iam::123456789012:user/bob", 5000, &err),
	                 ROTOR_ECONFLICT);

	/* Last use recorded with service and region after a signed call. */
	struct rotor_iam_last_used lu;
	assert_int_equal(rotor_iam_get_access_key_last_used(iam, id, &lu, &err), 0);
	assert_true(lu.date > 0);
	assert_string_equal(lu.service, "sts");
	assert_string_equal(lu.region, "us-east-1");

	assert_int_equal(rotor_iam_update_access_key(iam, "carol", id, 0, &err), 0);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n;
	assert_int_equal(rotor_iam_list_access_keys(iam, "carol", keys, &n, &err), 0);
	assert_false(keys[0].active);
	/* An Inactive key fails every request: InvalidClientTokenId, auth. */
	assert_int_equal(rotor_sts_get_caller_identity(sts, &carol.creds, &ident, &err),
	                 ROTOR_EAUTH);
	assert_string_equal(err.remote_code, "InvalidClientTokenId");
	assert_int_equal(rotor_iam_delete_access_key(iam, "carol", id, &err), 0);
	assert_int_equal(rotor_iam_list_access_keys(iam, "carol", keys, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(rotor_iam_delete_access_key(iam, "carol", id, &err), ROTOR_ENOTFOUND);

	/* Never used: no date, N/A. */
	struct rotor_iam_key fresh;
	struct rotor_secret *s = NULL;
	assert_int_equal(rotor_iam_create_access_key(iam, "carol", &fresh, &s, &err), 0);
	assert_int_equal(rotor_iam_get_access_key_last_used(iam, fresh.id, &lu, &err), 0);
	assert_int_equal(lu.date, 0);
	assert_string_equal(lu.service, "N/A");
	rotor_secret_free(s);

	rotor_aws_credentials_dispose(&carol.creds);
	rotor_aws_client_free(iam);
	rotor_aws_client_free(sts);
	json_decref(u);
}

static void test_validate_waits_for_propagation(void **state)
{
	(void)state;
	json_decref(control("POST", "users", "{\"name\": \"dave\"}"));
	json_decref(control("POST", "settings", "{\"propagation_delay\": 1.5}"));
	struct rotor_aws_client *iam = client("iam", NULL);
	struct rotor_aws_client *sts = client("sts", NULL);
	struct rotor_iam_key k;
	struct rotor_secret *s = NULL;
	struct rotor_error err;
	assert_int_equal(rotor_iam_create_access_key(iam, "dave", &k, &s, &err), 0);
	struct rotor_aws_credentials nk;
	memset(&nk, 0, sizeof(nk));
	assert_int_equal(rotor_aws_credentials_set(&nk, k.id, rotor_secret_bytes(s), NULL, 0, &err),
	                 0);
	/* Too short a window: fails, naming the key and the wait. */
	assert_int_equal(
	    rotor_sts_validate_key(sts, &nk, "arn:aws:iam::123456789012:user/dave", 300, &err),
	    ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "did not authenticate within"));
	assert_string_equal(err.remote_code, "InvalidClientTokenId");
	/* A long enough one: succeeds once IAM has propagated the key. */
	assert_int_equal(
	    rotor_sts_validate_key(sts, &nk, "arn:aws:iam::123456789012:user/dave", 10000, &err),
	    0);
	json_decref(control("POST", "settings", "{\"propagation_delay\": 0}"));
	rotor_aws_credentials_dispose(&nk);
	rotor_secret_free(s);
	rotor_aws_client_free(iam);
	rotor_aws_client_free(sts);
}

static void test_pagination_and_tags(void **state)
{
	(void)state;
	json_decref(control("POST", "users", "{\"name\": \"erin\", \"keys\": [{}, {}]}"));
	json_decref(control("POST", "settings", "{\"page_size\": 1}"));
	struct rotor_aws_client *iam = client("iam", NULL);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n = 0;
	struct rotor_error err;
	assert_int_equal(rotor_iam_list_access_keys(iam, "erin", keys, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_not_equal(keys[0].id, keys[1].id);

	struct rotor_tag tags[3] = {
	    {"AKIAEXAMPLEKEY000001", "rotor v1 m=app created=2026-11-22T10:00Z"},
	    {"team", "platform"},
	    {"rotor:intent", "create m=app at=2026-11-22T10:00Z"},
	};
	assert_int_equal(rotor_iam_tag_user(iam, "erin", tags, 3, &err), 0);
	struct rotor_tags got;
	assert_int_equal(rotor_iam_list_user_tags(iam, "erin", &got, &err), 0);
	assert_int_equal(got.n, 3);
	int seen = 0;
	for (size_t i = 0; i < got.n; i++)
		for (size_t j = 0; j < 3; j++)
			if (strcmp(got.items[i].key, tags[j].key) == 0 &&
			    strcmp(got.items[i].value, tags[j].value) == 0)
				seen++;
	assert_int_equal(seen, 3);
	rotor_tags_dispose(&got);
	const char *drop[] = {"team"};
	assert_int_equal(rotor_iam_untag_user(iam, "erin", drop, 1, &err), 0);
	assert_int_equal(rotor_iam_list_user_tags(iam, "erin", &got, &err), 0);
	assert_int_equal(got.n, 2);
	rotor_tags_dispose(&got);

	/* Fill to 50, then one more: LimitExceeded. */
	struct rotor_tag many[48];
	char names[48][16];
	for (int i = 0; i < 48; i++) {
		snprintf(names[i], sizeof(names[i]), "t%d", i);
		many[i].key = names[i];
		many[i].value = "v";
	}
	assert_int_equal(rotor_iam_tag_user(iam, "erin", many, 48, &err), 0);
	struct rotor_tag extra = {"one-too-many", "v"};
	assert_int_equal(rotor_iam_tag_user(iam, "erin", &extra, 1, &err), ROTOR_ELIMIT);
	assert_non_null(strstr(err.message, "TagUser(erin): LimitExceeded"));

	/* GetUser carries every one of the 50 tags in one reply (issue 17: a
	 * pass reads rotor's records from it, with no ListUserTags), where
	 * ListUserTags at this page size would take 50 requests. */
	struct rotor_iam_user user;
	assert_int_equal(rotor_iam_get_user(iam, "erin", &user, &err), 0);
	assert_string_equal(user.arn, "arn:aws:iam::123456789012:user/erin");
	assert_int_equal(strncmp(user.user_id, "AIDA", 4), 0);
	assert_int_equal(user.tags.n, 50);
	int found = 0;
	for (size_t i = 0; i < user.tags.n; i++)
		found += (strcmp(user.tags.items[i].key, "t47") == 0 &&
		          strcmp(user.tags.items[i].value, "v") == 0) ||
		         strcmp(user.tags.items[i].key, "rotor:intent") == 0;
	assert_int_equal(found, 2);
	rotor_iam_user_dispose(&user);
	json_decref(control("POST", "settings", "{\"page_size\": 100}"));
	rotor_aws_client_free(iam);
}

/* Captures the body of the last request sent. */
struct body_capture {
	char body[4096];
};

static void capture_before(void *ctx, const struct rotor_http_request *req, int attempt)
{
	struct body_capture *c = ctx;
	(void)attempt;
	size_t n = req->body_len < sizeof(c->body) - 1 ? req->body_len : sizeof(c->body) - 1;
	memcpy(c->body, req->body, n);
	c->body[n] = '\0';
}

/* A space in a form body is '+' (issue 15): moto re-encodes the parsed form
 * with '+' before it checks SigV4, so "%20" fails there with 403. */
static void test_form_body_space_is_plus(void **state)
{
	(void)state;
	json_decref(control("POST", "users", "{\"name\": \"gus\", \"keys\": []}"));
	struct rotor_aws_client_options o;
	struct rotor_aws_client *iam = NULL;
	struct rotor_error err;
	struct body_capture cap;
	memset(&o, 0, sizeof(o));
	memset(&cap, 0, sizeof(cap));
	snprintf(o.endpoint.url, sizeof(o.endpoint.url), "%s/", srv.base_url);
	snprintf(o.endpoint.region, sizeof(o.endpoint.region), "us-east-1");
	snprintf(o.endpoint.service, sizeof(o.endpoint.service), "iam");
	o.creds.get = fixed_get;
	o.creds.ctx = &manager;
	rotor_http_options_init(&o.http);
	o.http.hook.before = capture_before;
	o.http.hook.ctx = &cap;
	assert_int_equal(rotor_aws_client_new(&iam, &o, &err), 0);
	struct rotor_tag t = {"note", "rotor v1 a b"};
	assert_int_equal(rotor_iam_tag_user(iam, "gus", &t, 1, &err), 0);
	assert_non_null(strstr(cap.body, "Tags.member.1.Value=rotor+v1+a+b"));
	assert_null(strstr(cap.body, "%20"));
	struct rotor_tags got;
	assert_int_equal(rotor_iam_list_user_tags(iam, "gus", &got, &err), 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.items[0].value, "rotor v1 a b");
	rotor_tags_dispose(&got);
	rotor_aws_client_free(iam);
}

/* Every error document shape AWS-compatible servers send is read for its
 * code and request id, so the user reads AccessDenied, not "the reply was
 * not an AWS error document" (issue 15). */
static void test_error_shapes(void **state)
{
	(void)state;
	static const char *const shapes[] = {"moto", "response", "bare"};
	json_decref(control("POST", "users", "{\"name\": \"hal\", \"keys\": []}"));
	struct rotor_aws_client *iam = client("iam", NULL);
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		char rule[256];
		snprintf(rule, sizeof(rule),
		         "{\"rules\": [{\"match\": \"ListAccessKeys\", \"kind\": \"error\", "
		         "\"status\": 403, \"code\": \"AccessDenied\", \"message\": \"no way\", "
		         "\"shape\": \"%s\"}]}",
		         shapes[i]);
		json_decref(control("POST", "faults", rule));
		struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
		size_t n = 0;
		struct rotor_error err;
		rotor_error_clear(&err);
		assert_int_equal(rotor_iam_list_access_keys(iam, "hal", keys, &n, &err),
		                 ROTOR_EAUTH);
		assert_string_equal(err.remote_code, "AccessDenied");
		assert_true(err.request_id[0] != '\0');
		assert_null(strchr(err.request_id, '\n'));
		assert_null(strstr(err.message, "request unknown"));
		assert_non_null(strstr(err.message, "AccessDenied"));
		assert_non_null(strstr(err.message, "no way"));
		assert_null(strstr(err.message, "not an AWS error document"));
	}
	rotor_aws_client_free(iam);
}

/* An id of unexpected length or shape is refused, never truncated into
 * rotor's field (issue 15: a truncated id gave a false "delete ok"). */
static void test_key_id_shape_refused(void **state)
{
	(void)state;
	assert_true(rotor_aws_key_id_valid("AKIAIOSFODNN7EXAMPLE"));
	assert_true(rotor_aws_key_id_valid("ASIA0123456789ABCDEF0123456"));
	assert_false(rotor_aws_key_id_valid("AKIA0123456789AB0123456789ABCDEF")); /* 32 */
	assert_false(rotor_aws_key_id_valid("AKIA0123"));
	assert_false(rotor_aws_key_id_valid("akiaiosfodnn7example"));
	assert_false(rotor_aws_key_id_valid("AKIAIOSFODNN7EXAMP E"));
	assert_false(rotor_aws_key_id_valid(""));
	static const char *const bad[] = {
	    "AKIA0123456789ABCDEF0123456789ABCDEFGHIJ", /* 40: truncated at 31 it would be */
	    "AKIA0123456789ab",                         /* lower case */
	    "AKIA_0123456789_XYZ",                      /* not IAM's alphabet */
	};
	struct rotor_aws_client *iam = client("iam", NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[256];
		snprintf(body, sizeof(body),
		         "{\"name\": \"ida%zu\", \"keys\": [{\"access_key_id\": \"%s\"}]}", i,
		         bad[i]);
		json_decref(control("POST", "users", body));
		char user[16];
		snprintf(user, sizeof(user), "ida%zu", i);
		struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
		size_t n = 0;
		struct rotor_error err;
		rotor_error_clear(&err);
		assert_int_equal(rotor_iam_list_access_keys(iam, user, keys, &n, &err),
		                 ROTOR_EINVALID);
		assert_non_null(strstr(err.message, "unexpected shape"));
		assert_int_equal(n, 0);
	}
	rotor_aws_client_free(iam);
}

static void test_retries_throttling_and_500(void **state)
{
	(void)state;
	json_decref(control("POST", "users", "{\"name\": \"frank\"}"));
	struct rotor_aws_client *iam = client("iam", NULL);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n;
	struct rotor_error err;
	/* Two throttles then success: standard mode retries (3 attempts). */
	json_decref(control("POST", "faults",
	                    "{\"rules\": [{\"match\": \"ListAccessKeys\", \"kind\": \"throttle\", "
	                    "\"count\": 2}]}"));
	assert_int_equal(rotor_iam_list_access_keys(iam, "frank", keys, &n, &err), 0);
	/* Throttled forever: ROTOR_ETHROTTLED naming the code and attempts. */
	json_decref(control("POST", "faults",
	                    "{\"rules\": [{\"match\": \"ListAccessKeys\", \"kind\": \"throttle\", "
	                    "\"count\": -1}]}"));
	assert_int_equal(rotor_iam_list_access_keys(iam, "frank", keys, &n, &err),
	                 ROTOR_ETHROTTLED);
	assert_non_null(strstr(err.message, "Throttling"));
	assert_non_null(strstr(err.message, "after 3 attempts"));
	/* 500s: transient. */
	json_decref(control("POST", "faults",
	                    "{\"rules\": [{\"match\": \"*\", \"kind\": \"error500\", \"count\": "
	                    "-1}]}"));
	assert_int_equal(rotor_iam_list_access_keys(iam, "frank", keys, &n, &err),
	                 ROTOR_ETRANSIENT);
	/* A dropped connection once: retried. */
	json_decref(control("POST", "faults",
	                    "{\"rules\": [{\"match\": \"*\", \"kind\": \"drop\", \"count\": 1}]}"));
	assert_int_equal(rotor_iam_list_access_keys(iam, "frank", keys, &n, &err), 0);
	json_decref(control("DELETE", "faults", NULL));
	rotor_aws_client_free(iam);
}

static void test_bad_credentials(void **state)
{
	(void)state;
	struct fixed_creds wrong;
	struct rotor_error err;
	memset(&wrong, 0, sizeof(wrong));
	assert_int_equal(rotor_aws_credentials_set(&wrong.creds, MANAGER_AKID,
	                                           "wrongsecretwrongsecretwrongsecretwrongsec",
	                                           NULL, 0, &err),
	                 0);
	struct rotor_aws_client *iam = client("iam", &wrong);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n;
	assert_int_equal(rotor_iam_list_access_keys(iam, "bob", keys, &n, &err), ROTOR_EAUTH);
	assert_string_equal(err.remote_code, "SignatureDoesNotMatch");
	assert_null(strstr(err.message, "wrongsecret"));
	rotor_aws_client_free(iam);
	rotor_aws_credentials_dispose(&wrong.creds);

	/* A non-manager user: AccessDenied, with the permission to grant. */
	json_t *u = control("POST", "users", "{\"name\": \"gina\", \"keys\": [{}]}");
	json_t *k = json_array_get(json_object_get(u, "keys"), 0);
	struct fixed_creds gina;
	memset(&gina, 0, sizeof(gina));
	rotor_aws_credentials_set(
	    &gina.creds, json_string_value(json_object_get(k, "access_key_id")),
	    json_string_value(json_object_get(k, "secret_access_key")), NULL, 0, &err);
	iam = client("iam", &gina);
	assert_int_equal(rotor_iam_list_access_keys(iam, "gina", keys, &n, &err), ROTOR_EAUTH);
	assert_string_equal(err.remote_code, "AccessDenied");
	assert_non_null(strstr(err.message, "grant the manager identity iam:ListAccessKeys"));
	rotor_aws_client_free(iam);
	rotor_aws_credentials_dispose(&gina.creds);
	json_decref(u);
}

static void test_assume_role(void **state)
{
	(void)state;
	json_decref(
	    control("POST", "roles",
	            "{\"name\": \"rotor\", \"manager\": true, \"external_id\": \"ext-1234\"}"));
	struct rotor_aws_client *sts = client("sts", NULL);
	struct rotor_aws_credentials role;
	struct rotor_secret *ext = NULL;
	struct rotor_error err;
	rotor_secret_from_str(&ext, "ext-1234", ROTOR_SECRET_REDACT, &err);
	assert_int_equal(rotor_sts_assume_role(sts, "arn:aws:iam::123456789012:role/rotor", "rotor",
	                                       ext, 900, &role, &err),
	                 0);
	assert_int_equal(strncmp(role.access_key_id, "ASIA", 4), 0);
	assert_non_null(role.session_token);
	assert_true(role.expiration > 0);
	/* The role's credentials (with a signed session token) work on IAM. */
	struct fixed_creds as;
	memset(&as, 0, sizeof(as));
	rotor_aws_credentials_copy(&as.creds, &role, &err);
	struct rotor_aws_client *iam = client("iam", &as);
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n;
	json_decref(control("POST", "users", "{\"name\": \"hank\"}"));
	assert_int_equal(rotor_iam_list_access_keys(iam, "hank", keys, &n, &err), 0);
	rotor_aws_client_free(iam);
	rotor_aws_credentials_dispose(&as.creds);
	rotor_aws_credentials_dispose(&role);
	/* The wrong external id is refused. */
	struct rotor_secret *bad = NULL;
	rotor_secret_from_str(&bad, "ext-9999", ROTOR_SECRET_REDACT, &err);
	assert_int_equal(rotor_sts_assume_role(sts, "arn:aws:iam::123456789012:role/rotor", "rotor",
	                                       bad, 900, &role, &err),
	                 ROTOR_EAUTH);
	rotor_secret_free(bad);
	rotor_secret_free(ext);
	rotor_aws_client_free(sts);
}

static void test_xml_tolerance(void **state)
{
	(void)state;
	const char *body =
	    "<?xml version=\"1.0\"?>\n<ListAccessKeysResponse "
	    "xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n"
	    "  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n"
	    "  <ListAccessKeysResult><Extra>ignored</Extra>\n"
	    "    <AccessKeyMetadata><member><CreateDate>2026-11-22T17:32:28.381652Z</CreateDate>"
	    "<Status>Active</Status><AccessKeyId> AKIAX </AccessKeyId></member>"
	    "</AccessKeyMetadata></ListAccessKeysResult></ListAccessKeysResponse>";
	struct xnode *root = NULL;
	struct rotor_error err;
	assert_int_equal(rotor_xml_parse(&root, body, strlen(body), &err), 0);
	char id[32];
	assert_true(rotor_xml_copy(
	    root, "ListAccessKeysResult/AccessKeyMetadata/member/AccessKeyId", id, sizeof(id)));
	assert_string_equal(id, "AKIAX");
	assert_null(rotor_xml_path(root, "ListAccessKeysResult/IsTruncated"));
	rotor_xml_free(root);
	const char *bomb = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">"
	                   "<!ENTITY b \"&a;&a;&a;&a;\">]><x>&b;</x>";
	assert_int_equal(rotor_xml_parse(&root, bomb, strlen(bomb), &err), ROTOR_EINVALID);
	assert_int_equal(rotor_xml_parse(&root, "<a><b></a>", 10, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "malformed XML"));
	assert_int_equal(rotor_aws_error_kind("Throttling", 400), ROTOR_ETHROTTLED);
	assert_int_equal(rotor_aws_error_kind("LimitExceeded", 409), ROTOR_ELIMIT);
	assert_int_equal(rotor_aws_error_kind("", 503), ROTOR_ETRANSIENT);
	assert_int_equal(rotor_aws_error_kind("AccessDenied", 403), ROTOR_EAUTH);
	assert_true(rotor_aws_error_retryable("ServiceFailure"));
	assert_false(rotor_aws_error_retryable("NoSuchEntity"));
}

int main(void)
{
	rotor_log_setup(NULL, ROTOR_LOG_WARN, ROTOR_LOG_TEXT, NULL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml_tolerance),
	    cmocka_unit_test_setup(test_list_create_limit, reset),
	    cmocka_unit_test_setup(test_not_found, reset),
	    cmocka_unit_test_setup(test_update_delete_and_inactive_fails_sts, reset),
	    cmocka_unit_test_setup(test_validate_waits_for_propagation, reset),
	    cmocka_unit_test_setup(test_pagination_and_tags, reset),
	    cmocka_unit_test_setup(test_form_body_space_is_plus, reset),
	    cmocka_unit_test_setup(test_error_shapes, reset),
	    cmocka_unit_test_setup(test_key_id_shape_refused, reset),
	    cmocka_unit_test_setup(test_retries_throttling_and_500, reset),
	    cmocka_unit_test_setup(test_bad_credentials, reset),
	    cmocka_unit_test_setup(test_assume_role, reset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
