/*
 * reconcile.h: one reconcile of one manifest — lock, observe, plan, apply —
 * the library function every caller uses: the CLI commands (plan, apply,
 * status, rotate) and, later, the controller's workers. Nothing about a
 * pass is decided by the caller: which observation failures make the pass
 * fail, the --max-deletions budget, the gate that says whether a plan is
 * applied, the user's lock.
 *
 * A caller plans first (rotor_reconcile_plan), may show the plan, then
 * applies it (rotor_reconcile_apply), or does both at once
 * (rotor_reconcile_one). The user's lock, when asked for, is held from
 * before the observation until rotor_reconcile_dispose.
 *
 * Thread rules: a struct rotor_reconcile belongs to one thread. The
 * deletion budget is shared by every manifest of a pass and locked inside.
 * One engine may serve every worker (rotor/engine.h).
 */
#ifndef ROTOR_RECONCILE_H
#define ROTOR_RECONCILE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "rotor/engine.h"
#include "rotor/error.h"
#include "rotor/lock.h"
#include "rotor/manifest.h"
#include "rotor/observed.h"
#include "rotor/plan.h"

/* --max-deletions across a pass: reserved plan by plan, in the order plans
 * are made (the CLI plans in manifest order). */
struct rotor_deletion_budget {
	pthread_mutex_t lock; /* guards used */
	int max;
	int used;
};
void rotor_deletion_budget_init(struct rotor_deletion_budget *b, int max);
void rotor_deletion_budget_dispose(struct rotor_deletion_budget *b);
/* Takes plan's deletions from the budget, cutting the plan before the first
 * one past it (rotor_plan_limit_one); any thread. Returns those kept. */
int rotor_deletion_budget_take(struct rotor_deletion_budget *b, struct rotor_manifest_plan *plan);

struct rotor_reconcile_options {
	int rotate_now;        /* `rotor rotate NAME` */
	const char *state_dir; /* take the user's lock under it; NULL: no lock (plan, status) */
	const char *command;   /* for the lock holder's note */
	int64_t lock_wait_ms;  /* how long to wait for another holder */
	struct rotor_deletion_budget *budget; /* NULL: no limit */
};

/* One manifest's reconcile. The caller provides the storage (obs, state,
 * plan may be elements of the caller's arrays, for the renderers). */
struct rotor_reconcile {
	const struct rotor_manifest *manifest; /* borrowed; outlives this */
	struct rotor_observed *obs;
	struct rotor_engine_state *state;
	struct rotor_manifest_plan *plan;
	struct rotor_user_lock *lock; /* held until rotor_reconcile_dispose */
	/* IAM, the store or a part of the observation could not be read, or
	 * the user's lock could not be had: the plan is Unknown (or misses
	 * that part) and the pass must not report success. */
	int observe_failed;
	char observe_error[ROTOR_ERROR_MSG_MAX];
	int applied;    /* actions applied by rotor_reconcile_apply */
	FILE *progress; /* where apply writes its lines; NULL: the engine's */
};

/* Sets up rec over the caller's storage; nothing is read yet. */
void rotor_reconcile_init(struct rotor_reconcile *rec, const struct rotor_manifest *m,
                          struct rotor_observed *obs, struct rotor_engine_state *state,
                          struct rotor_manifest_plan *plan);

/* Takes the user's lock when opts asks for one (state_dir set) and rec
 * does not hold it yet; rotor_reconcile_plan calls it, and so do callers
 * that mutate without a plan of their own (rollback, resume). */
int rotor_reconcile_lock(struct rotor_reconcile *rec, const struct rotor_reconcile_options *opts,
                         struct rotor_error *err);

/* Locks (if asked), observes (unless spec.suspend), plans as of now and
 * takes the plan's deletions from the budget. Failures of the observation
 * are recorded in rec (observe_failed) and logged, not returned: the plan
 * says what could not be read. */
void rotor_reconcile_plan(struct rotor_engine *e, struct rotor_reconcile *rec, int64_t now,
                          const struct rotor_reconcile_options *opts);

/* Applies rec's plan when rotor_plan_applies says so. 0, or the first
 * action's failure (prefixed with the manifest's name). */
int rotor_reconcile_apply(struct rotor_engine *e, struct rotor_reconcile *rec,
                          struct rotor_error *err);

/* Both, for callers that show nothing in between (the controller). */
int rotor_reconcile_one(struct rotor_engine *e, struct rotor_reconcile *rec, int64_t now,
                        const struct rotor_reconcile_options *opts, struct rotor_error *err);

/* Releases the lock and wipes the state's secrets; the storage stays the
 * caller's. */
void rotor_reconcile_dispose(struct rotor_reconcile *rec);

#endif
