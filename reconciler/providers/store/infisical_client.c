/*
 * infisical_client.c: talking to one Infisical instance: Universal Auth
 * (login, renewal, re-login once, failed logins counted across runs),
 * pacing, throttling waits (429, or any status with Retry-After or no
 * requests left), server-error retries, and error replies turned into
 * rotor errors with a hint. The store operations are in infisical.c; the
 * design notes are there.
 */
#include "providers/store/infisical_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/store/store.h"
#include "rotor/clock.h"
#include "rotor/config.h"
#include "rotor/json.h"
#include "rotor/lock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/stats.h"
#include "util/buf.h"
#include "util/http.h"
#include "util/retry.h"

/* A throttling reply, whatever its status: 429, or a Retry-After, or a
 * window with nothing left (2024 servers throttle with HTTP 500). */
static int is_throttle(const struct reply *r)
{
	/* A 4xx with nothing left in its window is still that 4xx (the last
	 * allowed request, a real 404): only a named wait, or a 5xx with no
	 * requests left, is throttling. */
	return r->status == 429 || (r->status >= 400 && r->retry_after[0]) ||
	       (r->status >= 500 && strcmp(r->remaining, "0") == 0);
}

void rotor_inf_reply_dispose(struct reply *r)
{
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *rotor_inf_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void read_error_fields(struct reply *r)
{
	if (!json_is_object(r->json))
		return;
	snprintf(r->error, sizeof(r->error), "%s", rotor_inf_jstr(r->json, "error"));
	snprintf(r->req_id, sizeof(r->req_id), "%s", rotor_inf_jstr(r->json, "reqId"));
	json_t *m = json_object_get(r->json, "message");
	if (json_is_string(m)) {
		snprintf(r->message, sizeof(r->message), "%s", json_string_value(m));
	} else if (json_is_array(m)) {
		size_t i;
		json_t *v;
		json_array_foreach(m, i, v)
		{
			size_t used = strlen(r->message);
			const char *s = json_is_string(v) ? json_string_value(v) : "";
			if (json_is_object(v))
				s = rotor_inf_jstr(v, "message");
			snprintf(r->message + used, sizeof(r->message) - used, "%s%s",
			         i ? "; " : "", s);
		}
	}
}

#define SERVER_ERROR_ATTEMPTS 3

/* Sleeps until the next request may go (the pacing interval after the
 * last one) and takes that slot. */
static void pace(struct infisical *s)
{
	int64_t now = s->clock->monotonic_ms(s->clock);
	if (s->last_request_ms && now - s->last_request_ms < s->interval_ms)
		s->clock->sleep_ms(s->clock, s->interval_ms - (now - s->last_request_ms));
	s->last_request_ms = s->clock->monotonic_ms(s->clock);
}

static size_t skip_ws(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* One JSON array or object (or string) at p[*i], advancing *i past it. */
static json_t *load_one(const char *p, size_t n, size_t *i)
{
	json_error_t je;
	if (*i >= n || (p[*i] != '{' && p[*i] != '[' && p[*i] != '"'))
		return NULL; /* a bare scalar may be read one byte too far: not here */
	json_t *v = json_loadb(p + *i, n - *i, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
	if (v)
		*i += (size_t)je.position;
	return v;
}

/* A 2xx body {"secrets": [...], ...} read secret by secret, each handed to
 * s->each_secret and freed before the next is parsed, so a list of 20,000
 * secrets never sits in memory as one document (issue 17: a pass's
 * recursive list). The other members go to r->json. -1 when the body is
 * not of that shape (the caller then parses it whole). */
static int stream_secrets(struct infisical *s, const char *p, size_t n, struct reply *r)
{
	size_t i = skip_ws(p, n, 0);
	json_t *rest = json_object();
	if (!rest || i >= n || p[i++] != '{')
		goto bad;
	for (int first = 1;; first = 0) {
		i = skip_ws(p, n, i);
		if (i < n && p[i] == '}' && first) {
			i++;
			break;
		}
		json_t *key = load_one(p, n, &i);
		if (!json_is_string(key)) {
			json_decref(key);
			goto bad;
		}
		i = skip_ws(p, n, i);
		if (i >= n || p[i++] != ':') {
			json_decref(key);
			goto bad;
		}
		i = skip_ws(p, n, i);
		if (strcmp(json_string_value(key), "secrets") == 0 && i < n && p[i] == '[') {
			json_decref(key);
			i = skip_ws(p, n, i + 1);
			r->streamed = 1;
			if (i < n && p[i] == ']') {
				i++;
			} else {
				for (;;) {
					json_t *el = load_one(p, n, &i);
					if (!el)
						goto bad;
					s->each_secret(s->each_ctx, el);
					json_decref(el);
					i = skip_ws(p, n, i);
					if (i < n && p[i] == ',') {
						i = skip_ws(p, n, i + 1);
						continue;
					}
					if (i < n && p[i] == ']') {
						i++;
						break;
					}
					goto bad;
				}
			}
		} else {
			json_t *v = load_one(p, n, &i);
			if (!v || json_object_set_new(rest, json_string_value(key), v) != 0) {
				json_decref(key);
				goto bad;
			}
			json_decref(key);
		}
		i = skip_ws(p, n, i);
		if (i < n && p[i] == ',') {
			i++;
			continue;
		}
		if (i < n && p[i] == '}') {
			i++;
			break;
		}
		goto bad;
	}
	if (skip_ws(p, n, i) != n)
		goto bad;
	r->json = rest;
	return 0;
bad:
	json_decref(rest);
	return -1;
}

/* One HTTP exchange, no auth logic. body may be NULL. */
static int send_raw(struct infisical *s, const char *method, const char *path, json_t *body,
                    int with_token, const char *what, struct reply *r, struct rotor_error *err)
{
	struct rotor_http_request req;
	struct rotor_http_response res;
	char url[2048], bearer[4096];
	char *text = NULL;
	size_t text_len = 0;
	int rc;
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	req.method = method;
	req.url = url;
	req.what = what;
	rotor_http_request_header(&req, "Accept", "application/json");
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", what);
		text_len = strlen(text);
		req.body = text;
		req.body_len = text_len;
		rotor_http_request_header(&req, "Content-Type", "application/json");
	}
	if (with_token) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", rotor_secret_bytes(s->token));
		rotor_http_request_header(&req, "Authorization", bearer);
	}
	/* a server error: back off (1 s, 2 s) and try again, three attempts
	 * in all (the one retry policy, util/retry.h) */
	static const struct rotor_retry_policy server_errors = {
	    SERVER_ERROR_ATTEMPTS, 1000, 2000, 0, 0, ROTOR_JITTER_NONE};
	struct rotor_retry retry;
	rotor_retry_begin(&retry, &server_errors, s->clock);
	for (int attempt = 1;; attempt++) {
		char ra[8] = "", rem[8] = "";
		if (attempt > 1 || !s->in_slot)
			pace(s);
		rc = rotor_http_do(s->http, &req, &res, err);
		if (rc || res.status < 500)
			break;
		/* throttling in a 500's clothing: the caller waits what it names */
		if (rotor_http_response_header(&res, "Retry-After", ra, sizeof(ra)) ||
		    (rotor_http_response_header(&res, "x-ratelimit-remaining", rem, sizeof(rem)) &&
		     strcmp(rem, "0") == 0))
			break;
		if (rotor_retry_next(&retry, -1) != ROTOR_RETRY_AGAIN)
			break;
		rotor_log(ROTOR_LOG_DEBUG, s->name, "%s: HTTP %ld, attempt %d: retried", what,
		          res.status, attempt);
		rotor_http_response_dispose(&res);
	}
	rotor_wipe(bearer, sizeof(bearer));
	if (text) {
		rotor_wipe(text, text_len);
		free(text);
	}
	if (rc)
		return rc;
	r->status = res.status;
	rotor_stats_request(ROTOR_REMOTE_INFISICAL, 0); /* a throttle is counted in wait_out_429 */
	rotor_http_response_header(&res, "Retry-After", r->retry_after, sizeof(r->retry_after));
	rotor_http_response_header(&res, "x-ratelimit-remaining", r->remaining,
	                           sizeof(r->remaining));
	if (res.body.len && s->each_secret && with_token && r->status >= 200 && r->status < 300 &&
	    stream_secrets(s, res.body.data, res.body.len, r) != 0) {
		/* Secrets handed on before the body went wrong are the
		 * caller's to forget: it is told by the error below. A body of
		 * another shape, nothing handed on yet, is parsed whole. */
		r->stream_broken = r->streamed;
		r->streamed = 0;
	}
	if (res.body.len && !r->json && !r->stream_broken) {
		json_error_t je;
		r->json = json_loadb(res.body.data, res.body.len, 0, &je);
	}
	rotor_http_response_dispose(&res);
	if (r->status >= 200 && r->status < 300 && !r->json) {
		rotor_error_set_remote(err, (int)r->status, NULL, NULL);
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "%s: Infisical answered HTTP %ld with a body that is not JSON", what,
		    r->status);
	}
	read_error_fields(r);
	return 0;
}

/* Servers of October-November 2024 answer a malformed request with 401
 * ValidationFailure: a bug in the request, not a credential problem. */
static int is_validation_401(const struct reply *r)
{
	return r->status == 401 && strcmp(r->error, "ValidationFailure") == 0;
}

/* "WHAT: HTTP 404 NotFound (request req-..): HINT; Infisical says "..."":
 * the hint comes before the server's words, which are shortened, so a
 * long server message never pushes the hint out of a one-line field. The
 * `error` field is a code on most replies but a whole sentence on some
 * 403s: a sentence is quoted as the message instead. */
#define QUOTE_MAX 140

int rotor_inf_fail_reply_as(int kind, const struct reply *r, const char *what, const char *hint,
                            struct rotor_error *err)
{
	int sentence = strchr(r->error, ' ') != NULL;
	const char *code = r->error[0] && !sentence ? r->error : "error";
	const char *said = sentence ? r->error : r->message;
	int len = (int)strlen(said);
	rotor_error_set(err, kind, "%s: HTTP %ld %s (request %s): %s%sInfisical says \"%.*s%s\"",
	                what, r->status, code, r->req_id[0] ? r->req_id : "unknown",
	                hint ? hint : "", hint ? "; " : "", len > QUOTE_MAX ? QUOTE_MAX : len, said,
	                len > QUOTE_MAX ? "..." : "");
	rotor_error_set_remote(err, (int)r->status, sentence ? "" : r->error, r->req_id);
	return kind;
}

int rotor_inf_fail_reply(const struct reply *r, const char *what, const char *hint,
                         struct rotor_error *err)
{
	int kind = is_validation_401(r) ? ROTOR_EINVALID
	           : is_throttle(r)     ? ROTOR_ETHROTTLED
	                                : rotor_http_status_kind(r->status);
	return rotor_inf_fail_reply_as(kind, r, what, hint, err);
}

static int take_token(struct infisical *s, const struct reply *r, const char *what,
                      struct rotor_error *err)
{
	const char *tok = rotor_inf_jstr(r->json, "accessToken");
	json_int_t ttl = json_integer_value(json_object_get(r->json, "expiresIn"));
	json_int_t max = json_integer_value(json_object_get(r->json, "accessTokenMaxTTL"));
	int64_t now = s->clock->now(s->clock);
	struct rotor_secret *t = NULL;
	if (!*tok)
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no accessToken",
		                       what);
	int rc = rotor_secret_from_str(&t, tok, ROTOR_SECRET_REDACT, err);
	if (rc)
		return rc;
	rotor_secret_free(s->token);
	s->token = t;
	s->token_ttl = ttl;
	s->token_expires = ttl > 0 ? now + ttl : 0;
	if (ttl > 0 && ttl * 1000 < 2 * s->interval_ms && !s->ttl_warned) {
		s->ttl_warned = 1;
		rotor_log(ROTOR_LOG_WARN, s->name,
		          "the machine identity's access token lives %llds, less than two of "
		          "rotor's pacing intervals (%llds at requestsPerMinute): rotor will log "
		          "in again often; raise the token TTL or requestsPerMinute",
		          (long long)ttl, (long long)(s->interval_ms / 1000));
	}
	return (void)max, 0;
}

/* Seconds to wait after a 429: Retry-After, else "in N seconds" / "in N
 * minute(s)" in the message, else 60. */
static int64_t rate_limit_wait(const struct reply *r, int64_t now)
{
	int64_t ms = r->retry_after[0] ? rotor_http_parse_retry_after(r->retry_after, now) : -1;
	if (ms >= 0)
		return ms;
	/* "Please try again in 1 minute": the first "in " is inside
	 * "again", so look at every one that a number follows. */
	for (const char *in = strstr(r->message, "in "); in; in = strstr(in + 1, "in ")) {
		char *end;
		if (!isdigit((unsigned char)in[3]))
			continue;
		long n = strtol(in + 3, &end, 10);
		while (*end == ' ')
			end++;
		if (n > 0 && strncmp(end, "minute", 6) == 0)
			return (int64_t)n * 60000;
		if (n > 0 && strncmp(end, "second", 6) == 0)
			return (int64_t)n * 1000;
	}
	return 60000;
}

/* After a throttling reply (429, or a 500 with Retry-After): sleeps what the server names and
 * returns 1 (send again), or returns 0 when the waits are used up or the wait is longer than rotor
 * accepts (the caller then fails with the 429). *waits counts per call. */
static int wait_out_429(struct infisical *s, const struct reply *r, const char *what,
                        struct rotor_retry *waits)
{
	if (!is_throttle(r))
		return 0;
	rotor_stats_request(ROTOR_REMOTE_INFISICAL, 1);
	int64_t wait = rate_limit_wait(r, s->clock->now(s->clock));
	enum rotor_retry_verdict v = rotor_retry_next(waits, wait);
	if (v == ROTOR_RETRY_WAIT_TOO_LONG)
		rotor_log(ROTOR_LOG_WARN, s->name,
		          "%s: Infisical rate limit asks for %llds, more than the %llds rotor "
		          "waits; giving up for now",
		          what, (long long)(wait / 1000), (long long)(s->max_wait_ms / 1000));
	if (v != ROTOR_RETRY_AGAIN)
		return 0;
	rotor_log(ROTOR_LOG_INFO, s->name, "%s: Infisical rate limit; waited %llds", what,
	          (long long)(wait / 1000));
	return 1;
}

/* send_raw for login and renewal (no token logic), with 429 waits: both
 * count against the servers' write limits. */
static int send_waiting(struct infisical *s, const char *path, json_t *body, const char *what,
                        struct reply *r, struct rotor_error *err)
{
	struct rotor_retry waits;
	rotor_retry_begin(&waits, &s->throttle, s->clock);
	for (;;) {
		int rc = send_raw(s, "POST", path, body, 0, what, r, err);
		if (rc || !wait_out_429(s, r, what, &waits))
			return rc;
		rotor_inf_reply_dispose(r);
	}
}

/* Failed logins across runs: "FAILURES UNIX-TIME" in the state file. */
static void login_state_read(struct infisical *s, int *failures, int64_t *at)
{
	*failures = 0;
	*at = 0;
	if (!s->login_state[0])
		return;
	FILE *f = fopen(s->login_state, "r");
	if (!f)
		return;
	long long a = 0;
	if (fscanf(f, "%d %lld", failures, &a) != 2)
		*failures = 0;
	*at = a;
	fclose(f);
}

static void login_state_write(struct infisical *s, int failures, int64_t at)
{
	char tmp[1100];
	if (!s->login_state[0])
		return;
	if (failures == 0) {
		unlink(s->login_state);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s", s->login_state);
	char *slash = strrchr(tmp, '/');
	if (slash && slash != tmp) {
		*slash = '\0';
		struct rotor_error ignore;
		if (rotor_state_dir_make(tmp, &ignore) != 0)
			return;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld", s->login_state, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	char line[64];
	int n = snprintf(line, sizeof(line), "%d %lld\n", failures, (long long)at);
	int ok = write(fd, line, (size_t)n) == n;
	if (close(fd) != 0 || !ok || rename(tmp, s->login_state) != 0)
		unlink(tmp);
}

static int login(struct infisical *s, struct rotor_error *err)
{
	char what[160];
	struct reply r;
	int64_t now = s->clock->now(s->clock);
	snprintf(what, sizeof(what), "%s: universal-auth login", s->name);
	int before = 0;
	int64_t last = 0;
	login_state_read(s, &before, &last);
	if (before >= 2 && now - last < LOGIN_LOCKOUT_SECONDS && now >= last &&
	    s->login_blocked_until < last + LOGIN_LOCKOUT_SECONDS) {
		/* earlier runs failed twice: a third would lock the client out */
		s->login_failures = before;
		s->login_blocked_until = last + LOGIN_LOCKOUT_SECONDS;
	}
	if (s->login_blocked_until > now) {
		rotor_error_set_remote(err, 0, NULL, NULL);
		return rotor_error_set(err, ROTOR_EAUTH,
		                       "%s: not logging in again for %llds after %d failed "
		                       "login%s (Infisical locks a client out after 3): fix the "
		                       "connection's clientId or clientSecret",
		                       what, (long long)(s->login_blocked_until - now),
		                       s->login_failures, s->login_failures == 1 ? "" : "s");
	}
	json_t *body = json_pack("{s:s, s:s}", "clientId", rotor_secret_bytes(s->client_id),
	                         "clientSecret", rotor_secret_bytes(s->client_secret));
	if (!body)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: clientId or clientSecret is not valid UTF-8", what);
	int rc = send_waiting(s, "/api/v1/auth/universal-auth/login", body, what, &r, err);
	json_decref(body);
	if (rc)
		return rc;
	if (r.status != 200) {
		const char *hint = NULL;
		/* An unknown client id is 404 on older servers and 401 "Invalid
		 * credentials" on current ones, which also say that for a wrong
		 * secret: one mistake, one kind (EAUTH), whatever the server. */
		if (r.status == 404)
			hint = "the client id is unknown to this Infisical instance: check the "
			       "connection's clientId and siteUrl";
		else if (r.status == 401)
			hint = strstr(r.message, "locked")
			           ? "Infisical locked this client after failed logins; wait, "
			             "then fix the connection's clientId or clientSecret"
			           : "Infisical rejected the credentials (a wrong or revoked "
			             "client secret, or, on current servers, an unknown client "
			             "id): check the connection's clientId, clientSecret and "
			             "siteUrl";
		if (r.status == 401 || r.status == 403 || r.status == 404) {
			/* one failed login per process; two across runs pause five
			 * minutes (servers lock a client out after three) */
			s->login_failures =
			    before + 1 > s->login_failures + 1 ? before + 1 : s->login_failures + 1;
			s->login_blocked_until = now + LOGIN_LOCKOUT_SECONDS;
			login_state_write(s, s->login_failures, now);
			rc = rotor_inf_fail_reply_as(is_validation_401(&r) ? ROTOR_EINVALID
			                                                   : ROTOR_EAUTH,
			                             &r, what, hint, err);
		} else {
			rc = rotor_inf_fail_reply(&r, what, hint, err);
		}
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	s->login_failures = 0;
	s->login_blocked_until = 0;
	if (before)
		login_state_write(s, 0, 0);
	rc = take_token(s, &r, what, err);
	if (!rc) {
		json_int_t max = json_integer_value(json_object_get(r.json, "accessTokenMaxTTL"));
		s->token_max = max > 0 ? now + max : 0;
		rotor_log(ROTOR_LOG_DEBUG, s->name, "logged in to Infisical (token valid %llds)",
		          (long long)s->token_ttl);
	}
	rotor_inf_reply_dispose(&r);
	return rc;
}

static int renew(struct infisical *s, struct rotor_error *err)
{
	char what[160];
	struct reply r;
	snprintf(what, sizeof(what), "%s: token renewal", s->name);
	json_t *body = json_pack("{s:s}", "accessToken", rotor_secret_bytes(s->token));
	if (!body)
		return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", what);
	int rc = send_waiting(s, "/api/v1/auth/token/renew", body, what, &r, err);
	json_decref(body);
	/* Renewal runs ahead of expiry: if it cannot be done now (throttled,
	 * server trouble) the token still works, so keep it and try again on
	 * the next call rather than failing this one or logging in. */
	int still_valid = s->token_expires == 0 || s->token_expires > s->clock->now(s->clock);
	if (rc) {
		if (!still_valid)
			return rc;
		rotor_log(ROTOR_LOG_INFO, s->name, "%s failed (%s); the token is still valid", what,
		          err ? err->message : "");
		rotor_error_clear(err);
		return 0;
	}
	if (r.status == 401 || r.status == 403) {
		rotor_inf_reply_dispose(&r);
		return login(s, err); /* lapsed or past its max TTL: log in again */
	}
	if (r.status != 200) {
		rc = rotor_inf_fail_reply(&r, what, NULL, err);
		rotor_inf_reply_dispose(&r);
		if (!still_valid)
			return rc;
		rotor_log(ROTOR_LOG_INFO, s->name, "%s; the token is still valid",
		          err ? err->message : what);
		rotor_error_clear(err);
		return 0;
	}
	rc = take_token(s, &r, what, err);
	rotor_inf_reply_dispose(&r);
	return rc;
}

static int ensure_token(struct infisical *s, struct rotor_error *err)
{
	int64_t now = s->clock->now(s->clock);
	if (!s->token)
		return login(s, err);
	if (s->token_max && s->token_max - now < RENEW_MARGIN_SECONDS)
		return login(s, err);
	if (s->token_expires) {
		int64_t margin = s->token_ttl / 10 > RENEW_MARGIN_SECONDS ? s->token_ttl / 10
		                                                          : RENEW_MARGIN_SECONDS;
		if (margin > s->token_ttl / 2)
			margin = s->token_ttl / 2;
		/* A lapsed token cannot be renewed (401), and a renewal that
		 * would outlive the maximum TTL is refused: log in instead of
		 * spending a request on a renewal that must fail. */
		if (now >= s->token_expires || (s->token_max && now + s->token_ttl > s->token_max &&
		                                s->token_expires - now <= margin))
			return login(s, err);
		if (s->token_expires - now <= margin)
			return renew(s, err);
	}
	return 0;
}

/* An authenticated call with one re-login and rate-limit waits. The caller
 * holds s->lock. */
int rotor_inf_api(struct infisical *s, const char *method, const char *path, json_t *body,
                  const char *what, struct reply *r, struct rotor_error *err)
{
	int relogged = 0;
	struct rotor_retry waits;
	rotor_retry_begin(&waits, &s->throttle, s->clock);
	for (;;) {
		/* Take the slot first, then check the token, and send at once: a
		 * token checked before a long pacing wait could lapse while it
		 * waits. A login or renewal it needs rides in the same slot (it
		 * counts against another of the server's limits). */
		pace(s);
		s->in_slot = 1;
		int rc = ensure_token(s, err);
		if (!rc)
			rc = send_raw(s, method, path, body, 1, what, r, err);
		s->in_slot = 0;
		if (rc)
			return rc;
		int expired = (r->status == 401 && !is_validation_401(r)) ||
		              (r->status == 403 && strcmp(r->error, "TokenError") == 0);
		if (expired && !relogged) {
			relogged = 1;
			rotor_inf_reply_dispose(r);
			rotor_log(ROTOR_LOG_DEBUG, s->name,
			          "Infisical token rejected; logging in again once");
			rotor_secret_free(s->token);
			s->token = NULL;
			continue;
		}
		if (wait_out_429(s, r, what, &waits)) {
			rotor_inf_reply_dispose(r);
			continue;
		}
		/* fastify's own 404 for a route the server does not have: a
		 * 2024 server asked for /api/v4. Configuration, not a folder. */
		if (s->v4 && r->status == 404 && strcmp(r->error, "Not Found") == 0) {
			rc = rotor_inf_fail_reply_as(
			    ROTOR_EINVALID, r, what,
			    "this server has no /api/v4 secret routes (self-hosted "
			    "servers of 2024): set the connection's api to v3",
			    err);
			rotor_inf_reply_dispose(r);
			return rc;
		}
		return 0;
	}
}
