/* consumer_github.c: `githubActions: {connection, repository, environment?}`
 * (consumer_kind.h). */
#include <ctype.h>
#include <stdio.h>
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

/* GitHub secret names: [A-Za-z0-9_], not starting with a digit or GITHUB_. */
static void check_github_name(struct yctx *c, const struct ydoc_node *at, const char *name)
{
	if (strncasecmp(name, "GITHUB_", 7) == 0)
		rotor_yerr(c, at, "GitHub secret names may not start with GITHUB_ (\"%s\")", name);
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
	if (out->akid_name)
		check_github_name(c, akid, out->akid_name);
	if (out->secret_name)
		check_github_name(c, sak, out->secret_name);
}

static void check_config(struct rotor_diags *d, const struct rotor_config *cfg,
                         const struct rotor_consumer *k)
{
	rotor_check_connection(d, cfg, &k->connection_pos, k->connection, "github",
	                       "githubActions.connection",
	                       rotor_config_github(cfg, k->connection) != NULL);
}

/* Both secrets: repositories, environments and secret names are
 * case-insensitive on GitHub (names are stored upper case). */
static void targets(const struct rotor_consumer *k, consumer_target_fn add, void *ctx)
{
	const char *vars[2] = {k->akid_name, k->secret_name};
	char key[2048], desc[160];
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof(key), "github\x1f%s\x1f%s\x1f%s\x1f%s", k->connection,
		         k->repository ? k->repository : "", k->environment ? k->environment : "",
		         vars[i] ? vars[i] : "");
		rotor_ascii_lower(key);
		snprintf(desc, sizeof(desc), "%s of %s%s%s", vars[i] ? vars[i] : "",
		         k->repository ? k->repository : "", k->environment ? " environment " : "",
		         k->environment ? k->environment : "");
		add(ctx, &k->pos, "GitHub Actions secret", desc, key);
	}
}

const struct consumer_kind rotor_consumer_kind_github = {
    "githubActions",
    ROTOR_CONSUMER_GITHUB,
    {{"connection", 1}, {"repository", 1}, {"environment", 0}},
    3,
    parse,
    check_config,
    targets,
};
