/*
 * plan.h: the planner — plan = compute(desired, observed, now).
 *
 * A pure function: no clock, no network, no globals. It classifies the
 * user's keys (current / predecessor / stray), decides what is due, and
 * returns the ordered actions that converge, with a one-line reason each,
 * a status for the manifest, and a forecast of dated steps ahead. The
 * engine executes the actions in order and stops at the first failure; the
 * next pass observes afresh and plans again. Contract:
 * ../shared/design/rotation.md §3–§5b; user doc: docs/rotation.md.
 */
/* Thread rules: the planner and the renderers are pure: any thread; a plan is the
 * caller's storage. */
#ifndef ROTOR_PLAN_H
#define ROTOR_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rotor/manifest.h"
#include "rotor/observed.h"

enum rotor_action_kind {
	ROTOR_ACT_DELETE_STRAY = 0,    /* delete a never-used key the store does not hold */
	ROTOR_ACT_DELETE,              /* delete the Inactive predecessor (window over or cut) */
	ROTOR_ACT_RECORD_INTENT,       /* tag: rotor is about to create a key */
	ROTOR_ACT_CREATE,              /* CreateAccessKey */
	ROTOR_ACT_VALIDATE,            /* STS with the new key (retried while IAM propagates) */
	ROTOR_ACT_STORE,               /* write the pair in one request, read back */
	ROTOR_ACT_PROPAGATE,           /* write one consumer, verify */
	ROTOR_ACT_RECORD_SYNC,         /* tag: every consumer holds the current key since now */
	ROTOR_ACT_DEACTIVATE,          /* UpdateAccessKey Inactive on the predecessor */
	ROTOR_ACT_RECORD_INACTIVE,     /* tag: first seen Inactive now (window starts) */
	ROTOR_ACT_FORGET_RECORD,       /* untag: rotor's record of a key IAM no longer has */
	ROTOR_ACT_ROLLBACK_REACTIVATE, /* rollback: the previous key Active again */
	ROTOR_ACT_ROLLBACK_STORE,      /* rollback: its pair, proven with STS, as a new version */
	ROTOR_ACT_SUSPEND,             /* rollback: tag the user suspended until resume */
	ROTOR_ACT__COUNT
};

struct rotor_action {
	enum rotor_action_kind kind;
	/* the key acted on ("" for the key CREATE makes); FORGET_RECORD: the
	 * record tag's key (a key id, or rotor:consumer:NAME) */
	char key_id[96];
	int consumer;     /* PROPAGATE: index into the manifest's consumers; else -1 */
	char reason[320]; /* one line a reviewer understands */
};

enum rotor_status {
	ROTOR_STATUS_READY = 0,   /* in sync, nothing to do now */
	ROTOR_STATUS_RECONCILING, /* actions pending */
	ROTOR_STATUS_WAITING,     /* something is due but must wait (a window, a missing slot) */
	ROTOR_STATUS_STALLED,     /* needs a human: rotor will not act */
	ROTOR_STATUS_SUSPENDED,   /* spec.suspend */
	ROTOR_STATUS_UNKNOWN,     /* could not observe enough to decide */
};

enum rotor_forecast_kind {
	ROTOR_FC_ROTATE = 0, /* next rotation */
	ROTOR_FC_DEACTIVATE, /* earliest deactivation of the predecessor */
	ROTOR_FC_DELETE,     /* deletion of the Inactive key */
};

struct rotor_forecast {
	enum rotor_forecast_kind kind;
	int64_t at; /* Unix seconds */
	char key_id[32];
	char note[160]; /* "if no use of AKIA... is seen after ..." */
};

#define ROTOR_PLAN_MAX_ACTIONS (8 + ROTOR_OBS_MAX_KEYS + ROTOR_MANIFEST_MAX_CONSUMERS)
#define ROTOR_PLAN_MAX_FORECAST 4

/* The key roles of §3, for display. */
enum rotor_key_role {
	ROTOR_ROLE_CURRENT = 0,
	ROTOR_ROLE_PREDECESSOR,
	ROTOR_ROLE_STRAY,
	ROTOR_ROLE_LEGACY, /* adoption: the store holds no key; the old key to replace */
};

struct rotor_manifest_plan {
	const struct rotor_manifest *manifest; /* borrowed */
	int observe_only; /* mode observe: actions are reported, never applied */
	enum rotor_status status;
	char status_reason[480];
	struct rotor_action actions[ROTOR_PLAN_MAX_ACTIONS];
	int nactions;
	struct rotor_forecast forecast[ROTOR_PLAN_MAX_FORECAST];
	int nforecast;
	int rotation_due; /* 1 when this plan rotates */
	char due_reason[160];
	enum rotor_key_role roles[ROTOR_OBS_MAX_KEYS]; /* per observed key */
	int deletions_held;                            /* deletions dropped by --max-deletions */
	/* "1/2 consumers hold AKIA...": consumers in sync with the stored
	 * pair, of how many, and that pair's key id ("" when the store is
	 * empty or unknown) */
	int consumers, consumers_holding;
	char holding_akid[32];
	int held_use; /* Stalled because the predecessor was used after the switch */
};

struct rotor_plan_options {
	int max_deletions; /* for the whole plan; default 10 */
};

/* spec.windows (window.c): whether rotor may change the user at t (always
 * when there are no windows), the next moment one opens (0: none within a
 * week), and "mon,tue 09:00-16:00 Europe/Berlin" for messages. */
int rotor_window_open(const struct rotor_manifest *m, int64_t t);
int64_t rotor_window_next(const struct rotor_manifest *m, int64_t now);
void rotor_window_describe(const struct rotor_manifest *m, char *buf, size_t len);

/* Plans one manifest. Pure. */
void rotor_plan_compute(const struct rotor_manifest *m, const struct rotor_observed *obs,
                        int64_t now, struct rotor_manifest_plan *out);

/* Applies the --max-deletions guard across plans, in order: past the
 * limit, deletions are dropped and the manifest says why. Returns how many
 * deletions remain. */
/* The same for one plan, counting into *used (what earlier plans of the
 * pass deleted); returns the deletions this plan keeps. */
int rotor_plan_limit_one(struct rotor_manifest_plan *p, int max_deletions, int *used);
int rotor_plan_limit_deletions(struct rotor_manifest_plan *plans, size_t n, int max_deletions);

/* Whether a pass applies this plan: it has actions and may act (not
 * observe-only, Suspended or Unknown). The one gate every caller uses. */
int rotor_plan_applies(const struct rotor_manifest_plan *p);
const char *rotor_action_name(enum rotor_action_kind kind);
const char *rotor_status_name(enum rotor_status s);
const char *rotor_role_name(enum rotor_key_role r);
const char *rotor_forecast_name(enum rotor_forecast_kind k); /* "rotate", "deactivate", "delete" */
/* 1 for actions that change something outside rotor. */
int rotor_action_mutates(enum rotor_action_kind kind);

/* ---- rendering ------------------------------------------------------- */

enum rotor_plan_format {
	ROTOR_PLAN_TEXT = 0,
	ROTOR_PLAN_MARKDOWN = 1,
	ROTOR_PLAN_JSON = 2,
};

struct rotor_plan_render {
	enum rotor_plan_format format;
	int color; /* ANSI colour (text on a TTY) */
	int64_t now;
	const char *revision; /* manifests' revision, optional */
};

/* Writes the plans for a set of manifests (plus removed/unmanaged notes,
 * later) to f. Secret values never reach a renderer: the model has none. */
int rotor_plan_render(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                      const struct rotor_observed *obs, const struct rotor_plan_render *opts);

/* Counts for the summary line. */
struct rotor_plan_summary {
	size_t manifests, to_roll_back, to_rotate, to_prune, to_sync, in_sync, waiting, stalled,
	    suspended, unknown, observe_only;
};
void rotor_plan_summarize(const struct rotor_manifest_plan *plans, size_t n,
                          struct rotor_plan_summary *out);

/* The text format in pieces, for a pass planned window by window (so
 * that 10,000 manifests never sit in memory at once): each window's
 * manifest blocks, then one summary line for the whole pass, the counts
 * added up window by window. rotor_plan_render's text is exactly the
 * blocks of all plans and their summary. */
void rotor_plan_render_text_blocks(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                                   const struct rotor_plan_render *opts);
void rotor_plan_summary_add(struct rotor_plan_summary *sum, const struct rotor_plan_summary *part);
void rotor_plan_render_summary(FILE *f, const struct rotor_plan_summary *s);
/* 1 when any plan has a mutating action that apply would execute. */
int rotor_plan_has_changes(const struct rotor_manifest_plan *plans, size_t n);

#endif
