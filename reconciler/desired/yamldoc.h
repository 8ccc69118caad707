/*
 * yamldoc.h (internal): a small YAML document tree with positions, and the
 * strict field helpers the manifest and config parsers share.
 *
 * libyaml's event stream is turned into a tree of nodes that remember their
 * line and column, so every later check can point at the exact place. The
 * tree is deliberately limited: aliases and merge keys are rejected (a
 * manifest is read by people in review; indirection hides what a field
 * says, and refusing aliases rules out "billion laughs" expansion), nesting
 * depth and node count are capped, and duplicate keys are errors.
 */
/* Thread rules: a document belongs to one thread. */
#ifndef ROTOR_DESIRED_YAMLDOC_H
#define ROTOR_DESIRED_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/diag.h"

enum ydoc_type {
	YDOC_SCALAR = 0,
	YDOC_MAP = 1,
	YDOC_SEQ = 2,
};

struct ydoc_node;

struct ydoc_pair {
	struct ydoc_node *key; /* always a scalar */
	struct ydoc_node *value;
};

struct ydoc_node {
	enum ydoc_type type;
	int line, col; /* 1-based */
	char *value;   /* scalar: NUL-terminated */
	size_t len;
	int plain;               /* scalar written without quotes (so `true`, `~` mean something) */
	struct ydoc_pair *pairs; /* map */
	size_t npairs;
	struct ydoc_node **items; /* sequence */
	size_t nitems;
	struct ydoc_node *next_alloc; /* arena chain */
};

#define YDOC_MAX_DEPTH 32
#define YDOC_MAX_NODES 200000

struct ydoc_stream {
	struct ydoc_node **docs; /* root node of each document */
	int *doc_lines;          /* the line each document starts on */
	size_t ndocs;
	struct ydoc_node *arena; /* every node, for disposal */
	size_t nnodes;
};

/* Parses all documents. Syntax errors, aliases, merge keys, depth and size
 * limits are added to diags; returns 0, ROTOR_EINVALID or ROTOR_ENOMEM.
 * Documents before a syntax error are kept. */
int rotor_ydoc_parse(struct ydoc_stream *out, const char *origin, const char *data, size_t len,
                     struct rotor_diags *diags);
void rotor_ydoc_dispose(struct ydoc_stream *s);

/* A parse context: the file name and where diagnostics go. */
struct yctx {
	const char *file;
	struct rotor_diags *diags;
	int errors; /* errors added through this context */
};

void rotor_yerr(struct yctx *c, const struct ydoc_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rotor_ywarn(struct yctx *c, const struct ydoc_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The fields a map may have. rotor_ymap_fields checks that node is a map, fills
 * each field's node (NULL when absent), and reports unknown keys (with a
 * "did you mean" for close names), duplicate keys and missing required
 * fields. `what` names the map in messages ("spec", "spec.store"). Returns
 * 0 when the node is a map (even with unknown keys), -1 otherwise. */
struct yfield {
	const char *name;
	int required;
	const struct ydoc_node *node;
};
int rotor_ymap_fields(struct yctx *c, const struct ydoc_node *node, const char *what,
                      struct yfield *fields, size_t nfields);
const struct ydoc_node *rotor_yfield_get(const struct yfield *fields, size_t n, const char *name);

/* True for a null scalar: empty plain, `~`, `null`. */
int rotor_ynode_is_null(const struct ydoc_node *n);

/* Typed readers: each reports a wrong type at the node and returns -1. A
 * NULL node leaves *out untouched and returns 0 (absent: keep the default).
 * Strings are duplicated (caller frees); null or empty strings are errors. */
int rotor_yget_string(struct yctx *c, const struct ydoc_node *n, const char *what, char **out);
int rotor_yget_bool(struct yctx *c, const struct ydoc_node *n, const char *what, int *out);
int rotor_yget_int(struct yctx *c, const struct ydoc_node *n, const char *what, int64_t min,
                   int64_t max, int64_t *out);
int rotor_yget_duration(struct yctx *c, const struct ydoc_node *n, const char *what, int64_t *out);
int rotor_yget_time(struct yctx *c, const struct ydoc_node *n, const char *what, int64_t *out);
/* One of the given words (NULL-terminated list); *out is its index. */
int rotor_yget_enum(struct yctx *c, const struct ydoc_node *n, const char *what,
                    const char *const *words, int *out);

/* Levenshtein distance, capped (for "did you mean"). */
size_t rotor_ydoc_edit_distance(const char *a, const char *b);
/* The candidate closest to word within distance 2 (or a case-insensitive
 * match), or NULL. */
const char *rotor_ydoc_suggest(const char *word, const char *const *candidates, size_t n);

#endif
