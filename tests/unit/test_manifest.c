/* test_manifest.c: the manifest model as parsed (values, defaults, positions),
 * the YAML tree's limits, and the cross-manifest checks. Error messages for
 * bad input are covered by the golden cases in testdata/invalid/. */
#include <stdlib.h>
#include <string.h>

#include "desired/yamldoc.h"
#include "rotor/error.h"
#include "rotor/manifest.h"
#include "testsupport.h"

static const char full[] =
    "apiVersion: rotor/v1\n"
    "kind: AccessKeyRotation\n"
    "metadata:\n"
    "  name: s3-backup-writer\n"
    "  labels: {team: platform}\n"
    "spec:\n"
    "  user: raxx-s3-backup\n"
    "  aws: aws-prod\n"
    "  cadence: 30d\n"
    "  deactivateAfter: 1h\n"
    "  deleteAfter: 24h\n"
    "  rotateRequestedAt: \"2026-11-22T10:00:00Z\"\n"
    "  suspend: false\n"
    "  mode: observe\n"
    "  store:\n"
    "    infisical:\n"
    "      connection: infisical-main\n"
    "      projectId: 6a1c\n"
    "      environment: prod\n"
    "      secretPath: /aws\n"
    "  consumers:\n"
    "    - name: api\n"
    "      heroku: {connection: heroku-main, app: raxx-api-prod}\n"
    "    - name: ci\n"
    "      githubActions: {connection: github-main, repository: raxx/api, environment: "
    "production, accessKeyIdName: CI_KEY_ID}\n"
    "    - name: vault-host\n"
    "      envFile: {path: /etc/raxx/credentials.env, reload: vault-host}\n";

static void test_full_manifest(void **state)
{
	(void)state;
	struct rotor_manifest_set set;
	struct rotor_diags d;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&d);
	assert_int_equal(rotor_manifest_parse(&set, "m.yaml", full, strlen(full), &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(set.n, 1);
	const struct rotor_manifest *m = rotor_manifest_set_find(&set, "s3-backup-writer");
	assert_non_null(m);
	assert_string_equal(m->user, "raxx-s3-backup");
	assert_string_equal(m->aws, "aws-prod");
	assert_int_equal(m->cadence, 30 * 86400);
	assert_int_equal(m->deactivate_after, 3600);
	assert_int_equal(m->delete_after, 86400);
	assert_int_equal(m->rotate_requested_at, 1795341600);
	assert_int_equal(m->suspend, 0);
	assert_int_equal(m->mode, ROTOR_MODE_OBSERVE);
	assert_int_equal(m->nlabels, 1);
	assert_string_equal(m->labels[0].key, "team");
	assert_string_equal(m->labels[0].value, "platform");
	assert_string_equal(m->store.connection, "infisical-main");
	assert_string_equal(m->store.project_id, "6a1c");
	assert_string_equal(m->store.environment, "prod");
	assert_string_equal(m->store.secret_path, "/aws");
	assert_string_equal(m->store.akid_name, "AWS_ACCESS_KEY_ID");
	assert_string_equal(m->store.secret_name, "AWS_SECRET_ACCESS_KEY");
	assert_int_equal(m->nconsumers, 3);
	assert_int_equal(m->consumers[0].kind, ROTOR_CONSUMER_HEROKU);
	assert_string_equal(m->consumers[0].app, "raxx-api-prod");
	assert_string_equal(m->consumers[0].akid_name, "AWS_ACCESS_KEY_ID");
	assert_int_equal(m->consumers[1].kind, ROTOR_CONSUMER_GITHUB);
	assert_string_equal(m->consumers[1].repository, "raxx/api");
	assert_string_equal(m->consumers[1].environment, "production");
	assert_string_equal(m->consumers[1].akid_name, "CI_KEY_ID");
	assert_string_equal(m->consumers[1].secret_name, "AWS_SECRET_ACCESS_KEY");
	assert_int_equal(m->consumers[2].kind, ROTOR_CONSUMER_ENVFILE);
	assert_string_equal(m->consumers[2].path, "/etc/raxx/credentials.env");
	assert_string_equal(m->consumers[2].reload, "vault-host");
	assert_null(m->consumers[2].connection);
	/* Positions point back into the file. */
	assert_int_equal(m->user_pos.line, 7);
	assert_int_equal(m->user_pos.col, 9);
	assert_string_equal(m->user_pos.file, "m.yaml");
	assert_int_equal(m->consumers[2].path_pos.line, 27);
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&d);
}

static void test_defaults_and_multi_document(void **state)
{
	(void)state;
	const char *doc = "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: a}\n"
	                  "spec: {user: ua, aws: x, store: {infisical: {connection: i, "
	                  "projectId: p, environment: e}}}\n"
	                  "---\n"
	                  "---\n"
	                  "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: b}\n"
	                  "spec: {user: ub, aws: x, suspend: true, store: {infisical: "
	                  "{connection: i, projectId: p, environment: f}}}\n"
	                  "---\n";
	struct rotor_manifest_set set;
	struct rotor_diags d;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&d);
	assert_int_equal(rotor_manifest_parse(&set, "multi.yaml", doc, strlen(doc), &d), 0);
	assert_int_equal(set.n, 2);
	assert_int_equal(set.documents, 2);
	const struct rotor_manifest *a = &set.items[0];
	assert_int_equal(a->cadence, ROTOR_DEFAULT_CADENCE);
	assert_int_equal(a->deactivate_after, ROTOR_DEFAULT_DEACTIVATE_AFTER);
	assert_int_equal(a->delete_after, ROTOR_DEFAULT_DELETE_AFTER);
	assert_int_equal(a->mode, ROTOR_MODE_ENFORCE);
	assert_int_equal(a->suspend, 0);
	assert_int_equal(a->rotate_requested_at, 0);
	assert_string_equal(a->store.secret_path, "/");
	assert_int_equal(a->nconsumers, 0);
	assert_int_equal(set.items[1].suspend, 1);
	assert_int_equal(set.items[1].pos.line, 7);
	assert_int_equal(rotor_manifest_set_check(&set, &d), 0);
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&d);
}

static void test_invalid_document_left_out(void **state)
{
	(void)state;
	const char *doc = "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: good}\n"
	                  "spec: {user: u1, aws: x, store: {infisical: {connection: i, "
	                  "projectId: p, environment: e}}}\n"
	                  "---\n"
	                  "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: bad}\n"
	                  "spec: {user: u2, aws: x, cadence: 5, store: {infisical: "
	                  "{connection: i, projectId: p, environment: e}}}\n";
	struct rotor_manifest_set set;
	struct rotor_diags d;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&d);
	assert_int_equal(rotor_manifest_parse(&set, "x.yaml", doc, strlen(doc), &d),
	                 ROTOR_EINVALID);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.documents, 2);
	assert_string_equal(set.items[0].name, "good");
	assert_int_equal(d.nerrors, 1);
	assert_int_equal(d.items[0].line, 9);
	assert_non_null(strstr(d.items[0].message, "has no unit"));
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&d);
}

static void test_size_and_depth_caps(void **state)
{
	(void)state;
	struct rotor_manifest_set set;
	struct rotor_diags d;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&d);
	size_t big = ROTOR_MANIFEST_FILE_MAX + 1;
	char *data = malloc(big);
	assert_non_null(data);
	memset(data, '#', big);
	assert_int_equal(rotor_manifest_parse(&set, "big.yaml", data, big, &d), ROTOR_EINVALID);
	assert_non_null(strstr(d.items[0].message, "limited to"));
	free(data);
	/* 40 levels of nesting: refused at the limit, not a stack overflow. */
	char deep[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	assert_int_equal(rotor_manifest_parse(&set, "deep.yaml", deep, strlen(deep), &d),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(d.items[d.n - 1].message, "nested deeper than 32"));
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&d);
}

static void test_suggest(void **state)
{
	(void)state;
	const char *words[] = {"cadence", "deactivateAfter", "deleteAfter", "mode"};
	assert_string_equal(rotor_ydoc_suggest("cadense", words, 4), "cadence");
	assert_string_equal(rotor_ydoc_suggest("deleteafter", words, 4), "deleteAfter");
	assert_string_equal(rotor_ydoc_suggest("mod", words, 4), "mode");
	assert_null(rotor_ydoc_suggest("completely", words, 4));
	assert_int_equal(rotor_ydoc_edit_distance("kitten", "sitting"), 3);
}

static void test_diag_cap(void **state)
{
	(void)state;
	struct rotor_diags d;
	rotor_diags_init(&d);
	for (int i = 0; i < ROTOR_DIAGS_MAX + 10; i++)
		rotor_diags_add(&d, ROTOR_DIAG_ERROR, "f", i + 1, 1, "problem %d", i);
	assert_int_equal(d.n, ROTOR_DIAGS_MAX);
	assert_int_equal(d.nerrors, ROTOR_DIAGS_MAX + 10);
	assert_true(d.truncated);
	rotor_diags_dispose(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_manifest),
	    cmocka_unit_test(test_defaults_and_multi_document),
	    cmocka_unit_test(test_invalid_document_left_out),
	    cmocka_unit_test(test_size_and_depth_caps),
	    cmocka_unit_test(test_suggest),
	    cmocka_unit_test(test_diag_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
