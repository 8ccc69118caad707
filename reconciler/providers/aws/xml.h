/*
 * xml.h (internal): a small tree of AWS's XML replies, built with expat.
 *
 * AWS answers are small and shallow; the tree keeps element names (with any
 * namespace prefix removed) and their text. Parsing is capped in depth,
 * node count and text size, and is tolerant as aws.md asks: element order
 * and unknown elements do not matter to the lookups. Text can hold a secret
 * access key, so it is wiped when the tree is freed.
 */
/* Thread rules: pure: any thread. */
#ifndef ROTOR_AWS_XML_H
#define ROTOR_AWS_XML_H

#include <stddef.h>

#include "rotor/error.h"

struct xnode {
	char *name;
	char *text; /* concatenated character data, NUL-terminated */
	size_t text_len;
	struct xnode **kids;
	size_t nkids, cap;
	struct xnode *parent;
};

#define XML_MAX_DEPTH 32
#define XML_MAX_NODES 20000
#define XML_MAX_TEXT (64 * 1024)

/* ROTOR_EINVALID for malformed XML or past a cap; ROTOR_ENOMEM. */
int rotor_xml_parse(struct xnode **out, const char *data, size_t len, struct rotor_error *err);
void rotor_xml_free(struct xnode *n);

/* The first child element with this name, or NULL. */
const struct xnode *rotor_xml_child(const struct xnode *n, const char *name);
/* The first element with this name in n's subtree (n included, depth
 * first), or NULL. The tree's depth is capped, so the recursion is too. */
const struct xnode *rotor_xml_find(const struct xnode *n, const char *name);
/* Follows "A/B/C" from n through first matches; NULL if any step is missing. */
const struct xnode *rotor_xml_path(const struct xnode *n, const char *path);
/* The node's text, "" for NULL. */
const char *rotor_xml_text(const struct xnode *n);
/* Copies the text of rotor_xml_path(n, path) into buf; returns 1 when found. */
int rotor_xml_copy(const struct xnode *n, const char *path, char *buf, size_t len);

#endif
