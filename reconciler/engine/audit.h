/* audit.h (internal): the audit log, one JSON line per mutation. */
/* Thread rules: any thread: each entry is one write(2) of one line to an O_APPEND
 * file, which the kernel keeps whole. */
#ifndef ROTOR_ENGINE_AUDIT_H
#define ROTOR_ENGINE_AUDIT_H

#include <stdint.h>

#include "rotor/error.h"

struct audit {
	int fd; /* -1: no audit log configured */
};

struct audit_entry {
	int64_t time;
	const char *manifest;
	const char *user;
	const char *action;
	const char *key_id;
	int64_t store_version;
	const char *consumer;
	const char *error; /* NULL on success */
	const char *revision;
};

int rotor_audit_open(struct audit *a, const char *path, struct rotor_error *err);
void rotor_audit_close(struct audit *a);
void rotor_audit_write(struct audit *a, const struct audit_entry *x);

#endif
