/*
 * test_plan_property.c: the planner against the contract's invariants on
 * tens of thousands of random observed states (seeded and reproducible:
 * ROTOR_PLAN_SEED=<n> replays a run, ROTOR_PLAN_CASES=<n> sizes it; a
 * failure prints the seed, the case and the state).
 *
 * For every plan: invariant 2 (the stored key is never deactivated or
 * deleted), 3 (an Inactive key is deleted only after deleteAfter, or early
 * by an explicit request that says so), 4 (never a create while two keys
 * remain), 7 (suspend: nothing; observe: marked observe-only), no action
 * while IAM or the store is unknown, never an Active key deleted unless it
 * is a never-used stray, a used stray stalls with no action, deactivation
 * only behind every gate, the rotation's steps in order, forecasts never in
 * the past.
 *
 * Then a small simulator applies each plan's effects to the state, the way
 * the engine would (create → a new key with rotor's record, store → the
 * store holds it, propagate → in sync, record-* → the tag fields, deactivate
 * → Inactive, delete → gone), checking invariants 1, 2 and 4 against the
 * world at each step, and plans again:
 *   - at one instant the plans reach a fixed point (no mutating action)
 *     within three applications: time-gated steps wait;
 *   - with time moving on (deactivateAfter, then deleteAfter, in rounds),
 *     every state converges to one Active key, held by the store, with
 *     every consumer in sync. A state that needs a human (Stalled) must
 *     name a true cause, and doing what its reason says (deactivate the
 *     named key by hand) must let rotor finish the job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/plan.h"
#include "rotor/timefmt.h"
#include "testsupport.h"

#define NOW0 ((int64_t)1780272000) /* 2026-06-01T00:00:00Z */
#define MIN ((int64_t)60)
#define H ((int64_t)3600)
#define D ((int64_t)86400)
#define DEFAULT_CASES 50000

/* ---- a reproducible generator ------------------------------------------------ */

/* The test's own statement of the rule in plan.c: an interrupted attempt
 * (created after rotor's intent, or recorded as created by rotor and never
 * stored or synced) whose only use is an STS call within 300 s of its
 * creation was used by rotor's validation, not by an unknown party. */
static int own_validation(const struct rotor_observed *o, const struct rotor_obs_key *k)
{
	int attempt =
	    !(k->record.present && (k->record.store_version || k->record.synced)) &&
	    ((o->intent_at && k->created >= o->intent_at) ||
	     (k->record.present && k->record.created && strcmp(k->record.manifest, "app") == 0));
	return attempt && k->last_used && strcmp(k->last_service, "sts") == 0 &&
	       k->last_used <= k->created + 300;
}

static uint64_t rng;

static uint64_t next_u64(void)
{
	/* splitmix64 */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t rnd(int64_t n) /* 0..n-1 */
{
	return n <= 0 ? 0 : (int64_t)(next_u64() % (uint64_t)n);
}

static int pct(int p)
{
	return rnd(100) < p;
}

static int64_t pick(const int64_t *v, size_t n)
{
	return v[rnd((int64_t)n)];
}

/* ---- one world: a manifest and what rotor observes of it ------------------- */

struct world {
	struct rotor_manifest m;
	struct rotor_consumer consumers[4];
	struct rotor_observed o;
	int next_id; /* for keys the simulator creates */
};

static const char *const consumer_names[4] = {"api", "ci", "vault-host", "worker"};

static void gen(struct world *w, int64_t now)
{
	static const int64_t cadences[] = {1 * D, 7 * D, 30 * D, 90 * D, 365 * D};
	static const int64_t deacts[] = {1 * MIN, 10 * MIN, 1 * H, 6 * H, 1 * D};
	static const int64_t dels[] = {1 * H, 1 * D, 3 * D, 7 * D, 14 * D};
	struct rotor_manifest *m = &w->m;
	struct rotor_observed *o = &w->o;
	memset(w, 0, sizeof(*w));
	m->name = "app";
	m->user = "app-user";
	m->aws = "aws-prod";
	m->cadence = pick(cadences, 5);
	m->deactivate_after = pick(deacts, 5);
	m->delete_after = pick(dels, 5);
	if (pct(15))
		m->rotate_requested_at = now + (pct(60) ? -1 : 1) * (1 + rnd(60 * D));
	m->mode = pct(10) ? ROTOR_MODE_OBSERVE : ROTOR_MODE_ENFORCE;
	m->suspend = pct(5);
	m->store.connection = "infisical-main";
	m->store.secret_path = "/aws";
	m->store.akid_name = "AWS_ACCESS_KEY_ID";
	m->store.secret_name = "AWS_SECRET_ACCESS_KEY";
	m->consumers = w->consumers;
	m->nconsumers = (size_t)rnd(4);
	for (size_t i = 0; i < m->nconsumers; i++) {
		w->consumers[i].name = (char *)consumer_names[i];
		w->consumers[i].kind = (enum rotor_consumer_kind)(i % 3);
		int r = (int)rnd(100);
		o->consumers[i].state = r < 70   ? ROTOR_CONSUMER_IN_SYNC
		                        : r < 88 ? ROTOR_CONSUMER_DRIFTED
		                                 : ROTOR_CONSUMER_UNKNOWN;
	}
	o->nconsumers = (int)m->nconsumers;

	o->iam_known = !pct(4);
	o->store_known = !pct(4);
	int r = (int)rnd(100);
	o->nkeys = r < 6 ? 0 : r < 45 ? 1 : r < 88 ? 2 : 3;
	for (int i = 0; i < o->nkeys; i++) {
		struct rotor_obs_key *k = &o->keys[i];
		snprintf(k->id, sizeof(k->id), "AKIAGEN%d", i);
		k->active = pct(75);
		k->created = now - 1 - rnd(pct(30) ? 2 * m->cadence : 400 * D);
		r = (int)rnd(100);
		k->last_used_known = r >= 8;
		if (r >= 8 && r < 35)
			k->last_used = 0;
		else if (r >= 35)
			k->last_used = k->created + rnd(now - k->created + 1);
		if (k->last_used) {
			snprintf(k->last_service, sizeof(k->last_service), "s3");
			snprintf(k->last_region, sizeof(k->last_region), "eu-west-1");
			if (pct(20)) { /* rotor's own validation call right after create */
				snprintf(k->last_service, sizeof(k->last_service), "sts");
				k->last_used = k->created + rnd(120);
				if (k->last_used > now)
					k->last_used = now;
			}
		}
		if (pct(60)) {
			struct rotor_key_record *rec = &k->record;
			rec->present = 1;
			snprintf(rec->manifest, sizeof(rec->manifest), "%s",
			         pct(95) ? "app" : "other");
			rec->created = pct(60) ? k->created : 0;
			rec->synced = pct(50) ? k->created + rnd(now - k->created + 1) : 0;
			if (!k->active && pct(75))
				rec->inactive = now - rnd(2 * m->delete_after);
			rec->store_version = pct(50) ? 1 + rnd(9) : 0;
			/* sometimes used right after the sync, sometimes before */
			if (rec->synced && k->last_used_known && pct(30))
				k->last_used = rec->synced + (pct(50) ? -1 : 1) * (1 + rnd(H));
			if (k->last_used > now)
				k->last_used = now;
		}
	}
	if (pct(20))
		o->intent_at = now - rnd(3 * D);

	r = (int)rnd(100);
	if (r < 14) { /* empty store */
		o->store_auth = -1;
	} else if (r < 24) { /* half a pair */
		o->store_has_akid = pct(50);
		o->store_has_secret = !o->store_has_akid;
	} else {
		o->store_has_akid = o->store_has_secret = 1;
	}
	if (o->store_has_akid) {
		if (o->nkeys && pct(88))
			snprintf(o->store_akid, sizeof(o->store_akid), "%s",
			         o->keys[rnd(o->nkeys)].id);
		else
			snprintf(o->store_akid, sizeof(o->store_akid), "AKIAMISSING");
	}
	if (o->store_has_akid || o->store_has_secret) {
		o->store_akid_version = o->store_secret_version = 1 + rnd(9);
		r = (int)rnd(100);
		o->store_auth = r < 60 ? 1 : r < 85 ? -1 : 0;
	}
	o->rotate_now = pct(10);
	w->next_id = 0;
}

static void dump(const struct world *w, int64_t now)
{
	const struct rotor_manifest *m = &w->m;
	const struct rotor_observed *o = &w->o;
	char t[32];
	rotor_time_format(t, sizeof(t), now);
	printf("  now %s (%lld)\n", t, (long long)now);
	printf("  manifest: cadence %lld deactivateAfter %lld deleteAfter %lld rra %lld mode %s "
	       "suspend %d consumers %zu\n",
	       (long long)m->cadence, (long long)m->deactivate_after, (long long)m->delete_after,
	       (long long)(m->rotate_requested_at ? m->rotate_requested_at - now : 0),
	       rotor_mode_name(m->mode), m->suspend, m->nconsumers);
	printf("  iam_known %d store_known %d intent %lld rotate_now %d\n", o->iam_known,
	       o->store_known, (long long)(o->intent_at ? o->intent_at - now : 0), o->rotate_now);
	printf("  store: akid %d (%s) secret %d auth %d\n", o->store_has_akid, o->store_akid,
	       o->store_has_secret, o->store_auth);
	for (int i = 0; i < o->nkeys; i++) {
		const struct rotor_obs_key *k = &o->keys[i];
		printf("  key %s %s created %lld used %s%lld record %d(%s c=%lld s=%lld i=%lld "
		       "sv=%lld)\n",
		       k->id, k->active ? "Active" : "Inactive", (long long)(k->created - now),
		       k->last_used_known ? "" : "unknown ",
		       (long long)(k->last_used ? k->last_used - now : 0), k->record.present,
		       k->record.manifest,
		       (long long)(k->record.created ? k->record.created - now : 0),
		       (long long)(k->record.synced ? k->record.synced - now : 0),
		       (long long)(k->record.inactive ? k->record.inactive - now : 0),
		       (long long)k->record.store_version);
	}
	for (int i = 0; i < o->nconsumers; i++)
		printf("  consumer %d: %d\n", i, (int)o->consumers[i].state);
}

static void dump_plan(const struct rotor_manifest_plan *p)
{
	printf("  plan: %s: %s\n", rotor_status_name(p->status), p->status_reason);
	for (int i = 0; i < p->nactions; i++)
		printf("    %s %s #%d: %s\n", rotor_action_name(p->actions[i].kind),
		       p->actions[i].key_id, p->actions[i].consumer, p->actions[i].reason);
}

/* ---- the checks ---------------------------------------------------------------- */

static char failure[512];
static int fail_count;
static long plans_checked;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(failure, sizeof(failure), __VA_ARGS__);                           \
			return 0;                                                                  \
		}                                                                                  \
	} while (0)

static const struct rotor_obs_key *find(const struct rotor_observed *o, const char *id)
{
	for (int i = 0; i < o->nkeys; i++)
		if (strcmp(o->keys[i].id, id) == 0)
			return &o->keys[i];
	return NULL;
}

static const struct rotor_obs_key *stored_key(const struct rotor_observed *o)
{
	return o->store_has_akid ? find(o, o->store_akid) : NULL;
}

static int explicit_request(const struct rotor_manifest *m, const struct rotor_observed *o,
                            int64_t now)
{
	return o->rotate_now || (m->rotate_requested_at && m->rotate_requested_at <= now);
}

/* Returns 1 when the plan keeps every rule; else 0 with `failure` set. */
static int check_plan(const struct rotor_manifest *m, const struct rotor_observed *o, int64_t now,
                      const struct rotor_manifest_plan *p)
{
	const struct rotor_obs_key *cur = stored_key(o);
	int create_at = -1, deletions = 0;

	/* invariant 7, and no decision on what could not be observed */
	CHECK(p->observe_only == (m->mode == ROTOR_MODE_OBSERVE), "observe_only is %d",
	      p->observe_only);
	if (m->suspend) {
		CHECK(p->nactions == 0 && p->status == ROTOR_STATUS_SUSPENDED,
		      "suspended manifest has %d actions / status %s", p->nactions,
		      rotor_status_name(p->status));
		return 1;
	}
	if (!o->iam_known || !o->store_known) {
		CHECK(p->nactions == 0 && p->status == ROTOR_STATUS_UNKNOWN,
		      "acted (%d) or status %s with IAM or the store unknown", p->nactions,
		      rotor_status_name(p->status));
		return 1;
	}
	CHECK(p->status_reason[0], "empty status reason");
	CHECK(p->status != ROTOR_STATUS_SUSPENDED, "Suspended without spec.suspend");
	/* only a whole, plausible observation is acted on (issue 15): at most
	 * two keys, each listed once, every last use known */
	int implausible = o->nkeys > 2;
	for (int i = 0; i < o->nkeys; i++) {
		implausible |= !o->keys[i].last_used_known;
		for (int j = i + 1; j < o->nkeys; j++)
			implausible |= strcmp(o->keys[i].id, o->keys[j].id) == 0;
	}
	if (implausible) {
		CHECK(p->nactions == 0 && p->status == ROTOR_STATUS_STALLED,
		      "acted (%d) or status %s on an implausible observation", p->nactions,
		      rotor_status_name(p->status));
		return 1;
	}

	for (int i = 0; i < p->nactions; i++) {
		const struct rotor_action *a = &p->actions[i];
		const struct rotor_obs_key *k = a->key_id[0] ? find(o, a->key_id) : NULL;
		CHECK(a->reason[0], "action %d has no reason", i);
		CHECK(!a->key_id[0] || k || a->kind == ROTOR_ACT_FORGET_RECORD,
		      "action %s names an unobserved key %s", rotor_action_name(a->kind),
		      a->key_id);
		for (int j = 0; j < i; j++)
			CHECK(p->actions[j].kind != a->kind ||
			          strcmp(p->actions[j].key_id, a->key_id) ||
			          p->actions[j].consumer != a->consumer,
			      "action %s %s twice", rotor_action_name(a->kind), a->key_id);
		switch (a->kind) {
		case ROTOR_ACT_DELETE_STRAY:
			/* invariant 2; an Active key goes only as a never-used stray */
			CHECK(k && k != cur, "delete-stray of the stored key %s", a->key_id);
			CHECK(k->last_used_known && (k->last_used == 0 || own_validation(o, k)),
			      "delete-stray of %s, which was used or whose use is unknown", k->id);
			CHECK(create_at < 0, "delete-stray after create");
			deletions++;
			break;
		case ROTOR_ACT_DELETE:
			CHECK(k && k != cur, "delete of the stored key %s", a->key_id);
			CHECK(!k->active, "delete of Active key %s", k->id);
			/* invariant 3 */
			CHECK((k->record.inactive && k->record.inactive + m->delete_after <= now) ||
			          (explicit_request(m, o, now) &&
			           strstr(a->reason, "early because the rotation was requested "
			                             "explicitly")),
			      "delete of %s inside its deleteAfter window (inactive %lld)", k->id,
			      (long long)k->record.inactive);
			CHECK(create_at < 0, "delete after create");
			deletions++;
			break;
		case ROTOR_ACT_DEACTIVATE: {
			CHECK(k && k != cur, "deactivate of the stored key %s", a->key_id);
			CHECK(k->active, "deactivate of Inactive %s", k->id);
			CHECK(cur && cur->active && o->store_has_secret,
			      "deactivate without a stored key");
			for (int c = 0; c < o->nconsumers; c++)
				CHECK(o->consumers[c].state == ROTOR_CONSUMER_IN_SYNC,
				      "deactivate while consumer %d is not in sync", c);
			int64_t synced = cur->record.synced;
			CHECK(synced && now >= synced + m->deactivate_after,
			      "deactivate before the deactivateAfter grace");
			CHECK(k->last_used_known && k->last_used <= synced,
			      "deactivate of %s used after the sync", k->id);
			break;
		}
		case ROTOR_ACT_RECORD_INTENT:
			CHECK(i + 1 < p->nactions && p->actions[i + 1].kind == ROTOR_ACT_CREATE,
			      "record-intent not right before create");
			break;
		case ROTOR_ACT_CREATE:
			CHECK(create_at < 0, "two creates");
			create_at = i;
			/* invariant 4 */
			CHECK(o->nkeys - deletions < 2, "create with %d keys left",
			      o->nkeys - deletions);
			break;
		case ROTOR_ACT_VALIDATE:
			CHECK(create_at >= 0 && i == create_at + 1,
			      "validate not right after create");
			break;
		case ROTOR_ACT_STORE:
			CHECK(create_at >= 0 && i == create_at + 2,
			      "store not right after validate");
			break;
		case ROTOR_ACT_PROPAGATE:
			CHECK(a->consumer >= 0 && a->consumer < o->nconsumers, "propagate to %d",
			      a->consumer);
			CHECK(o->consumers[a->consumer].state != ROTOR_CONSUMER_UNKNOWN,
			      "propagate to an unknown consumer");
			if (create_at >= 0)
				CHECK(!a->key_id[0], "rotation propagates an old key");
			else
				CHECK(o->consumers[a->consumer].state == ROTOR_CONSUMER_DRIFTED &&
				          k == cur && cur && cur->active,
				      "propagate to a consumer in sync, or of a key not stored");
			break;
		case ROTOR_ACT_RECORD_SYNC:
			for (int c = 0; c < o->nconsumers; c++)
				CHECK(o->consumers[c].state != ROTOR_CONSUMER_UNKNOWN,
				      "record-sync while a consumer is unknown");
			CHECK(create_at >= 0 ? !a->key_id[0] : k == cur,
			      "record-sync of a key not stored");
			break;
		case ROTOR_ACT_RECORD_INACTIVE:
			CHECK(k && !k->active && !k->record.inactive, "record-inactive of %s",
			      a->key_id);
			break;
		case ROTOR_ACT_FORGET_RECORD:
			/* only a record of a key IAM does not list */
			CHECK(!k, "forget-record of %s, which IAM still has", a->key_id);
			break;
		default:
			CHECK(0, "unknown action kind %d", (int)a->kind);
		}
	}
	CHECK(p->rotation_due == (create_at >= 0), "rotation_due %d without/with create",
	      p->rotation_due);
	if (create_at >= 0)
		CHECK(p->actions[create_at + 1].kind == ROTOR_ACT_VALIDATE &&
		          p->actions[create_at + 2].kind == ROTOR_ACT_STORE,
		      "create without validate and store");

	/* a used Active stray (newer than the stored key): Stalled, nothing at all */
	for (int i = 0; cur && i < o->nkeys; i++) {
		const struct rotor_obs_key *k = &o->keys[i];
		if (k != cur && k->active && k->created > cur->created && k->last_used_known &&
		    k->last_used && !own_validation(o, k)) {
			/* Stalled, or Unknown when another stray's use is unreadable */
			CHECK(p->nactions == 0 && (p->status == ROTOR_STATUS_STALLED ||
			                           p->status == ROTOR_STATUS_UNKNOWN),
			      "used stray %s: %d actions, status %s", k->id, p->nactions,
			      rotor_status_name(p->status));
			CHECK(strstr(p->status_reason, "stray key"),
			      "the reason does not name a stray");
		}
	}
	/* and the converse: every stall names its cause truly */
	if (p->status == ROTOR_STATUS_STALLED) {
		int cause = 0;
		CHECK(p->nactions == 0 || !strstr(p->status_reason, "stray key"),
		      "Stalled by a stray, with actions");
		for (int i = 0; i < o->nkeys; i++) {
			const struct rotor_obs_key *k = &o->keys[i];
			if (k == cur || !strstr(p->status_reason, k->id))
				continue;
			if (strstr(p->status_reason, "stray key"))
				cause |= k->active && k->last_used_known && k->last_used;
			else if (strstr(p->status_reason, "a consumer was missed"))
				cause |= cur && k->active && k->last_used > cur->record.synced;
			else if (strstr(p->status_reason, "while the store holds no working key"))
				cause |=
				    k->active && o->nkeys >= 2 &&
				    !(cur && cur->active && o->store_has_secret && o->store_auth);
		}
		CHECK(cause, "Stalled without the cause it names: %s", p->status_reason);
	}
	for (int f = 0; f < p->nforecast; f++)
		CHECK(p->forecast[f].at >= now, "forecast %d dated in the past", f);
	for (int f = 1; f < p->nforecast; f++)
		CHECK(p->forecast[f].at >= p->forecast[f - 1].at, "forecast not in time order");
	return 1;
}

/* ---- the simulator: what the engine's actions do to the world ------------------ */

static struct rotor_obs_key *find_mut(struct rotor_observed *o, const char *id)
{
	for (int i = 0; i < o->nkeys; i++)
		if (strcmp(o->keys[i].id, id) == 0)
			return &o->keys[i];
	return NULL;
}

static void remove_key(struct rotor_observed *o, const char *id)
{
	for (int i = 0; i < o->nkeys; i++)
		if (strcmp(o->keys[i].id, id) == 0) {
			memmove(&o->keys[i], &o->keys[i + 1],
			        sizeof(o->keys[0]) * (size_t)(o->nkeys - i - 1));
			o->nkeys--;
			return;
		}
}

/* Applies the plan; checks the effects against the world as it is at each
 * step (invariants 1, 2, 4). Returns 1, or 0 with `failure` set. */
static int apply(struct world *w, const struct rotor_manifest_plan *p, int64_t now)
{
	struct rotor_observed *o = &w->o;
	char new_id[32] = "";
	const struct rotor_obs_key *before = stored_key(o);
	int store_worked = before && before->active && o->store_has_secret && o->store_auth != 0;
	if (p->observe_only || w->m.suspend)
		return 1;
	for (int i = 0; i < p->nactions; i++) {
		const struct rotor_action *a = &p->actions[i];
		struct rotor_obs_key *k = a->key_id[0] ? find_mut(o, a->key_id) : NULL;
		int held = o->store_has_akid && k && strcmp(o->store_akid, k->id) == 0;
		switch (a->kind) {
		case ROTOR_ACT_DELETE_STRAY:
		case ROTOR_ACT_DELETE:
			CHECK(k, "deleting a key that is gone: %s", a->key_id);
			CHECK(!held, "invariant 2: deleting the stored key %s", k->id);
			remove_key(o, a->key_id);
			break;
		case ROTOR_ACT_RECORD_INTENT:
			o->intent_at = now;
			break;
		case ROTOR_ACT_CREATE: {
			CHECK(o->nkeys < 2,
			      "invariant 4: CreateAccessKey with %d keys: LimitExceeded", o->nkeys);
			struct rotor_obs_key *n = &o->keys[o->nkeys++];
			memset(n, 0, sizeof(*n));
			snprintf(n->id, sizeof(n->id), "AKIASIM%d", w->next_id++);
			n->active = 1;
			n->created = now;
			n->last_used_known = 1;
			n->record.present = 1;
			snprintf(n->record.manifest, sizeof(n->record.manifest), "%s", w->m.name);
			n->record.created = now;
			snprintf(new_id, sizeof(new_id), "%s", n->id);
			break;
		}
		case ROTOR_ACT_VALIDATE:
			CHECK(new_id[0], "validate without a new key");
			break;
		case ROTOR_ACT_STORE: {
			struct rotor_obs_key *n = find_mut(o, new_id);
			CHECK(n && n->active, "invariant 1: storing a key that is not Active");
			o->store_has_akid = o->store_has_secret = 1;
			snprintf(o->store_akid, sizeof(o->store_akid), "%s", new_id);
			o->store_akid_version++;
			o->store_secret_version++;
			o->store_auth = 1;
			n->record.store_version = o->store_akid_version;
			o->intent_at = 0; /* the engine removes the intent once stored */
			o->rotate_now = 0;
			break;
		}
		case ROTOR_ACT_PROPAGATE:
			o->consumers[a->consumer].state = ROTOR_CONSUMER_IN_SYNC;
			break;
		case ROTOR_ACT_RECORD_SYNC: {
			struct rotor_obs_key *s = new_id[0] ? find_mut(o, new_id) : k;
			CHECK(s, "record-sync of no key");
			s->record.present = 1;
			s->record.synced = now;
			break;
		}
		case ROTOR_ACT_DEACTIVATE:
			CHECK(k, "deactivating a key that is gone");
			CHECK(!held, "invariant 2: deactivating the stored key %s", k->id);
			k->active = 0;
			k->record.present = 1;
			k->record.inactive = now;
			break;
		case ROTOR_ACT_RECORD_INACTIVE:
			CHECK(k, "record-inactive of a key that is gone");
			k->record.present = 1;
			k->record.inactive = now;
			break;
		default:
			break;
		}
	}
	if (store_worked) {
		const struct rotor_obs_key *after = stored_key(o);
		CHECK(after && after->active, "invariant 1: a working stored pair stopped working");
	}
	return 1;
}

static int mutating(const struct rotor_manifest_plan *p)
{
	if (p->observe_only)
		return 0;
	for (int i = 0; i < p->nactions; i++)
		if (rotor_action_mutates(p->actions[i].kind))
			return 1;
	return 0;
}

/* Plans and applies until nothing mutates; returns the number of plans
 * applied, or -1 with `failure` set. */
static int settle(struct world *w, int64_t now, int limit, struct rotor_manifest_plan *p)
{
	for (int n = 0;; n++) {
		rotor_plan_compute(&w->m, &w->o, now, p);
		plans_checked++;
		if (!check_plan(&w->m, &w->o, now, p))
			return -1;
		if (!mutating(p))
			return n;
		if (n == limit) {
			snprintf(failure, sizeof(failure),
			         "no fixed point after %d applications at one instant", limit);
			return -1;
		}
		if (!apply(w, p, now))
			return -1;
	}
}

static int converged(const struct world *w)
{
	const struct rotor_observed *o = &w->o;
	if (o->nkeys != 1 || !o->keys[0].active || !o->store_has_akid || !o->store_has_secret ||
	    strcmp(o->store_akid, o->keys[0].id) != 0 || o->store_auth == 0)
		return 0;
	for (int c = 0; c < o->nconsumers; c++)
		if (o->consumers[c].state != ROTOR_CONSUMER_IN_SYNC)
			return 0;
	return 1;
}

/* A stall is legitimate only when a human must act (contract §4, step 1
 * and 6; a store without a working key while two keys are Active). */
static int legit_stall(const struct rotor_manifest_plan *p)
{
	return strstr(p->status_reason, "stray key") ||
	       strstr(p->status_reason, "a consumer was missed") ||
	       strstr(p->status_reason, "while the store holds no working key");
}

/* What the Stalled status tells a human to do: deactivate the key it names
 * (by hand: no rotor record). Returns 0 when it names no such key. */
static int follow_instructions(struct world *w, const struct rotor_manifest_plan *p)
{
	struct rotor_observed *o = &w->o;
	for (int i = 0; i < o->nkeys; i++) {
		struct rotor_obs_key *k = &o->keys[i];
		int held = o->store_has_akid && strcmp(o->store_akid, k->id) == 0;
		char cmd[96];
		snprintf(cmd, sizeof(cmd), "--access-key-id %s --status Inactive", k->id);
		if (!held && k->active && strstr(p->status_reason, k->id) &&
		    (strstr(p->status_reason, cmd) || strstr(p->status_reason, "deactivate"))) {
			k->active = 0;
			return 1;
		}
	}
	return 0;
}

struct stats {
	long cases, fixed_max, converged, with_actions;
	long stalled_stray, stalled_missed, stalled_store, resolved;
};

static int run_case(struct world *start, struct stats *st)
{
	static struct world w;
	static struct rotor_manifest_plan p;
	int64_t now = NOW0;

	/* 1. the plan itself */
	rotor_plan_compute(&start->m, &start->o, now, &p);
	plans_checked++;
	st->with_actions += p.nactions > 0;
	if (!check_plan(&start->m, &start->o, now, &p)) {
		dump_plan(&p);
		return 0;
	}
	/* observe mode: the same actions as enforce, reported only */
	if (start->m.mode == ROTOR_MODE_OBSERVE) {
		static struct rotor_manifest_plan q;
		w = *start;
		w.m.consumers = w.consumers;
		w.m.mode = ROTOR_MODE_ENFORCE;
		rotor_plan_compute(&w.m, &w.o, now, &q);
		plans_checked++;
		if (q.nactions != p.nactions || q.status != p.status || q.observe_only) {
			snprintf(failure, sizeof(failure),
			         "observe plan differs from enforce plan");
			return 0;
		}
		for (int i = 0; i < p.nactions; i++)
			if (p.actions[i].kind != q.actions[i].kind ||
			    strcmp(p.actions[i].key_id, q.actions[i].key_id)) {
				snprintf(failure, sizeof(failure), "observe action %d differs", i);
				return 0;
			}
	}

	/* 2. a fixed point at one instant (enforce mode: observe never applies) */
	w = *start;
	w.m.consumers = w.consumers;
	w.m.mode = ROTOR_MODE_ENFORCE;
	int n = settle(&w, now, 3, &p);
	if (n < 0) {
		dump_plan(&p);
		return 0;
	}
	if (n > st->fixed_max)
		st->fixed_max = n;

	/* 3. with time moving on, convergence; the world made fully observable
	 * and the manifest sane (cadence well above the two windows) */
	w = *start;
	w.m.consumers = w.consumers;
	w.m.mode = ROTOR_MODE_ENFORCE;
	w.m.suspend = 0;
	w.o.iam_known = w.o.store_known = 1;
	for (int c = 0; c < w.o.nconsumers; c++)
		if (w.o.consumers[c].state == ROTOR_CONSUMER_UNKNOWN)
			w.o.consumers[c].state = ROTOR_CONSUMER_DRIFTED;
	for (int k = 0; k < w.o.nkeys; k++)
		w.o.keys[k].last_used_known = 1;
	if (w.o.nkeys > 2) /* IAM never lists three: implausible, Stalled */
		w.o.nkeys = 2;
	int64_t windows = w.m.deactivate_after + w.m.delete_after + 2;
	if (w.m.cadence < 3 * windows)
		w.m.cadence = 3 * windows;
	int interventions = 0;
	for (int round = 0; round < 16; round++) {
		for (int half = 0; half < 2; half++) {
			if (settle(&w, now, 3, &p) < 0) {
				dump_plan(&p);
				return 0;
			}
			if (p.status == ROTOR_STATUS_STALLED) {
				if (!legit_stall(&p)) {
					snprintf(failure, sizeof(failure), "Stalled without cause");
					dump_plan(&p);
					return 0;
				}
				if (!interventions) {
					if (strstr(p.status_reason, "stray key"))
						st->stalled_stray++;
					else if (strstr(p.status_reason, "a consumer was missed"))
						st->stalled_missed++;
					else
						st->stalled_store++;
				}
				/* the human does what the status says; rotor takes over */
				if (++interventions > 3 || !follow_instructions(&w, &p)) {
					snprintf(
					    failure, sizeof(failure),
					    "following the Stalled status does not resolve it");
					dump_plan(&p);
					return 0;
				}
				continue;
			}
			if (converged(&w)) {
				st->converged++;
				st->resolved += interventions > 0;
				return 1;
			}
			now += half ? w.m.delete_after + 1 : w.m.deactivate_after + 1;
		}
	}
	snprintf(failure, sizeof(failure), "no convergence after 16 rounds (status %s: %s)",
	         rotor_status_name(p.status), p.status_reason);
	dump(&w, now);
	return 0;
}

static void test_properties(void **state)
{
	(void)state;
	static struct world w;
	struct stats st;
	const char *seed_env = getenv("ROTOR_PLAN_SEED");
	const char *cases_env = getenv("ROTOR_PLAN_CASES");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 20260601;
	long cases = cases_env ? strtol(cases_env, NULL, 0) : DEFAULT_CASES;
	memset(&st, 0, sizeof(st));
	for (long c = 0; c < cases; c++) {
		rng = seed ^ ((uint64_t)c * 0x2545f4914f6cdd1dULL);
		gen(&w, NOW0);
		st.cases++;
		if (!run_case(&w, &st)) {
			printf("FAIL (seed %llu, case %ld; replay: ROTOR_PLAN_SEED=%llu): %s\n",
			       (unsigned long long)seed, c, (unsigned long long)seed, failure);
			rng = seed ^ ((uint64_t)c * 0x2545f4914f6cdd1dULL);
			gen(&w, NOW0);
			printf(" the generated state:\n");
			dump(&w, NOW0);
			if (++fail_count >= 3)
				break;
		}
	}
	printf("seed %llu: %ld states, %ld plans checked, %ld first plans with actions; fixed "
	       "point within %ld applications; %ld converged to one stored Active key, %ld of "
	       "them after a human followed a Stalled status (%ld used stray, %ld missed "
	       "consumer, %ld no working stored key)\n",
	       (unsigned long long)seed, st.cases, plans_checked, st.with_actions, st.fixed_max,
	       st.converged, st.resolved, st.stalled_stray, st.stalled_missed, st.stalled_store);
	assert_int_equal(fail_count, 0);
	assert_int_equal(st.converged, st.cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
