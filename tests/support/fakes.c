/* fakes.c: in-process fakes of AWS, the store and a consumer (fakes.h). */
#include "fakes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotor/config.h"
#include "rotor/secret.h"

struct fake_world *fake;

void fake_world_init(struct fake_world *w, struct rotor_clock *clock)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	w->clock = clock;
	fake = w;
}

void fake_world_dispose(struct fake_world *w)
{
	pthread_mutex_destroy(&w->lock);
	if (fake == w)
		fake = NULL;
}

static int64_t now_s(struct fake_world *w)
{
	return w->clock->now(w->clock);
}

/* ---- faults ------------------------------------------------------------- */

void fake_fail(struct fake_world *w, const char *op, int after, int times, int rc,
               const char *remote_code)
{
	pthread_mutex_lock(&w->lock);
	if (w->nfaults < FAKE_MAX_FAULTS) {
		struct fake_fault *f = &w->faults[w->nfaults++];
		snprintf(f->op, sizeof(f->op), "%s", op);
		f->after = after;
		f->times = times;
		f->rc = rc;
		snprintf(f->remote_code, sizeof(f->remote_code), "%s",
		         remote_code ? remote_code : "");
	}
	pthread_mutex_unlock(&w->lock);
}

void fake_faults_clear(struct fake_world *w)
{
	pthread_mutex_lock(&w->lock);
	w->nfaults = 0;
	pthread_mutex_unlock(&w->lock);
}

/* Under the lock: does this call of op fail? */
static int fault(struct fake_world *w, const char *op, struct rotor_error *err)
{
	for (int i = 0; i < w->nfaults; i++) {
		struct fake_fault *f = &w->faults[i];
		if (strcmp(f->op, op) != 0 || f->times == 0)
			continue;
		if (f->after > 0) {
			f->after--;
			continue;
		}
		f->times--;
		rotor_error_set(err, f->rc, "fake %s failed (%s)", op,
		                f->remote_code[0] ? f->remote_code : rotor_error_code_name(f->rc));
		rotor_error_set_remote(err, 500, f->remote_code, "fake-request-id");
		return f->rc;
	}
	return 0;
}

/* ---- the IAM world -------------------------------------------------------- */

static struct fake_user *user_locked(struct fake_world *w, const char *name)
{
	for (int i = 0; i < w->nusers; i++)
		if (strcmp(w->users[i].name, name) == 0)
			return &w->users[i];
	return NULL;
}

struct fake_user *fake_user_add(struct fake_world *w, const char *name)
{
	pthread_mutex_lock(&w->lock);
	struct fake_user *u = &w->users[w->nusers++];
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->arn, sizeof(u->arn), "arn:aws:iam::123456789012:user/%s", name);
	pthread_mutex_unlock(&w->lock);
	return u;
}

struct fake_user *fake_user(struct fake_world *w, const char *name)
{
	pthread_mutex_lock(&w->lock);
	struct fake_user *u = user_locked(w, name);
	pthread_mutex_unlock(&w->lock);
	return u;
}

static struct fake_key *key_locked(struct fake_user *u, const char *id)
{
	for (int i = 0; u && i < u->nkeys; i++)
		if (strcmp(u->keys[i].id, id) == 0)
			return &u->keys[i];
	return NULL;
}

static struct fake_key *new_key_locked(struct fake_world *w, struct fake_user *u, int64_t created)
{
	struct fake_key *k = &u->keys[u->nkeys++];
	memset(k, 0, sizeof(*k));
	w->next_key++;
	snprintf(k->id, sizeof(k->id), "AKIAFAKE%012d", w->next_key);
	snprintf(k->secret, sizeof(k->secret), "fakeSecret/%08d/%s", w->next_key,
	         "abcdefghijklmnopqrstuv");
	k->active = 1;
	k->created = created;
	if (u->nkeys > w->max_keys_seen)
		w->max_keys_seen = u->nkeys;
	return k;
}

struct fake_key *fake_key_add(struct fake_world *w, const char *user, int64_t created)
{
	pthread_mutex_lock(&w->lock);
	struct fake_user *u = user_locked(w, user);
	struct fake_key *k = u && u->nkeys < FAKE_MAX_KEYS ? new_key_locked(w, u, created) : NULL;
	pthread_mutex_unlock(&w->lock);
	return k;
}

struct fake_key *fake_key(struct fake_world *w, const char *user, const char *id)
{
	pthread_mutex_lock(&w->lock);
	struct fake_key *k = key_locked(user_locked(w, user), id);
	pthread_mutex_unlock(&w->lock);
	return k;
}

void fake_key_use(struct fake_world *w, const char *user, const char *id, int64_t when,
                  const char *service)
{
	pthread_mutex_lock(&w->lock);
	struct fake_key *k = key_locked(user_locked(w, user), id);
	if (k) {
		k->last_used = when ? when : now_s(w);
		snprintf(k->service, sizeof(k->service), "%s", service ? service : "s3");
	}
	pthread_mutex_unlock(&w->lock);
}

int fake_active_keys(struct fake_world *w, const char *user)
{
	int n = 0;
	pthread_mutex_lock(&w->lock);
	struct fake_user *u = user_locked(w, user);
	for (int i = 0; u && i < u->nkeys; i++)
		n += u->keys[i].active;
	pthread_mutex_unlock(&w->lock);
	return n;
}

const char *fake_tag(struct fake_world *w, const char *user, const char *key)
{
	const char *v = NULL;
	pthread_mutex_lock(&w->lock);
	struct fake_user *u = user_locked(w, user);
	for (int i = 0; u && i < u->ntags; i++)
		if (strcmp(u->tags[i].key, key) == 0)
			v = u->tags[i].value;
	pthread_mutex_unlock(&w->lock);
	return v;
}

/* ---- the AWS provider ------------------------------------------------------ */

/* Every call: the lock, the in-flight count, the user, a fault. */
#define CALL_BEGIN(op)                                                                             \
	struct fake_world *w = h;                                                                  \
	pthread_mutex_lock(&w->lock);                                                              \
	if (++w->in_flight > w->max_in_flight)                                                     \
		w->max_in_flight = w->in_flight;                                                   \
	int rc = fault(w, op, err);                                                                \
	if (rc)                                                                                    \
		goto out;
#define CALL_END                                                                                   \
	out:                                                                                       \
	pthread_mutex_unlock(&w->lock);                                                            \
	if (w->delay_us)                                                                           \
		usleep(w->delay_us);                                                               \
	pthread_mutex_lock(&w->lock);                                                              \
	w->in_flight--;                                                                            \
	pthread_mutex_unlock(&w->lock);                                                            \
	return rc;

static int no_user(struct rotor_error *err, const char *user)
{
	int rc =
	    rotor_error_set(err, ROTOR_ENOTFOUND, "The user with name %s cannot be found.", user);
	rotor_error_set_remote(err, 404, "NoSuchEntity", "fake-request-id");
	return rc;
}

static int a_list_keys(void *h, const char *user, struct rotor_iam_key *keys, size_t *n,
                       struct rotor_error *err)
{
	CALL_BEGIN("list_access_keys")
	struct fake_user *u = user_locked(w, user);
	if (!u) {
		rc = no_user(err, user);
		goto out;
	}
	*n = 0;
	for (int i = 0; i < u->nkeys; i++, (*n)++) {
		memset(&keys[i], 0, sizeof(keys[i]));
		snprintf(keys[i].id, sizeof(keys[i].id), "%s", u->keys[i].id);
		snprintf(keys[i].user, sizeof(keys[i].user), "%s", u->name);
		keys[i].active = u->keys[i].active;
		keys[i].created = u->keys[i].created;
	}
	CALL_END
}

static int a_create(void *h, const char *user, struct rotor_iam_key *key,
                    struct rotor_secret **secret, struct rotor_error *err)
{
	CALL_BEGIN("create_access_key")
	struct fake_user *u = user_locked(w, user);
	if (!u) {
		rc = no_user(err, user);
		goto out;
	}
	if (u->nkeys >= 2) {
		w->limit_exceeded++;
		rc = rotor_error_set(err, ROTOR_ELIMIT,
		                     "Cannot exceed quota for AccessKeysPerUser: 2");
		rotor_error_set_remote(err, 409, "LimitExceeded", "fake-request-id");
		goto out;
	}
	struct fake_key *k = new_key_locked(w, u, now_s(w));
	w->calls_create++;
	rc = rotor_secret_from_str(secret, k->secret, ROTOR_SECRET_REDACT, err);
	if (rc)
		goto out;
	memset(key, 0, sizeof(*key));
	snprintf(key->id, sizeof(key->id), "%s", k->id);
	snprintf(key->user, sizeof(key->user), "%s", u->name);
	key->active = 1;
	key->created = k->created;
	CALL_END
}

/* The user's key, or IAM's NoSuchEntity for a missing user or key. */
static int user_key_locked(struct fake_world *w, const char *user, const char *id,
                           struct fake_user **u, struct fake_key **k, struct rotor_error *err)
{
	*u = user_locked(w, user);
	*k = key_locked(*u, id);
	if (*k)
		return 0;
	return *u ? rotor_error_set(err, ROTOR_ENOTFOUND,
	                            "The Access Key with id %s cannot be found.", id)
	          : no_user(err, user);
}

static int a_update(void *h, const char *user, const char *id, int active, struct rotor_error *err)
{
	CALL_BEGIN("update_access_key")
	struct fake_user *u;
	struct fake_key *k;
	rc = user_key_locked(w, user, id, &u, &k, err);
	if (rc)
		goto out;
	k->active = active;
	w->calls_update++;
	CALL_END
}

static int a_delete(void *h, const char *user, const char *id, struct rotor_error *err)
{
	CALL_BEGIN("delete_access_key")
	struct fake_user *u;
	struct fake_key *k;
	rc = user_key_locked(w, user, id, &u, &k, err);
	if (rc)
		goto out;
	int i = (int)(k - u->keys);
	memmove(&u->keys[i], &u->keys[i + 1], (size_t)(u->nkeys - i - 1) * sizeof(*k));
	u->nkeys--;
	w->calls_delete++;
	CALL_END
}

static struct fake_key *key_anywhere(struct fake_world *w, const char *id, struct fake_user **who)
{
	for (int i = 0; i < w->nusers; i++) {
		struct fake_key *k = key_locked(&w->users[i], id);
		if (k) {
			*who = &w->users[i];
			return k;
		}
	}
	return NULL;
}

static int a_last_used(void *h, const char *id, struct rotor_iam_last_used *out,
                       struct rotor_error *err)
{
	CALL_BEGIN("last_used")
	struct fake_user *u;
	struct fake_key *k = key_anywhere(w, id, &u);
	if (!k) {
		rc = rotor_error_set(err, ROTOR_ENOTFOUND, "no key %s", id);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->date = k->last_used;
	snprintf(out->service, sizeof(out->service), "%s", k->last_used ? k->service : "N/A");
	snprintf(out->region, sizeof(out->region), "%s", k->last_used ? "us-east-1" : "N/A");
	CALL_END
}

static int a_get_user(void *h, const char *user, struct rotor_iam_user *out,
                      struct rotor_error *err)
{
	CALL_BEGIN("get_user")
	struct fake_user *u = user_locked(w, user);
	if (!u) {
		rc = no_user(err, user);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", u->name);
	snprintf(out->arn, sizeof(out->arn), "%s", u->arn);
	snprintf(out->path, sizeof(out->path), "/");
	out->tags.items = calloc((size_t)u->ntags + 1, sizeof(*out->tags.items));
	for (int i = 0; out->tags.items && i < u->ntags; i++, out->tags.n++) {
		out->tags.items[i].key = strdup(u->tags[i].key);
		out->tags.items[i].value = strdup(u->tags[i].value);
	}
	if (!out->tags.items)
		rc = rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	CALL_END
}

static int a_list_tags(void *h, const char *user, struct rotor_tags *out, struct rotor_error *err)
{
	CALL_BEGIN("list_user_tags")
	struct fake_user *u = user_locked(w, user);
	if (!u) {
		rc = no_user(err, user);
		goto out;
	}
	out->n = 0;
	out->items = calloc((size_t)u->ntags + 1, sizeof(*out->items));
	for (int i = 0; out->items && i < u->ntags; i++, out->n++) {
		out->items[i].key = strdup(u->tags[i].key);
		out->items[i].value = strdup(u->tags[i].value);
	}
	if (!out->items)
		rc = rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	CALL_END
}

static int a_tag(void *h, const char *user, const struct rotor_tag *tags, size_t n,
                 struct rotor_error *err)
{
	CALL_BEGIN("tag_user")
	struct fake_user *u = user_locked(w, user);
	if (!u) {
		rc = no_user(err, user);
		goto out;
	}
	for (size_t t = 0; t < n; t++) {
		int i = 0;
		while (i < u->ntags && strcmp(u->tags[i].key, tags[t].key) != 0)
			i++;
		if (i == u->ntags && u->ntags == FAKE_MAX_TAGS) {
			rc = rotor_error_set(err, ROTOR_ELIMIT,
			                     "Cannot exceed quota for TagsPerUser");
			goto out;
		}
		if (i == u->ntags)
			u->ntags++;
		snprintf(u->tags[i].key, sizeof(u->tags[i].key), "%s", tags[t].key);
		snprintf(u->tags[i].value, sizeof(u->tags[i].value), "%s", tags[t].value);
	}
	CALL_END
}

static int a_untag(void *h, const char *user, const char *const *keys, size_t n,
                   struct rotor_error *err)
{
	CALL_BEGIN("untag_user")
	struct fake_user *u = user_locked(w, user);
	if (!u) {
		rc = no_user(err, user);
		goto out;
	}
	for (size_t t = 0; t < n; t++)
		for (int i = 0; i < u->ntags; i++)
			if (strcmp(u->tags[i].key, keys[t]) == 0) {
				u->tags[i] = u->tags[--u->ntags];
				break;
			}
	CALL_END
}

/* Who a pair authenticates as: the key must exist, be Active and match. */
static int authenticate(struct fake_world *w, const struct rotor_aws_credentials *as,
                        struct fake_user **who, struct rotor_error *err)
{
	struct fake_key *k = key_anywhere(w, as->access_key_id, who);
	const char *secret = rotor_secret_bytes(as->secret_access_key);
	if (!k || !k->active) {
		int rc = rotor_error_set(err, ROTOR_EAUTH,
		                         "The security token included in the request is invalid.");
		rotor_error_set_remote(err, 403, "InvalidClientTokenId", "fake-request-id");
		return rc;
	}
	if (!secret || strcmp(secret, k->secret) != 0) {
		int rc = rotor_error_set(err, ROTOR_EAUTH,
		                         "The request signature we calculated does not match.");
		rotor_error_set_remote(err, 403, "SignatureDoesNotMatch", "fake-request-id");
		return rc;
	}
	return 0;
}

static int a_identity(void *h, const struct rotor_aws_credentials *as,
                      struct rotor_sts_identity *out, struct rotor_error *err)
{
	CALL_BEGIN("caller_identity")
	struct fake_user *u = NULL;
	rc = authenticate(w, as, &u, err);
	if (rc)
		goto out;
	memset(out, 0, sizeof(*out));
	snprintf(out->arn, sizeof(out->arn), "%s", u->arn);
	snprintf(out->account, sizeof(out->account), "123456789012");
	CALL_END
}

static int a_validate(void *h, const struct rotor_aws_credentials *key, const char *arn,
                      int64_t timeout_ms, struct rotor_error *err)
{
	(void)timeout_ms;
	CALL_BEGIN("validate_key")
	struct fake_user *u = NULL;
	rc = authenticate(w, key, &u, err);
	if (!rc && strcmp(u->arn, arn) != 0)
		rc = rotor_error_set(err, ROTOR_ECONFLICT, "the key authenticates as %s", u->arn);
	CALL_END
}

static const struct rotor_aws_api fake_aws_api = {
    a_list_keys, a_create, a_update,   a_delete,   a_last_used, a_get_user, a_list_tags,
    a_tag,       a_untag,  a_identity, a_validate, NULL, /* list_users: rotor discover is tested
                                                            against the doubles */
};

static int aws_open(void **conn, const struct rotor_aws_connection *cfg, struct rotor_clock *clock,
                    struct rotor_error *err)
{
	(void)cfg;
	(void)clock;
	(void)err;
	*conn = fake;
	return 0;
}

static void aws_close(void *conn)
{
	(void)conn;
}

static int aws_handle_open(void *conn, void **h, struct rotor_error *err)
{
	struct fake_world *w = conn;
	(void)err;
	pthread_mutex_lock(&w->lock);
	w->handles_opened++;
	pthread_mutex_unlock(&w->lock);
	*h = conn;
	return 0;
}

static void aws_handle_close(void *h)
{
	(void)h;
}

static const struct rotor_aws_provider fake_aws_provider = {
    "fake-aws", aws_open, aws_close, aws_handle_open, aws_handle_close, &fake_aws_api,
};

/* ---- the store --------------------------------------------------------------- */

void fake_store_path(char *buf, size_t len, const char *project, const char *env,
                     const char *folder, const char *name)
{
	snprintf(buf, len, "%s/%s/%s/%s", project, env, folder, name);
}

static struct fake_entry *entry_locked(struct fake_world *w, const char *path, int create)
{
	for (int i = 0; i < w->nentries; i++)
		if (strcmp(w->entries[i].path, path) == 0)
			return &w->entries[i];
	if (!create || w->nentries == FAKE_MAX_ENTRIES)
		return NULL;
	struct fake_entry *e = &w->entries[w->nentries++];
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	return e;
}

static int64_t put_locked(struct fake_world *w, const char *path, const char *value)
{
	struct fake_entry *e = entry_locked(w, path, 1);
	if (!e || e->nversions == FAKE_MAX_VERSIONS)
		return 0;
	snprintf(e->values[e->nversions], sizeof(e->values[0]), "%s", value);
	return ++e->nversions;
}

const char *fake_store_get(struct fake_world *w, const char *path)
{
	pthread_mutex_lock(&w->lock);
	struct fake_entry *e = entry_locked(w, path, 0);
	const char *v = e && e->nversions ? e->values[e->nversions - 1] : NULL;
	pthread_mutex_unlock(&w->lock);
	return v;
}

int fake_store_versions(struct fake_world *w, const char *path)
{
	pthread_mutex_lock(&w->lock);
	struct fake_entry *e = entry_locked(w, path, 0);
	int n = e ? e->nversions : 0;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void fake_store_put(struct fake_world *w, const char *path, const char *value)
{
	pthread_mutex_lock(&w->lock);
	put_locked(w, path, value);
	pthread_mutex_unlock(&w->lock);
}

static void ref_paths(const struct rotor_store_ref *ref, char *akid, char *secret, size_t len)
{
	fake_store_path(akid, len, ref->project_id, ref->environment, ref->secret_path,
	                ref->akid_name);
	fake_store_path(secret, len, ref->project_id, ref->environment, ref->secret_path,
	                ref->secret_name);
}

/* The pair at the given versions (0: the latest) into out. */
static int pair_at(struct fake_world *w, const struct rotor_store_ref *ref, int64_t av, int64_t sv,
                   struct rotor_store_pair *out, struct rotor_error *err)
{
	char ap[256], sp[256];
	ref_paths(ref, ap, sp, sizeof(ap));
	struct fake_entry *a = entry_locked(w, ap, 0), *s = entry_locked(w, sp, 0);
	memset(out, 0, sizeof(*out));
	if (a && a->nversions) {
		int64_t v = av ? av : a->nversions;
		if (v < 1 || v > a->nversions)
			return rotor_error_set(err, ROTOR_ENOTFOUND, "no version %lld of %s",
			                       (long long)v, ap);
		out->has_akid = 1;
		out->akid_version = v;
		snprintf(out->akid, sizeof(out->akid), "%s", a->values[v - 1]);
	}
	if (s && s->nversions) {
		int64_t v = sv ? sv : s->nversions;
		if (v < 1 || v > s->nversions)
			return rotor_error_set(err, ROTOR_ENOTFOUND, "no version %lld of %s",
			                       (long long)v, sp);
		out->has_secret = 1;
		out->secret_version = v;
		return rotor_secret_from_str(&out->secret, s->values[v - 1], ROTOR_SECRET_REDACT,
		                             err);
	}
	return 0;
}

static int s_read_pair(void *ctx, const struct rotor_store_ref *ref, struct rotor_store_pair *out,
                       struct rotor_error *err)
{
	struct fake_world *w = ctx;
	pthread_mutex_lock(&w->lock);
	int rc = fault(w, "read_pair", err);
	if (!rc)
		rc = pair_at(w, ref, 0, 0, out, err);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static int s_write_pair(void *ctx, const struct rotor_store_ref *ref, const char *akid,
                        const struct rotor_secret *secret, const struct rotor_store_pair *current,
                        struct rotor_store_pair *written, struct rotor_error *err)
{
	(void)current;
	struct fake_world *w = ctx;
	char ap[256], sp[256];
	ref_paths(ref, ap, sp, sizeof(ap));
	pthread_mutex_lock(&w->lock);
	int rc = fault(w, "write_pair", err);
	if (!rc) {
		put_locked(w, ap, akid);
		put_locked(w, sp, rotor_secret_bytes(secret));
		rc = pair_at(w, ref, 0, 0, written, err);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static int s_read_version(void *ctx, const struct rotor_store_ref *ref, int64_t av, int64_t sv,
                          struct rotor_store_pair *out, struct rotor_error *err)
{
	struct fake_world *w = ctx;
	pthread_mutex_lock(&w->lock);
	int rc = fault(w, "read_version", err);
	if (!rc)
		rc = av < 1 || sv < 1 ? rotor_error_set(err, ROTOR_ENOTFOUND, "no such version")
		                      : pair_at(w, ref, av, sv, out, err);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void s_free(void *ctx)
{
	(void)ctx;
}

static const struct rotor_store_ops fake_store_ops = {
    "fake-store", s_read_pair, s_write_pair, s_read_version, s_free, NULL,
};

static int store_open(struct rotor_store *out, const struct rotor_config *cfg,
                      const char *connection, struct rotor_clock *clock, const char *state_dir,
                      struct rotor_error *err)
{
	(void)cfg;
	(void)connection;
	(void)clock;
	(void)state_dir;
	(void)err;
	out->ops = &fake_store_ops;
	out->ctx = fake;
	return 0;
}

static const struct rotor_store_provider fake_store_provider = {"infisical", store_open};

/* ---- a consumer kind ------------------------------------------------------------ */

static struct fake_consumer_value *consumer_locked(struct fake_world *w, const char *target,
                                                   int create)
{
	for (int i = 0; i < w->nconsumers; i++)
		if (strcmp(w->consumers[i].target, target) == 0)
			return &w->consumers[i];
	if (!create || w->nconsumers == FAKE_MAX_ENTRIES)
		return NULL;
	struct fake_consumer_value *v = &w->consumers[w->nconsumers++];
	memset(v, 0, sizeof(*v));
	snprintf(v->target, sizeof(v->target), "%s", target);
	return v;
}

const struct fake_consumer_value *fake_consumer_get(struct fake_world *w, const char *target)
{
	pthread_mutex_lock(&w->lock);
	const struct fake_consumer_value *v = consumer_locked(w, target, 0);
	pthread_mutex_unlock(&w->lock);
	return v;
}

void fake_consumer_set(struct fake_world *w, const char *target, const char *akid,
                       const char *secret)
{
	pthread_mutex_lock(&w->lock);
	struct fake_consumer_value *v = consumer_locked(w, target, 1);
	snprintf(v->akid, sizeof(v->akid), "%s", akid);
	snprintf(v->secret, sizeof(v->secret), "%s", secret);
	pthread_mutex_unlock(&w->lock);
}

static int c_observe(void *ctx, const struct rotor_consumer_ref *c,
                     const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
                     char *detail, size_t len, struct rotor_error *err)
{
	struct fake_world *w = ctx;
	pthread_mutex_lock(&w->lock);
	int rc = fault(w, "consumer_observe", err);
	struct fake_consumer_value *v = rc ? NULL : consumer_locked(w, c->path, 0);
	if (!rc) {
		int same = v && strcmp(v->akid, want->akid) == 0 &&
		           strcmp(v->secret, rotor_secret_bytes(want->secret)) == 0;
		*state = same ? ROTOR_CONSUMER_IN_SYNC : ROTOR_CONSUMER_DRIFTED;
		snprintf(detail, len, "%s", same ? "" : v ? "holds another pair" : "never written");
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static int c_write(void *ctx, const struct rotor_consumer_ref *c,
                   const struct rotor_consumer_pair *pair, char *record, size_t record_len,
                   struct rotor_error *err)
{
	(void)record_len;
	record[0] = '\0';
	struct fake_world *w = ctx;
	pthread_mutex_lock(&w->lock);
	int rc = fault(w, "consumer_write", err);
	if (!rc) {
		struct fake_consumer_value *v = consumer_locked(w, c->path, 1);
		snprintf(v->akid, sizeof(v->akid), "%s", pair->akid);
		snprintf(v->secret, sizeof(v->secret), "%s", rotor_secret_bytes(pair->secret));
		v->writes++;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static int consumer_open(struct rotor_consumer_ops *out, const struct rotor_config *cfg,
                         struct rotor_error *err)
{
	(void)cfg;
	(void)err;
	memset(out, 0, sizeof(*out));
	out->kind = "fake";
	out->observe = c_observe;
	out->write = c_write;
	out->ctx = fake;
	return 0;
}

static const struct rotor_consumer_provider fake_consumer_provider = {"envFile", consumer_open,
                                                                      NULL};
static const struct rotor_consumer_provider unsupported = {"unsupported", NULL, NULL};

static const struct rotor_providers fake_table = {
    &fake_aws_provider,
    &fake_store_provider,
    {
        [ROTOR_CONSUMER_HEROKU] = &unsupported,
        [ROTOR_CONSUMER_GITHUB] = &unsupported,
        [ROTOR_CONSUMER_ENVFILE] = &fake_consumer_provider,
    },
};

const struct rotor_providers *fake_providers(void)
{
	return &fake_table;
}
