/*
 * reload.c: a named reload command run after a consumer's file changed:
 * argv from the controller config (never from a manifest), no shell,
 * stdin from /dev/null, its own process group (a timeout kills what it
 * started), no inherited descriptors, an environment that keeps only
 * harmless variables, a timeout with SIGTERM then SIGKILL, and its output
 * kept for the error message unless it shows the secret. The env-file
 * consumer uses it; an SSH consumer will run the same on a host.
 */
#include "providers/consumers/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/secret.h"

#define RELOAD_OUTPUT_MAX 4096    /* reload output kept for the error message */
#define RELOAD_DEFAULT_TIMEOUT 30 /* seconds, when the config gives none */
#define RELOAD_KILL_GRACE_MS 2000 /* SIGTERM to SIGKILL */

extern char **environ;

/* What the reload command did. */
struct reload_result {
	int exited;                      /* 1: it exited (status is valid); 0: it timed out */
	int lost;                        /* someone else reaped it (SIGCHLD ignored?) */
	int status;                      /* from waitpid */
	char out[RELOAD_OUTPUT_MAX + 1]; /* the start of its stdout and stderr */
	size_t out_len;
};

/* In the child: no shell, stdin from /dev/null, stdout and stderr into the
 * pipe, its own process group (so a timeout kills what it started), no
 * inherited descriptors, default signal dispositions. Only async-signal-
 * safe calls from here to exec. */
__attribute__((noreturn)) static void reload_child(char *const *argv, int devnull, int out)
{
	sigset_t none;
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < 32; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	closefrom(3);
	/* A scrubbed environment: rotor's own (the manager's AWS keys, the
	 * Infisical client secret, tokens the config reads from env vars) is
	 * not the reload command's business. Only an allowlist of variables
	 * that carry no secret and that service managers need is kept (built
	 * in static storage: no malloc between fork and exec). */
	static const char *const keep[] = {"PATH",
	                                   "HOME",
	                                   "LANG",
	                                   "LC_ALL",
	                                   "TZ",
	                                   "USER",
	                                   "LOGNAME",
	                                   "XDG_RUNTIME_DIR",
	                                   "DBUS_SESSION_BUS_ADDRESS",
	                                   NULL};
	static char buf[8192];
	static char *clean_env[16];
	size_t used = 0, n = 0;
	for (size_t i = 0; keep[i]; i++) {
		const char *v = getenv(keep[i]);
		size_t need = v ? strlen(keep[i]) + strlen(v) + 2 : 0;
		if (!v || used + need > sizeof(buf))
			continue;
		snprintf(buf + used, need, "%s=%s", keep[i], v);
		clean_env[n++] = buf + used;
		used += need;
	}
	if (!getenv("PATH"))
		clean_env[n++] =
		    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	clean_env[n] = NULL;
	environ = clean_env;
	execvp(argv[0], argv);
	static const char msg[] = "cannot execute ";
	(void)!write(2, msg, sizeof(msg) - 1);
	(void)!write(2, argv[0], strlen(argv[0]));
	(void)!write(2, "\n", 1);
	_exit(127);
}

/* Starts argv; *out_fd reads its output (non-blocking). */
static int reload_spawn(char *const *argv, pid_t *pid, int *out_fd, struct rotor_error *err)
{
	int p[2];
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return rotor_error_set(err, ROTOR_EIO, "cannot open /dev/null: %s",
		                       strerror(errno));
	if (pipe(p) != 0) {
		close(devnull);
		return rotor_error_set(err, ROTOR_EIO, "pipe: %s", strerror(errno));
	}
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	*pid = fork();
	if (*pid == 0)
		reload_child(argv, devnull, p[1]);
	int e = errno;
	close(devnull);
	close(p[1]);
	if (*pid < 0) {
		close(p[0]);
		return rotor_error_set(err, ROTOR_EIO, "fork: %s", strerror(e));
	}
	setpgid(*pid, *pid); /* also here, so a kill right away reaches the group */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*out_fd = p[0];
	return 0;
}

/* Reads what is there on fd into r->out (the rest is drained and dropped);
 * closes fd at end of file. */
static void reload_read(int *fd, struct reload_result *r)
{
	char chunk[512];
	for (;;) {
		ssize_t got = read(*fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0 || errno != EAGAIN) {
				close(*fd);
				*fd = -1;
			}
			break;
		}
		size_t keep = RELOAD_OUTPUT_MAX - r->out_len;
		if ((size_t)got < keep)
			keep = (size_t)got;
		memcpy(r->out + r->out_len, chunk, keep);
		r->out_len += keep;
	}
	r->out[r->out_len] = '\0';
	rotor_wipe(chunk, sizeof(chunk));
}

/* Waits for pid up to timeout_ms while collecting its output; on timeout
 * sends SIGTERM to its group, then SIGKILL after a grace period. */
static void reload_wait(pid_t pid, int fd, int64_t timeout_ms, struct reload_result *r)
{
	int64_t deadline = rotor_process_ms() + timeout_ms;
	for (;;) {
		pid_t w = waitpid(pid, &r->status, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD)) {
			r->exited = w == pid;
			r->lost = w != pid;
			if (fd >= 0)
				reload_read(&fd, r); /* what it wrote last */
			break;
		}
		int64_t left = deadline - rotor_process_ms();
		if (left <= 0)
			break;
		if (left > 20)
			left = 20;
		struct pollfd pfd = {fd, POLLIN, 0};
		if (fd >= 0 && poll(&pfd, 1, (int)left) > 0)
			reload_read(&fd, r);
		else if (fd < 0)
			rotor_process_sleep_ms(left);
	}
	if (fd >= 0)
		close(fd);
	if (r->exited || r->lost)
		return;
	kill(-pid, SIGTERM);
	for (int64_t end = rotor_process_ms() + RELOAD_KILL_GRACE_MS; rotor_process_ms() < end;
	     rotor_process_sleep_ms(10))
		if (waitpid(pid, &r->status, WNOHANG) == pid)
			return;
	kill(-pid, SIGKILL);
	while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
		;
}

/* "systemctl restart raxx-vault.service", shortened to fit. */
static void argv_describe(char *const *argv, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		size_t used = strlen(buf);
		if (used + 1 >= len)
			break;
		snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
	}
	if (strlen(buf) + 1 >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

/* The first non-empty line of the output, or a note that there was none. */
static const char *first_line(char *out)
{
	char *p = out + strspn(out, "\r\n");
	p[strcspn(p, "\r\n")] = '\0';
	return *p ? p : "(no output)";
}

static int contains(const char *hay, size_t hay_len, const char *needle, size_t len)
{
	for (size_t i = 0; len && i + len <= hay_len; i++)
		if (memcmp(hay + i, needle, len) == 0)
			return 1;
	return 0;
}

/* Runs the named reload command; it must exit 0 within its timeout. Its
 * output goes into the error message, unless it shows the secret (a
 * command that prints the file): the redactor would catch a registered
 * secret, but this one is checked here too. */
int rotor_reload_run(const struct rotor_reload_command *cmd, const struct rotor_secret *secret,
                     struct rotor_error *err)
{
	struct reload_result *r = calloc(1, sizeof(*r));
	char what[200];
	pid_t pid = -1;
	int fd = -1, rc;
	if (!r)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory running reload %s",
		                       cmd->name);
	argv_describe(cmd->argv, what, sizeof(what));
	rc = reload_spawn(cmd->argv, &pid, &fd, err);
	if (rc) {
		rotor_error_prefix(err, "reload %s (%s)", cmd->name, what);
		goto done;
	}
	int64_t timeout = cmd->timeout > 0 ? cmd->timeout : RELOAD_DEFAULT_TIMEOUT;
	reload_wait(pid, fd, timeout * 1000, r);
	if (contains(r->out, r->out_len, rotor_secret_bytes(secret), rotor_secret_len(secret)))
		snprintf(r->out, sizeof(r->out), "(output withheld: it shows the secret)");
	if (r->lost)
		rc = rotor_error_set(
		    err, ROTOR_EIO,
		    "reload %s (%s): its exit status was lost (is SIGCHLD ignored?)", cmd->name,
		    what);
	else if (!r->exited)
		rc = rotor_error_set(
		    err, ROTOR_EIO, "reload %s (%s) did not finish within %llds and was killed: %s",
		    cmd->name, what, (long long)timeout, first_line(r->out));
	else if (WIFSIGNALED(r->status))
		rc = rotor_error_set(err, ROTOR_EIO, "reload %s (%s) was killed by signal %d: %s",
		                     cmd->name, what, WTERMSIG(r->status), first_line(r->out));
	else if (WEXITSTATUS(r->status) != 0)
		rc = rotor_error_set(err, ROTOR_EIO, "reload %s (%s) exited %d: %s", cmd->name,
		                     what, WEXITSTATUS(r->status), first_line(r->out));
done:
	rotor_wipe(r, sizeof(*r));
	free(r);
	return rc;
}
