/*
 * source.h: where manifests come from. Today: files and directories on
 * disk (the git source of the controller comes later). The source reads
 * bytes and hands them to rotor_manifest_parse; it never interprets them.
 */
#ifndef ROTOR_SOURCE_H
#define ROTOR_SOURCE_H

#include <stddef.h>

#include "rotor/diag.h"
#include "rotor/error.h"
#include "rotor/manifest.h"

/* Loads every PATH: a file is parsed whatever its name; a directory is
 * walked recursively, in name order, for *.yaml and *.yml, skipping hidden
 * entries and symbolic links that lead outside it. Problems are added to
 * diags. Returns 0 when nothing went wrong, ROTOR_EINVALID when a manifest
 * or a path had an error, ROTOR_ENOMEM. */
int rotor_source_load_paths(struct rotor_manifest_set *set, char *const *paths, size_t npaths,
                            struct rotor_diags *diags);

/* Reads a whole file, at most max bytes (more is ROTOR_ELIMIT). The caller
 * frees *out. Errors name the path and the system's reason in err. */
int rotor_source_read_file(char **out, size_t *len, const char *path, size_t max,
                           struct rotor_error *err);

#endif
