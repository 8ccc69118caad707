/*
 * session.h: what plan, apply, status, rotate, rollback and resume share —
 * the config (required), the manifests, an engine, and a pass that
 * observes and plans every selected manifest.
 */
#ifndef ROTOR_CMD_SESSION_H
#define ROTOR_CMD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/log.h"

#include "rotor/config.h"
#include "rotor/engine.h"
#include "rotor/lock.h"
#include "rotor/manifest.h"
#include "rotor/notify.h"
#include "rotor/plan.h"
#include "rotor/reconcile.h"

struct session_options {
	const char *config; /* --config */
	char *const *paths;
	size_t npaths;
	const char *selector; /* --selector k=v, or NULL */
	const char *only;     /* a single manifest name, or NULL */
	const char *command;  /* for messages */
	int mutates;          /* takes each user's lock for the pass (apply, rotate, ...) */
	int64_t lock_wait_ms; /* --lock-wait; -1: the default (60 s) */
	int parallel;         /* --parallel N: manifests handled at once; 0: the default (8) */
	const char *revision; /* --revision REF: the git source's commit to read; NULL: head */
};

struct session {
	struct rotor_config *cfg;
	struct rotor_manifest_set set;
	struct rotor_engine *engine;
	/* one pass: the selected manifests, observed and planned window by
	 * window (session_pass): obs, states and plans hold the current
	 * window, whose manifests are win[0..nwin) and whose reconciles (and
	 * locks) are win_recs[0..nwin) */
	const struct rotor_manifest **selected;
	struct rotor_reconcile *recs; /* the window's reconciles (their locks too) */
	size_t nrecs;
	size_t n; /* selected manifests */
	const struct rotor_manifest **win;
	struct rotor_reconcile *win_recs;
	size_t nwin, base;
	int last_window; /* the window being handed to `each` is the pass's last */
	struct rotor_observed *obs;
	struct rotor_engine_state *states;
	struct rotor_manifest_plan *plans;
	int observe_errors;
	int64_t now;       /* the moment the pass planned at */
	char revision[41]; /* the git source's commit the manifests came from; "" paths */
	int mutates;       /* take each user's lock for the pass */
	int parallel;      /* workers for the pass (--parallel) */
	int64_t lock_wait_ms;
	const char *command;
	char state_dir[4096];
	struct rotor_notifier *notifier; /* commands that mutate, when the config has sinks */
};

/* "manifests: URL, branch B, at commit SHA" when they came from the git
 * source (plan, apply and status print the revision they read). */
void session_print_source(const struct session *s);

/* Takes the lock of selected manifest i (no-op when not mutating); prints
 * nothing, fills err on failure. */
int session_lock(struct session *s, size_t i, struct rotor_error *err);

/* Loads everything; on failure prints why and returns the exit status
 * (2 usage, 3 invalid, 1 error); 0 on success. */
int session_open(struct session *s, const struct session_options *o);
/* Reconciles the selected manifests up to their plans (lock, observe,
 * plan), s->parallel at a time over the one engine, window by window
 * (SESSION_WINDOW manifests, or all at once when `whole`), taking the
 * --max-deletions budget plan by plan in manifest order (so what is held
 * back never depends on which worker finished first); rotate_now for
 * `only` when asked. After each window is planned, each(s, ctx) renders
 * or applies it; then the window's locks are released and its secrets
 * wiped, so a pass over 10,000 manifests holds one window in memory and
 * one window's lock files open. Returns 0, 1 when memory ran out, or what
 * `each` returned (non-zero stops the pass). */
#define SESSION_WINDOW 64
int session_pass(struct session *s, int rotate_now, int max_deletions, int whole,
                 int (*each)(struct session *s, void *ctx), void *ctx);
void session_close(struct session *s);

/* Common flags parsed by every session command. Returns 0, or 2 on a
 * usage error (printed). */
int session_common_flag(int opt, const char *arg, struct session_options *o);
/* Parses --lock-wait DURATION into o; 2 on a usage error (printed). */
int session_lock_wait_flag(const char *arg, struct session_options *o);

/* Sets up logging from ROTOR_LOG_LEVEL / ROTOR_LOG_FORMAT. */
/* ROTOR_LOG_LEVEL (else default_level) and ROTOR_LOG_FORMAT (json|text;
 * else JSON when stderr is not a terminal). */
void session_log_setup(enum rotor_log_level default_level);

#endif
