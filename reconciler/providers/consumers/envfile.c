/*
 * envfile.c: the envFile consumer. Keeps the pair in a dotenv file on this
 * machine (NAME=value lines, every other line kept as it is), inside a
 * directory the controller config allows; after each write runs the
 * config's named reload command (reload.c) and reads the file back.
 * Contract: ../shared/design/rotation.md §2 (envFiles) and §4 step 5.
 *
 * The path comes from a manifest, which a pull request can change, so every
 * call checks it again, lexically (absolute, no '.' or '..', below an
 * allowed directory) and on disk (no symbolic link below the allowed
 * directory), and then works only through descriptors: each directory
 * below the allowed one is opened with O_NOFOLLOW, the file is read with
 * O_NOFOLLOW, and the new content goes to a fresh temp file (O_EXCL) in the
 * same directory that renameat puts over the old one, all relative to the
 * directory's descriptor. Swapping a component for a link between the
 * check and the write therefore fails the write instead of redirecting it.
 *
 * The file holds the secret, so every buffer that held its content is wiped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "providers/consumers/consumer.h"
#include "providers/consumers/envfile.h"
#include "providers/consumers/reload.h"
#include "rotor/clock.h"
#include "rotor/config.h"
#include "rotor/log.h"
#include "rotor/manifest.h"
#include "rotor/secret.h"
#include "util/buf.h"

#define ENVFILE_MAX ROTOR_ENVFILE_MAX
#define TEMP_TRIES 8

/* ---- path safety --------------------------------------------------------- */

/* Where the file lives, once its path has passed the checks. */
struct target {
	int dirfd;               /* the file's directory; -1 when a directory is missing */
	size_t missing_len;      /* then: the length of the path's missing directory */
	char base[NAME_MAX + 1]; /* the file's name inside dirfd */
};

/* The allowed directories, comma-separated, for messages. */
static void allowed_list(const struct rotor_config *cfg, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; cfg && i < cfg->nallowed_dirs; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", cfg->allowed_dirs[i]);
	}
	if (!buf[0])
		snprintf(buf, len, "none configured");
}

static int refuse(struct rotor_error *err, const struct rotor_config *cfg, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Refuses the path with ROTOR_EINVALID, naming it and the allowed dirs. */
static int refuse(struct rotor_error *err, const struct rotor_config *cfg, const char *path,
                  const char *fmt, ...)
{
	char why[256], list[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	allowed_list(cfg, list, sizeof(list));
	return rotor_error_set(err, ROTOR_EINVALID,
	                       "envFile \"%s\" refused: %s; env files must lie inside an allowed "
	                       "directory (envFiles.allowedDirs: %s) with no '.', '..' or symbolic "
	                       "link below it",
	                       path, why, list);
}

static int has_dot_component(const char *path)
{
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		p += n;
	}
	return 0;
}

/* The length of dir (without trailing slashes) when path lies lexically
 * below it, else 0. */
static size_t inside_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 0 || strncmp(path, dir, n) != 0 || path[n] != '/')
		return 0;
	return n;
}

size_t rotor_envfile_allowed_dir(const struct rotor_config *files, const char *path)
{
	size_t n = 0;
	if (!path || has_dot_component(path))
		return 0;
	for (size_t i = 0; files && i < files->nallowed_dirs && !n; i++)
		n = inside_dir(path, files->allowed_dirs[i]);
	return n;
}

static void target_close(struct target *t)
{
	if (t->dirfd >= 0)
		close(t->dirfd);
	t->dirfd = -1;
}

/* The lexical checks: path is absolute, has no '.' or '..' component, names
 * a file below an allowed directory. *dir_len is that directory's length. */
static int path_check(const struct rotor_config *cfg, const char *path, size_t *dir_len,
                      struct rotor_error *err)
{
	*dir_len = 0;
	if (!path || path[0] != '/')
		return refuse(err, cfg, path ? path : "(none)", "the path is not absolute");
	if (strlen(path) >= PATH_MAX)
		return refuse(err, cfg, path, "the path is too long");
	if (has_dot_component(path))
		return refuse(err, cfg, path, "'.' and '..' are not allowed");
	*dir_len = rotor_envfile_allowed_dir(cfg, path);
	if (!*dir_len)
		return refuse(err, cfg, path, "it is not inside an allowed directory");
	const char *last = strrchr(path, '/') + 1;
	if (!*last)
		return refuse(err, cfg, path, "the path names a directory, not a file");
	if (strlen(last) > NAME_MAX)
		return refuse(err, cfg, path, "the file name is too long");
	return 0;
}

/* Opens the directory that holds path, one component at a time below the
 * allowed directory, refusing any symbolic link. The allowed directory
 * itself comes from the operator's config and is trusted as it is. A
 * missing directory is not an error: t->dirfd is then -1. */
static int target_open(const struct rotor_config *cfg, const char *path, struct target *t,
                       struct rotor_error *err)
{
	char buf[PATH_MAX];
	size_t n;
	t->dirfd = -1;
	t->missing_len = 0;
	t->base[0] = '\0';
	int rc = path_check(cfg, path, &n, err);
	if (rc)
		return rc;
	const char *last = strrchr(path, '/') + 1;
	memcpy(t->base, last, strlen(last) + 1);
	memcpy(buf, path, strlen(path) + 1);

	buf[n] = '\0';
	t->dirfd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		if (errno != ENOENT)
			return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": cannot open %s: %s",
			                       path, buf, strerror(errno));
		t->missing_len = n;
		return 0;
	}
	buf[n] = '/';
	for (size_t i = n + 1; path + i < last; i++) {
		if (path[i] == '/')
			continue; /* an empty component ("//") */
		size_t start = i;
		while (path[i] != '/')
			i++;
		buf[i] = '\0';
		const char *comp = buf + start;
		struct stat st;
		if (fstatat(t->dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			int e = errno;
			target_close(t);
			if (e == ENOENT) {
				t->missing_len = i;
				return 0;
			}
			return rotor_error_set(err, ROTOR_EIO,
			                       "envFile \"%s\": cannot inspect %s: %s", path, buf,
			                       strerror(e));
		}
		if (S_ISLNK(st.st_mode)) {
			target_close(t);
			return refuse(err, cfg, path, "%s is a symbolic link", buf);
		}
		if (!S_ISDIR(st.st_mode)) {
			target_close(t);
			return refuse(err, cfg, path, "%s is not a directory", buf);
		}
		/* O_NOFOLLOW closes the window between fstatat and here. */
		int fd = openat(t->dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(t->dirfd);
		t->dirfd = fd;
		if (fd < 0) {
			if (e == ELOOP || e == ENOTDIR)
				return refuse(err, cfg, path, "%s is a symbolic link", buf);
			return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": cannot open %s: %s",
			                       path, buf, strerror(e));
		}
		buf[i] = '/';
	}
	return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* Opens the file itself for reading, without following a link. *fd is -1
 * (and the return 0) when the file does not exist. */
static int file_open(const struct rotor_config *cfg, const char *path, const struct target *t,
                     int *fd, struct stat *st, struct rotor_error *err)
{
	*fd = -1;
	if (fstatat(t->dirfd, t->base, st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": cannot inspect: %s", path,
		                       strerror(errno));
	}
	if (S_ISLNK(st->st_mode))
		return refuse(err, cfg, path, "the file is a symbolic link");
	if (!S_ISREG(st->st_mode))
		return refuse(err, cfg, path, "it is not a regular file");
	/* O_NONBLOCK: a FIFO swapped in after fstatat must not hang the pass. */
	*fd = openat(t->dirfd, t->base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 0;
		if (e == ELOOP)
			return refuse(err, cfg, path, "the file is a symbolic link");
		return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": cannot open: %s", path,
		                       strerror(e));
	}
	if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(*fd);
		*fd = -1;
		return refuse(err, cfg, path, "it is not a regular file");
	}
	return 0;
}

/* Reads the whole file into out (capped at ENVFILE_MAX). */
static int file_read(int fd, const char *path, const struct stat *st, struct rotor_buf *out,
                     struct rotor_error *err)
{
	char chunk[8192];
	int rc = 0;
	if ((uint64_t)st->st_size > ENVFILE_MAX)
		return rotor_error_set(
		    err, ROTOR_ELIMIT,
		    "envFile \"%s\" is %lld bytes, more than the %zu bytes rotor reads", path,
		    (long long)st->st_size, ENVFILE_MAX);
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": read error: %s", path,
			                     strerror(errno));
			break;
		}
		if (got == 0)
			break;
		if (rotor_buf_append(out, chunk, (size_t)got) != 0) {
			rc = rotor_error_set(err, ROTOR_ELIMIT,
			                     "envFile \"%s\" grew past the %zu bytes rotor reads",
			                     path, ENVFILE_MAX);
			break;
		}
	}
	rotor_wipe(chunk, sizeof(chunk));
	return rc;
}

/* Loads the file's content and status; *exists is 0 when there is none. */
static int file_load(const struct rotor_config *cfg, const char *path, const struct target *t,
                     struct rotor_buf *content, struct stat *st, int *exists,
                     struct rotor_error *err)
{
	int fd = -1;
	int rc = file_open(cfg, path, t, &fd, st, err);
	*exists = fd >= 0;
	if (rc || fd < 0)
		return rc;
	rc = file_read(fd, path, st, content, err);
	close(fd);
	return rc;
}

/* ---- the dotenv format --------------------------------------------------- */

/* One line of the file, or several when a quoted value spans lines. Offsets
 * are into the content; the entry is an assignment when name_len > 0. */
struct entry {
	size_t start; /* the line's first byte */
	size_t end;   /* one past the entry's last line, before its '\n' */
	size_t next;  /* where the next entry starts */
	size_t name, name_len;
	size_t value;     /* the value as written, quotes included ... */
	size_t value_end; /* ... up to here; a comment or blanks may follow */
	int malformed;    /* an unterminated quote, or text after the closing one */
};

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static int is_name_char(char ch, int first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
	       (!first && ch >= '0' && ch <= '9');
}

static size_t skip_blanks(const char *d, size_t end, size_t p)
{
	while (p < end && is_blank(d[p]))
		p++;
	return p;
}

static size_t line_end(const char *d, size_t len, size_t p)
{
	const char *nl = memchr(d + p, '\n', len - p);
	return nl ? (size_t)(nl - d) : len;
}

/* The closing quote of the value opening at q, or len if there is none. */
static size_t quote_close(const char *d, size_t len, size_t q)
{
	for (size_t p = q + 1; p < len; p++) {
		if (d[q] == '"' && d[p] == '\\')
			p++;
		else if (d[p] == d[q])
			return p;
	}
	return len;
}

/* Finds where the value starting at e->value ends, and so the entry. */
static void entry_value(const char *d, size_t len, struct entry *e)
{
	size_t p = e->value;
	if (p < e->end && (d[p] == '"' || d[p] == '\'')) {
		size_t close = quote_close(d, len, p);
		if (close >= len) {
			e->malformed = 1;
			e->value_end = e->end;
			return;
		}
		e->value_end = close + 1;
		if (close > e->end) {
			e->end = line_end(d, len, close);
			e->next = e->end < len ? e->end + 1 : len;
		}
		size_t r = skip_blanks(d, e->end, e->value_end);
		if (r < e->end && d[r] != '#')
			e->malformed = 1;
		return;
	}
	/* Unquoted: up to a comment (a '#' after a blank) or the line's end. */
	size_t q = p;
	while (q < e->end && !(d[q] == '#' && q > p && is_blank(d[q - 1])))
		q++;
	while (q > p && is_blank(d[q - 1]))
		q--;
	e->value_end = q;
}

/* Reads the entry starting at pos: "[export ]NAME = value", or any other
 * line (name_len 0). */
static void entry_next(const char *d, size_t len, size_t pos, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	e->start = pos;
	e->end = line_end(d, len, pos);
	e->next = e->end < len ? e->end + 1 : len;
	size_t p = skip_blanks(d, e->end, pos);
	if (e->end - p > 6 && memcmp(d + p, "export", 6) == 0 && is_blank(d[p + 6]))
		p = skip_blanks(d, e->end, p + 6);
	size_t n = p;
	while (n < e->end && is_name_char(d[n], n == p))
		n++;
	size_t eq = skip_blanks(d, e->end, n);
	if (n == p || eq >= e->end || d[eq] != '=')
		return;
	e->name = p;
	e->name_len = n - p;
	e->value = skip_blanks(d, e->end, eq + 1);
	entry_value(d, len, e);
}

static int entry_is(const char *d, const struct entry *e, const char *name)
{
	return e->name_len && e->name_len == strlen(name) &&
	       memcmp(d + e->name, name, e->name_len) == 0;
}

/* Decodes the entry's value into out: single quotes literal, double quotes
 * with backslash escapes, unquoted as written. */
static int value_decode(const char *d, const struct entry *e, struct rotor_buf *out)
{
	size_t p = e->value, end = e->value_end;
	int rc = 0;
	rotor_buf_reset(out);
	if (p < end && d[p] == '\'' && !e->malformed)
		return rotor_buf_append(out, d + p + 1, end - p - 2);
	if (!(p < end && d[p] == '"' && !e->malformed))
		return rotor_buf_append(out, d + p, end - p);
	for (p++, end--; p < end && !rc; p++) {
		char ch = d[p];
		if (ch == '\\' && p + 1 < end) {
			switch (d[++p]) {
			case 'n':
				ch = '\n';
				break;
			case 'r':
				ch = '\r';
				break;
			case 't':
				ch = '\t';
				break;
			case '\\':
			case '"':
			case '$':
			case '`':
				ch = d[p];
				break;
			default:
				rc = rotor_buf_append(out, "\\", 1);
				ch = d[p];
				break;
			}
		}
		if (!rc)
			rc = rotor_buf_append(out, &ch, 1);
	}
	return rc;
}

/* Values of only these characters (AWS keys among them) are written bare. */
static int value_is_plain(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(v[i], 0) && (!v[i] || !strchr("+/=.-", v[i])))
			return 0;
	return 1;
}

/* Appends the value as the file holds it: bare, or double-quoted. */
static int value_encode(struct rotor_buf *out, const char *v, size_t len)
{
	int rc = 0;
	if (value_is_plain(v, len))
		return rotor_buf_append(out, v, len);
	rc = rotor_buf_append(out, "\"", 1);
	for (size_t i = 0; i < len && !rc; i++) {
		const char *esc = NULL;
		switch (v[i]) {
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '"':
			esc = "\\\"";
			break;
		case '$':
			esc = "\\$";
			break;
		case '`':
			esc = "\\`";
			break;
		default:
			break;
		}
		rc = esc ? rotor_buf_puts(out, esc) : rotor_buf_append(out, v + i, 1);
	}
	return rc ? rc : rotor_buf_append(out, "\"", 1);
}

/* ---- comparing and building ---------------------------------------------- */

enum var_state { VAR_MISSING = 0, VAR_EQUAL = 1, VAR_DIFFERS = 2 };

/* The variable names: the pair's, else the consumer's, else the defaults. */
struct names {
	const char *akid;
	const char *secret;
};

static int names_resolve(const struct rotor_consumer_ref *c, const struct rotor_consumer_pair *pair,
                         struct names *n, struct rotor_error *err)
{
	n->akid = pair->akid_name ? pair->akid_name
	          : c->akid_name  ? c->akid_name
	                          : ROTOR_DEFAULT_AKID_NAME;
	n->secret = pair->secret_name ? pair->secret_name
	            : c->secret_name  ? c->secret_name
	                              : ROTOR_DEFAULT_SECRET_NAME;
	const char *both[2] = {n->akid, n->secret};
	for (int i = 0; i < 2; i++) {
		const char *s = both[i];
		size_t k = 0;
		while (s[k] && is_name_char(s[k], k == 0))
			k++;
		if (k == 0 || s[k])
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "envFile \"%s\": \"%s\" is not a valid variable name", c->path, s);
	}
	if (strcmp(n->akid, n->secret) == 0)
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "envFile \"%s\": the key id and the secret share the name %s", c->path,
		    n->akid);
	if (!pair->akid || !pair->secret)
		return rotor_error_set(err, ROTOR_EINTERNAL, "envFile \"%s\": no pair to compare",
		                       c->path);
	return 0;
}

/* Compares every assignment of the two names with the pair (the secret in
 * constant time). A name set twice must hold the pair both times, so that
 * readers that take the first and readers that take the last agree. */
static int content_compare(const struct rotor_buf *content, const struct names *n,
                           const struct rotor_consumer_pair *want, enum var_state *akid,
                           enum var_state *secret)
{
	struct rotor_buf value;
	struct entry e;
	int rc = 0;
	const char *d = content->data ? content->data : "";
	size_t akid_len = strlen(want->akid);
	rotor_buf_init(&value, ENVFILE_MAX);
	*akid = *secret = VAR_MISSING;
	for (size_t pos = 0; pos < content->len && !rc; pos = e.next) {
		entry_next(d, content->len, pos, &e);
		int is_akid = entry_is(d, &e, n->akid);
		if (!is_akid && !entry_is(d, &e, n->secret))
			continue;
		rc = value_decode(d, &e, &value);
		if (rc)
			break;
		enum var_state *st = is_akid ? akid : secret;
		int equal =
		    is_akid ? value.len == akid_len && memcmp(value.data, want->akid, akid_len) == 0
		            : rotor_secret_equal_bytes(want->secret, value.data, value.len);
		if (!equal || e.malformed)
			*st = VAR_DIFFERS;
		else if (*st == VAR_MISSING)
			*st = VAR_EQUAL;
	}
	rotor_buf_dispose(&value);
	return rc;
}

/* "NAME differs; NAME is missing": which variables are off, never values. */
static void drift_describe(char *detail, size_t len, const struct names *n, enum var_state akid,
                           enum var_state secret)
{
	static const char *const how[] = {"is missing", "", "differs"};
	if (akid != VAR_EQUAL && secret != VAR_EQUAL)
		snprintf(detail, len, "%s %s; %s %s", n->akid, how[akid], n->secret, how[secret]);
	else if (akid != VAR_EQUAL)
		snprintf(detail, len, "%s %s", n->akid, how[akid]);
	else
		snprintf(detail, len, "%s %s", n->secret, how[secret]);
}

/* Appends "NAME=value\n". */
static int line_append(struct rotor_buf *out, const char *name, const char *v, size_t len)
{
	int rc = rotor_buf_puts(out, name);
	if (!rc)
		rc = rotor_buf_append(out, "=", 1);
	if (!rc)
		rc = value_encode(out, v, len);
	return rc ? rc : rotor_buf_append(out, "\n", 1);
}

/* The new content: old with the two values replaced where they are set
 * (everything else on those lines kept), the missing ones appended. */
static int content_build(const struct rotor_buf *old, const struct names *n,
                         const struct rotor_consumer_pair *pair, struct rotor_buf *out)
{
	const char *d = old->data ? old->data : "";
	const char *secret = rotor_secret_bytes(pair->secret);
	size_t secret_len = rotor_secret_len(pair->secret);
	int seen_akid = 0, seen_secret = 0, rc = 0;
	struct entry e;
	for (size_t pos = 0; pos < old->len && !rc; pos = e.next) {
		entry_next(d, old->len, pos, &e);
		int is_akid = entry_is(d, &e, n->akid);
		int is_secret = !is_akid && entry_is(d, &e, n->secret);
		if (!is_akid && !is_secret) {
			rc = rotor_buf_append(out, d + e.start, e.next - e.start);
			continue;
		}
		seen_akid |= is_akid;
		seen_secret |= is_secret;
		rc = rotor_buf_append(out, d + e.start, e.value - e.start);
		if (!rc)
			rc = is_akid ? value_encode(out, pair->akid, strlen(pair->akid))
			             : value_encode(out, secret, secret_len);
		/* Text after a closing quote makes the entry malformed; kept, it
		 * would make the new value unreadable too, so a malformed value
		 * is replaced to the end of its line, as an unterminated one is.
		 * A comment may touch a closing quote, but after a bare value
		 * it needs a blank before it. */
		size_t tail = e.malformed ? e.end : e.value_end;
		if (!rc && tail < e.end && d[tail] == '#')
			rc = rotor_buf_append(out, " ", 1);
		if (!rc)
			rc = rotor_buf_append(out, d + tail, e.next - tail);
	}
	if (!rc && (!seen_akid || !seen_secret) && old->len && d[old->len - 1] != '\n')
		rc = rotor_buf_append(out, "\n", 1);
	if (!rc && !seen_akid)
		rc = line_append(out, n->akid, pair->akid, strlen(pair->akid));
	if (!rc && !seen_secret)
		rc = line_append(out, n->secret, secret, secret_len);
	return rc;
}

/* ---- the same for a file elsewhere (sshfile.c) ----------------------------- */

int rotor_envfile_content_state(const struct rotor_buf *content, const struct rotor_consumer_ref *c,
                                const struct rotor_consumer_pair *want,
                                enum rotor_consumer_state *state, char *detail, size_t len,
                                struct rotor_error *err)
{
	struct names n;
	enum var_state akid, secret;
	int rc = names_resolve(c, want, &n, err);
	if (rc)
		return rc;
	if (content_compare(content, &n, want, &akid, &secret) != 0)
		return rotor_error_set(err, ROTOR_ENOMEM, "envFile \"%s\": out of memory comparing",
		                       c->path);
	*state = akid == VAR_EQUAL && secret == VAR_EQUAL ? ROTOR_CONSUMER_IN_SYNC
	                                                  : ROTOR_CONSUMER_DRIFTED;
	if (*state == ROTOR_CONSUMER_DRIFTED)
		drift_describe(detail, len, &n, akid, secret);
	return 0;
}

int rotor_envfile_content_with(const struct rotor_buf *old, const struct rotor_consumer_ref *c,
                               const struct rotor_consumer_pair *pair, struct rotor_buf *out,
                               struct rotor_error *err)
{
	struct names n;
	enum var_state akid, secret;
	int rc = names_resolve(c, pair, &n, err);
	if (rc)
		return rc;
	rc = content_build(old, &n, pair, out);
	if (rc == ROTOR_ELIMIT)
		return rotor_error_set(err, rc,
		                       "envFile \"%s\": the new content would pass %zu bytes",
		                       c->path, ENVFILE_MAX);
	if (rc || content_compare(out, &n, pair, &akid, &secret) != 0)
		return rotor_error_set(err, ROTOR_ENOMEM, "envFile \"%s\": out of memory", c->path);
	if (akid != VAR_EQUAL || secret != VAR_EQUAL)
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "envFile \"%s\": the file's other lines would garble the pair "
		    "rotor writes (a quote opened and never closed?): fix the file; "
		    "nothing was written",
		    c->path);
	return 0;
}

/* ---- writing ------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Removes temp files an earlier, killed rotor left next to the target
 * (".NAME.rotor-*"): they hold a secret and no consumer reads them. Only
 * regular files of exactly rotor's pattern are touched, never followed. */
static void temp_sweep(const struct target *t)
{
	char prefix[256];
	int fd = openat(t->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	snprintf(prefix, sizeof(prefix), ".%.200s.rotor-", t->base);
	size_t plen = strlen(prefix);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (strncmp(e->d_name, prefix, plen) != 0 || strlen(e->d_name) != plen + 12)
			continue;
		if (fstatat(t->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			unlinkat(t->dirfd, e->d_name, 0);
	}
	closedir(d);
}

/* Creates a fresh temp file next to the target: ".NAME.rotor-RANDOM". */
static int temp_create(const struct target *t, const char *path, char *name, size_t len, int *fd,
                       struct rotor_error *err)
{
	temp_sweep(t);
	for (int i = 0; i < TEMP_TRIES; i++) {
		unsigned char rnd[6];
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return rotor_error_set(
			    err, ROTOR_EIO, "envFile \"%s\": no randomness for a temp name", path);
		snprintf(name, len, ".%.200s.rotor-%02x%02x%02x%02x%02x%02x", t->base, rnd[0],
		         rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
		*fd = openat(t->dirfd, name,
		             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
		if (*fd >= 0)
			return 0;
		if (errno != EEXIST)
			return rotor_error_set(err, ROTOR_EIO,
			                       "envFile \"%s\": cannot create a temp file: %s",
			                       path, strerror(errno));
	}
	return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": no free temp file name", path);
}

/* The mode env files are written with: envFiles.mode, default 0600. */
static mode_t file_mode(const struct rotor_config *cfg)
{
	return cfg && cfg->env_file_mode ? (mode_t)cfg->env_file_mode : 0600;
}

/* Gives the temp file the old file's owner and group, and the configured
 * mode (never the old mode: a 0644 file would keep the secret readable to
 * every local user, and the temp file was created 0600 so that it is
 * private before the secret is written). Without root, a file owned by
 * someone else cannot keep its owner: refuse rather than leave the consumer
 * unable to read its credentials. */
static int temp_attributes(int fd, const char *path, const struct stat *old, mode_t mode,
                           struct rotor_error *err)
{
	if (old && geteuid() == 0) {
		if (fchown(fd, old->st_uid, old->st_gid) != 0)
			return rotor_error_set(
			    err, ROTOR_EIO, "envFile \"%s\": cannot keep owner %u:%u: %s", path,
			    (unsigned)old->st_uid, (unsigned)old->st_gid, strerror(errno));
	} else if (old) {
		if (old->st_uid != geteuid() ||
		    (old->st_gid != getegid() && fchown(fd, (uid_t)-1, old->st_gid) != 0))
			return rotor_error_set(
			    err, ROTOR_EIO,
			    "envFile \"%s\" is owned by %u:%u; rotor (uid %u) "
			    "cannot keep that owner when replacing it: run rotor "
			    "as root or as the file's owner",
			    path, (unsigned)old->st_uid, (unsigned)old->st_gid,
			    (unsigned)geteuid());
	}
	if (fchmod(fd, mode) != 0)
		return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": cannot set mode %o: %s",
		                       path, (unsigned)mode, strerror(errno));
	return 0;
}

/* Replaces the file atomically: temp file, write, fsync, renameat over the
 * target, fsync the directory. A failure leaves the old file as it was. */
static int file_replace(const struct target *t, const char *path, const struct rotor_buf *content,
                        const struct stat *old, mode_t mode, struct rotor_error *err)
{
	char tmp[NAME_MAX + 1];
	int fd = -1;
	int rc = temp_create(t, path, tmp, sizeof(tmp), &fd, err);
	if (rc)
		return rc;
	rc = temp_attributes(fd, path, old, mode, err);
	if (!rc && write_all(fd, content->data ? content->data : "", content->len) != 0)
		rc = rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": write error: %s", path,
		                     strerror(errno));
	if (!rc && fsync(fd) != 0)
		rc = rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": fsync: %s", path,
		                     strerror(errno));
	if (close(fd) != 0 && !rc)
		rc = rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": close: %s", path,
		                     strerror(errno));
	if (!rc && renameat(t->dirfd, tmp, t->dirfd, t->base) != 0)
		rc = rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": rename: %s", path,
		                     strerror(errno));
	if (rc) {
		unlinkat(t->dirfd, tmp, 0);
		return rc;
	}
	if (fsync(t->dirfd) != 0)
		return rotor_error_set(err, ROTOR_EIO, "envFile \"%s\": fsync of its directory: %s",
		                       path, strerror(errno));
	return 0;
}

/* ---- the consumer -------------------------------------------------------- */

/* The ssh connection of the host c lives on (envFile.ssh), or NULL with err. */
static const struct rotor_ssh_connection *
ssh_of(const struct rotor_config *cfg, const struct rotor_consumer_ref *c, struct rotor_error *err)
{
	const struct rotor_ssh_connection *s = rotor_config_ssh(cfg, c->ssh);
	if (!s)
		rotor_error_set(err, ROTOR_EINVALID,
		                "envFile \"%s\": no ssh connection named \"%s\" in the config",
		                c->path, c->ssh);
	return s;
}

static int envfile_observe(void *ctx, const struct rotor_consumer_ref *c,
                           const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
                           char *detail, size_t detail_len, struct rotor_error *err)
{
	const struct rotor_config *cfg = ctx;
	struct target t = {-1, 0, ""};
	struct rotor_buf content;
	struct names n;
	struct stat st;
	enum var_state akid, secret;
	int exists = 0;
	char scratch[1];
	if (!detail || !detail_len) {
		detail = scratch;
		detail_len = sizeof(scratch);
	}
	*state = ROTOR_CONSUMER_UNKNOWN;
	detail[0] = '\0';
	if (c->ssh) {
		const struct rotor_ssh_connection *s = ssh_of(cfg, c, err);
		return s ? rotor_sshfile_observe(s, c, want, state, detail, detail_len, err)
		         : err->code;
	}
	rotor_buf_init(&content, ENVFILE_MAX);
	int rc = names_resolve(c, want, &n, err);
	if (!rc)
		rc = target_open(cfg, c->path, &t, err);
	if (rc)
		goto done;
	if (t.dirfd < 0) {
		*state = ROTOR_CONSUMER_DRIFTED;
		snprintf(detail, detail_len, "file does not exist yet (no directory %.*s)",
		         (int)t.missing_len, c->path);
		goto done;
	}
	rc = file_load(cfg, c->path, &t, &content, &st, &exists, err);
	if (rc)
		goto done;
	if (!exists) {
		*state = ROTOR_CONSUMER_DRIFTED;
		snprintf(detail, detail_len, "file does not exist yet");
		goto done;
	}
	rc = content_compare(&content, &n, want, &akid, &secret);
	if (rc) {
		rc = rotor_error_set(err, rc, "envFile \"%s\": out of memory comparing", c->path);
		goto done;
	}
	*state = akid == VAR_EQUAL && secret == VAR_EQUAL ? ROTOR_CONSUMER_IN_SYNC
	                                                  : ROTOR_CONSUMER_DRIFTED;
	if (*state == ROTOR_CONSUMER_DRIFTED) {
		drift_describe(detail, detail_len, &n, akid, secret);
	} else if ((st.st_mode & 0777 & ~file_mode(cfg)) != 0) {
		/* The values are right but others can read them: rewrite. */
		*state = ROTOR_CONSUMER_DRIFTED;
		snprintf(detail, detail_len,
		         "mode %04o lets %s read the secret; rotor rewrites it with mode %04o",
		         (unsigned)(st.st_mode & 0777),
		         (st.st_mode & 0007) ? "every local user" : "its group",
		         (unsigned)file_mode(cfg));
	}
done:
	target_close(&t);
	rotor_buf_dispose(&content);
	return rc;
}

/* Reads the file back after a write; anything but in sync is an error. */
static int envfile_verify(void *ctx, const struct rotor_consumer_ref *c,
                          const struct rotor_consumer_pair *pair, struct rotor_error *err)
{
	enum rotor_consumer_state state;
	char detail[ROTOR_OBS_ERROR_MAX];
	int rc = envfile_observe(ctx, c, pair, &state, detail, sizeof(detail), err);
	if (rc) {
		rotor_error_prefix(err, "reading back after the write");
		return rc;
	}
	if (state != ROTOR_CONSUMER_IN_SYNC)
		return rotor_error_set(err, ROTOR_EIO,
		                       "envFile \"%s\": read back after the write, %s", c->path,
		                       detail);
	return 0;
}

/* Puts the pair into the file: read what is there, replace or append the
 * two lines, write the result atomically. */
static int envfile_store(const struct rotor_config *cfg, const struct rotor_consumer_ref *c,
                         const struct names *n, const struct rotor_consumer_pair *pair,
                         struct rotor_error *err)
{
	struct target t = {-1, 0, ""};
	struct rotor_buf old, next;
	struct stat st;
	int exists = 0;
	rotor_buf_init(&old, ENVFILE_MAX);
	rotor_buf_init(&next, ENVFILE_MAX);
	int rc = target_open(cfg, c->path, &t, err);
	if (rc)
		goto done;
	if (t.dirfd < 0) {
		rc = rotor_error_set(err, ROTOR_EIO,
		                     "envFile \"%s\": directory %.*s does not exist; rotor does "
		                     "not create directories",
		                     c->path, (int)t.missing_len, c->path);
		goto done;
	}
	rc = file_load(cfg, c->path, &t, &old, &st, &exists, err);
	if (rc)
		goto done;
	rc = content_build(&old, n, pair, &next);
	if (rc == ROTOR_ELIMIT)
		rc =
		    rotor_error_set(err, rc, "envFile \"%s\": the new content would pass %zu bytes",
		                    c->path, ENVFILE_MAX);
	else if (rc)
		rc = rotor_error_set(err, rc, "envFile \"%s\": out of memory", c->path);
	/* Read the new content back before it replaces the file: a quote left
	 * open on another line would close on a quote rotor writes and swallow
	 * the pair (found by fuzzing). Such a file is refused, not garbled. */
	if (!rc) {
		enum var_state akid, secret;
		rc = content_compare(&next, n, pair, &akid, &secret);
		if (rc)
			rc = rotor_error_set(err, rc, "envFile \"%s\": out of memory", c->path);
		else if (akid != VAR_EQUAL || secret != VAR_EQUAL)
			rc = rotor_error_set(
			    err, ROTOR_EINVALID,
			    "envFile \"%s\": the file's other lines would garble the "
			    "pair rotor writes (a quote opened and never closed?): fix "
			    "the file; nothing was written",
			    c->path);
	}
	if (!rc && exists && (st.st_mode & 0777 & ~file_mode(cfg)) != 0)
		rotor_log(ROTOR_LOG_WARN, c->name,
		          "envFile \"%s\" had mode %04o: %s could read the key it held; rotor "
		          "writes it with mode %04o (envFiles.mode)",
		          c->path, (unsigned)(st.st_mode & 0777),
		          (st.st_mode & 0007) ? "every local user" : "its group",
		          (unsigned)file_mode(cfg));
	if (!rc)
		rc = file_replace(&t, c->path, &next, exists ? &st : NULL, file_mode(cfg), err);
done:
	target_close(&t);
	rotor_buf_dispose(&old);
	rotor_buf_dispose(&next);
	return rc;
}

static int envfile_write(void *ctx, const struct rotor_consumer_ref *c,
                         const struct rotor_consumer_pair *pair, char *record, size_t record_len,
                         struct rotor_error *err)
{
	(void)record_len;
	record[0] = '\0'; /* read back: no record needed */
	const struct rotor_config *cfg = ctx;
	const struct rotor_reload_command *reload = NULL;
	struct names n;
	if (c->ssh) {
		const struct rotor_ssh_connection *s = ssh_of(cfg, c, err);
		return s ? rotor_sshfile_write(s, c, pair, err) : err->code;
	}
	int rc = names_resolve(c, pair, &n, err);
	if (rc)
		return rc;
	/* Resolved first: a bad name must not leave a written file unreloaded. */
	if (c->reload && !(reload = rotor_config_reload(cfg, c->reload)))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "envFile \"%s\": no reload command named \"%s\" in %s "
		                       "(envFiles.reload)",
		                       c->path, c->reload,
		                       cfg && cfg->origin ? cfg->origin : "the config");
	rc = envfile_store(cfg, c, &n, pair, err);
	if (!rc && reload)
		rc = rotor_reload_run(reload, pair->secret, err);
	if (!rc)
		rc = envfile_verify(ctx, c, pair, err);
	return rc;
}

/* The envFiles part of cfg, copied into a config of its own (the other
 * fields empty), so the ops keep nothing of the caller's config. */
static struct rotor_config *envfiles_copy(const struct rotor_config *cfg)
{
	struct rotor_config *c = calloc(1, sizeof(*c));
	int ok = c != NULL;
	if (!ok || !cfg)
		return c;
	c->env_file_mode = cfg->env_file_mode;
	c->origin = cfg->origin ? strdup(cfg->origin) : NULL;
	ok = !cfg->origin || c->origin;
	if (ok && cfg->nallowed_dirs) {
		c->allowed_dirs = calloc(cfg->nallowed_dirs, sizeof(char *));
		ok = c->allowed_dirs != NULL;
		for (size_t i = 0; ok && i < cfg->nallowed_dirs; i++, c->nallowed_dirs++)
			ok = (c->allowed_dirs[i] = strdup(cfg->allowed_dirs[i])) != NULL;
	}
	if (ok && cfg->nreloads) {
		c->reloads = calloc(cfg->nreloads, sizeof(*c->reloads));
		ok = c->reloads != NULL;
		for (size_t i = 0; ok && i < cfg->nreloads; i++, c->nreloads++) {
			const struct rotor_reload_command *r = &cfg->reloads[i];
			struct rotor_reload_command *d = &c->reloads[i];
			d->timeout = r->timeout;
			d->pos = r->pos;
			d->name = strdup(r->name);
			d->argv = calloc(r->argc + 1, sizeof(char *));
			ok = d->name && d->argv;
			for (size_t j = 0; ok && j < r->argc; j++, d->argc++)
				ok = (d->argv[j] = strdup(r->argv[j])) != NULL;
		}
	}
	if (ok && cfg->nssh) { /* env files on other hosts: each connection's own part */
		c->ssh = calloc(cfg->nssh, sizeof(*c->ssh));
		ok = c->ssh != NULL;
		for (size_t i = 0; ok && i < cfg->nssh; i++, c->nssh++) {
			const struct rotor_ssh_connection *s = &cfg->ssh[i];
			struct rotor_ssh_connection *d = &c->ssh[i];
			d->port = s->port;
			d->pos = s->pos;
			d->name = strdup(s->name);
			d->address = s->address ? strdup(s->address) : NULL;
			d->user = s->user ? strdup(s->user) : NULL;
			d->known_hosts = s->known_hosts ? strdup(s->known_hosts) : NULL;
			d->files = envfiles_copy(s->files);
			d->private_key.kind = s->private_key.kind;
			ok = d->name && d->address && d->user && d->known_hosts && d->files &&
			     (!s->private_key.value ||
			      rotor_secret_dup(&d->private_key.value, s->private_key.value, NULL) ==
			          0);
		}
	}
	if (!ok) {
		rotor_config_free(c);
		return NULL;
	}
	return c;
}

int rotor_envfile_ops(struct rotor_consumer_ops *ops, const struct rotor_config *cfg,
                      struct rotor_error *err)
{
	memset(ops, 0, sizeof(*ops));
	struct rotor_config *own = envfiles_copy(cfg);
	if (!own)
		return rotor_error_set(err, ROTOR_ENOMEM, "envFile consumers: out of memory");
	ops->kind = "envFile";
	ops->observe = envfile_observe;
	ops->write = envfile_write;
	ops->ctx = own;
	return 0;
}

void rotor_envfile_ops_dispose(struct rotor_consumer_ops *ops)
{
	if (ops && ops->ctx)
		rotor_config_free(ops->ctx);
	if (ops)
		memset(ops, 0, sizeof(*ops));
}

const struct rotor_consumer_provider rotor_envfile_provider = {"envFile", rotor_envfile_ops,
                                                               rotor_envfile_ops_dispose};
