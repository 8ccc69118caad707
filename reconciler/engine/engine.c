/*
 * engine.c: observe and apply. The only code that calls providers.
 *
 * Connections are opened lazily, one per name in the config, and shared by
 * every manifest that names them (their clients pace and retry per
 * connection). Apply stops at the first failure; the next pass observes
 * afresh, so a failure never leaves a step half-done: the order of the
 * actions (intent → create → validate → store → propagate → record) is
 * what makes a crash at any point recoverable (see docs/rotation.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "engine_internal.h"
#include "providers/aws/aws.h"
#include "providers/consumers/consumer.h"
#include "providers/store/store.h"
#include "rotor/clock.h"
#include "rotor/engine.h"
#include "rotor/json.h"
#include "rotor/lock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"

int rotor_engine_new(struct rotor_engine **out, const struct rotor_config *cfg,
                     const struct rotor_engine_options *opts, struct rotor_error *err)
{
	struct rotor_engine *e = calloc(1, sizeof(*e));
	*out = NULL;
	if (!e)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	rotor_json_init();
	e->cfg = cfg;
	if (opts)
		e->opts = *opts;
	if (!e->opts.clock)
		e->opts.clock = rotor_clock_real();
	if (!e->opts.validate_timeout_ms)
		e->opts.validate_timeout_ms = 120000;
	e->providers = e->opts.providers ? *e->opts.providers : *rotor_providers_default();
	pthread_mutex_init(&e->lock, NULL);
	int rc = 0;
	for (int k = 0; !rc && k < ROTOR_CONSUMER__COUNT; k++) {
		const struct rotor_consumer_provider *p = e->providers.consumers[k];
		if (p && p->open)
			rc = p->open(&e->consumers[k], cfg, err);
	}
	if (!rc)
		rc = rotor_audit_open(&e->audit, cfg->audit_path, err);
	if (rc) {
		rotor_engine_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void rotor_engine_free(struct rotor_engine *e)
{
	if (!e)
		return;
	const struct rotor_aws_provider *ap = e->providers.aws;
	for (size_t i = 0; i < e->naws; i++) {
		for (struct aws_handle *h = e->aws[i].idle, *next; h; h = next) {
			next = h->next;
			ap->handle_close(h->h);
			free(h);
		}
		ap->close(e->aws[i].conn);
	}
	for (size_t i = 0; i < e->nstores; i++)
		rotor_store_free(&e->stores[i].store);
	for (int k = 0; k < ROTOR_CONSUMER__COUNT; k++) {
		const struct rotor_consumer_provider *p = e->providers.consumers[k];
		if (e->consumers[k].kind && p && p->close)
			p->close(&e->consumers[k]);
	}
	rotor_audit_close(&e->audit);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void rotor_engine_state_dispose(struct rotor_engine_state *st)
{
	rotor_secret_free(st->store_secret);
	memset(st, 0, sizeof(*st));
}

int64_t rotor_engine_now(struct rotor_engine *e)
{
	return e->opts.clock->now(e->opts.clock);
}

/* ---- connections ------------------------------------------------------ */

/* The AWS connection named, opened on first use; under e->lock. */
static int aws_conn_locked(struct rotor_engine *e, const char *name, struct aws_conn **out,
                           struct rotor_error *err)
{
	for (size_t i = 0; i < e->naws; i++)
		if (strcmp(e->aws[i].name, name) == 0) {
			*out = &e->aws[i];
			return 0;
		}
	const struct rotor_aws_connection *c = rotor_config_aws(e->cfg, name);
	if (!c)
		return rotor_error_set(err, ROTOR_EINVALID, "no aws connection named %s", name);
	if (e->naws == MAX_CONNECTIONS)
		return rotor_error_set(err, ROTOR_ELIMIT, "too many aws connections");
	struct aws_conn *a = &e->aws[e->naws];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	int rc = e->providers.aws->open(&a->conn, c, e->opts.clock, err);
	if (rc) {
		memset(a, 0, sizeof(*a));
		rotor_error_prefix(err, "aws connection %s", name);
		return rc;
	}
	e->naws++;
	*out = a;
	return 0;
}

int rotor_engine_aws_take(struct rotor_engine *e, const char *name, struct aws_handle **out,
                          struct rotor_error *err)
{
	struct aws_conn *a = NULL;
	*out = NULL;
	pthread_mutex_lock(&e->lock);
	int rc = aws_conn_locked(e, name, &a, err);
	struct aws_handle *h = rc ? NULL : a->idle;
	if (h)
		a->idle = h->next;
	pthread_mutex_unlock(&e->lock);
	if (rc)
		return rc;
	if (!h) { /* a new handle, outside the lock: building one may be slow */
		h = calloc(1, sizeof(*h));
		if (!h)
			return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
		rc = e->providers.aws->handle_open(a->conn, &h->h, err);
		if (rc) {
			free(h);
			rotor_error_prefix(err, "aws connection %s", name);
			return rc;
		}
		h->api = e->providers.aws->api;
		h->conn = a;
	}
	h->next = NULL;
	*out = h;
	return 0;
}

void rotor_engine_aws_give(struct rotor_engine *e, struct aws_handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&e->lock);
	h->next = h->conn->idle;
	h->conn->idle = h;
	pthread_mutex_unlock(&e->lock);
}

int rotor_engine_store_conn(struct rotor_engine *e, const char *name, struct rotor_store **out,
                            struct rotor_error *err)
{
	int rc = 0;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->nstores; i++)
		if (strcmp(e->stores[i].name, name) == 0) {
			*out = &e->stores[i].store;
			goto done;
		}
	if (e->nstores == MAX_CONNECTIONS) {
		rc = rotor_error_set(err, ROTOR_ELIMIT, "too many store connections");
		goto done;
	}
	char state[4096];
	rotor_state_dir(state, sizeof(state), e->cfg->state_dir);
	struct store_conn *s = &e->stores[e->nstores];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	/* spec.store names one kind today: infisical */
	rc = e->providers.store->open(&s->store, e->cfg, name, e->opts.clock, state, err);
	if (!rc) {
		e->nstores++;
		*out = &s->store;
	}
done:
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* The ops for a consumer's kind, or NULL when this rotor cannot reach it. */
static const struct rotor_consumer_ops *consumer_ops(const struct rotor_engine *e,
                                                     const struct rotor_consumer *c)
{
	const struct rotor_consumer_ops *ops =
	    (unsigned)c->kind < ROTOR_CONSUMER__COUNT ? &e->consumers[c->kind] : NULL;
	return ops && ops->kind ? ops : NULL;
}

/* What a consumer's provider sees of it. */
static struct rotor_consumer_ref consumer_ref(const struct rotor_manifest *m,
                                              const struct rotor_consumer *c)
{
	struct rotor_consumer_ref r;
	memset(&r, 0, sizeof(r));
	r.name = c->name;
	r.manifest = m->name;
	r.connection = c->connection;
	r.app = c->app;
	r.repository = c->repository;
	r.environment = c->environment;
	r.organization = c->organization;
	r.visibility = c->visibility;
	r.selected = c->selected;
	r.nselected = c->nselected;
	r.path = c->path;
	r.reload = c->reload;
	r.ssh = c->ssh;
	r.akid_name = c->akid_name;
	r.secret_name = c->secret_name;
	return r;
}

struct rotor_store_ref rotor_engine_store_ref(const struct rotor_manifest *m)
{
	struct rotor_store_ref r = {m->store.project_id, m->store.environment, m->store.secret_path,
	                            m->store.akid_name, m->store.secret_name};
	return r;
}

/* ---- observe ------------------------------------------------------------ */

void rotor_engine_expect(struct rotor_engine *e, const struct rotor_manifest *const *manifests,
                         size_t n)
{
	struct rotor_store_ref *refs = calloc(n ? n : 1, sizeof(*refs));
	char *done = calloc(n ? n : 1, 1);
	if (!refs || !done) {
		free(refs);
		free(done);
		return;
	}
	/* one call per store connection, with every ref of that connection */
	for (size_t i = 0; i < n; i++) {
		const char *conn = manifests[i]->store.connection;
		size_t k = 0;
		if (done[i] || manifests[i]->suspend)
			continue;
		for (size_t j = i; j < n; j++)
			if (!done[j] && !manifests[j]->suspend &&
			    strcmp(manifests[j]->store.connection, conn) == 0) {
				refs[k++] = rotor_engine_store_ref(manifests[j]);
				done[j] = 1;
			}
		struct rotor_store *store = NULL;
		struct rotor_error err;
		rotor_error_clear(&err);
		if (rotor_engine_store_conn(e, conn, &store, &err) == 0 && store->ops->expect &&
		    store->ops->expect(store->ctx, refs, k, &err) != 0)
			rotor_log(ROTOR_LOG_WARN, NULL, "store %s: no batched reads this pass: %s",
			          conn, err.message);
	}
	free(refs);
	free(done);
}

static void copy_error(char *dst, size_t len, const struct rotor_error *err)
{
	snprintf(dst, len, "%s", err->message);
}

/* rotor's records, its intent and the rollback suspension, from the tags
 * GetUser returned with the user (every tag: IAM allows 50, and GetUser is
 * not paged), so a pass needs no ListUserTags. */
static void observe_tags(const struct rotor_tags *tags, const struct rotor_manifest *m,
                         struct rotor_observed *obs)
{
	for (size_t t = 0; t < tags->n; t++) {
		const char *k = tags->items[t].key, *v = tags->items[t].value;
		if (strcmp(k, ROTOR_TAG_INTENT) == 0) {
			char who[64];
			int64_t at;
			if (rotor_intent_parse(v, who, sizeof(who), &at) == 0 &&
			    strcmp(who, m->name) == 0)
				obs->intent_at = at;
			continue;
		}
		if (strcmp(k, ROTOR_TAG_SUSPENDED) == 0) {
			obs->suspended_by_rollback = 1;
			snprintf(obs->suspended_note, sizeof(obs->suspended_note), "%s", v);
			continue;
		}
		if (strncmp(k, ROTOR_TAG_CONSUMER, strlen(ROTOR_TAG_CONSUMER)) == 0) {
			int mine = 0;
			for (size_t i = 0; i < m->nconsumers && i < ROTOR_MANIFEST_MAX_CONSUMERS;
			     i++)
				if (strcmp(k + strlen(ROTOR_TAG_CONSUMER), m->consumers[i].name) ==
				    0) {
					snprintf(obs->consumers[i].record,
					         sizeof(obs->consumers[i].record), "%s", v);
					mine = 1;
				}
			/* the record of a consumer that left the manifest: forgotten,
			 * so tags never fill up (IAM allows 50) */
			if (!mine && obs->nstale < ROTOR_OBS_MAX_KEYS &&
			    strlen(k) < sizeof(obs->stale_records[0]))
				snprintf(obs->stale_records[obs->nstale++],
				         sizeof(obs->stale_records[0]), "%s", k);
			continue;
		}
		int known = 0;
		for (int i = 0; i < obs->nkeys; i++)
			if (strcmp(obs->keys[i].id, k) == 0) {
				rotor_record_parse(v, &obs->keys[i].record);
				known = 1;
			}
		/* A record whose key is gone (its UntagUser failed after the
		 * delete): apply removes it, so tags never fill up. */
		struct rotor_key_record r;
		if (!known && obs->nstale < ROTOR_OBS_MAX_KEYS && rotor_aws_key_id_valid(k) &&
		    rotor_record_parse(v, &r) == 0 && strcmp(r.manifest, m->name) == 0)
			snprintf(obs->stale_records[obs->nstale++], sizeof(obs->stale_records[0]),
			         "%s", k);
	}
}

static void observe_iam(struct aws_handle *a, const struct rotor_manifest *m,
                        struct rotor_observed *obs, struct rotor_engine_state *st)
{
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n = 0;
	struct rotor_error err;
	struct rotor_iam_user user;
	rotor_error_clear(&err);
	memset(&user, 0, sizeof(user));
	if (AWS(a, get_user, m->user, &user, &err) != 0 ||
	    AWS(a, list_access_keys, m->user, keys, &n, &err) != 0) {
		copy_error(obs->iam_error, sizeof(obs->iam_error), &err);
		rotor_iam_user_dispose(&user);
		return;
	}
	snprintf(st->user_arn, sizeof(st->user_arn), "%s", user.arn);
	obs->iam_known = 1;
	obs->nkeys = (int)(n < ROTOR_OBS_MAX_KEYS ? n : ROTOR_OBS_MAX_KEYS);
	for (int i = 0; i < obs->nkeys; i++) {
		struct rotor_obs_key *k = &obs->keys[i];
		struct rotor_iam_last_used lu;
		snprintf(k->id, sizeof(k->id), "%s", keys[i].id);
		k->active = keys[i].active;
		k->created = keys[i].created;
		if (AWS(a, last_used, k->id, &lu, &err) == 0) {
			k->last_used_known = 1;
			k->last_used = lu.date;
			snprintf(k->last_service, sizeof(k->last_service), "%s", lu.service);
			snprintf(k->last_region, sizeof(k->last_region), "%s", lu.region);
		} else if (!obs->problem[0]) {
			copy_error(obs->problem, sizeof(obs->problem), &err);
		}
	}
	observe_tags(&user.tags, m, obs);
	rotor_iam_user_dispose(&user);
}

/* Does the stored pair authenticate as the user? Only a rejection by STS
 * counts as "no"; a failure to ask leaves it unchecked. */
static void observe_store_auth(struct aws_handle *a, struct rotor_observed *obs,
                               struct rotor_engine_state *st)
{
	struct rotor_aws_credentials creds;
	struct rotor_sts_identity id;
	struct rotor_error err;
	obs->store_auth = -1;
	if (!obs->store_has_akid || !st->store_secret || !st->user_arn[0])
		return;
	int live = 0;
	for (int i = 0; i < obs->nkeys; i++)
		live |= strcmp(obs->keys[i].id, obs->store_akid) == 0 && obs->keys[i].active;
	if (!live)
		return;
	memset(&creds, 0, sizeof(creds));
	rotor_error_clear(&err);
	if (rotor_aws_credentials_set(&creds, obs->store_akid, rotor_secret_bytes(st->store_secret),
	                              NULL, 0, &err) != 0)
		return;
	int rc = AWS(a, caller_identity, &creds, &id, &err);
	rotor_aws_credentials_dispose(&creds);
	if (rc == 0) {
		obs->store_auth = strcmp(id.arn, st->user_arn) == 0;
		if (!obs->store_auth)
			snprintf(obs->store_auth_detail, sizeof(obs->store_auth_detail),
			         "it authenticates as %s", id.arn);
	} else if (rc == ROTOR_EAUTH) {
		obs->store_auth = 0;
		snprintf(obs->store_auth_detail, sizeof(obs->store_auth_detail), "%s",
		         err.remote_code[0] ? err.remote_code : "rejected");
	}
}

static void observe_consumers(struct rotor_engine *e, const struct rotor_manifest *m,
                              struct rotor_observed *obs, const struct rotor_engine_state *st)
{
	obs->nconsumers = (int)m->nconsumers;
	for (size_t i = 0; i < m->nconsumers; i++) {
		const struct rotor_consumer *c = &m->consumers[i];
		struct rotor_obs_consumer *oc = &obs->consumers[i];
		struct rotor_error err;
		const struct rotor_consumer_ops *ops = consumer_ops(e, c);
		rotor_error_clear(&err);
		if (!ops) {
			oc->state = ROTOR_CONSUMER_UNKNOWN;
			snprintf(
			    oc->detail, sizeof(oc->detail),
			    "%s consumers are not supported by this rotor yet; it holds the old "
			    "key's deactivation back",
			    rotor_consumer_kind_name(c->kind));
			continue;
		}
		if (!obs->store_has_akid || !st->store_secret) {
			oc->state = ROTOR_CONSUMER_DRIFTED;
			snprintf(oc->detail, sizeof(oc->detail), "the store holds no pair yet");
			continue;
		}
		struct rotor_consumer_pair want = {c->akid_name, obs->store_akid, c->secret_name,
		                                   st->store_secret, oc->record};
		struct rotor_consumer_ref ref = consumer_ref(m, c);
		if (ops->observe(ops->ctx, &ref, &want, &oc->state, oc->detail, sizeof(oc->detail),
		                 &err) != 0) {
			oc->state = ROTOR_CONSUMER_UNKNOWN;
			copy_error(oc->detail, sizeof(oc->detail), &err);
			if (!obs->problem[0])
				snprintf(obs->problem, sizeof(obs->problem), "consumer %s: %s",
				         c->name, err.message);
		}
	}
}

int rotor_engine_observe(struct rotor_engine *e, const struct rotor_manifest *m,
                         struct rotor_observed *obs, struct rotor_engine_state *st,
                         struct rotor_error *err)
{
	struct aws_handle *a = NULL;
	struct rotor_store *store = NULL;
	int rotate_now = obs->rotate_now;
	memset(obs, 0, sizeof(*obs));
	memset(st, 0, sizeof(*st));
	obs->rotate_now = rotate_now;
	obs->store_auth = -1;
	int rc = rotor_engine_aws_take(e, m->aws, &a, err);
	if (rc) {
		copy_error(obs->iam_error, sizeof(obs->iam_error), err);
		return rc;
	}
	observe_iam(a, m, obs, st);
	rc = rotor_engine_store_conn(e, m->store.connection, &store, err);
	if (rc) {
		copy_error(obs->store_error, sizeof(obs->store_error), err);
		rotor_engine_aws_give(e, a);
		return rc;
	}
	struct rotor_store_ref ref = rotor_engine_store_ref(m);
	struct rotor_store_pair pair;
	struct rotor_error serr;
	rotor_error_clear(&serr);
	if (store->ops->read_pair(store->ctx, &ref, &pair, &serr) == 0) {
		obs->store_known = 1;
		obs->store_has_akid = pair.has_akid;
		obs->store_has_secret = pair.has_secret;
		snprintf(obs->store_akid, sizeof(obs->store_akid), "%s", pair.akid);
		obs->store_akid_version = st->store_akid_version = pair.akid_version;
		obs->store_secret_version = st->store_secret_version = pair.secret_version;
		st->store_secret = pair.secret;
		pair.secret = NULL;
		rotor_store_pair_dispose(&pair);
	} else {
		copy_error(obs->store_error, sizeof(obs->store_error), &serr);
	}
	if (obs->iam_known && obs->store_known)
		observe_store_auth(a, obs, st);
	rotor_engine_aws_give(e, a);
	observe_consumers(e, m, obs, st);
	return 0;
}

/* ---- apply -------------------------------------------------------------- */

void rotor_engine_audit(struct apply_ctx *c, const char *action, const char *key_id,
                        const char *consumer, int64_t version, const struct rotor_error *err)
{
	struct audit_entry x = {rotor_engine_now(c->e),
	                        c->m->name,
	                        c->m->user,
	                        action,
	                        key_id,
	                        version,
	                        consumer,
	                        err ? err->message : NULL,
	                        c->st && c->st->revision ? c->st->revision : c->e->opts.revision};
	rotor_audit_write(&c->e->audit, &x);
}

static const struct rotor_key_record *record_of(const struct apply_ctx *c, const char *id)
{
	for (int i = 0; i < c->obs->nkeys; i++)
		if (strcmp(c->obs->keys[i].id, id) == 0)
			return &c->obs->keys[i].record;
	return NULL;
}

static int tag_record(struct apply_ctx *c, const char *id, const struct rotor_key_record *r,
                      struct rotor_error *err)
{
	char value[256];
	rotor_record_format(value, sizeof(value), r);
	struct rotor_tag t = {(char *)id, value};
	return AWS(c->aws, tag_user, c->m->user, &t, 1, err);
}

/* Updates one field of a key's record, keeping the others. */
int rotor_engine_update_record(struct apply_ctx *c, const char *id, char field, int64_t value,
                               struct rotor_error *err)
{
	struct rotor_key_record r;
	const struct rotor_key_record *old = record_of(c, id);
	memset(&r, 0, sizeof(r));
	if (old && old->present)
		r = *old;
	if (strcmp(id, c->new_id) == 0) {
		r.created = c->new_created;
		r.store_version = c->new_store_version;
	}
	r.present = 1;
	snprintf(r.manifest, sizeof(r.manifest), "%s", c->m->name);
	if (field == 's')
		r.synced = value;
	else if (field == 'i')
		r.inactive = value;
	return tag_record(c, id, &r, err);
}

int rotor_engine_untag(struct apply_ctx *c, const char *key, struct rotor_error *err)
{
	const char *keys[1] = {key};
	int rc = AWS(c->aws, untag_user, c->m->user, keys, 1, err);
	return rc == ROTOR_ENOTFOUND ? 0 : rc;
}

static int delete_key(struct apply_ctx *c, const char *id, struct rotor_error *err)
{
	int rc = AWS(c->aws, delete_access_key, c->m->user, id, err);
	if (rc == 0 || rc == ROTOR_ENOTFOUND)
		rc = rotor_engine_untag(c, id, err);
	return rc;
}

static int do_create(struct apply_ctx *c, struct rotor_error *err)
{
	struct rotor_iam_key key;
	int rc = AWS(c->aws, create_access_key, c->m->user, &key, &c->new_secret, err);
	if (rc)
		return rc;
	snprintf(c->new_id, sizeof(c->new_id), "%s", key.id);
	c->new_created = key.created ? key.created : rotor_engine_now(c->e);
	struct rotor_key_record r;
	memset(&r, 0, sizeof(r));
	r.present = 1;
	r.created = c->new_created;
	snprintf(r.manifest, sizeof(r.manifest), "%s", c->m->name);
	/* The tag is a convenience; the intent record already covers a crash
	 * before it, so a failure here is reported but does not undo the key. */
	struct rotor_error terr;
	if (tag_record(c, c->new_id, &r, &terr) != 0)
		rotor_log(ROTOR_LOG_WARN, c->m->name, "could not tag new key %s: %s", c->new_id,
		          terr.message);
	return 0;
}

static int do_validate(struct apply_ctx *c, struct rotor_error *err)
{
	struct rotor_aws_credentials creds;
	memset(&creds, 0, sizeof(creds));
	int rc = rotor_aws_credentials_set(&creds, c->new_id, rotor_secret_bytes(c->new_secret),
	                                   NULL, 0, err);
	if (!rc)
		rc = AWS(c->aws, validate_key, &creds, c->st->user_arn,
		         c->e->opts.validate_timeout_ms, err);
	rotor_aws_credentials_dispose(&creds);
	if (rc) {
		/* A key that never validates is deleted: it must not linger. */
		struct rotor_error derr;
		if (delete_key(c, c->new_id, &derr) != 0)
			rotor_log(ROTOR_LOG_ERROR, c->m->name,
			          "could not delete the unvalidated key %s: %s", c->new_id,
			          derr.message);
		else
			rotor_engine_audit(c, "delete-unvalidated", c->new_id, NULL, 0, NULL);
	}
	return rc;
}

static int do_store(struct apply_ctx *c, struct rotor_error *err)
{
	struct rotor_store_ref ref = rotor_engine_store_ref(c->m);
	struct rotor_store_pair current, written;
	memset(&current, 0, sizeof(current));
	current.has_akid = c->obs->store_has_akid;
	current.has_secret = c->obs->store_has_secret;
	current.akid_version = c->obs->store_akid_version;
	current.secret_version = c->obs->store_secret_version;
	int rc = c->store->ops->write_pair(c->store->ctx, &ref, c->new_id, c->new_secret, &current,
	                                   &written, err);
	if (rc)
		return rc;
	rotor_engine_take_written(c, &written);
	struct rotor_error terr;
	if (rotor_engine_update_record(c, c->new_id, 0, 0, &terr) != 0 ||
	    rotor_engine_untag(c, ROTOR_TAG_INTENT, &terr) != 0)
		rotor_log(ROTOR_LOG_WARN, c->m->name, "could not update rotor's record: %s",
		          terr.message);
	return 0;
}

void rotor_engine_take_written(struct apply_ctx *c, struct rotor_store_pair *written)
{
	c->new_store_version = written->akid_version;
	rotor_secret_free(c->st->store_secret);
	c->st->store_secret = written->secret;
	written->secret = NULL;
	c->st->store_akid_version = written->akid_version;
	c->st->store_secret_version = written->secret_version;
	rotor_store_pair_dispose(written);
}

static int do_propagate(struct apply_ctx *c, int i, struct rotor_error *err)
{
	const struct rotor_consumer *k = &c->m->consumers[i];
	const struct rotor_consumer_ops *ops = consumer_ops(c->e, k);
	if (!ops)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "consumer %s: %s consumers are not supported by this rotor "
		                       "yet",
		                       k->name, rotor_consumer_kind_name(k->kind));
	struct rotor_consumer_pair pair = {
	    k->akid_name, c->new_id[0] ? c->new_id : c->obs->store_akid, k->secret_name,
	    c->st->store_secret, c->obs->consumers[i].record};
	char record[ROTOR_CONSUMER_RECORD_MAX] = "", key[128];
	if (!pair.secret)
		return rotor_error_set(err, ROTOR_EINVALID, "consumer %s: the store holds no pair",
		                       k->name);
	struct rotor_consumer_ref ref = consumer_ref(c->m, k);
	int rc = ops->write(ops->ctx, &ref, &pair, record, sizeof(record), err);
	if (!rc && record[0]) {
		/* remembered with the user, like every record: a failure here
		 * leaves the consumer unrecorded, so the next pass writes it
		 * again (a harmless rewrite) */
		snprintf(key, sizeof(key), "%s%s", ROTOR_TAG_CONSUMER, k->name);
		struct rotor_tag t = {key, record};
		rc = AWS(c->aws, tag_user, c->m->user, &t, 1, err);
	}
	if (rc)
		rotor_error_prefix(err, "consumer %s", k->name);
	return rc;
}

/* ---- re-checks before the steps that cannot be undone --------------------
 *
 * A pass acts on what it observed a moment ago. Another rotor (a human's
 * `rotor rollback` on another machine, a second controller) or an operator
 * may have changed the user or the store since. So immediately before a
 * deactivate or delete, the user's keys and the store's pair are read
 * again, and before CreateAccessKey the user's keys and rotor's intent
 * record; if anything differs from what this pass expects, nothing is done
 * (ROTOR_ECONFLICT) and the next pass plans from the new state. */

#define INTENT_FRESH_S (15 * 60) /* a foreign intent younger than this blocks a create */

static int conflict(struct apply_ctx *c, struct rotor_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int conflict(struct apply_ctx *c, struct rotor_error *err, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return rotor_error_set(err, ROTOR_ECONFLICT,
	                       "%s changed since this pass observed it (%s): nothing was done; "
	                       "the next pass plans from what is there now",
	                       c->m->user, why);
}

/* The key id the store holds as far as this pass knows. */
static const char *expected_store_akid(const struct apply_ctx *c)
{
	return c->new_id[0] && c->new_store_version ? c->new_id : c->obs->store_akid;
}

/* Was id known to this pass (observed, or created by it)? */
static int known_key(const struct apply_ctx *c, const char *id)
{
	if (c->new_id[0] && strcmp(c->new_id, id) == 0)
		return 1;
	for (int i = 0; i < c->obs->nkeys; i++)
		if (strcmp(c->obs->keys[i].id, id) == 0)
			return 1;
	return 0;
}

static int recheck_keys(struct apply_ctx *c, const char *target, int want_active,
                        struct rotor_error *err)
{
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n = 0;
	int rc = AWS(c->aws, list_access_keys, c->m->user, keys, &n, err);
	if (rc)
		return rc;
	if (n > 2)
		return conflict(c, err, "IAM now lists %zu keys", n);
	const struct rotor_iam_key *t = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!known_key(c, keys[i].id))
			return conflict(c, err, "a key %s appeared", keys[i].id);
		if (target && strcmp(keys[i].id, target) == 0)
			t = &keys[i];
	}
	if (target && want_active >= 0 && (!t || t->active != want_active))
		return conflict(c, err, "key %s is %s", target,
		                !t          ? "gone"
		                : t->active ? "Active"
		                            : "Inactive");
	return 0;
}

static int recheck_store(struct apply_ctx *c, const char *target, struct rotor_error *err)
{
	struct rotor_store_ref ref = rotor_engine_store_ref(c->m);
	struct rotor_store_pair now;
	int rc = c->store->ops->read_pair(c->store->ctx, &ref, &now, err);
	if (rc)
		return rc;
	const char *want = expected_store_akid(c);
	int same = now.has_akid == (want[0] != '\0') && strcmp(now.akid, want) == 0 &&
	           now.akid_version == c->st->store_akid_version &&
	           now.secret_version == c->st->store_secret_version;
	int holds_target = target && now.has_akid && strcmp(now.akid, target) == 0;
	char held[sizeof(now.akid)];
	snprintf(held, sizeof(held), "%s", now.has_akid ? now.akid : "nothing");
	long long av = (long long)now.akid_version;
	rotor_store_pair_dispose(&now);
	if (holds_target) /* invariant 2, whatever else happened */
		return conflict(c, err, "the store now holds %s", target);
	if (!same)
		return conflict(c, err, "the store now holds %s at version %lld", held, av);
	return 0;
}

/* A stray is deleted only while it is still unused (or used only by
 * rotor's own validation, which the plan accepted): re-read its last use. */
static int recheck_unused(struct apply_ctx *c, const char *id, struct rotor_error *err)
{
	struct rotor_iam_last_used lu;
	int rc = AWS(c->aws, last_used, id, &lu, err);
	if (rc)
		return rc;
	const struct rotor_obs_key *k = NULL;
	for (int i = 0; i < c->obs->nkeys; i++)
		if (strcmp(c->obs->keys[i].id, id) == 0)
			k = &c->obs->keys[i];
	if (!k || lu.date != k->last_used)
		return conflict(c, err, "stray key %s was used since (%s in %s)", id, lu.service,
		                lu.region);
	return 0;
}

static int recheck_destructive(struct apply_ctx *c, const struct rotor_action *a,
                               struct rotor_error *err)
{
	int want_active = a->kind == ROTOR_ACT_DEACTIVATE ? 1
	                  : a->kind == ROTOR_ACT_DELETE   ? 0
	                                                  : -1;
	int rc = recheck_keys(c, a->key_id, want_active, err);
	if (!rc)
		rc = recheck_store(c, a->key_id, err);
	if (!rc && a->kind == ROTOR_ACT_DELETE_STRAY)
		rc = recheck_unused(c, a->key_id, err);
	return rc;
}

/* Before the intent is recorded: no other rotor may be rotating this user.
 * An intent younger than INTENT_FRESH_S written by another holder (a rotor
 * on another machine, or another manifest) means one is; an intent of this
 * machine is stale, since this process holds the user's local lock (and a
 * rotor killed mid-rotation must not block its own recovery). */
/* Is pid a live process other than this one? A zombie (killed, not yet
 * reaped) is not. */
static int process_alive(long pid)
{
	char path[64], stat[256];
	if (pid <= 0 || pid == (long)getpid())
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *paren = strrchr(stat, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

static int check_foreign_intent(struct apply_ctx *c, int64_t now, const char *me,
                                struct rotor_error *err)
{
	struct rotor_tags tags;
	int rc = AWS(c->aws, list_user_tags, c->m->user, &tags, err);
	if (rc)
		return rc;
	char who[64] = "", holder[96] = "";
	int64_t at = 0;
	for (size_t t = 0; t < tags.n; t++)
		if (strcmp(tags.items[t].key, ROTOR_TAG_INTENT) == 0 &&
		    rotor_intent_parse(tags.items[t].value, who, sizeof(who), &at) == 0)
			rotor_intent_holder(tags.items[t].value, holder, sizeof(holder));
	rotor_tags_dispose(&tags);
	if (!at || now - at >= INTENT_FRESH_S || now < at - INTENT_FRESH_S)
		return 0;
	size_t host_len = strcspn(me, ":");
	int same_host = holder[0] && strncmp(holder, me, host_len) == 0 && holder[host_len] == ':';
	/* On this host, an intent is stale when its process is gone (a rotor
	 * killed mid-rotation must not block its own recovery) or is us; a
	 * live one is another rotor, perhaps with another state directory and
	 * so another lock file. */
	int live_here = same_host && process_alive(strtol(holder + host_len + 1, NULL, 10));
	int foreign =
	    (holder[0] && (!same_host || live_here)) || (who[0] && strcmp(who, c->m->name) != 0);
	if (!foreign)
		return 0;
	char ts[ROTOR_TIME_STR_MAX];
	rotor_time_format(ts, sizeof(ts), at + INTENT_FRESH_S);
	return rotor_error_set(err, ROTOR_ECONFLICT,
	                       "another rotor (%s, manifest %s) recorded at %llds ago that it is "
	                       "rotating %s: nothing was done; if that process is gone, its "
	                       "intent expires at %s",
	                       holder[0] ? holder : "holder unknown", who[0] ? who : "?",
	                       (long long)(now - at), c->m->user, ts);
}

static int record_intent(struct apply_ctx *c, int64_t now, struct rotor_error *err)
{
	char me[96], intent[192];
	rotor_holder_id(me, sizeof(me));
	int rc = check_foreign_intent(c, now, me, err);
	if (!rc)
		rc = recheck_keys(c, NULL, -1, err);
	if (rc)
		return rc;
	rotor_intent_format(intent, sizeof(intent), c->m->name, now, me);
	struct rotor_tag t = {ROTOR_TAG_INTENT, intent};
	rc = AWS(c->aws, tag_user, c->m->user, &t, 1, err);
	if (rc)
		return rc;
	/* Tags are last-writer-wins: read ours back, so of two rotors that
	 * wrote at once at least the one overwritten stops here. */
	struct rotor_tags tags;
	rc = AWS(c->aws, list_user_tags, c->m->user, &tags, err);
	if (rc)
		return rc;
	int ours = 0;
	for (size_t i = 0; i < tags.n; i++)
		ours |= strcmp(tags.items[i].key, ROTOR_TAG_INTENT) == 0 &&
		        strcmp(tags.items[i].value, intent) == 0;
	rotor_tags_dispose(&tags);
	return ours ? 0 : conflict(c, err, "another rotor overwrote rotor's intent record");
}

static int apply_one(struct apply_ctx *c, const struct rotor_action *a, struct rotor_error *err)
{
	int64_t now = rotor_engine_now(c->e);
	const char *cur = c->new_id[0] ? c->new_id : a->key_id;
	int rc;
	switch (a->kind) {
	case ROTOR_ACT_DELETE_STRAY:
	case ROTOR_ACT_DELETE:
		rc = recheck_destructive(c, a, err);
		return rc ? rc : delete_key(c, a->key_id, err);
	case ROTOR_ACT_RECORD_INTENT:
		return record_intent(c, now, err);
	case ROTOR_ACT_CREATE:
		return do_create(c, err);
	case ROTOR_ACT_VALIDATE:
		return do_validate(c, err);
	case ROTOR_ACT_STORE:
		return do_store(c, err);
	case ROTOR_ACT_PROPAGATE:
		return do_propagate(c, a->consumer, err);
	case ROTOR_ACT_RECORD_SYNC:
		return rotor_engine_update_record(c, cur, 's', now, err);
	case ROTOR_ACT_DEACTIVATE:
		rc = recheck_destructive(c, a, err);
		if (!rc)
			rc = AWS(c->aws, update_access_key, c->m->user, a->key_id, 0, err);
		return rc ? rc : rotor_engine_update_record(c, a->key_id, 'i', now, err);
	case ROTOR_ACT_RECORD_INACTIVE:
		return rotor_engine_update_record(c, a->key_id, 'i', now, err);
	case ROTOR_ACT_FORGET_RECORD:
		return rotor_engine_untag(c, a->key_id, err);
	case ROTOR_ACT_ROLLBACK_REACTIVATE:
		return rotor_engine_rollback_reactivate(c, a->key_id, err);
	case ROTOR_ACT_ROLLBACK_STORE:
		return rotor_engine_rollback_store(c, a->key_id, err);
	case ROTOR_ACT_SUSPEND:
		return rotor_engine_suspend(c, err);
	default:
		return rotor_error_set(err, ROTOR_EINTERNAL, "unknown action");
	}
}

int rotor_engine_apply(struct rotor_engine *e, const struct rotor_manifest *m,
                       const struct rotor_manifest_plan *plan, const struct rotor_observed *obs,
                       struct rotor_engine_state *st, FILE *progress, int *applied,
                       struct rotor_error *err)
{
	struct apply_ctx c;
	if (!progress)
		progress = e->opts.progress;
	int rc = 0;
	*applied = 0;
	if (!rotor_plan_applies(plan))
		return 0;
	memset(&c, 0, sizeof(c));
	c.e = e;
	c.m = m;
	c.obs = obs;
	c.st = st;
	rc = rotor_engine_aws_take(e, m->aws, &c.aws, err);
	if (!rc)
		rc = rotor_engine_store_conn(e, m->store.connection, &c.store, err);
	struct rotor_error first;
	int first_rc = 0, failed_consumers = 0;
	memset(st->outcome, 0, sizeof(st->outcome));
	for (int i = 0; !rc && i < plan->nactions; i++) {
		const struct rotor_action *a = &plan->actions[i];
		const char *name = rotor_action_name(a->kind);
		if (first_rc && a->kind != ROTOR_ACT_PROPAGATE)
			break; /* after a failed propagation, only the other propagations */
		if (i > 0 && e->opts.stop && atomic_load(e->opts.stop)) {
			rc = rotor_error_set(
			    err, ROTOR_ESTOPPED,
			    "stopped before %s (%d of %d steps done): the next pass "
			    "resumes from there",
			    name, i, plan->nactions);
			break;
		}
		const char *consumer = a->consumer >= 0 ? m->consumers[a->consumer].name : NULL;
		rc = apply_one(&c, a, err);
		const char *key = a->kind == ROTOR_ACT_CREATE || a->kind == ROTOR_ACT_VALIDATE ||
		                          a->kind == ROTOR_ACT_STORE
		                      ? c.new_id
		                      : (a->key_id[0] ? a->key_id : c.new_id);
		if (a->kind != ROTOR_ACT_VALIDATE)
			rotor_engine_audit(&c, name, key, consumer,
			                   a->kind == ROTOR_ACT_STORE ||
			                           a->kind == ROTOR_ACT_ROLLBACK_STORE
			                       ? c.new_store_version
			                       : 0,
			                   rc ? err : NULL);
		if (progress)
			fprintf(progress, "  %s %-15s %s%s%s\n", rc ? "FAILED" : "done  ", name,
			        key && *key ? key : (consumer ? consumer : ""),
			        consumer && key && *key ? " → " : "",
			        consumer && key && *key ? consumer : "");
		st->outcome[i] = rc ? 2 : 1;
		if (!rc)
			(*applied)++;
		if (rc && a->kind == ROTOR_ACT_PROPAGATE && rc != ROTOR_ESTOPPED) {
			if (!first_rc++)
				first = *err; /* reported; the next consumers still get the pair */
			else
				failed_consumers++;
			rotor_error_clear(err);
			rc = 0;
		}
	}
	if (!rc && first_rc) {
		*err = first;
		rc = first.code ? first.code : ROTOR_EINTERNAL;
		if (failed_consumers) {
			size_t n = strlen(err->message);
			snprintf(err->message + n, sizeof(err->message) - n,
			         " (and %d more consumer%s failed: see the steps above)",
			         failed_consumers, failed_consumers == 1 ? "" : "s");
		}
	}
	rotor_engine_aws_give(e, c.aws);
	rotor_secret_free(c.new_secret);
	snprintf(st->new_key, sizeof(st->new_key), "%s", c.new_id);
	if (rc)
		rotor_error_prefix(err, "%s", m->name);
	return rc;
}
