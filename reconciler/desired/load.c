/* load.c: manifests from a source into a set — the source hands on bytes,
 * the manifest parser reads them. */
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
