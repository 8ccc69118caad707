/*
 * secret.h: the one type that holds a secret value.
 *
 * A struct rotor_secret owns a heap copy of the bytes, NUL-terminated for
 * APIs that want a C string, and wipes it with OPENSSL_cleanse when freed.
 * The type is opaque: there is no way to hand it to printf by accident, and
 * code that needs the bytes asks for them by name (rotor_secret_bytes), which
 * is easy to audit with grep. A secret created with ROTOR_SECRET_REDACT is
 * registered with the redactor (log.h) for its whole life, so its value is
 * replaced by [REDACTED] in every log line and error message.
 */
/* Thread rules: any thread; one secret is not to be freed while another thread
 * reads it. Registration with the redactor is locked. */
#ifndef ROTOR_SECRET_H
#define ROTOR_SECRET_H

#include <stddef.h>

#include "rotor/error.h"

struct rotor_secret;

enum rotor_secret_flags {
	ROTOR_SECRET_REDACT = 1, /* register the value with the redactor */
};

/* Copies len bytes into a new secret. Returns 0 or ROTOR_ENOMEM. */
int rotor_secret_new(struct rotor_secret **out, const void *bytes, size_t len, int flags,
                     struct rotor_error *err);
/* Same, from a NUL-terminated string. */
int rotor_secret_from_str(struct rotor_secret **out, const char *str, int flags,
                          struct rotor_error *err);
/* A second, independent secret with the same value and flags. */
int rotor_secret_dup(struct rotor_secret **out, const struct rotor_secret *s,
                     struct rotor_error *err);

/* Wipes and frees; unregisters from the redactor. NULL is a no-op. */
void rotor_secret_free(struct rotor_secret *s);

/* The bytes (NUL-terminated) and their length. Never log these. */
const char *rotor_secret_bytes(const struct rotor_secret *s);
size_t rotor_secret_len(const struct rotor_secret *s);

/* Constant-time comparison; 1 when equal. NULLs compare equal only to NULL. */
int rotor_secret_equal(const struct rotor_secret *a, const struct rotor_secret *b);
int rotor_secret_equal_bytes(const struct rotor_secret *a, const void *bytes, size_t len);

/* Registers (or unregisters) any secret with the redactor. */
void rotor_secret_register(struct rotor_secret *s);

/* Wipe a plain buffer (for transient copies, e.g. a JSON body). */
void rotor_wipe(void *p, size_t len);

/* Make the process refuse to dump core or be ptrace'd by other users, so a
 * crash never writes secrets to disk. Called once by the CLI at start. */
void rotor_secret_harden_process(void);

#endif
