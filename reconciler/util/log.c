/*
 * log.c: log lines and the process-wide redactor.
 *
 * The redactor holds pointers to the registered secrets' own bytes (never a
 * copy, so registering adds no new place where a secret lives). Redaction
 * scans the text once, trying the longest registered value first at each
 * position, so a secret that contains another is replaced whole.
 */
#include "rotor/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/timefmt.h"

struct redact_entry {
	const char *value;
	size_t len;
};

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static struct redact_entry *redact_entries;
static size_t redact_n, redact_cap;

void rotor_redact_register(const void *value, size_t len)
{
	if (!value || len < ROTOR_REDACT_MIN)
		return;
	pthread_mutex_lock(&redact_lock);
	if (redact_n == redact_cap) {
		size_t cap = redact_cap ? redact_cap * 2 : 32;
		struct redact_entry *e = realloc(redact_entries, cap * sizeof(*e));
		if (!e) {
			/* Cannot track it: fail closed by refusing to log at all. */
			pthread_mutex_unlock(&redact_lock);
			fputs("rotor: out of memory registering a secret for redaction\n", stderr);
			abort();
		}
		redact_entries = e;
		redact_cap = cap;
	}
	/* Keep entries sorted by length, longest first. */
	size_t i = redact_n;
	while (i > 0 && redact_entries[i - 1].len < len) {
		redact_entries[i] = redact_entries[i - 1];
		i--;
	}
	redact_entries[i].value = value;
	redact_entries[i].len = len;
	redact_n++;
	pthread_mutex_unlock(&redact_lock);
}

void rotor_redact_unregister(const void *value)
{
	pthread_mutex_lock(&redact_lock);
	for (size_t i = 0; i < redact_n; i++) {
		if (redact_entries[i].value == value) {
			memmove(&redact_entries[i], &redact_entries[i + 1],
			        (redact_n - i - 1) * sizeof(*redact_entries));
			redact_n--;
			break;
		}
	}
	pthread_mutex_unlock(&redact_lock);
}

size_t rotor_redact_count(void)
{
	pthread_mutex_lock(&redact_lock);
	size_t n = redact_n;
	pthread_mutex_unlock(&redact_lock);
	return n;
}

static const char REDACTED[] = "[REDACTED]";

size_t rotor_redact(char *buf, size_t cap)
{
	size_t hits = 0;
	if (!buf || cap == 0)
		return 0;
	pthread_mutex_lock(&redact_lock);
	if (redact_n == 0) {
		pthread_mutex_unlock(&redact_lock);
		return 0;
	}
	size_t len = strnlen(buf, cap - 1);
	char *out = malloc(cap);
	if (!out) {
		/* Fail closed: without room to rewrite, drop the text. */
		snprintf(buf, cap, "%s", "[message withheld: out of memory while redacting]");
		pthread_mutex_unlock(&redact_lock);
		return 1;
	}
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		const struct redact_entry *hit = NULL;
		for (size_t k = 0; k < redact_n; k++) {
			const struct redact_entry *e = &redact_entries[k];
			if (e->len <= len - i && memcmp(buf + i, e->value, e->len) == 0) {
				hit = e;
				break;
			}
		}
		if (hit) {
			size_t n = sizeof(REDACTED) - 1;
			if (o + n > cap - 1)
				n = cap - 1 - o;
			memcpy(out + o, REDACTED, n);
			o += n;
			i += hit->len;
			hits++;
		} else if (o < cap - 1) {
			out[o++] = buf[i++];
		} else {
			break;
		}
		if (o >= cap - 1)
			break;
	}
	out[o] = '\0';
	memcpy(buf, out, o + 1);
	memset(out, 0, cap);
	free(out);
	pthread_mutex_unlock(&redact_lock);
	return hits;
}

static FILE *log_sink;
static enum rotor_log_level log_min = ROTOR_LOG_INFO;
static enum rotor_log_format log_format = ROTOR_LOG_AUTO;
static struct rotor_clock *log_clock;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void rotor_log_setup(FILE *sink, enum rotor_log_level level, enum rotor_log_format format,
                     struct rotor_clock *clock)
{
	log_sink = sink;
	log_min = level;
	log_format = format;
	log_clock = clock;
}

enum rotor_log_level rotor_log_level(void)
{
	return log_min;
}

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int rotor_log_level_parse(const char *s)
{
	for (int i = 0; i <= ROTOR_LOG_OFF; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void rotor_logv(enum rotor_log_level level, const char *scope, const char *fmt, va_list ap)
{
	char msg[2048];
	char ts[ROTOR_TIME_STR_MAX];
	if (level < log_min || level >= ROTOR_LOG_OFF)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	rotor_redact(msg, sizeof(msg));
	struct rotor_clock *clock = log_clock ? log_clock : rotor_clock_real();
	rotor_time_format(ts, sizeof(ts), clock->now(clock));
	FILE *f = log_sink ? log_sink : stderr;
	enum rotor_log_format fmtkind = log_format;
	if (fmtkind == ROTOR_LOG_AUTO)
		fmtkind = isatty(fileno(f)) ? ROTOR_LOG_TEXT : ROTOR_LOG_JSON;
	pthread_mutex_lock(&log_lock);
	if (fmtkind == ROTOR_LOG_TEXT) {
		fprintf(f, "%s %-5s %s%s%s\n", ts, level_names[level], scope ? scope : "",
		        scope ? ": " : "", msg);
	} else {
		fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",", ts, level_names[level]);
		if (scope) {
			fputs("\"scope\":", f);
			json_string(f, scope);
			fputc(',', f);
		}
		fputs("\"msg\":", f);
		json_string(f, msg);
		fputs("}\n", f);
	}
	fflush(f);
	pthread_mutex_unlock(&log_lock);
	memset(msg, 0, sizeof(msg));
}

void rotor_log(enum rotor_log_level level, const char *scope, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rotor_logv(level, scope, fmt, ap);
	va_end(ap);
}
