/*
 * manifest.c: AccessKeyRotation documents → struct rotor_manifest, strictly.
 *
 * Every rule of the contract's §1 is checked here and every problem is
 * reported with its position; a document with any error is left out of the
 * set so nothing downstream ever sees a half-valid manifest. Checks that
 * need more than one document (duplicate names, two manifests claiming one
 * IAM user) and checks against the controller config live at the end.
 */
#include "rotor/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "desired/consumer_kind.h"
#include "rotor/config.h"
#include "rotor/error.h"
#include "rotor/timefmt.h"
#include "util/tz.h"
#include "yamldoc.h"

static const char *const kind_words[] = {"AccessKeyRotation", NULL};
static const char *const mode_words[] = {"enforce", "observe", NULL};

const char *rotor_mode_name(enum rotor_mode mode)
{
	return mode == ROTOR_MODE_OBSERVE ? "observe" : "enforce";
}

void rotor_manifest_set_init(struct rotor_manifest_set *set)
{
	memset(set, 0, sizeof(*set));
}

static void consumer_dispose(struct rotor_consumer *c)
{
	free(c->name);
	free(c->connection);
	free(c->app);
	free(c->repository);
	free(c->environment);
	free(c->organization);
	free(c->visibility);
	for (size_t i = 0; i < c->nselected; i++)
		free(c->selected[i]);
	free(c->selected);
	free(c->path);
	free(c->reload);
	free(c->ssh);
	free(c->akid_name);
	free(c->secret_name);
}

static void manifest_dispose(struct rotor_manifest *m)
{
	free(m->name);
	for (size_t i = 0; i < m->nlabels; i++) {
		free(m->labels[i].key);
		free(m->labels[i].value);
	}
	free(m->labels);
	free(m->user);
	free(m->aws);
	free(m->store.connection);
	free(m->store.project_id);
	free(m->store.environment);
	free(m->store.secret_path);
	free(m->store.akid_name);
	free(m->store.secret_name);
	for (size_t i = 0; i < m->nconsumers; i++)
		consumer_dispose(&m->consumers[i]);
	free(m->consumers);
	for (size_t j = 0; j < m->nwindows; j++)
		free(m->windows[j].time_zone);
	free(m->windows);
	memset(m, 0, sizeof(*m));
}

void rotor_manifest_set_dispose(struct rotor_manifest_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		manifest_dispose(&set->items[i]);
	free(set->items);
	for (size_t i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->files);
	memset(set, 0, sizeof(*set));
}

const struct rotor_manifest *rotor_manifest_set_find(const struct rotor_manifest_set *set,
                                                     const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i].name, name) == 0)
			return &set->items[i];
	return NULL;
}

static struct rotor_pos pos_of(struct yctx *c, const struct ydoc_node *n)
{
	return rotor_ypos(c, n);
}

/* [a-z0-9-], 1..63: usable as a label, a tag value and a file name. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 63)
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return 0;
	return 1;
}

/* IAM user names: [\w+=,.@-], 1..64. */
static int valid_iam_user(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("_+=,.@-", *s)))
			return 0;
	return 1;
}

/* An environment/config variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128. */
static int valid_var_name(const char *s)
{
	if (!*s || strlen(s) > 128 || isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

static int valid_label_part(const char *s, int is_key)
{
	size_t n = strlen(s);
	if (n > 63 || (is_key && n == 0))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr(is_key ? "._/-" : "._-", *s)))
			return 0;
	return 1;
}

static void parse_labels(struct yctx *c, const struct ydoc_node *n, struct rotor_manifest *m)
{
	if (!n)
		return;
	if (n->type != YDOC_MAP) {
		rotor_yerr(c, n, "metadata.labels must be a mapping of names to values");
		return;
	}
	if (n->npairs > ROTOR_MANIFEST_MAX_LABELS) {
		rotor_yerr(c, n, "metadata.labels has %zu entries; at most %d are allowed",
		           n->npairs, ROTOR_MANIFEST_MAX_LABELS);
		return;
	}
	m->labels = calloc(n->npairs ? n->npairs : 1, sizeof(*m->labels));
	if (!m->labels) {
		rotor_yerr(c, n, "out of memory");
		return;
	}
	for (size_t i = 0; i < n->npairs; i++) {
		const struct ydoc_node *k = n->pairs[i].key, *v = n->pairs[i].value;
		for (size_t j = 0; j < i; j++)
			if (strcmp(n->pairs[j].key->value, k->value) == 0)
				rotor_yerr(c, k, "duplicate label \"%s\"", k->value);
		if (!valid_label_part(k->value, 1))
			rotor_yerr(
			    c, k,
			    "label name \"%s\" is invalid: use letters, digits and . _ / -, at "
			    "most 63",
			    k->value);
		if (v->type != YDOC_SCALAR || rotor_ynode_is_null(v)) {
			rotor_yerr(c, v, "label \"%s\" must have a string value", k->value);
			continue;
		}
		if (!valid_label_part(v->value, 0))
			rotor_yerr(
			    c, v,
			    "label value \"%s\" is invalid: use letters, digits and . _ -, at most "
			    "63",
			    v->value);
		struct rotor_label *l = &m->labels[m->nlabels++];
		l->key = strdup(k->value);
		l->value = strdup(v->value);
		if (!l->key || !l->value)
			rotor_yerr(c, n, "out of memory");
	}
}

static void parse_metadata(struct yctx *c, const struct ydoc_node *n, struct rotor_manifest *m)
{
	struct yfield f[] = {{"name", 1, NULL}, {"labels", 0, NULL}};
	if (rotor_ymap_fields(c, n, "metadata", f, 2))
		return;
	const struct ydoc_node *name = f[0].node;
	if (name && !rotor_ynode_is_null(name) &&
	    rotor_yget_string(c, name, "metadata.name", &m->name) == 0) {
		m->name_pos = pos_of(c, name);
		if (!valid_name(m->name))
			rotor_yerr(
			    c, name,
			    "metadata.name \"%s\" is invalid: use lowercase letters, digits and "
			    "'-', 1 to 63 characters",
			    m->name);
	}
	parse_labels(c, f[1].node, m);
}

/* Reads an optional variable-name field (store or consumer), checked. */
static void parse_var_name(struct yctx *c, const struct ydoc_node *n, const char *what, char **out)
{
	if (!n)
		return;
	if (rotor_yget_string(c, n, what, out) == 0 && !valid_var_name(*out))
		rotor_yerr(
		    c, n,
		    "%s \"%s\" is not a valid variable name: use letters, digits and '_', not "
		    "starting with a digit",
		    what, *out);
}

static void parse_store(struct yctx *c, const struct ydoc_node *n, struct rotor_manifest *m)
{
	struct yfield kinds[] = {{"infisical", 1, NULL}};
	if (rotor_ymap_fields(c, n, "spec.store", kinds, 1) || !kinds[0].node ||
	    rotor_ynode_is_null(kinds[0].node))
		return;
	struct yfield f[] = {
	    {"connection", 1, NULL}, {"projectId", 1, NULL},       {"environment", 1, NULL},
	    {"secretPath", 0, NULL}, {"accessKeyIdName", 0, NULL}, {"secretAccessKeyName", 0, NULL},
	};
	struct rotor_infisical_store *s = &m->store;
	if (rotor_ymap_fields(c, kinds[0].node, "spec.store.infisical", f, 6))
		return;
	if (rotor_yget_string(c, f[0].node, "spec.store.infisical.connection", &s->connection) ==
	        0 &&
	    f[0].node)
		s->connection_pos = pos_of(c, f[0].node);
	rotor_yget_string(c, f[1].node, "spec.store.infisical.projectId", &s->project_id);
	rotor_yget_string(c, f[2].node, "spec.store.infisical.environment", &s->environment);
	if (rotor_yget_string(c, f[3].node, "spec.store.infisical.secretPath", &s->secret_path) ==
	        0 &&
	    s->secret_path && s->secret_path[0] != '/')
		rotor_yerr(c, f[3].node,
		           "spec.store.infisical.secretPath must start with '/', e.g. /aws");
	parse_var_name(c, f[4].node, "spec.store.infisical.accessKeyIdName", &s->akid_name);
	parse_var_name(c, f[5].node, "spec.store.infisical.secretAccessKeyName", &s->secret_name);
	if (!s->secret_path)
		s->secret_path = strdup("/");
	if (!s->akid_name)
		s->akid_name = strdup(ROTOR_DEFAULT_AKID_NAME);
	if (!s->secret_name)
		s->secret_name = strdup(ROTOR_DEFAULT_SECRET_NAME);
	if (!s->secret_path || !s->akid_name || !s->secret_name)
		rotor_yerr(c, n, "out of memory");
	else if (strcmp(s->akid_name, s->secret_name) == 0)
		rotor_yerr(c, f[5].node ? f[5].node : f[4].node,
		           "spec.store.infisical: accessKeyIdName and secretAccessKeyName are both "
		           "\"%s\"; "
		           "the pair needs two names",
		           s->akid_name);
}

static void parse_consumer(struct yctx *c, const struct ydoc_node *n, size_t idx,
                           struct rotor_consumer *out)
{
	char what[96], field[128];
	snprintf(what, sizeof(what), "spec.consumers[%zu]", idx);
	struct yfield f[1 + ROTOR_CONSUMER__COUNT] = {{"name", 1, NULL}};
	for (int k = 0; k < ROTOR_CONSUMER__COUNT; k++)
		f[1 + k] = (struct yfield){
		    rotor_consumer_kind_of((enum rotor_consumer_kind)k)->name, 0, NULL};
	out->pos = pos_of(c, n);
	if (rotor_ymap_fields(c, n, what, f, 1 + ROTOR_CONSUMER__COUNT))
		return;
	snprintf(field, sizeof(field), "%s.name", what);
	if (rotor_yget_string(c, f[0].node, field, &out->name) == 0 && out->name &&
	    !valid_name(out->name))
		rotor_yerr(c, f[0].node,
		           "%s \"%s\" is invalid: use lowercase letters, digits and '-', 1 to 63 "
		           "characters",
		           field, out->name);
	int kind = -1, nkinds = 0;
	char names[128] = "";
	for (int k = 0; k < ROTOR_CONSUMER__COUNT; k++) {
		size_t used = strlen(names);
		snprintf(names + used, sizeof(names) - used, "%s%s", k ? ", " : "", f[1 + k].name);
		if (f[k + 1].node) {
			nkinds++;
			if (kind < 0)
				kind = k;
		}
	}
	if (nkinds != 1) {
		rotor_yerr(c, n, "%s must have exactly one of %s (it has %d)", what, names, nkinds);
		return;
	}
	const struct consumer_kind *ck = rotor_consumer_kind_of((enum rotor_consumer_kind)kind);
	out->kind = ck->kind;
	const struct ydoc_node *body = f[kind + 1].node;
	snprintf(what, sizeof(what), "spec.consumers[%zu].%s", idx, ck->name);
	/* Only the kind's own fields (and the two variable names) are offered,
	 * so a Heroku consumer with `path:` is told it is unknown there. */
	struct yfield allowed[CONSUMER_MAX_FIELDS + 2];
	size_t na = 0;
	for (size_t i = 0; i < ck->nfields; i++)
		allowed[na++] = (struct yfield){ck->fields[i].name, ck->fields[i].required, NULL};
	allowed[na++] = (struct yfield){"accessKeyIdName", 0, NULL};
	allowed[na++] = (struct yfield){"secretAccessKeyName", 0, NULL};
	if (rotor_ymap_fields(c, body, what, allowed, na))
		return;
	const struct ydoc_node *nodes[CONSUMER_MAX_FIELDS];
	for (size_t i = 0; i < ck->nfields; i++)
		nodes[i] = allowed[i].node;
	const struct ydoc_node *akid = allowed[ck->nfields].node;
	const struct ydoc_node *sak = allowed[ck->nfields + 1].node;
	snprintf(field, sizeof(field), "%s.accessKeyIdName", what);
	parse_var_name(c, akid, field, &out->akid_name);
	snprintf(field, sizeof(field), "%s.secretAccessKeyName", what);
	parse_var_name(c, sak, field, &out->secret_name);
	ck->parse(c, nodes, akid, sak, what, out);
}

static void parse_consumers(struct yctx *c, const struct ydoc_node *n, struct rotor_manifest *m)
{
	if (!n || rotor_ynode_is_null(n))
		return;
	if (n->type != YDOC_SEQ) {
		rotor_yerr(c, n, "spec.consumers must be a list");
		return;
	}
	if (n->nitems > ROTOR_MANIFEST_MAX_CONSUMERS) {
		rotor_yerr(c, n, "spec.consumers has %zu entries; at most %d are allowed",
		           n->nitems, ROTOR_MANIFEST_MAX_CONSUMERS);
		return;
	}
	m->consumers = calloc(n->nitems ? n->nitems : 1, sizeof(*m->consumers));
	if (!m->consumers) {
		rotor_yerr(c, n, "out of memory");
		return;
	}
	m->nconsumers = n->nitems;
	for (size_t i = 0; i < n->nitems; i++) {
		parse_consumer(c, n->items[i], i, &m->consumers[i]);
		for (size_t j = 0; j < i && m->consumers[i].name; j++)
			if (m->consumers[j].name &&
			    strcmp(m->consumers[i].name, m->consumers[j].name) == 0)
				rotor_yerr(c, n->items[i],
				           "consumer name \"%s\" is used twice (first at line %d)",
				           m->consumers[i].name, m->consumers[j].pos.line);
	}
	/* Fill defaults from the store only when the store names are known. */
	for (size_t i = 0; i < m->nconsumers; i++) {
		struct rotor_consumer *k = &m->consumers[i];
		if (!k->akid_name && m->store.akid_name)
			k->akid_name = strdup(m->store.akid_name);
		if (!k->secret_name && m->store.secret_name)
			k->secret_name = strdup(m->store.secret_name);
		if (k->akid_name && k->secret_name && strcmp(k->akid_name, k->secret_name) == 0)
			rotor_yerr(
			    c, n->items[i],
			    "spec.consumers[%zu]: accessKeyIdName and secretAccessKeyName are both "
			    "\"%s\"",
			    i, k->akid_name);
	}
}

/* "HH:MM" (24:00 allowed as an end) into minutes; -1 if not. */
static int parse_hhmm(const char *s)
{
	if (!s || strlen(s) != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), mi = (s[3] - '0') * 10 + (s[4] - '0');
	if (mi > 59 || h > 24 || (h == 24 && mi))
		return -1;
	return h * 60 + mi;
}

static void parse_windows(struct yctx *c, const struct ydoc_node *n, struct rotor_manifest *m)
{
	static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	if (!n || rotor_ynode_is_null(n))
		return;
	if (n->type != YDOC_SEQ || n->nitems == 0) {
		rotor_yerr(c, n, "spec.windows must be a non-empty list of windows");
		return;
	}
	if (n->nitems > ROTOR_MANIFEST_MAX_WINDOWS) {
		rotor_yerr(c, n, "spec.windows has %zu entries; at most %d are allowed", n->nitems,
		           ROTOR_MANIFEST_MAX_WINDOWS);
		return;
	}
	m->windows = calloc(n->nitems, sizeof(*m->windows));
	if (!m->windows) {
		rotor_yerr(c, n, "out of memory");
		return;
	}
	m->nwindows = n->nitems;
	for (size_t i = 0; i < n->nitems; i++) {
		struct rotor_window *w = &m->windows[i];
		char what[64], field[96];
		struct yfield f[] = {
		    {"days", 1, NULL}, {"start", 1, NULL}, {"end", 1, NULL}, {"timeZone", 0, NULL}};
		snprintf(what, sizeof(what), "spec.windows[%zu]", i);
		w->pos = pos_of(c, n->items[i]);
		if (rotor_ymap_fields(c, n->items[i], what, f, 4))
			continue;
		const struct ydoc_node *days = f[0].node;
		if (days->type != YDOC_SEQ || days->nitems == 0)
			rotor_yerr(c, days, "%s.days must be a non-empty list of mon..sun", what);
		for (size_t d = 0; days->type == YDOC_SEQ && d < days->nitems; d++) {
			const struct ydoc_node *dn = days->items[d];
			int k = 7;
			if (dn->type == YDOC_SCALAR && dn->value)
				for (k = 0; k < 7 && strcasecmp(dn->value, day_names[k]) != 0; k++)
					;
			if (k == 7)
				rotor_yerr(c, dn,
				           "%s.days: \"%s\" is not one of mon, tue, wed, thu, fri, "
				           "sat, sun",
				           what,
				           dn->type == YDOC_SCALAR && dn->value ? dn->value : "?");
			else
				w->days |= 1u << k;
		}
		char *start = NULL, *end = NULL;
		snprintf(field, sizeof(field), "%s.start", what);
		rotor_yget_string(c, f[1].node, field, &start);
		snprintf(field, sizeof(field), "%s.end", what);
		rotor_yget_string(c, f[2].node, field, &end);
		w->start_min = parse_hhmm(start);
		w->end_min = parse_hhmm(end);
		if (start && (w->start_min < 0 || w->start_min >= 1440))
			rotor_yerr(c, f[1].node,
			           "%s.start \"%s\" is not a time of day (HH:MM, 24 h)", what,
			           start);
		if (end && w->end_min < 0)
			rotor_yerr(c, f[2].node, "%s.end \"%s\" is not a time of day (HH:MM, 24 h)",
			           what, end);
		if (w->start_min >= 0 && w->end_min >= 0 && w->end_min <= w->start_min)
			rotor_yerr(c, f[2].node,
			           "%s: end (%s) must be after start (%s) on the same day; split a "
			           "window across midnight into two",
			           what, end, start);
		free(start);
		free(end);
		snprintf(field, sizeof(field), "%s.timeZone", what);
		if (f[3].node && rotor_yget_string(c, f[3].node, field, &w->time_zone) == 0 &&
		    w->time_zone && !rotor_tz_name_valid(w->time_zone))
			rotor_yerr(c, f[3].node, "%s \"%s\" is not an IANA time zone name", field,
			           w->time_zone);
		if (!w->time_zone)
			w->time_zone = strdup("UTC");
	}
}

static void parse_spec(struct yctx *c, const struct ydoc_node *n, struct rotor_manifest *m)
{
	struct yfield f[] = {
	    {"user", 1, NULL},        {"aws", 1, NULL},
	    {"cadence", 0, NULL},     {"deactivateAfter", 0, NULL},
	    {"deleteAfter", 0, NULL}, {"rotateRequestedAt", 0, NULL},
	    {"suspend", 0, NULL},     {"mode", 0, NULL},
	    {"store", 1, NULL},       {"consumers", 0, NULL},
	    {"windows", 0, NULL},
	};
	if (rotor_ymap_fields(c, n, "spec", f, 11))
		return;
	if (rotor_yget_string(c, f[0].node, "spec.user", &m->user) == 0 && m->user) {
		m->user_pos = pos_of(c, f[0].node);
		if (!valid_iam_user(m->user))
			rotor_yerr(
			    c, f[0].node,
			    "spec.user \"%s\" is not a valid IAM user name (letters, digits and "
			    "_+=,.@-, at most 64)",
			    m->user);
	}
	if (rotor_yget_string(c, f[1].node, "spec.aws", &m->aws) == 0 && m->aws)
		m->aws_pos = pos_of(c, f[1].node);
	int bad_cadence = rotor_yget_duration(c, f[2].node, "spec.cadence", &m->cadence);
	int bad_deact =
	    rotor_yget_duration(c, f[3].node, "spec.deactivateAfter", &m->deactivate_after);
	int bad_delete = rotor_yget_duration(c, f[4].node, "spec.deleteAfter", &m->delete_after);
	if (!bad_cadence && m->cadence <= 0)
		rotor_yerr(c, f[2].node, "spec.cadence must be longer than 0s");
	if (!bad_cadence && !bad_deact && !bad_delete && m->cadence > 0 &&
	    m->delete_after + m->deactivate_after >= m->cadence) {
		char a[32], b[32], cc[32];
		rotor_duration_format(a, sizeof(a), m->delete_after);
		rotor_duration_format(b, sizeof(b), m->deactivate_after);
		rotor_duration_format(cc, sizeof(cc), m->cadence);
		rotor_ywarn(
		    c, f[2].node ? f[2].node : n,
		    "deleteAfter (%s) + deactivateAfter (%s) is not shorter than cadence (%s): "
		    "each rotation will wait for the previous key's window to end, so keys "
		    "live longer than the cadence",
		    a, b, cc);
	}
	rotor_yget_time(c, f[5].node, "spec.rotateRequestedAt", &m->rotate_requested_at);
	rotor_yget_bool(c, f[6].node, "spec.suspend", &m->suspend);
	int mode = 0;
	if (rotor_yget_enum(c, f[7].node, "spec.mode", mode_words, &mode) == 0)
		m->mode = (enum rotor_mode)mode;
	if (f[8].node && !rotor_ynode_is_null(f[8].node))
		parse_store(c, f[8].node, m);
	parse_consumers(c, f[9].node, m);
	parse_windows(c, f[10].node, m);
}

static int add_file(struct rotor_manifest_set *set, const char *origin, const char **file)
{
	char **files = realloc(set->files, (set->nfiles + 1) * sizeof(*files));
	if (!files)
		return ROTOR_ENOMEM;
	set->files = files;
	files[set->nfiles] = strdup(origin);
	if (!files[set->nfiles])
		return ROTOR_ENOMEM;
	*file = files[set->nfiles++];
	return 0;
}

static int add_manifest(struct rotor_manifest_set *set, struct rotor_manifest *m)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct rotor_manifest *items = realloc(set->items, cap * sizeof(*items));
		if (!items)
			return ROTOR_ENOMEM;
		set->items = items;
		set->cap = cap;
	}
	set->items[set->n++] = *m;
	return 0;
}

/* One document: kind check, then metadata and spec. */
static void parse_document(struct yctx *c, const struct ydoc_node *root, struct rotor_manifest *m)
{
	struct yfield f[] = {
	    {"apiVersion", 1, NULL},
	    {"kind", 1, NULL},
	    {"metadata", 1, NULL},
	    {"spec", 1, NULL},
	};
	m->pos = pos_of(c, root);
	m->cadence = ROTOR_DEFAULT_CADENCE;
	m->deactivate_after = ROTOR_DEFAULT_DEACTIVATE_AFTER;
	m->delete_after = ROTOR_DEFAULT_DELETE_AFTER;
	if (root->type == YDOC_MAP) {
		/* A controller config among the manifests is a mistake worth naming. */
		for (size_t i = 0; i < root->npairs; i++)
			if (strcmp(root->pairs[i].key->value, "kind") == 0 &&
			    root->pairs[i].value->type == YDOC_SCALAR &&
			    strcmp(root->pairs[i].value->value, "Config") == 0) {
				rotor_ywarn(
				    c, root->pairs[i].value,
				    "skipped: this is a controller config (kind: Config), not a "
				    "manifest; pass it with --config");
				m->skipped = 1;
				return;
			}
	}
	if (rotor_ymap_fields(c, root, "the manifest", f, 4))
		return;
	const struct ydoc_node *api = f[0].node, *kind = f[1].node;
	if (api && !rotor_ynode_is_null(api) &&
	    (api->type != YDOC_SCALAR || strcmp(api->value, "rotor/v1") != 0))
		rotor_yerr(c, api, "apiVersion must be rotor/v1, not \"%s\"",
		           api->type == YDOC_SCALAR ? api->value : "(not a string)");
	int k = 0;
	if (kind && !rotor_ynode_is_null(kind))
		rotor_yget_enum(c, kind, "kind", kind_words, &k);
	if (f[2].node && !rotor_ynode_is_null(f[2].node))
		parse_metadata(c, f[2].node, m);
	if (f[3].node && !rotor_ynode_is_null(f[3].node))
		parse_spec(c, f[3].node, m);
}

int rotor_manifest_parse(struct rotor_manifest_set *set, const char *origin, const char *data,
                         size_t len, struct rotor_diags *diags)
{
	struct ydoc_stream s;
	const char *file = NULL;
	int rc = add_file(set, origin, &file);
	if (rc)
		return rc;
	struct yctx c = {file, diags, 0};
	if (len > ROTOR_MANIFEST_FILE_MAX) {
		rotor_diags_add(
		    diags, ROTOR_DIAG_ERROR, file, 0, 0,
		    "file is %zu bytes; manifests files are limited to %zu bytes: split "
		    "it",
		    len, ROTOR_MANIFEST_FILE_MAX);
		return ROTOR_EINVALID;
	}
	if (len > ROTOR_MANIFEST_TREE_MAX - set->bytes_read) {
		rotor_diags_add(
		    diags, ROTOR_DIAG_ERROR, file, 0, 0,
		    "the manifests add up to more than %zu bytes; refusing to read more",
		    ROTOR_MANIFEST_TREE_MAX);
		return ROTOR_EINVALID;
	}
	set->bytes_read += len;
	rc = rotor_ydoc_parse(&s, file, data, len, diags);
	if (rc == ROTOR_ENOMEM)
		goto done;
	if (rc)
		c.errors++;
	for (size_t d = 0; d < s.ndocs; d++) {
		if (!s.docs[d] || rotor_ynode_is_null(s.docs[d]))
			continue; /* an empty document, e.g. a trailing --- */
		struct rotor_manifest m;
		memset(&m, 0, sizeof(m));
		int before = c.errors;
		set->documents++;
		parse_document(&c, s.docs[d], &m);
		if (m.skipped) {
			set->documents--;
			manifest_dispose(&m);
		} else if (c.errors == before) {
			if (add_manifest(set, &m)) {
				manifest_dispose(&m);
				rc = ROTOR_ENOMEM;
				goto done;
			}
		} else {
			manifest_dispose(&m);
		}
	}
	rc = c.errors ? ROTOR_EINVALID : 0;
done:
	rotor_ydoc_dispose(&s);
	return rc;
}

/* Sorting indexes keeps the cross-manifest checks O(n log n) for large
 * repositories (the benchmark parses 10,000 manifests). */
static const struct rotor_manifest *sort_base;

static int by_name(const void *a, const void *b)
{
	const struct rotor_manifest *x = &sort_base[*(const size_t *)a];
	const struct rotor_manifest *y = &sort_base[*(const size_t *)b];
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int by_user(const void *a, const void *b)
{
	const struct rotor_manifest *x = &sort_base[*(const size_t *)a];
	const struct rotor_manifest *y = &sort_base[*(const size_t *)b];
	int c = strcmp(x->aws, y->aws);
	if (!c) /* IAM user names are case-insensitive: Bob and bob are one user */
		c = strcasecmp(x->user, y->user);
	if (c)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* ---- exclusive targets -----------------------------------------------------
 * Two manifests that write one place (a store secret, an env file, a Heroku
 * config var, a GitHub secret) would overwrite each other's pair every pass,
 * churning keys, and a pull request could point its manifest at another
 * user's secrets. Each manifest's targets become keys; a key claimed by two
 * manifests is refused, naming both. */

struct target {
	char *key;        /* canonical, fields joined by '\x1f' */
	const char *what; /* for the message */
	char desc[160];   /* which one, for the message */
	size_t manifest;  /* index into the set */
	const struct rotor_pos *pos;
};

struct targets {
	struct target *items;
	size_t n, cap;
	int oom;
};

static void target_add(struct targets *t, size_t manifest, const struct rotor_pos *pos,
                       const char *what, const char *desc, const char *key)
{
	if (t->oom)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct target *items = realloc(t->items, cap * sizeof(*items));
		if (!items) {
			t->oom = 1;
			return;
		}
		t->items = items;
		t->cap = cap;
	}
	char *k = strdup(key);
	if (!k) {
		t->oom = 1;
		return;
	}
	struct target *x = &t->items[t->n++];
	x->key = k;
	x->what = what;
	snprintf(x->desc, sizeof(x->desc), "%s", desc);
	x->manifest = manifest;
	x->pos = pos;
}

struct target_ctx {
	struct targets *t;
	size_t manifest;
};

static void add_target(void *ctx, const struct rotor_pos *pos, const char *label, const char *desc,
                       const char *key)
{
	struct target_ctx *c = ctx;
	target_add(c->t, c->manifest, pos, label, desc, key);
}

static void manifest_targets(struct targets *t, size_t idx, const struct rotor_manifest *m)
{
	char key[2048], path[1024], desc[160];
	const struct rotor_infisical_store *st = &m->store;
	rotor_canon_path(path, sizeof(path), st->secret_path ? st->secret_path : "/");
	const char *names[2] = {st->akid_name, st->secret_name};
	/* Infisical trims these fields and compares project ids (UUIDs) without
	 * case: " P-1 " names the same project as "p-1", so the key must too. */
	char project[256], envname[256];
	rotor_trimmed_lower(project, sizeof(project), st->project_id, 1);
	rotor_trimmed_lower(envname, sizeof(envname), st->environment, 0);
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof(key), "store\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", st->connection,
		         project, envname, path, names[i] ? names[i] : "");
		snprintf(desc, sizeof(desc), "%s in folder %s", names[i] ? names[i] : "", path);
		target_add(t, idx, &st->connection_pos, "store secret", desc, key);
	}
	struct target_ctx tc = {t, idx};
	for (size_t j = 0; j < m->nconsumers; j++)
		rotor_consumer_kind_of(m->consumers[j].kind)
		    ->targets(&m->consumers[j], add_target, &tc);
}

static int by_target(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->manifest < y->manifest ? -1 : x->manifest > y->manifest;
}

static int check_targets(const struct rotor_manifest_set *set, struct rotor_diags *diags)
{
	struct targets t;
	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < set->n; i++)
		manifest_targets(&t, i, &set->items[i]);
	if (t.oom) {
		for (size_t i = 0; i < t.n; i++)
			free(t.items[i].key);
		free(t.items);
		return ROTOR_ENOMEM;
	}
	qsort(t.items, t.n, sizeof(*t.items), by_target);
	/* One message per pair of manifests and kind of target (a shared
	 * folder clashes on both names; one line says it). */
	const struct target *said[64][2];
	size_t nsaid = 0;
	for (size_t i = 1; i < t.n; i++) {
		size_t k = i;
		while (k > 0 && strcmp(t.items[k - 1].key, t.items[i].key) == 0)
			k--;
		const struct target *first = &t.items[k], *x = &t.items[i];
		if (k == i || first->manifest == x->manifest)
			continue;
		int dup = 0;
		for (size_t j = 0; j < nsaid && !dup; j++)
			dup = said[j][0]->manifest == first->manifest &&
			      said[j][1]->manifest == x->manifest && said[j][1]->pos == x->pos;
		if (dup)
			continue;
		if (nsaid < sizeof(said) / sizeof(said[0])) {
			said[nsaid][0] = first;
			said[nsaid++][1] = x;
		}
		const struct rotor_manifest *m = &set->items[x->manifest];
		const struct rotor_manifest *o = &set->items[first->manifest];
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, x->pos->file, x->pos->line, x->pos->col,
		                "manifest \"%s\" writes the %s %s, which manifest \"%s\" "
		                "writes (%s:%d:%d); each store secret and consumer belongs to one "
		                "manifest, or the two would overwrite each other's key pair every "
		                "pass",
		                m->name, x->what, x->desc, o->name, first->pos->file,
		                first->pos->line, first->pos->col);
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.items[i].key);
	free(t.items);
	return 0;
}

int rotor_manifest_set_check(const struct rotor_manifest_set *set, struct rotor_diags *diags)
{
	size_t before = diags->nerrors;
	if (set->n < 2)
		return 0;
	size_t *idx = malloc(set->n * sizeof(*idx));
	if (!idx)
		return ROTOR_ENOMEM;
	for (size_t i = 0; i < set->n; i++)
		idx[i] = i;
	/* qsort has no context argument; the checks run on one thread. */
	sort_base = set->items;
	qsort(idx, set->n, sizeof(*idx), by_name);
	for (size_t i = 1; i < set->n; i++) {
		const struct rotor_manifest *first = &set->items[idx[i - 1]];
		const struct rotor_manifest *m = &set->items[idx[i]];
		size_t k = i;
		while (k > 0 && strcmp(set->items[idx[k - 1]].name, m->name) == 0)
			k--;
		first = &set->items[idx[k]];
		if (k != i)
			rotor_diags_add(diags, ROTOR_DIAG_ERROR, m->name_pos.file, m->name_pos.line,
			                m->name_pos.col,
			                "metadata.name \"%s\" is already used at %s:%d:%d; names "
			                "must be unique across the repository",
			                m->name, first->name_pos.file, first->name_pos.line,
			                first->name_pos.col);
	}
	qsort(idx, set->n, sizeof(*idx), by_user);
	for (size_t i = 1; i < set->n; i++) {
		const struct rotor_manifest *m = &set->items[idx[i]];
		size_t k = i;
		while (k > 0 && strcmp(set->items[idx[k - 1]].aws, m->aws) == 0 &&
		       strcasecmp(set->items[idx[k - 1]].user, m->user) == 0)
			k--;
		const struct rotor_manifest *first = &set->items[idx[k]];
		if (k != i)
			rotor_diags_add(
			    diags, ROTOR_DIAG_ERROR, m->user_pos.file, m->user_pos.line,
			    m->user_pos.col,
			    "IAM user \"%s\" on connection \"%s\" is already managed by "
			    "manifest \"%s\" as \"%s\" (%s:%d:%d); IAM user names are "
			    "case-insensitive: one manifest per user, or the two would rotate "
			    "each other's keys",
			    m->user, m->aws, first->name, first->user, first->user_pos.file,
			    first->user_pos.line, first->user_pos.col);
	}
	sort_base = NULL;
	free(idx);
	int rc = check_targets(set, diags);
	if (rc)
		return rc;
	return diags->nerrors > before ? ROTOR_EINVALID : 0;
}

int rotor_manifest_set_check_config(const struct rotor_manifest_set *set,
                                    const struct rotor_config *cfg, struct rotor_diags *d)
{
	size_t before = d->nerrors;
	for (size_t i = 0; i < set->n; i++) {
		const struct rotor_manifest *m = &set->items[i];
		rotor_check_connection(d, cfg, &m->aws_pos, m->aws, "aws", "spec.aws",
		                       rotor_config_aws(cfg, m->aws) != NULL);
		rotor_check_connection(d, cfg, &m->store.connection_pos, m->store.connection,
		                       "infisical", "spec.store.infisical.connection",
		                       rotor_config_infisical(cfg, m->store.connection) != NULL);
		for (size_t j = 0; j < m->nwindows; j++) {
			int32_t off;
			const struct rotor_window *w = &m->windows[j];
			if (rotor_tz_offset(w->time_zone, 0, &off) != 0)
				rotor_diags_add(
				    d, ROTOR_DIAG_ERROR, w->pos.file, w->pos.line, w->pos.col,
				    "spec.windows: time zone \"%s\" is not known on this "
				    "machine (an IANA name, with tzdata installed)",
				    w->time_zone);
		}
		for (size_t j = 0; j < m->nconsumers; j++)
			rotor_consumer_kind_of(m->consumers[j].kind)
			    ->check_config(d, cfg, &m->consumers[j]);
	}
	return d->nerrors > before ? ROTOR_EINVALID : 0;
}
