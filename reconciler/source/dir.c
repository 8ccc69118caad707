/*
 * dir.c: manifest files from disk: files and directory trees, handed on as
 * (origin, bytes); parsing is desired/'s (a git source hands on the same).
 *
 * A walk is deterministic (entries sorted by name) so diagnostics come out
 * in the same order on every machine. Symbolic links are followed only when
 * their target stays inside the directory given on the command line: a
 * manifest tree must not be able to pull in files from elsewhere.
 */
#include "rotor/source.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rotor/error.h"

#define WALK_MAX_DEPTH 32

/* Reads a whole file; err's message is the reason alone ("cannot open: No
 * such file or directory"), for a diagnostic that names the path itself. */
static int read_file(char **out, size_t *len, const char *path, size_t max, struct rotor_error *err)
{
	FILE *f = fopen(path, "rb");
	*out = NULL;
	*len = 0;
	if (!f)
		return rotor_error_set(err, ROTOR_EIO, "cannot open: %s", strerror(errno));
	size_t cap = 8192, n = 0;
	char *data = malloc(cap);
	int rc = 0;
	while (data) {
		if (n == cap - 1) {
			if (n > max) {
				rc = rotor_error_set(err, ROTOR_ELIMIT, "larger than %zu bytes",
				                     max);
				goto done;
			}
			char *bigger = realloc(data, cap * 2);
			if (!bigger)
				break;
			data = bigger;
			cap *= 2;
		}
		size_t got = fread(data + n, 1, cap - 1 - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (!data) {
		rc = rotor_error_set(err, ROTOR_ENOMEM, "out of memory reading it");
		goto done;
	}
	if (ferror(f)) {
		rc = rotor_error_set(err, ROTOR_EIO, "read error: %s", strerror(errno));
		goto done;
	}
	if (n > max) {
		rc = rotor_error_set(err, ROTOR_ELIMIT, "larger than %zu bytes", max);
		goto done;
	}
	data[n] = '\0';
	*out = data;
	*len = n;
	data = NULL;
done:
	free(data);
	fclose(f);
	return rc;
}

int rotor_source_read_file(char **out, size_t *len, const char *path, size_t max,
                           struct rotor_error *err)
{
	int rc = read_file(out, len, path, max, err);
	if (rc)
		rotor_error_prefix(err, "%s", path);
	return rc;
}

static int has_yaml_ext(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Reads one file and hands its bytes on. A file that cannot be read is a
 * diagnostic at its path, with the system's reason. */
static int load_file(const char *path, rotor_source_emit_fn emit, void *ctx,
                     struct rotor_diags *diags)
{
	char *data = NULL;
	size_t len = 0;
	struct rotor_error err;
	rotor_error_clear(&err);
	/* Read one byte past the cap so the parser reports the size itself. */
	int rc = read_file(&data, &len, path, ROTOR_SOURCE_FILE_MAX + 1, &err);
	if (rc == ROTOR_ELIMIT) {
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, path, 0, 0,
		                "file is larger than %zu bytes; split it",
		                (size_t)ROTOR_SOURCE_FILE_MAX);
		return ROTOR_EINVALID;
	}
	if (rc) {
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, path, 0, 0, "%s", err.message);
		return rc == ROTOR_ENOMEM ? rc : ROTOR_EINVALID;
	}
	rc = emit(ctx, path, data, len, diags);
	free(data);
	return rc;
}

/* The --config file may sit among the manifests (manifests/rotor.yaml is
 * the example); it is the config, so the walk does not read it again. */
static int is_skipped(const char *skip_path, const struct stat *st)
{
	struct stat skip;
	return skip_path && stat(skip_path, &skip) == 0 && skip.st_dev == st->st_dev &&
	       skip.st_ino == st->st_ino;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory and file the walk has read, by (device, inode): symbolic
 * links inside the tree are followed, so `a -> .` and `b -> .` would
 * otherwise make the walk take 2^depth steps (git stores links, so a pull
 * request can do this), and a file linked twice would be read twice. */
struct seen {
	struct {
		dev_t dev;
		ino_t ino;
	} * items;
	size_t n, cap;
};

/* 1 when st was seen before; else records it and returns 0 (-1: no memory). */
static int seen_check(struct seen *s, const struct stat *st)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->items[i].dev == st->st_dev && s->items[i].ino == st->st_ino)
			return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *bigger = realloc(s->items, cap * sizeof(*s->items));
		if (!bigger)
			return -1;
		s->items = bigger;
		s->cap = cap;
	}
	s->items[s->n].dev = st->st_dev;
	s->items[s->n++].ino = st->st_ino;
	return 0;
}

/* What one walk carries down the tree. */
struct walk_ctx {
	const char *skip_path;
	rotor_source_emit_fn emit;
	void *ctx;
	struct seen seen;
};

static int walk(struct walk_ctx *w, const char *root_real, const char *dir, int depth,
                struct rotor_diags *diags)
{
	int rc = 0;
	if (depth > WALK_MAX_DEPTH) {
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, dir, 0, 0,
		                "directories nested deeper than %d levels", WALK_MAX_DEPTH);
		return ROTOR_EINVALID;
	}
	DIR *d = opendir(dir);
	if (!d) {
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, dir, 0, 0, "cannot read directory: %s",
		                strerror(errno));
		return ROTOR_EINVALID;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue; /* ., .., .git and other hidden entries */
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **bigger = realloc(names, cap * sizeof(*names));
			if (!bigger) {
				rc = ROTOR_ENOMEM;
				goto done;
			}
			names = bigger;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			rc = ROTOR_ENOMEM;
			goto done;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			char real[PATH_MAX];
			size_t rl = strlen(root_real);
			if (!realpath(path, real) || strncmp(real, root_real, rl) != 0 ||
			    (real[rl] != '/' && real[rl] != '\0')) {
				if (S_ISDIR(st.st_mode) || has_yaml_ext(names[i]))
					rotor_diags_add(diags, ROTOR_DIAG_WARNING, path, 0, 0,
					                "skipped: symbolic link to a place outside "
					                "%s (or a broken link)",
					                root_real);
				continue;
			}
			if (stat(path, &st) != 0)
				continue;
		}
		int r = 0;
		if (is_skipped(w->skip_path, &st))
			continue;
		if (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && has_yaml_ext(names[i]))) {
			int again = seen_check(&w->seen, &st);
			if (again < 0) {
				rc = ROTOR_ENOMEM;
				goto done;
			}
			if (again) {
				rotor_diags_add(diags, ROTOR_DIAG_WARNING, path, 0, 0,
				                "skipped: a symbolic link to a %s already read",
				                S_ISDIR(st.st_mode) ? "directory" : "file");
				continue;
			}
		}
		if (S_ISDIR(st.st_mode))
			r = walk(w, root_real, path, depth + 1, diags);
		else if (S_ISREG(st.st_mode) && has_yaml_ext(names[i]))
			r = load_file(path, w->emit, w->ctx, diags);
		if (r == ROTOR_ENOMEM) {
			rc = r;
			goto done;
		}
		if (r && !rc)
			rc = r;
	}
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int rotor_source_walk(char *const *paths, size_t npaths, const char *skip_path,
                      rotor_source_emit_fn emit, void *ctx, struct rotor_diags *diags)
{
	int rc = 0;
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		int r;
		if (stat(paths[i], &st) != 0) {
			rotor_diags_add(diags, ROTOR_DIAG_ERROR, paths[i], 0, 0, "%s",
			                strerror(errno));
			r = ROTOR_EINVALID;
		} else if (S_ISDIR(st.st_mode)) {
			char real[PATH_MAX];
			char dir[PATH_MAX];
			snprintf(dir, sizeof(dir), "%s", paths[i]);
			size_t l = strlen(dir);
			while (l > 1 && dir[l - 1] == '/')
				dir[--l] = '\0';
			struct walk_ctx w = {skip_path, emit, ctx, {NULL, 0, 0}};
			if (!realpath(dir, real)) {
				rotor_diags_add(diags, ROTOR_DIAG_ERROR, dir, 0, 0, "%s",
				                strerror(errno));
				r = ROTOR_EINVALID;
			} else if (seen_check(&w.seen, &st) < 0) {
				r = ROTOR_ENOMEM;
			} else {
				r = walk(&w, real, dir, 0, diags);
			}
			free(w.seen.items);
		} else {
			r = load_file(paths[i], emit, ctx, diags);
		}
		if (r == ROTOR_ENOMEM)
			return r;
		if (r && !rc)
			rc = r;
	}
	return rc;
}
