/*
 * sts.c: GetCallerIdentity (also to validate a freshly created key),
 * AssumeRole and AssumeRoleWithWebIdentity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "util/retry.h"

#define STS_VERSION "2011-06-15"

int rotor_sts_get_caller_identity(struct rotor_aws_client *sts,
                                  const struct rotor_aws_credentials *as,
                                  struct rotor_sts_identity *out, struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	call.action = "GetCallerIdentity";
	call.version = STS_VERSION;
	call.as = as;
	snprintf(call.what, sizeof(call.what), "GetCallerIdentity(%s)",
	         as ? as->access_key_id : "manager");
	int rc = rotor_aws_call_do(sts, &call, &root, err);
	if (rc)
		return rc;
	const struct xnode *r = rotor_xml_child(root, "GetCallerIdentityResult");
	rotor_xml_copy(r, "Arn", out->arn, sizeof(out->arn));
	rotor_xml_copy(r, "UserId", out->user_id, sizeof(out->user_id));
	rotor_xml_copy(r, "Account", out->account, sizeof(out->account));
	rotor_xml_free(root);
	if (!out->arn[0])
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no Arn", call.what);
	return 0;
}

/* Credentials/{AccessKeyId, SecretAccessKey, SessionToken, Expiration}. */
static int read_credentials(const struct xnode *result, const char *what,
                            struct rotor_aws_credentials *out, struct rotor_error *err)
{
	const struct xnode *c = rotor_xml_child(result, "Credentials");
	const struct xnode *secret = rotor_xml_child(c, "SecretAccessKey");
	const struct xnode *token = rotor_xml_child(c, "SessionToken");
	char akid[64], exp[64], why[160];
	int64_t expiration = 0;
	if (!rotor_xml_copy(c, "AccessKeyId", akid, sizeof(akid)) || !secret || !token ||
	    !secret->text_len || !token->text_len)
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no credentials",
		                       what);
	if (rotor_xml_copy(c, "Expiration", exp, sizeof(exp)) &&
	    rotor_time_parse(&expiration, exp, why, sizeof(why)) != 0)
		return rotor_error_set(err, ROTOR_EINVALID, "%s: unreadable Expiration: %s", what,
		                       why);
	return rotor_aws_credentials_set(out, akid, rotor_xml_text(secret), rotor_xml_text(token),
	                                 expiration, err);
}

int rotor_sts_assume_role(struct rotor_aws_client *sts, const char *role_arn,
                          const char *session_name, const struct rotor_secret *external_id,
                          int duration_seconds, struct rotor_aws_credentials *out,
                          struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char duration[16];
	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	call.action = "AssumeRole";
	call.version = STS_VERSION;
	snprintf(call.what, sizeof(call.what), "AssumeRole(%s)", role_arn);
	rotor_aws_call_param(&call, "RoleArn", role_arn);
	rotor_aws_call_param(&call, "RoleSessionName", session_name ? session_name : "rotor");
	if (external_id)
		rotor_aws_call_param(&call, "ExternalId", rotor_secret_bytes(external_id));
	if (duration_seconds > 0) {
		snprintf(duration, sizeof(duration), "%d", duration_seconds);
		rotor_aws_call_param(&call, "DurationSeconds", duration);
	}
	int rc = rotor_aws_call_do(sts, &call, &root, err);
	if (rc)
		return rc;
	rc = read_credentials(rotor_xml_child(root, "AssumeRoleResult"), call.what, out, err);
	if (!rc)
		snprintf(out->source, sizeof(out->source), "role %.50s", role_arn);
	rotor_xml_free(root);
	return rc;
}

int rotor_sts_assume_role_with_web_identity(struct rotor_aws_client *sts, const char *role_arn,
                                            const char *session_name,
                                            const struct rotor_secret *token, int duration_seconds,
                                            struct rotor_aws_credentials *out,
                                            struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char duration[16];
	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	call.action = "AssumeRoleWithWebIdentity";
	call.version = STS_VERSION;
	call.unsigned_call = 1;
	snprintf(call.what, sizeof(call.what), "AssumeRoleWithWebIdentity(%s)", role_arn);
	rotor_aws_call_param(&call, "RoleArn", role_arn);
	rotor_aws_call_param(&call, "RoleSessionName", session_name ? session_name : "rotor");
	rotor_aws_call_param(&call, "WebIdentityToken", rotor_secret_bytes(token));
	if (duration_seconds > 0) {
		snprintf(duration, sizeof(duration), "%d", duration_seconds);
		rotor_aws_call_param(&call, "DurationSeconds", duration);
	}
	int rc = rotor_aws_call_do(sts, &call, &root, err);
	if (rc)
		return rc;
	rc = read_credentials(rotor_xml_child(root, "AssumeRoleWithWebIdentityResult"), call.what,
	                      out, err);
	if (!rc)
		snprintf(out->source, sizeof(out->source), "web identity");
	rotor_xml_free(root);
	return rc;
}

/* Only "this key is not known yet" is worth waiting for; a key that is
 * known but wrong, or a denied call, will not heal with time. */
static int propagation_error(const struct rotor_error *e)
{
	return (strcmp(e->remote_code, "InvalidClientTokenId") == 0 ||
	        (strcmp(e->remote_code, "SignatureDoesNotMatch") == 0 &&
	         !strstr(e->message, "Signature expired") &&
	         !strstr(e->message, "not yet current"))) ||
	       rotor_error_is_retryable(e->code);
}

int rotor_sts_validate_key(struct rotor_aws_client *sts, const struct rotor_aws_credentials *key,
                           const char *expected_arn, int64_t timeout_ms, struct rotor_error *err)
{
	/* IAM's propagation: equal jitter (250-500 ms, doubling to 4-8 s), for
	 * as long as timeout_ms allows (the one retry policy, util/retry.h). */
	struct rotor_retry_policy policy = {0, 500, 8000, timeout_ms, 0, ROTOR_JITTER_EQUAL};
	struct rotor_retry retry;
	rotor_retry_begin(&retry, &policy, rotor_aws_client_clock(sts));
	int attempts = 0;
	for (;;) {
		struct rotor_sts_identity id;
		struct rotor_error e;
		rotor_error_clear(&e);
		attempts++;
		int rc = rotor_sts_get_caller_identity(sts, key, &id, &e);
		if (rc == 0) {
			if (strcmp(id.arn, expected_arn) != 0)
				return rotor_error_set(
				    err, ROTOR_ECONFLICT,
				    "validate %s: it authenticates as %s, not as "
				    "%s",
				    key->access_key_id, id.arn, expected_arn);
			rotor_log(ROTOR_LOG_DEBUG, NULL, "validate %s: ok after %d attempt%s",
			          key->access_key_id, attempts, attempts == 1 ? "" : "s");
			return 0;
		}
		if (!propagation_error(&e) || rotor_retry_next(&retry, -1) != ROTOR_RETRY_AGAIN) {
			if (err)
				*err = e;
			if (propagation_error(&e))
				rotor_error_prefix(
				    err,
				    "validate %s: the new key did not authenticate "
				    "within %llds (%d attempts; IAM can take a while "
				    "to propagate a new key)",
				    key->access_key_id, (long long)(timeout_ms / 1000), attempts);
			else
				rotor_error_prefix(err, "validate %s", key->access_key_id);
			return err ? err->code : e.code;
		}
	}
}
