/*
 * cmd_diff.c: `rotor diff --base REF --head REF [--source] [--format
 * text|markdown|json] [--detailed-exitcode] [--config FILE] [PATH...]`:
 * what merging head would do, manifest by manifest, read offline from two
 * commits of the repository around the current directory (PATHs narrow it,
 * as for git diff), or of the config's git source with --source.
 * Invalid manifests at head are printed as `validate` prints them (exit 3);
 * otherwise the exit status is plan's: 0, or with --detailed-exitcode 2
 * when anything changes, 1 on an error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "rotor/clock.h"
#include "rotor/config.h"
#include "rotor/diff.h"
#include "rotor/gitsource.h"
#include "rotor/manifest.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: rotor diff --base REF --head REF [--source] [--config FILE] "
	           "[--format text|markdown|json] [--detailed-exitcode] [PATH...]\n");
}

/* Reads the manifests of one commit into set. */
static int load(struct rotor_manifest_set *set, const struct rotor_git_source *src, const char *rev,
                char *const *paths, size_t npaths, char commit[41], struct rotor_diags *diags,
                struct rotor_error *err)
{
	if (src)
		return rotor_manifest_load_git(set, src, rev, commit, diags, err);
	return rotor_manifest_load_git_local(set, ".", rev, paths, npaths, commit, diags, err);
}

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"base", required_argument, NULL, 'b'},
	    {"head", required_argument, NULL, 'H'},
	    {"source", no_argument, NULL, 's'},
	    {"observe", no_argument, NULL, 'o'},
	    {"config", required_argument, NULL, 'c'},
	    {"format", required_argument, NULL, 'f'},
	    {"detailed-exitcode", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *base = NULL, *head = NULL, *format = "text", *config = NULL;
	int use_source = 0, detailed = 0, opt, status = EXIT_OK;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "b:H:soc:f:dh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			base = optarg;
			break;
		case 'H':
			head = optarg;
			break;
		case 's':
			use_source = 1;
			break;
		case 'o':
			fprintf(stderr,
			        "rotor diff: --observe (the live forecast) is not built yet: "
			        "run `rotor plan` on the head's manifests for it\n");
			return EXIT_USAGE;
		case 'c':
			config = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'd':
			detailed = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	struct rotor_diff_render r = {ROTOR_DIFF_TEXT, NULL, NULL, 0, NULL, 0};
	if (strcmp(format, "markdown") == 0)
		r.format = ROTOR_DIFF_MARKDOWN;
	else if (strcmp(format, "json") == 0)
		r.format = ROTOR_DIFF_JSON;
	else if (strcmp(format, "text") != 0) {
		fprintf(stderr, "rotor diff: --format must be text, markdown or json\n");
		return EXIT_USAGE;
	}
	if (!base || !head) {
		fprintf(stderr, "rotor diff: --base REF and --head REF are both required\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	struct rotor_config *cfg = NULL;
	struct rotor_diags diags, base_diags;
	struct rotor_manifest_set bset, hset;
	struct rotor_git_source src;
	struct rotor_error err;
	struct rotor_diff d;
	char bcommit[41] = "", hcommit[41] = "", fetched[41];
	rotor_diags_init(&diags);
	rotor_diags_init(&base_diags);
	rotor_manifest_set_init(&bset);
	rotor_manifest_set_init(&hset);
	memset(&d, 0, sizeof(d));
	rotor_error_clear(&err);
	const char *config_path = cmd_config_path(config, 0);
	if (use_source && !config_path) {
		fprintf(stderr,
		        "rotor diff: --source reads the config's git source: pass --config\n");
		status = EXIT_USAGE;
		goto done;
	}
	if (config_path) {
		if (cmd_load_config(config_path, &cfg, &diags) == 0)
			rotor_config_resolve_secrets(
			    cfg, use_source ? ROTOR_DIAG_ERROR : ROTOR_DIAG_WARNING, &diags);
		if (diags.nerrors) {
			rotor_diags_print(&diags, stderr);
			status = EXIT_INVALID;
			goto done;
		}
		rotor_diags_dispose(&diags);
		rotor_diags_init(&diags);
	}
	if (use_source) {
		if (!cfg->source.present) {
			fprintf(stderr, "rotor diff: --source: %s has no source block\n",
			        config_path);
			status = EXIT_USAGE;
			goto done;
		}
		cmd_git_source(cfg, &src);
		if (rotor_git_fetch(&src, fetched, &err) != 0) {
			fprintf(stderr, "rotor diff: %s\n", err.message);
			status = EXIT_ERROR;
			goto done;
		}
	}
	char *const *paths = argv + optind;
	size_t npaths = (size_t)(argc - optind);
	/* The base may hold invalid manifests too: they are left out of the
	 * comparison (a fix shows as an addition); its problems are not this
	 * change's. */
	int rc =
	    load(&bset, use_source ? &src : NULL, base, paths, npaths, bcommit, &base_diags, &err);
	if (rc && rc != ROTOR_EINVALID) {
		fprintf(stderr, "rotor diff: --base %s: %s\n", base, err.message);
		status = EXIT_ERROR;
		goto done;
	}
	rc = load(&hset, use_source ? &src : NULL, head, paths, npaths, hcommit, &diags, &err);
	if (rc && rc != ROTOR_EINVALID) {
		fprintf(stderr, "rotor diff: --head %s: %s\n", head, err.message);
		status = EXIT_ERROR;
		goto done;
	}
	rotor_manifest_set_check(&hset, &diags);
	if (cfg)
		rotor_manifest_set_check_config(&hset, cfg, &diags);
	r.base_rev = bcommit;
	r.head_rev = hcommit;
	struct rotor_clock *clock = rotor_clock_real();
	if (rotor_diff_compute(&bset, &hset, clock->now(clock), &d) != 0) {
		fprintf(stderr, "rotor diff: out of memory\n");
		status = EXIT_ERROR;
		goto done;
	}
	d.errors = diags.nerrors;
	rotor_diags_sort(&diags);
	rotor_diags_print(&diags, stderr);
	char **lines = calloc(diags.n ? diags.n : 1, sizeof(char *));
	for (size_t i = 0; lines && i < diags.n; i++) {
		char buf[1024];
		rotor_diag_format(&diags.items[i], buf, sizeof(buf));
		lines[r.nproblems++] = strdup(buf);
	}
	r.problems = (const char *const *)lines;
	rotor_diff_write(stdout, &d, &r);
	for (size_t i = 0; lines && i < r.nproblems; i++)
		free(lines[i]);
	free(lines);
	fflush(stdout);
	if (diags.nerrors)
		status = EXIT_INVALID;
	else if (detailed && d.n)
		status = 2;
done:
	rotor_diff_dispose(&d);
	rotor_manifest_set_dispose(&bset);
	rotor_manifest_set_dispose(&hset);
	rotor_diags_dispose(&diags);
	rotor_diags_dispose(&base_diags);
	rotor_config_free(cfg);
	return status;
}
