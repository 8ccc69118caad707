/*
 * test_plan_render.c: the plan as people and machines read it. Text (no
 * colour) and markdown are compared byte for byte with golden files in
 * testdata/plan/; run with UPDATE_GOLDEN=1 to rewrite them, then read the
 * diff as a reviewer would. JSON is parsed back with jansson and checked
 * against the schema of docs/plan-json.md. Every output is checked to name
 * no access key id that was not observed (the model holds no secret, so
 * ids are the only credential material a renderer could leak).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/plan.h"
#include "testsupport.h"

#define NOW ((int64_t)1780272000) /* 2026-06-01T00:00:00Z */
#define M ((int64_t)60)
#define H ((int64_t)3600)
#define D ((int64_t)86400)

/* ---- scenario building ------------------------------------------------------ */

#define MAXM 10

struct scenario {
	struct rotor_manifest m[MAXM];
	struct rotor_observed o[MAXM];
	struct rotor_manifest_plan p[MAXM];
	struct rotor_consumer c[MAXM][4];
	size_t n;
};

static struct rotor_manifest *manifest(struct scenario *s, const char *name, const char *user,
                                       const char *consumers)
{
	size_t i = s->n++;
	struct rotor_manifest *m = &s->m[i];
	struct rotor_observed *o = &s->o[i];
	static const char *const names[] = {"api", "ci", "vault-host", "worker"};
	memset(m, 0, sizeof(*m));
	memset(o, 0, sizeof(*o));
	m->name = (char *)name;
	m->user = (char *)user;
	m->aws = "aws-prod";
	m->cadence = 30 * D;
	m->deactivate_after = 1 * H;
	m->delete_after = 1 * D;
	m->store.connection = "infisical-main";
	m->store.secret_path = "/aws";
	m->store.akid_name = "AWS_ACCESS_KEY_ID";
	m->store.secret_name = "AWS_SECRET_ACCESS_KEY";
	m->consumers = s->c[i];
	m->nconsumers = strlen(consumers);
	for (size_t k = 0; k < m->nconsumers; k++) {
		s->c[i][k].name = (char *)names[k];
		s->c[i][k].kind = (enum rotor_consumer_kind)(k % 3);
		o->consumers[k].state = consumers[k] == 's'   ? ROTOR_CONSUMER_IN_SYNC
		                        : consumers[k] == 'd' ? ROTOR_CONSUMER_DRIFTED
		                                              : ROTOR_CONSUMER_UNKNOWN;
		if (consumers[k] == 'd')
			snprintf(o->consumers[k].detail, sizeof(o->consumers[k].detail),
			         "AWS_ACCESS_KEY_ID was edited by hand");
		if (consumers[k] == 'u')
			snprintf(o->consumers[k].detail, sizeof(o->consumers[k].detail),
			         "Heroku API answered 503");
	}
	o->nconsumers = (int)m->nconsumers;
	o->iam_known = o->store_known = 1;
	o->store_auth = -1;
	return m;
}

static struct rotor_obs_key *key(struct scenario *s, const char *id, int active, int64_t age,
                                 int64_t used_ago)
{
	struct rotor_observed *o = &s->o[s->n - 1];
	struct rotor_obs_key *k = &o->keys[o->nkeys++];
	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->active = active;
	k->created = NOW - age;
	k->last_used_known = 1;
	if (used_ago >= 0) {
		k->last_used = NOW - used_ago;
		snprintf(k->last_service, sizeof(k->last_service), "s3");
		snprintf(k->last_region, sizeof(k->last_region), "us-east-1");
	}
	return k;
}

static void record(struct rotor_obs_key *k, const char *manifest, int64_t synced_ago,
                   int64_t inactive_ago)
{
	k->record.present = 1;
	snprintf(k->record.manifest, sizeof(k->record.manifest), "%s", manifest);
	k->record.created = k->created;
	k->record.synced = synced_ago ? NOW - synced_ago : 0;
	k->record.inactive = inactive_ago ? NOW - inactive_ago : 0;
	k->record.store_version = 3;
}

static void stored(struct scenario *s, const char *id)
{
	struct rotor_observed *o = &s->o[s->n - 1];
	o->store_has_akid = o->store_has_secret = 1;
	snprintf(o->store_akid, sizeof(o->store_akid), "%s", id);
	o->store_akid_version = o->store_secret_version = 3;
	o->store_auth = 1;
}

static void plan_all(struct scenario *s, int max_deletions)
{
	for (size_t i = 0; i < s->n; i++)
		rotor_plan_compute(&s->m[i], &s->o[i], NOW, &s->p[i]);
	rotor_plan_limit_deletions(s->p, s->n, max_deletions);
}

/* A pull request's view of a small fleet: one of every situation. */
static void fleet(struct scenario *s)
{
	struct rotor_obs_key *k;
	memset(s, 0, sizeof(*s));
	/* due by cadence: rotates now */
	manifest(s, "s3-backup-writer", "raxx-s3-backup", "ss");
	record(key(s, "AKIAS3BACKUP0000CUR1", 1, 31 * D, 2 * H), "s3-backup-writer", 30 * D, 0);
	stored(s, "AKIAS3BACKUP0000CUR1");
	/* the last rotation is in its grace: deactivation is dated */
	manifest(s, "ses-mailer", "raxx-ses", "s");
	record(key(s, "AKIASESMAILER000NEW1", 1, 20 * M, -1), "ses-mailer", 20 * M, 0);
	key(s, "AKIASESMAILER000OLD1", 1, 30 * D, 25 * M);
	stored(s, "AKIASESMAILER000NEW1");
	/* grace over, old key unused: deactivated now */
	manifest(s, "billing-export", "raxx-billing", "ss");
	record(key(s, "AKIABILLING00000NEW1", 1, 2 * D, 10 * M), "billing-export", 2 * D, 0);
	key(s, "AKIABILLING00000OLD1", 1, 32 * D, 3 * D);
	stored(s, "AKIABILLING00000NEW1");
	/* a stray somebody uses: stalled */
	manifest(s, "ci-deployer", "raxx-ci", "s");
	record(key(s, "AKIACIDEPLOYER0CUR01", 1, 10 * D, 1 * H), "ci-deployer", 10 * D, 0);
	key(s, "AKIACIDEPLOYER0XTRA1", 1, 3 * D, 5 * H);
	stored(s, "AKIACIDEPLOYER0CUR01");
	/* observe mode, a consumer edited by hand */
	manifest(s, "analytics-reader", "raxx-analytics", "sd")->mode = ROTOR_MODE_OBSERVE;
	record(key(s, "AKIAANALYTICS00CUR01", 1, 12 * D, 1 * H), "analytics-reader", 12 * D, 0);
	stored(s, "AKIAANALYTICS00CUR01");
	/* in sync, Inactive predecessor inside its window */
	manifest(s, "logs-shipper", "raxx-logs", "s");
	record(key(s, "AKIALOGSSHIPPER0CUR1", 1, 5 * D, 1 * H), "logs-shipper", 5 * D, 0);
	k = key(s, "AKIALOGSSHIPPER0OLD1", 0, 35 * D, 5 * D);
	record(k, "logs-shipper", 0, 10 * H);
	stored(s, "AKIALOGSSHIPPER0CUR1");
	/* in sync, nothing to do */
	manifest(s, "metrics-push", "raxx-metrics", "");
	record(key(s, "AKIAMETRICSPUSH0CUR1", 1, 3 * D, 1 * H), "metrics-push", 3 * D, 0);
	stored(s, "AKIAMETRICSPUSH0CUR1");
	/* suspended */
	manifest(s, "legacy-ftp", "raxx-ftp", "s")->suspend = 1;
	key(s, "AKIALEGACYFTP000CUR1", 1, 400 * D, 1 * D);
	stored(s, "AKIALEGACYFTP000CUR1");
	/* IAM could not be read */
	manifest(s, "search-indexer", "raxx-search", "s");
	s->o[s->n - 1].iam_known = 0;
	snprintf(s->o[s->n - 1].iam_error, sizeof(s->o[0].iam_error),
	         "ListAccessKeys(raxx-search): AccessDenied (request 7a62c1)");
	plan_all(s, 10);
}

/* Adopting an existing user: the store is empty, a hand-made key exists. */
static void adoption(struct scenario *s)
{
	memset(s, 0, sizeof(*s));
	struct rotor_manifest *m = manifest(s, "payments-api", "raxx-payments", "sss");
	m->cadence = 90 * D;
	m->delete_after = 7 * D;
	key(s, "AKIAPAYMENTS0LEGACY1", 1, 700 * D, 20 * M);
	plan_all(s, 10);
}

/* Nothing to do anywhere: the comment stays one line. */
static void quiet(struct scenario *s)
{
	memset(s, 0, sizeof(*s));
	manifest(s, "s3-backup-writer", "raxx-s3-backup", "ss");
	record(key(s, "AKIAS3BACKUP0000CUR1", 1, 3 * D, 2 * H), "s3-backup-writer", 3 * D, 0);
	stored(s, "AKIAS3BACKUP0000CUR1");
	manifest(s, "metrics-push", "raxx-metrics", "");
	record(key(s, "AKIAMETRICSPUSH0CUR1", 1, 9 * D, 1 * H), "metrics-push", 9 * D, 0);
	stored(s, "AKIAMETRICSPUSH0CUR1");
	plan_all(s, 10);
}

/* --max-deletions=1 with two manifests that want to delete. */
static void held(struct scenario *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		manifest(s, i ? "team-b-uploader" : "team-a-uploader",
		         i ? "raxx-team-b" : "raxx-team-a", "s");
		record(
		    key(s, i ? "AKIATEAMBUPLOAD0CUR1" : "AKIATEAMAUPLOAD0CUR1", 1, 31 * D, 1 * H),
		    s->m[s->n - 1].name, 30 * D, 0);
		record(
		    key(s, i ? "AKIATEAMBUPLOAD0OLD1" : "AKIATEAMAUPLOAD0OLD1", 0, 61 * D, 31 * D),
		    s->m[s->n - 1].name, 0, 29 * D);
		stored(s, i ? "AKIATEAMBUPLOAD0CUR1" : "AKIATEAMAUPLOAD0CUR1");
	}
	plan_all(s, 1);
}

static const struct {
	const char *name;
	void (*build)(struct scenario *);
} scenarios[] = {
    {"fleet", fleet},
    {"adoption", adoption},
    {"quiet", quiet},
    {"max-deletions", held},
};

/* ---- rendering helpers ------------------------------------------------------ */

static char *render(struct scenario *s, enum rotor_plan_format format, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct rotor_plan_render r = {format, 0, NOW, "4f2a9c1"};
	assert_non_null(f);
	assert_int_equal(rotor_plan_render(f, s->p, s->n, s->o, &r), 0);
	fclose(f);
	return buf;
}

/* Every "AKIA..." in the output names a key that was observed (or the id
 * the store holds). */
static void assert_only_observed_ids(const char *out, const struct scenario *s)
{
	for (const char *p = strstr(out, "AKIA"); p; p = strstr(p + 1, "AKIA")) {
		size_t n = 0;
		while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9'))
			n++;
		int found = 0;
		for (size_t i = 0; i < s->n && !found; i++) {
			const struct rotor_observed *o = &s->o[i];
			for (int k = 0; k < o->nkeys; k++)
				found |=
				    strlen(o->keys[k].id) == n && !strncmp(o->keys[k].id, p, n);
			found |= strlen(o->store_akid) == n && !strncmp(o->store_akid, p, n);
		}
		if (!found)
			fail_msg("output names a key id that was not observed: %.*s", (int)n, p);
	}
}

static void check_golden(const char *name, const char *ext, const char *got, size_t len)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "testdata/plan/%s.%s", name, ext);
	const char *path = test_source_path(rel);
	if (getenv("UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fwrite(got, 1, len, f);
		fclose(f);
		printf("updated %s\n", rel);
		return;
	}
	size_t want_len = 0;
	char *want = test_read_file(path, &want_len);
	if (!want)
		fail_msg("%s is missing: run with UPDATE_GOLDEN=1 and review it", rel);
	if (want_len != len || memcmp(want, got, len) != 0) {
		size_t i = 0, line = 1;
		while (i < len && i < want_len && want[i] == got[i])
			line += got[i++] == '\n';
		printf("--- %s differs from line %zu; actual output:\n%s\n", rel, line, got);
		free(want);
		fail_msg("%s differs (UPDATE_GOLDEN=1 rewrites it; review the diff)", rel);
	}
	free(want);
}

static void test_golden(void **state)
{
	(void)state;
	static struct scenario s;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		size_t len;
		scenarios[i].build(&s);
		char *text = render(&s, ROTOR_PLAN_TEXT, &len);
		assert_null(strchr(text, '\033')); /* no colour unless asked */
		assert_only_observed_ids(text, &s);
		check_golden(scenarios[i].name, "txt", text, len);
		free(text);
		char *md = render(&s, ROTOR_PLAN_MARKDOWN, &len);
		assert_only_observed_ids(md, &s);
		check_golden(scenarios[i].name, "md", md, len);
		free(md);
	}
}

static void test_text_colour(void **state)
{
	(void)state;
	static struct scenario s;
	char *buf = NULL;
	size_t len;
	fleet(&s);
	FILE *f = open_memstream(&buf, &len);
	struct rotor_plan_render r = {ROTOR_PLAN_TEXT, 1, NOW, NULL};
	rotor_plan_render(f, s.p, s.n, s.o, &r);
	fclose(f);
	assert_non_null(strstr(buf, "\033[33m~")); /* changes yellow */
	assert_non_null(strstr(buf, "\033[32m+")); /* creation green */
	assert_non_null(strstr(buf, "\033[0m"));
	free(buf);
}

/* ---- JSON ------------------------------------------------------------------ */

static const char *str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", k);
	return json_string_value(v);
}

static void is_time(json_t *v, const char *what)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != 20 ||
	    json_string_value(v)[19] != 'Z')
		fail_msg("%s is not an RFC 3339 UTC time", what);
}

static void test_json_schema(void **state)
{
	(void)state;
	static struct scenario s;
	size_t len;
	json_error_t err;
	fleet(&s);
	char *out = render(&s, ROTOR_PLAN_JSON, &len);
	assert_only_observed_ids(out, &s);
	json_t *root = json_loadb(out, len, 0, &err);
	if (!root)
		fail_msg("JSON does not parse: %s (line %d)", err.text, err.line);
	assert_int_equal(json_integer_value(json_object_get(root, "schemaVersion")), 1);
	assert_string_equal(str(root, "generatedAt"), "2026-06-01T00:00:00Z");
	assert_string_equal(str(root, "revision"), "4f2a9c1");
	assert_true(json_is_true(json_object_get(root, "hasChanges")));
	json_t *sum = json_object_get(root, "summary");
	static const char *const counts[] = {"manifests", "toRollBack", "toRotate",   "toPrune",
	                                     "toSync",    "inSync",     "waiting",    "stalled",
	                                     "suspended", "unknown",    "observeOnly"};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (!json_is_integer(json_object_get(sum, counts[i])))
			fail_msg("summary.%s is not an integer", counts[i]);
	assert_int_equal(json_integer_value(json_object_get(sum, "manifests")), (json_int_t)s.n);
	assert_int_equal(json_integer_value(json_object_get(sum, "toRotate")), 1);
	assert_int_equal(json_integer_value(json_object_get(sum, "stalled")), 1);
	assert_int_equal(json_integer_value(json_object_get(sum, "suspended")), 1);
	assert_int_equal(json_integer_value(json_object_get(sum, "unknown")), 1);
	assert_int_equal(json_integer_value(json_object_get(sum, "observeOnly")), 1);

	json_t *list = json_object_get(root, "manifests");
	assert_int_equal(json_array_size(list), s.n);
	for (size_t i = 0; i < s.n; i++) {
		json_t *j = json_array_get(list, i);
		const struct rotor_manifest_plan *p = &s.p[i];
		assert_string_equal(str(j, "name"), s.m[i].name);
		assert_string_equal(str(j, "user"), s.m[i].user);
		assert_string_equal(str(j, "aws"), "aws-prod");
		assert_string_equal(str(j, "mode"), rotor_mode_name(s.m[i].mode));
		assert_string_equal(str(j, "status"), rotor_status_name(p->status));
		assert_string_equal(str(j, "statusReason"), p->status_reason);
		assert_true(json_is_boolean(json_object_get(j, "rotationDue")));
		assert_int_equal(json_is_true(json_object_get(j, "rotationDue")), p->rotation_due);
		json_t *due = json_object_get(j, "dueReason");
		assert_true(json_is_null(due) || json_is_string(due));
		assert_true(json_is_integer(json_object_get(j, "heldByMaxDeletions")));
		json_t *sv = json_object_get(j, "storeVersion");
		assert_true(json_is_null(sv) || json_is_integer(sv));

		json_t *keys = json_object_get(j, "keys");
		assert_true(json_is_array(keys));
		assert_int_equal(json_array_size(keys),
		                 s.o[i].iam_known ? (size_t)s.o[i].nkeys : 0);
		for (size_t k = 0; k < json_array_size(keys); k++) {
			json_t *jk = json_array_get(keys, k);
			assert_string_equal(str(jk, "id"), s.o[i].keys[k].id);
			const char *role = str(jk, "role");
			assert_true(!strcmp(role, "current") || !strcmp(role, "predecessor") ||
			            !strcmp(role, "stray") || !strcmp(role, "legacy"));
			const char *st = str(jk, "status");
			assert_true(!strcmp(st, "Active") || !strcmp(st, "Inactive"));
			is_time(json_object_get(jk, "created"), "keys[].created");
			json_t *lu = json_object_get(jk, "lastUsed");
			if (json_is_object(lu)) {
				is_time(json_object_get(lu, "date"), "lastUsed.date");
				str(lu, "service");
				str(lu, "region");
			} else if (!json_is_null(lu)) {
				assert_string_equal(json_string_value(lu), "unknown");
			}
		}
		json_t *acts = json_object_get(j, "actions");
		assert_int_equal(json_array_size(acts), (size_t)p->nactions);
		for (size_t a = 0; a < json_array_size(acts); a++) {
			json_t *ja = json_array_get(acts, a);
			assert_string_equal(str(ja, "kind"), rotor_action_name(p->actions[a].kind));
			assert_string_equal(str(ja, "reason"), p->actions[a].reason);
			assert_int_equal(json_is_true(json_object_get(ja, "willApply")),
			                 !p->observe_only);
			assert_true(json_is_boolean(json_object_get(ja, "willApply")));
			json_t *kid = json_object_get(ja, "keyId");
			assert_true(p->actions[a].key_id[0] ? json_is_string(kid)
			                                    : json_is_null(kid));
			json_t *c = json_object_get(ja, "consumer");
			if (p->actions[a].consumer >= 0)
				assert_string_equal(json_string_value(c),
				                    s.m[i].consumers[p->actions[a].consumer].name);
			else
				assert_true(json_is_null(c));
		}
		json_t *fc = json_object_get(j, "forecast");
		assert_int_equal(json_array_size(fc), (size_t)p->nforecast);
		for (size_t f = 0; f < json_array_size(fc); f++) {
			json_t *jf = json_array_get(fc, f);
			const char *kind = str(jf, "kind");
			assert_true(!strcmp(kind, "rotate") || !strcmp(kind, "deactivate") ||
			            !strcmp(kind, "delete"));
			is_time(json_object_get(jf, "at"), "forecast[].at");
			str(jf, "note");
			json_t *kid = json_object_get(jf, "keyId");
			assert_true(json_is_null(kid) || json_is_string(kid));
		}
	}
	/* Details a consumer of the JSON relies on. */
	json_t *rot = json_array_get(list, 0);
	assert_true(json_is_true(json_object_get(rot, "rotationDue")));
	assert_string_equal(str(json_array_get(json_object_get(rot, "actions"), 1), "kind"),
	                    "create");
	json_t *obs = json_array_get(list, 4);
	assert_string_equal(str(obs, "mode"), "observe");
	assert_true(json_is_false(
	    json_object_get(json_array_get(json_object_get(obs, "actions"), 0), "willApply")));
	json_t *sus = json_array_get(list, 7); /* suspended: keys still have their roles */
	assert_string_equal(str(json_array_get(json_object_get(sus, "keys"), 0), "role"),
	                    "current");
	json_decref(root);
	free(out);
}

/* When the store could not be read, no role can be known: null, not a guess. */
static void test_json_roles_unknown(void **state)
{
	(void)state;
	static struct scenario s;
	size_t len;
	memset(&s, 0, sizeof(s));
	manifest(&s, "app", "app-user", "s");
	key(&s, "AKIAAPPKEY000000ONE1", 1, 3 * D, 1 * H);
	key(&s, "AKIAAPPKEY000000TWO1", 1, 40 * D, -1);
	s.o[0].store_known = 0;
	snprintf(s.o[0].store_error, sizeof(s.o[0].store_error), "HTTP 500");
	plan_all(&s, 10);
	char *out = render(&s, ROTOR_PLAN_JSON, &len);
	json_t *root = json_loadb(out, len, 0, NULL);
	assert_non_null(root);
	json_t *keys =
	    json_object_get(json_array_get(json_object_get(root, "manifests"), 0), "keys");
	assert_int_equal(json_array_size(keys), 2);
	assert_true(json_is_null(json_object_get(json_array_get(keys, 0), "role")));
	assert_true(json_is_null(json_object_get(json_array_get(keys, 1), "lastUsed")));
	assert_true(json_is_null(json_object_get(
	    json_array_get(json_object_get(root, "manifests"), 0), "storeVersion")));
	json_decref(root);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_text_colour),
	    cmocka_unit_test(test_json_schema),
	    cmocka_unit_test(test_json_roles_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
