/* load.c: manifests from a source into a set — the source hands on bytes,
 * the manifest parser reads them. */
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
