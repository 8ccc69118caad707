/*
 * cmd_apply.c: `rotor apply [--only NAME] [--max-deletions N] ...` runs one
 * pass (observe, plan, apply each manifest); `rotor rotate NAME` is a pass
 * for one manifest with a rotation requested. Manifests are independent:
 * one failing never blocks the others. Exit 0 when every manifest
 * succeeded, 1 when any failed.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"
#include "rotor/clock.h"
#include "rotor/parallel.h"
#include "session.h"

/* One manifest's apply output, kept until every manifest before it is
 * printed: workers finish in any order, the output stays in manifest
 * order. */
struct apply_out {
	char *buf;
	size_t len;
	int done, touched, rc;
};

struct apply_job {
	struct session *s;
	struct apply_out *outs; /* the window's */
	pthread_mutex_t lock;   /* guards done and next */
	size_t next;            /* the first manifest of the window not printed yet */
	struct rotor_plan_render *r;
	struct rotor_plan_summary summary; /* the pass's, window by window */
	int failed, applied, touched, stalled;
};

static void apply_one(void *ctx, size_t i)
{
	struct apply_job *j = ctx;
	struct session *s = j->s;
	struct apply_out *o = &j->outs[i];
	if (rotor_plan_applies(&s->plans[i])) {
		struct rotor_error err;
		FILE *f = open_memstream(&o->buf, &o->len);
		rotor_error_clear(&err);
		o->touched = 1;
		if (f)
			fprintf(f, "applying %s:\n", s->win[i]->name);
		s->win_recs[i].progress = f ? f : stdout;
		o->rc = rotor_reconcile_apply(s->engine, &s->win_recs[i], &err);
		int applied = s->win_recs[i].applied;
		if (o->rc)
			fprintf(f ? f : stdout, "  error: %s\n", err.message);
		else
			fprintf(f ? f : stdout, "  %d action%s applied\n", applied,
			        applied == 1 ? "" : "s");
		if (f)
			fclose(f);
		rotor_notify_reconcile(s->notifier, s->win[i], &s->plans[i], &s->obs[i],
		                       &s->states[i], o->rc ? err.message : NULL, s->now);
	} else {
		rotor_notify_reconcile(
		    s->notifier, s->win[i], &s->plans[i], &s->obs[i], NULL,
		    s->win_recs[i].observe_failed ? s->win_recs[i].observe_error : NULL, s->now);
	}
	pthread_mutex_lock(&j->lock);
	o->done = 1;
	while (j->next < s->nwin && j->outs[j->next].done) {
		struct apply_out *p = &j->outs[j->next++];
		if (p->buf)
			fwrite(p->buf, 1, p->len, stdout);
		free(p->buf);
		p->buf = NULL;
	}
	fflush(stdout);
	pthread_mutex_unlock(&j->lock);
}

/* One window of the pass: its plans, then (the pass's summary line after
 * the last window's plans) its applies, N at a time. */
static int apply_window(struct session *s, void *ctx)
{
	struct apply_job *j = ctx;
	struct rotor_plan_summary part;
	j->r->now = s->now;
	rotor_plan_render_text_blocks(stdout, s->plans, s->nwin, j->r);
	rotor_plan_summarize(s->plans, s->nwin, &part);
	rotor_plan_summary_add(&j->summary, &part);
	if (s->last_window)
		rotor_plan_render_summary(stdout, &j->summary);
	j->outs = calloc(s->nwin ? s->nwin : 1, sizeof(*j->outs));
	if (!j->outs)
		return 1;
	j->next = 0;
	fflush(stdout);
	rotor_parallel_for(s->nwin, s->parallel, apply_one, j);
	for (size_t i = 0; i < s->nwin; i++) {
		j->stalled += s->plans[i].status == ROTOR_STATUS_STALLED;
		j->touched += j->outs[i].touched;
		j->failed += j->outs[i].rc != 0;
		j->applied += s->win_recs[i].applied;
	}
	free(j->outs);
	j->outs = NULL;
	return 0;
}

static int run_pass(struct session_options *so, int rotate_now, int max_deletions)
{
	struct session s;
	int status = session_open(&s, so);
	if (status)
		return status;
	struct rotor_plan_render r = {ROTOR_PLAN_TEXT, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"),
	                              s.now, NULL};
	struct apply_job j;
	memset(&j, 0, sizeof(j));
	j.s = &s;
	j.r = &r;
	pthread_mutex_init(&j.lock, NULL);
	session_print_source(&s);
	int rc = session_pass(&s, rotate_now, max_deletions, 0, apply_window, &j);
	pthread_mutex_destroy(&j.lock);
	if (rc) {
		session_close(&s);
		fprintf(stderr, "rotor apply: out of memory\n");
		return EXIT_ERROR;
	}
	int failed = j.failed, applied_total = j.applied, touched = j.touched, stalled = j.stalled;
	printf("\napply: %d action%s on %d manifest%s; %d failed%s%s\n", applied_total,
	       applied_total == 1 ? "" : "s", touched, touched == 1 ? "" : "s", failed,
	       s.observe_errors ? "; some manifests could not be observed" : "",
	       stalled ? "; some manifests are Stalled and need a human" : "");
	/* A Stalled manifest is a pass that could not converge: exit 1 so a
	 * scheduler or CI job shows it, although nothing failed to run. */
	status = failed || s.observe_errors || stalled ? EXIT_ERROR : EXIT_OK;
	session_close(&s); /* zeroes s: read it first */
	return status;
}

int cmd_apply(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"selector", required_argument, NULL, 'l'},
	    {"only", required_argument, NULL, 'o'},
	    {"max-deletions", required_argument, NULL, 'm'},
	    {"lock-wait", required_argument, NULL, 'w'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"revision", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct session_options so = {.command = "apply", .mutates = 1, .lock_wait_ms = -1};
	int max_deletions = 10, opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:o:m:w:P:R:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (session_lock_wait_flag(optarg, &so))
				return EXIT_USAGE;
			break;
		case 'o':
			so.only = optarg;
			break;
		case 'm':
			max_deletions = cmd_parse_count(optarg);
			if (max_deletions < 0) {
				fprintf(stderr,
				        "rotor apply: --max-deletions takes a whole number, not "
				        "\"%s\"\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			printf("usage: rotor apply [--config FILE] [--only NAME] [--selector k=v] "
			       "[--max-deletions N] [--lock-wait DURATION] [--parallel N] "
			       "[PATH...]\n");
			return EXIT_OK;
		case 'c':
		case 'l':
		case 'R':
			session_common_flag(opt, optarg, &so);
			break;
		case 'P':
			if (session_common_flag(opt, optarg, &so))
				return EXIT_USAGE;
			break;
		default:
			fprintf(stderr,
			        "usage: rotor apply [--config FILE] [--only NAME] "
			        "[--selector k=v] [--max-deletions N] [--parallel N] [PATH...]\n");
			return EXIT_USAGE;
		}
	}
	so.paths = argv + optind;
	so.npaths = (size_t)(argc - optind);
	return run_pass(&so, 0, max_deletions);
}

int cmd_rotate(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"lock-wait", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct session_options so = {.command = "rotate", .mutates = 1, .lock_wait_ms = -1};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:w:h", longopts, NULL)) != -1) {
		if (opt == 'c') {
			so.config = optarg;
			continue;
		}
		if (opt == 'w') {
			if (session_lock_wait_flag(optarg, &so))
				return EXIT_USAGE;
			continue;
		}
		if (opt == 'h') {
			printf("usage: rotor rotate [--config FILE] NAME [PATH...]\n");
			return EXIT_OK;
		}
		fprintf(stderr, "usage: rotor rotate [--config FILE] NAME [PATH...]\n");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: rotor rotate [--config FILE] NAME [PATH...]\n");
		return EXIT_USAGE;
	}
	so.only = argv[optind];
	so.paths = argv + optind + 1;
	so.npaths = (size_t)(argc - optind - 1);
	return run_pass(&so, 1, 10);
}
