/*
 * audit.c: one JSON line per mutation, fsync'd, never a secret.
 * Fields: time, manifest, user, action, keyId, storeVersion, consumer,
 * result ("ok" | "error"), error, revision.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotor/log.h"
#include "rotor/timefmt.h"

int rotor_audit_open(struct audit *a, const char *path, struct rotor_error *err)
{
	a->fd = -1;
	if (!path)
		return 0;
	a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd < 0)
		return rotor_error_set(err, ROTOR_EIO, "audit log %s: cannot open: %s", path,
		                       strerror(errno));
	return 0;
}

void rotor_audit_close(struct audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

void rotor_audit_write(struct audit *a, const struct audit_entry *x)
{
	char ts[ROTOR_TIME_STR_MAX];
	if (a->fd < 0)
		return;
	rotor_time_format(ts, sizeof(ts), x->time);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "time", ts, "manifest", x->manifest, "user",
	                      x->user, "action", x->action);
	json_object_set_new(j, "keyId",
	                    x->key_id && *x->key_id ? json_string(x->key_id) : json_null());
	json_object_set_new(j, "storeVersion",
	                    x->store_version ? json_integer(x->store_version) : json_null());
	json_object_set_new(j, "consumer", x->consumer ? json_string(x->consumer) : json_null());
	json_object_set_new(j, "result", json_string(x->error ? "error" : "ok"));
	json_object_set_new(j, "error", x->error ? json_string(x->error) : json_null());
	json_object_set_new(j, "revision", x->revision ? json_string(x->revision) : json_null());
	char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!line)
		return;
	/* The error text went through the redactor when it was made; run the
	 * whole line through it once more before it reaches the disk. */
	size_t n = strlen(line);
	char *buf = malloc(n + 2);
	if (buf) {
		memcpy(buf, line, n + 1);
		rotor_redact(buf, n + 1);
		n = strlen(buf);
		buf[n++] = '\n';
		if (write(a->fd, buf, n) != (ssize_t)n || fsync(a->fd) != 0)
			rotor_log(ROTOR_LOG_ERROR, x->manifest, "audit log write failed: %s",
			          strerror(errno));
		free(buf);
	}
	free(line);
}
