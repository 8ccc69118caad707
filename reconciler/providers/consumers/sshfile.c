/*
 * sshfile.c: env files on a host reached over SSH (libssh2): the SOP's "SSH
 * to the host, update the EnvironmentFile, restart the service".
 *
 * Each call opens a session of its own: TCP with a timeout, the handshake,
 * the host key checked against the connection's pinned knownHosts file (an
 * unknown or changed key is refused, naming the SHA256 fingerprint seen),
 * public-key authentication with the configured key, then SFTP.
 *
 * The path comes from a manifest: it must lie (lexically, no '.' or '..')
 * below one of the connection's allowedDirs, and no component below that
 * directory may be a symbolic link on the host (lstat over SFTP).
 *
 * A write: read what is there (every other line is kept), write the new
 * content to a fresh temp file in the same directory (exclusive create,
 * mode 0600 set explicitly), fsync it, then replace the file with
 * `mv -f` run on the host, which is rename(2) there: OpenSSH's SFTP (v3)
 * rename refuses to replace an existing file and Debian's libssh2 (1.10)
 * has no posix-rename@openssh.com. Then the named reload command (argv from
 * the connection's config, each word single-quoted, within its timeout);
 * if it fails, the old content is put back the same way, so the service
 * keeps the file it can run with, and the error says so. Then a read-back.
 * Secrets travel only inside the SSH channel, into the file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "providers/consumers/envfile.h"
#include "rotor/log.h"
#include "rotor/secret.h"

#define CONNECT_TIMEOUT_MS 10000
#define SESSION_TIMEOUT_MS 30000

struct ssh {
	const struct rotor_ssh_connection *conn;
	const struct rotor_consumer_ref *c;
	int sock;
	LIBSSH2_SESSION *session;
	LIBSSH2_SFTP *sftp;
	char what[600]; /* "consumer NAME: ssh USER@HOST:PORT" */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;
static void init_libssh2(void)
{
	init_rc = libssh2_init(0);
}

static void ssh_close(struct ssh *s)
{
	if (s->sftp)
		libssh2_sftp_shutdown(s->sftp);
	if (s->session) {
		libssh2_session_disconnect(s->session, "rotor: done");
		libssh2_session_free(s->session);
	}
	if (s->sock >= 0)
		close(s->sock);
	s->sftp = NULL;
	s->session = NULL;
	s->sock = -1;
}

/* The last libssh2 error, for messages. */
static const char *ssh_errmsg(struct ssh *s)
{
	char *msg = NULL;
	if (!s->session)
		return "no session";
	libssh2_session_last_error(s->session, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown error";
}

static int tcp_connect(struct ssh *s, struct rotor_error *err)
{
	char port[16];
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", s->conn->port);
	int g = getaddrinfo(s->conn->address, port, &hints, &res);
	if (g != 0)
		return rotor_error_set(err, ROTOR_ETRANSIENT, "%s: cannot resolve %s: %s", s->what,
		                       s->conn->address, gai_strerror(g));
	int rc = ROTOR_ETRANSIENT;
	char why[160] = "no address";
	for (struct addrinfo *a = res; a && rc; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		int c = connect(fd, a->ai_addr, a->ai_addrlen);
		if (c != 0 && errno == EINPROGRESS) {
			struct pollfd p = {fd, POLLOUT, 0};
			int e = 0;
			socklen_t el = sizeof(e);
			if (poll(&p, 1, CONNECT_TIMEOUT_MS) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
				c = 0;
			else
				snprintf(why, sizeof(why), "%s", e ? strerror(e) : "timed out");
		} else if (c != 0) {
			snprintf(why, sizeof(why), "%s", strerror(errno));
		}
		if (c == 0) {
			fcntl(fd, F_SETFL, fl);
			s->sock = fd;
			rc = 0;
		} else {
			close(fd);
		}
	}
	freeaddrinfo(res);
	if (rc)
		return rotor_error_set(err, ROTOR_ETRANSIENT,
		                       "%s: cannot connect: %s; the file was not changed", s->what,
		                       why);
	return 0;
}

/* "SHA256:base64" of the server's host key, as ssh-keygen -l shows it. */
static void fingerprint(struct ssh *s, char *out, size_t len)
{
	const char *h = libssh2_hostkey_hash(s->session, LIBSSH2_HOSTKEY_HASH_SHA256);
	char b64[64];
	if (!h) {
		snprintf(out, len, "(unknown)");
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)h, 32,
	                  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(out, len, "SHA256:%s", b64);
}

static int check_host_key(struct ssh *s, struct rotor_error *err)
{
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(s->session, &len, &type);
	char fp[80];
	fingerprint(s, fp, sizeof(fp));
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s->session);
	if (!kh || !key)
		return rotor_error_set(err, ROTOR_EINTERNAL, "%s: cannot read the host key",
		                       s->what);
	int n =
	    libssh2_knownhost_readfile(kh, s->conn->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	if (n < 0) {
		libssh2_knownhost_free(kh);
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "%s: cannot read knownHosts %s; rotor never trusts a host key "
		    "it cannot check",
		    s->what, s->conn->known_hosts);
	}
	int keytype = type == LIBSSH2_HOSTKEY_TYPE_RSA         ? LIBSSH2_KNOWNHOST_KEY_SSHRSA
	              : type == LIBSSH2_HOSTKEY_TYPE_DSS       ? LIBSSH2_KNOWNHOST_KEY_SSHDSS
	              : type == LIBSSH2_HOSTKEY_TYPE_ECDSA_256 ? LIBSSH2_KNOWNHOST_KEY_ECDSA_256
	              : type == LIBSSH2_HOSTKEY_TYPE_ECDSA_384 ? LIBSSH2_KNOWNHOST_KEY_ECDSA_384
	              : type == LIBSSH2_HOSTKEY_TYPE_ECDSA_521 ? LIBSSH2_KNOWNHOST_KEY_ECDSA_521
	              : type == LIBSSH2_HOSTKEY_TYPE_ED25519   ? LIBSSH2_KNOWNHOST_KEY_ED25519
	                                                       : LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
	struct libssh2_knownhost *host = NULL;
	int check = libssh2_knownhost_checkp(
	    kh, s->conn->address, s->conn->port, key, len,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keytype, &host);
	libssh2_knownhost_free(kh);
	if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		return 0;
	if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "%s: the host key CHANGED (the server offered %s, which is not "
		    "the key pinned in %s): refused, nothing was sent; if the host "
		    "was rebuilt, check the fingerprint out of band and update "
		    "knownHosts",
		    s->what, fp, s->conn->known_hosts);
	return rotor_error_set(err, ROTOR_EAUTH,
	                       "%s: unknown host key %s (not in %s): refused, nothing was sent; "
	                       "add the host's key to knownHosts after checking its fingerprint "
	                       "(ssh-keyscan -p %d %s | ssh-keygen -lf -)",
	                       s->what, fp, s->conn->known_hosts, s->conn->port, s->conn->address);
}

static int ssh_open(struct ssh *s, const struct rotor_ssh_connection *conn,
                    const struct rotor_consumer_ref *c, struct rotor_error *err)
{
	memset(s, 0, sizeof(*s));
	s->sock = -1;
	s->conn = conn;
	s->c = c;
	snprintf(s->what, sizeof(s->what), "ssh %s@%s:%d %s", conn->user, conn->address, conn->port,
	         c->path);
	pthread_once(&init_once, init_libssh2);
	if (init_rc != 0 || sodium_init() < 0)
		return rotor_error_set(err, ROTOR_EINTERNAL, "%s: libssh2 could not start",
		                       s->what);
	if (!conn->private_key.value)
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "%s: the connection's privateKey is not set (its {env: ...} or "
		    "{file: ...} reference was empty or missing)",
		    s->what);
	int rc = tcp_connect(s, err);
	if (rc)
		return rc;
	s->session = libssh2_session_init();
	if (!s->session) {
		ssh_close(s);
		return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", s->what);
	}
	libssh2_session_set_blocking(s->session, 1);
	libssh2_session_set_timeout(s->session, SESSION_TIMEOUT_MS);
	if (libssh2_session_handshake(s->session, s->sock) != 0) {
		rc = rotor_error_set(err, ROTOR_ETRANSIENT, "%s: SSH handshake failed: %s", s->what,
		                     ssh_errmsg(s));
		ssh_close(s);
		return rc;
	}
	rc = check_host_key(s, err);
	if (!rc && libssh2_userauth_publickey_frommemory(
	               s->session, conn->user, strlen(conn->user), NULL, 0,
	               rotor_secret_bytes(conn->private_key.value),
	               rotor_secret_len(conn->private_key.value), NULL) != 0)
		rc = rotor_error_set(
		    err, ROTOR_EAUTH,
		    "%s: the host refused rotor's key for user %s (%s): add its public "
		    "key to that user's authorized_keys",
		    s->what, conn->user, ssh_errmsg(s));
	if (!rc && !(s->sftp = libssh2_sftp_init(s->session)))
		rc = rotor_error_set(err, ROTOR_ETRANSIENT, "%s: cannot start SFTP: %s", s->what,
		                     ssh_errmsg(s));
	if (rc)
		ssh_close(s);
	return rc;
}

/* ---- the path --------------------------------------------------------------------------- */

/* No component below the allowed directory is a symbolic link on the host;
 * *exists says whether the file itself is there. */
static int check_path(struct ssh *s, int *exists, struct rotor_error *err)
{
	const char *path = s->c->path;
	size_t dir_len = rotor_envfile_allowed_dir(s->conn->files, path);
	*exists = 0;
	if (!dir_len)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: the path is not inside the connection's allowedDirs "
		                       "('.' and '..' are not allowed)",
		                       s->what);
	char buf[4096];
	size_t total = strlen(path);
	if (total >= sizeof(buf))
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the path is longer than %zu bytes",
		                       s->what, sizeof(buf) - 1);
	snprintf(buf, sizeof(buf), "%s", path);
	for (size_t i = dir_len + 1; i <= total; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		buf[i] = '\0';
		LIBSSH2_SFTP_ATTRIBUTES a;
		int r = libssh2_sftp_stat_ex(s->sftp, buf, (unsigned)strlen(buf),
		                             LIBSSH2_SFTP_LSTAT, &a);
		if (r != 0) {
			if (libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_NO_SUCH_FILE)
				return i == total ? 0
				                  : rotor_error_set(
				                        err, ROTOR_EIO,
				                        "%s: directory %s does not exist on the "
				                        "host; rotor does not create directories",
				                        s->what, buf);
			return rotor_error_set(err, ROTOR_EIO, "%s: cannot stat %s on the host: %s",
			                       s->what, buf, ssh_errmsg(s));
		}
		if ((a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
		    LIBSSH2_SFTP_S_ISLNK(a.permissions))
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "%s: %s is a symbolic link on the host; rotor does not "
			    "follow links out of allowed directories",
			    s->what, buf);
		if (i == total)
			*exists = 1;
		buf[i] = path[i];
	}
	return 0;
}

static int read_file(struct ssh *s, const char *path, struct rotor_buf *out,
                     struct rotor_error *err)
{
	LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open_ex(s->sftp, path, (unsigned)strlen(path),
	                                              LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE);
	if (!h)
		return rotor_error_set(err, ROTOR_EIO, "%s: cannot open %s on the host: %s",
		                       s->what, path, ssh_errmsg(s));
	char chunk[16384];
	int rc = 0;
	for (;;) {
		ssize_t n = libssh2_sftp_read(h, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n < 0) {
			rc = rotor_error_set(err, ROTOR_EIO, "%s: reading %s failed: %s", s->what,
			                     path, ssh_errmsg(s));
			break;
		}
		if (rotor_buf_append(out, chunk, (size_t)n) != 0) {
			rc = rotor_error_set(err, ROTOR_ELIMIT, "%s: %s is larger than %zu bytes",
			                     s->what, path, ROTOR_ENVFILE_MAX);
			break;
		}
	}
	rotor_wipe(chunk, sizeof(chunk));
	libssh2_sftp_close(h);
	return rc;
}

/* Runs argv on the host (each word single-quoted for its shell); it must
 * exit 0 within timeout_s. */
static int run(struct ssh *s, char *const *argv, size_t argc, long timeout_s, const char *label,
               struct rotor_error *err)
{
	char cmd[8192];
	size_t o = 0;
	for (size_t i = 0; i < argc; i++) {
		/* each word single-quoted; a quote inside becomes '\'' */
		size_t need = 3;
		for (const char *p = argv[i]; *p; p++)
			need += *p == '\'' ? 4 : 1;
		if (o + need + 1 >= sizeof(cmd)) /* never cut a command short */
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "%s: %s is longer than rotor sends (%zu bytes): nothing "
			    "was run",
			    s->what, label, sizeof(cmd));
		if (i)
			cmd[o++] = ' ';
		cmd[o++] = '\'';
		for (const char *p = argv[i]; *p; p++) {
			if (*p == '\'') {
				memcpy(cmd + o, "'\\''", 4);
				o += 4;
			} else {
				cmd[o++] = *p;
			}
		}
		cmd[o++] = '\'';
	}
	cmd[o] = '\0';
	libssh2_session_set_timeout(s->session, timeout_s * 1000);
	LIBSSH2_CHANNEL *ch = libssh2_channel_open_session(s->session);
	int rc = 0;
	if (!ch || libssh2_channel_exec(ch, cmd) != 0) {
		rc = rotor_error_set(err, ROTOR_EIO, "%s: cannot run %s on the host: %s", s->what,
		                     label, ssh_errmsg(s));
	} else {
		char out[1024];
		ssize_t n;
		while ((n = libssh2_channel_read(ch, out, sizeof(out))) > 0)
			;
		while ((n = libssh2_channel_read_stderr(ch, out, sizeof(out))) > 0)
			;
		if (n == LIBSSH2_ERROR_TIMEOUT) {
			rc = rotor_error_set(err, ROTOR_ETRANSIENT,
			                     "%s: %s did not finish within %lds on the host",
			                     s->what, label, timeout_s);
		} else {
			libssh2_channel_close(ch);
			libssh2_channel_wait_closed(ch);
			int status = libssh2_channel_get_exit_status(ch);
			char *sig = NULL;
			libssh2_channel_get_exit_signal(ch, &sig, NULL, NULL, NULL, NULL, NULL);
			if (sig)
				rc = rotor_error_set(err, ROTOR_EIO,
				                     "%s: %s was killed by signal %s on the host",
				                     s->what, label, sig);
			else if (status != 0)
				rc = rotor_error_set(err, ROTOR_EIO,
				                     "%s: %s exited with status %d on the host",
				                     s->what, label, status);
			free(sig);
		}
	}
	if (ch)
		libssh2_channel_free(ch);
	libssh2_session_set_timeout(s->session, SESSION_TIMEOUT_MS);
	return rc;
}

/* Temp files an earlier rotor left beside the file (killed between the
 * write and the rename): they may hold a secret, so they go. The per-user
 * lock makes sure no other rotor is writing this file now. */
static void sweep_temps(struct ssh *s)
{
	const char *path = s->c->path;
	const char *slash = strrchr(path, '/');
	char dir[4096], prefix[300], name[512], victim[4700];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	snprintf(prefix, sizeof(prefix), ".%s.rotor-", slash + 1);
	LIBSSH2_SFTP_HANDLE *d =
	    libssh2_sftp_open_ex(s->sftp, dir, (unsigned)strlen(dir), 0, 0, LIBSSH2_SFTP_OPENDIR);
	if (!d)
		return;
	LIBSSH2_SFTP_ATTRIBUTES a;
	while (libssh2_sftp_readdir(d, name, sizeof(name), &a) > 0) {
		if (strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(victim, sizeof(victim), "%s/%s", dir, name);
		if (libssh2_sftp_unlink_ex(s->sftp, victim, (unsigned)strlen(victim)) == 0)
			rotor_log(ROTOR_LOG_INFO, s->c->name,
			          "removed %s on %s: a temp file an interrupted rotor left", victim,
			          s->conn->address);
	}
	libssh2_sftp_closedir(d);
}

/* content into path: a temp file beside it (exclusive, 0600), fsync, then
 * `mv -f` on the host (rename(2): atomic). */
static int replace(struct ssh *s, const struct rotor_buf *content, struct rotor_error *err)
{
	const char *path = s->c->path;
	const char *slash = strrchr(path, '/');
	unsigned char r[8];
	char tmp[4200];
	RAND_bytes(r, sizeof(r));
	snprintf(tmp, sizeof(tmp), "%.*s/.%s.rotor-%02x%02x%02x%02x%02x%02x%02x%02x",
	         (int)(slash - path), path, slash + 1, r[0], r[1], r[2], r[3], r[4], r[5], r[6],
	         r[7]);
	LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open_ex(
	    s->sftp, tmp, (unsigned)strlen(tmp),
	    LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, 0600, LIBSSH2_SFTP_OPENFILE);
	if (!h)
		return rotor_error_set(err, ROTOR_EIO,
		                       "%s: cannot create a temp file beside it: %s", s->what,
		                       ssh_errmsg(s));
	int rc = 0;
	for (size_t off = 0; off < content->len && !rc;) {
		ssize_t n = libssh2_sftp_write(h, content->data + off, content->len - off);
		if (n <= 0)
			rc = rotor_error_set(err, ROTOR_EIO, "%s: writing the temp file failed: %s",
			                     s->what, ssh_errmsg(s));
		else
			off += (size_t)n;
	}
	LIBSSH2_SFTP_ATTRIBUTES a;
	memset(&a, 0, sizeof(a));
	a.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS;
	a.permissions = LIBSSH2_SFTP_S_IFREG | 0600; /* whatever the host's umask */
	if (!rc && libssh2_sftp_fsetstat(h, &a) != 0)
		rc =
		    rotor_error_set(err, ROTOR_EIO, "%s: cannot set mode 0600 on the temp file: %s",
		                    s->what, ssh_errmsg(s));
	if (!rc && libssh2_sftp_fsync(h) != 0)
		rc = rotor_error_set(err, ROTOR_EIO, "%s: fsync of the temp file failed: %s",
		                     s->what, ssh_errmsg(s));
	libssh2_sftp_close(h);
	if (!rc) {
		char *mv[] = {"mv", "-f", "--", tmp, (char *)path};
		rc = run(s, mv, 5, 30, "the rename (mv -f)", err);
	}
	if (rc)
		libssh2_sftp_unlink_ex(s->sftp, tmp, (unsigned)strlen(tmp));
	return rc;
}

/* ---- the ops ------------------------------------------------------------------------------ */

static int observe_open(struct ssh *s, const struct rotor_consumer_pair *want,
                        enum rotor_consumer_state *state, char *detail, size_t len,
                        struct rotor_error *err)
{
	struct rotor_buf content;
	int exists = 0;
	rotor_buf_init(&content, ROTOR_ENVFILE_MAX);
	int rc = check_path(s, &exists, err);
	if (!rc && !exists) {
		*state = ROTOR_CONSUMER_DRIFTED;
		snprintf(detail, len, "file does not exist yet on %s", s->conn->address);
	} else if (!rc) {
		rc = read_file(s, s->c->path, &content, err);
		if (!rc)
			rc = rotor_envfile_content_state(&content, s->c, want, state, detail, len,
			                                 err);
	}
	rotor_buf_dispose(&content);
	return rc;
}

int rotor_sshfile_observe(const struct rotor_ssh_connection *conn,
                          const struct rotor_consumer_ref *c,
                          const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
                          char *detail, size_t len, struct rotor_error *err)
{
	struct ssh s;
	*state = ROTOR_CONSUMER_UNKNOWN;
	int rc = ssh_open(&s, conn, c, err);
	if (rc)
		return rc;
	rc = observe_open(&s, want, state, detail, len, err);
	ssh_close(&s);
	return rc;
}

int rotor_sshfile_write(const struct rotor_ssh_connection *conn, const struct rotor_consumer_ref *c,
                        const struct rotor_consumer_pair *pair, struct rotor_error *err)
{
	struct ssh s;
	struct rotor_buf old, next;
	const struct rotor_reload_command *reload = NULL;
	int exists = 0;
	if (c->reload && !(reload = rotor_config_reload(conn->files, c->reload)))
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "no reload command named \"%s\" in connections.ssh.%s.reload", c->reload,
		    conn->name);
	int rc = ssh_open(&s, conn, c, err);
	if (rc)
		return rc;
	rotor_buf_init(&old, ROTOR_ENVFILE_MAX);
	rotor_buf_init(&next, ROTOR_ENVFILE_MAX);
	rc = check_path(&s, &exists, err);
	if (!rc && exists)
		rc = read_file(&s, c->path, &old, err);
	if (!rc)
		rc = rotor_envfile_content_with(&old, c, pair, &next, err);
	if (!rc) {
		sweep_temps(&s);
		rc = replace(&s, &next, err);
	}
	if (!rc && reload) {
		char label[200];
		snprintf(label, sizeof(label), "the reload command %s", reload->name);
		rc = run(&s, reload->argv, reload->argc, (long)reload->timeout, label, err);
		if (rc) {
			/* the service keeps a file it can run with: the old one back */
			struct rotor_error undo;
			rotor_error_clear(&undo);
			int back = exists ? replace(&s, &old, &undo)
			                  : libssh2_sftp_unlink_ex(s.sftp, c->path,
			                                           (unsigned)strlen(c->path));
			size_t m = strlen(err->message);
			snprintf(
			    err->message + m, sizeof(err->message) - m,
			    back ? "; putting the old file back FAILED too (%s): check the host"
			         : "; the old file was put back: the consumer stays on the old key",
			    undo.message);
		}
	}
	if (!rc) { /* read back */
		enum rotor_consumer_state st;
		char detail[ROTOR_OBS_ERROR_MAX] = "";
		rc = observe_open(&s, pair, &st, detail, sizeof(detail), err);
		if (!rc && st != ROTOR_CONSUMER_IN_SYNC)
			rc = rotor_error_set(err, ROTOR_EIO, "%s: read back after the write, %s",
			                     s.what, detail);
	}
	rotor_buf_dispose(&old);
	rotor_buf_dispose(&next);
	ssh_close(&s);
	return rc;
}
