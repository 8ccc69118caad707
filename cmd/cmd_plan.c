/*
 * cmd_plan.c: `rotor plan [--config FILE] [--format text|markdown|json]
 * [--detailed-exitcode] [--selector k=v] [--max-deletions N] [PATH...]`
 *
 * Observes and plans; never mutates (invariant 7). Exit: 0 success; with
 * --detailed-exitcode 0 nothing to do, 2 changes pending, 1 error (a usage
 * error is then 1 too, since 2 means "changes").
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"
#include "rotor/clock.h"
#include "session.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: rotor plan [--config FILE] [--format text|markdown|json] "
	           "[--detailed-exitcode] [--selector k=v] [--max-deletions N] [--parallel N] "
	           "[PATH...]\n");
}

struct plan_out {
	struct rotor_plan_render *r;
	struct rotor_plan_summary summary;
	int changes;
};

static int render_window(struct session *s, void *ctx)
{
	struct plan_out *o = ctx;
	struct rotor_plan_summary part;
	o->r->now = s->now;
	if (o->r->format == ROTOR_PLAN_TEXT) {
		rotor_plan_render_text_blocks(stdout, s->plans, s->nwin, o->r);
		rotor_plan_summarize(s->plans, s->nwin, &part);
		rotor_plan_summary_add(&o->summary, &part);
	} else {
		rotor_plan_render(stdout, s->plans, s->nwin, s->obs, o->r);
	}
	o->changes |= rotor_plan_has_changes(s->plans, s->nwin);
	return 0;
}

int cmd_plan(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"format", required_argument, NULL, 'f'},
	    {"detailed-exitcode", no_argument, NULL, 'd'},
	    {"selector", required_argument, NULL, 'l'},
	    {"max-deletions", required_argument, NULL, 'm'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"revision", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct session_options so = {.command = "plan"};
	const char *format = "text";
	int detailed = 0, max_deletions = 10, opt;
	/* Scan for --detailed-exitcode first: it changes what a usage error exits with. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--detailed-exitcode") == 0)
			detailed = 1;
	int usage_status = detailed ? EXIT_ERROR : EXIT_USAGE;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:f:dl:m:P:R:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			format = optarg;
			break;
		case 'd':
			detailed = 1;
			break;
		case 'm':
			max_deletions = cmd_parse_count(optarg);
			if (max_deletions < 0) {
				fprintf(stderr,
				        "rotor plan: --max-deletions takes a whole number, not "
				        "\"%s\"\n",
				        optarg);
				return usage_status;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'c':
		case 'l':
		case 'R':
			session_common_flag(opt, optarg, &so);
			break;
		case 'P':
			if (session_common_flag(opt, optarg, &so))
				return usage_status;
			break;
		default:
			usage(stderr);
			return usage_status;
		}
	}
	struct rotor_plan_render r = {ROTOR_PLAN_TEXT, 0, 0, NULL};
	if (strcmp(format, "markdown") == 0)
		r.format = ROTOR_PLAN_MARKDOWN;
	else if (strcmp(format, "json") == 0)
		r.format = ROTOR_PLAN_JSON;
	else if (strcmp(format, "text") != 0) {
		fprintf(stderr, "rotor plan: --format must be text, markdown or json\n");
		return usage_status;
	}
	if (max_deletions < 0) {
		fprintf(stderr, "rotor plan: --max-deletions must be 0 or more\n");
		return usage_status;
	}
	so.paths = argv + optind;
	so.npaths = (size_t)(argc - optind);
	struct session s;
	int status = session_open(&s, &so);
	if (status)
		return status == EXIT_USAGE ? usage_status : status;
	r.color = r.format == ROTOR_PLAN_TEXT && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	r.revision = s.revision[0] ? s.revision : NULL;
	if (r.format == ROTOR_PLAN_TEXT)
		session_print_source(&s);
	struct plan_out out = {&r, {0}, 0};
	/* Text is written window by window; markdown and JSON summarise
	 * before they list, so they plan the whole pass at once. */
	if (session_pass(&s, 0, max_deletions, r.format != ROTOR_PLAN_TEXT, render_window, &out) !=
	    0) {
		session_close(&s);
		return EXIT_ERROR;
	}
	if (r.format == ROTOR_PLAN_TEXT)
		rotor_plan_render_summary(stdout, &out.summary);
	fflush(stdout);
	int changes = out.changes;
	status = s.observe_errors ? EXIT_ERROR : EXIT_OK;
	if (detailed && status == EXIT_OK && changes)
		status = 2;
	session_close(&s);
	return status;
}
