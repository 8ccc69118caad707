/*
 * rollback.c: `rotor rollback NAME` and `rotor resume NAME` (contract §7):
 * reactivate the predecessor if it still exists, restore the store's
 * previous version (proven with STS, never assumed), re-propagate,
 * deactivate the new key, and suspend the manifest until resume.
 */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "rotor/clock.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "util/retry.h"

/* The previous pair, proven: the key id the store held before the current
 * one, and a secret from the store's history that authenticates with it.
 * The two names are versioned separately (a heal may have written only
 * one), so the secret is found by trying the versions before the current
 * one with STS, never assumed: rollback must not write a pair that does
 * not authenticate (invariant 1). The key is reactivated first if needed;
 * *reactivated says so, so a failed search can undo it. */
#define ROLLBACK_HISTORY 5

static int find_previous_pair(struct apply_ctx *c, struct rotor_store_pair *prev, int *reactivated,
                              struct rotor_error *err)
{
	struct rotor_store_ref ref = rotor_engine_store_ref(c->m);
	const struct rotor_observed *obs = c->obs;
	struct rotor_store_pair p;
	int rc = ROTOR_ENOTFOUND;
	memset(prev, 0, sizeof(*prev));
	*reactivated = 0;
	/* 1. the previous key id */
	int64_t av = obs->store_akid_version - 1;
	for (; av >= 1 && av >= obs->store_akid_version - ROLLBACK_HISTORY; av--) {
		memset(&p, 0, sizeof(p));
		rc = c->store->ops->read_version(c->store->ctx, &ref, av, obs->store_secret_version,
		                                 &p, err);
		if (rc)
			return rc;
		if (strcmp(p.akid, obs->store_akid) != 0)
			break;
		rotor_store_pair_dispose(&p);
	}
	if (av < 1 || av < obs->store_akid_version - ROLLBACK_HISTORY || rc)
		return rotor_error_set(err, ROTOR_ENOTFOUND,
		                       "the store's history holds no earlier key id than %s",
		                       obs->store_akid);
	char akid[128];
	snprintf(akid, sizeof(akid), "%s", p.akid);
	snprintf(prev->akid, sizeof(prev->akid), "%s", akid); /* for the caller's undo */
	rotor_store_pair_dispose(&p);
	const struct rotor_obs_key *k = NULL;
	for (int i = 0; i < obs->nkeys; i++)
		if (strcmp(obs->keys[i].id, akid) == 0)
			k = &obs->keys[i];
	if (!k)
		return rotor_error_set(err, ROTOR_ENOTFOUND,
		                       "the previous key %s no longer exists in IAM; roll forward "
		                       "instead (rotor rotate %s)",
		                       akid, c->m->name);
	if (!k->active) {
		rc = rotor_iam_update_access_key(c->aws->iam, c->m->user, akid, 1, err);
		rotor_engine_audit(c, "rollback-reactivate", akid, NULL, 0, rc ? err : NULL);
		if (rc)
			return rc;
		*reactivated = 1;
	}
	/* 2. a secret version that authenticates with it */
	for (int64_t sv = obs->store_secret_version - 1;
	     sv >= 1 && sv >= obs->store_secret_version - ROLLBACK_HISTORY; sv--) {
		memset(&p, 0, sizeof(p));
		rc = c->store->ops->read_version(c->store->ctx, &ref, av, sv, &p, err);
		if (rc)
			return rc;
		struct rotor_aws_credentials creds;
		struct rotor_sts_identity id;
		struct rotor_error verr;
		memset(&creds, 0, sizeof(creds));
		rc = rotor_aws_credentials_set(&creds, akid, rotor_secret_bytes(p.secret), NULL, 0,
		                               err);
		/* A key just reactivated can take a moment to authenticate again:
		 * wait out InvalidClientTokenId briefly (ten tries a second apart,
		 * the one retry policy); a wrong secret is SignatureDoesNotMatch
		 * at once. */
		static const struct rotor_retry_policy reactivation = {10, 1000, 1000,
		                                                       0,  0,    ROTOR_JITTER_NONE};
		struct rotor_retry retry;
		rotor_retry_begin(&retry, &reactivation, c->e->opts.clock);
		while (!rc) {
			rotor_error_clear(&verr);
			int v = rotor_sts_get_caller_identity(c->aws->sts, &creds, &id, &verr);
			if (v == 0 && strcmp(id.arn, c->st->user_arn) == 0) {
				rotor_aws_credentials_dispose(&creds);
				*prev = p;
				return 0;
			}
			if (v == 0 || strcmp(verr.remote_code, "InvalidClientTokenId") != 0 ||
			    rotor_retry_next(&retry, -1) != ROTOR_RETRY_AGAIN)
				break;
		}
		rotor_aws_credentials_dispose(&creds);
		rotor_store_pair_dispose(&p);
		if (rc)
			return rc;
	}
	return rotor_error_set(err, ROTOR_ENOTFOUND,
	                       "no secret in the store's last %d versions authenticates with the "
	                       "previous key %s: nothing was restored",
	                       ROLLBACK_HISTORY, akid);
}

int rotor_engine_rollback(struct rotor_engine *e, const struct rotor_manifest *m,
                          struct rotor_error *err)
{
	struct rotor_observed obs;
	struct rotor_engine_state st;
	struct apply_ctx c;
	struct rotor_store_pair prev, written, current;
	int reactivated = 0, changed = 0;
	memset(&c, 0, sizeof(c));
	memset(&prev, 0, sizeof(prev));
	int rc = rotor_engine_observe(e, m, &obs, &st, err);
	if (rc)
		goto done;
	if (!obs.iam_known || !obs.store_known || !obs.store_has_akid || !st.store_secret) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "cannot roll back: %s",
		                     !obs.iam_known     ? obs.iam_error
		                     : !obs.store_known ? obs.store_error
		                                        : "the store holds no pair");
		goto fail;
	}
	c.e = e;
	c.m = m;
	c.obs = &obs;
	c.st = &st;
	if ((rc = rotor_engine_aws_conn(e, m->aws, &c.aws, err)) != 0 ||
	    (rc = rotor_engine_store_conn(e, m->store.connection, &c.store, err)) != 0)
		goto fail;
	/* 1. find (and reactivate) the previous key with a secret that works */
	rc = find_previous_pair(&c, &prev, &reactivated, err);
	if (rc) {
		if (reactivated) {
			struct rotor_error uerr;
			if (rotor_iam_update_access_key(c.aws->iam, m->user, prev.akid, 0, &uerr) ==
			    0)
				rotor_engine_audit(&c, "rollback-undo-reactivate", prev.akid, NULL,
				                   0, NULL);
			else
				changed = 1; /* the reactivation stays: say nothing false */
		}
		goto fail;
	}
	changed = reactivated;
	if (reactivated)
		rotor_engine_update_record(&c, prev.akid, 'i', 0, err);
	/* 2. restore it as the store's newest version */
	struct rotor_store_ref ref = rotor_engine_store_ref(m);
	memset(&current, 0, sizeof(current));
	current.has_akid = current.has_secret = 1;
	current.akid_version = obs.store_akid_version;
	current.secret_version = obs.store_secret_version;
	rc = c.store->ops->write_pair(c.store->ctx, &ref, prev.akid, prev.secret, &current,
	                              &written, err);
	rotor_engine_audit(&c, "rollback-store", prev.akid, NULL, rc ? 0 : written.akid_version,
	                   rc ? err : NULL);
	if (rc)
		goto fail;
	changed = 1;
	rotor_secret_free(st.store_secret);
	st.store_secret = written.secret;
	written.secret = NULL;
	rotor_store_pair_dispose(&written);
	/* 3. re-propagate */
	snprintf(c.new_id, sizeof(c.new_id), "%s", prev.akid);
	for (size_t i = 0; !rc && i < m->nconsumers; i++) {
		if (!rotor_engine_consumer_ops(e, &m->consumers[i]))
			continue;
		rc = rotor_engine_propagate(&c, (int)i, err);
		rotor_engine_audit(&c, "rollback-propagate", prev.akid, m->consumers[i].name, 0,
		                   rc ? err : NULL);
	}
	c.new_id[0] = '\0';
	/* 4. deactivate the key that replaced it */
	if (!rc && strcmp(obs.store_akid, prev.akid) != 0) {
		int live = 0;
		for (int i = 0; i < obs.nkeys; i++)
			live |= strcmp(obs.keys[i].id, obs.store_akid) == 0 && obs.keys[i].active;
		if (live) {
			rc = rotor_iam_update_access_key(c.aws->iam, m->user, obs.store_akid, 0,
			                                 err);
			rotor_engine_audit(&c, "rollback-deactivate", obs.store_akid, NULL, 0,
			                   rc ? err : NULL);
			if (!rc)
				rc = rotor_engine_update_record(&c, obs.store_akid, 'i',
				                                rotor_engine_now(e), err);
		}
	}
	/* 5. suspend until `rotor resume` */
	if (!rc) {
		char note[128], ts[32];
		rotor_time_format(ts, sizeof(ts), rotor_engine_now(e));
		snprintf(note, sizeof(note), "v1 by=rollback at=%s", ts);
		struct rotor_tag t = {ROTOR_TAG_SUSPENDED, note};
		rc = rotor_iam_tag_user(c.aws->iam, m->user, &t, 1, err);
		rotor_engine_audit(&c, "suspend", NULL, NULL, 0, rc ? err : NULL);
	}
fail:
	rotor_store_pair_dispose(&prev);
	if (rc && !changed) {
		char why[sizeof(err->message)];
		snprintf(why, sizeof(why), "%s", err->message);
		rotor_error_set(
		    err, rc,
		    "%s; nothing was changed. To restore by hand, put a working key "
		    "pair of %s into the store (%s and %s in %s) and run `rotor apply`: "
		    "rotor propagates the stored pair to the consumers",
		    why, m->user, m->store.akid_name, m->store.secret_name, m->store.secret_path);
	}
	if (rc)
		rotor_error_prefix(err, "%s: rollback", m->name);
done:
	rotor_engine_state_dispose(&st);
	return rc;
}

int rotor_engine_resume(struct rotor_engine *e, const struct rotor_manifest *m, int *was_suspended,
                        struct rotor_error *err)
{
	struct apply_ctx c;
	struct rotor_tags tags;
	memset(&c, 0, sizeof(c));
	c.e = e;
	c.m = m;
	*was_suspended = 0;
	int rc = rotor_engine_aws_conn(e, m->aws, &c.aws, err);
	if (!rc)
		rc = rotor_iam_list_user_tags(c.aws->iam, m->user, &tags, err);
	if (!rc) {
		for (size_t i = 0; i < tags.n; i++)
			*was_suspended |= strcmp(tags.items[i].key, ROTOR_TAG_SUSPENDED) == 0;
		rotor_tags_dispose(&tags);
	}
	if (!rc && *was_suspended) {
		rc = rotor_engine_untag(&c, ROTOR_TAG_SUSPENDED, err);
		rotor_engine_audit(&c, "resume", NULL, NULL, 0, rc ? err : NULL);
	}
	if (rc)
		rotor_error_prefix(err, "%s: resume", m->name);
	return rc;
}
