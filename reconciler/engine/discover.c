/* discover.c: every IAM user of a connection with its keys (rotor/discover.h). */
#include "rotor/discover.h"

#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

#define PAGE_CAP 1000 /* IAM's largest MaxItems */

static void user_keys(struct aws_handle *a, const struct rotor_iam_user *iu,
                      struct rotor_discovered_user *u)
{
	struct rotor_iam_key keys[ROTOR_IAM_MAX_KEYS];
	size_t n = 0;
	struct rotor_error err;
	rotor_error_clear(&err);
	if (AWS(a, list_access_keys, iu->name, keys, &n, &err) != 0) {
		snprintf(u->error, sizeof(u->error), "%s", err.message);
		return;
	}
	for (size_t i = 0; i < n && u->nkeys < 2; i++) {
		struct rotor_discovered_key *k = &u->keys[u->nkeys++];
		struct rotor_iam_last_used lu;
		snprintf(k->id, sizeof(k->id), "%s", keys[i].id);
		k->active = keys[i].active;
		k->created = keys[i].created;
		rotor_error_clear(&err);
		if (AWS(a, last_used, keys[i].id, &lu, &err) == 0) {
			k->last_used_known = 1;
			k->last_used = lu.date;
			snprintf(k->service, sizeof(k->service), "%s", lu.service);
			snprintf(k->region, sizeof(k->region), "%s", lu.region);
		} else if (!u->error[0]) {
			snprintf(u->error, sizeof(u->error), "%s", err.message);
		}
	}
}

int rotor_engine_discover(struct rotor_engine *e, const char *connection, const char *path_prefix,
                          int page_size,
                          void (*each)(void *ctx, const struct rotor_discovered_user *u), void *ctx,
                          struct rotor_error *err)
{
	struct aws_handle *a = NULL;
	int rc = rotor_engine_aws_take(e, connection, &a, err);
	if (rc)
		return rc;
	if (!a->api->list_users) {
		rotor_engine_aws_give(e, a);
		return rotor_error_set(err, ROTOR_EINTERNAL, "this AWS provider cannot list users");
	}
	/* room for IAM's largest page whatever was asked: moto ignores MaxItems
	 * on ListUsers and answers every user at once */
	size_t cap = PAGE_CAP;
	struct rotor_iam_user *page = calloc(cap, sizeof(*page));
	struct rotor_discovered_user *u = calloc(1, sizeof(*u));
	char *marker = calloc(2, ROTOR_IAM_MARKER_MAX);
	if (!page || !u || !marker) {
		free(page);
		free(u);
		free(marker);
		rotor_engine_aws_give(e, a);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	char *next = marker + ROTOR_IAM_MARKER_MAX;
	for (int pages = 0;; pages++) {
		size_t n = 0;
		rc = AWS(a, list_users, path_prefix, page_size, marker, page, cap, &n, next, err);
		if (rc) {
			rotor_error_prefix(err, "connection %s, page %d of ListUsers", connection,
			                   pages + 1);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			memset(u, 0, sizeof(*u));
			snprintf(u->name, sizeof(u->name), "%s", page[i].name);
			snprintf(u->path, sizeof(u->path), "%s", page[i].path);
			snprintf(u->arn, sizeof(u->arn), "%s", page[i].arn);
			u->created = page[i].created;
			user_keys(a, &page[i], u);
			each(ctx, u);
		}
		if (!next[0])
			break;
		if (strcmp(next, marker) == 0) {
			rc = rotor_error_set(
			    err, ROTOR_EINVALID,
			    "connection %s: ListUsers answered the same Marker twice", connection);
			break;
		}
		memcpy(marker, next, ROTOR_IAM_MARKER_MAX);
	}
	free(page);
	free(u);
	free(marker);
	rotor_engine_aws_give(e, a);
	return rc;
}
