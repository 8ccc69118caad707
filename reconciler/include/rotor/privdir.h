/*
 * privdir.h: a directory only rotor's user may write — the state directory
 * (locks, login counts) and the git source's cache both decide what rotor
 * does, so another local user must not own or write into them (a
 * pre-created directory under a shared /tmp, say).
 *
 * Thread rules: pure apart from the filesystem; any thread.
 */
#ifndef ROTOR_PRIVDIR_H
#define ROTOR_PRIVDIR_H

#include "rotor/error.h"

/* Creates dir and its missing parents with mode 0700, then checks that dir
 * is a directory (not a link) owned by this user and writable by no one
 * else. Errors name the directory as "the WHAT" and end with fix, the
 * setting that moves it ("set stateDir in the config"). ROTOR_EIO. */
int rotor_private_dir_make(const char *dir, const char *what, const char *fix,
                           struct rotor_error *err);

#endif
