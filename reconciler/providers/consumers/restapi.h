/*
 * restapi.h (internal): one token-authenticated JSON REST connection of a
 * consumer kind (Heroku's Platform API, GitHub's REST API): the request,
 * pacing by the vendor's rate-limit headers, waits on throttling replies,
 * server-error retries for reads, and error replies turned into rotor
 * errors naming the call, the vendor's code and request id, and a hint.
 * What differs per vendor is a struct rest_vendor.
 *
 * Writes are never re-sent after a reply that may mean "done" (a 5xx, a
 * dropped connection): a Heroku write restarts the app; the next pass
 * observes and writes again only if needed. A throttling reply (429, or a
 * 403 that names a wait) is safe to re-send: nothing was done.
 *
 * Thread rules: a connection is shared by every worker; its pacing state
 * is locked; each call uses an HTTP handle of its own.
 */
#ifndef ROTOR_RESTAPI_H
#define ROTOR_RESTAPI_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"
#include "rotor/stats.h"

struct rotor_secret;
struct rotor_clock;

struct rest_vendor {
	const char *name;              /* "Heroku", "GitHub": for messages */
	enum rotor_remote remote;      /* for /metrics */
	const char *accept;            /* the Accept header */
	const char *extra_header;      /* e.g. "X-GitHub-Api-Version: 2022-11-28", or NULL */
	const char *request_id_header; /* "Request-Id", "X-GitHub-Request-Id" */
	const char *remaining_header;  /* "RateLimit-Remaining", "x-ratelimit-remaining" */
	const char *reset_header;      /* epoch seconds when the window refills, or NULL */
	const char *code_field;        /* the error body's code: "id"; NULL: none */
	int64_t low_remaining;         /* at or below this many left, pace */
	int64_t pace_ms;               /* then: at most one request per this long */
};

struct rest_conn {
	const struct rest_vendor *vendor;
	char *name;                 /* the config connection's name */
	char *base;                 /* API base URL, no trailing '/' */
	struct rotor_secret *token; /* NULL: not set (every call then fails, saying so) */
	pthread_mutex_t lock;
	int64_t remaining;     /* the last reply's remaining budget; -1 unknown */
	int64_t reset_at;      /* epoch seconds the budget refills; 0 unknown */
	int64_t last_start_ms; /* monotonic ms of the last request */
	long timeout_ms;       /* one attempt; default 30000 */
	/* Instead of token: makes the bearer credential for a call (a GitHub
	 * App's installation token); told when a reply was 401 (drop a
	 * cached credential). */
	int (*bearer)(struct rest_conn *c, char *out, size_t len, struct rotor_error *err);
	void (*rejected)(struct rest_conn *c);
	struct rotor_clock *clock; /* sleeping and pacing; default the real clock */
};

struct rest_reply {
	long status;
	json_t *json; /* the body parsed, or NULL */
	char request_id[96];
	char code[64];     /* the vendor's error code ("not_found"), or "" */
	char message[256]; /* the vendor's error message, or "" */
	int64_t remaining; /* this reply's remaining budget; -1 not said */
	int64_t reset_at;  /* this reply's window reset (epoch s); 0 not said */
};

/* Fills c (copying name, base and the token). 0 or ROTOR_ENOMEM. */
int rest_conn_init(struct rest_conn *c, const struct rest_vendor *v, const char *name,
                   const char *base, const struct rotor_secret *token, struct rotor_error *err);
void rest_conn_dispose(struct rest_conn *c);

/* One call: METHOD base+path with an optional JSON body (wiped after).
 * write: 1 for a call that changes something (never re-sent after a reply
 * that may mean it was done). A reply of any status is 0 with *r filled
 * (dispose it); a transport failure, an exhausted throttling wait or a 2xx
 * that is not JSON is an error. */
int rest_call(struct rest_conn *c, const char *method, const char *path, const char *body,
              size_t body_len, int write, const char *what, struct rest_reply *r,
              struct rotor_error *err);
/* The same with another bearer maker (a GitHub App's JWT for the call
 * that exchanges it). */
int rest_call_as(struct rest_conn *c,
                 int (*make_bearer)(struct rest_conn *c, char *out, size_t len,
                                    struct rotor_error *err),
                 const char *method, const char *path, const char *body, size_t body_len, int write,
                 const char *what, struct rest_reply *r, struct rotor_error *err);
void rest_reply_dispose(struct rest_reply *r);

/* Turns a non-2xx reply into an error: "WHAT: HTTP 404 not_found (request
 * ID): HINT; Heroku says "..."", with the kind from the status. */
int rest_fail(const struct rest_conn *c, const struct rest_reply *r, const char *what,
              const char *hint, struct rotor_error *err);

/* s percent-encoded for a path segment (rotor_http_urlencode) into out
 * (size len); "" when it does not fit. */
void rest_path_escape(char *out, size_t len, const char *s);

#endif
