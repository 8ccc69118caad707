/*
 * diag.h: diagnostics collected while reading manifests and config.
 *
 * Parsers never stop at the first problem: they add every error and warning
 * they find, each with its file, line and column, and the caller prints
 * them all as "file:line:col: message" (warnings say "warning:"). The list
 * is capped so a hostile input cannot make it grow without bound.
 */
/* Thread rules: a struct rotor_diags belongs to one thread. */
#ifndef ROTOR_DIAG_H
#define ROTOR_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum rotor_diag_severity {
	ROTOR_DIAG_ERROR = 0,
	ROTOR_DIAG_WARNING = 1,
};

struct rotor_diag {
	int severity;  /* enum rotor_diag_severity */
	char *file;    /* origin name as given to the parser */
	int line, col; /* 1-based; 0 when the problem has no position */
	char *message; /* one line */
};

#define ROTOR_DIAGS_MAX 1000

struct rotor_diags {
	struct rotor_diag *items;
	size_t n, cap;
	size_t nerrors, nwarnings; /* counted even past the cap */
	int truncated;             /* 1 when items were dropped at the cap */
};

void rotor_diags_init(struct rotor_diags *d);
void rotor_diags_dispose(struct rotor_diags *d);
void rotor_diags_add(struct rotor_diags *d, int severity, const char *file, int line, int col,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void rotor_diags_addv(struct rotor_diags *d, int severity, const char *file, int line, int col,
                      const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
/* Stable order: by file, line, column, then insertion. */
void rotor_diags_sort(struct rotor_diags *d);
/* "file:line:col: message" or "file:line:col: warning: message". */
void rotor_diag_format(const struct rotor_diag *diag, char *buf, size_t len);
/* Prints every diagnostic, one per line, and a note if the list was capped. */
void rotor_diags_print(const struct rotor_diags *d, FILE *f);

#endif
