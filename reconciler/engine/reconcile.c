/* reconcile.c: lock → observe → plan → apply for one manifest (see
 * rotor/reconcile.h). */
#include "rotor/reconcile.h"

#include <stdio.h>
#include <string.h>

#include "rotor/log.h"

void rotor_deletion_budget_init(struct rotor_deletion_budget *b, int max)
{
	pthread_mutex_init(&b->lock, NULL);
	b->max = max;
	b->used = 0;
}

void rotor_deletion_budget_dispose(struct rotor_deletion_budget *b)
{
	pthread_mutex_destroy(&b->lock);
}

int rotor_deletion_budget_take(struct rotor_deletion_budget *b, struct rotor_manifest_plan *plan)
{
	pthread_mutex_lock(&b->lock);
	int kept = rotor_plan_limit_one(plan, b->max, &b->used);
	pthread_mutex_unlock(&b->lock);
	return kept;
}

void rotor_reconcile_init(struct rotor_reconcile *rec, const struct rotor_manifest *m,
                          struct rotor_observed *obs, struct rotor_engine_state *state,
                          struct rotor_manifest_plan *plan)
{
	memset(rec, 0, sizeof(*rec));
	memset(obs, 0, sizeof(*obs));
	memset(state, 0, sizeof(*state));
	memset(plan, 0, sizeof(*plan));
	rec->manifest = m;
	rec->obs = obs;
	rec->state = state;
	rec->plan = plan;
}

static void observe_failed(struct rotor_reconcile *rec, const char *why)
{
	rec->observe_failed = 1;
	snprintf(rec->observe_error, sizeof(rec->observe_error), "%s", why);
	rotor_log(ROTOR_LOG_ERROR, rec->manifest->name, "%s", why);
}

int rotor_reconcile_lock(struct rotor_reconcile *rec, const struct rotor_reconcile_options *opts,
                         struct rotor_error *err)
{
	const struct rotor_manifest *m = rec->manifest;
	if (!opts->state_dir || rec->lock)
		return 0;
	return rotor_user_lock_acquire(&rec->lock, opts->state_dir, m->aws, m->user, opts->command,
	                               opts->lock_wait_ms, NULL, err);
}

void rotor_reconcile_plan(struct rotor_engine *e, struct rotor_reconcile *rec, int64_t now,
                          const struct rotor_reconcile_options *opts)
{
	const struct rotor_manifest *m = rec->manifest;
	struct rotor_observed *o = rec->obs;
	struct rotor_error err;
	rotor_error_clear(&err);
	o->rotate_now = opts->rotate_now;
	/* spec.suspend: skip the manifest entirely, not even a read. */
	if (!m->suspend) {
		/* One mutator per user: the lock is held from this observation
		 * until the pass ends, so nothing another local rotor does can
		 * fall between what this pass sees and what it does. */
		if (rotor_reconcile_lock(rec, opts, &err) != 0) {
			/* held by another rotor: retried as such; any other lock
			 * failure (the state directory unwritable) is an error */
			if (err.code == ROTOR_ECONFLICT)
				snprintf(o->held_by, sizeof(o->held_by), "%s", err.message);
			observe_failed(rec, err.message);
		} else if (rotor_engine_observe(e, m, o, rec->state, &err) != 0) {
			observe_failed(rec, err.message);
		} else if (o->problem[0]) {
			/* a part failed to load (a last-use read, a consumer): the
			 * plan treats it as unknown; the pass reports it */
			observe_failed(rec, o->problem);
		} else if (!o->iam_known || !o->store_known) {
			/* NoSuchEntity, AccessDenied, a network failure: the plan is
			 * Unknown, and the pass must not exit 0 over it */
			observe_failed(rec, !o->iam_known ? o->iam_error : o->store_error);
		}
	}
	rotor_plan_compute(m, o, now, rec->plan);
	if (opts->budget)
		rotor_deletion_budget_take(opts->budget, rec->plan);
}

int rotor_reconcile_apply(struct rotor_engine *e, struct rotor_reconcile *rec,
                          struct rotor_error *err)
{
	rec->applied = 0;
	if (!rotor_plan_applies(rec->plan))
		return 0;
	return rotor_engine_apply(e, rec->manifest, rec->plan, rec->obs, rec->state, rec->progress,
	                          &rec->applied, err);
}

int rotor_reconcile_one(struct rotor_engine *e, struct rotor_reconcile *rec, int64_t now,
                        const struct rotor_reconcile_options *opts, struct rotor_error *err)
{
	rotor_reconcile_plan(e, rec, now, opts);
	return rotor_reconcile_apply(e, rec, err);
}

void rotor_reconcile_dispose(struct rotor_reconcile *rec)
{
	if (rec->state)
		rotor_engine_state_dispose(rec->state);
	rotor_user_lock_release(rec->lock);
	rec->lock = NULL;
}
