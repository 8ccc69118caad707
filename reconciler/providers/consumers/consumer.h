/*
 * consumer.h: the consumers of a key pair (Heroku config vars, GitHub
 * Actions secrets, env files), behind a table of function pointers so a
 * new kind is one new file (envfile.c, heroku.c, github.c; the REST
 * plumbing the token-authenticated kinds share is restapi.h). A kind not
 * built yet is observed as "unknown (not supported yet)", which holds
 * deactivation back rather than pretending it is in sync.
 */
/* Thread rules: a kind's ops are built once per engine (open) and are
 * read-only after: env-file ops hold a private copy of the envFiles part of
 * the config, nothing borrowed. Two threads may observe or write different
 * consumers at once (the same target from two threads is prevented by
 * manifest validation: every consumer target belongs to one manifest). */
#ifndef ROTOR_CONSUMER_H
#define ROTOR_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"
#include "rotor/observed.h"

struct rotor_secret;
struct rotor_config;

/* One consumer as its provider sees it: the target's fields, copied out of
 * the manifest by the engine (a provider never sees a manifest). Unused
 * fields of other kinds are NULL. */
struct rotor_consumer_ref {
	const char *name;         /* the consumer's name in its manifest, for messages */
	const char *manifest;     /* the manifest's name, for log lines */
	const char *connection;   /* heroku/github: the config connection's name */
	const char *app;          /* heroku */
	const char *repository;   /* github: owner/repo */
	const char *environment;  /* github: optional */
	const char *organization; /* github: an organisation secret (then no repository) */
	const char *visibility;   /* github organisation: all | private | selected */
	char *const *selected;    /* github organisation, selected: owner/name */
	size_t nselected;
	const char *path;      /* envFile: absolute path */
	const char *reload;    /* envFile: optional reload command name */
	const char *ssh;       /* envFile: the ssh connection of its host; NULL: this machine */
	const char *akid_name; /* variable names: NULL takes the pair's, else defaults */
	const char *secret_name;
};

/* The pair to hold, and the names to hold it under. */
struct rotor_consumer_pair {
	const char *akid_name;
	const char *akid;
	const char *secret_name;
	const struct rotor_secret *secret;
	/* observe: what this consumer's last write recorded ("" none): a kind
	 * whose values cannot be read back (GitHub secrets) decides from it */
	const char *record;
};

/* The names a consumer holds the pair under: its own, else the pair's. */
static inline void rotor_consumer_names(const struct rotor_consumer_ref *c,
                                        const struct rotor_consumer_pair *p, const char **akid,
                                        const char **secret)
{
	*akid = c->akid_name ? c->akid_name : p->akid_name;
	*secret = c->secret_name ? c->secret_name : p->secret_name;
}

/* The longest record a write may return: an IAM tag value (256) */
#define ROTOR_CONSUMER_RECORD_MAX 256

struct rotor_consumer_ops {
	const char *kind;
	/* In sync, drifted (detail says how, never the values) or an error
	 * (the consumer is then unknown). */
	int (*observe)(void *ctx, const struct rotor_consumer_ref *c,
	               const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
	               char *detail, size_t detail_len, struct rotor_error *err);
	/* Writes the pair, then verifies it the way the kind allows. A kind
	 * that needs to remember its write (to tell its own write from a
	 * later one by someone else) puts a record in record (at most
	 * ROTOR_CONSUMER_RECORD_MAX, IAM tag value characters); the engine
	 * keeps it in the user's tag rotor:consumer:NAME and hands it back
	 * to observe. "" leaves none. */
	int (*write)(void *ctx, const struct rotor_consumer_ref *c,
	             const struct rotor_consumer_pair *pair, char *record, size_t record_len,
	             struct rotor_error *err);
	void *ctx;
};

/* A consumer kind as the engine reaches it. Each kind is one file with
 * its descriptor; the registry (consumers/registry.c) lists them by kind.
 * open fills the kind's ops from the config, copying what the kind needs
 * (nothing of the config is kept); close frees it. A kind whose open is NULL is not built yet, and
 * its consumers are observed as unknown, which holds the old key's deactivation back rather than
 * pretending they are in sync. */
struct rotor_consumer_provider {
	const char *name; /* as manifests spell the kind: "envFile" */
	int (*open)(struct rotor_consumer_ops *out, const struct rotor_config *cfg,
	            struct rotor_error *err);
	void (*close)(struct rotor_consumer_ops *ops); /* may be NULL */
};

extern const struct rotor_consumer_provider rotor_envfile_provider;
extern const struct rotor_consumer_provider rotor_heroku_provider; /* heroku.c */
extern const struct rotor_consumer_provider rotor_github_provider; /* github.c */

/* Env files: only inside cfg's allowed directories; every other line kept;
 * written atomically (temp file in the same directory, fsync, rename, fsync
 * the directory) with envFiles.mode (default 0600, never the old mode); then the named
 * reload command (argv from the config, with its timeout) runs and must
 * exit 0; verified by reading back. The ops copy cfg's envFiles part
 * (allowed directories, mode, reload commands); free them with
 * rotor_envfile_ops_dispose. 0 or ROTOR_ENOMEM. */
int rotor_envfile_ops(struct rotor_consumer_ops *ops, const struct rotor_config *cfg,
                      struct rotor_error *err);
void rotor_envfile_ops_dispose(struct rotor_consumer_ops *ops);

#endif
