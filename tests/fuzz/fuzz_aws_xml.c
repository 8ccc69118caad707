/* fuzz_aws_xml.c: libFuzzer harness for AWS's XML replies. The input's
 * first record names IAM or STS calls (a word each, e.g. "ListAccessKeys
 * GetUser"; none: one chosen by the first byte); every further record is an
 * HTTP reply (fuzzsupport.h). The calls run for real through the Query
 * client (providers/aws/client.c: retries, error documents and their
 * mapping), iam.c and sts.c, signed with a fixed manager key on a fixed
 * clock, against the libcurl fake. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzzsupport.h"
#include "providers/aws/aws.h"
#include "rotor/clock.h"
#include "rotor/secret.h"

#define MANAGER_AKID "AKIAFUZZMANAGER00001"
#define MANAGER_SECRET "fuzzmanagersecretfuzzmanagersecret123456"
#define NEWKEY_SECRET "fuzznewkeysecretfuzznewkeysecret12345678"
#define EXTERNAL_ID "fuzz-external-id-0001"
#define WEB_TOKEN "eyJmdXp6IjoidG9rZW4ifQ.fuzz-web-identity-token"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const calls[] = {
    "ListAccessKeys",
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "GetAccessKeyLastUsed",
    "GetUser",
    "ListUserTags",
    "TagUser",
    "UntagUser",
    "GetCallerIdentity",
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "ValidateKey",
};
#define NCALLS (sizeof(calls) / sizeof(calls[0]))

static int fixed_get(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	return rotor_aws_credentials_copy(out, ctx, err);
}

static int client_new(struct rotor_aws_client **out, const char *service,
                      struct rotor_aws_credentials *manager, struct rotor_clock *clock)
{
	struct rotor_aws_client_options o;
	struct rotor_error err;
	memset(&o, 0, sizeof(o));
	snprintf(o.endpoint.url, sizeof(o.endpoint.url), "https://%s.fuzz.invalid/", service);
	snprintf(o.endpoint.region, sizeof(o.endpoint.region), "us-east-1");
	snprintf(o.endpoint.service, sizeof(o.endpoint.service), "%s", service);
	o.creds.get = fixed_get;
	o.creds.ctx = manager;
	o.clock = clock;
	rotor_http_options_init(&o.http);
	o.http.clock = clock;
	return rotor_aws_client_new(out, &o, &err);
}

/* The secret a call hands rotor besides the manager's, or NULL. */
static const char *secret_of(size_t which)
{
	return which == 10   ? EXTERNAL_ID
	       : which == 11 ? WEB_TOKEN
	       : which == 12 ? NEWKEY_SECRET
	                     : NULL;
}

/* One call against its client; returns how it ended. */
static int run_call(size_t which, struct rotor_aws_client *iam, struct rotor_aws_client *sts,
                    struct rotor_error *err)
{
	struct rotor_secret *secret = NULL, *token = NULL, *external = NULL;
	struct rotor_aws_credentials creds;
	int rc = 0;
	memset(&creds, 0, sizeof(creds));
	switch (which) {
	case 0: {
		struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
		size_t n = 0;
		rc = rotor_iam_list_access_keys(iam, "bob", keys, &n, err);
		break;
	}
	case 1: {
		struct rotor_iam_key key;
		rc = rotor_iam_create_access_key(iam, "bob", &key, &secret, err);
		break;
	}
	case 2:
		rc = rotor_iam_update_access_key(iam, "bob", "AKIAFUZZOLDKEY000001", 0, err);
		break;
	case 3:
		rc = rotor_iam_delete_access_key(iam, "bob", "AKIAFUZZOLDKEY000001", err);
		break;
	case 4: {
		struct rotor_iam_last_used lu;
		rc = rotor_iam_get_access_key_last_used(iam, "AKIAFUZZOLDKEY000001", &lu, err);
		break;
	}
	case 5: {
		struct rotor_iam_user u;
		if ((rc = rotor_iam_get_user(iam, "bob", &u, err)) == 0)
			rotor_iam_user_dispose(&u);
		break;
	}
	case 6: {
		struct rotor_tags tags;
		if ((rc = rotor_iam_list_user_tags(iam, "bob", &tags, err)) == 0)
			rotor_tags_dispose(&tags);
		break;
	}
	case 7: {
		struct rotor_tag tags[2] = {{"rotor:managed", "s3-backup writer"},
		                            {"AKIAFUZZOLDKEY000001", "rotor 2026-06-01"}};
		rc = rotor_iam_tag_user(iam, "bob", tags, 2, err);
		break;
	}
	case 8: {
		const char *keys[2] = {"rotor:managed", "AKIAFUZZOLDKEY000001"};
		rc = rotor_iam_untag_user(iam, "bob", keys, 2, err);
		break;
	}
	case 9: {
		struct rotor_sts_identity id;
		rc = rotor_sts_get_caller_identity(sts, NULL, &id, err);
		break;
	}
	case 10:
		if (rotor_secret_from_str(&external, EXTERNAL_ID, ROTOR_SECRET_REDACT, err) == 0)
			rc = rotor_sts_assume_role(sts, "arn:aws:iam::123456789012:role/rotor",
			                           "rotor", external, 900, &creds, err);
		break;
	case 11:
		if (rotor_secret_from_str(&token, WEB_TOKEN, ROTOR_SECRET_REDACT, err) == 0)
			rc = rotor_sts_assume_role_with_web_identity(
			    sts, "arn:aws:iam::123456789012:role/rotor", NULL, token, 0, &creds,
			    err);
		break;
	default:
		/* The new key's validation: retried while IAM propagates it. */
		if (rotor_aws_credentials_set(&creds, "AKIAFUZZNEWKEY000001", NEWKEY_SECRET, NULL,
		                              0, err) == 0)
			rc = rotor_sts_validate_key(
			    sts, &creds, "arn:aws:iam::123456789012:user/bob", 20000, err);
		break;
	}
	rotor_secret_free(secret);
	rotor_secret_free(token);
	rotor_secret_free(external);
	rotor_aws_credentials_dispose(&creds);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The secrets rotor holds during a call: the manager's, and the
	 * call's own (see secret_of); only these must be redacted. */
	const char *secrets[3] = {MANAGER_SECRET, NULL, NULL};
	struct fuzz_records recs;
	struct rotor_aws_credentials manager;
	struct rotor_aws_client *iam = NULL, *sts = NULL;
	struct rotor_clock clock;
	struct rotor_error err;
	char line[256];

	fuzz_setup();
	fuzz_http_check();
	fuzz_split(data, size, &recs);
	fuzz_first_line(&recs.r[0], line, sizeof(line));
	fuzz_http_serve(&recs, 1);
	rotor_clock_fixed_init(&clock, 1780272000); /* 2026-06-01T00:00:00Z */
	memset(&manager, 0, sizeof(manager));
	if (rotor_aws_credentials_set(&manager, MANAGER_AKID, MANAGER_SECRET, NULL, 0, &err) ||
	    client_new(&iam, "iam", &manager, &clock) || client_new(&sts, "sts", &manager, &clock))
		goto done;

	int ran = 0;
	for (size_t i = 0; i < NCALLS; i++) {
		if (!fuzz_has_word(line, calls[i]))
			continue;
		rotor_error_clear(&err);
		fuzz_poison_stack();
		fuzz_report(calls[i], run_call(i, iam, sts, &err), &err);
		secrets[1] = secret_of(i);
		fuzz_check_error(&err, secrets, data, size);
		ran = 1;
	}
	if (!ran) {
		size_t which = size ? data[0] % NCALLS : 0;
		rotor_error_clear(&err);
		fuzz_poison_stack();
		fuzz_report(calls[which], run_call(which, iam, sts, &err), &err);
		secrets[1] = secret_of(which);
		fuzz_check_error(&err, secrets, data, size);
	}
done:
	rotor_aws_client_free(iam);
	rotor_aws_client_free(sts);
	rotor_aws_credentials_dispose(&manager);
	return 0;
}
