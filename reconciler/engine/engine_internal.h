/*
 * engine_internal.h (internal): what the engine's files share — the engine
 * with its connection caches (engine.c), one manifest's apply context, and
 * the steps rollback (rollback.c) reuses.
 * Thread rules: as rotor/engine.h: an engine belongs to one thread at a
 * time.
 */
#ifndef ROTOR_ENGINE_INTERNAL_H
#define ROTOR_ENGINE_INTERNAL_H

#include <stdint.h>

#include "audit.h"
#include "providers/aws/aws.h"
#include "providers/consumers/consumer.h"
#include "providers/store/store.h"
#include "rotor/engine.h"

#define MAX_CONNECTIONS 64

struct aws_conn {
	const struct rotor_aws_connection *cfg;
	struct rotor_aws_chain *chain;
	struct rotor_aws_client *iam;
	struct rotor_aws_client *sts;
};

struct store_conn {
	char name[64]; /* the connection's name */
	struct rotor_store store;
};

struct rotor_engine {
	const struct rotor_config *cfg;
	struct rotor_engine_options opts;
	struct aws_conn aws[MAX_CONNECTIONS];
	size_t naws;
	struct store_conn stores[MAX_CONNECTIONS];
	size_t nstores;
	struct rotor_consumer_ops consumers[ROTOR_CONSUMER__COUNT]; /* by kind; .kind NULL: none */
	struct audit audit;
};

struct apply_ctx {
	struct rotor_engine *e;
	const struct rotor_manifest *m;
	const struct rotor_observed *obs;
	struct rotor_engine_state *st;
	struct aws_conn *aws;
	struct rotor_store *store;
	char new_id[32]; /* the key CREATE made in this pass */
	int64_t new_created;
	struct rotor_secret *new_secret;
	int64_t new_store_version;
	int reactivated; /* rollback: this pass made the previous key Active again */
};

int64_t rotor_engine_now(struct rotor_engine *e);
/* The connection named, opened on first use and cached. */
int rotor_engine_aws_conn(struct rotor_engine *e, const char *name, struct aws_conn **out,
                          struct rotor_error *err);
int rotor_engine_store_conn(struct rotor_engine *e, const char *name, struct rotor_store **out,
                            struct rotor_error *err);
struct rotor_store_ref rotor_engine_store_ref(const struct rotor_manifest *m);
/* One audit line for an action of c's manifest. */
void rotor_engine_audit(struct apply_ctx *c, const char *action, const char *key_id,
                        const char *consumer, int64_t version, const struct rotor_error *err);
/* Sets one field of a key's record ('s' synced, 'i' inactive), keeping the others. */
int rotor_engine_update_record(struct apply_ctx *c, const char *id, char field, int64_t value,
                               struct rotor_error *err);
/* Removes a user tag (already gone counts as removed). */
int rotor_engine_untag(struct apply_ctx *c, const char *key, struct rotor_error *err);
/* Rollback's steps (rollback.c): reactivate the previous key, restore its
 * proven pair, suspend the manifest. */
int rotor_engine_rollback_reactivate(struct apply_ctx *c, const char *id, struct rotor_error *err);
int rotor_engine_rollback_store(struct apply_ctx *c, const char *id, struct rotor_error *err);
int rotor_engine_suspend(struct apply_ctx *c, struct rotor_error *err);

#endif
