/*
 * test_reconcile.c: the pieces of rotor_reconcile that need no remote: the
 * --max-deletions budget shared by every manifest of a pass, also when
 * plans are made from several threads at once (the controller's workers).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rotor/plan.h"
#include "rotor/reconcile.h"
#include "testsupport.h"

#define NOW 1780272000
#define D 86400

/* A manifest whose plan deletes an Inactive predecessor past its window. */
struct one {
	struct rotor_manifest m;
	struct rotor_observed o;
	struct rotor_manifest_plan p;
	char name[16];
};

static void make(struct one *x, int i)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "m%d", i);
	x->m.name = x->name;
	x->m.user = x->name;
	x->m.aws = "aws-prod";
	x->m.cadence = 30 * D;
	x->m.deactivate_after = 3600;
	x->m.delete_after = D;
	x->o.iam_known = x->o.store_known = 1;
	x->o.nkeys = 2;
	snprintf(x->o.keys[0].id, sizeof(x->o.keys[0].id), "AKIACUR%013d", i);
	x->o.keys[0].active = 1;
	x->o.keys[0].created = NOW - 5 * D;
	x->o.keys[0].last_used_known = 1;
	x->o.keys[0].last_used = NOW - 3600;
	x->o.keys[0].record.present = 1;
	x->o.keys[0].record.synced = NOW - 5 * D;
	snprintf(x->o.keys[1].id, sizeof(x->o.keys[1].id), "AKIAOLD%013d", i);
	x->o.keys[1].created = NOW - 40 * D;
	x->o.keys[1].last_used_known = 1;
	x->o.keys[1].last_used = NOW - 6 * D;
	x->o.keys[1].record.present = 1;
	x->o.keys[1].record.inactive = NOW - 2 * D;
	x->o.store_has_akid = x->o.store_has_secret = 1;
	snprintf(x->o.store_akid, sizeof(x->o.store_akid), "%s", x->o.keys[0].id);
	x->o.store_auth = 1;
}

#define N 64
#define THREADS 8
static struct one all[N];
static struct rotor_deletion_budget budget;

static void *worker(void *arg)
{
	int t = (int)(long)arg;
	for (int i = t; i < N; i += THREADS) {
		rotor_plan_compute(&all[i].m, &all[i].o, NOW, &all[i].p);
		rotor_deletion_budget_take(&budget, &all[i].p);
	}
	return NULL;
}

static void test_budget_across_threads(void **state)
{
	(void)state;
	pthread_t th[THREADS];
	for (int i = 0; i < N; i++)
		make(&all[i], i);
	rotor_deletion_budget_init(&budget, 10);
	for (long t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)t), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	int kept = 0, held = 0;
	for (int i = 0; i < N; i++) {
		int del = 0;
		for (int a = 0; a < all[i].p.nactions; a++)
			del += all[i].p.actions[a].kind == ROTOR_ACT_DELETE;
		kept += del;
		held += all[i].p.deletions_held > 0;
		if (!del) {
			assert_string_equal(rotor_status_name(all[i].p.status), "Waiting");
			assert_non_null(
			    strstr(all[i].p.status_reason, "held by --max-deletions=10"));
		}
	}
	/* exactly the budget, whatever the interleaving */
	assert_int_equal(kept, 10);
	assert_int_equal(held, N - 10);
	assert_int_equal(budget.used, 10);
	rotor_deletion_budget_dispose(&budget);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_budget_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
