/* lock.c: per-user lock files under the state directory (see rotor/lock.h). */
#include "rotor/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/privdir.h"
#include "rotor/timefmt.h"

#define LOCK_POLL_MS 100

struct rotor_user_lock {
	int fd;
};

void rotor_state_dir(char *buf, size_t len, const char *cfg_dir)
{
	const char *env = getenv("ROTOR_STATE_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	if (cfg_dir && *cfg_dir)
		snprintf(buf, len, "%s", cfg_dir);
	else if (env && env[0] == '/')
		snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		snprintf(buf, len, "/var/lib/rotor");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, len, "%s/rotor", xdg);
	else
		snprintf(buf, len, "%s/.local/state/rotor", home && home[0] == '/' ? home : "/tmp");
}

int rotor_state_dir_make(const char *dir, struct rotor_error *err)
{
	/* Lock files and login counts live here: another local user who could
	 * write into it could hold every user's lock or block logins. */
	return rotor_private_dir_make(dir, "state directory",
	                              "set stateDir in the config or $ROTOR_STATE_DIR", err);
}

/* A file name from the connection and the lower-cased user: IAM user names
 * are [A-Za-z0-9+=,.@_-], connection names [A-Za-z0-9_-]; anything else
 * (never valid) is hex-escaped so no name can leave the directory. */
static void lock_name(char *buf, size_t len, const char *connection, const char *user)
{
	size_t o = 0;
	const char *parts[2] = {connection, user};
	for (int i = 0; i < 2; i++) {
		for (const char *p = parts[i]; *p && o + 4 < len; p++) {
			unsigned char c = (unsigned char)*p;
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			    c == '_' || c == '=' || c == ',' || c == '@' || (c == '.' && o > 0))
				buf[o++] = (char)c;
			else
				o += (size_t)snprintf(buf + o, len - o, "%%%02x", c);
		}
		if (i == 0 && o + 2 < len) {
			buf[o++] = '+';
			buf[o++] = '+';
		}
	}
	buf[o] = '\0';
}

void rotor_holder_id(char *buf, size_t len)
{
	char host[72] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "unknown");
	host[strcspn(host, " \t\r\n")] = '\0';
	snprintf(buf, len, "%.63s:%ld", host, (long)getpid());
}

int rotor_user_lock_acquire(struct rotor_user_lock **out, const char *state_dir,
                            const char *connection, const char *user, const char *command,
                            int64_t wait_ms, struct rotor_clock *clock, struct rotor_error *err)
{
	char dir[PATH_MAX], name[300], path[PATH_MAX + 320];
	*out = NULL;
	if (!clock)
		clock = rotor_clock_real();
	snprintf(dir, sizeof(dir), "%s/locks", state_dir);
	int rc = rotor_state_dir_make(dir, err);
	if (rc)
		return rc;
	lock_name(name, sizeof(name), connection, user);
	snprintf(path, sizeof(path), "%s/%s.lock", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rotor_error_set(err, ROTOR_EIO, "cannot open the lock file %s: %s", path,
		                       strerror(errno));
	/* Waiting for another process is real time, always: test builds may
	 * run the injected clock's sleeps in simulated time, which would make a
	 * waiter give up at once on a holder that is working. */
	int64_t start = rotor_process_ms();
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = rotor_error_set(err, ROTOR_EIO, "cannot lock %s: %s", path,
			                     strerror(errno));
			close(fd);
			return rc;
		}
		if (rotor_process_ms() - start >= wait_ms) {
			char holder[256] = "";
			ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\r\n")] = '\0';
			close(fd);
			return rotor_error_set(err, ROTOR_ECONFLICT,
			                       "IAM user %s on connection %s is being changed by "
			                       "another rotor process (%s); waited %llds for it: "
			                       "nothing was done, run again when it has finished",
			                       user, connection,
			                       holder[0] ? holder : "holder unknown",
			                       (long long)(wait_ms / 1000));
		}
		rotor_process_sleep_ms(LOCK_POLL_MS);
	}
	/* Ours: say who holds it, for a waiter's message. */
	char holder[256], id[96], ts[ROTOR_TIME_STR_MAX];
	rotor_holder_id(id, sizeof(id));
	rotor_time_format(ts, sizeof(ts), clock->now(clock));
	int len = snprintf(holder, sizeof(holder), "pid %ld, `rotor %s`, on %s since %s\n",
	                   (long)getpid(), command ? command : "?", id, ts);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, holder, (size_t)len, 0) != len) {
		/* the lock holds all the same; only the note is missing */
	}
	struct rotor_user_lock *l = malloc(sizeof(*l));
	if (!l) {
		close(fd);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	l->fd = fd;
	*out = l;
	return 0;
}

void rotor_user_lock_release(struct rotor_user_lock *l)
{
	if (!l)
		return;
	if (ftruncate(l->fd, 0) != 0) {
		/* a stale note is harmless: the flock is what counts */
	}
	close(l->fd); /* releases the flock */
	free(l);
}
