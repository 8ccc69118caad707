/* session.c: config + manifests + engine, and one observe-and-plan pass. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "rotor/clock.h"
#include "rotor/json.h"
#include "rotor/log.h"
#include "rotor/parallel.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"

void session_log_setup(enum rotor_log_level default_level)
{
	const char *lvl = getenv("ROTOR_LOG_LEVEL");
	const char *fmt = getenv("ROTOR_LOG_FORMAT");
	int level = lvl ? rotor_log_level_parse(lvl) : (int)default_level;
	enum rotor_log_format f = ROTOR_LOG_AUTO;
	if (fmt && strcmp(fmt, "json") == 0)
		f = ROTOR_LOG_JSON;
	else if (fmt && strcmp(fmt, "text") == 0)
		f = ROTOR_LOG_TEXT;
	rotor_log_setup(NULL, level < 0 ? default_level : (enum rotor_log_level)level, f, NULL);
}

static int label_matches(const struct rotor_manifest *m, const char *selector)
{
	const char *eq = strchr(selector, '=');
	size_t klen = (size_t)(eq - selector);
	for (size_t i = 0; i < m->nlabels; i++)
		if (strlen(m->labels[i].key) == klen &&
		    strncmp(m->labels[i].key, selector, klen) == 0 &&
		    strcmp(m->labels[i].value, eq + 1) == 0)
			return 1;
	return 0;
}

int session_open(struct session *s, const struct session_options *o)
{
	struct rotor_diags diags;
	char why[512] = "";
	struct rotor_error err;
	memset(s, 0, sizeof(*s));
	rotor_manifest_set_init(&s->set);
	rotor_diags_init(&diags);
	rotor_json_init();
	session_log_setup(ROTOR_LOG_WARN);
	int status = EXIT_OK;
	const char *path = cmd_config_path(o->config, 1);
	if (o->selector && !strchr(o->selector, '=')) {
		fprintf(stderr, "rotor %s: --selector takes key=value, not \"%s\"\n", o->command,
		        o->selector);
		status = EXIT_USAGE;
		goto done;
	}
	if (!path) {
		fprintf(stderr,
		        "rotor %s: no controller config: pass --config FILE, set "
		        "$ROTOR_CONFIG, or put rotor.yaml here\n",
		        o->command);
		status = EXIT_USAGE;
		goto done;
	}
	if (cmd_load_config(path, &s->cfg, &diags) == 0)
		rotor_config_resolve_secrets(s->cfg, ROTOR_DIAG_ERROR, &diags);
	if (diags.nerrors) {
		rotor_diags_sort(&diags);
		rotor_diags_print(&diags, stderr);
		status = EXIT_INVALID;
		goto done;
	}
	int rc = cmd_load_manifests(&s->set, o->paths, o->npaths, s->cfg, o->revision, s->revision,
	                            &diags, why, sizeof(why));
	if (why[0]) {
		fprintf(stderr, "rotor %s: %s\n", o->command, why);
		status = rc == ROTOR_EINVALID ? EXIT_USAGE : EXIT_ERROR;
		goto done;
	}
	rotor_diags_sort(&diags);
	rotor_diags_print(&diags, stderr);
	if (diags.nerrors) {
		fprintf(stderr, "rotor %s: the manifests are invalid; nothing was done\n",
		        o->command);
		status = EXIT_INVALID;
		goto done;
	}
	s->selected = calloc(s->set.n ? s->set.n : 1, sizeof(*s->selected));
	s->mutates = o->mutates;
	s->parallel = o->parallel > 0 ? o->parallel : ROTOR_PARALLEL_DEFAULT;
	s->lock_wait_ms = o->lock_wait_ms >= 0 ? o->lock_wait_ms : 60000;
	s->command = o->command;
	rotor_state_dir(s->state_dir, sizeof(s->state_dir), s->cfg->state_dir);
	if (!s->selected) {
		status = EXIT_ERROR;
		goto done;
	}
	for (size_t i = 0; i < s->set.n; i++) {
		const struct rotor_manifest *m = &s->set.items[i];
		if (o->only && strcmp(m->name, o->only) != 0)
			continue;
		if (o->selector && !label_matches(m, o->selector))
			continue;
		s->selected[s->n++] = m;
	}
	if (o->only && s->n == 0) {
		fprintf(stderr, "rotor %s: no manifest named \"%s\"\n", o->command, o->only);
		status = EXIT_ERROR;
		goto done;
	}
	struct rotor_engine_options eo;
	memset(&eo, 0, sizeof(eo));
	eo.progress = stdout; /* apply prints each action as it is done */
	eo.revision = s->revision[0] ? s->revision : NULL; /* the audit record's */
	const char *vt = getenv("ROTOR_VALIDATE_TIMEOUT_MS");
	if (vt)
		eo.validate_timeout_ms = strtoll(vt, NULL, 10);
	rotor_error_clear(&err);
	if (rotor_engine_new(&s->engine, s->cfg, &eo, &err) != 0) {
		fprintf(stderr, "rotor %s: %s\n", o->command, err.message);
		status = EXIT_ERROR;
	}
	/* notifications: only what changes things tells anyone */
	if (!status && s->mutates && rotor_state_dir_make(s->state_dir, &err) == 0 &&
	    rotor_notifier_open(&s->notifier, s->cfg, s->state_dir, &err) != 0) {
		fprintf(stderr, "rotor %s: %s\n", o->command, err.message);
		status = EXIT_INVALID;
	}
done:
	rotor_diags_dispose(&diags);
	if (status)
		session_close(s);
	return status;
}

/* The pass's reconcile options: the lock only for commands that mutate. */
static struct rotor_reconcile_options reconcile_options(const struct session *s, int rotate_now,
                                                        struct rotor_deletion_budget *budget)
{
	struct rotor_reconcile_options ro = {rotate_now, s->mutates ? s->state_dir : NULL,
	                                     s->command, s->lock_wait_ms, budget};
	return ro;
}

void session_print_source(const struct session *s)
{
	if (s->revision[0])
		printf("manifests: %s, branch %s, at commit %s\n\n", s->cfg->source.url,
		       s->cfg->source.branch, s->revision);
}

int session_lock(struct session *s, size_t i, struct rotor_error *err)
{
	struct rotor_reconcile_options ro = reconcile_options(s, 0, NULL);
	if (!s->recs) { /* rollback and resume: no pass, one manifest */
		s->recs = calloc(s->n ? s->n : 1, sizeof(*s->recs));
		if (!s->recs)
			return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
		s->nrecs = s->n;
	}
	s->recs[i].manifest = s->selected[i];
	int rc = rotor_reconcile_lock(&s->recs[i], &ro, err);
	if (rc)
		rotor_error_prefix(err, "%s", s->selected[i]->name);
	return rc;
}

struct plan_job {
	struct session *s;
	struct rotor_reconcile_options ro;
};

static void plan_one(void *ctx, size_t i)
{
	struct plan_job *j = ctx;
	struct session *s = j->s;
	rotor_reconcile_init(&s->win_recs[i], s->win[i], &s->obs[i], &s->states[i], &s->plans[i]);
	rotor_reconcile_plan(s->engine, &s->win_recs[i], s->now, &j->ro);
}

int session_pass(struct session *s, int rotate_now, int max_deletions, int whole,
                 int (*each)(struct session *s, void *ctx), void *ctx)
{
	struct rotor_clock *clock = rotor_clock_real();
	struct rotor_deletion_budget budget;
	size_t window = SESSION_WINDOW;
#ifdef ROTOR_TEST_HOOKS
	/* tests show windows with a dozen manifests */
	if (getenv("ROTOR_TEST_WINDOW") && atoi(getenv("ROTOR_TEST_WINDOW")) > 0)
		window = (size_t)atoi(getenv("ROTOR_TEST_WINDOW"));
#endif
	if (whole || s->n < window)
		window = s->n;
	if (!window)
		window = 1;
	s->obs = calloc(window, sizeof(*s->obs));
	s->states = calloc(window, sizeof(*s->states));
	s->plans = calloc(window, sizeof(*s->plans));
	free(s->recs);
	s->recs = calloc(window, sizeof(*s->recs));
	s->nrecs = window;
	if (!s->obs || !s->states || !s->plans || !s->recs)
		return 1;
	s->now = clock->now(clock);
	struct plan_job j = {s, reconcile_options(s, rotate_now, NULL)};
	rotor_engine_expect(s->engine, s->selected, s->n);
	rotor_deletion_budget_init(&budget, max_deletions);
	int rc = 0;
	for (s->base = 0; !rc && (s->base < s->n || (s->n == 0 && s->base == 0));
	     s->base += window) {
		s->win = s->selected + s->base;
		s->win_recs = s->recs;
		s->nwin = s->n - s->base < window ? s->n - s->base : window;
		s->last_window = s->base + s->nwin >= s->n;
		rotor_parallel_for(s->nwin, s->parallel, plan_one, &j);
		for (size_t i = 0; i < s->nwin; i++) {
			rotor_deletion_budget_take(&budget, &s->plans[i]);
			s->observe_errors += s->win_recs[i].observe_failed;
		}
		rc = each ? each(s, ctx) : 0;
		for (size_t i = 0; i < s->nwin; i++)
			rotor_reconcile_dispose(&s->win_recs[i]);
		if (s->n == 0)
			break;
	}
	rotor_deletion_budget_dispose(&budget);
	return rc;
}

void session_close(struct session *s)
{
	/* what is queued goes out first (bounded: a sink that is down costs at
	 * most this long, and never the pass's result) */
	const char *drain = getenv("ROTOR_NOTIFY_DRAIN_MS");
	rotor_notifier_close(s->notifier, drain && atoll(drain) > 0 ? atoll(drain) : 10000);
	for (size_t i = 0; s->recs && i < s->nrecs; i++)
		rotor_reconcile_dispose(&s->recs[i]);
	free(s->recs);
	free(s->states);
	free(s->obs);
	free(s->plans);
	free(s->selected);
	rotor_engine_free(s->engine);
	rotor_manifest_set_dispose(&s->set);
	rotor_config_free(s->cfg);
	memset(s, 0, sizeof(*s));
}

int session_lock_wait_flag(const char *arg, struct session_options *o)
{
	int64_t d;
	char why[160];
	if (rotor_duration_parse(&d, arg, why, sizeof(why)) != 0 || d > 24 * 3600) {
		fprintf(stderr,
		        "rotor %s: --lock-wait takes a duration such as 30s or 5m, not \"%s\"\n",
		        o->command, arg);
		return EXIT_USAGE;
	}
	o->lock_wait_ms = d * 1000;
	return 0;
}

int session_common_flag(int opt, const char *arg, struct session_options *o)
{
	switch (opt) {
	case 'c':
		o->config = arg;
		return 0;
	case 'l':
		o->selector = arg;
		return 0;
	case 'R':
		o->revision = arg;
		return 0;
	case 'P': {
		int n = cmd_parse_count(arg);
		if (n < 1 || n > ROTOR_PARALLEL_MAX) {
			fprintf(
			    stderr,
			    "rotor %s: --parallel takes a whole number from 1 to %d, not \"%s\"\n",
			    o->command, ROTOR_PARALLEL_MAX, arg);
			return EXIT_USAGE;
		}
		o->parallel = n;
		return 0;
	}
	default:
		return EXIT_USAGE;
	}
}
