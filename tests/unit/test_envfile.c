/* test_envfile.c: the envFile consumer — dotenv format, atomic write, path
 * safety (allowed dirs, '..', symbolic links), reload commands, and the
 * secret kept out of every message. Each test gets a fresh temp directory
 * as the only allowed directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/consumers/consumer.h"
#include "rotor/config.h"
#include "rotor/error.h"
#include "rotor/manifest.h"
#include "rotor/secret.h"
#include "testsupport.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AKID_LINE "AWS_ACCESS_KEY_ID=" AKID "\n"
#define SECRET_LINE "AWS_SECRET_ACCESS_KEY=" SECRET "\n"

enum { R_LOG, R_FAIL, R_SLOW, R_LEAK, R_MISSING, NRELOADS };

struct fx {
	char dir[256];
	char path[512]; /* dir/credentials.env */
	char *allowed[1];
	char *argv[NRELOADS][4];
	struct rotor_reload_command reloads[NRELOADS];
	struct rotor_config cfg;
	struct rotor_consumer_ops ops;
	struct rotor_consumer_ref consumer;
	struct rotor_secret *secret;
	struct rotor_consumer_pair pair;
	struct rotor_error err;
};

static char *xprintf(const char *fmt, const char *arg)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), fmt, arg);
	char *s = strdup(buf);
	assert_non_null(s);
	return s;
}

static void reload_add(struct fx *f, int i, const char *name, const char *script, int64_t timeout)
{
	f->argv[i][0] = strdup("/bin/sh");
	f->argv[i][1] = strdup("-c");
	f->argv[i][2] = xprintf(script, f->dir);
	f->argv[i][3] = NULL;
	f->reloads[i].name = strdup(name);
	f->reloads[i].argv = f->argv[i];
	f->reloads[i].argc = 3;
	f->reloads[i].timeout = timeout;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	char tmpl[] = "/tmp/rotor-envfile-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, f->dir));
	snprintf(f->path, sizeof(f->path), "%s/credentials.env", f->dir);
	f->allowed[0] = f->dir;
	reload_add(f, R_LOG, "log", "echo reloaded >> %s/reload.log", 5);
	reload_add(f, R_FAIL, "fail",
	           "echo; echo 'unit raxx-vault failed' >&2; echo 'second line'; exit 3", 5);
	reload_add(f, R_SLOW, "slow", "sleep 30 & echo $! > %s/slow.pid; wait", 1);
	reload_add(f, R_LEAK, "leak", "grep SECRET %s/credentials.env; exit 1", 5);
	reload_add(f, R_MISSING, "missing", "unused", 5);
	free(f->argv[R_MISSING][0]);
	f->argv[R_MISSING][0] = strdup("/nonexistent/reload-me"); /* no shell involved */
	free(f->argv[R_MISSING][1]);
	f->argv[R_MISSING][1] = NULL;
	f->reloads[R_MISSING].argc = 1;
	f->cfg.origin = (char *)"rotor.yaml";
	f->cfg.allowed_dirs = f->allowed;
	f->cfg.nallowed_dirs = 1;
	f->cfg.reloads = f->reloads;
	f->cfg.nreloads = NRELOADS;
	assert_int_equal(rotor_envfile_ops(&f->ops, &f->cfg, &f->err), 0);
	f->consumer.name = (char *)"vault-host";
	f->consumer.path = f->path;
	/* Not registered with the redactor: messages must be clean on their own. */
	assert_int_equal(rotor_secret_from_str(&f->secret, SECRET, 0, &f->err), 0);
	f->pair.akid_name = "AWS_ACCESS_KEY_ID";
	f->pair.akid = AKID;
	f->pair.secret_name = "AWS_SECRET_ACCESS_KEY";
	f->pair.secret = f->secret;
	rotor_error_clear(&f->err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	for (int i = 0; i < NRELOADS; i++) {
		for (int k = 0; k < 3; k++)
			free(f->argv[i][k]);
		free(f->reloads[i].name);
	}
	rotor_secret_free(f->secret);
	rotor_envfile_ops_dispose(&f->ops);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void assert_file(const char *path, const char *want)
{
	size_t len = 0;
	char *got = test_read_file(path, &len);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void assert_clean(const char *text)
{
	assert_null(strstr(text, SECRET));
	assert_null(strstr(text, "wJalrXUtnFEMI")); /* not even a part of it */
}

static enum rotor_consumer_state observe(struct fx *f, char *detail, size_t len)
{
	enum rotor_consumer_state st = ROTOR_CONSUMER_UNKNOWN;
	rotor_error_clear(&f->err);
	assert_int_equal(
	    f->ops.observe(f->ops.ctx, &f->consumer, &f->pair, &st, detail, len, &f->err), 0);
	assert_clean(detail);
	return st;
}

static int do_write(struct fx *f)
{
	rotor_error_clear(&f->err);
	char record[ROTOR_CONSUMER_RECORD_MAX];
	int rc = f->ops.write(f->ops.ctx, &f->consumer, &f->pair, record, sizeof(record), &f->err);
	assert_clean(f->err.message);
	return rc;
}

/* Observe and write both refuse f->consumer.path with ROTOR_EINVALID. */
static void assert_refused(struct fx *f, const char *why)
{
	enum rotor_consumer_state st = ROTOR_CONSUMER_IN_SYNC;
	char detail[ROTOR_OBS_ERROR_MAX] = "";
	rotor_error_clear(&f->err);
	assert_int_equal(f->ops.observe(f->ops.ctx, &f->consumer, &f->pair, &st, detail,
	                                sizeof(detail), &f->err),
	                 ROTOR_EINVALID);
	assert_int_equal(st, ROTOR_CONSUMER_UNKNOWN);
	assert_non_null(strstr(f->err.message, f->consumer.path));
	assert_non_null(strstr(f->err.message, f->dir));
	assert_non_null(strstr(f->err.message, why));
	assert_clean(f->err.message);
	assert_int_equal(do_write(f), ROTOR_EINVALID);
	assert_non_null(strstr(f->err.message, f->consumer.path));
	assert_non_null(strstr(f->err.message, why));
}

static int count_lines(const char *path)
{
	size_t len = 0;
	char *text = test_read_file(path, &len);
	int n = 0;
	for (size_t i = 0; text && i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

/* Names in the directory other than the given ones (temp files left over). */
static int stray_files(const char *dir, const char *const *expected)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d))) {
		int known = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
		for (size_t i = 0; expected[i] && !known; i++)
			known = !strcmp(de->d_name, expected[i]);
		n += !known;
	}
	closedir(d);
	return n;
}

/* ---- observe ------------------------------------------------------------- */

static void test_missing_file_drifted(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "file does not exist yet");
}

static void test_missing_directory(void **state)
{
	struct fx *f = *state;
	char path[600], detail[ROTOR_OBS_ERROR_MAX];
	snprintf(path, sizeof(path), "%s/nosuch/credentials.env", f->dir);
	f->consumer.path = path;
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_non_null(strstr(detail, "file does not exist yet"));
	assert_int_equal(do_write(f), ROTOR_EIO);
	assert_non_null(strstr(f->err.message, "does not exist"));
}

static void test_quoted_values_read(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	put_file(f->path,
	         "export AWS_ACCESS_KEY_ID='" AKID "'\n"
	         "  AWS_SECRET_ACCESS_KEY = \"" SECRET "\"   # from rotor\n",
	         0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	put_file(f->path,
	         "\tAWS_ACCESS_KEY_ID=" AKID "  # trailing comment\r\n"
	         "export   AWS_SECRET_ACCESS_KEY=" SECRET "\r\n",
	         0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
}

static void test_drift_names_the_variable(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	put_file(f->path, "AWS_ACCESS_KEY_ID=AKIAOLDOLDOLDOLDOLD1\n" SECRET_LINE, 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_ACCESS_KEY_ID differs");

	put_file(f->path, AKID_LINE "AWS_SECRET_ACCESS_KEY=" SECRET "x\n", 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_SECRET_ACCESS_KEY differs");

	put_file(f->path, "AWS_ACCESS_KEY_ID=AKIAOLD\nOTHER=1\n", 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_ACCESS_KEY_ID differs; AWS_SECRET_ACCESS_KEY is missing");
	assert_null(strstr(detail, "AKIAOLD"));

	put_file(f->path, SECRET_LINE, 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_ACCESS_KEY_ID is missing");

	/* Set twice, stale once: readers may take either, so it has drifted. */
	put_file(f->path, AKID_LINE SECRET_LINE "AWS_ACCESS_KEY_ID=AKIAOLD\n", 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_ACCESS_KEY_ID differs");

	/* An unterminated quote is not the value. */
	put_file(f->path, AKID_LINE "AWS_SECRET_ACCESS_KEY=\"" SECRET "\n", 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_SECRET_ACCESS_KEY differs");
}

static void test_names_from_consumer(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	f->pair.akid_name = NULL;
	f->pair.secret_name = NULL;
	f->consumer.akid_name = (char *)"VAULT_AWS_KEY";
	f->consumer.secret_name = (char *)"VAULT_AWS_SECRET";
	assert_int_equal(do_write(f), 0);
	assert_file(f->path, "VAULT_AWS_KEY=" AKID "\nVAULT_AWS_SECRET=" SECRET "\n");
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	f->consumer.secret_name = (char *)"BAD NAME";
	assert_int_equal(do_write(f), ROTOR_EINVALID);
}

static void test_unreadable_is_an_error(void **state)
{
	struct fx *f = *state;
	enum rotor_consumer_state st = ROTOR_CONSUMER_IN_SYNC;
	char detail[ROTOR_OBS_ERROR_MAX];
	assert_int_equal(mkdir(f->path, 0700), 0); /* a directory where the file should be */
	assert_true(f->ops.observe(f->ops.ctx, &f->consumer, &f->pair, &st, detail, sizeof(detail),
	                           &f->err) < 0);
	assert_int_equal(st, ROTOR_CONSUMER_UNKNOWN);
	assert_true(do_write(f) < 0);
}

static void test_size_cap(void **state)
{
	struct fx *f = *state;
	enum rotor_consumer_state st = ROTOR_CONSUMER_IN_SYNC;
	char detail[ROTOR_OBS_ERROR_MAX];
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big + 1);
	assert_non_null(text);
	memset(text, '#', big);
	text[big] = '\0';
	put_file(f->path, text, 0600);
	free(text);
	assert_int_equal(f->ops.observe(f->ops.ctx, &f->consumer, &f->pair, &st, detail,
	                                sizeof(detail), &f->err),
	                 ROTOR_ELIMIT);
	assert_int_equal(st, ROTOR_CONSUMER_UNKNOWN);
	assert_int_equal(do_write(f), ROTOR_ELIMIT);
}

/* ---- write --------------------------------------------------------------- */

static void test_write_creates_file(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	struct stat st;
	umask(022);
	assert_int_equal(do_write(f), 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_file(f->path, AKID_LINE SECRET_LINE);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	const char *const expected[] = {"credentials.env", NULL};
	assert_int_equal(stray_files(f->dir, expected), 0);
}

static void test_write_keeps_other_lines(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	put_file(f->path,
	         "# Vault host credentials, managed by rotor\n"
	         "export VAULT_ADDR=https://vault.internal:8200\n"
	         "\n"
	         "export AWS_ACCESS_KEY_ID=AKIAOLDOLDOLDOLDOLD1   # rotated\n"
	         "  # an indented comment\n"
	         "AWS_SECRET_ACCESS_KEY = \"old/secret+value\"\n"
	         "MULTI=\"first\n"
	         "AWS_ACCESS_KEY_ID=inside-a-quoted-value\n"
	         "last\"\n"
	         "not a variable line\n"
	         "TRAILING='x y'\n",
	         0600);
	assert_int_equal(do_write(f), 0);
	assert_file(f->path, "# Vault host credentials, managed by rotor\n"
	                     "export VAULT_ADDR=https://vault.internal:8200\n"
	                     "\n"
	                     "export AWS_ACCESS_KEY_ID=" AKID "   # rotated\n"
	                     "  # an indented comment\n"
	                     "AWS_SECRET_ACCESS_KEY = " SECRET "\n"
	                     "MULTI=\"first\n"
	                     "AWS_ACCESS_KEY_ID=inside-a-quoted-value\n"
	                     "last\"\n"
	                     "not a variable line\n"
	                     "TRAILING='x y'\n");
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
}

static void test_write_appends_missing(void **state)
{
	struct fx *f = *state;
	/* One present (CRLF kept), one missing, no final newline. */
	put_file(f->path, "AWS_ACCESS_KEY_ID=AKIAOLD\r\nFOO=bar", 0600);
	assert_int_equal(do_write(f), 0);
	assert_file(f->path, "AWS_ACCESS_KEY_ID=" AKID "\r\nFOO=bar\n" SECRET_LINE);
	/* Set twice: both replaced. */
	put_file(f->path, "AWS_ACCESS_KEY_ID=A\n" SECRET_LINE "AWS_ACCESS_KEY_ID=B\n", 0600);
	assert_int_equal(do_write(f), 0);
	assert_file(f->path, AKID_LINE SECRET_LINE AKID_LINE);
}

static void test_write_keeps_owner_sets_configured_mode(void **state)
{
	struct fx *f = *state;
	struct stat st;
	put_file(f->path, "FOO=1\n", 0640);
	if (geteuid() == 0)
		assert_int_equal(chown(f->path, 1234, 2345), 0);
	/* envFiles.mode: the group may read (the ops copy the config: rebuild) */
	f->cfg.env_file_mode = 0640;
	rotor_envfile_ops_dispose(&f->ops);
	assert_int_equal(rotor_envfile_ops(&f->ops, &f->cfg, &f->err), 0);
	assert_int_equal(do_write(f), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 2345);
	}
	assert_file(f->path, "FOO=1\n" AKID_LINE SECRET_LINE);
}

/* Env files are private (issue 15): a 0644 file in sync is drifted (others
 * can read the key) and is rewritten 0600, not kept 0644. */
static void test_world_readable_file_is_made_private(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char detail[ROTOR_OBS_ERROR_MAX];
	put_file(f->path, "FOO=1\n", 0644);
	assert_int_equal(do_write(f), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	/* right values, readable by others: drifted, with why */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_non_null(strstr(detail, "mode 0644 lets every local user read the secret"));
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_non_null(strstr(detail, "lets its group read"));
	assert_int_equal(do_write(f), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
}

static void test_write_quotes_special_values(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	struct rotor_secret *odd = NULL;
	assert_int_equal(rotor_secret_from_str(&odd, "p@ss \"w0rd\" $HOME\\x#1\tz", 0, &f->err), 0);
	f->pair.secret = odd;
	assert_int_equal(do_write(f), 0);
	assert_file(f->path,
	            AKID_LINE "AWS_SECRET_ACCESS_KEY=\"p@ss \\\"w0rd\\\" \\$HOME\\\\x#1\\tz\"\n");
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	/* The same value in single quotes reads the same. */
	put_file(f->path, AKID_LINE "AWS_SECRET_ACCESS_KEY='p@ss \"w0rd\" $HOME\\x#1\tz'\n", 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	f->pair.secret = f->secret;
	rotor_secret_free(odd);
}

/* A quote opened on another line and never closed would close on a quote
 * rotor writes and swallow the pair: the write is refused and the file
 * left as it was (a fuzzing finding). */
static void test_unterminated_quote_refused(void **state)
{
	struct fx *f = *state;
	struct rotor_secret *odd = NULL;
	const char *before = "OTHER=\"never closed\nKEEP=1\n";
	put_file(f->path, before, 0600);
	assert_int_equal(rotor_secret_from_str(&odd, "needs quoting: a space", 0, &f->err), 0);
	f->pair.secret = odd;
	assert_int_equal(do_write(f), ROTOR_EINVALID);
	assert_non_null(strstr(f->err.message, "nothing was written"));
	assert_file(f->path, before);
	f->pair.secret = f->secret;
	rotor_secret_free(odd);
}

static void test_in_sync_then_hand_edit(void **state)
{
	struct fx *f = *state;
	char detail[ROTOR_OBS_ERROR_MAX];
	assert_int_equal(do_write(f), 0);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	put_file(f->path, "AWS_ACCESS_KEY_ID=AKIAHANDEDITED00000\n" SECRET_LINE, 0600);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_DRIFTED);
	assert_string_equal(detail, "AWS_ACCESS_KEY_ID differs");
	assert_null(strstr(detail, "HANDEDITED"));
	assert_int_equal(do_write(f), 0);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
}

/* ---- reload -------------------------------------------------------------- */

static void test_reload_runs_once_per_write(void **state)
{
	struct fx *f = *state;
	char log[600], detail[ROTOR_OBS_ERROR_MAX];
	snprintf(log, sizeof(log), "%s/reload.log", f->dir);
	f->consumer.reload = (char *)"log";
	assert_int_equal(do_write(f), 0);
	assert_int_equal(count_lines(log), 1);
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
	assert_int_equal(count_lines(log), 1); /* observing never reloads */
	assert_int_equal(do_write(f), 0);
	assert_int_equal(count_lines(log), 2);
	assert_file(log, "reloaded\nreloaded\n");
}

static void test_reload_failure_reported(void **state)
{
	struct fx *f = *state;
	char want[800], detail[ROTOR_OBS_ERROR_MAX];
	f->consumer.reload = (char *)"fail";
	assert_int_equal(do_write(f), ROTOR_EIO);
	snprintf(want, sizeof(want), "reload fail (/bin/sh -c %s) exited 3: unit raxx-vault failed",
	         f->argv[R_FAIL][2]);
	assert_string_equal(f->err.message, want);
	/* The file was written before the reload ran. */
	assert_int_equal(observe(f, detail, sizeof(detail)), ROTOR_CONSUMER_IN_SYNC);
}

static void test_reload_timeout_kills(void **state)
{
	struct fx *f = *state;
	char pidfile[600], proc[64];
	struct timespec t0, t1;
	f->consumer.reload = (char *)"slow";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(do_write(f), ROTOR_EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(f->err.message, "reload slow ("));
	assert_non_null(strstr(f->err.message, "did not finish within 1s"));
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	/* The shell's sleep got the signal too: gone, or a zombie awaiting a reaper. */
	snprintf(pidfile, sizeof(pidfile), "%s/slow.pid", f->dir);
	char *pid = test_read_file(pidfile, NULL);
	assert_non_null(pid);
	pid[strcspn(pid, "\n")] = '\0';
	snprintf(proc, sizeof(proc), "/proc/%s/stat", pid);
	char *stat = test_read_file(proc, NULL);
	if (stat)
		assert_non_null(strstr(stat, ") Z"));
	free(stat);
	free(pid);
}

static void test_reload_not_executable(void **state)
{
	struct fx *f = *state;
	f->consumer.reload = (char *)"missing";
	assert_int_equal(do_write(f), ROTOR_EIO);
	assert_string_equal(f->err.message, "reload missing (/nonexistent/reload-me) exited 127: "
	                                    "cannot execute /nonexistent/reload-me");
}

static void test_reload_unknown_name(void **state)
{
	struct fx *f = *state;
	struct stat st;
	f->consumer.reload = (char *)"nope";
	assert_int_equal(do_write(f), ROTOR_EINVALID);
	assert_non_null(strstr(f->err.message, "nope"));
	assert_int_equal(lstat(f->path, &st), -1); /* nothing written */
}

static void test_reload_output_never_shows_secret(void **state)
{
	struct fx *f = *state;
	f->consumer.reload = (char *)"leak"; /* prints the secret's line, exits 1 */
	assert_int_equal(do_write(f), ROTOR_EIO);
	assert_non_null(strstr(f->err.message, "exited 1"));
	assert_non_null(strstr(f->err.message, "withheld"));
}

/* ---- path safety --------------------------------------------------------- */

static void test_refuses_outside_allowed(void **state)
{
	struct fx *f = *state;
	char path[700];
	f->consumer.path = (char *)"/etc/rotor-test-credentials.env";
	assert_refused(f, "not inside an allowed directory");
	snprintf(path, sizeof(path), "%sx/credentials.env", f->dir); /* a sibling prefix */
	f->consumer.path = path;
	assert_refused(f, "not inside an allowed directory");
	f->consumer.path = f->dir; /* the directory itself */
	assert_refused(f, "not inside an allowed directory");
	snprintf(path, sizeof(path), "%s/sub/", f->dir);
	f->consumer.path = path;
	assert_refused(f, "names a directory");
	f->consumer.path = (char *)"credentials.env";
	rotor_error_clear(&f->err);
	assert_int_equal(do_write(f), ROTOR_EINVALID);
	assert_non_null(strstr(f->err.message, "not absolute"));
}

static void test_refuses_dot_dot(void **state)
{
	struct fx *f = *state;
	char path[700];
	snprintf(path, sizeof(path), "%s/../credentials.env", f->dir);
	f->consumer.path = path;
	assert_refused(f, "'.' and '..' are not allowed");
	snprintf(path, sizeof(path), "%s/./credentials.env", f->dir);
	assert_refused(f, "'.' and '..' are not allowed");
	snprintf(path, sizeof(path), "%s/a/../credentials.env", f->dir);
	assert_refused(f, "'.' and '..' are not allowed");
	const char *const expected[] = {NULL};
	assert_int_equal(stray_files(f->dir, expected), 0);
}

static void test_refuses_symlinked_directory(void **state)
{
	struct fx *f = *state;
	char real[600], link[600], path[700];
	snprintf(real, sizeof(real), "%s/real", f->dir);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0); /* even one that stays inside */
	snprintf(path, sizeof(path), "%s/link/credentials.env", f->dir);
	f->consumer.path = path;
	assert_refused(f, "is a symbolic link;");
	snprintf(path, sizeof(path), "%s/real/credentials.env", f->dir);
	assert_int_equal(do_write(f), 0); /* the real directory is fine */
	snprintf(path, sizeof(path), "%s/link//credentials.env", f->dir);
	assert_refused(f, "is a symbolic link;");
	const char *const expected[] = {"credentials.env", NULL};
	assert_int_equal(stray_files(real, expected), 0);
}

static void test_refuses_symlinked_file(void **state)
{
	struct fx *f = *state;
	char victim[600];
	snprintf(victim, sizeof(victim), "%s/victim", f->dir);
	assert_int_equal(mkdir(victim, 0700), 0);
	snprintf(victim, sizeof(victim), "%s/victim/passwd", f->dir);
	put_file(victim, "untouched\n", 0644);
	assert_int_equal(symlink(victim, f->path), 0);
	assert_refused(f, "is a symbolic link;");
	assert_file(victim, "untouched\n");
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	const char *const expected[] = {"credentials.env", "victim", NULL};
	assert_int_equal(stray_files(f->dir, expected), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_missing_file_drifted),
	    T(test_missing_directory),
	    T(test_quoted_values_read),
	    T(test_drift_names_the_variable),
	    T(test_names_from_consumer),
	    T(test_unreadable_is_an_error),
	    T(test_size_cap),
	    T(test_write_creates_file),
	    T(test_write_keeps_other_lines),
	    T(test_write_appends_missing),
	    T(test_write_keeps_owner_sets_configured_mode),
	    T(test_world_readable_file_is_made_private),
	    T(test_write_quotes_special_values),
	    T(test_unterminated_quote_refused),
	    T(test_in_sync_then_hand_edit),
	    T(test_reload_runs_once_per_write),
	    T(test_reload_failure_reported),
	    T(test_reload_timeout_kills),
	    T(test_reload_not_executable),
	    T(test_reload_unknown_name),
	    T(test_reload_output_never_shows_secret),
	    T(test_refuses_outside_allowed),
	    T(test_refuses_dot_dot),
	    T(test_refuses_symlinked_directory),
	    T(test_refuses_symlinked_file),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
