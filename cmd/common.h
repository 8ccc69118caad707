/* common.h: what every manifest-reading command shares: finding and loading
 * the controller config and the manifests, the same way everywhere. */
#ifndef ROTOR_CMD_COMMON_H
#define ROTOR_CMD_COMMON_H

#include <stddef.h>

#include "rotor/config.h"
#include "rotor/diag.h"
#include "rotor/manifest.h"

/* The config path: --config, then $ROTOR_CONFIG, then (when use_default)
 * ./rotor.yaml if it exists. NULL when none applies. */
const char *cmd_config_path(const char *flag, int use_default);

/* Reads and parses the config at path; problems go to diags. */
int cmd_load_config(const char *path, struct rotor_config **out, struct rotor_diags *diags);

/* For commands without a session (controller, discover): the config from
 * --config/$ROTOR_CONFIG/./rotor.yaml, parsed and its secrets resolved;
 * problems printed on stderr. Returns EXIT_OK with *out and *path set, or
 * the exit status to return (EXIT_USAGE: no config; EXIT_INVALID). */
int cmd_config_resolved(const char *command, const char *flag, const char **path,
                        struct rotor_config **out);

/* Loads the manifests from PATHs, or from the config's source when there
 * are none. Returns 0, ROTOR_EINVALID (diags say why) or another error
 * with a message in why. */
int cmd_load_manifests(struct rotor_manifest_set *set, char *const *paths, size_t npaths,
                       const struct rotor_config *cfg, const char *revision, char commit[41],
                       struct rotor_diags *diags, char *why, size_t why_len);

/* Parses a whole number 0..1000000 (flags like --max-deletions); -1 if not. */
int cmd_parse_count(const char *s);

#endif
