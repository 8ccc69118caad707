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
#include "rotor/engine.h"
#include "rotor/gitsource.h"
#include "rotor/manifest.h"
#include "rotor/parallel.h"
#include "rotor/reconcile.h"
#include "rotor/timefmt.h"

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

/* --observe: plans each added or changed manifest of head against the
 * live state (read only: no lock, nothing applied) and notes what a pass
 * would do right after the merge, or when the next rotation comes. */
struct observe_job {
	struct rotor_engine *engine;
	struct rotor_diff *d;
	int64_t now;
};

static void observe_one(void *ctx, size_t i)
{
	struct observe_job *j = ctx;
	struct rotor_diff_entry *e = &j->d->entries[i];
	if (!e->head || e->head->suspend)
		return;
	struct rotor_observed *obs = calloc(1, sizeof(*obs));
	struct rotor_manifest_plan *plan = calloc(1, sizeof(*plan));
	struct rotor_engine_state st;
	struct rotor_reconcile rec;
	struct rotor_reconcile_options o;
	if (!obs || !plan) {
		free(obs);
		free(plan);
		return;
	}
	memset(&o, 0, sizeof(o));
	rotor_reconcile_init(&rec, e->head, obs, &st, plan);
	rotor_reconcile_plan(j->engine, &rec, j->now, &o);
	e->observed = 1;
	if (rec.observe_failed) {
		snprintf(e->observation, sizeof(e->observation), "could not observe: %s",
		         rec.observe_error);
	} else if (plan->rotation_due) {
		e->rotates = 1;
		snprintf(e->observation, sizeof(e->observation),
		         "rotates right after the merge (%s)",
		         plan->due_reason[0] ? plan->due_reason : plan->status_reason);
	} else {
		char t[32] = "";
		for (int k = 0; k < plan->nforecast; k++)
			if (plan->forecast[k].kind == ROTOR_FC_ROTATE)
				rotor_time_format(t, sizeof(t), plan->forecast[k].at);
		snprintf(e->observation, sizeof(e->observation), "%s: %s%s%s",
		         rotor_status_name(plan->status), plan->status_reason,
		         t[0] ? "; next rotation " : "", t);
	}
	rotor_reconcile_dispose(&rec);
	free(obs);
	free(plan);
}

static int observe_head(const struct rotor_config *cfg, struct rotor_diff *d, int64_t now)
{
	struct rotor_engine *e = NULL;
	struct rotor_engine_options eo;
	struct rotor_error err;
	memset(&eo, 0, sizeof(eo));
	if (rotor_engine_new(&e, cfg, &eo, &err) != 0) {
		fprintf(stderr, "rotor diff --observe: %s\n", err.message);
		return 1;
	}
	struct observe_job j = {e, d, now};
	rotor_parallel_for(d->n, ROTOR_PARALLEL_DEFAULT, observe_one, &j);
	/* the counts follow what was observed */
	d->rotate = d->may_rotate = 0;
	for (size_t i = 0; i < d->n; i++) {
		d->rotate += d->entries[i].rotates != 0;
		d->may_rotate +=
		    !d->entries[i].rotates && d->entries[i].may_rotate && !d->entries[i].observed;
	}
	rotor_engine_free(e);
	return 0;
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
	int use_source = 0, detailed = 0, observe = 0, opt, status = EXIT_OK;
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
			observe = 1;
			break;
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
	if ((use_source || observe) && !config_path) {
		fprintf(stderr, "rotor diff: --%s needs the config: pass --config\n",
		        use_source ? "source" : "observe");
		status = EXIT_USAGE;
		goto done;
	}
	if (config_path) {
		if (cmd_load_config(config_path, &cfg, &diags) == 0)
			rotor_config_resolve_secrets(
			    cfg, use_source || observe ? ROTOR_DIAG_ERROR : ROTOR_DIAG_WARNING,
			    &diags);
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
		rotor_git_source_of(cfg, &src);
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
	if (observe && !diags.nerrors && observe_head(cfg, &d, clock->now(clock)) != 0) {
		status = EXIT_ERROR;
		goto done;
	}
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
