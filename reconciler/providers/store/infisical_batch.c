/*
 * infisical_batch.c: one store read per (project, environment, folder
 * subtree) for a whole pass, instead of one per manifest (issue 17).
 *
 * Before a pass the engine names every ref it will read (rotor_inf_expect).
 * Refs that share a project and environment form a group, read with one
 * `GET .../secrets/raw?recursive=true` from the deepest folder they have in
 * common; each returned secret names its folder in `secretPath`. Only the
 * two names each ref owns are kept (every value the reply held is wiped
 * with it: jansson frees through rotor's wiping allocator). A ref's first
 * read_pair of the pass is then answered from the group's reply, fetched
 * again when older than BATCH_TTL_MS; later reads of the same ref (the
 * re-checks before a deactivate or delete, the read-back after a write)
 * always ask the server.
 *
 * Only a present pair is believed from a batch. The recursive listing
 * leaves out, silently, what the identity may not read and folders more
 * than 20 levels below the environment's root (the server's
 * generatePaths), so a name missing from it proves nothing: such a ref is
 * read on its own, with the folder check that read does. A rotated secret
 * or a hidden value is likewise left to the single read, which refuses it
 * with the right message.
 *
 * Servers before the `recursive` parameter (PR #1617, April 2024) strip it
 * and list the one folder, with no `secretPath` on the secrets (2024
 * servers drop the field from their schema): a reply without it turns the
 * group's batching off, said at debug level, and its refs are read folder
 * by folder. So does a reply over the transport's size cap or any error.
 *
 * Thread rules: every function here runs under s->lock.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/store/infisical_client.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "util/buf.h"
#include "util/http.h"

#define BATCH_TTL_MS 120000 /* a group's reply answers reads for this long */
#define BATCH_MAX_REFS 100000

enum member_state { PENDING = 0, CACHED = 1, DIRECT = 2 };

struct member {
	char *project, *env, *folder, *akid_name, *secret_name;
	size_t group;
	enum member_state state;
	struct rotor_store_pair pair; /* CACHED: what the group's reply held */
};

struct group {
	char *project, *env, *root;
	size_t members;
	int64_t fetched_ms; /* monotonic; 0 never */
	int off;            /* batching given up for this group */
};

struct inf_batch {
	struct member *m;
	size_t nm;
	struct group *g;
	size_t ng;
};

/* "/a/b/" -> "/a/b"; "" -> "/". In place on a copy. */
static char *norm_folder(const char *p)
{
	while (p && (*p == ' ' || *p == '\t'))
		p++;
	char *s = strdup(p && *p ? p : "/");
	if (!s)
		return NULL;
	size_t n = strlen(s);
	while (n > 1 && (s[n - 1] == '/' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Shortens root to the deepest folder it shares with path. */
static void common_root(char *root, const char *path)
{
	size_t i = 0, last = 0;
	for (; root[i] && root[i] == path[i]; i++)
		if (root[i] == '/')
			last = i;
	/* a whole segment in common: root ends here, or at a '/' of path */
	if (!root[i] && (path[i] == '/' || !path[i]))
		return;
	if (!path[i] && root[i] == '/') { /* path is a folder above root */
		root[i] = '\0';
		return;
	}
	root[last ? last : 1] = '\0';
}

static void member_dispose(struct member *m)
{
	free(m->project);
	free(m->env);
	free(m->folder);
	free(m->akid_name);
	free(m->secret_name);
	rotor_store_pair_dispose(&m->pair);
}

void rotor_inf_batch_free(struct infisical *s)
{
	struct inf_batch *b = s->batch;
	if (!b)
		return;
	for (size_t i = 0; i < b->nm; i++)
		member_dispose(&b->m[i]);
	for (size_t i = 0; i < b->ng; i++) {
		free(b->g[i].project);
		free(b->g[i].env);
		free(b->g[i].root);
	}
	free(b->m);
	free(b->g);
	free(b);
	s->batch = NULL;
}

int rotor_inf_expect(struct infisical *s, const struct rotor_store_ref *refs, size_t n,
                     struct rotor_error *err)
{
	rotor_inf_batch_free(s);
	if (n < 2 || n > BATCH_MAX_REFS)
		return 0;
	struct inf_batch *b = calloc(1, sizeof(*b));
	if (!b || !(b->m = calloc(n, sizeof(*b->m))) || !(b->g = calloc(n, sizeof(*b->g)))) {
		if (b)
			free(b->m);
		free(b);
		return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", s->name);
	}
	s->batch = b;
	for (size_t i = 0; i < n; i++) {
		const struct rotor_store_ref *r = &refs[i];
		struct member *m = &b->m[b->nm];
		if (!r->project_id || !r->environment || !r->akid_name || !r->secret_name)
			continue;
		m->project = strdup(r->project_id);
		m->env = strdup(r->environment);
		m->folder = norm_folder(r->secret_path);
		m->akid_name = strdup(r->akid_name);
		m->secret_name = strdup(r->secret_name);
		if (!m->project || !m->env || !m->folder || !m->akid_name || !m->secret_name) {
			member_dispose(m);
			rotor_inf_batch_free(s);
			return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", s->name);
		}
		size_t g = 0;
		while (g < b->ng &&
		       (strcmp(b->g[g].project, m->project) || strcmp(b->g[g].env, m->env)))
			g++;
		if (g == b->ng) {
			b->g[g].project = strdup(m->project);
			b->g[g].env = strdup(m->env);
			b->g[g].root = strdup(m->folder);
			if (!b->g[g].project || !b->g[g].env || !b->g[g].root) {
				member_dispose(m);
				rotor_inf_batch_free(s);
				return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory",
				                       s->name);
			}
			b->ng++;
		}
		common_root(b->g[g].root, m->folder);
		b->g[g].members++;
		m->group = g;
		b->nm++;
	}
	for (size_t g = 0; g < b->ng; g++)
		rotor_log(ROTOR_LOG_DEBUG, s->name,
		          "store reads of %zu manifest%s in project %s, environment %s: %s",
		          b->g[g].members, b->g[g].members == 1 ? "" : "s", b->g[g].project,
		          b->g[g].env,
		          b->g[g].members > 1 ? "one recursive list from the common folder"
		                              : "a read of its own");
	for (size_t g = 0; g < b->ng; g++)
		if (b->g[g].members > 1)
			rotor_log(ROTOR_LOG_DEBUG, s->name, "  common folder: %s", b->g[g].root);
	return 0;
}

static void give_up(struct infisical *s, struct group *g, const char *why)
{
	g->off = 1;
	rotor_log(ROTOR_LOG_DEBUG, s->name,
	          "project %s, environment %s: %s; reading the pairs folder by folder", g->project,
	          g->env, why);
}

/* The member of group gi that owns (folder, key) and is waiting for the
 * group's reply; *is_akid says which of its names. */
static struct member *owner(struct inf_batch *b, size_t gi, const char *folder, const char *key,
                            int *is_akid)
{
	for (size_t i = 0; i < b->nm; i++) {
		struct member *m = &b->m[i];
		if (m->group != gi || m->state == DIRECT || strcmp(m->folder, folder) != 0)
			continue;
		if (strcmp(m->akid_name, key) == 0 || strcmp(m->secret_name, key) == 0) {
			*is_akid = strcmp(m->akid_name, key) == 0;
			return m;
		}
	}
	return NULL;
}

/* One secret of the group's reply into its owner's pair, if it has one. */
static void take_secret(struct inf_batch *b, size_t gi, const json_t *sec, const char *folder)
{
	int is_akid = 0;
	const char *key = rotor_inf_jstr(sec, "secretKey");
	struct member *m = owner(b, gi, folder, key, &is_akid);
	if (!m)
		return;
	const json_t *value = json_object_get(sec, "secretValue");
	if (json_is_true(json_object_get(sec, "isRotatedSecret")) ||
	    json_is_true(json_object_get(sec, "secretValueHidden")) || !json_is_string(value) ||
	    (is_akid && json_string_length(value) >= sizeof(m->pair.akid)) ||
	    (is_akid ? m->pair.has_akid : m->pair.has_secret)) {
		/* the single read refuses it with the right message */
		rotor_store_pair_dispose(&m->pair);
		m->state = DIRECT;
		return;
	}
	int64_t version = (int64_t)json_integer_value(json_object_get(sec, "version"));
	if (is_akid) {
		m->pair.has_akid = 1;
		m->pair.akid_version = version;
		snprintf(m->pair.akid, sizeof(m->pair.akid), "%s", json_string_value(value));
	} else {
		struct rotor_error ignore;
		if (rotor_secret_new(&m->pair.secret, json_string_value(value),
		                     json_string_length(value), ROTOR_SECRET_REDACT,
		                     &ignore) != 0) {
			rotor_store_pair_dispose(&m->pair);
			m->state = DIRECT;
			return;
		}
		m->pair.has_secret = 1;
		m->pair.secret_version = version;
	}
}

static int list_query(struct infisical *s, const struct group *g, char *path, size_t len)
{
	struct rotor_buf b;
	rotor_buf_init(&b, 4096);
	int rc = rotor_buf_puts(&b, s->v4 ? "/api/v4/secrets?projectId="
	                                  : "/api/v3/secrets/raw?"
	                                    "workspaceId=");
	rc = rc ? rc : rotor_http_urlencode(&b, g->project, strlen(g->project));
	rc = rc ? rc : rotor_buf_puts(&b, "&environment=");
	rc = rc ? rc : rotor_http_urlencode(&b, g->env, strlen(g->env));
	rc = rc ? rc : rotor_buf_puts(&b, "&secretPath=");
	rc = rc ? rc : rotor_http_urlencode(&b, g->root, strlen(g->root));
	rc = rc ? rc
	        : rotor_buf_puts(&b, "&recursive=true&include_imports=false"
	                             "&expandSecretReferences=false");
	if (!rc && b.len >= len)
		rc = ROTOR_ELIMIT;
	if (!rc)
		memcpy(path, b.data, b.len + 1);
	rotor_buf_dispose(&b);
	return rc;
}

struct fetch_ctx {
	struct inf_batch *b;
	size_t gi;
	size_t seen;
	int no_path; /* a secret without secretPath: the server ignored recursive */
};

static void on_secret(void *ctx, json_t *sec)
{
	struct fetch_ctx *f = ctx;
	f->seen++;
	if (f->no_path)
		return;
	if (!json_is_string(json_object_get(sec, "secretPath"))) {
		f->no_path = 1;
		return;
	}
	char *folder = norm_folder(rotor_inf_jstr(sec, "secretPath"));
	if (folder)
		take_secret(f->b, f->gi, sec, folder);
	free(folder);
}

/* Forgets what group gi's members hold from a reply. */
static void forget(struct inf_batch *b, size_t gi, enum member_state to)
{
	for (size_t k = 0; k < b->nm; k++)
		if (b->m[k].group == gi && b->m[k].state != DIRECT) {
			rotor_store_pair_dispose(&b->m[k].pair);
			b->m[k].state = to;
		}
}

/* Reads group gi with one recursive list, streamed secret by secret (a
 * list of 20,000 secrets is never one document in memory); on any
 * trouble, batching is off for the group (its refs are read one by one,
 * which reports the trouble where it belongs). */
static void fetch(struct infisical *s, size_t gi)
{
	struct inf_batch *b = s->batch;
	struct group *g = &b->g[gi];
	char path[4096], what[512];
	struct reply r;
	struct rotor_error err;
	struct fetch_ctx f = {b, gi, 0, 0};
	snprintf(what, sizeof(what),
	         "%s: Infisical list secrets (project %s, environment %s, path %s, recursive)",
	         s->name, g->project, g->env, g->root);
	if (list_query(s, g, path, sizeof(path)) != 0) {
		give_up(s, g, "the common folder's path is too long");
		return;
	}
	forget(b, gi, CACHED); /* a fresh reply: nothing of the last one counts */
	rotor_error_clear(&err);
	s->each_secret = on_secret;
	s->each_ctx = &f;
	int rc = rotor_inf_api(s, "GET", path, NULL, what, &r, &err);
	s->each_secret = NULL;
	s->each_ctx = NULL;
	if (rc) {
		forget(b, gi, DIRECT);
		give_up(s, g,
		        err.code == ROTOR_ELIMIT ? "the recursive list is over the size cap"
		                                 : err.message);
		return;
	}
	int streamed = r.streamed;
	long status = r.status;
	rotor_inf_reply_dispose(&r);
	if (status != 200 || !streamed || f.no_path) {
		char why[160];
		if (f.no_path)
			snprintf(why, sizeof(why),
			         "the server does not honour `recursive` (its "
			         "secrets carry no secretPath)");
		else
			snprintf(why, sizeof(why), "the recursive list answered HTTP %ld%s", status,
			         streamed ? "" : " without a secrets list");
		forget(b, gi, DIRECT);
		give_up(s, g, why);
		return;
	}
	g->fetched_ms = s->clock->monotonic_ms(s->clock);
	rotor_log(ROTOR_LOG_DEBUG, s->name, "recursive list of %s: %zu secrets", g->root, f.seen);
}

int rotor_inf_batch_take(struct infisical *s, const struct rotor_store_ref *ref,
                         struct rotor_store_pair *out)
{
	struct inf_batch *b = s->batch;
	if (!b)
		return 0;
	char *folder = norm_folder(ref->secret_path);
	struct member *m = NULL;
	for (size_t i = 0; folder && i < b->nm && !m; i++) {
		struct member *x = &b->m[i];
		if (x->state != DIRECT && strcmp(x->project, ref->project_id) == 0 &&
		    strcmp(x->env, ref->environment) == 0 && strcmp(x->folder, folder) == 0 &&
		    strcmp(x->akid_name, ref->akid_name) == 0 &&
		    strcmp(x->secret_name, ref->secret_name) == 0)
			m = x;
	}
	free(folder);
	if (!m)
		return 0;
	struct group *g = &b->g[m->group];
	if (g->members < 2 || g->off) {
		m->state = DIRECT;
		return 0;
	}
	int64_t now = s->clock->monotonic_ms(s->clock);
	if (m->state == PENDING || !g->fetched_ms || now - g->fetched_ms > BATCH_TTL_MS)
		fetch(s, m->group);
	int ok = !g->off && m->state == CACHED && m->pair.has_akid && m->pair.has_secret;
	if (ok) {
		*out = m->pair;
		memset(&m->pair, 0, sizeof(m->pair));
	}
	rotor_store_pair_dispose(&m->pair);
	m->state = DIRECT; /* every later read of this ref asks the server */
	return ok;
}
