/*
 * error.h: how every rotor function says what went wrong.
 *
 * Functions return 0 or a negative ROTOR_E* code and fill a caller-owned,
 * fixed-size struct rotor_error (no allocation, so reporting an out-of-memory
 * condition cannot itself fail). The message is one line, names what was being
 * done ("s3-backup-writer: CreateAccessKey(raxx-s3-backup)") and, for remote
 * failures, the remote's own error code and request id. Every message passes
 * through the redactor, so a registered secret never survives into it.
 */
/* Thread rules: a struct rotor_error belongs to its caller's thread; the functions
 * are pure. */
#ifndef ROTOR_ERROR_H
#define ROTOR_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Error kinds. Callers branch on these; a function documents the two or
 * three it can return on purpose, everything else is passed up unchanged. */
enum rotor_error_code {
	ROTOR_OK = 0,
	ROTOR_EINVALID = -1,   /* bad input: manifest, config, argument, malformed reply */
	ROTOR_ENOTFOUND = -2,  /* the remote object does not exist */
	ROTOR_ECONFLICT = -3,  /* concurrent modification, already exists */
	ROTOR_EAUTH = -4,      /* credentials rejected or permission denied */
	ROTOR_ETHROTTLED = -5, /* rate limited: try later */
	ROTOR_ETRANSIENT = -6, /* network, timeout, 5xx: try later */
	ROTOR_ELIMIT = -7,     /* a hard quota (2 keys, 50 tags, response size cap) */
	ROTOR_ENOMEM = -8,     /* allocation failed */
	ROTOR_EIO = -9,        /* local file or process failure */
	ROTOR_EINTERNAL = -10, /* a bug in rotor */
	ROTOR_ESTOPPED = -11,  /* stopped on request between two steps (SIGTERM) */
};

/* Sizes are generous for one line and small enough for the stack. */
#define ROTOR_ERROR_MSG_MAX 640

struct rotor_error {
	int code;                          /* enum rotor_error_code, 0 when no error */
	int http_status;                   /* the remote's HTTP status, 0 if none */
	char remote_code[64];              /* the remote's error code, e.g. "LimitExceeded" */
	char request_id[96];               /* the remote's request id, for support tickets */
	char message[ROTOR_ERROR_MSG_MAX]; /* one line, redacted */
};

/* Clears err (err may be NULL). */
void rotor_error_clear(struct rotor_error *err);

/* Sets err->code and a printf-formatted message, redacted; returns code so
 * that `return rotor_error_set(err, ROTOR_EINVALID, "...")` reads naturally.
 * err may be NULL. Remote fields are kept. */
int rotor_error_set(struct rotor_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rotor_error_setv(struct rotor_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Records the remote's status, code and request id (any may be NULL/0). */
void rotor_error_set_remote(struct rotor_error *err, int http_status, const char *remote_code,
                            const char *request_id);

/* Prepends "prefix: " to the message (e.g. the manifest name), redacted. */
void rotor_error_prefix(struct rotor_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A short stable name for a code: "invalid", "not-found", ... */
const char *rotor_error_code_name(int code);

/* True for the kinds worth trying again later (throttled, transient). */
int rotor_error_is_retryable(int code);

#endif
