/*
 * bench_validate.c: how long parsing and validating a large manifest
 * repository takes, and how much memory it needs.
 *
 * Writes N manifests (default 10,000; 10 documents a file, in 10
 * sub-directories) into a temporary directory, then times the whole of
 * `rotor validate`'s work — walk, read, parse, validate, cross-manifest
 * checks — and reports wall time, manifests per second and peak RSS.
 * Usage: bench_validate [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rotor/diag.h"
#include "rotor/manifest.h"
#include "rotor/source.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_manifest(FILE *f, size_t i)
{
	fprintf(f,
	        "apiVersion: rotor/v1\n"
	        "kind: AccessKeyRotation\n"
	        "metadata:\n"
	        "  name: svc-%06zu\n"
	        "  labels: {team: team-%zu, shard: \"%zu\"}\n"
	        "spec:\n"
	        "  user: raxx-svc-%06zu\n"
	        "  aws: aws-prod\n"
	        "  cadence: 30d\n"
	        "  deactivateAfter: 1h\n"
	        "  deleteAfter: 24h\n"
	        "  store:\n"
	        "    infisical:\n"
	        "      connection: infisical-main\n"
	        "      projectId: 6a1c2f3e-8b9d-4c1a-9e2f-3d4c5b6a7e8f\n"
	        "      environment: prod\n"
	        "      secretPath: /aws/svc-%06zu\n"
	        "  consumers:\n"
	        "    - name: api\n"
	        "      heroku: {connection: heroku-main, app: raxx-svc-%06zu}\n"
	        "    - name: ci\n"
	        "      githubActions: {connection: github-main, repository: raxx/svc-%06zu}\n"
	        "    - name: host\n"
	        "      envFile: {path: /etc/raxx/svc-%06zu.env, reload: vault-host}\n"
	        "---\n",
	        i, i % 17, i % 8, i, i, i, i, i);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 10000;
	char root[] = "/tmp/rotor-bench-XXXXXX";
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	for (size_t i = 0; i < n; i += 10) {
		char dir[512], path[600];
		snprintf(dir, sizeof(dir), "%s/group-%zu", root, (i / 10) % 10);
		mkdir(dir, 0755);
		snprintf(path, sizeof(path), "%s/m-%06zu.yaml", dir, i);
		FILE *f = fopen(path, "w");
		if (!f) {
			perror(path);
			return 1;
		}
		for (size_t j = i; j < i + 10 && j < n; j++)
			write_manifest(f, j);
		fclose(f);
	}

	struct rusage before;
	getrusage(RUSAGE_SELF, &before);
	double t0 = now_s();
	struct rotor_manifest_set set;
	struct rotor_diags diags;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&diags);
	char *paths[] = {root};
	int rc = rotor_manifest_load_paths(&set, paths, 1, &diags);
	double t1 = now_s();
	int rc2 = rotor_manifest_set_check(&set, &diags);
	double t2 = now_s();
	struct rusage after;
	getrusage(RUSAGE_SELF, &after);

	printf("manifests:            %zu in %zu files\n", set.n, set.nfiles);
	printf("bytes read:           %zu\n", set.bytes_read);
	printf("walk+read+parse:      %.3f s\n", t1 - t0);
	printf("cross-manifest check: %.3f s\n", t2 - t1);
	printf("total:                %.3f s (%.0f manifests/s)\n", t2 - t0,
	       (double)set.n / (t2 - t0));
	printf("peak RSS:             %.1f MiB (%.1f MiB before parsing)\n",
	       (double)after.ru_maxrss / 1024.0, (double)before.ru_maxrss / 1024.0);
	printf("diagnostics:          %zu errors, %zu warnings\n", diags.nerrors, diags.nwarnings);
	int bad = rc || rc2 || set.n != n;
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&diags);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return bad ? 1 : 0;
}
