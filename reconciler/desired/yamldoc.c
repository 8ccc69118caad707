/*
 * yamldoc.c: libyaml events → a positioned node tree; the strict readers.
 *
 * The builder keeps a stack of open collections. A map collects key/value
 * nodes in pairs: `pending_key` holds a key until its value arrives. On any
 * error the parse stops (libyaml cannot resume after a syntax error), but
 * the documents already complete are kept so their own problems are still
 * reported.
 */
#include "yamldoc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rotor/error.h"
#include "rotor/timefmt.h"

struct frame {
	struct ydoc_node *node;
	struct ydoc_node *pending_key; /* maps: key waiting for its value */
	size_t cap;
};

struct builder {
	struct ydoc_stream *s;
	struct frame stack[YDOC_MAX_DEPTH + 1];
	int depth;
	struct ydoc_node *root;
	const char *origin;
	struct rotor_diags *diags;
	int failed;
};

static struct ydoc_node *new_node(struct builder *b, enum ydoc_type type, const yaml_mark_t *mark)
{
	if (b->s->nnodes >= YDOC_MAX_NODES) {
		rotor_diags_add(b->diags, ROTOR_DIAG_ERROR, b->origin, (int)mark->line + 1,
		                (int)mark->column + 1,
		                "too many YAML nodes (more than %d): split the file",
		                YDOC_MAX_NODES);
		b->failed = ROTOR_EINVALID;
		return NULL;
	}
	struct ydoc_node *n = calloc(1, sizeof(*n));
	if (!n) {
		b->failed = ROTOR_ENOMEM;
		return NULL;
	}
	n->type = type;
	n->line = (int)mark->line + 1;
	n->col = (int)mark->column + 1;
	n->next_alloc = b->s->arena;
	b->s->arena = n;
	b->s->nnodes++;
	return n;
}

static void fail_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rotor_diags_addv(b->diags, ROTOR_DIAG_ERROR, b->origin, (int)mark->line + 1,
	                 (int)mark->column + 1, fmt, ap);
	va_end(ap);
	b->failed = ROTOR_EINVALID;
}

static int push_items(struct builder *b, struct frame *f, struct ydoc_node *child)
{
	struct ydoc_node *p = f->node;
	if (p->nitems == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;
		struct ydoc_node **items = realloc(p->items, cap * sizeof(*items));
		if (!items)
			return b->failed = ROTOR_ENOMEM;
		p->items = items;
		f->cap = cap;
	}
	p->items[p->nitems++] = child;
	return 0;
}

static int push_pair(struct builder *b, struct frame *f, struct ydoc_node *key,
                     struct ydoc_node *value)
{
	struct ydoc_node *p = f->node;
	if (p->npairs == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;
		struct ydoc_pair *pairs = realloc(p->pairs, cap * sizeof(*pairs));
		if (!pairs)
			return b->failed = ROTOR_ENOMEM;
		p->pairs = pairs;
		f->cap = cap;
	}
	p->pairs[p->npairs].key = key;
	p->pairs[p->npairs].value = value;
	p->npairs++;
	return 0;
}

/* Attaches a finished node to its parent (or makes it the root). */
static int attach(struct builder *b, struct ydoc_node *n, const yaml_mark_t *mark)
{
	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	struct frame *f = &b->stack[b->depth - 1];
	if (f->node->type == YDOC_SEQ)
		return push_items(b, f, n);
	if (!f->pending_key) {
		if (n->type != YDOC_SCALAR) {
			fail_at(b, mark, "a mapping key must be a plain name, not a %s",
			        n->type == YDOC_MAP ? "mapping" : "sequence");
			return -1;
		}
		if (n->plain && strcmp(n->value, "<<") == 0) {
			fail_at(
			    b, mark,
			    "YAML merge keys (<<) are not allowed: write the fields out in full");
			return -1;
		}
		f->pending_key = n;
		return 0;
	}
	struct ydoc_node *key = f->pending_key;
	f->pending_key = NULL;
	return push_pair(b, f, key, n);
}

static int check_anchor_tag(struct builder *b, const yaml_char_t *anchor, const yaml_char_t *tag,
                            const yaml_mark_t *mark, int *plain)
{
	if (anchor) {
		fail_at(b, mark,
		        "YAML anchors (&%s) are not allowed: write each value out in full so a "
		        "reviewer sees it",
		        (const char *)anchor);
		return -1;
	}
	if (tag) {
		const char *t = (const char *)tag;
		if (strcmp(t, YAML_STR_TAG) == 0) {
			if (plain)
				*plain = 0;
			return 0;
		}
		if (strcmp(t, YAML_MAP_TAG) == 0 || strcmp(t, YAML_SEQ_TAG) == 0 ||
		    strcmp(t, YAML_BOOL_TAG) == 0 || strcmp(t, YAML_INT_TAG) == 0)
			return 0;
		fail_at(b, mark, "YAML tag %s is not supported: remove it", t);
		return -1;
	}
	return 0;
}

static int handle(struct builder *b, yaml_event_t *ev)
{
	struct ydoc_node *n;
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		b->root = NULL;
		b->depth = 0;
		return 0;
	case YAML_DOCUMENT_END_EVENT: {
		struct ydoc_stream *s = b->s;
		struct ydoc_node **docs = realloc(s->docs, (s->ndocs + 1) * sizeof(*docs));
		if (!docs)
			return b->failed = ROTOR_ENOMEM;
		s->docs = docs;
		int *lines = realloc(s->doc_lines, (s->ndocs + 1) * sizeof(*lines));
		if (!lines)
			return b->failed = ROTOR_ENOMEM;
		s->doc_lines = lines;
		s->docs[s->ndocs] = b->root;
		s->doc_lines[s->ndocs] = b->root ? b->root->line : (int)ev->start_mark.line + 1;
		s->ndocs++;
		return 0;
	}
	case YAML_ALIAS_EVENT:
		fail_at(b, &ev->start_mark,
		        "YAML aliases (*%s) are not allowed: write the value out in full",
		        (const char *)ev->data.alias.anchor);
		return -1;
	case YAML_SCALAR_EVENT: {
		int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (check_anchor_tag(b, ev->data.scalar.anchor, ev->data.scalar.tag,
		                     &ev->start_mark, &plain))
			return -1;
		n = new_node(b, YDOC_SCALAR, &ev->start_mark);
		if (!n)
			return -1;
		n->len = ev->data.scalar.length;
		n->value = malloc(n->len + 1);
		if (!n->value)
			return b->failed = ROTOR_ENOMEM;
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
		n->plain = plain;
		return attach(b, n, &ev->start_mark);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int is_map = ev->type == YAML_MAPPING_START_EVENT;
		if (check_anchor_tag(
		        b, is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor,
		        is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag,
		        &ev->start_mark, NULL))
			return -1;
		if (b->depth >= YDOC_MAX_DEPTH) {
			fail_at(b, &ev->start_mark, "YAML nested deeper than %d levels",
			        YDOC_MAX_DEPTH);
			return -1;
		}
		n = new_node(b, is_map ? YDOC_MAP : YDOC_SEQ, &ev->start_mark);
		if (!n)
			return -1;
		b->stack[b->depth].node = n;
		b->stack[b->depth].pending_key = NULL;
		b->stack[b->depth].cap = 0;
		b->depth++;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		b->depth--;
		n = b->stack[b->depth].node;
		return attach(b, n, &ev->start_mark);
	default:
		return 0;
	}
}

int rotor_ydoc_parse(struct ydoc_stream *out, const char *origin, const char *data, size_t len,
                     struct rotor_diags *diags)
{
	yaml_parser_t parser;
	struct builder b;
	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	b.s = out;
	b.origin = origin;
	b.diags = diags;
	if (!yaml_parser_initialize(&parser))
		return ROTOR_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			const yaml_mark_t *m = &parser.problem_mark;
			rotor_diags_add(diags, ROTOR_DIAG_ERROR, origin, (int)m->line + 1,
			                (int)m->column + 1, "YAML syntax error: %s%s%s",
			                parser.problem ? parser.problem : "unknown problem",
			                parser.context ? " " : "",
			                parser.context ? parser.context : "");
			b.failed = ROTOR_EINVALID;
			break;
		}
		int done = ev.type == YAML_STREAM_END_EVENT;
		int rc = handle(&b, &ev);
		yaml_event_delete(&ev);
		if (rc || b.failed || done)
			break;
	}
	yaml_parser_delete(&parser);
	/* Collections still open after a failure are in the arena; freed there. */
	return b.failed;
}

void rotor_ydoc_dispose(struct ydoc_stream *s)
{
	struct ydoc_node *n = s->arena;
	while (n) {
		struct ydoc_node *next = n->next_alloc;
		free(n->value);
		free(n->pairs);
		free(n->items);
		free(n);
		n = next;
	}
	free(s->docs);
	free(s->doc_lines);
	memset(s, 0, sizeof(*s));
}

static void yreport(struct yctx *c, int sev, const struct ydoc_node *at, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));

static void yreport(struct yctx *c, int sev, const struct ydoc_node *at, const char *fmt,
                    va_list ap)
{
	rotor_diags_addv(c->diags, sev, c->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
	if (sev == ROTOR_DIAG_ERROR)
		c->errors++;
}

void rotor_yerr(struct yctx *c, const struct ydoc_node *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	yreport(c, ROTOR_DIAG_ERROR, at, fmt, ap);
	va_end(ap);
}

void rotor_ywarn(struct yctx *c, const struct ydoc_node *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	yreport(c, ROTOR_DIAG_WARNING, at, fmt, ap);
	va_end(ap);
}

size_t rotor_ydoc_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t prev[65], cur[65];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost =
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
			        ? 0
			        : 1;
			size_t best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (prev[j - 1] + cost < best)
				best = prev[j - 1] + cost;
			cur[j] = best;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

const char *rotor_ydoc_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < n; i++) {
		size_t d = rotor_ydoc_edit_distance(word, candidates[i]);
		if (d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	return best;
}

static const char *type_name(const struct ydoc_node *n)
{
	switch (n->type) {
	case YDOC_MAP:
		return "a mapping";
	case YDOC_SEQ:
		return "a list";
	default:
		return rotor_ynode_is_null(n) ? "null" : "a scalar";
	}
}

int rotor_ymap_fields(struct yctx *c, const struct ydoc_node *node, const char *what,
                      struct yfield *fields, size_t nfields)
{
	const char *names[64];
	for (size_t i = 0; i < nfields; i++) {
		fields[i].node = NULL;
		if (i < 64)
			names[i] = fields[i].name;
	}
	if (!node || node->type != YDOC_MAP) {
		if (node)
			rotor_yerr(c, node, "%s must be a mapping, not %s", what, type_name(node));
		return -1;
	}
	for (size_t p = 0; p < node->npairs; p++) {
		const struct ydoc_node *key = node->pairs[p].key;
		size_t i = 0;
		while (i < nfields && strcmp(fields[i].name, key->value) != 0)
			i++;
		if (i == nfields) {
			const char *s =
			    rotor_ydoc_suggest(key->value, names, nfields < 64 ? nfields : 64);
			if (s)
				rotor_yerr(c, key,
				           "unknown field \"%s\" in %s; did you mean \"%s\"?",
				           key->value, what, s);
			else
				rotor_yerr(c, key, "unknown field \"%s\" in %s", key->value, what);
			continue;
		}
		if (fields[i].node) {
			rotor_yerr(c, key, "duplicate field \"%s\" in %s (first at line %d)",
			           key->value, what, fields[i].node->line);
			continue;
		}
		fields[i].node = node->pairs[p].value;
	}
	for (size_t i = 0; i < nfields; i++) {
		if (!fields[i].required || (fields[i].node && !rotor_ynode_is_null(fields[i].node)))
			continue;
		rotor_yerr(c, fields[i].node ? fields[i].node : node, "%s.%s is required%s", what,
		           fields[i].name, fields[i].node ? " (it is empty)" : "");
		fields[i].node = NULL; /* reported once; readers see it as absent */
	}
	return 0;
}

const struct ydoc_node *rotor_yfield_get(const struct yfield *fields, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return fields[i].node;
	return NULL;
}

int rotor_ynode_is_null(const struct ydoc_node *n)
{
	return n && n->type == YDOC_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	        strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
}

static int want_scalar(struct yctx *c, const struct ydoc_node *n, const char *what,
                       const char *expected)
{
	if (n->type != YDOC_SCALAR || rotor_ynode_is_null(n)) {
		rotor_yerr(c, n, "%s must be %s, not %s", what, expected, type_name(n));
		return -1;
	}
	return 0;
}

int rotor_yget_string(struct yctx *c, const struct ydoc_node *n, const char *what, char **out)
{
	if (!n)
		return 0;
	if (want_scalar(c, n, what, "a string"))
		return -1;
	if (n->len == 0) {
		rotor_yerr(c, n, "%s must not be empty", what);
		return -1;
	}
	if (strlen(n->value) != n->len) {
		rotor_yerr(c, n, "%s contains a NUL character", what);
		return -1;
	}
	char *s = strdup(n->value);
	if (!s) {
		rotor_yerr(c, n, "out of memory");
		return -1;
	}
	free(*out);
	*out = s;
	return 0;
}

int rotor_yget_bool(struct yctx *c, const struct ydoc_node *n, const char *what, int *out)
{
	if (!n)
		return 0;
	if (want_scalar(c, n, what, "true or false"))
		return -1;
	if (n->plain && strcmp(n->value, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (n->plain && strcmp(n->value, "false") == 0) {
		*out = 0;
		return 0;
	}
	rotor_yerr(c, n, "%s must be true or false (unquoted), not \"%s\"", what, n->value);
	return -1;
}

int rotor_yget_int(struct yctx *c, const struct ydoc_node *n, const char *what, int64_t min,
                   int64_t max, int64_t *out)
{
	if (!n)
		return 0;
	if (want_scalar(c, n, what, "a whole number"))
		return -1;
	const char *p = n->value;
	int64_t v = 0;
	int ok = n->plain && *p;
	for (; ok && *p; p++) {
		if (!isdigit((unsigned char)*p) || v > (INT64_MAX - 9) / 10)
			ok = 0;
		else
			v = v * 10 + (*p - '0');
	}
	if (!ok) {
		rotor_yerr(c, n, "%s must be a whole number, not \"%s\"", what, n->value);
		return -1;
	}
	if (v < min || v > max) {
		rotor_yerr(c, n, "%s must be between %lld and %lld, not %lld", what, (long long)min,
		           (long long)max, (long long)v);
		return -1;
	}
	*out = v;
	return 0;
}

int rotor_yget_duration(struct yctx *c, const struct ydoc_node *n, const char *what, int64_t *out)
{
	char why[256];
	if (!n)
		return 0;
	if (want_scalar(c, n, what, "a duration such as 90d"))
		return -1;
	if (rotor_duration_parse(out, n->value, why, sizeof(why)) != 0) {
		rotor_yerr(c, n, "%s: %s", what, why);
		return -1;
	}
	return 0;
}

int rotor_yget_time(struct yctx *c, const struct ydoc_node *n, const char *what, int64_t *out)
{
	char why[256];
	if (!n)
		return 0;
	if (want_scalar(c, n, what, "an RFC 3339 time in quotes"))
		return -1;
	if (rotor_time_parse(out, n->value, why, sizeof(why)) != 0) {
		rotor_yerr(c, n, "%s: %s", what, why);
		return -1;
	}
	return 0;
}

int rotor_yget_enum(struct yctx *c, const struct ydoc_node *n, const char *what,
                    const char *const *words, int *out)
{
	char list[256] = "";
	size_t nw = 0;
	if (!n)
		return 0;
	for (; words[nw]; nw++) {
		if (n->type == YDOC_SCALAR && strcmp(n->value, words[nw]) == 0) {
			*out = (int)nw;
			return 0;
		}
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s%s", nw ? ", " : "", words[nw]);
	}
	if (want_scalar(c, n, what, "one of the listed words"))
		return -1;
	const char *s = rotor_ydoc_suggest(n->value, words, nw);
	if (s)
		rotor_yerr(c, n, "%s must be one of %s, not \"%s\"; did you mean \"%s\"?", what,
		           list, n->value, s);
	else
		rotor_yerr(c, n, "%s must be one of %s, not \"%s\"", what, list, n->value);
	return -1;
}
