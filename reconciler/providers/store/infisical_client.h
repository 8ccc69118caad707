/*
 * infisical_client.h (internal): what the Infisical store (infisical.c)
 * and its client (infisical_client.c) share: the connection's state and a
 * reply.
 * Thread rules: every call below is made with s->lock held (one request at
 * a time per connection).
 */
#ifndef ROTOR_INFISICAL_CLIENT_H
#define ROTOR_INFISICAL_CLIENT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "providers/store/store.h"
#include "rotor/error.h"
#include "util/http.h"
#include "util/retry.h"

#define LOGIN_LOCKOUT_SECONDS 300
#define RENEW_MARGIN_SECONDS 60

struct infisical {
	char name[64];
	char base[512];
	int v4;
	struct rotor_secret *client_id;
	struct rotor_secret *client_secret;
	struct rotor_secret *token;  /* NULL until logged in */
	int64_t token_expires;       /* wall seconds; 0 = does not expire */
	int64_t token_max;           /* wall seconds the token can never outlive; 0 = none */
	int64_t token_ttl;           /* expiresIn, for renewal */
	int login_failures;          /* consecutive */
	int64_t login_blocked_until; /* wall seconds */
	int64_t interval_ms;         /* pacing */
	int64_t last_request_ms;     /* monotonic */
	int ttl_warned;              /* the short-TTL warning was given */
	int in_slot;                 /* api() holds a pacing slot: send without waiting */
	char login_state[1024];      /* STATE_DIR/infisical-NAME.logins, or "" */
	int max_429;
	int64_t max_wait_ms; /* longest 429 wait rotor accepts */
	/* throttling: max_429 waits, each exactly what the server names, up to
	 * max_wait_ms (the one retry policy, util/retry.h) */
	struct rotor_retry_policy throttle;
	struct rotor_clock *clock;
	struct rotor_http *http;
	struct inf_batch *batch; /* the pass's expected refs (infisical_batch.c); NULL none */
	/* While set, a 2xx reply's "secrets" are handed over one at a time
	 * instead of parsed as one document (the batch's recursive list). */
	void (*each_secret)(void *ctx, json_t *secret);
	void *each_ctx;
	pthread_mutex_t lock; /* one request at a time per connection */
};

/* A reply: status, parsed JSON (may be NULL), and the error fields. */
struct reply {
	long status;
	json_t *json;
	char error[160];   /* the body's "error" */
	char message[400]; /* the body's "message" (arrays joined) */
	char req_id[96];
	char retry_after[32];
	char remaining[16]; /* x-ratelimit-remaining */
	int streamed;       /* the "secrets" list went to s->each_secret, one by one */
	int stream_broken;  /* the body broke off while it was being streamed */
};

void rotor_inf_reply_dispose(struct reply *r);
/* A string member of a JSON object, "" when absent. */
const char *rotor_inf_jstr(const json_t *o, const char *key);
/* An error from a reply: "WHAT: HTTP N code (request R): HINT; Infisical
 * says "..."". fail_reply picks the kind from the status. */
int rotor_inf_fail_reply_as(int kind, const struct reply *r, const char *what, const char *hint,
                            struct rotor_error *err);
int rotor_inf_fail_reply(const struct reply *r, const char *what, const char *hint,
                         struct rotor_error *err);
/* Batched reads (infisical_batch.c): the refs a pass will read, and the
 * first read of each answered from one recursive list per group; 1 when
 * *out was filled from the batch, 0 when the caller must read it. */
struct inf_batch;
int rotor_inf_expect(struct infisical *s, const struct rotor_store_ref *refs, size_t n,
                     struct rotor_error *err);
int rotor_inf_batch_take(struct infisical *s, const struct rotor_store_ref *ref,
                         struct rotor_store_pair *out);
void rotor_inf_batch_free(struct infisical *s);

/* An authenticated call: pacing slot, token, one re-login, throttling
 * waits. 0 with *r filled (any status), or an error. */
int rotor_inf_api(struct infisical *s, const char *method, const char *path, json_t *body,
                  const char *what, struct reply *r, struct rotor_error *err);

#endif
