/*
 * metadata.c: the credential chain's metadata services, sources 4 and 5 of
 * ../shared/api/aws.md: container credentials (ECS/EKS Pod Identity: a
 * relative URI on 169.254.170.2 or a full URI on loopback or the container
 * hosts, with an optional authorization token) and IMDSv2 (a session token,
 * then the role's credentials). Every reply is capped and its secrets wiped.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/aws/chain_internal.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"

/* Fast-failing transport options: a laptop has no metadata service, and
 * the chain must get past it in a couple of seconds. */
static int metadata_http(const struct rotor_aws_chain *c, int attempts, long timeout_ms,
                         struct rotor_http **out, struct rotor_error *err)
{
	struct rotor_http_options o = c->http;
	o.connect_timeout_ms = 1000;
	o.timeout_ms = timeout_ms;
	o.deadline_ms = 6000;
	o.max_attempts = attempts;
	o.max_response = METADATA_REPLY_MAX;
	o.backoff_base_ms = 100;
	o.backoff_max_ms = 500;
	o.retry_after_max_ms = 1000;
	o.classify = rotor_http_classify_default;
	o.classify_ctx = NULL;
	return rotor_http_new(out, &o, err);
}

/* Wipes a JSON string in place before jansson frees it (the value is a
 * heap copy jansson owns; nothing else points at it). */
static void json_wipe_string(json_t *v)
{
	if (json_is_string(v))
		rotor_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static const char *json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* {AccessKeyId, SecretAccessKey, Token, Expiration} (the container
 * endpoint and IMDS alike; IMDS adds Code). */
static int parse_credentials_json(struct resolve *r, const struct rotor_buf *body, const char *what,
                                  int want_code, struct rotor_aws_credentials *out,
                                  struct rotor_error *err)
{
	json_error_t jerr;
	int64_t expiration = 0;
	char why[128];
	int rc = 0;
	json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
	if (!root)
		/* jerr.text may quote the reply, which may hold a secret. */
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: the reply is not JSON (line %d, column %d)", what,
		                       jerr.line, jerr.column);
	if (!json_is_object(root)) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: the reply is not a JSON object",
		                     what);
		goto done;
	}
	if (want_code) {
		const char *code = json_str(root, "Code");
		if (!code || strcmp(code, "Success") != 0) {
			rc = rotor_error_set(err, ROTOR_EAUTH, "%s: Code is %.40s, not Success",
			                     what, code ? code : "missing");
			goto done;
		}
	}
	const char *akid = json_str(root, "AccessKeyId");
	const char *secret = json_str(root, "SecretAccessKey");
	const char *token = json_str(root, "Token");
	const char *exp = json_str(root, "Expiration");
	if (!akid || !secret) {
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "%s: the reply has no AccessKeyId or SecretAccessKey", what);
		goto done;
	}
	if (exp && rotor_time_parse(&expiration, exp, why, sizeof(why)) != 0) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: unreadable Expiration: %s", what,
		                     why);
		goto done;
	}
	if (!exp)
		r->refresh_by = r->now + NO_EXPIRY_REFRESH_S;
	rc = rotor_aws_credentials_set(out, akid, secret, token, expiration, err);
	if (rc)
		rotor_error_prefix(err, "%s", what);
done:
	json_wipe_string(json_object_get(root, "SecretAccessKey"));
	json_wipe_string(json_object_get(root, "Token"));
	json_decref(root);
	return rc;
}

/* The host of an http:// URL, lower-cased and without port, for the
 * FULL_URI check. */
static void url_host(const char *url, char *host, size_t len)
{
	const char *p = strstr(url, "://");
	size_t n;
	host[0] = '\0';
	if (!p || len == 0)
		return;
	p += 3;
	n = strcspn(p, "/?#");
	if (memchr(p, '@', n))
		return; /* user info: refuse rather than parse */
	if (*p == '[') {
		const char *close = memchr(p, ']', n);
		if (!close)
			return;
		n = (size_t)(close - p) + 1;
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n >= len)
		return;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[n] = '\0';
}

/* The SDKs' rule for AWS_CONTAINER_CREDENTIALS_FULL_URI: https anywhere;
 * plain http only to loopback or to the ECS/EKS agents' link-local
 * addresses, so a misconfigured variable cannot send the authorization
 * token (or fetch credentials) across a network in clear text. */
static int full_uri_allowed(const char *url)
{
	char host[128];
	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	url_host(url, host, sizeof(host));
	if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
	    !strcmp(host, "169.254.170.2") || !strcmp(host, "169.254.170.23") ||
	    !strcmp(host, "[fd00:ec2::23]"))
		return 1;
	return strncmp(host, "127.", 4) == 0 && host[4] &&
	       strspn(host, "0123456789.") == strlen(host);
}

int rotor_chain_from_container(struct resolve *r, int required, struct rotor_aws_credentials *out,
                               struct rotor_error *err)
{
	const char *rel = rotor_chain_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = rotor_chain_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *token_file = rotor_chain_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token_env = rotor_chain_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	struct rotor_secret *token = NULL;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	char url[2048];
	const char *what = "container credentials";
	int rc = 0;

	memset(&res, 0, sizeof(res));
	if (!rel && !full) {
		if (required)
			return rotor_error_set(
			    err, ROTOR_EAUTH,
			    "container credentials: neither "
			    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor _FULL_URI is "
			    "set");
		rotor_chain_tried_add(
		    r, "no container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
		       "_FULL_URI not set)");
		return 1;
	}
	if (rel) {
		/* The relative URI carries the task's credential id: keep it out of
		 * messages (the request is named `what`, not by URL). */
		const char *host = r->chain->container_host_url ? r->chain->container_host_url
		                                                : DEFAULT_CONTAINER_HOST;
		size_t hl = strlen(host);
		while (hl > 0 && host[hl - 1] == '/')
			hl--;
		if (rel[0] != '/')
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "%s: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start "
			    "with '/'",
			    what);
		if (hl + strlen(rel) >= sizeof(url))
			return rotor_error_set(err, ROTOR_EINVALID, "%s: the URI is too long",
			                       what);
		snprintf(url, sizeof(url), "%.*s%s", (int)hl, host, rel);
	} else {
		if (!full_uri_allowed(full))
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "%s: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, "
			    "or http to a loopback address or the ECS/EKS agent",
			    what);
		if (strlen(full) >= sizeof(url))
			return rotor_error_set(err, ROTOR_EINVALID, "%s: the URI is too long",
			                       what);
		snprintf(url, sizeof(url), "%s", full);
	}
	if (token_file) {
		rc = rotor_chain_read_token_file(
		    token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token, err);
	} else if (token_env) {
		if (strpbrk(token_env, "\r\n"))
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "%s: AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line "
			                     "break",
			                     what);
		else
			rc = rotor_secret_from_str(&token, token_env, ROTOR_SECRET_REDACT, err);
	}
	if (rc)
		goto done;
	if ((rc = metadata_http(r->chain, 1, 2000, &h, err)) != 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.what = what;
	rotor_http_request_header(&req, "Accept", "application/json");
	if (token)
		rotor_http_request_header(&req, "Authorization", rotor_secret_bytes(token));
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status != 200) {
		rc = rotor_error_set(
		    err,
		    res.status >= 500   ? ROTOR_ETRANSIENT
		    : res.status == 429 ? ROTOR_ETHROTTLED
		                        : ROTOR_EAUTH,
		    "%s: the endpoint answered HTTP %ld%s", what, res.status,
		    res.status == 401 || res.status == 403
		        ? (token ? " (the authorization token was refused)"
		                 : " (no AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE] set)")
		        : "");
		rotor_error_set_remote(err, (int)res.status, NULL, NULL);
		goto done;
	}
	rc = parse_credentials_json(r, &res.body, what, 0, out, err);
	if (!rc)
		snprintf(out->source, sizeof(out->source), "container");
done:
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
	rotor_secret_free(token);
	return rc;
}

static int imds_disabled(void)
{
	const char *v = rotor_chain_env("AWS_EC2_METADATA_DISABLED");
	return v && strcasecmp(v, "true") == 0;
}

/* IAM role names: [\w+=,.@-]{1,64}; anything else would change the URL. */
static int role_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-", *s))
			return 0;
	return 1;
}

/*
 * IMDSv2 only: PUT a session token, then the role name, then the role's
 * credentials, each GET carrying the token. No fallback to IMDSv1: an
 * instance that still allows v1 answers v2 too, and refusing v1 keeps a
 * server-side request forgery from reaching the credentials with a GET.
 * Returns 0 or an error; the caller decides whether an error is fatal.
 */
int rotor_chain_from_imds(struct resolve *r, struct rotor_aws_credentials *out,
                          struct rotor_error *err)
{
	const char *base = r->chain->imds_url;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_secret *token = NULL;
	char url[1024], role[80];
	size_t bl;
	int rc;

	memset(&res, 0, sizeof(res));
	if (imds_disabled())
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "instance metadata disabled (AWS_EC2_METADATA_DISABLED=true)");
	if (!base)
		base = rotor_chain_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!base)
		base = DEFAULT_IMDS_URL;
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (bl > 512)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "instance metadata: the URL is too long");
	if ((rc = metadata_http(r->chain, 2, 1000, &h, err)) != 0)
		return rc;

	/* 1. the session token */
	snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)bl, base);
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.url = url;
	req.what = "instance metadata token (PUT /latest/api/token)";
	rotor_http_request_header(&req, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status != 200) {
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s: HTTP %ld", req.what, res.status);
		goto done;
	}
	if (!res.body.data) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: an empty reply", req.what);
		goto done;
	}
	char *t = rotor_chain_trim(res.body.data);
	if (!*t || strlen(t) > 4096 || strpbrk(t, "\r\n")) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: no usable token in the reply",
		                     req.what);
		goto done;
	}
	if ((rc = rotor_secret_from_str(&token, t, ROTOR_SECRET_REDACT, err)) != 0)
		goto done;
	rotor_http_response_dispose(&res);

	/* 2. the role attached to the instance */
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/", (int)bl,
	         base);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.what = "instance metadata role (GET /latest/meta-data/iam/security-credentials/)";
	rotor_http_request_header(&req, "X-aws-ec2-metadata-token", rotor_secret_bytes(token));
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status == 404) {
		rc = rotor_error_set(err, ROTOR_EAUTH,
		                     "instance metadata: no IAM role attached to the instance");
		goto done;
	}
	if (res.status != 200) {
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s: HTTP %ld", req.what, res.status);
		goto done;
	}
	char *list = res.body.data;
	if (list) {
		list[strcspn(list, "\r\n")] = '\0';
		list = rotor_chain_trim(list);
	}
	if (!list || !role_name_ok(list)) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: no valid role name in the reply",
		                     req.what);
		goto done;
	}
	snprintf(role, sizeof(role), "%s", list);
	rotor_http_response_dispose(&res);

	/* 3. the role's credentials */
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/%s", (int)bl,
	         base, role);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.what = "instance metadata credentials";
	rotor_http_request_header(&req, "X-aws-ec2-metadata-token", rotor_secret_bytes(token));
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status != 200) {
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s for role %s: HTTP %ld", req.what, role,
		                     res.status);
		goto done;
	}
	rc = parse_credentials_json(r, &res.body, "instance metadata credentials", 1, out, err);
	if (!rc)
		snprintf(out->source, sizeof(out->source), "instance metadata");
done:
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
	rotor_secret_free(token);
	return rc;
}
