/*
 * infisical.c: the Infisical store — Universal Auth, the atomic pair
 * write, read-back, versions for rollback. Wire facts:
 * ../shared/api/infisical.md; user doc: docs/infisical.md.
 *
 * Design notes.
 * - Auth: one token per connection, kept in the secret type. It is renewed
 *   ahead of expiry (and replaced by what renewal returns: newer servers
 *   sign a new token); near its maximum TTL rotor logs in again instead. A
 *   401 (other than 2024's ValidationFailure) or a 403 TokenError triggers
 *   one login and one retry. A process tries one failed login at most,
 *   and failures are counted across runs in the state directory: after two
 *   in a row rotor refuses to try again for five minutes, since servers
 *   lock a client out after three (successive CLI runs would otherwise
 *   trip it). An unknown client id (404 on older servers, 401 "Invalid
 *   credentials" on current ones) counts the same way. The token is checked
 *   after the request has its pacing slot, so it cannot lapse while the
 *   request waits its turn.
 * - Secrets: the client secret and the token are registered with the
 *   redactor whatever flags the caller's copies carry, so neither can
 *   reach a log line or an error message.
 * - Pacing: requests on a connection are spaced by 60 s / requestsPerMinute
 *   (default 30, under every server's limit), so rotor stays under the
 *   limits on its own; throttling still waits the seconds the server names,
 *   up to the transport's retry_after_max_ms (a longer wait fails at once).
 *   Throttling is a 429, or any status carrying Retry-After or
 *   x-ratelimit-remaining: 0 (servers of 2024 throttle with HTTP 500
 *   "Something went wrong"). Windows are per route class on the server, so
 *   a success with 0 remaining says nothing about the next request's.
 * - A missing folder or environment: servers of 2024 list it as an empty
 *   folder (200, no secrets), which would read as "adopt: create a key",
 *   and every write would then fail with 404, churning a key per pass. So
 *   an empty or half-empty list is confirmed with the folders route before
 *   it is believed.
 * - Decisions are made on statusCode, never on message text.
 * - Every reply of a secret route may carry secret values: reply buffers
 *   are wiped, and jansson wipes what it frees (rotor_json_init).
 */
#include "providers/store/infisical_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/store/store.h"
#include "rotor/clock.h"
#include "rotor/config.h"
#include "rotor/json.h"
#include "rotor/lock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "util/buf.h"
#include "util/http.h"
#include "util/retry.h"

#define INFISICAL_MAX_RESPONSE ((size_t)32 * 1024 * 1024)

/* "?workspaceId=P&environment=E&secretPath=S" (v3) or projectId (v4). */
static int query(const struct infisical *s, const struct rotor_store_ref *ref, char *buf,
                 size_t len)
{
	struct rotor_buf b;
	rotor_buf_init(&b, 4096);
	int rc = rotor_buf_puts(&b, s->v4 ? "projectId=" : "workspaceId=");
	rc = rc ? rc : rotor_http_urlencode(&b, ref->project_id, strlen(ref->project_id));
	rc = rc ? rc : rotor_buf_puts(&b, "&environment=");
	rc = rc ? rc : rotor_http_urlencode(&b, ref->environment, strlen(ref->environment));
	rc = rc ? rc : rotor_buf_puts(&b, "&secretPath=");
	rc = rc ? rc : rotor_http_urlencode(&b, ref->secret_path, strlen(ref->secret_path));
	if (!rc && b.len >= len)
		rc = ROTOR_ELIMIT;
	if (!rc)
		memcpy(buf, b.data, b.len + 1);
	rotor_buf_dispose(&b);
	return rc;
}

static void describe(const struct infisical *s, const struct rotor_store_ref *ref, const char *op,
                     char *buf, size_t len)
{
	snprintf(buf, len, "%s: Infisical %s (project %s, environment %s, path %s)", s->name, op,
	         ref->project_id, ref->environment, ref->secret_path);
}

static json_t *base_body(const struct infisical *s, const struct rotor_store_ref *ref)
{
	return json_pack("{s:s, s:s, s:s}", s->v4 ? "projectId" : "workspaceId", ref->project_id,
	                 "environment", ref->environment, "secretPath", ref->secret_path);
}

/* What to do about a 403: a non-member identity (the server's `error` or
 * `message` says "not a member") needs adding to the project, not a grant. */
static const char *forbidden_hint(const struct reply *r, const struct rotor_store_ref *ref)
{
	static _Thread_local char hint[256];
	if (r->status != 403)
		return NULL;
	if (strstr(r->error, "not a member") || strstr(r->message, "not a member")) {
		snprintf(hint, sizeof(hint),
		         "add the machine identity to project %.64s (Access Control: Machine "
		         "Identities) with read and write access to this environment and path",
		         ref->project_id);
		return hint;
	}
	return "grant the machine identity read access to this environment and path";
}

static int not_found_hint(const struct reply *r, const char *what, struct rotor_error *err)
{
	return rotor_inf_fail_reply(
	    r, what,
	    "the project, environment or folder does not exist or the machine "
	    "identity cannot see it: check spec.store.infisical",
	    err);
}

/* Proves that the store's folder and environment exist (see the design
 * notes: a 2024 server lists a missing one as empty): lists the folders
 * under the parent path and looks for the last segment. A missing
 * environment is 404 there; a missing parent an empty list. */
static int folder_check(struct infisical *s, const struct rotor_store_ref *ref,
                        struct rotor_error *err)
{
	char parent[1024], leaf[256], what[512], path[4096];
	struct reply r;
	struct rotor_buf q;
	snprintf(parent, sizeof(parent), "%s", ref->secret_path);
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	snprintf(leaf, sizeof(leaf), "%s", slash ? slash + 1 : "");
	if (slash)
		slash[slash == parent ? 1 : 0] = '\0';
	describe(s, ref, "list folders", what, sizeof(what));
	rotor_buf_init(&q, 4096);
	int rc = rotor_buf_puts(&q, "/api/v1/folders?workspaceId=");
	rc = rc ? rc : rotor_http_urlencode(&q, ref->project_id, strlen(ref->project_id));
	rc = rc ? rc : rotor_buf_puts(&q, "&environment=");
	rc = rc ? rc : rotor_http_urlencode(&q, ref->environment, strlen(ref->environment));
	rc = rc ? rc : rotor_buf_puts(&q, "&path=");
	rc = rc ? rc : rotor_http_urlencode(&q, parent, strlen(parent));
	if (!rc && q.len < sizeof(path))
		memcpy(path, q.data, q.len + 1);
	else
		rc = ROTOR_ELIMIT;
	rotor_buf_dispose(&q);
	if (rc)
		return rotor_error_set(err, ROTOR_EINVALID, "%s: reference too long", what);
	rc = rotor_inf_api(s, "GET", path, NULL, what, &r, err);
	if (rc)
		return rc;
	if (r.status == 404 && strcmp(r.error, "Not Found") != 0) {
		rc = rotor_inf_fail_reply(
		    &r, what,
		    "the environment (or project) does not exist; Infisical lists a "
		    "missing environment as empty, so rotor checked: fix "
		    "spec.store.infisical.environment or projectId (rotor creates no key "
		    "until the store can hold it)",
		    err);
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	if (r.status != 200) {
		rc = rotor_inf_fail_reply(
		    &r, what, "rotor lists the folders to prove the store's folder exists", err);
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	json_t *list = json_object_get(r.json, "folders");
	if (!json_is_array(list)) {
		rotor_inf_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no folders list",
		                       what);
	}
	int found = !leaf[0];
	size_t i;
	json_t *f;
	json_array_foreach(list, i, f) found |= strcmp(rotor_inf_jstr(f, "name"), leaf) == 0;
	rotor_inf_reply_dispose(&r);
	if (!found)
		return rotor_error_set(
		    err, ROTOR_ENOTFOUND,
		    "%s: folder %s does not exist in environment %s (Infisical "
		    "lists a missing folder as empty): create it in Infisical, or "
		    "fix spec.store.infisical.secretPath; rotor creates no key until "
		    "it exists",
		    what, ref->secret_path, ref->environment);
	return 0;
}

static int read_pair_locked(struct infisical *s, const struct rotor_store_ref *ref,
                            struct rotor_store_pair *out, struct rotor_error *err)
{
	char q[2048], path[2300], what[512];
	struct reply r;
	memset(out, 0, sizeof(*out));
	describe(s, ref, "list secrets", what, sizeof(what));
	if (query(s, ref, q, sizeof(q)))
		return rotor_error_set(err, ROTOR_EINVALID, "%s: reference too long", what);
	snprintf(path, sizeof(path), "%s?%s", s->v4 ? "/api/v4/secrets" : "/api/v3/secrets/raw", q);
	int rc = rotor_inf_api(s, "GET", path, NULL, what, &r, err);
	if (rc)
		return rc;
	if (r.status == 404) {
		rc = not_found_hint(&r, what, err);
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	if (r.status != 200) {
		rc = rotor_inf_fail_reply(&r, what, forbidden_hint(&r, ref), err);
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	json_t *list = json_object_get(r.json, "secrets");
	size_t i;
	json_t *sec;
	if (!json_is_array(list)) {
		rotor_inf_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no secrets list",
		                       what);
	}
	json_array_foreach(list, i, sec)
	{
		const char *key = rotor_inf_jstr(sec, "secretKey");
		int is_akid = strcmp(key, ref->akid_name) == 0;
		int is_secret = strcmp(key, ref->secret_name) == 0;
		if (!is_akid && !is_secret)
			continue;
		/* key points into the reply: name the secret by the ref, which
		 * outlives reply_dispose. */
		const char *name = is_akid ? ref->akid_name : ref->secret_name;
		if (json_is_true(json_object_get(sec, "isRotatedSecret"))) {
			rotor_inf_reply_dispose(&r);
			rotor_store_pair_dispose(out);
			return rotor_error_set(err, ROTOR_ECONFLICT,
			                       "%s: secret %s is managed by Infisical's own secret "
			                       "rotation; rotor refuses to manage it too (two "
			                       "rotators would fight): remove one of them",
			                       what, name);
		}
		json_t *value = json_object_get(sec, "secretValue");
		json_int_t version = json_integer_value(json_object_get(sec, "version"));
		/* A value the identity may not read comes back as a placeholder
		 * ("<hidden-by-infisical>") flagged secretValueHidden. */
		if (json_is_true(json_object_get(sec, "secretValueHidden"))) {
			rotor_inf_reply_dispose(&r);
			rotor_store_pair_dispose(out);
			return rotor_error_set(err, ROTOR_EAUTH,
			                       "%s: the value of secret %s is hidden from this "
			                       "machine identity: grant it permission to read "
			                       "secret values on this environment and path",
			                       what, name);
		}
		if (!json_is_string(value) ||
		    (is_akid && json_string_length(value) >= sizeof(out->akid))) {
			rotor_inf_reply_dispose(&r);
			rotor_store_pair_dispose(out);
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s: secret %s has no readable value (or an access "
			                       "key id too long to be one)",
			                       what, name);
		}
		if (is_akid) {
			out->has_akid = 1;
			out->akid_version = version;
			snprintf(out->akid, sizeof(out->akid), "%s", json_string_value(value));
		} else {
			rotor_secret_free(out->secret);
			out->secret = NULL;
			rc = rotor_secret_new(&out->secret, json_string_value(value),
			                      json_string_length(value), ROTOR_SECRET_REDACT, err);
			if (rc) {
				rotor_inf_reply_dispose(&r);
				rotor_store_pair_dispose(out);
				return rc;
			}
			out->has_secret = 1;
			out->secret_version = version;
		}
	}
	rotor_inf_reply_dispose(&r);
	if (!(out->has_akid && out->has_secret)) {
		rc = folder_check(s, ref, err);
		if (rc)
			rotor_store_pair_dispose(out);
	}
	return rc;
}

static json_t *secret_entry(const char *name, const char *value)
{
	return json_pack("{s:s, s:s, s:b}", "secretKey", name, "secretValue", value,
	                 "skipMultilineEncoding", 1);
}

/* creating: the request creates names (v3 POST), where 400 means one of
 * them exists already: the folder changed since rotor read it. */
static int check_write_reply(const struct reply *r, const char *what, int creating,
                             struct rotor_error *err)
{
	if (r->status >= 200 && r->status < 300) {
		/* Not a conflict to retry: every pass would file another
		 * request. It is a policy the identity is subject to. */
		if (json_object_get(r->json, "approval")) {
			rotor_error_set_remote(err, (int)r->status, "approval", NULL);
			return rotor_error_set(err, ROTOR_EAUTH,
			                       "%s: Infisical answered with an approval request "
			                       "instead of writing: the change needs approval; "
			                       "exempt rotor's machine identity from the change "
			                       "policy of this environment and path",
			                       what);
		}
		return 0;
	}
	if (r->status == 404)
		return rotor_inf_fail_reply(
		    r, what,
		    "the project, environment or folder does not exist, the "
		    "machine identity cannot see it, or a name rotor expected "
		    "is gone (rotor reads the folder again on the next pass)",
		    err);
	if (r->status == 400 && creating)
		return rotor_inf_fail_reply_as(
		    ROTOR_ECONFLICT, r, what,
		    "a name rotor was creating exists already: the folder "
		    "changed since rotor read it; rotor reads it again on the "
		    "next pass",
		    err);
	return rotor_inf_fail_reply(r, what,
	                            r->status == 403
	                                ? "grant the machine identity write access to this "
	                                  "environment and path"
	                                : NULL,
	                            err);
}

/* A single create or update (v3, for a folder holding one name only). */
static int write_one(struct infisical *s, const struct rotor_store_ref *ref, const char *method,
                     const char *name, const char *value, struct rotor_error *err)
{
	char path[1024], what[512];
	struct rotor_buf enc;
	struct reply r;
	rotor_buf_init(&enc, 512);
	if (rotor_http_urlencode(&enc, name, strlen(name))) {
		rotor_buf_dispose(&enc);
		return rotor_error_set(err, ROTOR_EINVALID, "secret name too long");
	}
	snprintf(path, sizeof(path), "/api/v3/secrets/raw/%s", enc.data);
	rotor_buf_dispose(&enc);
	describe(s, ref, strcmp(method, "POST") == 0 ? "create secret" : "update secret", what,
	         sizeof(what));
	json_t *body = base_body(s, ref);
	if (!body || json_object_set_new(body, "secretValue", json_string(value)) ||
	    json_object_set_new(body, "type", json_string("shared")) ||
	    json_object_set_new(body, "skipMultilineEncoding", json_true())) {
		json_decref(body);
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: the reference or the value is not valid UTF-8", what);
	}
	int rc = rotor_inf_api(s, method, path, body, what, &r, err);
	json_decref(body);
	if (rc)
		return rc;
	rc = check_write_reply(&r, what, strcmp(method, "POST") == 0, err);
	rotor_inf_reply_dispose(&r);
	return rc;
}

static int write_pair_locked(struct infisical *s, const struct rotor_store_ref *ref,
                             const char *akid, const struct rotor_secret *secret,
                             const struct rotor_store_pair *current,
                             struct rotor_store_pair *written, struct rotor_error *err)
{
	char what[512];
	struct reply r;
	int rc;
	int both = current->has_akid && current->has_secret;
	int none = !current->has_akid && !current->has_secret;
	memset(written, 0, sizeof(*written));
	if (!s->v4 && !both && !none) {
		/* v3 cannot create one name and update the other in one request:
		 * create the missing one, then update the other. The half pair
		 * could not authenticate before either, so nothing gets worse. */
		const char *missing = current->has_akid ? ref->secret_name : ref->akid_name;
		const char *mvalue = current->has_akid ? rotor_secret_bytes(secret) : akid;
		const char *other = current->has_akid ? ref->akid_name : ref->secret_name;
		const char *ovalue = current->has_akid ? akid : rotor_secret_bytes(secret);
		rc = write_one(s, ref, "POST", missing, mvalue, err);
		if (!rc)
			rc = write_one(s, ref, "PATCH", other, ovalue, err);
		if (rc)
			return rc;
	} else {
		const char *method = (!s->v4 && none) ? "POST" : "PATCH";
		const char *path = s->v4 ? "/api/v4/secrets/batch" : "/api/v3/secrets/batch/raw";
		describe(s, ref, none ? "create the pair" : "update the pair", what, sizeof(what));
		json_t *body = base_body(s, ref);
		json_t *list = json_array();
		/* Every step checked: a NULL here (a value that is not UTF-8)
		 * must not turn into a request that lacks the pair. */
		if (!body || !list ||
		    json_array_append_new(list, secret_entry(ref->akid_name, akid)) ||
		    json_array_append_new(
		        list, secret_entry(ref->secret_name, rotor_secret_bytes(secret))) ||
		    json_object_set(body, "secrets", list) ||
		    (s->v4 && json_object_set_new(
		                  body, "mode", json_string(both ? "failOnNotFound" : "upsert")))) {
			json_decref(list);
			json_decref(body);
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s: the reference or a value is not valid UTF-8",
			                       what);
		}
		json_decref(list);
		rc = rotor_inf_api(s, method, path, body, what, &r, err);
		json_decref(body);
		if (rc)
			return rc;
		rc = check_write_reply(&r, what, strcmp(method, "POST") == 0, err);
		rotor_inf_reply_dispose(&r);
		if (rc == ROTOR_ECONFLICT && strcmp(method, "POST") == 0) {
			/* The transport retries a create whose reply was lost
			 * (connection dropped after the commit); the retry then
			 * finds the names. If the store holds exactly this pair,
			 * the first attempt did the work. */
			struct rotor_error first = *err;
			struct rotor_store_pair now;
			int same = read_pair_locked(s, ref, &now, err) == 0 && now.has_akid &&
			           now.has_secret && strcmp(now.akid, akid) == 0 &&
			           rotor_secret_equal(now.secret, secret);
			rotor_store_pair_dispose(&now);
			*err = first;
			if (same) {
				rotor_log(ROTOR_LOG_INFO, s->name,
				          "%s: the names exist and hold this pair already (a "
				          "retried create)",
				          what);
				rotor_error_clear(err);
				rc = 0;
			}
		}
		if (rc)
			return rc;
	}
	/* Read back from one snapshot and compare: the store must now hold
	 * exactly this pair, at newer versions. */
	rc = read_pair_locked(s, ref, written, err);
	if (rc) {
		rotor_error_prefix(err, "reading the pair back after writing it");
		return rc;
	}
	describe(s, ref, "read-back", what, sizeof(what));
	if (!written->has_akid || !written->has_secret || strcmp(written->akid, akid) != 0 ||
	    !rotor_secret_equal(written->secret, secret)) {
		rotor_store_pair_dispose(written);
		return rotor_error_set(err, ROTOR_ECONFLICT,
		                       "%s: the store does not hold the pair just written (another "
		                       "writer, or a server that dropped the value): rotor will "
		                       "observe again on the next pass",
		                       what);
	}
	if ((current->has_akid && written->akid_version <= current->akid_version) ||
	    (current->has_secret && written->secret_version <= current->secret_version))
		rotor_log(ROTOR_LOG_WARN, s->name,
		          "%s: versions did not increase (%lld/%lld → %lld/%lld)", what,
		          (long long)current->akid_version, (long long)current->secret_version,
		          (long long)written->akid_version, (long long)written->secret_version);
	return 0;
}

static int read_one_version(struct infisical *s, const struct rotor_store_ref *ref,
                            const char *name, int64_t version, json_t **value,
                            struct rotor_error *err)
{
	char q[2048], path[3000], what[512], op[160];
	struct rotor_buf enc;
	struct reply r;
	snprintf(op, sizeof(op), "read %s version %lld", name, (long long)version);
	describe(s, ref, op, what, sizeof(what));
	if (version <= 0)
		return rotor_error_set(err, ROTOR_ENOTFOUND,
		                       "%s: no version of it was recorded, so the previous pair "
		                       "cannot be read from the store",
		                       what);
	rotor_buf_init(&enc, 512);
	if (query(s, ref, q, sizeof(q)) || rotor_http_urlencode(&enc, name, strlen(name))) {
		rotor_buf_dispose(&enc);
		return rotor_error_set(err, ROTOR_EINVALID, "%s: reference too long", what);
	}
	snprintf(path, sizeof(path), "%s/%s?%s&version=%lld",
	         s->v4 ? "/api/v4/secrets" : "/api/v3/secrets/raw", enc.data, q,
	         (long long)version);
	rotor_buf_dispose(&enc);
	int rc = rotor_inf_api(s, "GET", path, NULL, what, &r, err);
	if (rc)
		return rc;
	if (r.status == 404 || r.status == 400) {
		/* 404 "Secret with name 'X' not found" (also for a version
		 * that does not exist); servers before late September 2024
		 * said 400 "Secret not found". Either way: not available. */
		rc = rotor_inf_fail_reply_as(
		    ROTOR_ENOTFOUND, &r, what,
		    "the secret, that version of it, or its folder does not "
		    "exist: the previous pair is not available from the store",
		    err);
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	if (r.status != 200) {
		rc = rotor_inf_fail_reply(&r, what, NULL, err);
		rotor_inf_reply_dispose(&r);
		return rc;
	}
	json_t *sec = json_object_get(r.json, "secret");
	json_int_t got = json_integer_value(json_object_get(sec, "version"));
	if (got != version) {
		rotor_inf_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_ENOTFOUND,
		                       "%s: the server answered version %lld instead: it does not "
		                       "honour ?version= (servers before April 2025), so the "
		                       "previous pair is not available from the store",
		                       what, (long long)got);
	}
	if (json_is_true(json_object_get(sec, "secretValueHidden"))) {
		rotor_inf_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_EAUTH,
		                       "%s: the value is hidden from this machine identity: grant "
		                       "it permission to read secret values",
		                       what);
	}
	*value = json_incref(json_object_get(sec, "secretValue"));
	rotor_inf_reply_dispose(&r);
	if (!json_is_string(*value)) {
		json_decref(*value);
		*value = NULL;
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no value", what);
	}
	return 0;
}

static int read_version_locked(struct infisical *s, const struct rotor_store_ref *ref,
                               int64_t akid_version, int64_t secret_version,
                               struct rotor_store_pair *out, struct rotor_error *err)
{
	json_t *akid = NULL, *secret = NULL;
	memset(out, 0, sizeof(*out));
	int rc = read_one_version(s, ref, ref->akid_name, akid_version, &akid, err);
	if (!rc)
		rc = read_one_version(s, ref, ref->secret_name, secret_version, &secret, err);
	if (!rc) {
		snprintf(out->akid, sizeof(out->akid), "%s", json_string_value(akid));
		rc = rotor_secret_new(&out->secret, json_string_value(secret),
		                      json_string_length(secret), ROTOR_SECRET_REDACT, err);
		out->has_akid = 1;
		out->has_secret = 1;
		out->akid_version = akid_version;
		out->secret_version = secret_version;
		if (rc)
			rotor_store_pair_dispose(out); /* all or nothing */
	}
	json_decref(akid);
	json_decref(secret);
	return rc;
}

/* The ref as rotor uses it: secretPath defaults to "/" as on the server;
 * missing fields are refused rather than dereferenced. */
static int check_ref(const struct rotor_store_ref *in, struct rotor_store_ref *out,
                     struct rotor_error *err)
{
	*out = *in;
	if (!out->secret_path || !*out->secret_path)
		out->secret_path = "/";
	if (!out->project_id || !*out->project_id || !out->environment || !*out->environment ||
	    !out->akid_name || !*out->akid_name || !out->secret_name || !*out->secret_name ||
	    strcmp(out->akid_name, out->secret_name) == 0)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "Infisical store reference: a project id, an environment "
		                       "and two different secret names are required");
	return 0;
}

static int op_read_pair(void *ctx, const struct rotor_store_ref *ref, struct rotor_store_pair *out,
                        struct rotor_error *err)
{
	struct infisical *s = ctx;
	struct rotor_store_ref r;
	memset(out, 0, sizeof(*out));
	if (check_ref(ref, &r, err))
		return ROTOR_EINVALID;
	pthread_mutex_lock(&s->lock);
	int rc = rotor_inf_batch_take(s, &r, out) ? 0 : read_pair_locked(s, &r, out, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int op_expect(void *ctx, const struct rotor_store_ref *refs, size_t n,
                     struct rotor_error *err)
{
	struct infisical *s = ctx;
	struct rotor_store_ref *checked = calloc(n ? n : 1, sizeof(*checked));
	size_t k = 0;
	if (!checked)
		return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", s->name);
	for (size_t i = 0; i < n; i++) {
		struct rotor_error ignore;
		if (check_ref(&refs[i], &checked[k], &ignore) == 0)
			k++;
	}
	pthread_mutex_lock(&s->lock);
	int rc = rotor_inf_expect(s, checked, k, err);
	pthread_mutex_unlock(&s->lock);
	free(checked);
	return rc;
}

static int op_write_pair(void *ctx, const struct rotor_store_ref *ref, const char *akid,
                         const struct rotor_secret *secret, const struct rotor_store_pair *current,
                         struct rotor_store_pair *written, struct rotor_error *err)
{
	struct infisical *s = ctx;
	struct rotor_store_ref r;
	memset(written, 0, sizeof(*written));
	if (check_ref(ref, &r, err))
		return ROTOR_EINVALID;
	if (!akid || !secret || strlen(akid) >= sizeof(written->akid))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: writing the pair needs an access key id and a secret",
		                       s->name);
	pthread_mutex_lock(&s->lock);
	int rc = write_pair_locked(s, &r, akid, secret, current, written, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int op_read_version(void *ctx, const struct rotor_store_ref *ref, int64_t akid_version,
                           int64_t secret_version, struct rotor_store_pair *out,
                           struct rotor_error *err)
{
	struct infisical *s = ctx;
	struct rotor_store_ref r;
	memset(out, 0, sizeof(*out));
	if (check_ref(ref, &r, err))
		return ROTOR_EINVALID;
	pthread_mutex_lock(&s->lock);
	int rc = read_version_locked(s, &r, akid_version, secret_version, out, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void op_free(void *ctx)
{
	struct infisical *s = ctx;
	if (!s)
		return;
	rotor_secret_free(s->client_id);
	rotor_secret_free(s->client_secret);
	rotor_secret_free(s->token);
	rotor_inf_batch_free(s);
	rotor_http_free(s->http);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct rotor_store_ops infisical_ops = {
    .kind = "infisical",
    .read_pair = op_read_pair,
    .write_pair = op_write_pair,
    .read_version = op_read_version,
    .expect = op_expect,
    .free = op_free,
};

int rotor_infisical_new(struct rotor_store *out, const struct rotor_infisical_options *opts,
                        struct rotor_error *err)
{
	struct infisical *s = calloc(1, sizeof(*s));
	struct rotor_http_options http;
	int rc;
	out->ops = NULL;
	out->ctx = NULL;
	rotor_json_init();
	if (!s)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->name, sizeof(s->name), "%s", opts->name ? opts->name : "infisical");
	if (!opts->site_url || !*opts->site_url || strlen(opts->site_url) >= sizeof(s->base)) {
		op_free(s);
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "Infisical connection %s: siteUrl is missing or too long",
		                       opts->name ? opts->name : "");
	}
	snprintf(s->base, sizeof(s->base), "%s", opts->site_url);
	size_t n = strlen(s->base);
	while (n > 0 && s->base[n - 1] == '/')
		s->base[--n] = '\0';
	s->v4 = opts->api_v4;
	s->clock = opts->clock ? opts->clock : rotor_clock_real();
	s->interval_ms = 60000 / (opts->requests_per_minute > 0 ? opts->requests_per_minute : 30);
	s->max_429 = opts->max_rate_limit_waits > 0 ? opts->max_rate_limit_waits : 3;
	if (opts->state_dir && *opts->state_dir) {
		/* one file per connection name; the name is [A-Za-z0-9_-] */
		char safe[64];
		size_t k = 0;
		for (const char *c = s->name; *c && k + 1 < sizeof(safe); c++)
			safe[k++] =
			    (isalnum((unsigned char)*c) || *c == '-' || *c == '_') ? *c : '_';
		safe[k] = '\0';
		snprintf(s->login_state, sizeof(s->login_state), "%s/infisical-%s.logins",
		         opts->state_dir, safe);
	}
	if (!opts->client_id || !opts->client_secret) {
		op_free(s);
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "Infisical connection %s: clientId and clientSecret are not "
		                       "loaded",
		                       opts->name ? opts->name : "");
	}
	rc = rotor_secret_dup(&s->client_id, opts->client_id, err);
	if (!rc)
		rc = rotor_secret_dup(&s->client_secret, opts->client_secret, err);
	/* Whatever flags the caller's copy had: the client secret never
	 * reaches a log line or an error message (the token is registered
	 * when it arrives, in take_token). */
	if (!rc)
		rotor_secret_register(s->client_secret);
	if (opts->http) {
		http = *opts->http;
	} else {
		rotor_http_options_init(&http);
		/* A pass's recursive list carries every secret under the
		 * manifests' common folder: ~1 KiB a manifest (10,000: ~10 MiB).
		 * Still capped. */
		http.max_response = INFISICAL_MAX_RESPONSE;
	}
	http.classify = rotor_http_classify_none; /* send_raw retries itself */
	http.classify_ctx = NULL;
	http.clock = s->clock;
	s->max_wait_ms = http.retry_after_max_ms > 0 ? http.retry_after_max_ms : 120000;
	s->throttle =
	    (struct rotor_retry_policy){s->max_429 + 1, 0, 0, 0, s->max_wait_ms, ROTOR_JITTER_NONE};
	if (!rc)
		rc = rotor_http_new(&s->http, &http, err);
	if (rc) {
		op_free(s);
		return rc;
	}
	out->ops = &infisical_ops;
	out->ctx = s;
	return 0;
}

/* The engine's way in: the connection's block of the config, read here so
 * that the engine knows no store kind's settings. */
static int infisical_open(struct rotor_store *out, const struct rotor_config *cfg,
                          const char *connection, struct rotor_clock *clock, const char *state_dir,
                          struct rotor_error *err)
{
	const struct rotor_infisical_connection *c = rotor_config_infisical(cfg, connection);
	struct rotor_infisical_options o;
	if (!c)
		return rotor_error_set(err, ROTOR_EINVALID, "no infisical connection named %s",
		                       connection);
	memset(&o, 0, sizeof(o));
	o.name = c->name;
	o.site_url = c->site_url;
	o.api_v4 = c->api == ROTOR_INFISICAL_V4;
	o.client_id = c->client_id.value;
	o.client_secret = c->client_secret.value;
	o.requests_per_minute = c->requests_per_minute;
	o.clock = clock;
	o.state_dir = state_dir;
	return rotor_infisical_new(out, &o, err);
}

const struct rotor_store_provider rotor_infisical_provider = {"infisical", infisical_open};
