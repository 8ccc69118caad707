/*
 * iam.c: the IAM actions rotor uses, one function each, typed results.
 * Wire facts: ../shared/api/aws.md. Replies are read tolerantly: element
 * order and unknown elements do not matter, IsTruncated may be absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"

#define IAM_VERSION "2010-05-08"
#define IAM_MAX_PAGES 20

static void set_what(struct aws_call *call, const char *action, const char *arg)
{
	call->action = action;
	call->version = IAM_VERSION;
	snprintf(call->what, sizeof(call->what), "%s(%s)", action, arg);
}

static int parse_date(const struct xnode *n, const char *path, int64_t *out, const char *what,
                      struct rotor_error *err)
{
	char buf[64], why[160];
	if (!rotor_xml_copy(n, path, buf, sizeof(buf)) || !buf[0]) {
		*out = 0;
		return 0;
	}
	if (rotor_time_parse(out, buf, why, sizeof(why)) != 0)
		return rotor_error_set(err, ROTOR_EINVALID, "%s: unreadable date in the reply: %s",
		                       what, why);
	return 0;
}

int rotor_aws_key_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n < ROTOR_AWS_KEY_ID_MIN || n > ROTOR_AWS_KEY_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9')))
			return 0;
	return 1;
}

/* Copies the AccessKeyId under n into id (ROTOR_AWS_KEY_ID_MAX + 1 bytes),
 * refusing a missing id or one of unexpected length or characters: a
 * truncated id would name another key, or none (a false "deleted"). */
static int copy_key_id(const struct xnode *n, char *id, const char *what, struct rotor_error *err)
{
	char buf[160];
	id[0] = '\0';
	if (!rotor_xml_copy(n, "AccessKeyId", buf, sizeof(buf)) || !buf[0])
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: a key in the reply has no AccessKeyId", what);
	if (!rotor_aws_key_id_valid(buf)) {
		size_t len = strlen(rotor_xml_text(rotor_xml_child(n, "AccessKeyId")));
		return rotor_error_set(
		    err, ROTOR_EINVALID,
		    "%s: the reply names an access key id of unexpected shape "
		    "(%zu characters: \"%.40s%s\"; IAM's are %d to %d upper-case "
		    "letters and digits): refusing to act on it",
		    what, len, buf, len > 40 ? "..." : "", ROTOR_AWS_KEY_ID_MIN,
		    ROTOR_AWS_KEY_ID_MAX);
	}
	snprintf(id, ROTOR_AWS_KEY_ID_MAX + 1, "%s", buf);
	return 0;
}

static int is_true(const struct xnode *n, const char *path)
{
	char buf[16];
	return rotor_xml_copy(n, path, buf, sizeof(buf)) && strcmp(buf, "true") == 0;
}

static int by_created(const void *a, const void *b)
{
	const struct rotor_iam_key *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int rotor_iam_list_access_keys(struct rotor_aws_client *iam, const char *user,
                               struct rotor_iam_key *keys, size_t *nkeys, struct rotor_error *err)
{
	char marker[1024] = "";
	int rc = 0;
	*nkeys = 0;
	for (int page = 0; page < IAM_MAX_PAGES; page++) {
		struct aws_call call;
		struct xnode *root = NULL;
		memset(&call, 0, sizeof(call));
		set_what(&call, "ListAccessKeys", user);
		rotor_aws_call_param(&call, "UserName", user);
		if (marker[0])
			rotor_aws_call_param(&call, "Marker", marker);
		rc = rotor_aws_call_do(iam, &call, &root, err);
		if (rc)
			return rc;
		const struct xnode *result = rotor_xml_child(root, "ListAccessKeysResult");
		const struct xnode *list = rotor_xml_child(result, "AccessKeyMetadata");
		for (size_t i = 0; list && i < list->nkids; i++) {
			const struct xnode *m = list->kids[i];
			if (strcmp(m->name, "member") != 0)
				continue;
			if (*nkeys >= ROTOR_IAM_MAX_KEYS) {
				rotor_xml_free(root);
				return rotor_error_set(err, ROTOR_EINVALID,
				                       "%s: the reply lists more than %d keys; IAM "
				                       "allows 2",
				                       call.what, ROTOR_IAM_MAX_KEYS);
			}
			struct rotor_iam_key *k = &keys[*nkeys];
			char status[32];
			memset(k, 0, sizeof(*k));
			rc = copy_key_id(m, k->id, call.what, err);
			if (rc) {
				rotor_xml_free(root);
				return rc;
			}
			rotor_xml_copy(m, "UserName", k->user, sizeof(k->user));
			rotor_xml_copy(m, "Status", status, sizeof(status));
			/* AWS's API reference also lists "Expired": like Inactive,
			 * it cannot authenticate. */
			k->active = strcmp(status, "Active") == 0;
			rc = parse_date(m, "CreateDate", &k->created, call.what, err);
			if (rc ||
			    (strcmp(status, "Active") != 0 && strcmp(status, "Inactive") != 0 &&
			     strcmp(status, "Expired") != 0)) {
				rotor_xml_free(root);
				return rc ? rc
				          : rotor_error_set(err, ROTOR_EINVALID,
				                            "%s: a key in the reply has an unknown "
				                            "status \"%s\"",
				                            call.what, status);
			}
			(*nkeys)++;
		}
		int more = is_true(result, "IsTruncated");
		rotor_xml_copy(result, "Marker", marker, sizeof(marker));
		rotor_xml_free(root);
		if (!more) {
			qsort(keys, *nkeys, sizeof(*keys), by_created);
			return 0;
		}
		if (!marker[0])
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "ListAccessKeys(%s): the reply says IsTruncated but "
			                       "gives no Marker",
			                       user);
	}
	return rotor_error_set(err, ROTOR_EINVALID, "ListAccessKeys(%s): more than %d pages", user,
	                       IAM_MAX_PAGES);
}

int rotor_iam_list_users(struct rotor_aws_client *iam, const char *path_prefix, int max_items,
                         const char *marker, struct rotor_iam_user *users, size_t cap, size_t *n,
                         char next_marker[ROTOR_IAM_MARKER_MAX], struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char max[16];
	int rc = 0;
	*n = 0;
	next_marker[0] = '\0';
	memset(&call, 0, sizeof(call));
	set_what(&call, "ListUsers", path_prefix ? path_prefix : "/");
	if (path_prefix && strcmp(path_prefix, "/") != 0)
		rotor_aws_call_param(&call, "PathPrefix", path_prefix);
	if (max_items > 0) {
		snprintf(max, sizeof(max), "%d", max_items);
		rotor_aws_call_param(&call, "MaxItems", max);
	}
	if (marker && marker[0])
		rotor_aws_call_param(&call, "Marker", marker);
	rc = rotor_aws_call_do(iam, &call, &root, err);
	if (rc)
		return rc;
	const struct xnode *result = rotor_xml_child(root, "ListUsersResult");
	const struct xnode *list = rotor_xml_child(result, "Users");
	if (!result) {
		rotor_xml_free(root);
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no ListUsersResult",
		                       call.what);
	}
	for (size_t i = 0; list && i < list->nkids && !rc; i++) {
		const struct xnode *m = list->kids[i];
		if (strcmp(m->name, "member") != 0)
			continue;
		if (*n >= cap) {
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "%s: the reply lists more than %zu users in one page "
			                     "(IAM answers at most 1000)",
			                     call.what, cap);
			break;
		}
		struct rotor_iam_user *u = &users[*n];
		memset(u, 0, sizeof(*u));
		rotor_xml_copy(m, "UserName", u->name, sizeof(u->name));
		rotor_xml_copy(m, "UserId", u->user_id, sizeof(u->user_id));
		rotor_xml_copy(m, "Arn", u->arn, sizeof(u->arn));
		rotor_xml_copy(m, "Path", u->path, sizeof(u->path));
		rc = parse_date(m, "CreateDate", &u->created, call.what, err);
		if (!rc && !u->name[0])
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "%s: a user in the reply has no name", call.what);
		if (!rc)
			(*n)++;
	}
	if (!rc && is_true(result, "IsTruncated")) {
		rotor_xml_copy(result, "Marker", next_marker, ROTOR_IAM_MARKER_MAX);
		if (!next_marker[0])
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "%s: the reply says IsTruncated but gives no Marker",
			                     call.what);
	}
	rotor_xml_free(root);
	return rc;
}

int rotor_iam_create_access_key(struct rotor_aws_client *iam, const char *user,
                                struct rotor_iam_key *key, struct rotor_secret **secret,
                                struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char status[32];
	*secret = NULL;
	memset(key, 0, sizeof(*key));
	memset(&call, 0, sizeof(call));
	set_what(&call, "CreateAccessKey", user);
	call.not_idempotent = 1;
	rotor_aws_call_param(&call, "UserName", user);
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	if (rc)
		return rc;
	const struct xnode *k = rotor_xml_path(root, "CreateAccessKeyResult/AccessKey");
	const struct xnode *s = rotor_xml_child(k, "SecretAccessKey");
	/* A key was created whatever the reply holds: if it cannot be used,
	 * the next pass sees it as an unused stray and deletes it. */
	rc = copy_key_id(k, key->id, call.what, err);
	if (rc) {
		char why[sizeof(err->message)];
		snprintf(why, sizeof(why), "%s", err->message);
		rc = rotor_error_set(err, rc,
		                     "%s; a key was created and cannot be used: the next pass "
		                     "deletes it as an unused stray",
		                     why);
		rotor_xml_free(root);
		return rc;
	}
	rotor_xml_copy(k, "UserName", key->user, sizeof(key->user));
	rotor_xml_copy(k, "Status", status, sizeof(status));
	key->active = strcmp(status, "Active") == 0;
	rc = parse_date(k, "CreateDate", &key->created, call.what, err);
	if (!rc && (!s || s->text_len == 0))
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "%s: the reply has no SecretAccessKey; the key created is %s",
		                     call.what, key->id);
	if (!rc)
		rc = rotor_secret_new(secret, s->text, s->text_len, ROTOR_SECRET_REDACT, err);
	rotor_xml_free(root);
	return rc;
}

int rotor_iam_update_access_key(struct rotor_aws_client *iam, const char *user, const char *key_id,
                                int active, struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char arg[160];
	memset(&call, 0, sizeof(call));
	snprintf(arg, sizeof(arg), "%s, %s, %s", user, key_id, active ? "Active" : "Inactive");
	set_what(&call, "UpdateAccessKey", arg);
	rotor_aws_call_param(&call, "UserName", user);
	rotor_aws_call_param(&call, "AccessKeyId", key_id);
	rotor_aws_call_param(&call, "Status", active ? "Active" : "Inactive");
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	rotor_xml_free(root);
	return rc;
}

int rotor_iam_delete_access_key(struct rotor_aws_client *iam, const char *user, const char *key_id,
                                struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char arg[160];
	memset(&call, 0, sizeof(call));
	snprintf(arg, sizeof(arg), "%s, %s", user, key_id);
	set_what(&call, "DeleteAccessKey", arg);
	rotor_aws_call_param(&call, "UserName", user);
	rotor_aws_call_param(&call, "AccessKeyId", key_id);
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	rotor_xml_free(root);
	return rc;
}

int rotor_iam_get_access_key_last_used(struct rotor_aws_client *iam, const char *key_id,
                                       struct rotor_iam_last_used *out, struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	set_what(&call, "GetAccessKeyLastUsed", key_id);
	rotor_aws_call_param(&call, "AccessKeyId", key_id);
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	if (rc)
		return rc;
	const struct xnode *u =
	    rotor_xml_path(root, "GetAccessKeyLastUsedResult/AccessKeyLastUsed");
	rotor_xml_copy(u, "ServiceName", out->service, sizeof(out->service));
	rotor_xml_copy(u, "Region", out->region, sizeof(out->region));
	rc = parse_date(u, "LastUsedDate", &out->date, call.what, err);
	rotor_xml_free(root);
	return rc;
}

/* Appends the <member><Key/><Value/></member> children of list to out. */
static int parse_tags(const struct xnode *list, struct rotor_tags *out, size_t *cap,
                      const char *what, struct rotor_error *err)
{
	for (size_t i = 0; list && i < list->nkids; i++) {
		const struct xnode *m = list->kids[i];
		if (strcmp(m->name, "member") != 0)
			continue;
		if (out->n >= 200)
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s: more than 200 tags in the reply", what);
		if (out->n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			struct rotor_tag *items = realloc(out->items, ncap * sizeof(*items));
			if (!items)
				return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
			out->items = items;
			*cap = ncap;
		}
		char key[256], value[512];
		rotor_xml_copy(m, "Key", key, sizeof(key));
		rotor_xml_copy(m, "Value", value, sizeof(value));
		out->items[out->n].key = strdup(key);
		out->items[out->n].value = strdup(value);
		if (!out->items[out->n].key || !out->items[out->n].value) {
			free(out->items[out->n].key);
			free(out->items[out->n].value);
			return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
		}
		out->n++;
	}
	return 0;
}

void rotor_iam_user_dispose(struct rotor_iam_user *u)
{
	rotor_tags_dispose(&u->tags);
}

int rotor_iam_get_user(struct rotor_aws_client *iam, const char *user, struct rotor_iam_user *out,
                       struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	set_what(&call, "GetUser", user);
	rotor_aws_call_param(&call, "UserName", user);
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	if (rc)
		return rc;
	const struct xnode *u = rotor_xml_path(root, "GetUserResult/User");
	rotor_xml_copy(u, "UserName", out->name, sizeof(out->name));
	rotor_xml_copy(u, "UserId", out->user_id, sizeof(out->user_id));
	rotor_xml_copy(u, "Arn", out->arn, sizeof(out->arn));
	rotor_xml_copy(u, "Path", out->path, sizeof(out->path));
	rc = parse_date(u, "CreateDate", &out->created, call.what, err);
	if (!rc && !out->arn[0])
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no user Arn",
		                     call.what);
	size_t cap = 0;
	if (!rc)
		rc = parse_tags(rotor_xml_child(u, "Tags"), &out->tags, &cap, call.what, err);
	rotor_xml_free(root);
	if (rc)
		rotor_tags_dispose(&out->tags);
	return rc;
}

void rotor_tags_dispose(struct rotor_tags *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->items[i].key);
		free(t->items[i].value);
	}
	free(t->items);
	t->items = NULL;
	t->n = 0;
}

int rotor_iam_list_user_tags(struct rotor_aws_client *iam, const char *user, struct rotor_tags *out,
                             struct rotor_error *err)
{
	char marker[1024] = "";
	size_t cap = 0;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	for (int page = 0; page < IAM_MAX_PAGES; page++) {
		struct aws_call call;
		struct xnode *root = NULL;
		memset(&call, 0, sizeof(call));
		set_what(&call, "ListUserTags", user);
		rotor_aws_call_param(&call, "UserName", user);
		if (marker[0])
			rotor_aws_call_param(&call, "Marker", marker);
		rc = rotor_aws_call_do(iam, &call, &root, err);
		if (rc)
			goto fail;
		const struct xnode *result = rotor_xml_child(root, "ListUserTagsResult");
		rc = parse_tags(rotor_xml_child(result, "Tags"), out, &cap, call.what, err);
		if (rc) {
			rotor_xml_free(root);
			goto fail;
		}
		int more = is_true(result, "IsTruncated");
		rotor_xml_copy(result, "Marker", marker, sizeof(marker));
		rotor_xml_free(root);
		if (!more)
			return 0;
		if (!marker[0]) {
			rc =
			    rotor_error_set(err, ROTOR_EINVALID,
			                    "ListUserTags(%s): IsTruncated without a Marker", user);
			goto fail;
		}
	}
	rc = rotor_error_set(err, ROTOR_EINVALID, "ListUserTags(%s): more than %d pages", user,
	                     IAM_MAX_PAGES);
fail:
	rotor_tags_dispose(out);
	return rc;
}

int rotor_iam_tag_user(struct rotor_aws_client *iam, const char *user, const struct rotor_tag *tags,
                       size_t n, struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char names[50][2][40];
	if (n == 0)
		return 0;
	if (n > 50)
		return rotor_error_set(err, ROTOR_ELIMIT, "TagUser(%s): %zu tags; IAM takes 50",
		                       user, n);
	memset(&call, 0, sizeof(call));
	set_what(&call, "TagUser", user);
	rotor_aws_call_param(&call, "UserName", user);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i][0], sizeof(names[i][0]), "Tags.member.%zu.Key", i + 1);
		snprintf(names[i][1], sizeof(names[i][1]), "Tags.member.%zu.Value", i + 1);
		rotor_aws_call_param(&call, names[i][0], tags[i].key);
		rotor_aws_call_param(&call, names[i][1], tags[i].value);
	}
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	rotor_xml_free(root);
	return rc;
}

int rotor_iam_untag_user(struct rotor_aws_client *iam, const char *user, const char *const *keys,
                         size_t n, struct rotor_error *err)
{
	struct aws_call call;
	struct xnode *root = NULL;
	char names[50][32];
	if (n == 0)
		return 0;
	if (n > 50)
		return rotor_error_set(err, ROTOR_ELIMIT, "UntagUser(%s): %zu keys; IAM takes 50",
		                       user, n);
	memset(&call, 0, sizeof(call));
	set_what(&call, "UntagUser", user);
	rotor_aws_call_param(&call, "UserName", user);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "TagKeys.member.%zu", i + 1);
		rotor_aws_call_param(&call, names[i], keys[i]);
	}
	int rc = rotor_aws_call_do(iam, &call, &root, err);
	rotor_xml_free(root);
	return rc;
}
