/*
 * store.h: the secret store, behind a table of function pointers.
 *
 * The store is the source of truth that applications and consumers read:
 * it holds the current access key id and secret access key. The planner
 * and the engine see only this interface, so a second store kind is one
 * new file. Today: Infisical (providers/store/infisical.c).
 *
 * Contract: the pair is written in one transactional request where the
 * store offers one, read back and compared; the previous version stays
 * readable for rollback.
 */
/* Thread rules: the Infisical store serializes every request of a
 * connection under its own mutex (the token, its renewal, the pacing and
 * the failed-login count are shared state), so one store may be used from
 * any thread. */
#ifndef ROTOR_STORE_H
#define ROTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"

struct rotor_secret;

/* Where a manifest keeps its pair. */
struct rotor_store_ref {
	const char *project_id;
	const char *environment;
	const char *secret_path;
	const char *akid_name;
	const char *secret_name;
};

/* What the store holds. Either name may be missing (adoption: an empty
 * store; a half pair after an interrupted manual edit). */
struct rotor_store_pair {
	int has_akid, has_secret;
	char akid[128];                       /* the access key id value (not secret) */
	struct rotor_secret *secret;          /* owned; registered for redaction */
	int64_t akid_version, secret_version; /* the store's versions; 0 if unknown */
};

void rotor_store_pair_dispose(struct rotor_store_pair *p);

struct rotor_store_ops {
	const char *kind; /* "infisical" */
	/* Reads both names from one snapshot. A missing name is simply absent;
	 * a missing folder/environment/project is ROTOR_ENOTFOUND; a secret
	 * managed by the store's own rotation is ROTOR_ECONFLICT. */
	int (*read_pair)(void *ctx, const struct rotor_store_ref *ref, struct rotor_store_pair *out,
	                 struct rotor_error *err);
	/* Writes akid and secret together, then reads back and compares; fills
	 * *written with what the store now holds (new versions). `current` is
	 * what read_pair returned just before (it decides create vs update). */
	int (*write_pair)(void *ctx, const struct rotor_store_ref *ref, const char *akid,
	                  const struct rotor_secret *secret, const struct rotor_store_pair *current,
	                  struct rotor_store_pair *written, struct rotor_error *err);
	/* Reads the pair as it was at the given versions (for rollback).
	 * ROTOR_ENOTFOUND when the store cannot give that version. */
	int (*read_version)(void *ctx, const struct rotor_store_ref *ref, int64_t akid_version,
	                    int64_t secret_version, struct rotor_store_pair *out,
	                    struct rotor_error *err);
	void (*free)(void *ctx);
	/* Optional (NULL: every read asks the store): the refs a pass is about
	 * to read. The store may then answer each ref's first read_pair from
	 * one batched read (Infisical: a recursive list per project and
	 * environment), never older than a couple of minutes; later reads of
	 * the same ref always ask the store. */
	int (*expect)(void *ctx, const struct rotor_store_ref *refs, size_t n,
	              struct rotor_error *err);
};

struct rotor_store {
	const struct rotor_store_ops *ops;
	void *ctx;
};

void rotor_store_free(struct rotor_store *s);

/* ---- Infisical -------------------------------------------------------- */

struct rotor_clock;
struct rotor_http_options;

/* A store kind as the engine opens it: one descriptor per kind, in its
 * own file. open builds a store for the named connection of the config
 * (its own block of connections), with the engine's clock and state
 * directory; the store copies what it needs. */
struct rotor_config;
struct rotor_store_provider {
	const char *name; /* as manifests spell the kind: "infisical" */
	int (*open)(struct rotor_store *out, const struct rotor_config *cfg, const char *connection,
	            struct rotor_clock *clock, const char *state_dir, struct rotor_error *err);
};

/* The kinds rotor knows (today one: a manifest's spec.store.infisical). */
extern const struct rotor_store_provider rotor_infisical_provider;

struct rotor_infisical_options {
	const char *name;     /* the connection's name, for messages */
	const char *site_url; /* https://app.infisical.com */
	int api_v4;           /* 0: v3 raw routes (default), 1: v4 */
	const struct rotor_secret *client_id;
	const struct rotor_secret *client_secret;
	int requests_per_minute; /* rotor's own pacing; default 30 */
	struct rotor_clock *clock;
	const struct rotor_http_options *http; /* NULL: defaults */
	int max_rate_limit_waits;              /* 429s waited out per call; default 3 */
	const char *state_dir; /* where failed logins are counted across runs; NULL: not kept */
};

/* A store speaking to one Infisical instance with one machine identity.
 * Copies what it needs from opts. */
int rotor_infisical_new(struct rotor_store *out, const struct rotor_infisical_options *opts,
                        struct rotor_error *err);

#endif
