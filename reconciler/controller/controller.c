/*
 * controller.c: the long-running reconciler (rotor/controller.h).
 *
 * One scheduler loop (the caller's thread) and controller.workers worker
 * threads over one engine. The loop re-reads the manifests every
 * source.interval, dispatches every manifest whose next moment has come,
 * and sleeps until the earliest next moment (at most a second at a time,
 * so a clock moved by a test or by NTP is noticed; no busy waiting). A
 * worker reconciles one manifest (lock, observe, plan, apply) and sets its
 * next moment: the earliest step of its forecast, at most controller.resync
 * ahead; after a failure an exponential back-off (30 s doubling to 15 min,
 * with jitter); when another rotor holds the user, 30 s.
 *
 * A new revision (or a reloaded config) is swapped in only while no worker
 * is busy (dispatching pauses for it), so no worker ever holds a manifest
 * or an engine that is being freed.
 */
#include "rotor/controller.h"
#include "rotor/notify.h"

#include "rotor/diff.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/clock.h"
#include "rotor/engine.h"
#include "rotor/lock.h"
#include "rotor/log.h"
#include "rotor/manifest.h"
#include "rotor/parallel.h"
#include "rotor/reconcile.h"
#include "rotor/secret.h"
#include "rotor/source.h"
#include "rotor/stats.h"
#include "rotor/timefmt.h"
#include "util/digest.h"

#define BACKOFF_MIN_S 30
#define BACKOFF_MAX_S 900
#define HELD_RETRY_S 30
#define MAX_WORKERS ROTOR_PARALLEL_MAX

static const double BUCKETS[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
#define NBUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

struct mstate {
	const struct rotor_manifest *m; /* in c->set */
	int64_t next_due;               /* wall seconds */
	int busy, queued;
	int failures;
	int ran; /* reconciled at least once */
	enum rotor_status status;
	char reason[480];
	int64_t last_pass;
	int last_ok;
	char last_error[ROTOR_ERROR_MSG_MAX];
	char held_by[ROTOR_OBS_ERROR_MAX];
	int64_t key_created; /* the current key's creation; 0 unknown */
	struct rotor_forecast forecast[ROTOR_PLAN_MAX_FORECAST]; /* the last pass's */
	int nforecast;
	char revision[41]; /* the revision the last pass followed */
};

struct rotor_controller {
	struct rotor_config *cfg;
	struct rotor_controller_options opts;
	struct rotor_engine *engine;
	struct rotor_notifier *notifier; /* the config's sinks, or NULL */
	struct rotor_clock *clock;
	char state_dir[4096];
	/* the current good manifests and their schedule (guarded by lock) */
	struct rotor_manifest_set *set;
	char revision[41];
	struct mstate *ms;
	size_t nms;
	size_t *queue;
	size_t qlen;
	const struct rotor_manifest **expect; /* scratch for rotor_engine_expect */
	int64_t last_expect;                  /* process seconds of the last one */
	int busy;                             /* workers in a reconcile */
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	atomic_int stopping, reload_asked, fetch_now;
	/* the source is fetched on a thread of its own (a git server that
	 * stalls must not stall scheduling or a stop): fetching while it runs;
	 * installing while a new set waits for the workers (no new work is
	 * handed out meanwhile); expecting while the loop's batched store read
	 * uses the current manifests (guarded by lock) */
	atomic_int fetching;
	int installing, expecting;
	int ready;
	char source_error[ROTOR_ERROR_MSG_MAX];
	int64_t last_fetch;
	uint64_t fetch_errors;
	/* metrics (guarded by lock) */
	uint64_t reconciles_ok, reconciles_failed, reconciles_held;
	uint64_t actions[ROTOR_ACT__COUNT][2]; /* by kind: [0] succeeded, [1] failed */
	uint64_t hist[NBUCKETS + 1];
	double hist_sum;
	pthread_t workers[MAX_WORKERS];
	int nworkers;
	struct MHD_Daemon *mhd;
};

static int64_t now_s(struct rotor_controller *c)
{
	return c->clock->now(c->clock);
}

/* ---- loading manifests ------------------------------------------------------ */

/* A new set from the source (or the paths); NULL with why in err and the
 * diagnostics logged. */
static struct rotor_manifest_set *load_set(struct rotor_controller *c, char revision[41],
                                           struct rotor_error *err)
{
	struct rotor_manifest_set *set = calloc(1, sizeof(*set));
	struct rotor_diags diags;
	int rc;
	revision[0] = '\0';
	if (!set) {
		rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
		return NULL;
	}
	rotor_manifest_set_init(set);
	rotor_diags_init(&diags);
	rc = rotor_manifest_load(set, c->cfg, c->opts.paths, c->opts.npaths, NULL, revision, &diags,
	                         err);
	if (rc && rc != ROTOR_EINVALID)
		goto fail;
	if (diags.nerrors) {
		char first[512] = "";
		rotor_diags_sort(&diags);
		for (size_t i = 0; i < diags.n; i++) {
			char line[640];
			rotor_diag_format(&diags.items[i], line, sizeof(line));
			rotor_log(ROTOR_LOG_ERROR, "controller", "%s", line);
			if (!first[0] && diags.items[i].severity == ROTOR_DIAG_ERROR)
				snprintf(first, sizeof(first), "%s", line);
		}
		rotor_error_set(err, ROTOR_EINVALID,
		                "the manifests%s%s are invalid (%zu error%s, first: %s): the "
		                "controller keeps working from the last good ones",
		                revision[0] ? " at " : "", revision, diags.nerrors,
		                diags.nerrors == 1 ? "" : "s", first);
		goto fail;
	}
	rotor_diags_dispose(&diags);
	return set;
fail:
	rotor_diags_dispose(&diags);
	rotor_manifest_set_dispose(set);
	free(set);
	return NULL;
}

/* Installs set (every worker idle, lock held): manifests keep their
 * schedule by name; new ones, and those the change touched, are due now. */
static int install_set(struct rotor_controller *c, struct rotor_manifest_set *set,
                       const char *revision)
{
	struct rotor_diff d;
	memset(&d, 0, sizeof(d));
	if (c->set)
		rotor_diff_compute(c->set, set, now_s(c), &d);
	struct mstate *ms = calloc(set->n ? set->n : 1, sizeof(*ms));
	size_t *queue = calloc(set->n ? set->n : 1, sizeof(*queue));
	const struct rotor_manifest **expect = calloc(set->n ? set->n : 1, sizeof(*expect));
	if (!ms || !queue || !expect) {
		free(ms);
		free(queue);
		free(expect);
		return ROTOR_ENOMEM;
	}
	int64_t now = now_s(c);
	for (size_t i = 0; i < set->n; i++) {
		ms[i].m = &set->items[i];
		ms[i].next_due = now;
		for (size_t j = 0; j < c->nms; j++)
			if (strcmp(c->ms[j].m->name, set->items[i].name) == 0) {
				struct mstate keep = c->ms[j];
				keep.m = &set->items[i];
				keep.busy = keep.queued = 0;
				ms[i] = keep;
				for (size_t k = 0; k < d.n; k++)
					if (d.entries[k].head && strcmp(d.entries[k].head->name,
					                                set->items[i].name) == 0)
						ms[i].next_due = now; /* changed: looked at now */
				break;
			}
	}
	rotor_diff_dispose(&d);
	free(c->ms);
	free(c->queue);
	free(c->expect);
	c->expect = expect;
	if (c->set) {
		rotor_manifest_set_dispose(c->set);
		free(c->set);
	}
	c->set = set;
	c->ms = ms;
	c->queue = queue;
	c->qlen = 0;
	c->nms = set->n;
	snprintf(c->revision, sizeof(c->revision), "%s", revision);
	return 0;
}

/* ---- workers ---------------------------------------------------------------------- */

static int64_t jitter(int64_t s)
{
	unsigned char r = 0;
	RAND_bytes(&r, 1);
	return s - (s / 5) + (s * (int64_t)r) / (5 * 255) * 2; /* +-20% */
}

static void reconcile_one(struct rotor_controller *c, struct mstate *st)
{
	struct rotor_observed *obs = calloc(1, sizeof(*obs));
	struct rotor_manifest_plan *plan = calloc(1, sizeof(*plan));
	struct rotor_engine_state es;
	struct rotor_reconcile rec;
	struct rotor_reconcile_options o;
	struct rotor_deletion_budget budget;
	struct rotor_error err;
	if (!obs || !plan) {
		free(obs);
		free(plan);
		return;
	}
	memset(&o, 0, sizeof(o));
	rotor_deletion_budget_init(&budget, 10);
	o.state_dir = c->state_dir;
	o.command = "controller";
	o.lock_wait_ms = 0; /* another rotor has the user: come back later */
	o.budget = &budget;
	rotor_error_clear(&err);
	int64_t start_ms = rotor_process_ms(), now = now_s(c);
	char revision[sizeof(c->revision)];
	pthread_mutex_lock(&c->lock);
	memcpy(revision, c->revision, sizeof(revision));
	pthread_mutex_unlock(&c->lock);
	rotor_reconcile_init(&rec, st->m, obs, &es, plan);
	rotor_reconcile_plan(c->engine, &rec, now, &o);
	es.revision = revision[0] ? revision : NULL; /* the audit log's */
	int rc = rotor_reconcile_apply(c->engine, &rec, &err);
	if (rc == ROTOR_ESTOPPED) {
		rotor_log(ROTOR_LOG_INFO, st->m->name, "%s", err.message);
		rotor_reconcile_dispose(&rec);
		rotor_deletion_budget_dispose(&budget);
		free(obs);
		free(plan);
		return;
	}
	double took = (double)(rotor_process_ms() - start_ms) / 1000.0;
	int64_t next, after = now_s(c);
	int held = obs->held_by[0] != '\0';
	int failed = !held && (rc != 0 || rec.observe_failed);
	if (held) {
		next = after + HELD_RETRY_S;
	} else if (failed) {
		int64_t b = BACKOFF_MIN_S;
		for (int i = 1; i < st->failures + 1 && b < BACKOFF_MAX_S; i++)
			b *= 2;
		next = after + jitter(b < BACKOFF_MAX_S ? b : BACKOFF_MAX_S);
	} else {
		next = after + jitter(c->cfg->resync); /* drift healing: spread out */
		for (int k = 0; k < plan->nforecast; k++)
			if (plan->forecast[k].at > after && plan->forecast[k].at < next)
				next = plan->forecast[k].at;
		if (rec.applied && plan->nactions)
			next = after; /* look again at once: the next step may be due now */
		else if (obs->suspended_by_rollback && after + HELD_RETRY_S < next)
			next = after + HELD_RETRY_S; /* notice a `rotor resume` soon */
	}
	pthread_mutex_lock(&c->lock);
	st->ran = 1;
	st->last_pass = after;
	st->status = plan->status;
	snprintf(st->reason, sizeof(st->reason), "%s", plan->status_reason);
	snprintf(st->held_by, sizeof(st->held_by), "%s", obs->held_by);
	st->last_ok = !failed && !held;
	snprintf(st->last_error, sizeof(st->last_error), "%s",
	         failed ? (rc ? err.message : rec.observe_error) : "");
	st->failures = failed ? st->failures + 1 : 0;
	st->next_due = next;
	memcpy(st->forecast, plan->forecast, sizeof(st->forecast));
	st->nforecast = plan->nforecast;
	memcpy(st->revision, revision, sizeof(st->revision));
	const struct rotor_obs_key *stored = rotor_obs_stored_key(obs);
	st->key_created = stored ? stored->created : 0;
	c->reconciles_ok += st->last_ok != 0;
	c->reconciles_failed += failed != 0;
	c->reconciles_held += held != 0;
	for (int i = 0; i < plan->nactions; i++)
		if (es.outcome[i])
			c->actions[plan->actions[i].kind][es.outcome[i] == 2]++;
	size_t b = 0;
	while (b < NBUCKETS && took > BUCKETS[b])
		b++;
	c->hist[b]++;
	c->hist_sum += took;
	int failures = st->failures;
	pthread_mutex_unlock(&c->lock);
	rotor_notify_reconcile(c->notifier, st->m, plan, obs, &es,
	                       failed ? (rc ? err.message : rec.observe_error) : NULL, after);
	if (rec.applied) { /* what it did, in one line: the audit log has the details */
		char done[600];
		size_t used = 0;
		for (int i = 0, n = 0; i < plan->nactions && used < sizeof(done); i++) {
			const struct rotor_action *a = &plan->actions[i];
			if (es.outcome[i] != 1)
				continue;
			const char *what =
			    a->consumer >= 0 ? st->m->consumers[a->consumer].name : a->key_id;
			used += (size_t)snprintf(done + used, sizeof(done) - used, "%s%s%s%s",
			                         n++ ? ", " : "", rotor_action_name(a->kind),
			                         *what ? " " : "", what);
		}
		rotor_log(ROTOR_LOG_INFO, st->m->name, "applied %d step%s at %.12s: %s",
		          rec.applied, rec.applied == 1 ? "" : "s", revision, done);
	}
	if (failed) {
		char when[32];
		rotor_time_format(when, sizeof(when), next);
		rotor_log(ROTOR_LOG_WARN, st->m->name,
		          "reconcile failed (%d in a row): %s; retrying at %s", failures,
		          rc ? err.message : rec.observe_error, when);
	}
	rotor_reconcile_dispose(&rec);
	rotor_deletion_budget_dispose(&budget);
	free(obs);
	free(plan);
}

static void *worker_main(void *arg)
{
	struct rotor_controller *c = arg;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->qlen && !atomic_load(&c->stopping))
			pthread_cond_wait(&c->work, &c->lock);
		if (atomic_load(&c->stopping))
			break; /* what is queued but not started waits for the next start */
		size_t idx = c->queue[0];
		memmove(c->queue, c->queue + 1, (c->qlen - 1) * sizeof(*c->queue));
		c->qlen--;
		struct mstate *st = &c->ms[idx];
		st->queued = 0;
		st->busy = 1;
		c->busy++;
		pthread_mutex_unlock(&c->lock);
		reconcile_one(c, st);
		pthread_mutex_lock(&c->lock);
		st->busy = 0;
		c->busy--;
		pthread_cond_broadcast(&c->idle);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- endpoints ----------------------------------------------------------------------- */

static void metric_escape(char *out, size_t len, const char *s)
{
	size_t o = 0;
	for (; *s && o + 2 < len; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n') {
			out[o++] = '\\';
			out[o++] = *s == '\n' ? 'n' : *s;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

static char *render_metrics(struct rotor_controller *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	int64_t now = now_s(c);
	pthread_mutex_lock(&c->lock);
	fprintf(f,
	        "# HELP rotor_reconciles_total Reconciles of one manifest, by result.\n"
	        "# TYPE rotor_reconciles_total counter\n"
	        "rotor_reconciles_total{result=\"success\"} %llu\n"
	        "rotor_reconciles_total{result=\"error\"} %llu\n"
	        "rotor_reconciles_total{result=\"locked\"} %llu\n",
	        (unsigned long long)c->reconciles_ok, (unsigned long long)c->reconciles_failed,
	        (unsigned long long)c->reconciles_held);
	fprintf(f, "# HELP rotor_actions_total Steps applied, by action and result.\n"
	           "# TYPE rotor_actions_total counter\n");
	for (int k = 0; k < ROTOR_ACT__COUNT; k++)
		for (int r = 0; r < 2; r++)
			fprintf(f, "rotor_actions_total{action=\"%s\",result=\"%s\"} %llu\n",
			        rotor_action_name((enum rotor_action_kind)k),
			        r ? "error" : "success", (unsigned long long)c->actions[k][r]);
	fprintf(f, "# HELP rotor_reconcile_duration_seconds How long one manifest's reconcile "
	           "took.\n# TYPE rotor_reconcile_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += c->hist[b];
		fprintf(f, "rotor_reconcile_duration_seconds_bucket{le=\"%g\"} %llu\n", BUCKETS[b],
		        (unsigned long long)cum);
	}
	cum += c->hist[NBUCKETS];
	fprintf(f,
	        "rotor_reconcile_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	        "rotor_reconcile_duration_seconds_sum %.3f\n"
	        "rotor_reconcile_duration_seconds_count %llu\n",
	        (unsigned long long)cum, c->hist_sum, (unsigned long long)cum);
	fprintf(f,
	        "# HELP rotor_manifests Manifests the controller manages.\n# TYPE "
	        "rotor_manifests gauge\nrotor_manifests %zu\n",
	        c->nms);
	fprintf(f, "# HELP rotor_manifest_ready 1 when the manifest's last reconcile left it "
	           "Ready.\n# TYPE rotor_manifest_ready gauge\n");
	char name[160];
	for (size_t i = 0; i < c->nms; i++) {
		metric_escape(name, sizeof(name), c->ms[i].m->name);
		fprintf(f, "rotor_manifest_ready{manifest=\"%s\"} %d\n", name,
		        c->ms[i].ran && c->ms[i].status == ROTOR_STATUS_READY);
	}
	fprintf(f, "# HELP rotor_manifest_stalled 1 when the manifest needs a human.\n# TYPE "
	           "rotor_manifest_stalled gauge\n");
	for (size_t i = 0; i < c->nms; i++) {
		metric_escape(name, sizeof(name), c->ms[i].m->name);
		fprintf(f, "rotor_manifest_stalled{manifest=\"%s\"} %d\n", name,
		        c->ms[i].ran && c->ms[i].status == ROTOR_STATUS_STALLED);
	}
	fprintf(f, "# HELP rotor_key_age_seconds Age of the key the store holds.\n# TYPE "
	           "rotor_key_age_seconds gauge\n");
	for (size_t i = 0; i < c->nms; i++)
		if (c->ms[i].key_created) {
			metric_escape(name, sizeof(name), c->ms[i].m->name);
			fprintf(f, "rotor_key_age_seconds{manifest=\"%s\"} %lld\n", name,
			        (long long)(now - c->ms[i].key_created));
		}
	if (rotor_notifier_sinks(c->notifier)) {
		fprintf(f, "# HELP rotor_notifications_total Notifications by sink and result "
		           "(sent, failed after every retry, deduplicated).\n# TYPE "
		           "rotor_notifications_total counter\n");
		for (size_t i = 0; i < rotor_notifier_sinks(c->notifier); i++) {
			uint64_t sent, failed, dedup;
			rotor_notifier_counts(c->notifier, i, &sent, &failed, &dedup);
			metric_escape(name, sizeof(name), rotor_notifier_sink_name(c->notifier, i));
			fprintf(
			    f,
			    "rotor_notifications_total{sink=\"%s\",result=\"sent\"} %llu\n"
			    "rotor_notifications_total{sink=\"%s\",result=\"failed\"} %llu\n"
			    "rotor_notifications_total{sink=\"%s\",result=\"deduplicated\"} %llu\n",
			    name, (unsigned long long)sent, name, (unsigned long long)failed, name,
			    (unsigned long long)dedup);
		}
	}
	fprintf(f, "# HELP rotor_manifest_cadence_seconds The manifest's rotation cadence (for "
	           "alerts on keys older than it).\n# TYPE rotor_manifest_cadence_seconds gauge\n");
	for (size_t i = 0; i < c->nms; i++) {
		metric_escape(name, sizeof(name), c->ms[i].m->name);
		fprintf(f, "rotor_manifest_cadence_seconds{manifest=\"%s\"} %lld\n", name,
		        (long long)c->ms[i].m->cadence);
	}
	fprintf(f, "# HELP rotor_next_action_seconds Seconds until the manifest's next "
	           "forecast step.\n# TYPE rotor_next_action_seconds gauge\n");
	for (size_t i = 0; i < c->nms; i++)
		if (c->ms[i].nforecast) { /* the forecast is in time order */
			metric_escape(name, sizeof(name), c->ms[i].m->name);
			fprintf(f, "rotor_next_action_seconds{manifest=\"%s\"} %lld\n", name,
			        (long long)(c->ms[i].forecast[0].at - now));
		}
	fprintf(f,
	        "# HELP rotor_source_fetch_errors_total Failed reads of the manifests.\n# TYPE "
	        "rotor_source_fetch_errors_total counter\nrotor_source_fetch_errors_total %llu\n",
	        (unsigned long long)c->fetch_errors);
	fprintf(f, "# HELP rotor_remote_requests_total Requests sent, by remote (retries "
	           "included).\n# TYPE rotor_remote_requests_total counter\n");
	for (int r = 0; r < ROTOR_REMOTE__COUNT; r++)
		fprintf(f, "rotor_remote_requests_total{remote=\"%s\"} %llu\n",
		        rotor_remote_name((enum rotor_remote)r),
		        (unsigned long long)rotor_stats_requests((enum rotor_remote)r));
	fprintf(f, "# HELP rotor_remote_throttles_total Throttling replies, by remote.\n# TYPE "
	           "rotor_remote_throttles_total counter\n");
	for (int r = 0; r < ROTOR_REMOTE__COUNT; r++)
		fprintf(f, "rotor_remote_throttles_total{remote=\"%s\"} %llu\n",
		        rotor_remote_name((enum rotor_remote)r),
		        (unsigned long long)rotor_stats_throttles((enum rotor_remote)r));
	fprintf(f,
	        "# HELP rotor_source_info The revision the controller works from.\n# TYPE "
	        "rotor_source_info gauge\nrotor_source_info{revision=\"%s\"} 1\n",
	        c->revision);
	pthread_mutex_unlock(&c->lock);
	fclose(f);
	return buf;
}

static json_t *condition(const char *type, int on, const char *reason, const char *message)
{
	json_t *j = json_object();
	json_object_set_new(j, "type", json_string(type));
	json_object_set_new(j, "status", json_string(on ? "True" : "False"));
	json_object_set_new(j, "reason", json_string(reason));
	json_object_set_new(j, "message", json_string(message));
	return j;
}

/* Kubernetes-style conditions: Ready (in sync, nothing due), Reconciling
 * (work pending, waiting for a window or a slot, or retrying after a
 * failure), Stalled (rotor will not act without a human). Caller holds
 * c->lock. */
static json_t *conditions_of(const struct mstate *st)
{
	json_t *a = json_array();
	const char *why = st->last_error[0] ? st->last_error
	                  : st->held_by[0]  ? st->held_by
	                                    : st->reason;
	const char *reason = !st->ran                                 ? "NotYetReconciled"
	                     : st->held_by[0]                         ? "LockedByAnother"
	                     : st->last_error[0]                      ? "ReconcileFailed"
	                     : st->status == ROTOR_STATUS_READY       ? "InSync"
	                     : st->status == ROTOR_STATUS_RECONCILING ? "ActionsPending"
	                     : st->status == ROTOR_STATUS_WAITING     ? "Waiting"
	                     : st->status == ROTOR_STATUS_STALLED     ? "Stalled"
	                     : st->status == ROTOR_STATUS_SUSPENDED   ? "Suspended"
	                                                              : "Unknown";
	int ok = st->ran && !st->held_by[0] && !st->last_error[0];
	int stalled = ok && st->status == ROTOR_STATUS_STALLED;
	int ready = ok && st->status == ROTOR_STATUS_READY;
	int suspended = ok && st->status == ROTOR_STATUS_SUSPENDED; /* none of the three */
	json_array_append_new(a, condition("Ready", ready, reason, why));
	json_array_append_new(
	    a, condition("Reconciling", !ready && !stalled && !suspended, reason, why));
	json_array_append_new(a, condition("Stalled", stalled, reason, why));
	return a;
}

static char *render_status(struct rotor_controller *c)
{
	char t[32];
	json_t *root = json_object(), *list = json_array();
	pthread_mutex_lock(&c->lock);
	json_object_set_new(root, "revision",
	                    c->revision[0] ? json_string(c->revision) : json_null());
	json_object_set_new(root, "ready", json_boolean(c->ready));
	json_object_set_new(root, "sourceError",
	                    c->source_error[0] ? json_string(c->source_error) : json_null());
	{ /* the source's own conditions: Ready (a good revision is followed),
	   * Stalled (the latest fetch or revision failed: the last good one is
	   * still followed) */
		json_t *src = json_object(), *conds = json_array();
		int bad_revision = strstr(c->source_error, "invalid") != NULL;
		const char *why = c->source_error[0] ? c->source_error : "";
		if (c->last_fetch)
			rotor_time_format(t, sizeof(t), c->last_fetch);
		json_object_set_new(src, "lastFetch", c->last_fetch ? json_string(t) : json_null());
		json_object_set_new(src, "fetchErrors", json_integer((json_int_t)c->fetch_errors));
		json_array_append_new(conds, condition("Ready", c->ready && !c->source_error[0],
		                                       c->source_error[0] ? "Stalled"
		                                       : c->ready         ? "Followed"
		                                                          : "NotYetRead",
		                                       why));
		json_array_append_new(conds, condition("Stalled", c->source_error[0] != '\0',
		                                       !c->source_error[0] ? "Followed"
		                                       : bad_revision      ? "InvalidRevision"
		                                                           : "FetchFailed",
		                                       why));
		json_object_set_new(src, "conditions", conds);
		json_object_set_new(root, "source", src);
	}
	for (size_t i = 0; i < c->nms; i++) {
		const struct mstate *st = &c->ms[i];
		json_t *j = json_object();
		json_object_set_new(j, "name", json_string(st->m->name));
		json_object_set_new(j, "user", json_string(st->m->user));
		json_object_set_new(j, "status",
		                    st->ran ? json_string(rotor_status_name(st->status))
		                            : json_null());
		json_object_set_new(j, "reason", json_string(st->reason));
		if (st->last_pass)
			rotor_time_format(t, sizeof(t), st->last_pass);
		json_object_set_new(j, "lastPass", st->last_pass ? json_string(t) : json_null());
		json_object_set_new(j, "lastResult",
		                    !st->ran ? json_null()
		                    : st->held_by[0]
		                        ? json_string("locked")
		                        : json_string(st->last_ok ? "success" : "error"));
		json_object_set_new(j, "error",
		                    st->last_error[0] ? json_string(st->last_error) : json_null());
		json_object_set_new(j, "heldBy",
		                    st->held_by[0] ? json_string(st->held_by) : json_null());
		rotor_time_format(t, sizeof(t), st->next_due);
		json_object_set_new(j, "nextReconcile", json_string(t));
		json_object_set_new(j, "failures", json_integer(st->failures));
		json_object_set_new(j, "revision",
		                    st->revision[0] ? json_string(st->revision) : json_null());
		json_object_set_new(j, "conditions", conditions_of(st));
		json_t *next = json_array();
		for (int k = 0; k < st->nforecast; k++) {
			const struct rotor_forecast *fc = &st->forecast[k];
			json_t *n = json_object();
			rotor_time_format(t, sizeof(t), fc->at);
			json_object_set_new(n, "step", json_string(rotor_forecast_name(fc->kind)));
			json_object_set_new(n, "at", json_string(t));
			json_object_set_new(n, "keyId",
			                    fc->key_id[0] ? json_string(fc->key_id) : json_null());
			json_object_set_new(n, "note", json_string(fc->note));
			json_array_append_new(next, n);
		}
		json_object_set_new(j, "nextSteps", next);
		json_array_append_new(list, j);
	}
	pthread_mutex_unlock(&c->lock);
	json_object_set_new(root, "manifests", list);
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return s;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, const char *type,
                             char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- POST /hooks/github ---------------------------------------------------------------- */

#define WEBHOOK_BODY_MAX ((size_t)1024 * 1024)

struct upload {
	char *data;
	size_t len;
	int too_big;
};

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)conn;
	(void)code;
	struct upload *u = *state;
	if (u) {
		free(u->data);
		free(u);
		*state = NULL;
	}
}

/* "https://github.com/Raxx/Repo.git/" and "https://github.com/raxx/repo" name
 * the same repository. */
static void repo_key(const char *url, char *buf, size_t len)
{
	snprintf(buf, len, "%s", url ? url : "");
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (n > 4 && strcmp(buf + n - 4, ".git") == 0)
		buf[n - 4] = '\0';
	for (char *p = buf; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* A push to the source's repository and branch, signed with the secret:
 * fetch at once. Anything else is refused or ignored, saying which. */
static enum MHD_Result webhook(struct rotor_controller *c, struct MHD_Connection *conn,
                               struct upload *u)
{
	char hex[65] = "", want_ref[300], src[600], got[600];
	/* the config (its secret, the source) read under the lock: SIGHUP may
	 * swap it while this request runs */
	pthread_mutex_lock(&c->lock);
	const struct rotor_secret *secret = c->cfg->webhook_github_secret.value;
	if (secret)
		rotor_hmac_sha256_hex(secret, u->data ? u->data : "", u->len, hex);
	snprintf(want_ref, sizeof(want_ref), "refs/heads/%s",
	         c->cfg->source.branch ? c->cfg->source.branch : "main");
	repo_key(c->cfg->source.url, src, sizeof(src));
	pthread_mutex_unlock(&c->lock);
	if (!secret)
		return reply(conn, 404, "text/plain", strdup("no webhook configured\n"), 22);
	if (u->too_big)
		return reply(conn, 413, "text/plain", strdup("body too large\n"), 15);
	const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Hub-Signature-256");
	if (!sig || strlen(sig) != 7 + 64 || strncmp(sig, "sha256=", 7) != 0 ||
	    CRYPTO_memcmp(sig + 7, hex, 64) != 0) {
		rotor_log(ROTOR_LOG_WARN, "controller",
		          "webhook refused: bad or missing signature");
		return reply(conn, 401, "text/plain", strdup("bad signature\n"), 14);
	}
	const char *event = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-GitHub-Event");
	if (event && strcmp(event, "ping") == 0)
		return reply(conn, 200, "text/plain", strdup("pong\n"), 5);
	json_error_t je;
	json_t *body = json_loadb(u->data ? u->data : "", u->len, 0, &je);
	int ours = 0;
	const char *ref = json_string_value(json_object_get(body, "ref"));
	json_t *repo = json_object_get(body, "repository");
	static const char *const urls[] = {"clone_url", "ssh_url", "git_url", "html_url", "url"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]) && !ours; i++) {
		repo_key(json_string_value(json_object_get(repo, urls[i])), got, sizeof(got));
		ours = got[0] && strcmp(got, src) == 0;
	}
	int push = (!event || strcmp(event, "push") == 0) && ref && strcmp(ref, want_ref) == 0;
	json_decref(body);
	if (!push || !ours)
		return reply(conn, 202, "text/plain",
		             strdup("ignored: not a push to the source's repository and branch\n"),
		             58);
	atomic_store(&c->fetch_now, 1);
	rotor_log(ROTOR_LOG_INFO, "controller", "webhook: a push to %s; fetching now", want_ref);
	return reply(conn, 202, "text/plain", strdup("fetching\n"), 9);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
	struct rotor_controller *c = cls;
	(void)version;
	if (strcmp(url, "/hooks/github") == 0 && strcmp(method, "POST") == 0) {
		struct upload *u = *state;
		if (!u) { /* the first call: headers only */
			const char *cl =
			    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
			if (cl && strtoull(cl, NULL, 10) > WEBHOOK_BODY_MAX) /* refused unread */
				return reply(conn, 413, "text/plain", strdup("body too large\n"),
				             15);
			u = calloc(1, sizeof(*u));
			if (!u)
				return MHD_NO;
			*state = u;
			return MHD_YES;
		}
		if (*upload_size) {
			if (u->too_big || u->len + *upload_size > WEBHOOK_BODY_MAX) {
				u->too_big = 1;
			} else {
				char *d = realloc(u->data, u->len + *upload_size + 1);
				if (!d)
					return MHD_NO;
				memcpy(d + u->len, upload_data, *upload_size);
				u->data = d;
				u->len += *upload_size;
			}
			*upload_size = 0;
			return MHD_YES;
		}
		return webhook(c, conn, u);
	}
	if (*upload_size) { /* no other endpoint takes a body */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0)
		return reply(conn, 405, "text/plain", strdup("only GET\n"), 9);
	if (strcmp(url, "/healthz") == 0)
		return reply(conn, 200, "text/plain", strdup("ok\n"), 3);
	if (strcmp(url, "/readyz") == 0) {
		pthread_mutex_lock(&c->lock);
		int ready = c->ready;
		pthread_mutex_unlock(&c->lock);
		return ready
		           ? reply(conn, 200, "text/plain", strdup("ready\n"), 6)
		           : reply(conn, 503, "text/plain", strdup("manifests not read yet\n"), 23);
	}
	if (strcmp(url, "/status") == 0) {
		char *s = render_status(c);
		return s ? reply(conn, 200, "application/json", s, strlen(s)) : MHD_NO;
	}
	if (strcmp(url, "/metrics") == 0) {
		size_t len = 0;
		char *s = render_metrics(c, &len);
		return s ? reply(conn, 200, "text/plain; version=0.0.4", s, len) : MHD_NO;
	}
	return reply(conn, 404, "text/plain", strdup("not found\n"), 10);
}

static int start_http(struct rotor_controller *c, struct rotor_error *err)
{
	const char *listen = c->opts.listen ? c->opts.listen : c->cfg->listen;
	if (!listen || strcmp(listen, "none") == 0)
		return 0;
	/* HOST:PORT with an IPv4 address or localhost, or [IPv6]:PORT */
	char host[64];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "controller.listen \"%s\" is not HOST:PORT", listen);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	char *end = NULL;
	long pl = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || pl < 0 || pl > 65535)
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "controller.listen \"%s\": the port must be a number between 0 "
		    "and 65535",
		    listen);
	uint16_t port = (uint16_t)pl;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
	memset(&ss, 0, sizeof(ss));
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		char v6[64];
		snprintf(v6, sizeof(v6), "%.*s", (int)(hl - 2), host + 1);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, v6, &a6->sin6_addr) != 1)
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "controller.listen: \"%s\" is not an IPv6 address",
			                       v6);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
		              &a4->sin_addr) != 1)
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "controller.listen: \"%s\" is not an IPv4 address (write "
			    "[ADDRESS]:PORT for IPv6)",
			    host);
	}
	c->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, c, MHD_OPTION_SOCK_ADDR,
	                          (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	                          (unsigned int)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, c, MHD_OPTION_END);
	if (!c->mhd)
		return rotor_error_set(err, ROTOR_EIO, "controller: cannot listen on %s", listen);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(c->mhd, MHD_DAEMON_INFO_BIND_PORT);
	rotor_log(ROTOR_LOG_INFO, "controller", "listening on %s:%u", host,
	          info ? (unsigned)info->port : 0);
	fprintf(stderr, "rotor controller: listening on %s:%u\n", host,
	        info ? (unsigned)info->port : 0);
	return 0;
}

/* ---- life cycle ----------------------------------------------------------------------- */

int rotor_controller_new(struct rotor_controller **out, struct rotor_config *cfg,
                         const struct rotor_controller_options *opts, struct rotor_error *err)
{
	struct rotor_controller *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c) {
		rotor_config_free(cfg);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	c->cfg = cfg;
	if (opts)
		c->opts = *opts;
	c->clock = rotor_clock_real();
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->idle, NULL);
	rotor_state_dir(c->state_dir, sizeof(c->state_dir), cfg->state_dir);
	if (!c->opts.npaths && !cfg->source.present) {
		rotor_controller_free(c);
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "the controller needs the config's source (or PATHs)");
	}
	struct rotor_engine_options eo;
	memset(&eo, 0, sizeof(eo));
	eo.stop = &c->stopping;
	int rc = rotor_engine_new(&c->engine, cfg, &eo, err);
	if (!rc && (rc = rotor_state_dir_make(c->state_dir, err)) == 0)
		rc = rotor_notifier_open(&c->notifier, cfg, c->state_dir, err);
	if (rc) {
		rotor_controller_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void rotor_controller_stop(struct rotor_controller *c)
{
	atomic_store(&c->stopping, 1);
}

void rotor_controller_reload(struct rotor_controller *c)
{
	atomic_store(&c->reload_asked, 1);
}

/* SIGHUP: a new config and engine, swapped in while every worker is idle;
 * an invalid config is refused and the old one kept. */
static void reload_config(struct rotor_controller *c)
{
	struct rotor_diags diags;
	struct rotor_config *cfg = NULL;
	struct rotor_error err;
	char *text = NULL;
	size_t len = 0;
	rotor_diags_init(&diags);
	rotor_error_clear(&err);
	if (!c->opts.config_path ||
	    rotor_source_read_file(&text, &len, c->opts.config_path, ROTOR_CONFIG_FILE_MAX, &err) !=
	        0 ||
	    rotor_config_parse(&cfg, c->opts.config_path, text, len, &diags) != 0 ||
	    rotor_config_resolve_secrets(cfg, ROTOR_DIAG_ERROR, &diags) != 0) {
		rotor_log(ROTOR_LOG_ERROR, "controller",
		          "config reload refused (%s): the controller keeps the old config",
		          err.message[0]                      ? err.message
		          : diags.n && diags.items[0].message ? diags.items[0].message
		                                              : "invalid");
		rotor_config_free(cfg);
		free(text);
		rotor_diags_dispose(&diags);
		return;
	}
	free(text);
	rotor_diags_dispose(&diags);
	struct rotor_engine *engine = NULL;
	struct rotor_engine_options eo;
	memset(&eo, 0, sizeof(eo));
	eo.stop = &c->stopping;
	struct rotor_notifier *notifier = NULL;
	if (rotor_engine_new(&engine, cfg, &eo, &err) != 0 ||
	    rotor_notifier_open(&notifier, cfg, c->state_dir, &err) != 0) {
		rotor_log(ROTOR_LOG_ERROR, "controller", "config reload refused: %s", err.message);
		rotor_engine_free(engine);
		rotor_config_free(cfg);
		return;
	}
	pthread_mutex_lock(&c->lock);
	while (c->busy)
		pthread_cond_wait(&c->idle, &c->lock);
	struct rotor_engine *old = c->engine;
	struct rotor_config *oldcfg = c->cfg;
	struct rotor_notifier *oldn = c->notifier;
	c->engine = engine;
	c->cfg = cfg;
	c->notifier = notifier;
	for (size_t i = 0; i < c->nms; i++)
		c->ms[i].next_due = now_s(c);
	/* the manifests again, against the new config (its source may have
	 * moved, its connections changed): even at the same revision */
	c->revision[0] = '\0';
	atomic_store(&c->fetch_now, 1);
	pthread_mutex_unlock(&c->lock);
	rotor_notifier_close(oldn, 10000); /* what the old sinks still hold goes out */
	rotor_engine_free(old);
	rotor_config_free(oldcfg);
	rotor_log(ROTOR_LOG_INFO, "controller", "config reloaded from %s", c->opts.config_path);
}

static void refresh_manifests(struct rotor_controller *c)
{
	struct rotor_error err;
	char revision[41];
	rotor_error_clear(&err);
	struct rotor_manifest_set *set = load_set(c, revision, &err);
	pthread_mutex_lock(&c->lock);
	c->last_fetch = now_s(c);
	if (!set) {
		c->fetch_errors++;
		snprintf(c->source_error, sizeof(c->source_error), "%s", err.message);
		pthread_mutex_unlock(&c->lock);
		rotor_log(ROTOR_LOG_ERROR, "controller", "%s", err.message);
		return;
	}
	c->source_error[0] = '\0';
	if (c->set && c->opts.npaths == 0 && strcmp(revision, c->revision) == 0) {
		pthread_mutex_unlock(&c->lock); /* nothing new */
		rotor_manifest_set_dispose(set);
		free(set);
		return;
	}
	c->installing = 1;
	while (c->busy || c->expecting)
		pthread_cond_wait(&c->idle, &c->lock);
	c->installing = 0;
	int changed = !c->set || strcmp(revision, c->revision) != 0 || c->set->n != set->n;
	if (install_set(c, set, revision) != 0) {
		rotor_manifest_set_dispose(set);
		free(set);
	} else {
		c->ready = 1;
		if (changed)
			rotor_log(ROTOR_LOG_INFO, "controller", "%zu manifest%s%s%s", set->n,
			          set->n == 1 ? "" : "s", revision[0] ? " at " : "", revision);
	}
	pthread_mutex_unlock(&c->lock);
}

static void *fetch_main(void *arg)
{
	struct rotor_controller *c = arg;
	refresh_manifests(c);
	atomic_store(&c->fetching, 0);
	return NULL;
}

int rotor_controller_run(struct rotor_controller *c, struct rotor_error *err)
{
	int rc = start_http(c, err);
	if (rc)
		return rc;
	int n = c->cfg->workers > 0 ? c->cfg->workers : 4;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	for (c->nworkers = 0; c->nworkers < n; c->nworkers++)
		if (pthread_create(&c->workers[c->nworkers], NULL, worker_main, c) != 0)
			break;
	int64_t next_fetch = 0;
	while (!atomic_load(&c->stopping)) {
		/* a reload swaps the config a fetch in flight reads: after it */
		if (!atomic_load(&c->fetching) && atomic_exchange(&c->reload_asked, 0))
			reload_config(c);
		/* read each time: a reload may change it */
		int64_t interval = c->cfg->source.present ? c->cfg->source.interval : 60;
		int64_t now = now_s(c);
		if (atomic_exchange(&c->fetch_now, 0))
			next_fetch = 0; /* a signed webhook: a push to the source's branch */
		if (now >= next_fetch && !atomic_load(&c->fetching)) {
			pthread_t t;
			atomic_store(&c->fetching, 1);
			if (pthread_create(&t, NULL, fetch_main, c) == 0) {
				pthread_detach(t);
			} else { /* no thread: fetch here */
				refresh_manifests(c);
				atomic_store(&c->fetching, 0);
			}
			next_fetch = now + interval;
		}
		pthread_mutex_lock(&c->lock);
		size_t due = 0;
		for (size_t i = 0; !c->installing && i < c->nms; i++) {
			struct mstate *st = &c->ms[i];
			if (!st->busy && !st->queued && st->next_due <= now) {
				st->queued = 1;
				c->queue[c->qlen++] = i;
				due++;
			}
		}
		/* The store reads of what fell due together, batched (one
		 * recursive list per project and environment). Not more often
		 * than the batch lives: a manifest that applied steps is due
		 * again at once, and each new batch would be one more paced
		 * read of the whole subtree. */
		int64_t mono = rotor_process_ms() / 1000;
		size_t k = 0;
		if (due > 1 && c->expect && (!c->last_expect || mono - c->last_expect >= 120)) {
			c->last_expect = mono;
			for (size_t q = c->qlen - due; q < c->qlen; q++)
				c->expect[k++] = c->ms[c->queue[q]].m;
		}
		c->expecting = k > 0;
		pthread_mutex_unlock(&c->lock);
		/* outside the lock (the store's read may take a while; /status and
		 * the workers must not wait); a new set is not installed meanwhile
		 * (expecting) */
		if (k)
			rotor_engine_expect(c->engine, c->expect, k);
		pthread_mutex_lock(&c->lock);
		c->expecting = 0;
		pthread_cond_broadcast(&c->idle);
		if (c->qlen)
			pthread_cond_broadcast(&c->work);
		pthread_mutex_unlock(&c->lock);
		/* at most a second: a moved clock and a stop are noticed; no busy wait */
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&c->lock);
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	c->nworkers = 0;
	rotor_log(ROTOR_LOG_INFO, "controller", "stopped: every step in flight finished");
	return 0;
}

void rotor_controller_free(struct rotor_controller *c)
{
	if (!c)
		return;
	if (atomic_load(&c->fetching)) {
		/* a fetch that does not end (a stalled git server: libgit2 1.5 has
		 * no timeout) is not waited for; the process is about to exit */
		rotor_log(ROTOR_LOG_WARN, "controller",
		          "a fetch of the source is still in flight: not waited for");
		if (c->mhd)
			MHD_stop_daemon(c->mhd);
		return;
	}
	if (c->mhd)
		MHD_stop_daemon(c->mhd);
	rotor_notifier_close(c->notifier, 10000);
	rotor_engine_free(c->engine);
	if (c->set) {
		rotor_manifest_set_dispose(c->set);
		free(c->set);
	}
	free(c->ms);
	free(c->queue);
	free(c->expect);
	rotor_config_free(c->cfg);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
