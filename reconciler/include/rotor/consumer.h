/*
 * consumer.h: the consumers of a key pair (Heroku config vars, GitHub
 * Actions secrets, env files), behind a table of function pointers so a
 * new kind is one new file. Today only env files are implemented; Heroku
 * and GitHub are observed as "unknown (not supported yet)", which holds
 * deactivation back rather than pretending they are in sync.
 */
#ifndef ROTOR_CONSUMER_H
#define ROTOR_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"
#include "rotor/observed.h"

struct rotor_secret;
struct rotor_consumer;
struct rotor_config;

/* The pair to hold, and the names to hold it under. */
struct rotor_consumer_pair {
	const char *akid_name;
	const char *akid;
	const char *secret_name;
	const struct rotor_secret *secret;
};

struct rotor_consumer_ops {
	const char *kind;
	/* In sync, drifted (detail says how, never the values) or an error
	 * (the consumer is then unknown). */
	int (*observe)(void *ctx, const struct rotor_consumer *c,
	               const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
	               char *detail, size_t detail_len, struct rotor_error *err);
	/* Writes the pair, then verifies it the way the kind allows. */
	int (*write)(void *ctx, const struct rotor_consumer *c,
	             const struct rotor_consumer_pair *pair, struct rotor_error *err);
	void *ctx;
};

/* Env files: only inside cfg's allowed directories; every other line kept;
 * written atomically (temp file in the same directory, fsync, rename, fsync
 * the directory) with envFiles.mode (default 0600, never the old mode); then the named
 * reload command (argv from the config, with its timeout) runs and must
 * exit 0; verified by reading back. cfg is borrowed. */
void rotor_envfile_ops(struct rotor_consumer_ops *ops, const struct rotor_config *cfg);

#endif
