/*
 * consumer_kind.h (internal): what the desired state knows of one consumer
 * kind — its key in a manifest, its fields and their parse, its check
 * against the config, and the targets it writes (each target belongs to one
 * manifest). One file per kind (consumer_heroku.c, consumer_github.c,
 * consumer_envfile.c), listed in consumer_kind.c; how rotor reaches a kind
 * is its provider's (providers/consumers/, listed in providers/registry.c).
 * A new kind is those two files and a line in each list.
 * Thread rules: the table is constant; the functions are pure apart from
 * the diagnostics they add (the caller's).
 */
#ifndef ROTOR_CONSUMER_KIND_H
#define ROTOR_CONSUMER_KIND_H

#include <stddef.h>

#include "desired/yamldoc.h"
#include "rotor/config.h"
#include "rotor/diag.h"
#include "rotor/manifest.h"

#define CONSUMER_MAX_FIELDS 6

/* Where a consumer's target goes for the one-owner check: label ("env
 * file"), desc (which one, for the message) and a canonical key. */
typedef void (*consumer_target_fn)(void *ctx, const struct rotor_pos *pos, const char *label,
                                   const char *desc, const char *key);

struct consumer_field {
	const char *name;
	int required;
};

struct consumer_kind {
	const char *name; /* the manifest key: "envFile" */
	enum rotor_consumer_kind kind;
	/* the kind's own fields (accessKeyIdName and secretAccessKeyName are
	 * every kind's, parsed before parse is called) */
	struct consumer_field fields[CONSUMER_MAX_FIELDS];
	size_t nfields;
	/* nodes[i] is fields[i]'s node or NULL; akid and sak the name fields' */
	void (*parse)(struct yctx *c, const struct ydoc_node *const *nodes,
	              const struct ydoc_node *akid, const struct ydoc_node *sak, const char *what,
	              struct rotor_consumer *out);
	void (*check_config)(struct rotor_diags *d, const struct rotor_config *cfg,
	                     const struct rotor_consumer *k);
	void (*targets)(const struct rotor_consumer *k, consumer_target_fn add, void *ctx);
};

/* The kind's descriptor (never NULL for a parsed consumer). */
const struct consumer_kind *rotor_consumer_kind_of(enum rotor_consumer_kind kind);

extern const struct consumer_kind rotor_consumer_kind_heroku;
extern const struct consumer_kind rotor_consumer_kind_github;
extern const struct consumer_kind rotor_consumer_kind_envfile;

/* Shared by the kinds and manifest.c. */
struct rotor_pos rotor_ypos(struct yctx *c, const struct ydoc_node *n);
/* "field \"x\" is under connections.heroku ..." or "no github connection named ...". */
void rotor_check_connection(struct rotor_diags *d, const struct rotor_config *cfg,
                            const struct rotor_pos *pos, const char *name, const char *want,
                            const char *field, int found);
/* s without blanks around it, lower-cased when asked. */
void rotor_trimmed_lower(char *out, size_t len, const char *s, int lower_case);
/* A folder path without blanks, repeated or trailing slashes. */
void rotor_canon_path(char *out, size_t len, const char *path);
void rotor_ascii_lower(char *s);

#endif
