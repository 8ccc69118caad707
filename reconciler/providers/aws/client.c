/*
 * client.c: AWS's Query protocol — form-encoded POST, SigV4, XML replies —
 * with the SDKs' "standard" retry mode and errors a user can act on.
 *
 * Retries live here rather than in the transport (which makes one attempt
 * per call) because AWS hides throttling in 400 bodies and because the
 * final error must carry AWS's own code and request id, not just a status.
 * Each attempt is signed afresh so a long back-off never sends a stale
 * x-amz-date.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/stats.h"
#include "util/buf.h"
#include "util/ratelimit.h"
#include "util/retry.h"

#define AWS_MAX_ATTEMPTS 3
#define AWS_BACKOFF_MAX_MS 20000

struct rotor_aws_client {
	struct rotor_aws_client_options opts;
	enum rotor_remote remote; /* for the request counts */
	struct rotor_http *http;
	char host[256];
	char path[256];
};

/* AWS's retry decision needs the error code in the body, so the transport
 * hands every reply back and rotor_aws_call_do decides. */
static enum rotor_http_verdict
every_reply_is_final(void *ctx, const struct rotor_http_response *res, int64_t *retry_after_ms)
{
	(void)ctx, (void)res, (void)retry_after_ms;
	return ROTOR_HTTP_DONE;
}

int rotor_aws_client_new(struct rotor_aws_client **out, const struct rotor_aws_client_options *opts,
                         struct rotor_error *err)
{
	struct rotor_aws_client *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	c->opts = *opts;
	c->remote =
	    strcmp(opts->endpoint.service, "sts") == 0 ? ROTOR_REMOTE_STS : ROTOR_REMOTE_IAM;
	if (!c->opts.clock)
		c->opts.clock = rotor_clock_real();
	/* host and path for signing, from the endpoint URL */
	const char *u = c->opts.endpoint.url;
	const char *p = strstr(u, "://");
	if (!p) {
		free(c);
		return rotor_error_set(err, ROTOR_EINVALID, "AWS endpoint \"%s\" is not a URL", u);
	}
	p += 3;
	size_t hl = strcspn(p, "/?");
	if (hl == 0 || hl >= sizeof(c->host)) {
		free(c);
		return rotor_error_set(err, ROTOR_EINVALID, "AWS endpoint \"%s\" has no host", u);
	}
	memcpy(c->host, p, hl);
	c->host[hl] = '\0';
	snprintf(c->path, sizeof(c->path), "%s", p[hl] == '/' ? p + hl : "/");
	c->path[strcspn(c->path, "?")] = '\0';
	struct rotor_http_options http = c->opts.http;
	http.max_attempts = 1;
	http.classify = every_reply_is_final;
	http.clock = c->opts.clock;
	int rc = rotor_http_new(&c->http, &http, err);
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

struct rotor_clock *rotor_aws_client_clock(struct rotor_aws_client *c)
{
	return c->opts.clock;
}

void rotor_aws_client_free(struct rotor_aws_client *c)
{
	if (!c)
		return;
	rotor_http_free(c->http);
	free(c);
}

void rotor_aws_call_param(struct aws_call *call, const char *name, const char *value)
{
	if (call->nparams < AWS_MAX_PARAMS) {
		call->params[call->nparams].name = name;
		call->params[call->nparams].value = value;
		call->nparams++;
	}
}

static const char *const retryable_codes[] = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "ServiceFailure",
    "InternalFailure",
    "RequestTimeout",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "EC2ThrottledException",
    "IDPCommunicationError",
    NULL,
};

int rotor_aws_error_retryable(const char *code)
{
	for (size_t i = 0; retryable_codes[i]; i++)
		if (strcmp(code, retryable_codes[i]) == 0)
			return 1;
	return 0;
}

static int is_throttle(const char *code)
{
	return strstr(code, "Throttl") || strcmp(code, "RequestLimitExceeded") == 0 ||
	       strcmp(code, "TooManyRequestsException") == 0 || strcmp(code, "SlowDown") == 0;
}

int rotor_aws_error_kind(const char *code, long status)
{
	static const struct {
		const char *code;
		int kind;
	} map[] = {
	    {"NoSuchEntity", ROTOR_ENOTFOUND},
	    {"LimitExceeded", ROTOR_ELIMIT},
	    {"EntityAlreadyExists", ROTOR_ECONFLICT},
	    {"ConcurrentModification", ROTOR_ECONFLICT},
	    {"DeleteConflict", ROTOR_ECONFLICT},
	    {"InvalidClientTokenId", ROTOR_EAUTH},
	    {"SignatureDoesNotMatch", ROTOR_EAUTH},
	    {"IncompleteSignature", ROTOR_EAUTH},
	    {"AccessDenied", ROTOR_EAUTH},
	    {"AccessDeniedException", ROTOR_EAUTH},
	    {"ExpiredToken", ROTOR_EAUTH},
	    {"ExpiredTokenException", ROTOR_EAUTH},
	    {"MissingAuthenticationToken", ROTOR_EAUTH},
	    {"InvalidIdentityToken", ROTOR_EAUTH},
	    {"UnrecognizedClientException", ROTOR_EAUTH},
	    {"RequestExpired", ROTOR_EAUTH},
	    {"ValidationError", ROTOR_EINVALID},
	    {"InvalidInput", ROTOR_EINVALID},
	    {"InvalidParameterValue", ROTOR_EINVALID},
	    {"MalformedQueryString", ROTOR_EINVALID},
	    {"InvalidAction", ROTOR_EINVALID},
	    {"MissingAction", ROTOR_EINVALID},
	    {"MalformedPolicyDocument", ROTOR_EINVALID},
	};
	if (code && *code) {
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(code, map[i].code) == 0)
				return map[i].kind;
		if (is_throttle(code))
			return ROTOR_ETHROTTLED;
		if (rotor_aws_error_retryable(code))
			return ROTOR_ETRANSIENT;
	}
	if (status == 429)
		return ROTOR_ETHROTTLED;
	if (status >= 500)
		return ROTOR_ETRANSIENT;
	if (status == 401 || status == 403)
		return ROTOR_EAUTH;
	if (status == 404)
		return ROTOR_ENOTFOUND;
	return ROTOR_EINVALID;
}

/* What a user should do about an AWS error, by code and action. */
static const char *error_hint(const char *action, const char *code, const char *message)
{
	if (strcmp(code, "LimitExceeded") == 0 && strcmp(action, "CreateAccessKey") == 0)
		return "the user already has 2 keys; rotor only creates a key after making room, "
		       "so another party added one: see `rotor status` and delete the key that "
		       "is not in use";
	if (strcmp(code, "LimitExceeded") == 0 && strcmp(action, "TagUser") == 0)
		return "the user has 50 tags, IAM's limit; remove tags rotor does not own";
	if (strcmp(code, "NoSuchEntity") == 0)
		return "check the user name (spec.user) and the AWS account the connection "
		       "points at";
	if (strcmp(code, "AccessDenied") == 0 || strcmp(code, "AccessDeniedException") == 0) {
		static _Thread_local char hint[160];
		snprintf(hint, sizeof(hint),
		         "grant the manager identity %s:%s (the policy is in docs/aws.md)",
		         strncmp(action, "AssumeRole", 10) == 0 ? "sts" : "iam", action);
		return hint;
	}
	if (strcmp(code, "SignatureDoesNotMatch") == 0 &&
	    (strstr(message, "Signature expired") || strstr(message, "not yet current")))
		return "this machine's clock is more than 5 minutes off AWS's: synchronise it "
		       "(NTP)";
	if (strcmp(code, "SignatureDoesNotMatch") == 0)
		return "the secret access key rotor signs with does not match its key id: check "
		       "the manager's credentials";
	if (strcmp(code, "InvalidClientTokenId") == 0)
		return "the access key rotor signs with is unknown, deleted or Inactive: check "
		       "the manager's credentials";
	if (strcmp(code, "ExpiredToken") == 0)
		return "the session credentials expired: rotor refreshes them on the next call";
	if (is_throttle(code))
		return "AWS is throttling this account's IAM calls; rotor retried with back-off "
		       "and will try again on the next pass";
	if (rotor_aws_error_retryable(code))
		return "AWS reported an internal failure; rotor will retry on the next pass";
	return NULL;
}

/* Pulls <Code>, <Message> and <RequestId> out of an error body. AWS and
 * AWS-compatible servers send several shapes, with or without a namespace:
 * <ErrorResponse><Error>..</Error><RequestId> (IAM, STS),
 * <ErrorResponse><Errors><Error>..</Error></Errors><RequestId> and
 * <Response><Errors><Error>..</Error></Errors><RequestID> (moto, EC2-style),
 * a bare <Error> with the request id inside it (S3-style). So the first
 * <Error> element anywhere holds the code, and the request id is looked
 * for inside it, then anywhere, under either spelling. */
static void parse_error_body(const char *body, size_t len, char *code, size_t code_len, char *msg,
                             size_t msg_len, char *reqid, size_t reqid_len)
{
	static const char *const reqid_names[] = {"RequestId", "RequestID"};
	struct xnode *root = NULL;
	struct rotor_error ignore;
	code[0] = msg[0] = reqid[0] = '\0';
	if (body && len && rotor_xml_parse(&root, body, len, &ignore) == 0) {
		const struct xnode *e = rotor_xml_find(root, "Error");
		if (e) {
			rotor_xml_copy(e, "Code", code, code_len);
			rotor_xml_copy(e, "Message", msg, msg_len);
		}
		for (size_t i = 0; !reqid[0] && i < 2; i++) {
			const struct xnode *r = rotor_xml_find(e, reqid_names[i]);
			if (!r)
				r = rotor_xml_find(root, reqid_names[i]);
			if (r)
				rotor_xml_copy(r, "", reqid, reqid_len); /* trimmed */
		}
		rotor_xml_free(root);
	}
}

static int build_body(struct rotor_buf *b, const struct aws_call *call)
{
	int rc = rotor_buf_puts(b, "Action=");
	if (!rc)
		rc = rotor_http_formencode(b, call->action, strlen(call->action));
	if (!rc)
		rc = rotor_buf_puts(b, "&Version=");
	if (!rc)
		rc = rotor_http_formencode(b, call->version, strlen(call->version));
	for (size_t i = 0; !rc && i < call->nparams; i++) {
		rc = rotor_buf_puts(b, "&");
		if (!rc)
			rc = rotor_http_formencode(b, call->params[i].name,
			                           strlen(call->params[i].name));
		if (!rc)
			rc = rotor_buf_puts(b, "=");
		if (!rc)
			rc = rotor_http_formencode(b, call->params[i].value,
			                           strlen(call->params[i].value));
	}
	return rc;
}

/* One signed attempt. Returns 0 with *res filled (any status) or a
 * transport error. */
static int attempt_once(struct rotor_aws_client *c, struct aws_call *call,
                        const struct rotor_buf *body, struct rotor_http_response *res,
                        struct rotor_error *err)
{
	struct rotor_aws_credentials own;
	const struct rotor_aws_credentials *creds = call->as;
	struct rotor_sigv4_output sig;
	int rc = 0, have_own = 0;
	memset(&own, 0, sizeof(own));
	memset(&sig, 0, sizeof(sig));
	struct rotor_http_request req;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = c->opts.endpoint.url;
	req.body = body->data;
	req.body_len = body->len;
	req.what = call->what;
	req.not_idempotent = call->not_idempotent;
	rotor_http_request_header(&req, "Host", c->host);
	rotor_http_request_header(&req, "Content-Type",
	                          "application/x-www-form-urlencoded; charset=utf-8");
	if (!call->unsigned_call) {
		if (!creds) {
			if (!c->opts.creds.get) {
				rc = rotor_error_set(err, ROTOR_EAUTH, "%s: no AWS credentials",
				                     call->what);
				goto done;
			}
			rc = c->opts.creds.get(c->opts.creds.ctx, &own, err);
			if (rc) {
				rotor_error_prefix(err, "%s", call->what);
				goto done;
			}
			have_own = 1;
			creds = &own;
		}
		struct rotor_http_header sh[2] = {
		    {"host", c->host},
		    {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
		};
		struct rotor_sigv4_input in = {
		    .method = "POST",
		    .path = c->path,
		    .query = NULL,
		    .headers = sh,
		    .nheaders = 2,
		    .body = body->data,
		    .body_len = body->len,
		    .region = c->opts.endpoint.region,
		    .service = c->opts.endpoint.service,
		    .now = c->opts.clock->now(c->opts.clock),
		    .normalize_path = 1,
		    .sign_token = 1,
		};
		rc = rotor_sigv4_sign(&in, creds, &sig, err);
		if (rc) {
			rotor_error_prefix(err, "%s", call->what);
			goto done;
		}
		rotor_http_request_header(&req, "X-Amz-Date", sig.amz_date);
		rotor_http_request_header(&req, "Authorization", sig.authorization);
		if (creds->session_token)
			rotor_http_request_header(&req, "X-Amz-Security-Token",
			                          rotor_secret_bytes(creds->session_token));
	}
	rc = rotor_http_do(c->http, &req, res, err);
done:
	rotor_sigv4_output_dispose(&sig);
	if (have_own)
		rotor_aws_credentials_dispose(&own);
	return rc;
}

int rotor_aws_call_do(struct rotor_aws_client *c, struct aws_call *call, struct xnode **result,
                      struct rotor_error *err)
{
	struct rotor_buf body;
	int rc = 0;
	*result = NULL;
	if (!call->what[0])
		snprintf(call->what, sizeof(call->what), "%s", call->action);
	rotor_buf_init(&body, 256 * 1024);
	rc = build_body(&body, call);
	if (rc) {
		rc = rotor_error_set(err, rc, "%s: request too large", call->what);
		goto done;
	}
	/* The SDKs' standard mode through the one retry policy: 3 attempts,
	 * full jitter in [0, min(base * 2^attempt, 20 s)], base 1 s (tests
	 * shorten it through http.backoff_base_ms). */
	int64_t base = c->opts.http.backoff_base_ms > 0 ? c->opts.http.backoff_base_ms : 1000;
	struct rotor_retry_policy policy = {AWS_MAX_ATTEMPTS, 2 * base, AWS_BACKOFF_MAX_MS, 0, 0,
	                                    ROTOR_JITTER_FULL};
	struct rotor_retry backoff;
	rotor_retry_begin(&backoff, &policy, c->opts.clock);
	for (int attempt = 1;; attempt++) {
		struct rotor_http_response res;
		memset(&res, 0, sizeof(res));
		if (c->opts.bucket)
			rotor_bucket_take(c->opts.bucket);
		rc = attempt_once(c, call, &body, &res, err);
		if (rc == 0 && res.status >= 200 && res.status < 300)
			rotor_stats_request(c->remote, 0);
		if (rc) {
			/* Connection errors and timeouts: retry like the SDKs, except
			 * for a call that must not run twice: the first may have
			 * been carried out with only its reply lost. */
			if (rc == ROTOR_ETRANSIENT && call->not_idempotent) {
				rotor_error_prefix(err,
				                   "no reply, and the call may have taken "
				                   "effect (not retried; the next pass observes)");
				goto done;
			}
			if (rc == ROTOR_ETRANSIENT &&
			    rotor_retry_next(&backoff, -1) == ROTOR_RETRY_AGAIN)
				continue;
			goto done;
		}
		if (res.status >= 200 && res.status < 300) {
			rc = rotor_xml_parse(result, res.body.data, res.body.len, err);
			if (rc)
				rotor_error_prefix(err, "%s: unreadable reply (HTTP %ld)",
				                   call->what, res.status);
			rotor_http_response_dispose(&res);
			goto done;
		}
		char code[96], msg[400], reqid[96];
		parse_error_body(res.body.data, res.body.len, code, sizeof(code), msg, sizeof(msg),
		                 reqid, sizeof(reqid));
		if (!reqid[0])
			rotor_http_response_header(&res, "x-amzn-RequestId", reqid, sizeof(reqid));
		long status = res.status;
		rotor_http_response_dispose(&res);
		/* Throttled: every worker of this account slows down, not just
		 * this one (the SDKs' adaptive mode). */
		int throttled = code[0] ? is_throttle(code) : status == 429;
		rotor_stats_request(c->remote, throttled);
		if (c->opts.bucket && throttled)
			rotor_bucket_throttled(c->opts.bucket);
		int retry =
		    code[0] ? rotor_aws_error_retryable(code) : (status >= 500 || status == 429);
		if (retry && rotor_retry_next(&backoff, -1) == ROTOR_RETRY_AGAIN) {
			rotor_log(ROTOR_LOG_DEBUG, NULL, "%s: %s (HTTP %ld), attempt %d: retried",
			          call->what, code[0] ? code : "error", status, attempt);
			continue;
		}
		int kind = rotor_aws_error_kind(code, status);
		const char *hint = code[0] ? error_hint(call->action, code, msg) : NULL;
		char attempts[48] = "";
		if (retry)
			snprintf(attempts, sizeof(attempts), " after %d attempts", attempt);
		if (!code[0])
			rc = rotor_error_set(err, kind, "%s: HTTP %ld%s%s (request %s): %s",
			                     call->what, status, attempts, "",
			                     reqid[0] ? reqid : "unknown",
			                     "the reply was not an AWS error document");
		else
			rc = rotor_error_set(err, kind, "%s: %s (request %s)%s: %s%s%s", call->what,
			                     code, reqid[0] ? reqid : "unknown", attempts,
			                     msg[0] ? msg : "(no message)", hint ? "; " : "",
			                     hint ? hint : "");
		rotor_error_set_remote(err, (int)status, code, reqid);
		goto done;
	}
done:
	rotor_buf_dispose(&body);
	return rc;
}
