/* consumer_github.c: `githubActions: {connection, repository, environment?}`
 * (consumer_kind.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "desired/consumer_kind.h"

static int valid_repository(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("-_./", *s)))
			return 0;
	return 1;
}

/* GitHub secret names: [A-Za-z0-9_], not starting with a digit or GITHUB_
 * (case-insensitive: GitHub stores them upper case). */
static void check_github_name(struct yctx *c, const struct ydoc_node *at, const char *name)
{
	int ok = *name && !isdigit((unsigned char)*name);
	for (const char *p = name; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || *p == '_';
	if (!ok)
		rotor_yerr(c, at,
		           "\"%s\" is not a GitHub secret name: letters, digits and '_' only, not "
		           "starting with a digit",
		           name);
	else if (strncasecmp(name, "GITHUB_", 7) == 0)
		rotor_yerr(c, at, "GitHub secret names may not start with GITHUB_ (\"%s\")", name);
}

/* GitHub organisation logins: letters, digits, '-' (1..39). */
static int valid_org(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 39)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-'))
			return 0;
	return 1;
}

static void parse_selected(struct yctx *c, const struct ydoc_node *n, const char *what,
                           struct rotor_consumer *out)
{
	char field[160];
	if (n->type != YDOC_SEQ) {
		rotor_yerr(c, n, "%s must be a list of repositories (owner/name)", what);
		return;
	}
	out->selected = calloc(n->nitems ? n->nitems : 1, sizeof(*out->selected));
	if (!out->selected)
		return;
	for (size_t i = 0; i < n->nitems; i++) {
		char *repo = NULL;
		snprintf(field, sizeof(field), "%s[%zu]", what, i);
		if (rotor_yget_string(c, n->items[i], field, &repo) != 0 || !repo)
			continue;
		if (!valid_repository(repo))
			rotor_yerr(c, n->items[i], "%s must be \"owner/name\", not \"%s\"", field,
			           repo);
		out->selected[out->nselected++] = repo;
	}
}

static void parse(struct yctx *c, const struct ydoc_node *const *nodes,
                  const struct ydoc_node *akid, const struct ydoc_node *sak, const char *what,
                  struct rotor_consumer *out)
{
	char field[128];
	snprintf(field, sizeof(field), "%s.connection", what);
	if (rotor_yget_string(c, nodes[0], field, &out->connection) == 0 && nodes[0])
		out->connection_pos = rotor_ypos(c, nodes[0]);
	snprintf(field, sizeof(field), "%s.repository", what);
	if (rotor_yget_string(c, nodes[1], field, &out->repository) == 0 && out->repository &&
	    !valid_repository(out->repository))
		rotor_yerr(c, nodes[1], "%s must be \"owner/name\", not \"%s\"", field,
		           out->repository);
	snprintf(field, sizeof(field), "%s.environment", what);
	rotor_yget_string(c, nodes[2], field, &out->environment);
	snprintf(field, sizeof(field), "%s.organization", what);
	if (rotor_yget_string(c, nodes[3], field, &out->organization) == 0 && out->organization &&
	    !valid_org(out->organization))
		rotor_yerr(c, nodes[3], "%s \"%s\" is not a GitHub organisation login", field,
		           out->organization);
	snprintf(field, sizeof(field), "%s.visibility", what);
	if (rotor_yget_string(c, nodes[4], field, &out->visibility) == 0 && out->visibility &&
	    strcmp(out->visibility, "all") != 0 && strcmp(out->visibility, "private") != 0 &&
	    strcmp(out->visibility, "selected") != 0)
		rotor_yerr(c, nodes[4], "%s must be all, private or selected, not \"%s\"", field,
		           out->visibility);
	snprintf(field, sizeof(field), "%s.selectedRepositories", what);
	if (nodes[5])
		parse_selected(c, nodes[5], field, out);
	/* a repository's secret (optionally an environment's) or an
	 * organisation's, never both */
	if (!nodes[1] == !nodes[3])
		rotor_yerr(c,
		           nodes[1]   ? nodes[1]
		           : nodes[0] ? nodes[0]
		                      : akid,
		           "%s needs exactly one of repository (a repository secret) and "
		           "organization (an organisation secret)",
		           what);
	if (nodes[3] && nodes[2])
		rotor_yerr(c, nodes[2],
		           "%s.environment belongs to a repository secret, not an "
		           "organisation's",
		           what);
	if (nodes[1] && (nodes[4] || nodes[5]))
		rotor_yerr(
		    c, nodes[4] ? nodes[4] : nodes[5],
		    "%s.visibility and selectedRepositories belong to an organisation secret",
		    what);
	if (nodes[3] && !nodes[4])
		rotor_yerr(c, nodes[3],
		           "%s.visibility is required with organization (all, private "
		           "or selected)",
		           what);
	if (out->visibility && strcmp(out->visibility, "selected") == 0 && !out->nselected)
		rotor_yerr(c, nodes[4], "%s.visibility selected needs selectedRepositories", what);
	if (nodes[5] && out->visibility && strcmp(out->visibility, "selected") != 0)
		rotor_yerr(c, nodes[5], "%s.selectedRepositories needs visibility selected", what);
	if (out->akid_name)
		check_github_name(c, akid, out->akid_name);
	if (out->secret_name)
		check_github_name(c, sak, out->secret_name);
}

/* 0 when name is a valid GitHub secret name. */
static int github_name_ok(const char *name)
{
	int ok = name && *name && !isdigit((unsigned char)*name) && strncasecmp(name, "GITHUB_", 7);
	for (const char *p = name; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || *p == '_';
	return ok ? 0 : -1;
}

static void check_config(struct rotor_diags *d, const struct rotor_config *cfg,
                         const struct rotor_consumer *k)
{
	rotor_check_connection(d, cfg, &k->connection_pos, k->connection, "github",
	                       "githubActions.connection",
	                       rotor_config_github(cfg, k->connection) != NULL);
	/* the names as they will be written, the store's when the consumer
	 * names none: GitHub's rules, and two names, not one in two cases */
	const char *names[2] = {k->akid_name, k->secret_name};
	for (int i = 0; i < 2; i++)
		if (names[i] && github_name_ok(names[i]) != 0)
			rotor_diags_add(
			    d, ROTOR_DIAG_ERROR, k->pos.file, k->pos.line, k->pos.col,
			    "consumer %s: \"%s\" is not a GitHub secret name (letters, digits "
			    "and '_', not starting with a digit or GITHUB_): set "
			    "accessKeyIdName/secretAccessKeyName for this consumer",
			    k->name, names[i]);
	if (names[0] && names[1] && strcasecmp(names[0], names[1]) == 0)
		rotor_diags_add(d, ROTOR_DIAG_ERROR, k->pos.file, k->pos.line, k->pos.col,
		                "consumer %s: \"%s\" and \"%s\" are one GitHub secret (names are "
		                "case-insensitive)",
		                k->name, names[0], names[1]);
}

/* Both secrets: repositories, environments and secret names are
 * case-insensitive on GitHub (names are stored upper case). */
static void targets(const struct rotor_consumer *k, consumer_target_fn add, void *ctx)
{
	const char *vars[2] = {k->akid_name, k->secret_name};
	char key[2048], desc[160];
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof(key), "github\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", k->connection,
		         k->repository ? k->repository : "", k->environment ? k->environment : "",
		         k->organization ? k->organization : "", vars[i] ? vars[i] : "");
		rotor_ascii_lower(key);
		snprintf(desc, sizeof(desc), "%s of %s%s%s%s", vars[i] ? vars[i] : "",
		         k->organization ? "organisation " : "",
		         k->organization ? k->organization
		         : k->repository ? k->repository
		                         : "",
		         k->environment ? " environment " : "",
		         k->environment ? k->environment : "");
		add(ctx, &k->pos, "GitHub Actions secret", desc, key);
	}
}

const struct consumer_kind rotor_consumer_kind_github = {
    "githubActions",
    ROTOR_CONSUMER_GITHUB,
    {{"connection", 1},
     {"repository", 0},
     {"environment", 0},
     {"organization", 0},
     {"visibility", 0},
     {"selectedRepositories", 0}},
    6,
    parse,
    check_config,
    targets,
};
