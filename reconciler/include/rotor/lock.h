/*
 * lock.h: one mutator per IAM user on this machine, and where rotor keeps
 * its local state.
 *
 * Every command that may mutate a user (apply, rotate, rollback, resume,
 * and later the controller's workers) holds that user's lock for the whole
 * of its pass over the user: observe, plan, apply. The lock is an flock(2)
 * on a file under STATE_DIR/locks/, named by the AWS connection and the
 * user name in lower case (IAM names are case-insensitive), so it is
 * released by the kernel when the holder exits, however it exits (kill -9
 * included). The file holds the holder's pid, command, host and start time,
 * which a waiter that gives up quotes.
 *
 * Two rotor processes on different machines do not share these files; the
 * intent record on the user (engine.h) covers that case.
 *
 * Thread rules: a struct rotor_user_lock belongs to the thread that took
 * it; different users' locks may be taken from different threads.
 */
#ifndef ROTOR_LOCK_H
#define ROTOR_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/error.h"

struct rotor_clock;
struct rotor_user_lock;

/* The state directory: cfg_dir (the config's stateDir) when set, else
 * $ROTOR_STATE_DIR, else /var/lib/rotor for root, else
 * $XDG_STATE_HOME/rotor (default ~/.local/state/rotor). */
void rotor_state_dir(char *buf, size_t len, const char *cfg_dir);

/* Creates dir and its missing parents with mode 0700. */
int rotor_state_dir_make(const char *dir, struct rotor_error *err);

/* Takes the lock of (connection, user), waiting up to wait_ms of real
 * time (the clock, NULL for the real one, only dates the holder's note). ROTOR_ECONFLICT when
 * another process still holds it then, naming that process; ROTOR_EIO when the state directory
 * cannot be used. */
int rotor_user_lock_acquire(struct rotor_user_lock **out, const char *state_dir,
                            const char *connection, const char *user, const char *command,
                            int64_t wait_ms, struct rotor_clock *clock, struct rotor_error *err);
/* Releases and frees; NULL is a no-op. */
void rotor_user_lock_release(struct rotor_user_lock *l);

/* This process as a holder: "HOST:PID", for the intent record. */
void rotor_holder_id(char *buf, size_t len);

#endif
