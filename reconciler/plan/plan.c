/*
 * plan.c: plan = compute(desired, observed, now). Pure: no clock, no I/O,
 * no globals; every rule of the contract's §3–§5b is decided here.
 *
 * The order of reasoning, which is also the order of the actions:
 *   1. refuse to decide on what could not be observed (unknown ≠ absent);
 *   2. classify the keys: current (the store holds it), predecessor (older),
 *      stray (newer than current but not stored, or rotor's interrupted
 *      attempt), legacy (the store holds no live key: the old key an
 *      adoption or heal replaces);
 *   3. an Active stray that was used stalls the manifest (an unknown party
 *      holds a working credential); a never-used stray is deleted; a used
 *      Inactive stray is no working credential and leaves after deleteAfter
 *      like any Inactive key;
 *   4. is a rotation due (cadence, request, heal)? if so, make room under
 *      the two-key limit (delete an Inactive old key whose window is over,
 *      or cut the window when the rotation was requested explicitly), then
 *      record intent, create, validate, store, propagate, record sync; with
 *      no room it waits, or stalls when only a human can make room;
 *   5. otherwise keep consumers in sync, deactivate the predecessor once
 *      every consumer has held the current key for deactivateAfter and it
 *      was not used since, and delete Inactive keys after deleteAfter.
 * A key the store holds is never deactivated or deleted, an Active key is
 * never deleted unless it is a never-used stray, and nothing is created
 * while two keys exist.
 */
#include "rotor/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/timefmt.h"

static const char *const action_names[ROTOR_ACT__COUNT] = {
    "delete-stray",   "delete",          "record-intent", "create",
    "validate",       "store",           "propagate",     "record-sync",
    "deactivate",     "record-inactive", "forget-record", "rollback-reactivate",
    "rollback-store", "suspend",
};

const char *rotor_action_name(enum rotor_action_kind kind)
{
	return kind < ROTOR_ACT__COUNT ? action_names[kind] : "?";
}

int rotor_plan_applies(const struct rotor_manifest_plan *p)
{
	return p->nactions > 0 && !p->observe_only && p->status != ROTOR_STATUS_SUSPENDED &&
	       p->status != ROTOR_STATUS_UNKNOWN;
}

int rotor_action_mutates(enum rotor_action_kind kind)
{
	return kind != ROTOR_ACT_VALIDATE;
}

const char *rotor_status_name(enum rotor_status s)
{
	switch (s) {
	case ROTOR_STATUS_READY:
		return "Ready";
	case ROTOR_STATUS_RECONCILING:
		return "Reconciling";
	case ROTOR_STATUS_WAITING:
		return "Waiting";
	case ROTOR_STATUS_STALLED:
		return "Stalled";
	case ROTOR_STATUS_SUSPENDED:
		return "Suspended";
	default:
		return "Unknown";
	}
}

const char *rotor_role_name(enum rotor_key_role r)
{
	switch (r) {
	case ROTOR_ROLE_CURRENT:
		return "current";
	case ROTOR_ROLE_PREDECESSOR:
		return "predecessor";
	case ROTOR_ROLE_STRAY:
		return "stray";
	default:
		return "legacy";
	}
}

/* ---- small helpers ---------------------------------------------------- */

static void fmt_time(char *buf, size_t len, int64_t t)
{
	rotor_time_format(buf, len, t);
}

static void fmt_dur(char *buf, size_t len, int64_t s)
{
	rotor_duration_human(buf, len, s);
}

static struct rotor_action *add(struct rotor_manifest_plan *p, enum rotor_action_kind kind,
                                const char *key_id, int consumer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static struct rotor_action *add(struct rotor_manifest_plan *p, enum rotor_action_kind kind,
                                const char *key_id, int consumer, const char *fmt, ...)
{
	if (p->nactions >= ROTOR_PLAN_MAX_ACTIONS)
		return NULL;
	struct rotor_action *a = &p->actions[p->nactions++];
	va_list ap;
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->consumer = consumer;
	snprintf(a->key_id, sizeof(a->key_id), "%s", key_id ? key_id : "");
	va_start(ap, fmt);
	vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
	va_end(ap);
	return a;
}

static void forecast(struct rotor_manifest_plan *p, enum rotor_forecast_kind kind, int64_t at,
                     const char *key_id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void forecast(struct rotor_manifest_plan *p, enum rotor_forecast_kind kind, int64_t at,
                     const char *key_id, const char *fmt, ...)
{
	if (p->nforecast >= ROTOR_PLAN_MAX_FORECAST)
		return;
	struct rotor_forecast *f = &p->forecast[p->nforecast++];
	va_list ap;
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->at = at;
	snprintf(f->key_id, sizeof(f->key_id), "%s", key_id ? key_id : "");
	va_start(ap, fmt);
	vsnprintf(f->note, sizeof(f->note), fmt, ap);
	va_end(ap);
}

static void set_status(struct rotor_manifest_plan *p, enum rotor_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_status(struct rotor_manifest_plan *p, enum rotor_status s, const char *fmt, ...)
{
	va_list ap;
	p->status = s;
	va_start(ap, fmt);
	vsnprintf(p->status_reason, sizeof(p->status_reason), fmt, ap);
	va_end(ap);
}

/* ---- classification ---------------------------------------------------- */

struct keyview {
	int current;                           /* index or -1 */
	int stray[ROTOR_OBS_MAX_KEYS], nstray; /* Active, or never used: plan_strays */
	int old[ROTOR_OBS_MAX_KEYS], nold;     /* predecessors, legacy keys, used Inactive strays */
};

/* A key rotor itself created whose pair never reached the store: the
 * crash window between CreateAccessKey and the store write. Recognised by
 * the intent recorded before CreateAccessKey, or by rotor's own record. A
 * key whose record says rotor stored or synced it is never one: a stale
 * intent (its removal after the store write failed) must not turn a key
 * the consumers hold into a deletable stray. */
static int interrupted_attempt(const struct rotor_manifest *m, const struct rotor_observed *o,
                               const struct rotor_obs_key *k)
{
	if (k->record.present && (k->record.store_version || k->record.synced))
		return 0;
	if (o->intent_at && k->created >= o->intent_at)
		return 1;
	return k->record.present && k->record.created && strcmp(k->record.manifest, m->name) == 0;
}

/* rotor validates a new key with STS GetCallerIdentity before it stores
 * it, so an interrupted attempt that got as far as validation shows one
 * STS use right after its creation. Its secret only ever lived in the
 * crashed rotor's memory: that use was rotor's own, not a sign that an
 * unknown party holds the key. */
#define ROTOR_VALIDATION_WINDOW 300

static int used_only_by_validation(const struct rotor_manifest *m, const struct rotor_observed *o,
                                   const struct rotor_obs_key *k)
{
	return k->last_used && strcmp(k->last_service, "sts") == 0 &&
	       k->last_used <= k->created + ROTOR_VALIDATION_WINDOW && interrupted_attempt(m, o, k);
}

static void classify(const struct rotor_manifest *m, const struct rotor_observed *o,
                     struct keyview *v, struct rotor_manifest_plan *p)
{
	memset(v, 0, sizeof(*v));
	v->current = -1;
	if (o->store_has_akid)
		for (int i = 0; i < o->nkeys; i++)
			if (strcmp(o->keys[i].id, o->store_akid) == 0)
				v->current = i;
	for (int i = 0; i < o->nkeys; i++) {
		const struct rotor_obs_key *k = &o->keys[i];
		if (i == v->current) {
			p->roles[i] = ROTOR_ROLE_CURRENT;
			continue;
		}
		int stray;
		if (v->current >= 0)
			stray = k->created > o->keys[v->current].created ||
			        (k->created == o->keys[v->current].created &&
			         interrupted_attempt(m, o, k));
		else
			stray = interrupted_attempt(m, o, k);
		if (stray) {
			p->roles[i] = ROTOR_ROLE_STRAY;
			/* An Inactive stray is no working credential, whoever used
			 * it before (the key `rotor rollback` replaced, or a stray
			 * an operator deactivated as the Stalled status asked): it
			 * leaves like any Inactive key, after deleteAfter. Only a
			 * never-used one goes at once. */
			if (!k->active && (!k->last_used_known || k->last_used))
				v->old[v->nold++] = i;
			else
				v->stray[v->nstray++] = i;
		} else {
			p->roles[i] = v->current >= 0 ? ROTOR_ROLE_PREDECESSOR : ROTOR_ROLE_LEGACY;
			v->old[v->nold++] = i;
		}
	}
}

/* ---- what is due ----------------------------------------------------- */

/* Returns 1 when a rotation is due and says why; *explicit is 1 when it
 * was asked for (which may cut a deletion window short). */
static int rotation_due(const struct rotor_manifest *m, const struct rotor_observed *o,
                        const struct keyview *v, int64_t now, char *why, size_t len, int *explicit)
{
	char a[32], b[32];
	*explicit = 0;
	if (!o->store_has_akid && !o->store_has_secret) {
		snprintf(why, len, "the store holds no key yet (adopting %s)", m->user);
		return 1;
	}
	if (o->store_has_akid != o->store_has_secret) {
		snprintf(why, len, "the store holds only %s of the pair",
		         o->store_has_akid ? "the access key id" : "the secret");
		return 1;
	}
	if (v->current < 0) {
		snprintf(why, len, "the stored key %s no longer exists in IAM", o->store_akid);
		return 1;
	}
	const struct rotor_obs_key *c = &o->keys[v->current];
	if (!c->active) {
		snprintf(why, len, "the stored key %s is Inactive", c->id);
		return 1;
	}
	if (o->store_auth == 0) {
		snprintf(why, len, "the stored pair does not authenticate (%s)",
		         o->store_auth_detail[0] ? o->store_auth_detail : "rejected by STS");
		return 1;
	}
	if (o->rotate_now) {
		snprintf(why, len, "rotation requested (rotor rotate)");
		*explicit = 1;
		return 1;
	}
	if (m->rotate_requested_at && m->rotate_requested_at <= now &&
	    c->created < m->rotate_requested_at) {
		fmt_time(a, sizeof(a), m->rotate_requested_at);
		snprintf(why, len, "rotation requested at %s (spec.rotateRequestedAt)", a);
		*explicit = 1;
		return 1;
	}
	if (now - c->created >= m->cadence) {
		fmt_dur(a, sizeof(a), now - c->created);
		rotor_duration_format(b, sizeof(b), m->cadence);
		snprintf(why, len, "%s is %s old (cadence %s)", c->id, a, b);
		return 1;
	}
	return 0;
}

/* ---- the plan ----------------------------------------------------------- */

static void last_use(char *buf, size_t len, const struct rotor_obs_key *k)
{
	char t[32];
	if (!k->last_used) {
		snprintf(buf, len, "never used");
		return;
	}
	fmt_time(t, sizeof(t), k->last_used);
	snprintf(buf, len, "last used %s by %s in %s", t,
	         k->last_service[0] ? k->last_service : "?",
	         k->last_region[0] ? k->last_region : "?");
}

static int consumers_state(const struct rotor_observed *o, int *drifted, int *unknown)
{
	*drifted = *unknown = 0;
	for (int i = 0; i < o->nconsumers; i++) {
		if (o->consumers[i].state == ROTOR_CONSUMER_UNKNOWN)
			(*unknown)++;
		else if (o->consumers[i].state == ROTOR_CONSUMER_DRIFTED)
			(*drifted)++;
	}
	return *drifted == 0 && *unknown == 0;
}

/* Stray keys: a used one stalls everything; never-used ones are deleted.
 * Returns 1 when the manifest is stalled or undecidable. */
static int plan_strays(const struct rotor_manifest *m, const struct rotor_observed *o,
                       const struct keyview *v, struct rotor_manifest_plan *p)
{
	char used[160], created[32];
	for (int s = 0; s < v->nstray; s++) {
		const struct rotor_obs_key *k = &o->keys[v->stray[s]];
		if (!k->last_used_known) {
			set_status(p, ROTOR_STATUS_UNKNOWN,
			           "stray key %s: its last use could not be read, so rotor cannot "
			           "tell whether someone holds it; nothing changes until it can",
			           k->id);
			p->nactions = 0;
			return 1;
		}
		if (k->last_used && !used_only_by_validation(m, o, k)) {
			last_use(used, sizeof(used), k);
			set_status(p, ROTOR_STATUS_STALLED,
			           "stray key %s is not in the store but was %s: an unknown party "
			           "holds a working credential for %s. rotor changes nothing for "
			           "this user until you resolve it: if it belongs to a consumer, "
			           "switch that consumer to the store's key; then deactivate %s by "
			           "hand (aws iam update-access-key --user-name %s --access-key-id "
			           "%s --status Inactive)",
			           k->id, used, m->user, k->id, m->user, k->id);
			p->nactions = 0;
			return 1;
		}
	}
	for (int s = 0; s < v->nstray; s++) {
		const struct rotor_obs_key *k = &o->keys[v->stray[s]];
		fmt_time(created, sizeof(created), k->created);
		add(p, ROTOR_ACT_DELETE_STRAY, k->id, -1,
		    "stray key %s (created %s, %s, not in the store): %s", k->id, created,
		    k->last_used ? "used only by rotor's own validation" : "never used",
		    interrupted_attempt(m, o, k) ? "left by an interrupted rotation"
		                                 : "created outside rotor and never used");
	}
	return 0;
}

/* Room under the two-key limit for a rotation. Returns 1 when the plan may
 * create a key now: the keys left after this plan's deletions are fewer
 * than two. Only Inactive old keys may go to make room, each once its
 * deleteAfter window is over or, for an explicit request, at once (said so
 * in the reason). When there is no room the deletions are taken back (the
 * steady plan deletes what is due by itself) and the status says what the
 * rotation waits for: Waiting when rotor will make the room itself,
 * Stalled when only a human can. */
static int make_room(const struct rotor_manifest *m, const struct rotor_observed *o,
                     const struct keyview *v, int explicit, int64_t now,
                     struct rotor_manifest_plan *p)
{
	int remaining = o->nkeys - v->nstray; /* never-used strays are deleted first */
	int first = p->nactions;
	const struct rotor_obs_key *in_window = NULL, *active = NULL;
	int64_t window_end = 0;
	char a[32], b[32];
	for (int i = 0; i < v->nold && remaining >= 2; i++) {
		const struct rotor_obs_key *k = &o->keys[v->old[i]];
		if (k->active) {
			if (!active)
				active = k;
			continue;
		}
		int64_t since = k->record.inactive;
		int64_t end = (since ? since : now) + m->delete_after;
		if (since && now >= end) {
			fmt_time(a, sizeof(a), since);
			rotor_duration_format(b, sizeof(b), m->delete_after);
			add(p, ROTOR_ACT_DELETE, k->id, -1,
			    "make room: %s has been Inactive since %s (deleteAfter %s elapsed)",
			    k->id, a, b);
		} else if (explicit) {
			fmt_time(a, sizeof(a), end);
			add(p, ROTOR_ACT_DELETE, k->id, -1,
			    "make room: deleting Inactive %s early because the rotation was "
			    "requested explicitly (its deleteAfter window would end %s)",
			    k->id, a);
		} else {
			if (!in_window || end < window_end) {
				in_window = k;
				window_end = end;
			}
			continue;
		}
		remaining--;
	}
	if (remaining < 2)
		return 1;
	p->nactions = first;
	if (in_window) {
		fmt_time(a, sizeof(a), window_end);
		set_status(p, ROTOR_STATUS_WAITING,
		           "rotation due (%s) but the user has 2 keys: Inactive %s is inside its "
		           "deleteAfter window until %s (`rotor rotate %s` cuts it short)",
		           p->due_reason, in_window->id, a, m->name);
		return 0;
	}
	const struct rotor_obs_key *cur = v->current >= 0 ? &o->keys[v->current] : NULL;
	const char *k = active ? active->id : "the other key";
	if (cur && cur->active && o->store_has_akid && o->store_has_secret && o->store_auth != 0) {
		set_status(
		    p, ROTOR_STATUS_WAITING,
		    "rotation due (%s) but the user has 2 keys and %s is still Active: it is "
		    "deactivated once every consumer holds the current key and it is unused, "
		    "then deleted after deleteAfter",
		    p->due_reason, k);
		return 0;
	}
	/* rotor deactivates an old key only once every consumer holds a
	 * working stored key; here the store has none, so it never will. */
	set_status(
	    p, ROTOR_STATUS_STALLED,
	    "rotation due (%s) but the user has 2 keys and %s is Active: rotor will not "
	    "deactivate it while the store holds no working key. Either put a working pair "
	    "of this user in the store, or deactivate %s by hand once nothing uses it (aws iam "
	    "update-access-key --user-name %s --access-key-id %s --status Inactive); rotor "
	    "then deletes it after deleteAfter (`rotor rotate %s` cuts that short) and "
	    "rotates",
	    p->due_reason, k, k, m->user, k, m->name);
	return 0;
}

/* The key a rotation replaces: the one left besides the new key once this
 * plan's deletions are done (none when the user had no key). */
static const struct rotor_obs_key *replaced_key(const struct rotor_observed *o,
                                                const struct keyview *v,
                                                const struct rotor_manifest_plan *p)
{
	for (int i = 0; i < o->nkeys; i++) {
		int gone = 0;
		for (int s = 0; s < v->nstray; s++)
			gone |= v->stray[s] == i;
		for (int a = 0; a < p->nactions; a++)
			gone |= p->actions[a].kind == ROTOR_ACT_DELETE &&
			        strcmp(p->actions[a].key_id, o->keys[i].id) == 0;
		if (!gone)
			return &o->keys[i];
	}
	return NULL;
}

static void plan_rotation(const struct rotor_manifest *m, const struct rotor_observed *o,
                          const struct keyview *v, int64_t now, struct rotor_manifest_plan *p)
{
	char a[32], b[32];
	int unknown = 0;
	const struct rotor_obs_key *old = replaced_key(o, v, p);
	add(p, ROTOR_ACT_RECORD_INTENT, NULL, -1,
	    "record on %s that rotor is creating a key, so a crash leaves a recognisable key",
	    m->user);
	add(p, ROTOR_ACT_CREATE, NULL, -1, "create a new access key for %s: %s", m->user,
	    p->due_reason);
	add(p, ROTOR_ACT_VALIDATE, NULL, -1,
	    "check with STS that the new key authenticates as %s (retried up to 2 minutes while "
	    "IAM propagates it); delete it if it never does",
	    m->user);
	if (o->store_has_akid != o->store_has_secret)
		/* a half pair: a store without an upsert batch (Infisical's v3
		 * routes) creates the missing name first, then writes the pair */
		add(p, ROTOR_ACT_STORE, NULL, -1,
		    "write %s and %s to the store and read them back (it holds only %s: the "
		    "missing name may take a request of its own; the half pair could not "
		    "authenticate before either)",
		    m->store.akid_name, m->store.secret_name,
		    o->store_has_akid ? m->store.akid_name : m->store.secret_name);
	else
		add(p, ROTOR_ACT_STORE, NULL, -1,
		    "write %s and %s to the store in one request and read them back (the "
		    "previous version keeps the old pair)",
		    m->store.akid_name, m->store.secret_name);
	for (int i = 0; (size_t)i < m->nconsumers && i < o->nconsumers; i++) {
		const struct rotor_consumer *c = &m->consumers[i];
		if (o->consumers[i].state == ROTOR_CONSUMER_UNKNOWN) {
			unknown++;
			continue;
		}
		add(p, ROTOR_ACT_PROPAGATE, NULL, i, "give the new pair to consumer %s (%s)",
		    c->name, rotor_consumer_kind_name(c->kind));
	}
	if (!unknown)
		add(p, ROTOR_ACT_RECORD_SYNC, NULL, -1,
		    "record that every consumer holds the new key (starts the deactivateAfter "
		    "grace)");
	p->rotation_due = 1;
	rotor_duration_format(b, sizeof(b), m->cadence);
	forecast(p, ROTOR_FC_ROTATE, now + m->cadence, NULL, "when it is %s old (cadence)", b);
	if (old && old->active && !unknown) {
		fmt_time(a, sizeof(a), now);
		forecast(p, ROTOR_FC_DEACTIVATE, now + m->deactivate_after, old->id,
		         "if not used after %s, when every consumer has the new key", a);
		rotor_duration_format(b, sizeof(b), m->delete_after);
		forecast(p, ROTOR_FC_DELETE, now + m->deactivate_after + m->delete_after, old->id,
		         "deleteAfter %s after its deactivation", b);
	} else if (old && !old->active) {
		/* deleted by a later pass; its window may be over already */
		int64_t at = (old->record.inactive ? old->record.inactive : now) + m->delete_after;
		rotor_duration_format(b, sizeof(b), m->delete_after);
		forecast(p, ROTOR_FC_DELETE, at > now ? at : now, old->id,
		         "deleteAfter %s after it became Inactive", b);
	}
}

/* A rotation that is due but has no room runs when the blocking key is
 * gone: at its deletion, or for an Active predecessor deleteAfter after
 * its deactivation (at once after it when the request was explicit, which
 * cuts the window). With neither date known it is due now and waits for
 * what the status names. Never a date in the past. */
static void forecast_blocked_rotation(const struct rotor_manifest *m,
                                      const struct rotor_obs_key *cur, int explicit, int64_t now,
                                      struct rotor_manifest_plan *p)
{
	int64_t at = 0;
	for (int i = 0; i < p->nforecast; i++) {
		const struct rotor_forecast *f = &p->forecast[i];
		int64_t t = f->kind == ROTOR_FC_DELETE ? f->at
		            : f->kind == ROTOR_FC_DEACTIVATE
		                ? f->at + (explicit ? 0 : m->delete_after)
		                : 0;
		if (t && (!at || t < at))
			at = t;
	}
	for (int i = 0; explicit && i < p->nactions; i++)
		if (p->actions[i].kind == ROTOR_ACT_DEACTIVATE)
			at = now; /* the next pass cuts the window it starts */
	if (at < now)
		at = now;
	forecast(p, ROTOR_FC_ROTATE, at, cur ? cur->id : NULL, "due now (%s); runs %s",
	         p->due_reason,
	         at > now ? "once the old key is gone" : "when there is room (see status)");
}

/* Not rotating: keep consumers in sync, deactivate, delete. Returns the
 * reason a later step waits for, in `waiting`. A rotation that is due but
 * found no room (p->due_reason set) is forecast for when it can run. */
static void plan_steady(const struct rotor_manifest *m, const struct rotor_observed *o,
                        const struct keyview *v, int explicit, int64_t now,
                        struct rotor_manifest_plan *p, char *waiting, size_t wlen)
{
	char a[32], b[64], used[160];
	int drifted, unknown;
	int synced_all = consumers_state(o, &drifted, &unknown);
	const struct rotor_obs_key *cur = v->current >= 0 ? &o->keys[v->current] : NULL;
	int healthy =
	    cur && cur->active && o->store_has_akid && o->store_has_secret && o->store_auth != 0;
	int propagated = 0;
	if (healthy) {
		for (int i = 0; (size_t)i < m->nconsumers && i < o->nconsumers; i++) {
			if (o->consumers[i].state != ROTOR_CONSUMER_DRIFTED)
				continue;
			add(p, ROTOR_ACT_PROPAGATE, cur->id, i,
			    "consumer %s does not hold the store's pair (%s): rewrite it",
			    m->consumers[i].name,
			    o->consumers[i].detail[0] ? o->consumers[i].detail : "drifted");
			propagated++;
		}
		if (!unknown && (propagated || !cur->record.synced))
			add(p, ROTOR_ACT_RECORD_SYNC, cur->id, -1,
			    "record that every consumer holds %s since now (%s)", cur->id,
			    propagated ? "a consumer was rewritten: the grace restarts"
			               : "no record yet");
	}
	int64_t synced = (healthy && synced_all && !propagated) ? cur->record.synced : 0;
	for (int i = 0; i < v->nold; i++) {
		const struct rotor_obs_key *k = &o->keys[v->old[i]];
		if (k->active) {
			if (!cur) {
				continue; /* legacy key: replaced by the heal rotation first */
			}
			if (unknown) {
				snprintf(waiting, wlen,
				         "%s stays Active: %d consumer%s could not be observed",
				         k->id, unknown, unknown == 1 ? "" : "s");
				continue;
			}
			if (!synced) {
				snprintf(waiting, wlen,
				         "%s stays Active until every consumer holds %s", k->id,
				         cur->id);
				continue;
			}
			if (now < synced + m->deactivate_after) {
				fmt_time(a, sizeof(a), synced);
				forecast(p, ROTOR_FC_DEACTIVATE, synced + m->deactivate_after,
				         k->id, "if not used after %s, when every consumer held %s",
				         a, cur->id);
				fmt_time(b, sizeof(b), synced + m->deactivate_after);
				snprintf(waiting, wlen,
				         "deactivateAfter grace: %s is deactivated at %s "
				         "if unused",
				         k->id, b);
				continue;
			}
			if (!k->last_used_known) {
				snprintf(waiting, wlen,
				         "%s stays Active: its last use could not be read", k->id);
				continue;
			}
			if (k->last_used > synced) {
				p->held_use = 1;
				last_use(used, sizeof(used), k);
				fmt_time(a, sizeof(a), synced);
				set_status(
				    p, ROTOR_STATUS_STALLED,
				    "%s (the predecessor) was %s, after every consumer switched "
				    "to %s at %s: a consumer was missed. Find who uses it, give "
				    "them the store's key, then deactivate %s by hand; rotor "
				    "deletes it after deleteAfter",
				    k->id, used, cur->id, a, k->id);
				continue;
			}
			last_use(used, sizeof(used), k);
			fmt_time(a, sizeof(a), synced);
			rotor_duration_format(b, sizeof(b), m->deactivate_after);
			add(p, ROTOR_ACT_DEACTIVATE, k->id, -1,
			    "every consumer holds %s since %s (deactivateAfter %s elapsed) and %s "
			    "was not used since (%s)",
			    cur->id, a, b, k->id, used);
			rotor_duration_format(b, sizeof(b), m->delete_after);
			forecast(p, ROTOR_FC_DELETE, now + m->delete_after, k->id,
			         "deleteAfter %s after it is deactivated now", b);
			continue;
		}
		/* Inactive old key: delete after its window. */
		if (!k->record.inactive) {
			add(p, ROTOR_ACT_RECORD_INACTIVE, k->id, -1,
			    "%s is Inactive but rotor has no record of since when: its deleteAfter "
			    "window starts now",
			    k->id);
			rotor_duration_format(b, sizeof(b), m->delete_after);
			forecast(p, ROTOR_FC_DELETE, now + m->delete_after, k->id,
			         "deleteAfter %s from now: when it became Inactive is not recorded",
			         b);
			continue;
		}
		if (now >= k->record.inactive + m->delete_after) {
			fmt_time(a, sizeof(a), k->record.inactive);
			rotor_duration_format(b, sizeof(b), m->delete_after);
			add(p, ROTOR_ACT_DELETE, k->id, -1,
			    "%s has been Inactive since %s (deleteAfter %s elapsed)", k->id, a, b);
			continue;
		}
		fmt_time(a, sizeof(a), k->record.inactive);
		rotor_duration_format(b, sizeof(b), m->delete_after);
		forecast(p, ROTOR_FC_DELETE, k->record.inactive + m->delete_after, k->id,
		         "deleteAfter %s after it became Inactive at %s", b, a);
	}
	if (p->due_reason[0]) {
		forecast_blocked_rotation(m, cur, explicit, now, p);
	} else if (cur) {
		int64_t next = cur->created + m->cadence;
		rotor_duration_format(b, sizeof(b), m->cadence);
		if (m->rotate_requested_at > now && cur->created < m->rotate_requested_at &&
		    m->rotate_requested_at < next)
			forecast(p, ROTOR_FC_ROTATE, m->rotate_requested_at, cur->id,
			         "spec.rotateRequestedAt (before the cadence date)");
		else
			forecast(p, ROTOR_FC_ROTATE, next, cur->id, "when it is %s old (cadence)",
			         b);
	}
}

/* Acts only on a whole, plausible observation (issue 15): IAM allows two
 * keys, ids are unique, and every key's last use must be known, since
 * "unused" decides what may be deleted. Anything else (a confused or
 * hostile endpoint, a partial read) stalls the manifest with what was
 * seen; nothing is mutated. Returns 1 when it stalled. */
static int implausible(const struct rotor_manifest *m, const struct rotor_observed *o,
                       struct rotor_manifest_plan *p)
{
	char ids[160] = "";
	size_t used = 0;
	for (int i = 0; i < o->nkeys && used < sizeof(ids); i++) {
		int n = snprintf(ids + used, sizeof(ids) - used, "%s%s (%s)", i ? ", " : "",
		                 o->keys[i].id, o->keys[i].active ? "Active" : "Inactive");
		used += n > 0 ? (size_t)n : 0;
	}
	if (o->nkeys > 2) {
		set_status(p, ROTOR_STATUS_STALLED,
		           "IAM reports %d keys for %s, more than the 2 IAM allows: %s; rotor "
		           "changes nothing until a read shows at most 2 (check the endpoint of "
		           "connection %s)",
		           o->nkeys, m->user, ids, m->aws);
		return 1;
	}
	for (int i = 0; i < o->nkeys; i++)
		for (int j = i + 1; j < o->nkeys; j++)
			if (strcmp(o->keys[i].id, o->keys[j].id) == 0) {
				set_status(p, ROTOR_STATUS_STALLED,
				           "IAM lists key %s twice for %s (%s); rotor changes "
				           "nothing until a read lists each key once",
				           o->keys[i].id, m->user, ids);
				return 1;
			}
	for (int i = 0; i < o->nkeys; i++)
		if (!o->keys[i].last_used_known) {
			set_status(p, ROTOR_STATUS_STALLED,
			           "the last use of %s could not be read (%s): rotor changes "
			           "nothing for %s until it can (grant iam:GetAccessKeyLastUsed, "
			           "see docs/aws.md)",
			           o->keys[i].id, o->problem[0] ? o->problem : "no answer",
			           m->user);
			return 1;
		}
	return 0;
}

/* `rotor rollback NAME` (contract §7), decided here like every step:
 * reactivate the previous key if it is Inactive, restore its pair from the
 * store's history (the engine proves a secret with STS before it writes,
 * and undoes the reactivation if none authenticates), re-propagate,
 * deactivate the key it replaces, suspend. Refusals say why and change
 * nothing. */
static void plan_rollback(const struct rotor_manifest *m, const struct rotor_observed *o,
                          struct rotor_manifest_plan *p)
{
	const struct rotor_obs_key *prev = NULL, *cur = NULL;
	if (implausible(m, o, p))
		return;
	if (!o->store_has_akid || !o->store_has_secret) {
		set_status(p, ROTOR_STATUS_STALLED, "cannot roll back: the store holds no pair");
		return;
	}
	if (!o->rollback_history_known) {
		set_status(p, ROTOR_STATUS_UNKNOWN, "cannot roll back: %s", o->rollback_error);
		return;
	}
	if (!o->rollback_prev_akid[0]) {
		set_status(p, ROTOR_STATUS_STALLED,
		           "cannot roll back: the store's history holds no earlier key id than %s",
		           o->store_akid);
		return;
	}
	for (int i = 0; i < o->nkeys; i++) {
		if (strcmp(o->keys[i].id, o->rollback_prev_akid) == 0)
			prev = &o->keys[i];
		if (strcmp(o->keys[i].id, o->store_akid) == 0)
			cur = &o->keys[i];
	}
	if (!prev) {
		set_status(p, ROTOR_STATUS_STALLED,
		           "cannot roll back: the previous key %s no longer exists in IAM; roll "
		           "forward instead (rotor rotate %s)",
		           o->rollback_prev_akid, m->name);
		return;
	}
	if (!prev->active)
		add(p, ROTOR_ACT_ROLLBACK_REACTIVATE, prev->id, -1,
		    "make %s Active again: it is the key the store held before %s", prev->id,
		    o->store_akid);
	add(p, ROTOR_ACT_ROLLBACK_STORE, prev->id, -1,
	    "write %s's pair from the store's history as a new version, once STS proves a "
	    "secret authenticates with it (if none does, it is made Inactive again and "
	    "nothing else changes)",
	    prev->id);
	for (int i = 0; (size_t)i < m->nconsumers && i < o->nconsumers; i++)
		if (o->consumers[i].state != ROTOR_CONSUMER_UNKNOWN)
			add(p, ROTOR_ACT_PROPAGATE, NULL, i,
			    "give the restored pair to consumer %s (%s)", m->consumers[i].name,
			    rotor_consumer_kind_name(m->consumers[i].kind));
	if (cur && cur->active)
		add(p, ROTOR_ACT_DEACTIVATE, cur->id, -1,
		    "deactivate %s, the key the rollback replaces", cur->id);
	add(p, ROTOR_ACT_SUSPEND, NULL, -1,
	    "suspend %s until `rotor resume %s`: no pass rotates it back meanwhile", m->name,
	    m->name);
	set_status(p, ROTOR_STATUS_RECONCILING, "rollback to %s requested", prev->id);
}

static void compute_core(const struct rotor_manifest *m, const struct rotor_observed *o,
                         int64_t now, struct rotor_manifest_plan *p)
{
	struct keyview v;
	char waiting[320] = "";
	int explicit = 0;
	memset(p, 0, sizeof(*p));
	p->manifest = m;
	p->observe_only = m->mode == ROTOR_MODE_OBSERVE;
	if (m->suspend) {
		if (o->iam_known && o->store_known)
			classify(m, o, &v, p); /* roles for display only */
		set_status(p, ROTOR_STATUS_SUSPENDED,
		           "spec.suspend is true: rotor changes nothing for %s", m->user);
		return;
	}
	if (o->held_by[0]) {
		set_status(p, ROTOR_STATUS_UNKNOWN, "not observed: %s", o->held_by);
		return;
	}
	if (!o->iam_known) {
		set_status(p, ROTOR_STATUS_UNKNOWN, "could not read %s's keys: %s", m->user,
		           o->iam_error);
		return;
	}
	if (!o->store_known) {
		set_status(p, ROTOR_STATUS_UNKNOWN, "could not read the store: %s", o->store_error);
		return;
	}
	if (o->rollback && !o->suspended_by_rollback) {
		plan_rollback(m, o, p);
		return;
	}
	if (o->suspended_by_rollback) {
		if (o->iam_known && o->store_known)
			classify(m, o, &v, p); /* roles for display only */
		set_status(p, ROTOR_STATUS_SUSPENDED,
		           "suspended by rotor rollback (%s): run `rotor resume %s` to manage it "
		           "again",
		           o->suspended_note, m->name);
		return;
	}
	if (implausible(m, o, p))
		return;
	classify(m, o, &v, p);
	if (plan_strays(m, o, &v, p))
		return;
	if (rotation_due(m, o, &v, now, p->due_reason, sizeof(p->due_reason), &explicit) &&
	    make_room(m, o, &v, explicit, now, p)) {
		plan_rotation(m, o, &v, now, p);
	} else {
		enum rotor_status waiting_status = p->status; /* WAITING if make_room set it */
		char reason[sizeof(p->status_reason)];
		memcpy(reason, p->status_reason, sizeof(reason));
		plan_steady(m, o, &v, explicit, now, p, waiting, sizeof(waiting));
		if (waiting_status == ROTOR_STATUS_WAITING && p->status != ROTOR_STATUS_STALLED)
			set_status(p, ROTOR_STATUS_WAITING, "%s", reason);
	}
	if (p->status == ROTOR_STATUS_STALLED || p->status == ROTOR_STATUS_WAITING)
		return;
	int drifted, unknown;
	consumers_state(o, &drifted, &unknown);
	if (p->nactions > 0) {
		set_status(p, ROTOR_STATUS_RECONCILING, "%s",
		           p->rotation_due ? p->due_reason : p->actions[0].reason);
	} else if (unknown) {
		for (int i = 0; i < o->nconsumers; i++)
			if (o->consumers[i].state == ROTOR_CONSUMER_UNKNOWN) {
				set_status(p, ROTOR_STATUS_UNKNOWN,
				           "consumer %s could not be observed: %s",
				           m->consumers[i].name, o->consumers[i].detail);
				break;
			}
	} else if (waiting[0]) {
		set_status(p, ROTOR_STATUS_WAITING, "%s", waiting);
	} else {
		char a[32] = "";
		for (int i = 0; i < p->nforecast; i++)
			if (p->forecast[i].kind == ROTOR_FC_ROTATE)
				fmt_time(a, sizeof(a), p->forecast[i].at);
		set_status(p, ROTOR_STATUS_READY, "in sync; next rotation %s",
		           a[0] ? a : "unknown");
	}
}

/* Housekeeping, decided here like every step: a record tag of a key IAM no
 * longer has (its UntagUser after the delete failed) is removed, so tags
 * never fill up. Not while rotor must not act (Stalled, Unknown, Suspended);
 * it changes nothing a consumer or the store sees. */
static void compute(const struct rotor_manifest *m, const struct rotor_observed *o, int64_t now,
                    struct rotor_manifest_plan *p)
{
	compute_core(m, o, now, p);
	if (p->status == ROTOR_STATUS_STALLED || p->status == ROTOR_STATUS_UNKNOWN ||
	    p->status == ROTOR_STATUS_SUSPENDED || o->rollback)
		return;
	for (int i = 0; i < o->nstale; i++) {
		const char *r = o->stale_records[i];
		if (strncmp(r, "rotor:consumer:", 15) == 0)
			add(p, ROTOR_ACT_FORGET_RECORD, r, -1,
			    "forget rotor's record of consumer %s: it is no longer in the manifest",
			    r + 15);
		else
			add(p, ROTOR_ACT_FORGET_RECORD, r, -1,
			    "forget rotor's record of %s: IAM no longer has that key", r);
	}
	if (o->nstale && p->status == ROTOR_STATUS_READY)
		set_status(p, ROTOR_STATUS_RECONCILING, "%s", p->actions[0].reason);
}

/* spec.windows: outside every window, due changes wait for the next
 * opening (the plan says when, and the forecast has it); repairing a store
 * whose pair no longer authenticates may not wait, and says so. */
static void gate_windows(const struct rotor_manifest *m, const struct rotor_observed *o,
                         int64_t now, struct rotor_manifest_plan *p)
{
	int mutates = 0;
	for (int a = 0; a < p->nactions; a++)
		mutates |= rotor_action_mutates(p->actions[a].kind);
	if (!m->nwindows || !mutates || rotor_window_open(m, now))
		return;
	char when[400], at[32] = "";
	rotor_window_describe(m, when, sizeof(when));
	if (o->store_known && o->store_has_akid && o->store_auth == 0) {
		size_t n = strlen(p->status_reason);
		snprintf(
		    p->status_reason + n, sizeof(p->status_reason) - n,
		    " (outside its rotation windows, %s: repairing a store whose pair no longer "
		    "authenticates is allowed at any time)",
		    when);
		return;
	}
	int64_t next = rotor_window_next(m, now);
	if (next)
		rotor_time_format(at, sizeof(at), next);
	p->nactions = 0;
	p->rotation_due = 0;
	/* What was due before the opening happens at the opening; what follows
	 * is dated from there: the forecast of a pass made at the opening (a
	 * pass now would date the next rotation from now, too early). */
	struct rotor_manifest_plan *later = next ? malloc(sizeof(*later)) : NULL;
	p->nforecast = 0;
	if (next)
		forecast(p, ROTOR_FC_ROTATE, next, "",
		         "the rotation window opens: the due changes are made then");
	if (later) {
		memset(later, 0, sizeof(*later));
		compute(m, o, next, later);
		for (int i = 0; i < later->nforecast && p->nforecast < ROTOR_PLAN_MAX_FORECAST; i++)
			if (later->forecast[i].at > next)
				p->forecast[p->nforecast++] = later->forecast[i];
		free(later);
	}
	set_status(p, ROTOR_STATUS_WAITING,
	           "outside its rotation windows (%s): the due changes wait for %s", when,
	           next ? at : "a window that never opens within a week");
}

void rotor_plan_compute(const struct rotor_manifest *m, const struct rotor_observed *o, int64_t now,
                        struct rotor_manifest_plan *p)
{
	compute(m, o, now, p);
	gate_windows(m, o, now, p);
	p->consumers = o->nconsumers;
	for (int i = 0; i < o->nconsumers; i++)
		p->consumers_holding += o->consumers[i].state == ROTOR_CONSUMER_IN_SYNC;
	if (o->store_known && o->store_has_akid)
		snprintf(p->holding_akid, sizeof(p->holding_akid), "%s", o->store_akid);
	/* The forecast reads as a timeline: earliest first (stable). */
	for (int i = 1; i < p->nforecast; i++) {
		struct rotor_forecast f = p->forecast[i];
		int j = i;
		for (; j > 0 && p->forecast[j - 1].at > f.at; j--)
			p->forecast[j] = p->forecast[j - 1];
		p->forecast[j] = f;
	}
}

int rotor_plan_limit_one(struct rotor_manifest_plan *p, int max_deletions, int *used)
{
	int before = *used;
	if (p->observe_only)
		return 0;
	for (int a = 0; a < p->nactions; a++) {
		enum rotor_action_kind k = p->actions[a].kind;
		if (k != ROTOR_ACT_DELETE && k != ROTOR_ACT_DELETE_STRAY)
			continue;
		if (*used < max_deletions) {
			(*used)++;
			continue;
		}
		/* Past the guard: this manifest's plan stops before the deletion
		 * (later steps may depend on the room it makes). A rotation held
		 * with it is no longer "to rotate", and its forecast (dated from
		 * now) no longer holds. */
		p->deletions_held = p->nactions - a;
		p->nactions = a;
		if (p->rotation_due) {
			p->rotation_due = 0;
			p->nforecast = 0;
		}
		set_status(p, ROTOR_STATUS_WAITING,
		           "held by --max-deletions=%d: this pass already deletes %d key%s; "
		           "run again (or raise the limit) after checking the plan",
		           max_deletions, *used, *used == 1 ? "" : "s");
		break;
	}
	return *used - before;
}

int rotor_plan_limit_deletions(struct rotor_manifest_plan *plans, size_t n, int max_deletions)
{
	int used = 0;
	for (size_t i = 0; i < n; i++)
		rotor_plan_limit_one(&plans[i], max_deletions, &used);
	return used;
}

void rotor_plan_summarize(const struct rotor_manifest_plan *plans, size_t n,
                          struct rotor_plan_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->manifests = n;
	for (size_t i = 0; i < n; i++) {
		const struct rotor_manifest_plan *p = &plans[i];
		int prune = 0, sync = 0, back = 0;
		for (int a = 0; a < p->nactions; a++) {
			enum rotor_action_kind k = p->actions[a].kind;
			back |= k == ROTOR_ACT_ROLLBACK_REACTIVATE || k == ROTOR_ACT_ROLLBACK_STORE;
			prune |= k == ROTOR_ACT_DELETE || k == ROTOR_ACT_DELETE_STRAY ||
			         k == ROTOR_ACT_DEACTIVATE;
			sync |= k == ROTOR_ACT_PROPAGATE;
		}
		if (p->observe_only)
			s->observe_only++;
		switch (p->status) {
		case ROTOR_STATUS_STALLED:
			s->stalled++;
			continue;
		case ROTOR_STATUS_SUSPENDED:
			s->suspended++;
			continue;
		case ROTOR_STATUS_UNKNOWN:
			s->unknown++;
			continue;
		default:
			break;
		}
		if (back)
			s->to_roll_back++;
		else if (p->rotation_due)
			s->to_rotate++;
		else if (prune)
			s->to_prune++;
		else if (sync)
			s->to_sync++;
		else if (p->status == ROTOR_STATUS_WAITING)
			s->waiting++;
		else
			s->in_sync++;
	}
}

int rotor_plan_has_changes(const struct rotor_manifest_plan *plans, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!plans[i].observe_only && plans[i].nactions > 0)
			return 1;
	return 0;
}
