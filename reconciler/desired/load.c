/* load.c: manifests from a source into a set — the source hands on bytes,
 * the manifest parser reads them. */
#include "rotor/config.h"
#include "rotor/gitsource.h"
#include "rotor/manifest.h"
#include "rotor/source.h"

static int parse_into(void *ctx, const char *origin, const char *data, size_t len,
                      struct rotor_diags *diags)
{
	return rotor_manifest_parse(ctx, origin, data, len, diags);
}

int rotor_manifest_load_paths(struct rotor_manifest_set *set, char *const *paths, size_t npaths,
                              struct rotor_diags *diags)
{
	return rotor_source_walk(paths, npaths, set->skip_path, parse_into, set, diags);
}

int rotor_manifest_load_git(struct rotor_manifest_set *set, const struct rotor_git_source *src,
                            const char *rev, char commit[41], struct rotor_diags *diags,
                            struct rotor_error *err)
{
	return rotor_git_walk(src, rev, commit, parse_into, set, diags, err);
}

int rotor_manifest_load_git_local(struct rotor_manifest_set *set, const char *dir, const char *rev,
                                  char *const *paths, size_t npaths, char commit[41],
                                  struct rotor_diags *diags, struct rotor_error *err)
{
	return rotor_git_walk_local(dir, rev, paths, npaths, commit, parse_into, set, diags, err);
}

int rotor_manifest_load(struct rotor_manifest_set *set, const struct rotor_config *cfg,
                        char *const *paths, size_t npaths, const char *rev, char commit[41],
                        struct rotor_diags *diags, struct rotor_error *err)
{
	int rc;
	commit[0] = '\0';
	if (npaths == 0) {
		struct rotor_git_source src;
		char head[41];
		rotor_git_source_of(cfg, &src);
		rc = rotor_git_fetch(&src, head, err);
		if (!rc)
			rc = rotor_manifest_load_git(set, &src, rev, commit, diags, err);
		if (rc && rc != ROTOR_EINVALID)
			return rc;
	} else {
		set->skip_path = cfg ? cfg->origin : NULL;
		rc = rotor_manifest_load_paths(set, paths, npaths, diags);
	}
	if (rc == ROTOR_ENOMEM)
		return rotor_error_set(err, rc, "out of memory reading manifests");
	int rc2 = rotor_manifest_set_check(set, diags);
	if (rc2 == ROTOR_ENOMEM)
		return rotor_error_set(err, rc2, "out of memory checking manifests");
	if (cfg && rotor_manifest_set_check_config(set, cfg, diags) != 0)
		rc2 = ROTOR_EINVALID;
	return rc ? rc : rc2;
}
