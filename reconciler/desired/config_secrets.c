/*
 * config_secrets.c: loading the config's secret references ({env: NAME} or
 * {file: PATH}) into the secret type, which registers each value with the
 * redactor, after the config was parsed (config.c). A reference that
 * cannot be loaded is a diagnostic at its position, never a value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotor/config.h"
#include "rotor/diag.h"
#include "rotor/error.h"
#include "rotor/secret.h"

#define WHAT_MAX 256 /* a field's dotted path, for messages */
#define SECRET_FILE_MAX ((size_t)64 * 1024)

struct resolver {
	struct rotor_diags *diags;
	int severity; /* for references that cannot be loaded */
	int failed;   /* a reference could not be loaded */
	int oom;
};

static void rdiag(struct resolver *r, int severity, const struct rotor_secret_ref *ref,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void rdiag(struct resolver *r, int severity, const struct rotor_secret_ref *ref,
                  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rotor_diags_addv(r->diags, severity, ref->pos.file, ref->pos.line, ref->pos.col, fmt, ap);
	va_end(ap);
}

static void resolve_env(struct resolver *r, struct rotor_secret_ref *ref, const char *what)
{
	const char *v = getenv(ref->name);
	if (!v) {
		rdiag(r, r->severity, ref, "%s: environment variable %s is not set", what,
		      ref->name);
		r->failed = 1;
		return;
	}
	if (!*v) {
		rdiag(r, r->severity, ref, "%s: environment variable %s is empty", what, ref->name);
		r->failed = 1;
		return;
	}
	if (rotor_secret_from_str(&ref->value, v, ROTOR_SECRET_REDACT, NULL))
		r->oom = 1;
}

/* Reads up to cap bytes; *got may reach cap, which tells "too large". */
static int read_upto(int fd, char *buf, size_t cap, size_t *got)
{
	*got = 0;
	while (*got < cap) {
		ssize_t n = read(fd, buf + *got, cap - *got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

static void resolve_file(struct resolver *r, struct rotor_secret_ref *ref, const char *what)
{
	const char *path = ref->name;
	struct stat st;
	char *buf = NULL;
	size_t got = 0, len;
	/* O_NONBLOCK: a FIFO must not hang the open; regular files ignore it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rdiag(r, r->severity, ref, "%s: cannot read %s: %s", what, path, strerror(errno));
		r->failed = 1;
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		rdiag(r, r->severity, ref, "%s: %s is not a regular file", what, path);
		r->failed = 1;
		goto done;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH))
		rdiag(r, ROTOR_DIAG_WARNING, ref,
		      "%s: %s is readable by group or others (mode %04o): run chmod 600 %s", what,
		      path, (unsigned)(st.st_mode & 07777), path);
	buf = malloc(SECRET_FILE_MAX + 1);
	if (!buf) {
		r->oom = 1;
		goto done;
	}
	if (read_upto(fd, buf, SECRET_FILE_MAX + 1, &got) != 0) {
		rdiag(r, r->severity, ref, "%s: cannot read %s: %s", what, path, strerror(errno));
		r->failed = 1;
		goto done;
	}
	if (got > SECRET_FILE_MAX) {
		rdiag(r, r->severity, ref, "%s: %s is larger than 64 KiB: is it the right file?",
		      what, path);
		r->failed = 1;
		goto done;
	}
	len = got;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r' && len + 1 == got)
		len--;
	if (len == 0) {
		rdiag(r, r->severity, ref, "%s: %s is empty", what, path);
		r->failed = 1;
		goto done;
	}
	if (rotor_secret_new(&ref->value, buf, len, ROTOR_SECRET_REDACT, NULL))
		r->oom = 1;
done:
	if (buf) {
		rotor_wipe(buf, got);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
}

/* Loads one reference afresh (a reload replaces what an earlier call read). */
static void resolve_ref(struct resolver *r, struct rotor_secret_ref *ref, const char *what)
{
	if (ref->kind == ROTOR_REF_NONE)
		return;
	rotor_secret_free(ref->value);
	ref->value = NULL;
	if (ref->kind == ROTOR_REF_ENV)
		resolve_env(r, ref, what);
	else
		resolve_file(r, ref, what);
}

int rotor_config_resolve_secrets(struct rotor_config *cfg, int severity, struct rotor_diags *diags)
{
	struct resolver r = {diags, severity, 0, 0};
	char what[WHAT_MAX];
	for (size_t i = 0; i < cfg->naws; i++) {
		snprintf(what, sizeof(what), "connections.aws.%s.externalId", cfg->aws[i].name);
		resolve_ref(&r, &cfg->aws[i].external_id, what);
	}
	for (size_t i = 0; i < cfg->ninfisical; i++) {
		struct rotor_infisical_connection *s = &cfg->infisical[i];
		snprintf(what, sizeof(what), "connections.infisical.%s.clientId", s->name);
		resolve_ref(&r, &s->client_id, what);
		snprintf(what, sizeof(what), "connections.infisical.%s.clientSecret", s->name);
		resolve_ref(&r, &s->client_secret, what);
	}
	for (size_t i = 0; i < cfg->nheroku; i++) {
		snprintf(what, sizeof(what), "connections.heroku.%s.token", cfg->heroku[i].name);
		resolve_ref(&r, &cfg->heroku[i].token, what);
	}
	for (size_t i = 0; i < cfg->ngithub; i++) {
		snprintf(what, sizeof(what), "connections.github.%s.token", cfg->github[i].name);
		resolve_ref(&r, &cfg->github[i].token, what);
		snprintf(what, sizeof(what), "connections.github.%s.app.privateKey",
		         cfg->github[i].name);
		resolve_ref(&r, &cfg->github[i].app_private_key, what);
	}
	for (size_t i = 0; i < cfg->nssh; i++) {
		snprintf(what, sizeof(what), "connections.ssh.%s.privateKey", cfg->ssh[i].name);
		resolve_ref(&r, &cfg->ssh[i].private_key, what);
	}
	resolve_ref(&r, &cfg->source.token, "source.auth.token");
	resolve_ref(&r, &cfg->source.ssh_key, "source.auth.sshKey");
	resolve_ref(&r, &cfg->webhook_github_secret, "controller.webhook.github.secret");
	for (size_t i = 0; i < cfg->nnotifications; i++) {
		snprintf(what, sizeof(what), "notifications.%s.url", cfg->notifications[i].name);
		resolve_ref(&r, &cfg->notifications[i].url, what);
		snprintf(what, sizeof(what), "notifications.%s.secret", cfg->notifications[i].name);
		resolve_ref(&r, &cfg->notifications[i].secret, what);
	}
	if (r.oom)
		return ROTOR_ENOMEM;
	return r.failed && severity == ROTOR_DIAG_ERROR ? ROTOR_EINVALID : 0;
}
