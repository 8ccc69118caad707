/* diag.c: collecting, ordering and printing parse diagnostics. */
#include "rotor/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/log.h"

void rotor_diags_init(struct rotor_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void rotor_diags_dispose(struct rotor_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].message);
	}
	free(d->items);
	memset(d, 0, sizeof(*d));
}

void rotor_diags_addv(struct rotor_diags *d, int severity, const char *file, int line, int col,
                      const char *fmt, va_list ap)
{
	char msg[1024];
	if (severity == ROTOR_DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
	if (d->n >= ROTOR_DIAGS_MAX) {
		d->truncated = 1;
		return;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct rotor_diag *items = realloc(d->items, cap * sizeof(*items));
		if (!items) {
			d->truncated = 1;
			return;
		}
		d->items = items;
		d->cap = cap;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	rotor_redact(msg, sizeof(msg));
	struct rotor_diag *it = &d->items[d->n];
	it->severity = severity;
	it->file = strdup(file ? file : "");
	it->line = line;
	it->col = col;
	it->message = strdup(msg);
	if (!it->file || !it->message) {
		free(it->file);
		free(it->message);
		d->truncated = 1;
		return;
	}
	d->n++;
}

void rotor_diags_add(struct rotor_diags *d, int severity, const char *file, int line, int col,
                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rotor_diags_addv(d, severity, file, line, col, fmt, ap);
	va_end(ap);
}

/* Insertion order breaks ties, so the sort must be stable: merge sort via a
 * temporary array would do, but diagnostics are few; insertion sort is. */
static int cmp(const struct rotor_diag *a, const struct rotor_diag *b)
{
	int c = strcmp(a->file, b->file);
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void rotor_diags_sort(struct rotor_diags *d)
{
	for (size_t i = 1; i < d->n; i++) {
		struct rotor_diag x = d->items[i];
		size_t j = i;
		while (j > 0 && cmp(&d->items[j - 1], &x) > 0) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = x;
	}
}

void rotor_diag_format(const struct rotor_diag *diag, char *buf, size_t len)
{
	const char *sev = diag->severity == ROTOR_DIAG_WARNING ? "warning: " : "";
	if (diag->line > 0)
		snprintf(buf, len, "%s:%d:%d: %s%s", diag->file, diag->line, diag->col, sev,
		         diag->message);
	else
		snprintf(buf, len, "%s: %s%s", diag->file, sev, diag->message);
}

void rotor_diags_print(const struct rotor_diags *d, FILE *f)
{
	char line[2048];
	for (size_t i = 0; i < d->n; i++) {
		rotor_diag_format(&d->items[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	if (d->truncated)
		fprintf(f,
		        "(more problems were found than are shown: %zu errors, %zu warnings "
		        "in all)\n",
		        d->nerrors, d->nwarnings);
}
