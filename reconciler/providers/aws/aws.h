/*
 * aws.h: rotor's own AWS client — SigV4, IAM and STS over the Query
 * protocol, and the credential chain. No SDK: the wire facts are in
 * ../shared/api/aws.md and docs/aws.md.
 *
 * Layers, bottom up:
 *   sigv4       pure signing of one request (tested against AWS's suite);
 *   client      one endpoint (IAM or STS): form body, signature, HTTP with
 *               AWS's standard retry mode, XML parsing, error mapping;
 *   iam / sts   one function per action, typed results;
 *   chain       where the manager's credentials come from (env, profile,
 *               web identity, container, IMDSv2) plus an optional role on
 *               top, cached until shortly before expiry.
 * Thread rules: a client (struct rotor_aws_client) carries one HTTP handle,
 * so it belongs to one thread at a time. A chain holds its mutex for the
 * whole of a get, refresh included: any thread, one refresh at a time. The
 * signer and the parsers are pure: any thread.
 * Secret access keys and session tokens only ever live in struct
 * rotor_secret.
 */
#ifndef ROTOR_AWS_H
#define ROTOR_AWS_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"
#include "util/http.h"

struct rotor_bucket;
struct rotor_clock;
struct rotor_secret;

/* ---- credentials --------------------------------------------------- */

struct rotor_aws_credentials {
	char access_key_id[32];                 /* not secret: shown in plans and logs */
	struct rotor_secret *secret_access_key; /* owned */
	struct rotor_secret *session_token;     /* owned; NULL for long-term keys */
	int64_t expiration;                     /* Unix seconds; 0 = does not expire */
	char source[64];                        /* where they came from, e.g. "environment" */
};

void rotor_aws_credentials_dispose(struct rotor_aws_credentials *c);
/* Deep copy (new secrets). */
int rotor_aws_credentials_copy(struct rotor_aws_credentials *dst,
                               const struct rotor_aws_credentials *src, struct rotor_error *err);
/* From plain strings (token may be NULL); the secrets are registered for
 * redaction. */
int rotor_aws_credentials_set(struct rotor_aws_credentials *c, const char *akid, const char *secret,
                              const char *token, int64_t expiration, struct rotor_error *err);

/* Something that hands out current credentials (the chain, or a fixed pair
 * in tests). get fills *out with a copy the caller disposes. */
struct rotor_aws_creds_provider {
	int (*get)(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err);
	void *ctx;
};

/* ---- SigV4 ---------------------------------------------------------- */

struct rotor_sigv4_input {
	const char *method;                      /* "POST" */
	const char *path;                        /* raw request path, e.g. "/" */
	const char *query;                       /* raw query string without '?', or NULL */
	const struct rotor_http_header *headers; /* every header to sign; must include host */
	size_t nheaders;
	const void *body;
	size_t body_len;
	const char *region;
	const char *service;
	int64_t now;        /* Unix seconds */
	int normalize_path; /* remove dot segments and repeated slashes */
	int sign_token;     /* 1: x-amz-security-token is signed (IAM, STS);
	                       0: added after signing, unsigned */
};

struct rotor_sigv4_output {
	char amz_date[17];        /* YYYYMMDD'T'HHMMSS'Z' */
	char authorization[1024]; /* the Authorization header's value */
	char signed_headers[512];
	char signature[65];
	char *canonical_request; /* malloc'd; holds a signed session token: wiped */
	char *string_to_sign;    /* malloc'd */
};

/* Signs in; the caller sends x-amz-date (out->amz_date), Authorization, and
 * x-amz-security-token when the credentials carry one. When the input
 * headers already hold x-amz-date, that value is used. */
int rotor_sigv4_sign(const struct rotor_sigv4_input *in, const struct rotor_aws_credentials *creds,
                     struct rotor_sigv4_output *out, struct rotor_error *err);
void rotor_sigv4_output_dispose(struct rotor_sigv4_output *out);

/* ---- endpoints ------------------------------------------------------ */

enum rotor_aws_partition_id {
	ROTOR_AWS_PARTITION_AWS = 0,
	ROTOR_AWS_PARTITION_CN = 1,
	ROTOR_AWS_PARTITION_US_GOV = 2,
};

struct rotor_aws_endpoint {
	char url[512];   /* e.g. https://iam.amazonaws.com/ */
	char region[32]; /* the signing region */
	char service[8]; /* "iam" or "sts" */
};

/* IAM and STS endpoints for a connection: an explicit override (iam_url,
 * sts_url; NULL if none) wins, then AWS_ENDPOINT_URL_IAM / _STS, then
 * AWS_ENDPOINT_URL, then the partition's defaults (IAM global, STS
 * regional). The signing region and service never change with the URL. */
int rotor_aws_resolve_endpoints(enum rotor_aws_partition_id partition, const char *region,
                                const char *iam_url, const char *sts_url,
                                struct rotor_aws_endpoint *iam, struct rotor_aws_endpoint *sts,
                                struct rotor_error *err);

/* ---- the Query-protocol client -------------------------------------- */

struct rotor_aws_client_options {
	struct rotor_aws_endpoint endpoint;
	struct rotor_aws_creds_provider creds; /* who signs (may be unset for STS web identity) */
	struct rotor_clock *clock;             /* default: the real clock */
	struct rotor_http_options http;        /* transport options (retries: AWS standard) */
	/* Shared pacing (util/ratelimit.h): a token before every attempt; a
	 * throttling reply slows it for every client sharing it. NULL: none. */
	struct rotor_bucket *bucket;
};

struct rotor_aws_client;

int rotor_aws_client_new(struct rotor_aws_client **out, const struct rotor_aws_client_options *opts,
                         struct rotor_error *err);
void rotor_aws_client_free(struct rotor_aws_client *c);

/* ---- IAM ------------------------------------------------------------ */

#define ROTOR_IAM_MAX_KEYS 8 /* IAM allows 2; a reply listing more is refused */

/* An access key id as IAM issues it: 16 to ROTOR_AWS_KEY_ID_MAX upper-case
 * letters and digits (AWS's are 20: AKIA + 16). Anything else from a remote
 * is refused, never truncated into a field (issue 15). */
#define ROTOR_AWS_KEY_ID_MIN 16
#define ROTOR_AWS_KEY_ID_MAX 31
int rotor_aws_key_id_valid(const char *id);

struct rotor_iam_key {
	char id[ROTOR_AWS_KEY_ID_MAX + 1];
	char user[72];
	int active;      /* 1 Active, 0 Inactive */
	int64_t created; /* Unix seconds */
};

struct rotor_iam_last_used {
	int64_t date;     /* 0 when never used */
	char service[64]; /* "N/A" when never used */
	char region[32];
};

struct rotor_tag {
	char *key;
	char *value;
};

struct rotor_tags {
	struct rotor_tag *items;
	size_t n;
};
void rotor_tags_dispose(struct rotor_tags *t);

struct rotor_iam_user {
	char name[72];
	char user_id[32];
	char arn[320];
	char path[512];
	int64_t created;
	/* GetUser answers with every tag of the user (IAM allows 50): rotor
	 * reads its records from here and needs no ListUserTags per pass. */
	struct rotor_tags tags;
};
void rotor_iam_user_dispose(struct rotor_iam_user *u);

#define ROTOR_IAM_MARKER_MAX 2048
/* One page of ListUsers under path_prefix (NULL: "/"), at most max_items
 * (1..1000; 0: IAM's default of 100) into users[0..cap): no tags (GetUser
 * has them). marker: "" for the first page; next_marker: "" when the list
 * is complete. IAM may answer fewer items than asked while more exist. */
int rotor_iam_list_users(struct rotor_aws_client *iam, const char *path_prefix, int max_items,
                         const char *marker, struct rotor_iam_user *users, size_t cap, size_t *n,
                         char next_marker[ROTOR_IAM_MARKER_MAX], struct rotor_error *err);

/* Every page, sorted by creation date. Errors: ROTOR_ENOTFOUND (no such
 * user), ROTOR_EAUTH, and the transport's. */
int rotor_iam_list_access_keys(struct rotor_aws_client *iam, const char *user,
                               struct rotor_iam_key *keys, size_t *nkeys, struct rotor_error *err);
/* The new key and its secret (registered for redaction; the only time AWS
 * reveals it). ROTOR_ELIMIT when the user already has two keys. */
int rotor_iam_create_access_key(struct rotor_aws_client *iam, const char *user,
                                struct rotor_iam_key *key, struct rotor_secret **secret,
                                struct rotor_error *err);
int rotor_iam_update_access_key(struct rotor_aws_client *iam, const char *user, const char *key_id,
                                int active, struct rotor_error *err);
int rotor_iam_delete_access_key(struct rotor_aws_client *iam, const char *user, const char *key_id,
                                struct rotor_error *err);
int rotor_iam_get_access_key_last_used(struct rotor_aws_client *iam, const char *key_id,
                                       struct rotor_iam_last_used *out, struct rotor_error *err);
/* The user with its tags (dispose *out). */
int rotor_iam_get_user(struct rotor_aws_client *iam, const char *user, struct rotor_iam_user *out,
                       struct rotor_error *err);
int rotor_iam_list_user_tags(struct rotor_aws_client *iam, const char *user, struct rotor_tags *out,
                             struct rotor_error *err);
int rotor_iam_tag_user(struct rotor_aws_client *iam, const char *user, const struct rotor_tag *tags,
                       size_t n, struct rotor_error *err);
int rotor_iam_untag_user(struct rotor_aws_client *iam, const char *user, const char *const *keys,
                         size_t n, struct rotor_error *err);

/* ---- STS ------------------------------------------------------------ */

struct rotor_sts_identity {
	char arn[320];
	char user_id[160];
	char account[16];
};

/* Signed with `as` when non-NULL (e.g. a freshly created key), else with
 * the client's provider. */
int rotor_sts_get_caller_identity(struct rotor_aws_client *sts,
                                  const struct rotor_aws_credentials *as,
                                  struct rotor_sts_identity *out, struct rotor_error *err);
int rotor_sts_assume_role(struct rotor_aws_client *sts, const char *role_arn,
                          const char *session_name, const struct rotor_secret *external_id,
                          int duration_seconds, struct rotor_aws_credentials *out,
                          struct rotor_error *err);
/* Unsigned: the web identity token is the credential. */
int rotor_sts_assume_role_with_web_identity(struct rotor_aws_client *sts, const char *role_arn,
                                            const char *session_name,
                                            const struct rotor_secret *token, int duration_seconds,
                                            struct rotor_aws_credentials *out,
                                            struct rotor_error *err);

/* Validates a new key: GetCallerIdentity signed with it must return
 * expected_arn. New keys take seconds to propagate inside IAM, so
 * InvalidClientTokenId and SignatureDoesNotMatch are retried with
 * exponential back-off until timeout_ms (the contract: up to 2 minutes).
 * Errors: ROTOR_EAUTH (never validated; the message says for how long),
 * ROTOR_ECONFLICT (authenticates as someone else). */
int rotor_sts_validate_key(struct rotor_aws_client *sts, const struct rotor_aws_credentials *key,
                           const char *expected_arn, int64_t timeout_ms, struct rotor_error *err);

/* ---- the credential chain ------------------------------------------- */

struct rotor_aws_chain_options {
	const char *profile;  /* connection's profile, else AWS_PROFILE, else "default" */
	const char *region;   /* for STS calls the chain makes */
	const char *sts_url;  /* STS endpoint (resolved) */
	const char *role_arn; /* optional: assumed on top */
	const struct rotor_secret *external_id;
	const char *session_name; /* default "rotor" */
	struct rotor_clock *clock;
	struct rotor_http_options http;
	/* Test hooks: where the container and instance metadata services live
	 * (defaults 169.254.170.2 and http://169.254.169.254). */
	const char *imds_url;
	const char *container_host_url;
};

struct rotor_aws_chain;

int rotor_aws_chain_new(struct rotor_aws_chain **out, const struct rotor_aws_chain_options *opts,
                        struct rotor_error *err);
void rotor_aws_chain_free(struct rotor_aws_chain *chain);
/* Current credentials (cached; refreshed 5 minutes before expiry). */
int rotor_aws_chain_get(struct rotor_aws_chain *chain, struct rotor_aws_credentials *out,
                        struct rotor_error *err);
/* A provider that calls rotor_aws_chain_get. */
struct rotor_aws_creds_provider rotor_aws_chain_provider(struct rotor_aws_chain *chain);

#endif
