/*
 * provider.c: rotor's own AWS client (aws.h) as the engine's AWS provider
 * (provider.h). The connection holds the credential chain and the resolved
 * endpoints; each handle holds an IAM and an STS client of its own.
 */
#include "providers/aws/provider.h"

#include <stdlib.h>
#include <string.h>

#include "rotor/config.h"
#include "util/ratelimit.h"

struct query_conn {
	struct rotor_aws_chain *chain; /* locked inside: any thread */
	struct rotor_bucket iam_rate;  /* the account's IAM pacing, every worker's */
	struct rotor_bucket sts_rate;  /* the STS endpoint's */
	struct rotor_aws_endpoint iam, sts;
	struct rotor_clock *clock;
	char name[64];
};

struct query_handle {
	struct rotor_aws_client *iam;
	struct rotor_aws_client *sts;
};

static int chain_get(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	return rotor_aws_chain_get(ctx, out, err);
}

static void query_close(void *p)
{
	struct query_conn *c = p;
	if (!c)
		return;
	rotor_aws_chain_free(c->chain);
	rotor_bucket_dispose(&c->iam_rate);
	rotor_bucket_dispose(&c->sts_rate);
	free(c);
}

static int query_open(void **out, const struct rotor_aws_connection *cfg, struct rotor_clock *clock,
                      struct rotor_error *err)
{
	struct query_conn *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	snprintf(c->name, sizeof(c->name), "%s", cfg->name);
	c->clock = clock;
	/* A burst of one second's worth; STS (the stored pair's check, a new
	 * key's validation) at twice IAM's rate. */
	double rps =
	    cfg->requests_per_second > 0 ? cfg->requests_per_second : ROTOR_DEFAULT_IAM_RPS;
	rotor_bucket_init(&c->iam_rate, clock, rps, rps);
	rotor_bucket_init(&c->sts_rate, clock, 2 * rps, 2 * rps);
	int rc = rotor_aws_resolve_endpoints((enum rotor_aws_partition_id)cfg->partition,
	                                     cfg->region, cfg->iam_endpoint, cfg->sts_endpoint,
	                                     &c->iam, &c->sts, err);
	if (!rc) {
		struct rotor_aws_chain_options co;
		memset(&co, 0, sizeof(co));
		co.profile = cfg->profile;
		co.region = cfg->region;
		co.sts_url = c->sts.url;
		co.role_arn = cfg->role_arn;
		co.external_id = cfg->external_id.value;
		co.session_name = cfg->session_name;
		co.clock = clock;
		rotor_http_options_init(&co.http);
		rc = rotor_aws_chain_new(&c->chain, &co, err);
	}
	if (rc) {
		query_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void query_handle_close(void *p)
{
	struct query_handle *h = p;
	if (!h)
		return;
	rotor_aws_client_free(h->iam);
	rotor_aws_client_free(h->sts);
	free(h);
}

static int query_handle_open(void *conn, void **out, struct rotor_error *err)
{
	struct query_conn *c = conn;
	struct query_handle *h = calloc(1, sizeof(*h));
	*out = NULL;
	if (!h)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	struct rotor_aws_client_options o;
	memset(&o, 0, sizeof(o));
	o.creds.get = chain_get;
	o.creds.ctx = c->chain;
	o.clock = c->clock;
	rotor_http_options_init(&o.http);
	o.endpoint = c->iam;
	o.bucket = &c->iam_rate;
	int rc = rotor_aws_client_new(&h->iam, &o, err);
	o.endpoint = c->sts;
	o.bucket = &c->sts_rate;
	if (!rc)
		rc = rotor_aws_client_new(&h->sts, &o, err);
	if (rc) {
		query_handle_close(h);
		return rc;
	}
	*out = h;
	return 0;
}

#define IAM(p) (((struct query_handle *)(p))->iam)
#define STS(p) (((struct query_handle *)(p))->sts)

static int q_list_keys(void *h, const char *user, struct rotor_iam_key *keys, size_t *n,
                       struct rotor_error *err)
{
	return rotor_iam_list_access_keys(IAM(h), user, keys, n, err);
}

static int q_create(void *h, const char *user, struct rotor_iam_key *key,
                    struct rotor_secret **secret, struct rotor_error *err)
{
	return rotor_iam_create_access_key(IAM(h), user, key, secret, err);
}

static int q_update(void *h, const char *user, const char *id, int active, struct rotor_error *err)
{
	return rotor_iam_update_access_key(IAM(h), user, id, active, err);
}

static int q_delete(void *h, const char *user, const char *id, struct rotor_error *err)
{
	return rotor_iam_delete_access_key(IAM(h), user, id, err);
}

static int q_last_used(void *h, const char *id, struct rotor_iam_last_used *out,
                       struct rotor_error *err)
{
	return rotor_iam_get_access_key_last_used(IAM(h), id, out, err);
}

static int q_get_user(void *h, const char *user, struct rotor_iam_user *out,
                      struct rotor_error *err)
{
	return rotor_iam_get_user(IAM(h), user, out, err);
}

static int q_list_users(void *h, const char *path_prefix, int max_items, const char *marker,
                        struct rotor_iam_user *users, size_t cap, size_t *n,
                        char next_marker[ROTOR_IAM_MARKER_MAX], struct rotor_error *err)
{
	return rotor_iam_list_users(IAM(h), path_prefix, max_items, marker, users, cap, n,
	                            next_marker, err);
}

static int q_list_tags(void *h, const char *user, struct rotor_tags *out, struct rotor_error *err)
{
	return rotor_iam_list_user_tags(IAM(h), user, out, err);
}

static int q_tag(void *h, const char *user, const struct rotor_tag *tags, size_t n,
                 struct rotor_error *err)
{
	return rotor_iam_tag_user(IAM(h), user, tags, n, err);
}

static int q_untag(void *h, const char *user, const char *const *keys, size_t n,
                   struct rotor_error *err)
{
	return rotor_iam_untag_user(IAM(h), user, keys, n, err);
}

static int q_identity(void *h, const struct rotor_aws_credentials *as,
                      struct rotor_sts_identity *out, struct rotor_error *err)
{
	return rotor_sts_get_caller_identity(STS(h), as, out, err);
}

static int q_validate(void *h, const struct rotor_aws_credentials *key, const char *arn,
                      int64_t timeout_ms, struct rotor_error *err)
{
	return rotor_sts_validate_key(STS(h), key, arn, timeout_ms, err);
}

static const struct rotor_aws_api query_api = {
    q_list_keys, q_create, q_update, q_delete,   q_last_used, q_get_user,
    q_list_tags, q_tag,    q_untag,  q_identity, q_validate,  q_list_users,
};

const struct rotor_aws_provider rotor_aws_query_provider = {
    "aws", query_open, query_close, query_handle_open, query_handle_close, &query_api,
};
