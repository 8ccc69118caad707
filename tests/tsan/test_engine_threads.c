/*
 * test_engine_threads.c: one engine shared by several worker threads, many
 * manifests through rotor_reconcile_one against the fakes, built with
 * ThreadSanitizer (tests/CMakeLists.txt): a data race anywhere on the way
 * (the engine's caches and handle pool, the deletion budget, the planner,
 * the log, the fakes) fails the test. Each round ends with every user's
 * invariants checked: adoption, deactivation, deletion, the next rotation.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "rotor/config.h"
#include "rotor/engine.h"
#include "rotor/log.h"
#include "rotor/reconcile.h"
#include "testsupport.h"

#define T0 1780272000
#define H 3600
#define D 86400
#define USERS 48
#define THREADS 6

static const char CONFIG[] = "apiVersion: rotor/v1\nkind: Config\nconnections:\n  aws:\n"
                             "    prod: {region: us-east-1}\n    dev: {region: eu-west-1}\n"
                             "  infisical:\n    vault: {siteUrl: 'https://infisical.example', "
                             "clientId: {env: X_ID}, clientSecret: {env: X_SECRET}}\n"
                             "envFiles:\n  allowedDirs: [/srv]\n";

static struct rotor_clock clk;
static struct fake_world world;
static struct rotor_manifest_set set;
static struct rotor_engine *engine;
static struct rotor_deletion_budget budget;
static atomic_int next_index;
static atomic_int failures;
static int64_t round_now;

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		int i = atomic_fetch_add(&next_index, 1);
		if (i >= (int)set.n)
			return NULL;
		struct rotor_observed *obs = calloc(1, sizeof(*obs));
		struct rotor_manifest_plan *plan = calloc(1, sizeof(*plan));
		struct rotor_engine_state st;
		struct rotor_reconcile rec;
		struct rotor_reconcile_options o;
		struct rotor_error err;
		memset(&o, 0, sizeof(o));
		o.budget = &budget;
		rotor_reconcile_init(&rec, &set.items[i], obs, &st, plan);
		if (rotor_reconcile_one(engine, &rec, round_now, &o, &err) != 0 ||
		    rec.observe_failed) {
			fprintf(stderr, "%s: %s\n", set.items[i].name,
			        rec.observe_failed ? rec.observe_error : err.message);
			atomic_fetch_add(&failures, 1);
		}
		rotor_reconcile_dispose(&rec);
		free(obs);
		free(plan);
	}
}

static void round_all(void)
{
	pthread_t t[THREADS];
	atomic_store(&next_index, 0);
	round_now = clk.now(&clk);
	rotor_deletion_budget_init(&budget, 1000);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	rotor_deletion_budget_dispose(&budget);
	assert_int_equal(atomic_load(&failures), 0);
}

static const char *stored(const char *user, const char *name)
{
	static char path[256];
	char folder[80];
	snprintf(folder, sizeof(folder), "/%s", user);
	fake_store_path(path, sizeof(path), "p1", "prod", folder, name);
	return fake_store_get(&world, path);
}

/* Every user: the stored pair is an Active key of its own with the right
 * secret, its consumer holds it, and `keys` keys remain. */
static void check_all(int keys)
{
	for (size_t i = 0; i < set.n; i++) {
		const char *user = set.items[i].user;
		const char *akid = stored(user, "AWS_ACCESS_KEY_ID");
		const char *secret = stored(user, "AWS_SECRET_ACCESS_KEY");
		char target[128];
		assert_non_null(akid);
		assert_non_null(secret);
		struct fake_key *k = fake_key(&world, user, akid);
		assert_non_null(k);
		assert_true(k->active);
		assert_string_equal(k->secret, secret);
		snprintf(target, sizeof(target), "/srv/%s.env", user);
		const struct fake_consumer_value *v = fake_consumer_get(&world, target);
		assert_non_null(v);
		assert_string_equal(v->akid, akid);
		assert_int_equal(fake_user(&world, user)->nkeys, keys);
	}
	assert_true(world.max_keys_seen <= 2);
	assert_int_equal(world.limit_exceeded, 0);
}

static void test_many_manifests_many_threads(void **state)
{
	(void)state;
	struct rotor_config *cfg;
	struct rotor_diags d;
	struct rotor_error err;
	rotor_clock_fixed_init(&clk, T0);
	fake_world_init(&world, &clk);
	world.delay_us = 200; /* calls overlap: workers really run at once */
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_parse(&cfg, "rotor.yaml", CONFIG, strlen(CONFIG), &d), 0);
	rotor_manifest_set_init(&set);
	for (int i = 0; i < USERS; i++) {
		char name[32], buf[1024];
		snprintf(name, sizeof(name), "user-%02d", i);
		snprintf(
		    buf, sizeof(buf),
		    "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: %s}\n"
		    "spec:\n  user: %s\n  aws: %s\n  cadence: 30d\n  deactivateAfter: 1h\n"
		    "  deleteAfter: 2d\n  store:\n    infisical: {connection: vault, projectId: "
		    "p1, environment: prod, secretPath: /%s}\n  consumers:\n"
		    "    - {name: app, envFile: {path: /srv/%s.env}}\n",
		    name, name, i % 2 ? "prod" : "dev", name, name);
		assert_int_equal(rotor_manifest_parse(&set, name, buf, strlen(buf), &d), 0);
		fake_user_add(&world, name);
		fake_key_add(&world, name, T0 - 400 * D);
	}
	rotor_diags_dispose(&d);
	struct rotor_engine_options o;
	memset(&o, 0, sizeof(o));
	o.clock = &clk;
	o.providers = fake_providers();
	assert_int_equal(rotor_engine_new(&engine, cfg, &o, &err), 0);

	round_all(); /* adoption: a new key each, the legacy key kept */
	check_all(2);
	rotor_clock_fixed_advance(&clk, 2 * H);
	round_all(); /* deactivation of the legacy keys */
	check_all(2);
	rotor_clock_fixed_advance(&clk, 3 * D);
	round_all(); /* their deletion */
	check_all(1);
	rotor_clock_fixed_advance(&clk, 30 * D);
	round_all(); /* the next rotation */
	check_all(2);
	assert_int_equal(world.calls_create, 2 * USERS);
	/* the pool gave workers handles of their own, and calls overlapped */
	assert_true(world.handles_opened >= 2);
	assert_true(world.handles_opened <= THREADS * 2);
	assert_true(world.max_in_flight >= 2);

	rotor_engine_free(engine);
	rotor_manifest_set_dispose(&set);
	rotor_config_free(cfg);
	fake_world_dispose(&world);
}

int main(void)
{
	rotor_log_setup(NULL, ROTOR_LOG_OFF, ROTOR_LOG_TEXT, NULL);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_manifests_many_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
