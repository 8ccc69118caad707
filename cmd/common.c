/* common.c: config and manifest loading shared by the commands. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "rotor/error.h"
#include "rotor/source.h"

const char *cmd_config_path(const char *flag, int use_default)
{
	const char *env = getenv("ROTOR_CONFIG");
	if (flag)
		return flag;
	if (env && *env)
		return env;
	if (use_default && access("rotor.yaml", F_OK) == 0)
		return "rotor.yaml";
	return NULL;
}

int cmd_load_config(const char *path, struct rotor_config **out, struct rotor_diags *diags)
{
	char *data = NULL;
	size_t len = 0;
	struct rotor_error err;
	rotor_error_clear(&err);
	*out = NULL;
	int rc = rotor_source_read_file(&data, &len, path, ROTOR_CONFIG_FILE_MAX, &err);
	if (rc) {
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, path, 0, 0, "%s",
		                err.message + strlen(path) + 2);
		return ROTOR_EINVALID;
	}
	rc = rotor_config_parse(out, path, data, len, diags);
	free(data);
	return rc;
}

int cmd_load_manifests(struct rotor_manifest_set *set, char *const *paths, size_t npaths,
                       const struct rotor_config *cfg, const char *revision, char commit[41],
                       struct rotor_diags *diags, char *why, size_t why_len)
{
	char got[41];
	struct rotor_error err;
	if (commit)
		commit[0] = '\0';
	if (npaths == 0 && (!cfg || !cfg->source.present)) {
		snprintf(why, why_len,
		         "no PATH given and no source in the config: name manifest files "
		         "or directories");
		return ROTOR_EINVALID;
	}
	if (npaths && revision) {
		snprintf(why, why_len, "--revision reads the config's git source: give no PATH");
		return ROTOR_EINVALID;
	}
	rotor_error_clear(&err);
	int rc = rotor_manifest_load(set, cfg, paths, npaths, revision, got, diags, &err);
	if (rc && rc != ROTOR_EINVALID)
		snprintf(why, why_len, "%s", err.message);
	else if (commit)
		snprintf(commit, 41, "%s", got);
	return rc;
}

int cmd_parse_count(const char *s)
{
	char *end = NULL;
	long v;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 1000000)
		return -1;
	return (int)v;
}

int cmd_config_resolved(const char *command, const char *flag, const char **path,
                        struct rotor_config **out)
{
	struct rotor_diags diags;
	*out = NULL;
	*path = cmd_config_path(flag, 1);
	if (!*path) {
		fprintf(stderr, "rotor %s: no config: pass --config FILE or set $ROTOR_CONFIG\n",
		        command);
		return EXIT_USAGE;
	}
	rotor_diags_init(&diags);
	if (cmd_load_config(*path, out, &diags) == 0)
		rotor_config_resolve_secrets(*out, ROTOR_DIAG_ERROR, &diags);
	int bad = diags.nerrors != 0;
	if (bad) {
		rotor_diags_sort(&diags);
		rotor_diags_print(&diags, stderr);
		rotor_config_free(*out);
		*out = NULL;
	}
	rotor_diags_dispose(&diags);
	return bad ? EXIT_INVALID : EXIT_OK;
}
