/*
 * diff.h: what a change to the manifests means, before it is merged (`rotor
 * diff`): two manifest sets in, per manifest added, removed or changed, and
 * for each changed field the consequence a reviewer must know. Pure: no
 * network, no clock (the caller passes now, for requested rotations).
 *
 * Thread rules: pure; a struct rotor_diff belongs to one thread.
 */
#ifndef ROTOR_DIFF_H
#define ROTOR_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rotor/manifest.h"

enum rotor_diff_kind {
	ROTOR_DIFF_ADDED = 0,   /* adopted on the next pass */
	ROTOR_DIFF_REMOVED = 1, /* no longer managed */
	ROTOR_DIFF_CHANGED = 2,
};

#define ROTOR_DIFF_MAX_NOTES 24

struct rotor_diff_note {
	char field[48]; /* "spec.cadence", "consumer vault-host" */
	char from[160]; /* "" when added */
	char to[160];   /* "" when removed */
	char what[400]; /* the consequence, one line */
	int loud;       /* a reviewer must not miss it (a store moved, a user changed) */
};

struct rotor_diff_entry {
	enum rotor_diff_kind kind;
	const struct rotor_manifest *base; /* NULL when added */
	const struct rotor_manifest *head; /* NULL when removed */
	int rotates;                       /* rotates on the next pass whatever the keys' ages */
	int may_rotate;                    /* rotates on the next pass if the key is old enough */
	int stops;                         /* no longer managed (removed, suspended, observe) */
	struct rotor_diff_note notes[ROTOR_DIFF_MAX_NOTES];
	int nnotes;
	/* --observe: what a pass would do with the head's manifest now */
	int observed;
	char observation[400]; /* "rotates right after the merge: ..." or "next rotation ..." */
};

struct rotor_diff {
	struct rotor_diff_entry *entries; /* by manifest name */
	size_t n;
	size_t added, removed, changed, rotate, may_rotate, stop, loud;
	size_t errors; /* invalid manifests at head (the caller counts them) */
};

/* Compares base and head (either may be empty); 0 or ROTOR_ENOMEM. */
int rotor_diff_compute(const struct rotor_manifest_set *base, const struct rotor_manifest_set *head,
                       int64_t now, struct rotor_diff *out);
void rotor_diff_dispose(struct rotor_diff *d);

enum rotor_diff_format { ROTOR_DIFF_TEXT = 0, ROTOR_DIFF_MARKDOWN = 1, ROTOR_DIFF_JSON = 2 };

struct rotor_diff_render {
	enum rotor_diff_format format;
	const char *base_rev, *head_rev; /* shown; may be NULL */
	size_t max_bytes;                /* markdown: GitHub's comment limit; 0: 65,536 */
	/* validate's lines for invalid manifests at head: markdown lists them
	 * first (the comment is where a reviewer sees them) */
	const char *const *problems;
	size_t nproblems;
};

/* The one-line summary: "3 users rotate on merge, 1 stops being managed,
 * 0 errors". */
void rotor_diff_summary(const struct rotor_diff *d, char *buf, size_t len);
/* Writes the diff; markdown starts with a hidden marker (<!-- rotor-diff -->)
 * that the pull-request workflow finds its comment by, and stays under
 * max_bytes (cut between sections, with a note, never inside one). */
int rotor_diff_write(FILE *f, const struct rotor_diff *d, const struct rotor_diff_render *opts);

#endif
