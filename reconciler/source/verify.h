/*
 * verify.h (internal): commit signatures checked with the tools git uses
 * (ssh-keygen -Y, gpgv). Thread rules: any thread (each call its own
 * temporary files and child process).
 */
#ifndef ROTOR_VERIFY_H
#define ROTOR_VERIFY_H

#include <stddef.h>

#include "rotor/error.h"

struct rotor_verify {
	const char *allowed_signers; /* SSH: an allowed_signers file, or NULL */
	const char *gpg_keyring;     /* OpenPGP: a keyring for gpgv, or NULL */
};

/* 0 when signature (over data, as git signs a commit) verifies with a
 * trusted key; ROTOR_EAUTH naming the commit and why otherwise. Temporary
 * files go to tmpdir and are removed. */
int rotor_verify_signature(const struct rotor_verify *v, const char *commit, const char *signature,
                           size_t siglen, const char *data, size_t datalen, const char *tmpdir,
                           struct rotor_error *err);

#endif
