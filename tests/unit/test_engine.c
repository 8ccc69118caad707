/*
 * test_engine.c: the engine over fakes (tests/support/fakes.h), in process
 * and in simulated time: the lifecycle of a key from adoption to its
 * deletion and the next rotation, heal cases, strays, holds, rollback and
 * resume, and every remote failing in turn, each followed by the invariants
 * of the contract (§6): the stored pair authenticates, every consumer holds
 * it, never a third key, nothing a failure leaves half-done survives the
 * next pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "rotor/clock.h"
#include "rotor/config.h"
#include "rotor/engine.h"
#include "rotor/log.h"
#include "rotor/manifest.h"
#include "rotor/reconcile.h"
#include "testsupport.h"

#define T0 1780272000
#define H 3600
#define D 86400

static const char CONFIG[] = "apiVersion: rotor/v1\n"
                             "kind: Config\n"
                             "connections:\n"
                             "  aws:\n"
                             "    prod: {region: us-east-1}\n"
                             "  infisical:\n"
                             "    vault: {siteUrl: 'https://infisical.example', clientId: {env: "
                             "X_ID}, clientSecret: {env: X_SECRET}}\n"
                             "envFiles:\n"
                             "  allowedDirs: [/srv]\n";

static const char MANIFEST[] = "apiVersion: rotor/v1\n"
                               "kind: AccessKeyRotation\n"
                               "metadata: {name: %s}\n"
                               "spec:\n"
                               "  user: %s\n"
                               "  aws: prod\n"
                               "  cadence: 30d\n"
                               "  deactivateAfter: 1h\n"
                               "  deleteAfter: 2d\n"
                               "  store:\n"
                               "    infisical: {connection: vault, projectId: p1, environment: "
                               "prod, secretPath: /%s}\n"
                               "  consumers:\n"
                               "    - {name: app, envFile: {path: /srv/%s/app.env}}\n"
                               "    - {name: job, envFile: {path: /srv/%s/job.env}}\n";

struct fx {
	struct rotor_clock clock;
	struct fake_world world;
	struct rotor_config *cfg;
	struct rotor_manifest_set set;
	struct rotor_engine *e;
};

static struct fx *F;

static void add_manifest(struct fx *f, const char *name)
{
	char buf[2048];
	struct rotor_diags d;
	rotor_diags_init(&d);
	snprintf(buf, sizeof(buf), MANIFEST, name, name, name, name, name);
	assert_int_equal(rotor_manifest_parse(&f->set, name, buf, strlen(buf), &d), 0);
	rotor_diags_dispose(&d);
	fake_user_add(&f->world, name);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rotor_diags d;
	rotor_clock_fixed_init(&f->clock, T0);
	fake_world_init(&f->world, &f->clock);
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_parse(&f->cfg, "rotor.yaml", CONFIG, strlen(CONFIG), &d), 0);
	rotor_diags_dispose(&d);
	rotor_manifest_set_init(&f->set);
	add_manifest(f, "alpha");
	struct rotor_engine_options o = {0};
	struct rotor_error err;
	o.clock = &f->clock;
	o.providers = fake_providers();
	assert_int_equal(rotor_engine_new(&f->e, f->cfg, &o, &err), 0);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rotor_engine_free(f->e);
	rotor_manifest_set_dispose(&f->set);
	rotor_config_free(f->cfg);
	fake_world_dispose(&f->world);
	free(f);
	return 0;
}

/* ---- helpers --------------------------------------------------------------- */

struct pass {
	struct rotor_observed obs;
	struct rotor_engine_state st;
	struct rotor_manifest_plan plan;
	struct rotor_reconcile rec;
	int rc;
	struct rotor_error err;
};

/* One reconcile of the manifest named, as `rotor apply` makes it. */
static int pass_opts(struct fx *f, const char *name, struct pass *p, int rotate_now)
{
	const struct rotor_manifest *m = rotor_manifest_set_find(&f->set, name);
	struct rotor_reconcile_options o = {0};
	assert_non_null(m);
	o.rotate_now = rotate_now;
	rotor_error_clear(&p->err);
	rotor_reconcile_init(&p->rec, m, &p->obs, &p->st, &p->plan);
	p->rc = rotor_reconcile_one(f->e, &p->rec, f->clock.now(&f->clock), &o, &p->err);
	rotor_reconcile_dispose(&p->rec);
	return p->rc;
}

static int pass(struct fx *f, const char *name, struct pass *p)
{
	return pass_opts(f, name, p, 0);
}

static int has_action(const struct pass *p, enum rotor_action_kind k)
{
	for (int i = 0; i < p->plan.nactions; i++)
		if (p->plan.actions[i].kind == k)
			return 1;
	return 0;
}

/* Passes until one applies nothing (at most 6); returns the last. */
static void converge(struct fx *f, const char *name, struct pass *p)
{
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pass(f, name, p), 0);
		if (p->rec.applied == 0)
			return;
	}
	fail_msg("%s did not converge: %s", name, p->plan.status_reason);
}

static char path_buf[256];
static const char *spath(const char *user, const char *name)
{
	char folder[80];
	snprintf(folder, sizeof(folder), "/%s", user);
	fake_store_path(path_buf, sizeof(path_buf), "p1", "prod", folder, name);
	return path_buf;
}

static const char *stored_akid(struct fx *f, const char *user)
{
	return fake_store_get(&f->world, spath(user, "AWS_ACCESS_KEY_ID"));
}

/* The contract's invariants for a converged user: the stored pair is an
 * Active key of the user with its own secret, every consumer holds it,
 * never more than two keys. */
static void check_invariants(struct fx *f, const char *user)
{
	char akid[64], secret[64], target[128];
	const char *a = stored_akid(f, user);
	assert_non_null(a);
	snprintf(akid, sizeof(akid), "%s", a);
	const char *s = fake_store_get(&f->world, spath(user, "AWS_SECRET_ACCESS_KEY"));
	assert_non_null(s);
	snprintf(secret, sizeof(secret), "%s", s);
	struct fake_key *k = fake_key(&f->world, user, akid);
	assert_non_null(k);
	assert_true(k->active);
	assert_string_equal(k->secret, secret);
	const char *kinds[2] = {"app", "job"};
	for (int i = 0; i < 2; i++) {
		snprintf(target, sizeof(target), "/srv/%s/%s.env", user, kinds[i]);
		const struct fake_consumer_value *v = fake_consumer_get(&f->world, target);
		assert_non_null(v);
		assert_string_equal(v->akid, akid);
		assert_string_equal(v->secret, secret);
	}
	assert_true(fake_user(&f->world, user)->nkeys <= 2);
	assert_true(f->world.max_keys_seen <= 2);
	assert_int_equal(f->world.limit_exceeded, 0);
}

static void advance(struct fx *f, int64_t s)
{
	rotor_clock_fixed_advance(&f->clock, s);
}

/* ---- the lifecycle --------------------------------------------------------- */

/* Adoption of a user with one legacy key in use, then the predecessor's
 * deactivation, deletion, and the next rotation at the cadence. */
static void test_lifecycle(void **state)
{
	struct fx *f = *state;
	struct pass p;
	struct fake_key *legacy = fake_key_add(&f->world, "alpha", T0 - 400 * D);
	char legacy_id[32];
	snprintf(legacy_id, sizeof(legacy_id), "%s", legacy->id);
	fake_key_use(&f->world, "alpha", legacy_id, T0 - H, "s3");

	/* adoption: a new key, stored and propagated, the legacy key kept */
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_CREATE));
	assert_true(has_action(&p, ROTOR_ACT_RECORD_SYNC));
	assert_false(has_action(&p, ROTOR_ACT_DEACTIVATE));
	check_invariants(f, "alpha");
	char cur[32];
	snprintf(cur, sizeof(cur), "%s", stored_akid(f, "alpha"));
	assert_string_not_equal(cur, legacy_id);
	assert_true(fake_key(&f->world, "alpha", legacy_id)->active);

	/* within deactivateAfter: nothing to do */
	advance(f, H / 2);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_equal(p.rec.applied, 0);
	assert_true(fake_key(&f->world, "alpha", legacy_id)->active);

	/* past it, with no use of the legacy key since the switch: deactivated */
	advance(f, H);
	converge(f, "alpha", &p);
	assert_false(fake_key(&f->world, "alpha", legacy_id)->active);
	check_invariants(f, "alpha");

	/* deleteAfter (2d) later: deleted */
	advance(f, D);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_non_null(fake_key(&f->world, "alpha", legacy_id));
	advance(f, D + H);
	converge(f, "alpha", &p);
	assert_null(fake_key(&f->world, "alpha", legacy_id));
	assert_null(fake_tag(&f->world, "alpha", legacy_id)); /* its record is gone too */
	check_invariants(f, "alpha");

	/* the cadence (30d): the next rotation */
	advance(f, 30 * D);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(p.plan.rotation_due);
	assert_true(has_action(&p, ROTOR_ACT_CREATE));
	check_invariants(f, "alpha");
	assert_string_not_equal(stored_akid(f, "alpha"), cur);
	assert_true(fake_key(&f->world, "alpha", cur)->active); /* until the grace ends */
	assert_int_equal(f->world.calls_create, 2);
}

/* The old key used after the switch holds its deactivation back: Stalled
 * once the grace is over, naming the key, the service and the region, for
 * as long as it takes; the operator deactivates it by hand and rotor deletes
 * it after deleteAfter. (Replaces tests/e2e/test_hold.sh.) */
static void test_hold_on_use_after_switch(void **state)
{
	struct fx *f = *state;
	struct pass p;
	struct fake_key *legacy = fake_key_add(&f->world, "alpha", T0 - 400 * D);
	char legacy_id[32], cur[32];
	struct rotor_error err;
	snprintf(legacy_id, sizeof(legacy_id), "%s", legacy->id);
	assert_int_equal(pass(f, "alpha", &p), 0);
	snprintf(cur, sizeof(cur), "%s", stored_akid(f, "alpha"));
	advance(f, 10 * 60);
	fake_key_use(&f->world, "alpha", legacy_id, 0, "dynamodb");
	/* inside the grace: nothing to do yet */
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_equal(p.plan.nactions, 0);
	advance(f, 2 * H);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_equal(p.plan.status, ROTOR_STATUS_STALLED);
	assert_false(has_action(&p, ROTOR_ACT_DEACTIVATE));
	assert_true(fake_key(&f->world, "alpha", legacy_id)->active);
	assert_non_null(strstr(p.plan.status_reason, "a consumer was missed"));
	assert_non_null(strstr(p.plan.status_reason, legacy_id));
	assert_non_null(strstr(p.plan.status_reason, "by dynamodb in us-east-1"));
	/* rotor never deactivates a key in use, however long it waits */
	advance(f, 3 * D);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_equal(p.rec.applied, 0);
	assert_true(fake_key(&f->world, "alpha", legacy_id)->active);
	assert_string_equal(stored_akid(f, "alpha"), cur);
	/* the operator finds the consumer and deactivates the key by hand */
	assert_int_equal(
	    fake_providers()->aws->api->update_access_key(&f->world, "alpha", legacy_id, 0, &err),
	    0);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_not_equal(p.plan.status, ROTOR_STATUS_STALLED);
	assert_non_null(fake_key(&f->world, "alpha", legacy_id)); /* inside deleteAfter */
	advance(f, 2 * D + H);
	converge(f, "alpha", &p);
	assert_null(fake_key(&f->world, "alpha", legacy_id));
	check_invariants(f, "alpha");
}

/* Control: a predecessor last used before the switch is deactivated after
 * the grace. */
static void test_no_hold_on_use_before_switch(void **state)
{
	struct fx *f = *state;
	struct pass p;
	struct fake_key *legacy = fake_key_add(&f->world, "alpha", T0 - 400 * D);
	char legacy_id[32];
	snprintf(legacy_id, sizeof(legacy_id), "%s", legacy->id);
	fake_key_use(&f->world, "alpha", legacy_id, T0 - 60, "s3");
	assert_int_equal(pass(f, "alpha", &p), 0);
	advance(f, H + 100);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_DEACTIVATE));
	assert_false(fake_key(&f->world, "alpha", legacy_id)->active);
}

/* ---- heal ------------------------------------------------------------------ */

static void test_heal_consumer_drift(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	check_invariants(f, "alpha");
	int creates = f->world.calls_create;
	fake_consumer_set(&f->world, "/srv/alpha/job.env", "AKIAHANDEDITED000001", "typo");
	const struct fake_consumer_value *app = fake_consumer_get(&f->world, "/srv/alpha/app.env");
	int app_writes = app->writes;
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_PROPAGATE));
	assert_false(has_action(&p, ROTOR_ACT_CREATE));
	check_invariants(f, "alpha");
	/* the consumer in sync is not written again */
	assert_int_equal(fake_consumer_get(&f->world, "/srv/alpha/app.env")->writes, app_writes);
	assert_int_equal(f->world.calls_create, creates);
}

/* A store whose pair no longer authenticates (a secret edited by hand) is
 * repaired by a rotation, not by writing anything unproven. */
static void test_heal_store_bad_secret(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	char before[32];
	snprintf(before, sizeof(before), "%s", stored_akid(f, "alpha"));
	fake_store_put(&f->world, spath("alpha", "AWS_SECRET_ACCESS_KEY"), "not-the-secret");
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_equal(p.obs.store_auth, 0);
	assert_true(has_action(&p, ROTOR_ACT_CREATE));
	check_invariants(f, "alpha");
	assert_string_not_equal(stored_akid(f, "alpha"), before);
}

/* The stored key deleted behind rotor's back: a new key, never a write of
 * the dead pair to consumers. */
static void test_heal_stored_key_gone(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	struct rotor_error err;
	char id[32];
	snprintf(id, sizeof(id), "%s", stored_akid(f, "alpha"));
	assert_int_equal(
	    fake_providers()->aws->api->delete_access_key(&f->world, "alpha", id, &err), 0);
	converge(f, "alpha", &p);
	check_invariants(f, "alpha");
	assert_string_not_equal(stored_akid(f, "alpha"), id);
}

/* ---- strays ----------------------------------------------------------------- */

static void test_stray_unused_deleted(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	struct fake_key *s = fake_key_add(&f->world, "alpha", T0 + 60);
	char stray[32];
	snprintf(stray, sizeof(stray), "%s", s->id);
	advance(f, 120);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_DELETE_STRAY));
	assert_null(fake_key(&f->world, "alpha", stray));
	check_invariants(f, "alpha");
}

static void test_stray_used_stalls(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	struct fake_key *s = fake_key_add(&f->world, "alpha", T0 + 60);
	char stray[32];
	snprintf(stray, sizeof(stray), "%s", s->id);
	fake_key_use(&f->world, "alpha", stray, T0 + 90, "ec2");
	advance(f, 120);
	pass(f, "alpha", &p);
	assert_int_equal(p.plan.status, ROTOR_STATUS_STALLED);
	assert_int_equal(p.rec.applied, 0);
	assert_non_null(fake_key(&f->world, "alpha", stray));
	assert_true(fake_key(&f->world, "alpha", stray)->active);
}

/* ---- rollback and resume ---------------------------------------------------- */

static void test_rollback_and_resume(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	char first[32], second[32];
	snprintf(first, sizeof(first), "%s", stored_akid(f, "alpha"));
	advance(f, 31 * D);
	assert_int_equal(pass(f, "alpha", &p), 0);
	snprintf(second, sizeof(second), "%s", stored_akid(f, "alpha"));
	assert_string_not_equal(first, second);

	struct rotor_error err;
	const struct rotor_manifest *m = rotor_manifest_set_find(&f->set, "alpha");
	assert_int_equal(rotor_engine_rollback(f->e, m, NULL, &err), 0);
	/* the previous pair is back everywhere; the new key Inactive */
	assert_string_equal(stored_akid(f, "alpha"), first);
	check_invariants(f, "alpha");
	assert_false(fake_key(&f->world, "alpha", second)->active);
	assert_non_null(fake_tag(&f->world, "alpha", ROTOR_TAG_SUSPENDED));
	/* suspended: a pass plans nothing, even past the cadence */
	advance(f, 40 * D);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_int_equal(p.rec.applied, 0);
	assert_int_equal(p.plan.status, ROTOR_STATUS_SUSPENDED);
	int suspended = 0;
	assert_int_equal(rotor_engine_resume(f->e, m, &suspended, &err), 0);
	assert_true(suspended);
	assert_null(fake_tag(&f->world, "alpha", ROTOR_TAG_SUSPENDED));
	converge(f, "alpha", &p);
	check_invariants(f, "alpha");
}

/* A rollback with no previous version refuses and changes nothing. */
static void test_rollback_refused_without_history(void **state)
{
	struct fx *f = *state;
	struct pass p;
	converge(f, "alpha", &p);
	int updates = f->world.calls_update;
	struct rotor_error err;
	const struct rotor_manifest *m = rotor_manifest_set_find(&f->set, "alpha");
	assert_int_not_equal(rotor_engine_rollback(f->e, m, NULL, &err), 0);
	assert_non_null(strstr(err.message, "nothing was changed"));
	assert_int_equal(f->world.calls_update, updates);
	assert_null(fake_tag(&f->world, "alpha", ROTOR_TAG_SUSPENDED));
	check_invariants(f, "alpha");
}

/* ---- spec.windows ---------------------------------------------------------- */

/* T0 is Monday 2026-06-01 00:00 UTC; Berlin is UTC+2 (CEST) then. */
static const char WINDOWED[] = "apiVersion: rotor/v1\n"
                               "kind: AccessKeyRotation\n"
                               "metadata: {name: win}\n"
                               "spec:\n"
                               "  user: win\n"
                               "  aws: prod\n"
                               "  cadence: 30d\n"
                               "  windows:\n"
                               "    - {days: [tue], start: \"09:00\", end: \"10:00\", timeZone: "
                               "Europe/Berlin}\n"
                               "  store:\n"
                               "    infisical: {connection: vault, projectId: p1, environment: "
                               "prod, secretPath: /win}\n"
                               "  consumers:\n"
                               "    - {name: app, envFile: {path: /srv/win/app.env}}\n"
                               "    - {name: job, envFile: {path: /srv/win/job.env}}\n";

static void add_windowed(struct fx *f)
{
	struct rotor_diags d;
	rotor_diags_init(&d);
	assert_int_equal(rotor_manifest_parse(&f->set, "win.yaml", WINDOWED, strlen(WINDOWED), &d),
	                 0);
	assert_int_equal(rotor_manifest_set_check_config(&f->set, f->cfg, &d), 0);
	rotor_diags_dispose(&d);
	fake_user_add(&f->world, "win");
}

/* Outside every window due changes wait, and the plan says until when; at
 * the opening (Tuesday 09:00 Berlin = 07:00 UTC) they are made. */
static void test_window_holds_until_it_opens(void **state)
{
	struct fx *f = *state;
	struct pass p;
	add_windowed(f);
	fake_key_add(&f->world, "win", T0 - 400 * D);
	assert_int_equal(pass(f, "win", &p), 0);
	assert_int_equal(p.plan.nactions, 0);
	assert_int_equal(p.plan.status, ROTOR_STATUS_WAITING);
	assert_non_null(strstr(p.plan.status_reason, "outside its rotation windows"));
	assert_non_null(strstr(p.plan.status_reason, "tue 09:00-10:00 Europe/Berlin"));
	assert_non_null(strstr(p.plan.status_reason, "2026-06-02T07:00:00Z"));
	assert_int_equal(p.plan.forecast[0].at, T0 + D + 7 * H);
	/* what follows is dated from the opening, not from now */
	int later = 0;
	for (int i = 1; i < p.plan.nforecast; i++) {
		assert_true(p.plan.forecast[i].at > T0 + D + 7 * H);
		if (p.plan.forecast[i].kind == ROTOR_FC_ROTATE) {
			assert_int_equal(p.plan.forecast[i].at, T0 + D + 7 * H + 30 * D);
			later = 1;
		}
	}
	assert_true(later);
	assert_null(stored_akid(f, "win"));
	advance(f, D + 7 * H - 60); /* Tuesday 08:59 Berlin */
	assert_int_equal(pass(f, "win", &p), 0);
	assert_int_equal(p.rec.applied, 0);
	advance(f, 60); /* 09:00 Berlin */
	assert_int_equal(pass(f, "win", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_CREATE));
	assert_non_null(stored_akid(f, "win"));
}

/* Repairing a store whose pair no longer authenticates does not wait. */
static void test_window_allows_repair(void **state)
{
	struct fx *f = *state;
	struct pass p;
	add_windowed(f);
	advance(f, D + 7 * H); /* in the window: adopt */
	converge(f, "win", &p);
	char before[32];
	snprintf(before, sizeof(before), "%s", stored_akid(f, "win"));
	advance(f, 3 * H); /* 12:00 Berlin: closed */
	fake_store_put(&f->world, spath("win", "AWS_SECRET_ACCESS_KEY"), "not-the-secret");
	assert_int_equal(pass(f, "win", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_CREATE));
	assert_non_null(strstr(p.plan.status_reason, "allowed at any time"));
	assert_string_not_equal(stored_akid(f, "win"), before);
}

/* Windows are validated like every field. */
static void test_window_validation(void **state)
{
	struct fx *f = *state;
	static const char *const bad[][2] = {
	    {"{days: [funday], start: \"09:00\", end: \"10:00\"}", "is not one of mon"},
	    {"{days: [mon], start: \"9am\", end: \"10:00\"}", "is not a time of day"},
	    {"{days: [mon], start: \"10:00\", end: \"09:00\"}", "must be after start"},
	    {"{days: [mon], start: \"09:00\", end: \"10:00\", timeZone: Mars/Olympus_Mons}",
	     "is not known on this machine"},
	    {"{days: [mon], start: \"09:00\", end: \"10:00\", timeZone: \"../etc/passwd\"}",
	     "is not an IANA time zone name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[2048];
		struct rotor_manifest_set set;
		struct rotor_diags d;
		snprintf(doc, sizeof(doc),
		         "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: w}\n"
		         "spec:\n  user: w\n  aws: prod\n  windows:\n    - %s\n  store:\n"
		         "    infisical: {connection: vault, projectId: p1, environment: prod}\n",
		         bad[i][0]);
		rotor_manifest_set_init(&set);
		rotor_diags_init(&d);
		rotor_manifest_parse(&set, "w.yaml", doc, strlen(doc), &d);
		rotor_manifest_set_check_config(&set, f->cfg, &d);
		int found = 0;
		for (size_t k = 0; k < d.n; k++)
			found |= strstr(d.items[k].message, bad[i][1]) != NULL;
		if (!found)
			fail_msg("window %s: no diagnostic saying \"%s\"", bad[i][0], bad[i][1]);
		rotor_diags_dispose(&d);
		rotor_manifest_set_dispose(&set);
	}
}

/* ---- each remote failing in turn -------------------------------------------- */

struct failure {
	const char *op;
	int after; /* successful calls of op before it fails */
	int rc;
	const char *code;
	int later; /* fails in a pass after adoption (first converge, then rotate) */
};

static const struct failure FAILURES[] = {
    {"get_user", 0, ROTOR_ETRANSIENT, "ServiceFailure", 0},
    {"list_access_keys", 0, ROTOR_ETHROTTLED, "Throttling", 0},
    {"list_access_keys", 1, ROTOR_ETRANSIENT, "ServiceFailure", 0}, /* the re-check */
    {"last_used", 0, ROTOR_EAUTH, "AccessDenied", 0},
    {"list_user_tags", 0, ROTOR_ETRANSIENT, "ServiceFailure", 0},
    {"tag_user", 0, ROTOR_ETHROTTLED, "Throttling", 0}, /* the intent */
    {"create_access_key", 0, ROTOR_ETRANSIENT, "ServiceFailure", 0},
    {"validate_key", 0, ROTOR_EAUTH, "InvalidClientTokenId", 0},
    {"read_pair", 0, ROTOR_ETRANSIENT, "503", 0},
    {"write_pair", 0, ROTOR_ETRANSIENT, "503", 0},
    {"consumer_observe", 0, ROTOR_EIO, "", 1},
    {"list_access_keys", 1, ROTOR_ETRANSIENT, "ServiceFailure", 1}, /* before deactivate */
    {"read_pair", 1, ROTOR_ETRANSIENT, "503", 1},                   /* the store re-check */
    {"update_access_key", 0, ROTOR_ETHROTTLED, "Throttling", 1},
    {"consumer_write", 0, ROTOR_EIO, "", 0},
    {"consumer_write", 1, ROTOR_EIO, "", 0},                /* the second consumer */
    {"tag_user", 3, ROTOR_ETRANSIENT, "ServiceFailure", 0}, /* record-sync */
};

static void test_each_remote_failing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(FAILURES) / sizeof(FAILURES[0]); i++) {
		const struct failure *x = &FAILURES[i];
		struct fx *f;
		void *st;
		setup(&st);
		f = st;
		struct pass p;
		fake_key_add(&f->world, "alpha", T0 - 400 * D);
		if (x->later) { /* adopted, and the legacy key due for deactivation */
			converge(f, "alpha", &p);
			advance(f, 2 * H);
		}
		fake_fail(&f->world, x->op, x->after, 1, x->rc, x->code);
		int rc = pass(f, "alpha", &p);
		if (f->world.faults[0].times != 0)
			fail_msg("%s (after %d): the fault was never reached", x->op, x->after);
		/* the pass says it failed (an error or an observation it could
		 * not make), naming the remote's code */
		if (rc == 0 && !p.rec.observe_failed)
			fail_msg("%s (after %d): the pass reported success", x->op, x->after);
		const char *msg = rc ? p.err.message : p.rec.observe_error;
		if (x->code[0] && !strstr(msg, x->code))
			fail_msg("%s: the message does not name %s: %s", x->op, x->code, msg);
		/* never a third key, and a key that failed validation is gone */
		assert_true(f->world.max_keys_seen <= 2);
		if (strcmp(x->op, "validate_key") == 0)
			assert_int_equal(fake_user(&f->world, "alpha")->nkeys, 1);
		/* the next passes converge from whatever was left */
		fake_faults_clear(&f->world);
		advance(f, 60);
		converge(f, "alpha", &p);
		check_invariants(f, "alpha");
		teardown(&st);
	}
}

/* A key created, then the pass killed before the store write (a crash):
 * the next pass recognises the unstored, never-used key as its own, deletes
 * it and rotates again. */
static void test_crash_after_create(void **state)
{
	struct fx *f = *state;
	struct pass p;
	fake_key_add(&f->world, "alpha", T0 - 400 * D);
	fake_fail(&f->world, "validate_key", 0, 1, ROTOR_EAUTH, "InvalidClientTokenId");
	fake_fail(&f->world, "delete_access_key", 0, 1, ROTOR_ETRANSIENT, "ServiceFailure");
	assert_int_not_equal(pass(f, "alpha", &p), 0);
	/* the unvalidated key could not be deleted: it is left, unstored */
	assert_int_equal(fake_user(&f->world, "alpha")->nkeys, 2);
	assert_null(stored_akid(f, "alpha"));
	advance(f, 60);
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_DELETE_STRAY));
	converge(f, "alpha", &p);
	check_invariants(f, "alpha");
}

/* A stop asked (the controller's SIGTERM) lets the step in flight finish
 * and starts no other: the pass ends with ROTOR_ESTOPPED after exactly one
 * step, and the next pass resumes from the progress record. */
static void test_stop_between_steps(void **state)
{
	struct fx *f = *state;
	struct pass p;
	atomic_int stop = 1; /* asked before the first step: that one still runs */
	struct rotor_engine *stopping = NULL;
	struct rotor_engine_options o = {0};
	struct rotor_error err;
	o.clock = &f->clock;
	o.providers = fake_providers();
	o.stop = &stop;
	assert_int_equal(rotor_engine_new(&stopping, f->cfg, &o, &err), 0);
	fake_key_add(&f->world, "alpha", T0 - 400 * D);
	struct rotor_engine *normal = f->e;
	f->e = stopping;
	assert_int_equal(pass(f, "alpha", &p), ROTOR_ESTOPPED);
	f->e = normal;
	rotor_engine_free(stopping);
	assert_true(p.plan.nactions > 2);
	assert_int_equal(p.rec.applied, 1);
	assert_non_null(strstr(p.err.message, "stopped before"));
	assert_null(stored_akid(f, "alpha")); /* the store step never started */
	converge(f, "alpha", &p);
	check_invariants(f, "alpha");
}

/* One consumer's write failing does not leave the others behind: the
 * propagations after it are made, nothing after them (record-sync), the
 * pass fails naming the first; the next pass writes the one that failed. */
static void test_failed_consumer_does_not_block_others(void **state)
{
	struct fx *f = *state;
	struct pass p;
	fake_key_add(&f->world, "alpha", T0 - 400 * D);
	fake_fail(&f->world, "consumer_write", 0, 1, ROTOR_EAUTH, "forbidden");
	assert_int_not_equal(pass(f, "alpha", &p), 0);
	assert_non_null(strstr(p.err.message, "forbidden"));
	const char *akid = stored_akid(f, "alpha");
	assert_non_null(akid);
	assert_null(fake_consumer_get(&f->world, "/srv/alpha/app.env")); /* the one that failed */
	const struct fake_consumer_value *job = fake_consumer_get(&f->world, "/srv/alpha/job.env");
	assert_non_null(job); /* the one after it: written */
	assert_string_equal(job->akid, akid);
	/* record-sync did not run: the next pass still has work (app) */
	assert_int_equal(pass(f, "alpha", &p), 0);
	assert_true(has_action(&p, ROTOR_ACT_PROPAGATE));
	assert_true(has_action(&p, ROTOR_ACT_RECORD_SYNC));
	converge(f, "alpha", &p);
	check_invariants(f, "alpha");
	assert_int_equal(fake_consumer_get(&f->world, "/srv/alpha/job.env")->writes, 1);
}

int main(void)
{
	rotor_log_setup(NULL, getenv("ROTOR_TEST_LOG") ? ROTOR_LOG_DEBUG : ROTOR_LOG_OFF,
	                ROTOR_LOG_TEXT, NULL);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_lifecycle),
	    T(test_hold_on_use_after_switch),
	    T(test_no_hold_on_use_before_switch),
	    T(test_heal_consumer_drift),
	    T(test_heal_store_bad_secret),
	    T(test_heal_stored_key_gone),
	    T(test_stray_unused_deleted),
	    T(test_stray_used_stalls),
	    T(test_rollback_and_resume),
	    T(test_rollback_refused_without_history),
	    cmocka_unit_test(test_each_remote_failing),
	    T(test_crash_after_create),
	    T(test_stop_between_steps),
	    T(test_failed_consumer_does_not_block_others),
	    T(test_window_holds_until_it_opens),
	    T(test_window_allows_repair),
	    T(test_window_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
