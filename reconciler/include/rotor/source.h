/*
 * source.h: where manifests come from: files and directories on disk
 * (here), or a git repository (rotor/gitsource.h). A source reads
 * bytes and hands them on as (origin, bytes); it never interprets them:
 * parsing is desired/'s (rotor_manifest_load composes the two).
 */
/* Thread rules: a walk runs on its caller's thread; it keeps no state between walks. */
#ifndef ROTOR_SOURCE_H
#define ROTOR_SOURCE_H

#include <stddef.h>

#include "rotor/diag.h"
#include "rotor/error.h"
#include "rotor/manifest.h"

/* The largest manifest file a source hands on (one byte more is read, so
 * that the parser can say the file is too large). */
#define ROTOR_SOURCE_FILE_MAX ROTOR_MANIFEST_FILE_MAX

/* Where a source hands each manifest file: its origin (a path, later
 * "path@sha") and its bytes, NUL-terminated, valid during the call. */
typedef int (*rotor_source_emit_fn)(void *ctx, const char *origin, const char *data, size_t len,
                                    struct rotor_diags *diags);

/* Walks every PATH: a file is handed on whatever its name; a directory is
 * walked recursively, in name order, for *.yaml and *.yml, skipping hidden
 * entries, skip_path (the config, when it sits among the manifests),
 * symbolic links that lead outside it, and anything already read (by
 * device and inode: links back into the tree). Problems are added to
 * diags. Returns 0, ROTOR_EINVALID when a path or what emit said had an
 * error, ROTOR_ENOMEM. */
int rotor_source_walk(char *const *paths, size_t npaths, const char *skip_path,
                      rotor_source_emit_fn emit, void *ctx, struct rotor_diags *diags);

/* Reads a whole file, at most max bytes (more is ROTOR_ELIMIT). The caller
 * frees *out. Errors name the path and the system's reason in err. */
int rotor_source_read_file(char **out, size_t *len, const char *path, size_t max,
                           struct rotor_error *err);

#endif
