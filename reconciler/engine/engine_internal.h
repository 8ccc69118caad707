/*
 * engine_internal.h (internal): what the engine's files share — the engine
 * with its connection caches (engine.c), one manifest's apply context, and
 * the steps rollback (rollback.c) reuses.
 * Thread rules: as rotor/engine.h: any thread; see struct rotor_engine.
 */
#ifndef ROTOR_ENGINE_INTERNAL_H
#define ROTOR_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "audit.h"
#include "providers/aws/aws.h"
#include "providers/aws/provider.h"
#include "providers/consumers/consumer.h"
#include "providers/registry.h"
#include "providers/store/store.h"
#include "rotor/engine.h"

#define MAX_CONNECTIONS 64

struct aws_conn;

/* One worker's AWS handle, checked out of its connection's pool for one
 * manifest's observe or apply (rotor_engine_aws_take/_give). */
struct aws_handle {
	const struct rotor_aws_api *api;
	void *h;
	struct aws_conn *conn;
	struct aws_handle *next; /* the pool's idle list */
};

struct aws_conn {
	char name[64];
	void *conn;              /* the provider's connection (shared, locked inside) */
	struct aws_handle *idle; /* guarded by the engine's lock */
};

struct store_conn {
	char name[64]; /* the connection's name */
	struct rotor_store store;
};

/* Thread rules: the caches (aws, stores and their counts, the idle lists)
 * are guarded by lock; a slot, once filled, stays until rotor_engine_free,
 * so pointers into them may be used without it. consumers[] is filled at
 * rotor_engine_new and read-only after. */
struct rotor_engine {
	const struct rotor_config *cfg; /* borrowed (see rotor/engine.h) */
	struct rotor_engine_options opts;
	struct rotor_providers providers;
	pthread_mutex_t lock;
	struct aws_conn aws[MAX_CONNECTIONS];
	size_t naws;
	struct store_conn stores[MAX_CONNECTIONS];
	size_t nstores;
	struct rotor_consumer_ops consumers[ROTOR_CONSUMER__COUNT]; /* by kind; .kind NULL: none */
	struct audit audit;
};

/* Calls an AWS operation on a handle: AWS(h, list_access_keys, user, ...). */
#define AWS(hd, op, ...) ((hd)->api->op((hd)->h, __VA_ARGS__))

struct apply_ctx {
	struct rotor_engine *e;
	const struct rotor_manifest *m;
	const struct rotor_observed *obs;
	struct rotor_engine_state *st;
	struct aws_handle *aws; /* checked out for the apply */
	struct rotor_store *store;
	char new_id[32]; /* the key CREATE made in this pass */
	int64_t new_created;
	struct rotor_secret *new_secret;
	int64_t new_store_version;
	int reactivated; /* rollback: this pass made the previous key Active again */
};

int64_t rotor_engine_now(struct rotor_engine *e);
/* A handle on the AWS connection named (opened on first use and cached),
 * for this thread until rotor_engine_aws_give. */
int rotor_engine_aws_take(struct rotor_engine *e, const char *name, struct aws_handle **out,
                          struct rotor_error *err);
void rotor_engine_aws_give(struct rotor_engine *e, struct aws_handle *h);
int rotor_engine_store_conn(struct rotor_engine *e, const char *name, struct rotor_store **out,
                            struct rotor_error *err);
struct rotor_store_ref rotor_engine_store_ref(const struct rotor_manifest *m);
/* One audit line for an action of c's manifest. */
void rotor_engine_audit(struct apply_ctx *c, const char *action, const char *key_id,
                        const char *consumer, int64_t version, const struct rotor_error *err);
/* Sets one field of a key's record ('s' synced, 'i' inactive), keeping the others. */
int rotor_engine_update_record(struct apply_ctx *c, const char *id, char field, int64_t value,
                               struct rotor_error *err);
/* The pair just written to the store becomes the pass's new pair (its
 * secret moves into c's state; written is disposed). */
void rotor_engine_take_written(struct apply_ctx *c, struct rotor_store_pair *written);
/* Removes a user tag (already gone counts as removed). */
int rotor_engine_untag(struct apply_ctx *c, const char *key, struct rotor_error *err);
/* Rollback's steps (rollback.c): reactivate the previous key, restore its
 * proven pair, suspend the manifest. */
int rotor_engine_rollback_reactivate(struct apply_ctx *c, const char *id, struct rotor_error *err);
int rotor_engine_rollback_store(struct apply_ctx *c, const char *id, struct rotor_error *err);
int rotor_engine_suspend(struct apply_ctx *c, struct rotor_error *err);

#endif
