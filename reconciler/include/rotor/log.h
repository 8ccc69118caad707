/*
 * log.h: rotor's log lines, and the redactor that keeps secrets out of them.
 *
 * Lines go to one sink (stderr by default): human-readable on a TTY,
 * JSON lines otherwise (or as configured). Every message is passed through
 * rotor_redact before it is written: any registered secret value, wherever it
 * appears, becomes [REDACTED]. The redactor is process-wide (secrets are
 * registered by the secret type) and thread-safe.
 */
/* Thread rules: logging and the redaction list are guarded by their own
 * mutexes: any thread. */
#ifndef ROTOR_LOG_H
#define ROTOR_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum rotor_log_level {
	ROTOR_LOG_DEBUG = 0,
	ROTOR_LOG_INFO = 1,
	ROTOR_LOG_WARN = 2,
	ROTOR_LOG_ERROR = 3,
	ROTOR_LOG_OFF = 4,
};

enum rotor_log_format {
	ROTOR_LOG_AUTO = 0, /* text on a TTY, JSON otherwise */
	ROTOR_LOG_TEXT = 1,
	ROTOR_LOG_JSON = 2,
};

struct rotor_clock;

/* Configure the sink (NULL: stderr), level, format and the clock used for
 * timestamps (NULL: the real clock). Not thread-safe; call at start. */
void rotor_log_setup(FILE *sink, enum rotor_log_level level, enum rotor_log_format format,
                     struct rotor_clock *clock);
enum rotor_log_level rotor_log_level(void);
/* Parses "debug", "info", "warn", "error", "off"; -1 if unknown. */
int rotor_log_level_parse(const char *s);

/* Writes one line. `scope` names the subject (a manifest name, "controller")
 * and may be NULL. The formatted message is redacted before it is written. */
void rotor_log(enum rotor_log_level level, const char *scope, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rotor_logv(enum rotor_log_level level, const char *scope, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The redactor. Values shorter than ROTOR_REDACT_MIN bytes are not
 * registered (they would mangle ordinary text and are not real secrets). */
#define ROTOR_REDACT_MIN 4
void rotor_redact_register(const void *value, size_t len);
void rotor_redact_unregister(const void *value);
/* Rewrites buf (NUL-terminated, capacity cap) in place, replacing each
 * registered value by "[REDACTED]"; truncates if the result would not fit.
 * Returns the number of replacements. */
size_t rotor_redact(char *buf, size_t cap);
/* Number of values currently registered (for tests). */
size_t rotor_redact_count(void);

#endif
