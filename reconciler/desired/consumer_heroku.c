/* consumer_heroku.c: `heroku: {connection, app}` (consumer_kind.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "desired/consumer_kind.h"

static int valid_heroku_app(const char *s)
{
	size_t n = strlen(s);
	if (n < 3 || n > 36) /* names are 3..30; ids are 36-character UUIDs */
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return 0;
	return 1;
}

static void parse(struct yctx *c, const struct ydoc_node *const *nodes,
                  const struct ydoc_node *akid, const struct ydoc_node *sak, const char *what,
                  struct rotor_consumer *out)
{
	char field[128];
	(void)akid;
	(void)sak;
	snprintf(field, sizeof(field), "%s.connection", what);
	if (rotor_yget_string(c, nodes[0], field, &out->connection) == 0 && nodes[0])
		out->connection_pos = rotor_ypos(c, nodes[0]);
	snprintf(field, sizeof(field), "%s.app", what);
	if (rotor_yget_string(c, nodes[1], field, &out->app) == 0 && out->app &&
	    !valid_heroku_app(out->app))
		rotor_yerr(
		    c, nodes[1],
		    "%s \"%s\" is not a Heroku app name or id (lowercase letters, digits, '-')",
		    field, out->app);
}

static void check_config(struct rotor_diags *d, const struct rotor_config *cfg,
                         const struct rotor_consumer *k)
{
	rotor_check_connection(d, cfg, &k->connection_pos, k->connection, "heroku",
	                       "heroku.connection",
	                       rotor_config_heroku(cfg, k->connection) != NULL);
}

/* Both config vars of the app: app names are lower case. */
static void targets(const struct rotor_consumer *k, consumer_target_fn add, void *ctx)
{
	const char *vars[2] = {k->akid_name, k->secret_name};
	char key[2048], desc[160];
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof(key), "heroku\x1f%s\x1f%s", k->connection,
		         k->app ? k->app : "");
		rotor_ascii_lower(key);
		size_t used = strlen(key);
		snprintf(key + used, sizeof(key) - used, "\x1f%s", vars[i] ? vars[i] : "");
		snprintf(desc, sizeof(desc), "%s of app %s", vars[i] ? vars[i] : "",
		         k->app ? k->app : "");
		add(ctx, &k->pos, "Heroku config var", desc, key);
	}
}

const struct consumer_kind rotor_consumer_kind_heroku = {
    "heroku", ROTOR_CONSUMER_HEROKU, {{"connection", 1}, {"app", 1}}, 2, parse, check_config,
    targets,
};
