/*
 * git.c: the git source (rotor/gitsource.h), on libgit2 as Debian packages
 * it (1.5).
 *
 * The cache is one bare repository per source URL under the cache
 * directory (named by a hash of the URL), fetched with the refspec
 * +refs/heads/BRANCH:refs/rotor/BRANCH: a force-push simply moves the ref.
 * Whether the branch exists is decided by what the remote advertised in
 * this fetch, never by a ref left from an earlier one. Manifests are read
 * from the commit's tree objects: nothing is checked out.
 */
#include "rotor/gitsource.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotor/config.h"
#include "rotor/privdir.h"
#include "rotor/secret.h"
#include "source/verify.h"
#include "util/digest.h"

#define DEFAULT_BRANCH "main"
#define KNOWN_HOSTS_MAX ((size_t)1024 * 1024)

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_shutdown(void)
{
	git_libgit2_shutdown(); /* frees libgit2's global state (and what it cached) */
}

static void git_init(void)
{
	git_libgit2_init();
	atexit(git_shutdown);
}

/* libgit2's own words after ours. */
static int git_fail(struct rotor_error *err, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int git_fail(struct rotor_error *err, int kind, const char *fmt, ...)
{
	char what[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const git_error *e = git_error_last();
	return rotor_error_set(err, kind, "%s%s%s", what, e && e->message ? ": " : "",
	                       e && e->message ? e->message : "");
}

void rotor_git_source_of(const struct rotor_config *cfg, struct rotor_git_source *src)
{
	memset(src, 0, sizeof(*src));
	src->url = cfg->source.url;
	src->branch = cfg->source.branch;
	src->path = cfg->source.path;
	src->cache_dir = cfg->source.cache_dir;
	src->token = cfg->source.token.value;
	src->ssh_key = cfg->source.ssh_key.value;
	src->known_hosts = cfg->source.known_hosts;
	src->verify_allowed_signers = cfg->source.verify_allowed_signers;
	src->verify_gpg_keyring = cfg->source.verify_gpg_keyring;
}

void rotor_git_default_cache(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (geteuid() == 0)
		snprintf(buf, len, "/var/lib/rotor/git");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, len, "%s/rotor/git", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, len, "%s/.cache/rotor/git", home);
	else
		snprintf(buf, len, "/tmp/rotor-%ld/git", (long)geteuid());
}

/* <cache>/<16 hex of sha256(url)>.git */
static int cache_path(const struct rotor_git_source *src, char *buf, size_t len,
                      struct rotor_error *err)
{
	char dir[4096];
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (src->cache_dir && *src->cache_dir)
		snprintf(dir, sizeof(dir), "%s", src->cache_dir);
	else
		rotor_git_default_cache(dir, sizeof(dir));
	/* Another local user must not own (or be able to write) the cache:
	 * it would control what rotor reads. */
	int rc =
	    rotor_private_dir_make(dir, "git source's cache directory", "set source.cacheDir", err);
	if (rc)
		return rc;
	char h[17];
	EVP_Digest(src->url, strlen(src->url), md, &mdlen, EVP_sha256(), NULL);
	rotor_hex(h, md, 8);
	snprintf(buf, len, "%s/%s.git", dir, h);
	return 0;
}

/* One process at a time per cache: fetches and reads under an flock. */
static int cache_lock(const char *repo_path, int *fd, struct rotor_error *err)
{
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s.lock", repo_path);
	*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0 || flock(*fd, LOCK_EX) != 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return rotor_error_set(err, ROTOR_EIO, "git source: cannot lock %s: %s", lock,
		                       strerror(errno));
	}
	return 0;
}

static void cache_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ---- credentials and host keys ------------------------------------------- */

struct fetch_ctx {
	const struct rotor_git_source *src;
	int cred_calls;
	char host_error[600];
	char port[8];
};

/* The host[:port] of a URL (scp-like user@host:path too), lower-cased. */
static void url_host(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (!strstr(url, "://")) /* scp-like: host ends at ':' */
		n = strcspn(p, ":/");
	snprintf(buf, len, "%.*s", (int)n, p);
	for (char *q = buf; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
}

static int same_host(const char *a, const char *b)
{
	char ha[300], hb[300];
	if (!a || !b)
		return 0;
	url_host(a, ha, sizeof(ha));
	url_host(b, hb, sizeof(hb));
	return strcmp(ha, hb) == 0;
}

static int on_credentials(git_credential **out, const char *url, const char *user_from_url,
                          unsigned int allowed, void *payload)
{
	struct fetch_ctx *f = payload;
	/* Only to the configured host: a redirect elsewhere gets no token. */
	if (!same_host(url, f->src->url)) {
		snprintf(f->host_error, sizeof(f->host_error),
		         "the server redirected rotor to another host, which asked for "
		         "credentials; rotor sends source.auth only to the configured URL's host");
		return GIT_EAUTH;
	}
	if (f->cred_calls++ > 0) /* libgit2 asks again when the first was refused */
		return GIT_EAUTH;
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && f->src->token)
		return git_credential_userpass_plaintext_new(out, "x-access-token",
		                                             rotor_secret_bytes(f->src->token));
	if ((allowed & GIT_CREDENTIAL_SSH_MEMORY) && f->src->ssh_key)
		return git_credential_ssh_key_memory_new(out, user_from_url ? user_from_url : "git",
		                                         NULL, rotor_secret_bytes(f->src->ssh_key),
		                                         NULL);
	if ((allowed & GIT_CREDENTIAL_USERNAME) && user_from_url)
		return git_credential_username_new(out, user_from_url);
	return GIT_EAUTH;
}

static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* "SHA256:..." as OpenSSH prints it (no padding). */
static void fingerprint(const unsigned char *key, size_t len, char *buf, size_t buflen)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char b64[64];
	EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
	size_t n = b64_encode(md, mdlen, b64);
	while (n && b64[n - 1] == '=')
		b64[--n] = '\0';
	snprintf(buf, buflen, "SHA256:%s", b64);
}

/* Does one known_hosts host pattern name host (with port when not 22)? */
static int host_matches(const char *pattern, size_t plen, const char *host, const char *port)
{
	char want[600];
	if (strcmp(port, "22") == 0)
		snprintf(want, sizeof(want), "%s", host);
	else
		snprintf(want, sizeof(want), "[%s]:%s", host, port);
	if (plen > 3 && strncmp(pattern, "|1|", 3) == 0) { /* hashed: |1|salt|hash */
		const char *bar = memchr(pattern + 3, '|', plen - 3);
		if (!bar)
			return 0;
		unsigned char salt[128], hash[128], mac[64];
		unsigned int maclen = 0;
		char s64[128], h64[128];
		size_t sl = (size_t)(bar - pattern - 3), hl = plen - (size_t)(bar - pattern) - 1;
		if (sl >= sizeof(s64) || hl >= sizeof(h64))
			return 0;
		memcpy(s64, pattern + 3, sl);
		s64[sl] = '\0';
		memcpy(h64, bar + 1, hl);
		h64[hl] = '\0';
		int sn = EVP_DecodeBlock(salt, (unsigned char *)s64, (int)sl);
		int hn = EVP_DecodeBlock(hash, (unsigned char *)h64, (int)hl);
		if (sn < 20 || hn < 20 || (size_t)sn > sizeof(salt) || (size_t)hn > sizeof(hash))
			return 0;
		HMAC(EVP_sha1(), salt, 20, (const unsigned char *)want, strlen(want), mac, &maclen);
		return maclen == 20 && memcmp(mac, hash, 20) == 0;
	}
	return strlen(want) == plen && strncmp(pattern, want, plen) == 0;
}

/* 1: the key is pinned for host; 0: the host is pinned with other keys
 * (changed!); -1: the host is not in the file. */
static int known_host(const char *file, const char *host, const char *port,
                      const unsigned char *key, size_t keylen, char *why, size_t whylen)
{
	char *text = NULL;
	size_t len = 0;
	struct rotor_error e;
	if (rotor_source_read_file(&text, &len, file, KNOWN_HOSTS_MAX, &e) != 0) {
		snprintf(why, whylen, "cannot read knownHosts: %s", e.message);
		return -2;
	}
	int seen = 0;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || !*line || *line == '@') /* markers (@revoked) not honoured */
			continue;
		char *hosts = line, *sp = strpbrk(line, " \t");
		if (!sp)
			continue;
		*sp = '\0';
		char *type = sp + 1;
		while (*type == ' ' || *type == '\t')
			type++;
		char *b64 = strpbrk(type, " \t");
		if (!b64)
			continue;
		while (*b64 == ' ' || *b64 == '\t')
			b64++;
		size_t b64len = strcspn(b64, " \t\r");
		int match = 0;
		for (char *h = hosts; *h && !match;) {
			size_t hl = strcspn(h, ",");
			match = host_matches(h, hl, host, port);
			h += hl + (h[hl] == ',');
		}
		if (!match)
			continue;
		seen = 1;
		unsigned char *blob = malloc(b64len + 4);
		int n = blob ? EVP_DecodeBlock(blob, (unsigned char *)b64, (int)b64len) : -1;
		/* EVP_DecodeBlock counts padding as zero bytes */
		while (n > 0 && b64len && b64[b64len - 1] == '=') {
			n--;
			b64len--;
		}
		int same = n > 0 && (size_t)n == keylen && memcmp(blob, key, keylen) == 0;
		free(blob);
		if (same) {
			free(text);
			return 1;
		}
	}
	free(text);
	return seen ? 0 : -1;
}

static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	struct fetch_ctx *f = payload;
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return valid ? 0 : GIT_ECERTIFICATE; /* TLS: libgit2's verification stands */
	git_cert_hostkey *hk = (git_cert_hostkey *)cert;
	char fp[80];
	if (!(hk->type & GIT_CERT_SSH_RAW) || !hk->hostkey || !hk->hostkey_len) {
		snprintf(f->host_error, sizeof(f->host_error),
		         "the SSH host key of %s could not be read to compare with knownHosts",
		         host);
		return GIT_ECERTIFICATE;
	}
	fingerprint((const unsigned char *)hk->hostkey, hk->hostkey_len, fp, sizeof(fp));
	char why[400] = "";
	int k = known_host(f->src->known_hosts, host, f->port, (const unsigned char *)hk->hostkey,
	                   hk->hostkey_len, why, sizeof(why));
	if (k == 1)
		return 0;
	if (k == 0)
		snprintf(
		    f->host_error, sizeof(f->host_error),
		    "the SSH host key of %s CHANGED: it offered %s, which %s does not list for "
		    "it. Someone may be intercepting the connection; if the server's key was "
		    "replaced on purpose, put the new key in knownHosts",
		    host, fp, f->src->known_hosts);
	else if (k == -1)
		snprintf(f->host_error, sizeof(f->host_error),
		         "the SSH host key of %s is unknown: it offered %s and %s has no entry for "
		         "it; check the fingerprint with the server's owner, then add the key "
		         "(ssh-keyscan) to knownHosts",
		         host, fp, f->src->known_hosts);
	else
		snprintf(f->host_error, sizeof(f->host_error), "%s", why);
	return GIT_ECERTIFICATE;
}

/* The port in an ssh:// URL ("22" otherwise). */
static void url_port(const char *url, char *port, size_t len)
{
	snprintf(port, len, "22");
	if (strncmp(url, "ssh://", 6) != 0)
		return;
	const char *host = url + 6, *slash = strchr(host, '/');
	const char *at = strchr(host, '@');
	if (at && (!slash || at < slash))
		host = at + 1;
	const char *colon = strchr(host, ':');
	if (colon && (!slash || colon < slash)) {
		size_t n = strspn(colon + 1, "0123456789");
		if (n && n < len)
			snprintf(port, len, "%.*s", (int)n, colon + 1);
	}
}

/* ---- fetch ------------------------------------------------------------------ */

static int open_cache(const char *path, git_repository **repo, struct rotor_error *err)
{
	if (git_repository_open_bare(repo, path) == 0)
		return 0;
	if (git_repository_init(repo, path, 1) != 0)
		return git_fail(err, ROTOR_EIO, "git source: cannot create the cache repository %s",
		                path);
	return 0;
}

int rotor_git_fetch(const struct rotor_git_source *src, char head[41], struct rotor_error *err)
{
	char path[4400], spec[600], ref[400];
	const char *branch = src->branch && *src->branch ? src->branch : DEFAULT_BRANCH;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	int lockfd = -1, rc;
	pthread_once(&git_once, git_init);
	head[0] = '\0';
	if ((rc = cache_path(src, path, sizeof(path), err)) != 0 ||
	    (rc = cache_lock(path, &lockfd, err)) != 0)
		return rc;
	if ((rc = open_cache(path, &repo, err)) != 0)
		goto done;
	if (git_remote_create_anonymous(&remote, repo, src->url) != 0) {
		rc = git_fail(err, ROTOR_EINVALID, "git source %s", src->url);
		goto done;
	}
	snprintf(spec, sizeof(spec), "+refs/heads/%s:refs/rotor/%s", branch, branch);
	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	char *specs[1] = {spec};
	git_strarray refspecs = {specs, 1};
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	struct fetch_ctx f;
	memset(&f, 0, sizeof(f));
	f.src = src;
	url_port(src->url, f.port, sizeof(f.port));
	fo.callbacks.credentials = on_credentials;
	fo.callbacks.certificate_check = on_certificate;
	fo.callbacks.payload = &f;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	if (git_remote_fetch(remote, &refspecs, &fo, "rotor: fetch") != 0) {
		const git_error *e = git_error_last();
		if (f.host_error[0])
			rc = rotor_error_set(err, ROTOR_EAUTH, "git source %s: %s", src->url,
			                     f.host_error);
		else if (f.cred_calls > 1 || (e && e->klass == GIT_ERROR_HTTP &&
		                              strstr(e->message ? e->message : "", "401")))
			rc = rotor_error_set(
			    err, ROTOR_EAUTH,
			    "git source %s: authentication failed: check "
			    "source.auth (the token or the SSH key, and that it may "
			    "read the repository)",
			    src->url);
		else if (f.cred_calls == 1 && e && e->klass == GIT_ERROR_HTTP)
			rc = git_fail(
			    err, ROTOR_EAUTH,
			    "git source %s: the server did not accept rotor's credentials, "
			    "or answered them in a way libgit2 could not read: check "
			    "source.auth",
			    src->url);
		else
			rc = git_fail(
			    err, ROTOR_ETRANSIENT,
			    "git source %s: cannot fetch branch %s (is the remote reachable, "
			    "the URL right?)",
			    src->url, branch);
		goto done;
	}
	/* What the remote advertised now decides; not a ref of an old fetch. */
	const git_remote_head **heads = NULL;
	size_t nheads = 0;
	const git_oid *tip = NULL;
	if (git_remote_ls(&heads, &nheads, remote) == 0)
		for (size_t i = 0; i < nheads && !tip; i++)
			if (strcmp(heads[i]->name, ref) == 0)
				tip = &heads[i]->oid;
	if (!tip) {
		rc = rotor_error_set(err, ROTOR_ENOTFOUND,
		                     "git source %s: the branch %s does not exist there "
		                     "(source.branch)",
		                     src->url, branch);
		goto done;
	}
	git_oid_tostr(head, 41, tip);
	rc = 0;
done:
	git_remote_free(remote);
	git_repository_free(repo);
	cache_unlock(lockfd);
	return rc;
}

/* ---- reading a tree ----------------------------------------------------------- */

struct walk {
	git_repository *repo;
	const char *base; /* the walked tree's path in the repository, "" or "dir/" */
	char *const *narrow;
	size_t nnarrow;
	char short_id[12];
	rotor_source_emit_fn emit;
	void *ctx;
	struct rotor_diags *diags;
	size_t files;
	size_t entries; /* every tree entry visited: a tree reusing subtrees would
	                   otherwise make the walk exponential */
	int failed;
};

static int yaml_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Is repository path p (a file, or a directory when dir) inside what the
 * walk is narrowed to? A directory counts when a narrowing path lies in it. */
static int wanted(const struct walk *w, const char *p, int dir)
{
	if (!w->nnarrow)
		return 1;
	size_t pl = strlen(p);
	for (size_t i = 0; i < w->nnarrow; i++) {
		const char *n = w->narrow[i];
		size_t nl = strlen(n);
		while (nl && n[nl - 1] == '/')
			nl--;
		if (!nl)
			return 1;
		if (pl >= nl && strncmp(p, n, nl) == 0 && (p[nl] == '/' || p[nl] == '\0'))
			return 1; /* inside n */
		if (dir && nl > pl && strncmp(n, p, pl) == 0 && n[pl] == '/')
			return 1; /* n lies inside this directory */
	}
	return 0;
}

static int on_entry(const char *root, const git_tree_entry *entry, void *payload)
{
	struct walk *w = payload;
	const char *name = git_tree_entry_name(entry);
	char full[4096], origin[4200];
	snprintf(full, sizeof(full), "%s%s%s", w->base, root, name);
	if (name[0] == '.')
		return 1; /* hidden: skipped, with what lies under it */
	git_filemode_t mode = git_tree_entry_filemode(entry);
	if (++w->entries > ROTOR_GIT_MAX_ENTRIES) {
		rotor_diags_add(w->diags, ROTOR_DIAG_ERROR, full, 0, 0,
		                "the tree has more than %d entries (or reuses subtrees to look "
		                "so): rotor stops reading it",
		                ROTOR_GIT_MAX_ENTRIES);
		w->failed = 1;
		return -1;
	}
	if (mode == GIT_FILEMODE_TREE) {
		size_t depth = 0;
		for (const char *p = root; *p; p++)
			depth += *p == '/';
		if (depth >= ROTOR_GIT_MAX_DEPTH) {
			rotor_diags_add(w->diags, ROTOR_DIAG_ERROR, full, 0, 0,
			                "directories nested deeper than %d levels: rotor does not "
			                "read below here",
			                ROTOR_GIT_MAX_DEPTH);
			w->failed = 1;
			return 1;
		}
		return wanted(w, full, 1) ? 0 : 1;
	}
	if (!wanted(w, full, 0))
		return 0;
	snprintf(origin, sizeof(origin), "%s@%s", full, w->short_id);
	if (mode == GIT_FILEMODE_LINK || mode == GIT_FILEMODE_COMMIT) {
		rotor_diags_add(w->diags, ROTOR_DIAG_WARNING, origin, 0, 0,
		                "%s skipped: rotor reads no %s in the manifest tree", name,
		                mode == GIT_FILEMODE_LINK ? "symbolic links" : "submodules");
		return 0;
	}
	if (!yaml_name(name))
		return 0;
	if (++w->files > ROTOR_GIT_MAX_FILES) {
		rotor_diags_add(w->diags, ROTOR_DIAG_ERROR, origin, 0, 0,
		                "more than %d manifest files in the tree: rotor stops reading here",
		                ROTOR_GIT_MAX_FILES);
		w->failed = 1;
		return -1;
	}
	/* The size from the object's header first: a huge blob (zeros pack
	 * small) must not be inflated into memory to find out. */
	git_odb *odb = NULL;
	size_t hsize = 0;
	git_object_t htype;
	int hrc = git_repository_odb(&odb, w->repo);
	if (!hrc)
		hrc = git_odb_read_header(&hsize, &htype, odb, git_tree_entry_id(entry));
	git_odb_free(odb);
	if (!hrc && hsize > ROTOR_SOURCE_FILE_MAX) {
		rotor_diags_add(w->diags, ROTOR_DIAG_ERROR, origin, 0, 0,
		                "the file is %zu bytes, over the %zu a manifest may have: not read",
		                hsize, (size_t)ROTOR_SOURCE_FILE_MAX);
		w->failed = 1;
		return 0;
	}
	git_blob *blob = NULL;
	if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(entry)) != 0) {
		rotor_diags_add(w->diags, ROTOR_DIAG_ERROR, origin, 0, 0,
		                "cannot read this file's blob from the repository");
		w->failed = 1;
		return 0;
	}
	git_object_size_t size = git_blob_rawsize(blob);
	size_t take = size > ROTOR_SOURCE_FILE_MAX ? ROTOR_SOURCE_FILE_MAX + 1 : (size_t)size;
	char *copy = malloc(take + 1);
	if (!copy) {
		git_blob_free(blob);
		w->failed = 1;
		return -1;
	}
	memcpy(copy, git_blob_rawcontent(blob), take);
	copy[take] = '\0';
	git_blob_free(blob);
	if (w->emit(w->ctx, origin, copy, take, w->diags) != 0)
		w->failed = 1;
	free(copy);
	return 0;
}

/* source.verify: the commit's signature, before anything of it is read. */
static int verify_commit(git_repository *repo, const git_oid *id, const char *commit,
                         const struct rotor_verify *v, const char *tmpdir, struct rotor_error *err)
{
	git_buf sig = {0}, data = {0};
	git_oid oid = *id;
	if (git_commit_extract_signature(&sig, &data, repo, &oid, NULL) != 0)
		return rotor_error_set(err, ROTOR_EAUTH,
		                       "commit %.12s is not signed, and source.verify asks for a "
		                       "signature by a trusted key: nothing was read",
		                       commit);
	int rc =
	    rotor_verify_signature(v, commit, sig.ptr, sig.size, data.ptr, data.size, tmpdir, err);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}

static int walk_commit(git_repository *repo, const char *rev, const char *what, const char *path,
                       char *const *narrow, size_t nnarrow, const struct rotor_verify *verify,
                       const char *tmpdir, char commit[41], rotor_source_emit_fn emit, void *ctx,
                       struct rotor_diags *diags, struct rotor_error *err)
{
	git_object *obj = NULL, *peeled = NULL;
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *entry = NULL;
	char base[4096] = "";
	int rc = 0;
	if (git_revparse_single(&obj, repo, rev) != 0) {
		rc = git_fail(err, ROTOR_ENOTFOUND, "%s: no commit %s", what, rev);
		goto done;
	}
	if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) != 0) {
		rc = git_fail(err, ROTOR_ENOTFOUND, "%s: %s is not a commit", what, rev);
		goto done;
	}
	git_oid_tostr(commit, 41, git_object_id(peeled));
	if (verify &&
	    (rc = verify_commit(repo, git_object_id(peeled), commit, verify, tmpdir, err)))
		goto done;
	if (git_commit_tree(&tree, (git_commit *)peeled) != 0) {
		rc = git_fail(err, ROTOR_EIO, "%s: cannot read the tree of %s", what, commit);
		goto done;
	}
	git_tree *walked = tree;
	if (path && *path) {
		if (git_tree_entry_bypath(&entry, tree, path) != 0 ||
		    git_tree_entry_type(entry) != GIT_OBJECT_TREE ||
		    git_tree_lookup(&sub, repo, git_tree_entry_id(entry)) != 0) {
			rc = rotor_error_set(err, ROTOR_ENOTFOUND,
			                     "%s: commit %.12s has no directory %s (source.path)",
			                     what, commit, path);
			goto done;
		}
		walked = sub;
		snprintf(base, sizeof(base), "%s/", path);
	}
	struct walk w;
	memset(&w, 0, sizeof(w));
	w.repo = repo;
	w.base = base;
	w.narrow = narrow;
	w.nnarrow = nnarrow;
	snprintf(w.short_id, sizeof(w.short_id), "%.7s", commit);
	w.emit = emit;
	w.ctx = ctx;
	w.diags = diags;
	git_tree_walk(walked, GIT_TREEWALK_PRE, on_entry, &w);
	if (w.failed)
		rc = ROTOR_EINVALID;
done:
	git_tree_entry_free(entry);
	git_tree_free(sub);
	git_tree_free(tree);
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}

int rotor_git_walk(const struct rotor_git_source *src, const char *rev, char commit[41],
                   rotor_source_emit_fn emit, void *ctx, struct rotor_diags *diags,
                   struct rotor_error *err)
{
	char path[4400], ref[400], what[700];
	const char *branch = src->branch && *src->branch ? src->branch : DEFAULT_BRANCH;
	git_repository *repo = NULL;
	int lockfd = -1;
	pthread_once(&git_once, git_init);
	commit[0] = '\0';
	int rc = cache_path(src, path, sizeof(path), err);
	if (!rc)
		rc = cache_lock(path, &lockfd, err);
	if (rc)
		return rc;
	if (git_repository_open_bare(&repo, path) != 0) {
		cache_unlock(lockfd);
		return git_fail(err, ROTOR_EIO, "git source %s: no cache yet at %s (fetch first)",
		                src->url, path);
	}
	snprintf(ref, sizeof(ref), "refs/rotor/%s", branch);
	snprintf(what, sizeof(what), "git source %s", src->url);
	struct rotor_verify v = {src->verify_allowed_signers, src->verify_gpg_keyring};
	char tmpdir[4400];
	snprintf(tmpdir, sizeof(tmpdir), "%s", path); /* the cache's own directory */
	char *slash = strrchr(tmpdir, '/');
	if (slash)
		*slash = '\0';
	/* In the cache a branch lives under refs/rotor/: "main" means it. */
	char branch_ref[400];
	git_object *probe = NULL;
	if (rev && *rev && git_revparse_single(&probe, repo, rev) != 0) {
		snprintf(branch_ref, sizeof(branch_ref), "refs/rotor/%s", rev);
		if (git_revparse_single(&probe, repo, branch_ref) == 0)
			rev = branch_ref;
	}
	git_object_free(probe);
	rc = walk_commit(repo, rev && *rev ? rev : ref, what, src->path, NULL, 0,
	                 v.allowed_signers || v.gpg_keyring ? &v : NULL, tmpdir, commit, emit, ctx,
	                 diags, err);
	git_repository_free(repo);
	cache_unlock(lockfd);
	return rc;
}

int rotor_git_walk_local(const char *dir, const char *rev, char *const *paths, size_t npaths,
                         char commit[41], rotor_source_emit_fn emit, void *ctx,
                         struct rotor_diags *diags, struct rotor_error *err)
{
	git_repository *repo = NULL;
	pthread_once(&git_once, git_init);
	commit[0] = '\0';
	/* found upwards from dir, as git does, stopping at GIT_CEILING_DIRECTORIES */
	if (git_repository_open_ext(&repo, dir, 0, getenv("GIT_CEILING_DIRECTORIES")) != 0)
		return git_fail(
		    err, ROTOR_ENOTFOUND,
		    "%s is not inside a git repository (rotor diff compares two commits "
		    "of one)",
		    dir);
	int rc = walk_commit(repo, rev, "the repository", NULL, paths, npaths, NULL, NULL, commit,
	                     emit, ctx, diags, err);
	git_repository_free(repo);
	return rc;
}
