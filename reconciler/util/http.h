/*
 * http.h: the HTTP transport every provider uses (libcurl underneath).
 *
 * One struct rotor_http per remote connection: it keeps a curl handle so
 * connections are reused, always verifies TLS (an optional CA bundle path),
 * caps response sizes, bounds each attempt by a timeout and the whole call
 * by a deadline, and retries with exponential back-off and full jitter on
 * connection errors, 5xx and 429 (honouring Retry-After). A provider that
 * knows more (AWS's throttling codes sit in a 400 body) passes a classify
 * callback that decides per response. Tests observe every attempt through a
 * hook and replace sleeping with a fixed clock.
 *
 * Thread rules: a struct rotor_http (its curl handle) belongs to one
 * thread at a time; give each worker its own. libcurl's global set-up runs
 * once (pthread_once), whatever thread gets there first.
 *
 * Bodies may carry secrets (a new secret access key in a reply, a pair sent
 * to the store), so request and response buffers are wiped when disposed.
 */
#ifndef ROTOR_HTTP_H
#define ROTOR_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"
#include "util/buf.h"

struct rotor_clock;

#define ROTOR_HTTP_MAX_HEADERS 24

struct rotor_http_header {
	const char *name;
	const char *value;
};

struct rotor_http_request {
	const char *method; /* "GET", "POST", "PATCH", "PUT", "DELETE" */
	const char *url;
	struct rotor_http_header headers[ROTOR_HTTP_MAX_HEADERS];
	size_t nheaders;
	const void *body; /* may be NULL */
	size_t body_len;
	const char *what;   /* names the call in errors: "ListAccessKeys(bob)" */
	int not_idempotent; /* never re-sent, not even by libcurl on a dead
	                       reused connection (and not retried) */
};

struct rotor_http_response {
	long status;              /* HTTP status of the last attempt */
	struct rotor_buf body;    /* capped by options.max_response */
	struct rotor_buf headers; /* raw "Name: value\r\n" lines of the last attempt */
	int attempts;             /* how many attempts were made */
};

/* What to do with one attempt's outcome. */
enum rotor_http_verdict {
	ROTOR_HTTP_DONE = 0,  /* hand the response to the caller */
	ROTOR_HTTP_RETRY = 1, /* try again after back-off (or retry_after_ms) */
};

/* Decides whether a completed response (any status) should be retried. It
 * may set *retry_after_ms (>= 0) to demand a particular wait. The default
 * retries 429 and 5xx, honouring Retry-After. */
typedef enum rotor_http_verdict (*rotor_http_classify_fn)(void *ctx,
                                                          const struct rotor_http_response *res,
                                                          int64_t *retry_after_ms);

/* Called before each attempt (attempt is 1-based) and after it (res set,
 * curl_code is libcurl's result; 0 when the transfer completed). */
struct rotor_http_hook {
	void (*before)(void *ctx, const struct rotor_http_request *req, int attempt);
	void (*after)(void *ctx, const struct rotor_http_request *req, int attempt,
	              const struct rotor_http_response *res, int curl_code);
	void *ctx;
};

struct rotor_http_options {
	long timeout_ms;                 /* one attempt, connect to last byte; default 30000 */
	long connect_timeout_ms;         /* default 10000 */
	long deadline_ms;                /* the whole call including retries; default 120000 */
	size_t max_response;             /* body cap; default 4 MiB */
	int max_attempts;                /* default 3 (the AWS SDKs' standard mode) */
	long backoff_base_ms;            /* first back-off ceiling; default 1000 */
	long backoff_max_ms;             /* cap on one back-off; default 20000 */
	long retry_after_max_ms;         /* refuse to wait longer than this; default 120000 */
	const char *ca_bundle;           /* optional CA bundle path */
	const char *user_agent;          /* default "rotor/VERSION" */
	rotor_http_classify_fn classify; /* default: retry 429 and 5xx */
	void *classify_ctx;
	struct rotor_http_hook hook;
	struct rotor_clock *clock; /* for sleeping and deadlines; default real */
};

struct rotor_http;

/* Fills opts with the defaults above. */
void rotor_http_options_init(struct rotor_http_options *opts);

int rotor_http_new(struct rotor_http **out, const struct rotor_http_options *opts,
                   struct rotor_error *err);
void rotor_http_free(struct rotor_http *h);

/* Adds a header to req (pointers are borrowed). ROTOR_ELIMIT when full. */
int rotor_http_request_header(struct rotor_http_request *req, const char *name, const char *value);

/* Performs req with retries. On success (a response the classifier accepts,
 * whatever its status) returns 0 and fills *res, which the caller disposes.
 * Errors: ROTOR_ETRANSIENT (connection failure, timeout, truncated body,
 * retries exhausted on 5xx), ROTOR_ETHROTTLED (retries exhausted on 429 or a
 * Retry-After past the deadline), ROTOR_ELIMIT (response over the cap),
 * ROTOR_EINVALID (bad URL). On error *res is disposed already. */
int rotor_http_do(struct rotor_http *h, const struct rotor_http_request *req,
                  struct rotor_http_response *res, struct rotor_error *err);

void rotor_http_response_dispose(struct rotor_http_response *res);

/* The value of a response header (case-insensitive name), copied into buf;
 * returns 1 when found. */
int rotor_http_response_header(const struct rotor_http_response *res, const char *name, char *buf,
                               size_t len);

/* Parses a Retry-After value (delta seconds or an HTTP date, relative to
 * now) into milliseconds; -1 if unparseable. */
int64_t rotor_http_parse_retry_after(const char *value, int64_t now);

/* The default classifier (429 and 5xx retried, Retry-After honoured). */
enum rotor_http_verdict rotor_http_classify_default(void *ctx,
                                                    const struct rotor_http_response *res,
                                                    int64_t *retry_after_ms);

/* The rotor error kind of a non-2xx status: 401/403 auth, 404 not found,
 * 409 conflict, 429 throttled, 5xx transient, any other invalid. */
int rotor_http_status_kind(long status);

/* A classifier that hands every response to the caller (which retries
 * itself: Infisical's and the consumer kinds' own loops). */
enum rotor_http_verdict rotor_http_classify_none(void *ctx, const struct rotor_http_response *res,
                                                 int64_t *retry_after_ms);

/* Percent-encodes s with the RFC 3986 unreserved set into b. */
int rotor_http_urlencode(struct rotor_buf *b, const char *s, size_t len);
/* The same for an application/x-www-form-urlencoded body: a space is '+'
 * (as botocore and the Go SDK send it; moto accepts nothing else). */
int rotor_http_formencode(struct rotor_buf *b, const char *s, size_t len);

#endif
