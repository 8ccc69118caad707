/*
 * engine.h: observe and apply — the only code that calls providers.
 *
 * For each manifest the engine observes the real world (IAM keys, last
 * use, rotor's progress record in the user's tags, the store's pair, each
 * consumer) into a struct rotor_observed, and applies a plan's actions in
 * order, stopping at the first failure and recording progress in the tags
 * before and after each step. Secrets met on the way (the stored pair, a
 * new key) live only in struct rotor_engine_secrets and are wiped.
 *
 * Thread rules: one engine serves any number of threads at once, each
 * handling a different manifest (one manifest is only ever handled by one
 * thread: the per-user lock of rotor/lock.h makes sure across processes).
 * Its connection caches are locked; what is shared per connection (the AWS
 * credential chain, the Infisical token, its pacing) is locked inside the
 * provider; what cannot be shared (an HTTP handle) is per thread: each
 * observe or apply checks an AWS handle out of its connection's pool and
 * puts it back. The config it was built over is borrowed: keep it until
 * rotor_engine_free; a config reload builds a new engine (providers copy
 * what they keep, so nothing else points into a config).
 */
#ifndef ROTOR_ENGINE_H
#define ROTOR_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rotor/config.h"
#include "rotor/error.h"
#include "rotor/manifest.h"
#include "rotor/observed.h"
#include "rotor/plan.h"

struct rotor_clock;
struct rotor_secret;
struct rotor_engine;
struct rotor_providers;

struct rotor_engine_options {
	struct rotor_clock *clock;   /* default: the real clock */
	int64_t validate_timeout_ms; /* default 120000 (the contract's 2 minutes) */
	const char *revision;        /* manifests' revision, for the audit log */
	FILE *progress;              /* one line per applied action, or NULL */
	/* The providers to build over (internal providers/registry.h); NULL:
	 * rotor's own. Tests pass fakes. */
	const struct rotor_providers *providers;
	/* When set and non-zero, apply stops before its next step (the step in
	 * flight always finishes: never half a step) with ROTOR_ESTOPPED; the
	 * progress record makes the next pass resume from there. The
	 * controller's SIGTERM. */
	const atomic_int *stop;
};

int rotor_engine_new(struct rotor_engine **out, const struct rotor_config *cfg,
                     const struct rotor_engine_options *opts, struct rotor_error *err);
void rotor_engine_free(struct rotor_engine *e);

/* What observe learnt that is not in struct rotor_observed: the user's
 * ARN and the stored pair (secret). Owned by the caller; dispose it. */
struct rotor_engine_state {
	char user_arn[320];
	struct rotor_secret *store_secret; /* the store's current secret, or NULL */
	int64_t store_akid_version, store_secret_version;
	/* The manifests' revision for the audit log when it differs from the
	 * engine's (opts.revision): a controller follows new revisions with one
	 * engine. Set by the caller after observe; borrowed. */
	const char *revision;
	/* apply: per plan action, 1 done, 2 failed, 0 not attempted */
	unsigned char outcome[ROTOR_PLAN_MAX_ACTIONS];
	char new_key[32]; /* apply: the key it created ("" none) */
};
void rotor_engine_state_dispose(struct rotor_engine_state *st);

/* Names the manifests a pass is about to observe, so that stores can read
 * them in batches (one recursive list per project and environment instead
 * of one read per manifest). Optional; a failure only costs the batching
 * (logged). Any thread, before the pass's observations. */
void rotor_engine_expect(struct rotor_engine *e, const struct rotor_manifest *const *manifests,
                         size_t n);

/* Observes one manifest. Parts that fail are marked unknown in *obs with
 * the error; the return is 0 unless nothing at all could be done (e.g. no
 * credentials for the connection), then an error. */
int rotor_engine_observe(struct rotor_engine *e, const struct rotor_manifest *m,
                         struct rotor_observed *obs, struct rotor_engine_state *st,
                         struct rotor_error *err);

/* Applies plan's actions in order. Returns 0 when all succeeded, else the
 * first failure (prefixed with the manifest name); later actions are not
 * attempted, except that a failed propagation does not keep the
 * propagations after it from being made (consumers are independent: one
 * failing must not leave the others behind); nothing after them runs.
 * *applied counts the actions done; st->outcome says which. One line per action goes to
 * progress, or to the engine's (opts.progress) when progress is NULL: a
 * concurrent pass gives each manifest a stream of its own, so that output
 * stays in manifest order. */
int rotor_engine_apply(struct rotor_engine *e, const struct rotor_manifest *m,
                       const struct rotor_manifest_plan *plan, const struct rotor_observed *obs,
                       struct rotor_engine_state *st, FILE *progress, int *applied,
                       struct rotor_error *err);

/* Rollback (§7): reactivate the predecessor if it still exists, restore
 * the store's previous version, re-propagate, deactivate the new key, and
 * suspend the manifest (an IAM user tag) until rotor_engine_resume. The
 * planner decides the steps (or the refusal); when show is not NULL, the
 * plan is written there (text) before anything is applied. */
int rotor_engine_rollback(struct rotor_engine *e, const struct rotor_manifest *m, FILE *show,
                          struct rotor_error *err);
/* Resume: removes the rollback's suspension; *was_suspended says whether
 * there was one (nothing is changed when there was not). */
int rotor_engine_resume(struct rotor_engine *e, const struct rotor_manifest *m, int *was_suspended,
                        struct rotor_error *err);

/* ---- the progress record (IAM user tags), pure ------------------------ */

#define ROTOR_TAG_INTENT "rotor-intent"
#define ROTOR_TAG_SUSPENDED "rotor-suspended"
/* + a consumer's name: what its last write recorded (kinds whose values
 * cannot be read back; consumer.h) */
#define ROTOR_TAG_CONSUMER "rotor:consumer:"

/* "rotor v1 m=NAME c=TIME s=TIME i=TIME sv=N" (absent fields left out). */
void rotor_record_format(char *buf, size_t len, const struct rotor_key_record *r);
/* 0 when value is a rotor record; fills *r. */
int rotor_record_parse(const char *value, struct rotor_key_record *r);
/* "v1 m=NAME at=TIME h=HOST:PID" (holder: rotor_holder_id; NULL leaves it
 * out, as rotor before issue 15 wrote it). */
void rotor_intent_format(char *buf, size_t len, const char *manifest, int64_t at,
                         const char *holder);
int rotor_intent_parse(const char *value, char *manifest, size_t mlen, int64_t *at);
/* The holder of an intent value; -1 when it names none. */
int rotor_intent_holder(const char *value, char *holder, size_t len);

#endif
