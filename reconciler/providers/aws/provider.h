/*
 * provider.h (internal): AWS as the engine reaches it — one IAM user's
 * keys, last use and tags, and STS for proving a pair — behind a table of
 * function pointers, so the engine can be built over fakes (tests) as well
 * as over rotor's own Query-protocol client (provider.c).
 *
 * Thread rules: two levels, because they differ:
 *   connection  opened once per config connection by the engine; holds what
 *               every worker shares (the credential chain and its cache:
 *               one refresh, not N). Any thread.
 *   handle      one per worker at a time (an IAM and an STS client, each with
 *               its own HTTP handle: libcurl handles are not shareable). The
 *               engine checks a handle out of the connection's pool for one
 *               manifest's observe or apply and puts it back after.
 * A provider sees only its connection block of the config, copied at open:
 * nothing it keeps points into the config.
 */
#ifndef ROTOR_AWS_PROVIDER_H
#define ROTOR_AWS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "providers/aws/aws.h"
#include "rotor/error.h"

struct rotor_aws_connection;
struct rotor_clock;
struct rotor_secret;

/* What the engine asks of AWS. Errors as the rotor_iam_* and rotor_sts_*
 * functions of aws.h document them (ROTOR_ENOTFOUND, ROTOR_EAUTH,
 * ROTOR_ELIMIT, ROTOR_ECONFLICT, the transport's). `h` is a handle. */
struct rotor_aws_api {
	int (*list_access_keys)(void *h, const char *user, struct rotor_iam_key *keys,
	                        size_t *nkeys, struct rotor_error *err);
	int (*create_access_key)(void *h, const char *user, struct rotor_iam_key *key,
	                         struct rotor_secret **secret, struct rotor_error *err);
	int (*update_access_key)(void *h, const char *user, const char *key_id, int active,
	                         struct rotor_error *err);
	int (*delete_access_key)(void *h, const char *user, const char *key_id,
	                         struct rotor_error *err);
	int (*last_used)(void *h, const char *key_id, struct rotor_iam_last_used *out,
	                 struct rotor_error *err);
	int (*get_user)(void *h, const char *user, struct rotor_iam_user *out,
	                struct rotor_error *err);
	int (*list_user_tags)(void *h, const char *user, struct rotor_tags *out,
	                      struct rotor_error *err);
	int (*tag_user)(void *h, const char *user, const struct rotor_tag *tags, size_t n,
	                struct rotor_error *err);
	int (*untag_user)(void *h, const char *user, const char *const *keys, size_t n,
	                  struct rotor_error *err);
	/* GetCallerIdentity signed with `as`. */
	int (*caller_identity)(void *h, const struct rotor_aws_credentials *as,
	                       struct rotor_sts_identity *out, struct rotor_error *err);
	/* rotor_sts_validate_key: retried until timeout_ms on the engine's clock. */
	int (*validate_key)(void *h, const struct rotor_aws_credentials *key,
	                    const char *expected_arn, int64_t timeout_ms, struct rotor_error *err);
	/* rotor_iam_list_users: one page (rotor discover). */
	int (*list_users)(void *h, const char *path_prefix, int max_items, const char *marker,
	                  struct rotor_iam_user *users, size_t cap, size_t *n,
	                  char next_marker[ROTOR_IAM_MARKER_MAX], struct rotor_error *err);
};

struct rotor_aws_provider {
	const char *name;
	/* The connection: cfg is copied (never kept); clock is the engine's. */
	int (*open)(void **conn, const struct rotor_aws_connection *cfg, struct rotor_clock *clock,
	            struct rotor_error *err);
	void (*close)(void *conn);
	/* A handle for one thread at a time. */
	int (*handle_open)(void *conn, void **handle, struct rotor_error *err);
	void (*handle_close)(void *handle);
	const struct rotor_aws_api *api;
};

/* rotor's own client: SigV4 over the Query protocol (aws.h). */
extern const struct rotor_aws_provider rotor_aws_query_provider;

#endif
