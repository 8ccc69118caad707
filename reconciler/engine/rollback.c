/*
 * rollback.c: `rotor rollback NAME` and `rotor resume NAME` (contract §7):
 * reactivate the predecessor if it still exists, restore the store's
 * previous version (proven with STS, never assumed), re-propagate,
 * deactivate the new key, and suspend the manifest until resume.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "util/retry.h"

/* How many versions back rollback looks for the previous key id and for
 * a secret that authenticates with it. */
#define ROLLBACK_HISTORY 5

/* Observes the store's history for a rollback (read only): the key id the
 * store held before the current one. */
static void observe_history(struct rotor_engine *e, const struct rotor_manifest *m,
                            struct rotor_observed *obs)
{
	struct rotor_store *store = NULL;
	struct rotor_store_ref ref = rotor_engine_store_ref(m);
	struct rotor_error err;
	rotor_error_clear(&err);
	int rc = rotor_engine_store_conn(e, m->store.connection, &store, &err);
	for (int64_t av = obs->store_akid_version - 1;
	     !rc && av >= 1 && av >= obs->store_akid_version - ROLLBACK_HISTORY; av--) {
		struct rotor_store_pair p;
		memset(&p, 0, sizeof(p));
		rc = store->ops->read_version(store->ctx, &ref, av, obs->store_secret_version, &p,
		                              &err);
		if (!rc && strcmp(p.akid, obs->store_akid) != 0 &&
		    !rotor_aws_key_id_valid(p.akid)) {
			/* never truncate an identifier into the observation */
			rc = rotor_error_set(&err, ROTOR_EINVALID,
			                     "version %lld of %s holds no access key id",
			                     (long long)av, m->store.akid_name);
		} else if (!rc && strcmp(p.akid, obs->store_akid) != 0) {
			snprintf(obs->rollback_prev_akid, sizeof(obs->rollback_prev_akid), "%s",
			         p.akid);
			obs->rollback_prev_akid_version = av;
			rotor_store_pair_dispose(&p);
			break;
		}
		rotor_store_pair_dispose(&p);
	}
	obs->rollback_history_known = rc == 0;
	if (rc)
		snprintf(obs->rollback_error, sizeof(obs->rollback_error), "%s", err.message);
}

int rotor_engine_rollback_reactivate(struct apply_ctx *c, const char *id, struct rotor_error *err)
{
	int rc = AWS(c->aws, update_access_key, c->m->user, id, 1, err);
	if (rc)
		return rc;
	c->reactivated = 1;
	struct rotor_error rerr;
	if (rotor_engine_update_record(c, id, 'i', 0, &rerr) != 0)
		rotor_log(ROTOR_LOG_WARN, c->m->name, "could not update rotor's record of %s: %s",
		          id, rerr.message);
	return 0;
}

/* A secret from the store's history that authenticates with id, proven
 * with STS, never assumed: the two names are versioned separately (a heal
 * may have written only one), and rollback must not write a pair that does
 * not authenticate (invariant 1). */
static int find_secret(struct apply_ctx *c, const char *id, struct rotor_store_pair *out,
                       struct rotor_error *err)
{
	struct rotor_store_ref ref = rotor_engine_store_ref(c->m);
	const struct rotor_observed *obs = c->obs;
	int64_t av = obs->rollback_prev_akid_version;
	for (int64_t sv = obs->store_secret_version - 1;
	     sv >= 1 && sv >= obs->store_secret_version - ROLLBACK_HISTORY; sv--) {
		struct rotor_store_pair p;
		memset(&p, 0, sizeof(p));
		int rc = c->store->ops->read_version(c->store->ctx, &ref, av, sv, &p, err);
		if (rc)
			return rc;
		struct rotor_aws_credentials creds;
		struct rotor_sts_identity sid;
		struct rotor_error verr;
		memset(&creds, 0, sizeof(creds));
		rc = rotor_aws_credentials_set(&creds, id, rotor_secret_bytes(p.secret), NULL, 0,
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
			int v = AWS(c->aws, caller_identity, &creds, &sid, &verr);
			if (v == 0 && strcmp(sid.arn, c->st->user_arn) == 0) {
				rotor_aws_credentials_dispose(&creds);
				*out = p;
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
	                       ROLLBACK_HISTORY, id);
}

int rotor_engine_rollback_store(struct apply_ctx *c, const char *id, struct rotor_error *err)
{
	struct rotor_store_pair prev, written, current;
	struct rotor_store_ref ref = rotor_engine_store_ref(c->m);
	memset(&prev, 0, sizeof(prev));
	int rc = find_secret(c, id, &prev, err);
	if (!rc) {
		memset(&current, 0, sizeof(current));
		current.has_akid = current.has_secret = 1;
		current.akid_version = c->obs->store_akid_version;
		current.secret_version = c->obs->store_secret_version;
		rc = c->store->ops->write_pair(c->store->ctx, &ref, id, prev.secret, &current,
		                               &written, err);
	}
	rotor_store_pair_dispose(&prev);
	if (rc) {
		/* Nothing restored: the key this pass reactivated goes back. */
		struct rotor_error uerr;
		if (c->reactivated && AWS(c->aws, update_access_key, c->m->user, id, 0, &uerr) == 0)
			rotor_engine_audit(c, "rollback-undo-reactivate", id, NULL, 0, NULL);
		return rc;
	}
	/* From here the pass works with the restored pair. */
	snprintf(c->new_id, sizeof(c->new_id), "%s", id);
	rotor_engine_take_written(c, &written);
	return 0;
}

int rotor_engine_suspend(struct apply_ctx *c, struct rotor_error *err)
{
	char note[128], ts[32];
	rotor_time_format(ts, sizeof(ts), rotor_engine_now(c->e));
	snprintf(note, sizeof(note), "v1 by=rollback at=%s", ts);
	struct rotor_tag t = {ROTOR_TAG_SUSPENDED, note};
	return AWS(c->aws, tag_user, c->m->user, &t, 1, err);
}

/* `rotor rollback NAME`: observe with the store's history, plan (the
 * planner decides every step or the refusal), apply. */
int rotor_engine_rollback(struct rotor_engine *e, const struct rotor_manifest *m, FILE *show,
                          struct rotor_error *err)
{
	struct rotor_observed *obs = calloc(1, sizeof(*obs));
	struct rotor_manifest_plan *plan = calloc(1, sizeof(*plan));
	struct rotor_engine_state st;
	int applied = 0, rc;
	memset(&st, 0, sizeof(st));
	if (!obs || !plan) {
		free(obs);
		free(plan);
		return rotor_error_set(err, ROTOR_ENOMEM, "%s: rollback: out of memory", m->name);
	}
	rc = rotor_engine_observe(e, m, obs, &st, err);
	if (!rc) {
		obs->rollback = 1;
		if (obs->iam_known && obs->store_known && obs->store_has_akid)
			observe_history(e, m, obs);
		int64_t now = rotor_engine_now(e);
		rotor_plan_compute(m, obs, now, plan);
		if (show && rotor_plan_applies(plan)) {
			struct rotor_plan_render r = {ROTOR_PLAN_TEXT, 0, now, e->opts.revision};
			rotor_plan_render(show, plan, 1, obs, &r);
			fflush(show);
		}
		if (plan->observe_only)
			rc = rotor_error_set(
			    err, ROTOR_EINVALID,
			    "cannot roll back: spec.mode is observe, so rotor never "
			    "changes %s (the plan would be: %s)",
			    m->user, plan->status_reason);
		else if (!rotor_plan_applies(plan))
			rc = rotor_error_set(err, ROTOR_EINVALID, "%s%s",
			                     strncmp(plan->status_reason, "cannot roll back", 16) ==
			                             0
			                         ? ""
			                         : "cannot roll back: ",
			                     plan->status_reason);
		else
			rc = rotor_engine_apply(e, m, plan, obs, &st, NULL, &applied, err);
	}
	if (rc && applied == 0) {
		char why[sizeof(err->message)];
		snprintf(why, sizeof(why), "%s", err->message);
		rotor_error_set(
		    err, rc,
		    "%s; nothing was changed. To restore by hand, put a working key "
		    "pair of %s into the store (%s and %s in %s) and run `rotor apply`: "
		    "rotor propagates the stored pair to the consumers",
		    why, m->user, m->store.akid_name, m->store.secret_name, m->store.secret_path);
	}
	if (rc && strncmp(err->message, m->name, strlen(m->name)) != 0)
		rotor_error_prefix(err, "%s: rollback", m->name);
	rotor_engine_state_dispose(&st);
	free(obs);
	free(plan);
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
	int rc = rotor_engine_aws_take(e, m->aws, &c.aws, err);
	if (!rc)
		rc = AWS(c.aws, list_user_tags, m->user, &tags, err);
	if (!rc) {
		for (size_t i = 0; i < tags.n; i++)
			*was_suspended |= strcmp(tags.items[i].key, ROTOR_TAG_SUSPENDED) == 0;
		rotor_tags_dispose(&tags);
	}
	if (!rc && *was_suspended) {
		rc = rotor_engine_untag(&c, ROTOR_TAG_SUSPENDED, err);
		rotor_engine_audit(&c, "resume", NULL, NULL, 0, rc ? err : NULL);
	}
	rotor_engine_aws_give(e, c.aws);
	if (rc)
		rotor_error_prefix(err, "%s: resume", m->name);
	return rc;
}
