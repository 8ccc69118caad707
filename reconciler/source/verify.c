/*
 * verify.c: commit verification for the git source (source.verify): a
 * commit's signature is checked the way git checks it, by the same tools —
 * SSH signatures with `ssh-keygen -Y find-principals` then `-Y verify`
 * (namespace "git") against an allowedSigners file, OpenPGP signatures with
 * `gpgv --keyring`. An unsigned commit, or one signed by a key that is not
 * trusted, is refused before a single manifest is read.
 */
#include "source/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOOL_TIMEOUT_MS 30000
#define TOOL_OUTPUT_MAX 4096

/* Runs argv with stdin from in_path (or /dev/null), stdout and stderr
 * captured into out (at most outlen-1 bytes kept); its exit status, or -1
 * when it could not run or timed out. */
static int run_tool(char *const argv[], const char *in_path, char *out, size_t outlen)
{
	int pipefd[2];
	out[0] = '\0';
	if (pipe(pipefd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		int in = open(in_path ? in_path : "/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0 || dup2(in, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
			_exit(127);
		close(pipefd[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = TOOL_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 +
		                               (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(pipefd[0]);
			return -1;
		}
		struct pollfd p = {pipefd[0], POLLIN, 0};
		int ready = poll(&p, 1, (int)left);
		if (ready < 0 && errno != EINTR)
			break;
		if (ready <= 0)
			continue; /* the deadline is checked at the top */
		char buf[512];
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		size_t take = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;
		memcpy(out + used, buf, take);
		used += take;
		out[used] = '\0';
	}
	close(pipefd[0]);
	int status = 0;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int write_temp(const char *dir, const char *name, const char *data, size_t len, char *path,
                      size_t pathlen)
{
	snprintf(path, pathlen, "%s/rotor-%s-XXXXXX", dir, name);
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n <= 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

/* One line of tool output for a message: the first line, trimmed. */
static void first_line(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, "\n");
	snprintf(buf, len, "%.*s", (int)(n < 300 ? n : 300), s);
}

int rotor_verify_signature(const struct rotor_verify *v, const char *commit, const char *signature,
                           size_t siglen, const char *data, size_t datalen, const char *tmpdir,
                           struct rotor_error *err)
{
	char sigpath[4200] = "", datapath[4200] = "", out[TOOL_OUTPUT_MAX], line[320];
	int rc = 0;
	int ssh = siglen > 29 && strncmp(signature, "-----BEGIN SSH SIGNATURE-----", 29) == 0;
	int pgp = siglen > 29 && strncmp(signature, "-----BEGIN PGP SIGNATURE-----", 29) == 0;
	if ((ssh && !v->allowed_signers) || (pgp && !v->gpg_keyring) || (!ssh && !pgp))
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "commit %.12s is signed with %s signature, which "
		    "source.verify does not trust (it has %s%s%s): nothing was read",
		    commit,
		    ssh   ? "an SSH"
		    : pgp ? "an OpenPGP"
		          : "an unknown kind of",
		    v->allowed_signers ? "allowedSigners" : "",
		    v->allowed_signers && v->gpg_keyring ? " and " : "",
		    v->gpg_keyring ? "gpgKeyring" : "");
	if (write_temp(tmpdir, "sig", signature, siglen, sigpath, sizeof(sigpath)) != 0 ||
	    write_temp(tmpdir, "data", data, datalen, datapath, sizeof(datapath)) != 0) {
		rc = rotor_error_set(err, ROTOR_EIO, "commit verification: cannot write in %s: %s",
		                     tmpdir, strerror(errno));
		goto done;
	}
	if (ssh) {
		char *find[] = {"ssh-keygen", "-Y", "find-principals",          "-s",
		                sigpath,      "-f", (char *)v->allowed_signers, NULL};
		int st = run_tool(find, NULL, out, sizeof(out));
		char principal[256];
		first_line(out, principal, sizeof(principal));
		if (st != 0 || !principal[0]) {
			rc = rotor_error_set(
			    err, ROTOR_EAUTH,
			    "commit %.12s is signed by an SSH key that %s does not list "
			    "(source.verify.allowedSigners): nothing was read",
			    commit, v->allowed_signers);
			goto done;
		}
		char *verify[] = {
		    "ssh-keygen", "-Y",      "verify", "-f",  (char *)v->allowed_signers,
		    "-I",         principal, "-n",     "git", "-s",
		    sigpath,      NULL};
		st = run_tool(verify, datapath, out, sizeof(out));
		if (st != 0) {
			first_line(out, line, sizeof(line));
			rc =
			    rotor_error_set(err, ROTOR_EAUTH,
			                    "commit %.12s: its SSH signature does not verify (%s): "
			                    "nothing was read",
			                    commit, line[0] ? line : "ssh-keygen could not run");
		}
	} else {
		char *gpgv[] = {"gpgv",  "--keyring", (char *)v->gpg_keyring,
		                sigpath, datapath,    NULL};
		int st = run_tool(gpgv, NULL, out, sizeof(out));
		if (st != 0) {
			first_line(out, line, sizeof(line));
			rc = rotor_error_set(
			    err, ROTOR_EAUTH,
			    "commit %.12s: its OpenPGP signature does not verify against "
			    "%s (%s): nothing was read",
			    commit, v->gpg_keyring, line[0] ? line : "gpgv could not run");
		}
	}
done:
	if (sigpath[0])
		unlink(sigpath);
	if (datapath[0])
		unlink(datapath);
	return rc;
}
