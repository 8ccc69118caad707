/*
 * test_source_dir.c: the directory source's walk (reconciler/source/dir.c).
 * Symbolic links that loop back (`a -> .`, `b -> .`: git stores links, so a
 * pull request can add them) must neither hang the walk nor read a manifest
 * twice (issue 15).
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotor/diag.h"
#include "rotor/manifest.h"
#include "rotor/source.h"
#include "testsupport.h"

static char root[PATH_MAX];

static void write_manifest(const char *path, const char *name)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
	        "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata:\n  name: %s\nspec:\n"
	        "  user: %s\n  aws: aws-prod\n  store:\n    infisical:\n      connection: inf\n"
	        "      projectId: p\n      environment: prod\n      secretPath: /%s\n",
	        name, name, name);
	fclose(f);
}

static void at(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", root, rel);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/rotor-test-walk-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	char p[PATH_MAX];
	at(p, sizeof(p), "one.yaml");
	write_manifest(p, "one");
	at(p, sizeof(p), "sub");
	mkdir(p, 0755);
	at(p, sizeof(p), "sub/two.yaml");
	write_manifest(p, "two");
	/* loops: two links to the root, one from below back up, a file twice */
	at(p, sizeof(p), "a");
	if (symlink(".", p) != 0)
		return -1;
	at(p, sizeof(p), "b");
	if (symlink(".", p) != 0)
		return -1;
	at(p, sizeof(p), "sub/up");
	if (symlink("..", p) != 0)
		return -1;
	at(p, sizeof(p), "sub/again.yaml");
	if (symlink("two.yaml", p) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "the walk did not end within 20 s\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static size_t count_warnings(const struct rotor_diags *d, const char *what)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n; i++)
		n +=
		    d->items[i].severity == ROTOR_DIAG_WARNING && strstr(d->items[i].message, what);
	return n;
}

static void test_links_back_to_the_tree(void **state)
{
	(void)state;
	struct rotor_manifest_set set;
	struct rotor_diags diags;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&diags);
	char *paths[] = {root};
	signal(SIGALRM, on_alarm);
	alarm(20);
	int rc = rotor_manifest_load_paths(&set, paths, 1, &diags);
	alarm(0);
	assert_int_equal(rc, 0);
	assert_int_equal(diags.nerrors, 0);
	assert_int_equal(set.n, 2); /* each manifest once */
	int one = 0, two = 0;
	for (size_t i = 0; i < set.n; i++) {
		one += strcmp(set.items[i].name, "one") == 0;
		two += strcmp(set.items[i].name, "two") == 0;
	}
	assert_int_equal(one, 1);
	assert_int_equal(two, 1);
	assert_int_equal(count_warnings(&diags, "a symbolic link to a directory already read"), 3);
	assert_int_equal(count_warnings(&diags, "a symbolic link to a file already read"), 1);
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&diags);
}

/* The tree named through its own links: still each manifest once. */
static void test_overlapping_paths(void **state)
{
	(void)state;
	struct rotor_manifest_set set;
	struct rotor_diags diags;
	char viaa[PATH_MAX];
	rotor_manifest_set_init(&set);
	rotor_diags_init(&diags);
	at(viaa, sizeof(viaa), "a/a/b");
	char *paths[] = {viaa};
	signal(SIGALRM, on_alarm);
	alarm(20);
	int rc = rotor_manifest_load_paths(&set, paths, 1, &diags);
	alarm(0);
	assert_int_equal(rc, 0);
	assert_int_equal(set.n, 2);
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_links_back_to_the_tree),
	    cmocka_unit_test(test_overlapping_paths),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
