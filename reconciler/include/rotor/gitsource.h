/*
 * gitsource.h: manifests from git (libgit2), as (origin, bytes) like every
 * source: the config's `source:` block fetched into a bare cache repository
 * (reused between runs, so only new objects come over the wire), and read
 * straight from a commit's tree at `path` — no checkout, no working
 * directory. `rotor diff` reads two commits of a local repository the same
 * way.
 *
 * Origins are "PATH@SHORTSHA" (the file's path in the repository), so a
 * diagnostic reads "manifests/app.yaml@4f2a9c1:7:9: ...".
 * Auth: HTTPS with a token (basic auth, user x-access-token), SSH with a
 * private key and a pinned known_hosts file (an unknown or changed host key
 * is refused, naming the fingerprint seen), file:// and local paths. A
 * credential never appears in a URL, a log line or an error.
 * Limits: blobs over ROTOR_SOURCE_FILE_MAX are reported, not read;
 * ROTOR_GIT_MAX_FILES manifest files at most; symbolic links and
 * submodules are skipped with a warning.
 *
 * Thread rules: each call opens its own repository handles; two processes
 * share a cache under an flock. Any thread, one call at a time per cache.
 */
#ifndef ROTOR_GITSOURCE_H
#define ROTOR_GITSOURCE_H

#include <stddef.h>

#include "rotor/diag.h"
#include "rotor/error.h"
#include "rotor/source.h"

#define ROTOR_GIT_MAX_FILES 20000
#define ROTOR_GIT_MAX_ENTRIES 200000 /* tree entries visited, of any kind */
#define ROTOR_GIT_MAX_DEPTH 32       /* directory levels below the walked path */

struct rotor_config;
struct rotor_secret;

struct rotor_git_source {
	const char *url;
	const char *branch;    /* default "main" */
	const char *path;      /* a directory in the repository; "" the root */
	const char *cache_dir; /* where bare caches live; NULL: rotor_git_default_cache */
	const struct rotor_secret *token;   /* https */
	const struct rotor_secret *ssh_key; /* ssh: the private key's PEM/OpenSSH text */
	const char *known_hosts;            /* ssh: the pinned host keys */
	/* source.verify: refuse a commit not signed by a trusted key */
	const char *verify_allowed_signers; /* SSH signatures (ssh-keygen -Y verify) */
	const char *verify_gpg_keyring;     /* OpenPGP signatures (gpgv) */
};

/* The config's `source:` block as a source (borrowing cfg's strings and
 * secrets: valid while cfg is). */
void rotor_git_source_of(const struct rotor_config *cfg, struct rotor_git_source *src);

/* $XDG_CACHE_HOME/rotor/git, ~/.cache/rotor/git, or /var/lib/rotor/git for
 * root. */
void rotor_git_default_cache(char *buf, size_t len);

/* Fetches src's branch into its cache; *head gets the branch head's commit
 * id (40 hex). Errors say what to fix: a branch that does not exist, an
 * unreachable remote, an authentication failure, an unknown or changed
 * host key. */
int rotor_git_fetch(const struct rotor_git_source *src, char head[41], struct rotor_error *err);

/* Hands on every manifest file (*.yaml, *.yml; hidden entries skipped)
 * under src->path in commit rev (a commit id, a ref, or NULL for the
 * fetched branch head) of src's cache; *commit gets the commit id read. A
 * path not in the tree is an error naming the path and the commit. */
int rotor_git_walk(const struct rotor_git_source *src, const char *rev, char commit[41],
                   rotor_source_emit_fn emit, void *ctx, struct rotor_diags *diags,
                   struct rotor_error *err);

/* The same over the repository containing dir (as `git diff` finds it),
 * narrowed to paths (repository-relative prefixes; none: the whole tree). */
int rotor_git_walk_local(const char *dir, const char *rev, char *const *paths, size_t npaths,
                         char commit[41], rotor_source_emit_fn emit, void *ctx,
                         struct rotor_diags *diags, struct rotor_error *err);

#endif
