/*
 * test_lock.c: one mutator per IAM user (reconciler/engine/lock.c). A
 * second process waits a bounded time, then fails naming the holder; the
 * kernel releases a lock whose holder died (kill -9 included); user names
 * differing only in case share one lock; intent records carry the holder.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/engine.h"
#include "rotor/lock.h"
#include "testsupport.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rotor-test-lock-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A child that takes the lock of (conn, user), says so on the pipe, and
 * holds it until killed. */
static pid_t holder(const char *user, int *ready_fd)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rotor_user_lock *l = NULL;
		struct rotor_error err;
		close(p[0]);
		if (rotor_user_lock_acquire(&l, dir, "aws-prod", user, "apply", 1000, NULL, &err) !=
		    0)
			_exit(1);
		(void)!write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	*ready_fd = p[0];
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	return pid;
}

static void test_second_process_waits_then_names_holder(void **state)
{
	(void)state;
	int fd;
	pid_t pid = holder("raxx-backup", &fd);
	struct rotor_user_lock *l = NULL;
	struct rotor_error err;
	struct rotor_clock *real = rotor_clock_real();
	int64_t t0 = real->monotonic_ms(real);
	rotor_error_clear(&err);
	/* another spelling of the same IAM user: the same lock */
	assert_int_equal(rotor_user_lock_acquire(&l, dir, "aws-prod", "Raxx-Backup", "rollback",
	                                         300, NULL, &err),
	                 ROTOR_ECONFLICT);
	assert_null(l);
	assert_true(real->monotonic_ms(real) - t0 >= 300);
	char want[64];
	snprintf(want, sizeof(want), "pid %ld, `rotor apply`", (long)pid);
	assert_non_null(strstr(err.message, want));
	assert_non_null(strstr(err.message, "nothing was done"));
	/* another user is not held */
	assert_int_equal(
	    rotor_user_lock_acquire(&l, dir, "aws-prod", "raxx-other", "apply", 0, NULL, &err), 0);
	rotor_user_lock_release(l);
	/* the holder killed -9: the kernel releases its lock */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
	assert_int_equal(
	    rotor_user_lock_acquire(&l, dir, "aws-prod", "RAXX-BACKUP", "apply", 0, NULL, &err), 0);
	rotor_user_lock_release(l);
}

/* A waiter gets the lock as soon as the holder lets go. */
static void test_waiter_gets_it_after_release(void **state)
{
	(void)state;
	int fd;
	pid_t pid = holder("raxx-api", &fd);
	pid_t killer = fork();
	if (killer == 0) {
		usleep(200 * 1000);
		kill(pid, SIGTERM);
		_exit(0);
	}
	struct rotor_user_lock *l = NULL;
	struct rotor_error err;
	assert_int_equal(
	    rotor_user_lock_acquire(&l, dir, "aws-prod", "raxx-api", "apply", 10000, NULL, &err),
	    0);
	rotor_user_lock_release(l);
	waitpid(pid, NULL, 0);
	waitpid(killer, NULL, 0);
	close(fd);
}

/* Odd names never leave the lock directory. */
static void test_names_stay_inside(void **state)
{
	(void)state;
	struct rotor_user_lock *l = NULL;
	struct rotor_error err;
	assert_int_equal(
	    rotor_user_lock_acquire(&l, dir, "../..", "../../etc/passwd", "apply", 0, NULL, &err),
	    0);
	rotor_user_lock_release(l);
	char cmd[PATH_MAX + 64];
	/* one file in locks/, none beside it or above it */
	snprintf(
	    cmd, sizeof(cmd),
	    "test \"$(ls '%s/locks' | grep -c passwd)\" = 1 && test \"$(find '%s/..' -maxdepth 2 "
	    "-name '*passwd*' | wc -l)\" = 0",
	    dir, dir);
	assert_int_equal(system(cmd), 0);
}

/* A state directory others can write into (a pre-created one under a shared
 * /tmp) is refused: they could hold every lock. */
static void test_state_dir_must_be_private(void **state)
{
	(void)state;
	char open_dir[PATH_MAX + 16];
	struct rotor_user_lock *l = NULL;
	struct rotor_error err;
	snprintf(open_dir, sizeof(open_dir), "%s/shared", dir);
	assert_int_equal(mkdir(open_dir, 0777), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	rotor_error_clear(&err);
	assert_int_equal(rotor_state_dir_make(open_dir, &err), ROTOR_EIO);
	assert_non_null(strstr(err.message, "only it can write"));
	assert_int_equal(chmod(open_dir, 0700), 0);
	assert_int_equal(rotor_state_dir_make(open_dir, &err), 0);
	assert_int_equal(
	    rotor_user_lock_acquire(&l, open_dir, "aws-prod", "raxx-x", "apply", 0, NULL, &err), 0);
	rotor_user_lock_release(l);
}

static void test_intent_holder(void **state)
{
	(void)state;
	char buf[192], who[64], holder_id[96], h[96];
	int64_t at;
	rotor_holder_id(holder_id, sizeof(holder_id));
	assert_non_null(strchr(holder_id, ':'));
	rotor_intent_format(buf, sizeof(buf), "app", 1780272000, holder_id);
	assert_int_equal(rotor_intent_parse(buf, who, sizeof(who), &at), 0);
	assert_string_equal(who, "app");
	assert_int_equal(at, 1780272000);
	assert_int_equal(rotor_intent_holder(buf, h, sizeof(h)), 0);
	assert_string_equal(h, holder_id);
	/* an intent written before holders were recorded still parses */
	assert_int_equal(
	    rotor_intent_parse("v1 m=app at=2026-06-01T00:00:00Z", who, sizeof(who), &at), 0);
	assert_int_equal(rotor_intent_holder("v1 m=app at=2026-06-01T00:00:00Z", h, sizeof(h)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_second_process_waits_then_names_holder),
	    cmocka_unit_test(test_waiter_gets_it_after_release),
	    cmocka_unit_test(test_names_stay_inside),
	    cmocka_unit_test(test_state_dir_must_be_private),
	    cmocka_unit_test(test_intent_holder),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
