/*
 * discover.h: every IAM user of an AWS connection, with each access key's
 * age, status and last use, for `rotor discover` (adoption of an account:
 * which users have old keys, which no manifest manages). Read-only: only
 * ListUsers, ListAccessKeys and GetAccessKeyLastUsed, through the engine's
 * AWS connection and so under its rate limit.
 * Thread rules: one call per thread; the engine may serve others meanwhile.
 */
#ifndef ROTOR_DISCOVER_H
#define ROTOR_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/engine.h"
#include "rotor/error.h"

struct rotor_discovered_key {
	char id[32];
	int active; /* 1 Active, 0 Inactive (or Expired) */
	int64_t created;
	int64_t last_used; /* 0: never used (or not known: see last_used_known) */
	int last_used_known;
	char service[64], region[32]; /* of the last use */
};

struct rotor_discovered_user {
	char name[72];
	char path[512];
	char arn[320];
	int64_t created;
	struct rotor_discovered_key keys[2];
	int nkeys;
	char error[ROTOR_ERROR_MSG_MAX]; /* its keys could not be read: why ("" when they could) */
};

/* Walks every user of connection under path_prefix (NULL: every user),
 * ListUsers page_size at a time (0: IAM's default), calling each() per
 * user. A user whose keys cannot be read is still reported, with error
 * set; the walk goes on. Returns an error only when ListUsers itself fails
 * (naming the page), after reporting the users seen so far. */
int rotor_engine_discover(struct rotor_engine *e, const char *connection, const char *path_prefix,
                          int page_size,
                          void (*each)(void *ctx, const struct rotor_discovered_user *u), void *ctx,
                          struct rotor_error *err);

#endif
