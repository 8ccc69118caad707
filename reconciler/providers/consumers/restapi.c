/* restapi.c: token-authenticated JSON REST calls for consumer kinds (see
 * restapi.h). */
#include "providers/consumers/restapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "util/http.h"

#define ATTEMPTS 4              /* throttling waits and read retries, in all */
#define WAIT_MAX_MS 60000       /* a longer named wait fails the call instead */
#define SERVER_RETRY_MS 1000    /* first wait after a 5xx on a read */
#define REPLY_MAX (1024 * 1024) /* GitHub/Heroku replies are small */

int rest_conn_init(struct rest_conn *c, const struct rest_vendor *v, const char *name,
                   const char *base, const struct rotor_secret *token, struct rotor_error *err)
{
	memset(c, 0, sizeof(*c));
	c->vendor = v;
	c->remaining = -1;
	c->timeout_ms = 30000;
	c->clock = rotor_clock_real();
	pthread_mutex_init(&c->lock, NULL);
	c->name = strdup(name ? name : "");
	c->base = strdup(base ? base : "");
	if (!c->name || !c->base || (token && rotor_secret_dup(&c->token, token, err) != 0)) {
		rest_conn_dispose(c);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	size_t n = strlen(c->base);
	while (n && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	return 0;
}

void rest_conn_dispose(struct rest_conn *c)
{
	free(c->name);
	free(c->base);
	rotor_secret_free(c->token);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

void rest_reply_dispose(struct rest_reply *r)
{
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

void rest_path_escape(char *out, size_t len, const char *s)
{
	struct rotor_buf b;
	rotor_buf_init(&b, len - 1);
	if (rotor_http_urlencode(&b, s, strlen(s)) == 0 && b.data)
		snprintf(out, len, "%.*s", (int)b.len, b.data);
	else
		out[0] = '\0'; /* too long: no such name (names are validated short) */
	rotor_buf_dispose(&b);
}

/* Waits for this connection's next slot: when the remaining budget is low,
 * at most one request per pace_ms (Heroku refills ~75 tokens a minute). */
static void pace(struct rest_conn *c, struct rotor_clock *clock)
{
	pthread_mutex_lock(&c->lock);
	int64_t now = clock->monotonic_ms(clock), wait = 0;
	if (c->remaining >= 0 && c->remaining <= c->vendor->low_remaining && c->last_start_ms &&
	    now - c->last_start_ms < c->vendor->pace_ms)
		wait = c->vendor->pace_ms - (now - c->last_start_ms);
	c->last_start_ms = now + wait;
	pthread_mutex_unlock(&c->lock);
	if (wait > 0) {
		rotor_log(ROTOR_LOG_DEBUG, c->name, "%s rate limit nearly used up: pacing %lld ms",
		          c->vendor->name, (long long)wait);
		clock->sleep_ms(clock, wait);
	}
}

/* A throttling reply: 429; or a 403 that names a wait, has nothing left in
 * its window, or says it is a (secondary) rate limit (GitHub: "You have
 * exceeded a secondary rate limit", "API rate limit exceeded"). A 403
 * without any of those is a permission error. */
/* s contains word, ignoring ASCII case. */
static int contains_nocase(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; *s; s++)
		if (strncasecmp(s, word, n) == 0)
			return 1;
	return 0;
}

static int is_throttle(const struct rest_reply *r, const char *retry_after)
{
	return r->status == 429 ||
	       (r->status == 403 &&
	        (retry_after[0] || r->remaining == 0 || contains_nocase(r->message, "rate limit")));
}

static void read_error(const struct rest_conn *c, struct rest_reply *r)
{
	if (!json_is_object(r->json))
		return;
	const char *m = json_string_value(json_object_get(r->json, "message"));
	snprintf(r->message, sizeof(r->message), "%s", m ? m : "");
	if (c->vendor->code_field) {
		const char *code =
		    json_string_value(json_object_get(r->json, c->vendor->code_field));
		snprintf(r->code, sizeof(r->code), "%s", code ? code : "");
	}
}

static int attempt(struct rest_conn *c, struct rotor_http *h, const struct rotor_http_request *req,
                   struct rest_reply *r, char *retry_after, size_t ra_len, struct rotor_error *err)
{
	struct rotor_http_response res;
	char v[32];
	memset(&res, 0, sizeof(res));
	int rc = rotor_http_do(h, req, &res, err);
	if (rc)
		return rc;
	memset(r, 0, sizeof(*r));
	r->status = res.status;
	r->remaining = -1;
	rotor_http_response_header(&res, c->vendor->request_id_header, r->request_id,
	                           sizeof(r->request_id));
	retry_after[0] = '\0';
	rotor_http_response_header(&res, "Retry-After", retry_after, ra_len);
	if (rotor_http_response_header(&res, c->vendor->remaining_header, v, sizeof(v)))
		r->remaining = strtoll(v, NULL, 10);
	if (c->vendor->reset_header &&
	    rotor_http_response_header(&res, c->vendor->reset_header, v, sizeof(v)))
		r->reset_at = strtoll(v, NULL, 10);
	pthread_mutex_lock(&c->lock);
	if (r->remaining >= 0)
		c->remaining = r->remaining;
	if (r->reset_at)
		c->reset_at = r->reset_at;
	pthread_mutex_unlock(&c->lock);
	if (res.body.len) {
		json_error_t je;
		r->json = json_loadb(res.body.data, res.body.len, 0, &je);
	}
	rotor_http_response_dispose(&res);
	read_error(c, r);
	rotor_stats_request(c->vendor->remote, is_throttle(r, retry_after));
	return 0;
}

int rest_call(struct rest_conn *c, const char *method, const char *path, const char *body,
              size_t body_len, int write, const char *what, struct rest_reply *r,
              struct rotor_error *err)
{
	return rest_call_as(c, c->bearer, method, path, body, body_len, write, what, r, err);
}

int rest_call_as(struct rest_conn *c,
                 int (*make_bearer)(struct rest_conn *c, char *out, size_t len,
                                    struct rotor_error *err),
                 const char *method, const char *path, const char *body, size_t body_len, int write,
                 const char *what, struct rest_reply *r, struct rotor_error *err)
{
	struct rotor_clock *clock = c->clock;
	struct rotor_http_options o;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	char url[2048], bearer[4096], extra[160], retry_after[64];
	memset(r, 0, sizeof(*r));
	if (!c->token && !make_bearer)
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "%s: the token of %s connection %s is not set (its {env: ...} "
		    "or {file: ...} reference was empty or missing)",
		    what, c->vendor->name, c->name);
	rotor_http_options_init(&o);
	o.max_attempts = 1; /* the loop below decides */
	o.max_response = REPLY_MAX;
	o.timeout_ms = c->timeout_ms;
	o.deadline_ms = 2 * c->timeout_ms;
	o.classify = rotor_http_classify_none;
	int rc = rotor_http_new(&h, &o, err);
	if (rc)
		return rc;
	memset(&req, 0, sizeof(req));
	snprintf(url, sizeof(url), "%s%s", c->base, path);
	if (make_bearer) {
		memcpy(bearer, "Bearer ", 7);
		rc = make_bearer(c, bearer + 7, sizeof(bearer) - 7, err);
		if (rc) {
			rotor_wipe(bearer, sizeof(bearer));
			rotor_http_free(h);
			rotor_error_prefix(err, "%s", what);
			return rc;
		}
	} else {
		snprintf(bearer, sizeof(bearer), "Bearer %s", rotor_secret_bytes(c->token));
	}
	req.method = method;
	req.url = url;
	req.what = what;
	req.body = body;
	req.body_len = body_len;
	req.not_idempotent = write;
	rotor_http_request_header(&req, "Accept", c->vendor->accept);
	rotor_http_request_header(&req, "Authorization", bearer);
	if (body)
		rotor_http_request_header(&req, "Content-Type", "application/json");
	if (c->vendor->extra_header) {
		const char *colon = strchr(c->vendor->extra_header, ':');
		snprintf(extra, sizeof(extra), "%.*s", (int)(colon - c->vendor->extra_header),
		         c->vendor->extra_header);
		rotor_http_request_header(&req, extra, colon + 2);
	}
	for (int n = 1;; n++) {
		pace(c, clock);
		rc = attempt(c, h, &req, r, retry_after, sizeof(retry_after), err);
		int64_t wait = -1;
		if (rc) {
			/* a write may have been done: never re-sent */
			if (write || rc != ROTOR_ETRANSIENT || n >= ATTEMPTS)
				break;
			wait = SERVER_RETRY_MS << (n - 1);
		} else if (is_throttle(r, retry_after)) {
			wait = retry_after[0]
			           ? rotor_http_parse_retry_after(retry_after, clock->now(clock))
			           : -1;
			/* a window used up: until it resets (GitHub's x-ratelimit-reset) */
			if (wait < 0 && r->remaining == 0 && r->reset_at)
				wait = (r->reset_at - clock->now(clock)) * 1000;
			if (wait < 0)
				wait = (int64_t)SERVER_RETRY_MS << n; /* 2, 4, 8 s */
			if (n >= ATTEMPTS || wait > WAIT_MAX_MS) {
				rest_fail(c, r, what,
				          n >= ATTEMPTS
				              ? "still rate limited after waiting; rotor tries "
				                "again on its next pass"
				              : "the rate limit's wait is longer than rotor waits "
				                "in one call; it tries again on its next pass",
				          err);
				rest_reply_dispose(r);
				rc = ROTOR_ETHROTTLED;
				err->code = rc;
				break;
			}
		} else if (r->status >= 500 && !write && n < ATTEMPTS) {
			wait = SERVER_RETRY_MS << (n - 1);
		} else {
			break;
		}
		if (!rc)
			rest_reply_dispose(r);
		rotor_log(ROTOR_LOG_DEBUG, c->name, "%s: attempt %d failed; waiting %lld ms", what,
		          n, (long long)wait);
		clock->sleep_ms(clock, wait);
		rotor_error_clear(err);
	}
	rotor_wipe(bearer, sizeof(bearer));
	rotor_http_free(h);
	if (!rc && r->status == 401 && c->rejected && make_bearer == c->bearer)
		c->rejected(c);
	if (rc)
		return rc;
	if (r->status >= 200 && r->status < 300 && r->status != 204 && !r->json) {
		rotor_error_set_remote(err, (int)r->status, NULL, r->request_id);
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "%s: %s answered HTTP %ld with a body that is not JSON "
		                     "(request %s)",
		                     what, c->vendor->name, r->status,
		                     r->request_id[0] ? r->request_id : "without id");
		rest_reply_dispose(r);
	}
	return rc;
}

int rest_fail(const struct rest_conn *c, const struct rest_reply *r, const char *what,
              const char *hint, struct rotor_error *err)
{
	char says[200] = "";
	if (r->message[0])
		snprintf(says, sizeof(says), "; %s says \"%.140s%s\"", c->vendor->name, r->message,
		         strlen(r->message) > 140 ? "..." : "");
	rotor_error_set_remote(err, (int)r->status, r->code[0] ? r->code : NULL,
	                       r->request_id[0] ? r->request_id : NULL);
	return rotor_error_set(err, rotor_http_status_kind(r->status),
	                       "%s: HTTP %ld%s%s (request %s): %s%s", what, r->status,
	                       r->code[0] ? " " : "", r->code,
	                       r->request_id[0] ? r->request_id : "without id", hint, says);
}
