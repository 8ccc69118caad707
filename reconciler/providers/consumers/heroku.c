/*
 * heroku.c: the heroku consumer (`heroku: {connection, app}`): the pair as
 * two config vars of a Heroku app, through the Platform API
 * (../shared/api/consumers.md, docs/consumers.md).
 *
 * Every write makes a release and restarts the app's dynos, so: observe
 * reads the config vars (GET, no restart) and the engine writes only a
 * consumer that is not in sync; a write is ONE PATCH with both variables
 * (never one per variable), never re-sent after a reply that may mean it
 * was done (the next pass reads and decides), and verified from the
 * PATCH's answer (the full, updated set) and a read-back.
 *
 * Config vars of an app hold other secrets too: the replies are parsed into
 * jansson objects freed by rotor's wiping allocator (util/json.c), and only
 * the two names are looked at. Messages name variables and key ids, never
 * values.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"
#include "providers/consumers/consumer.h"
#include "providers/consumers/restapi.h"
#include "rotor/config.h"
#include "rotor/secret.h"

static const struct rest_vendor heroku = {
    "Heroku",
    ROTOR_REMOTE_HEROKU,
    "application/vnd.heroku+json; version=3",
    NULL,
    "Request-Id",
    "RateLimit-Remaining",
    NULL,
    "id",
    /* 4,500 tokens an hour, ~75 a minute back: when few are left, one
     * request every 0.8 s never runs dry */
    100,
    800,
};

struct heroku {
	struct rest_conn *conns;
	size_t n;
};

static struct rest_conn *conn_of(struct heroku *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->conns[i].name, name) == 0)
			return &h->conns[i];
	return NULL;
}

/* What each status means for a config-var call, for the operator. */
static const char *hint_for(long status)
{
	switch (status) {
	case 401:
		return "the connection's token is invalid or expired; create one with `heroku "
		       "authorizations:create` and update the config's token reference";
	case 403:
		return "the token's user may not read or change this app's config vars; give it "
		       "the operate permission on the app";
	case 404:
		return "no such app for this token: check heroku.app in the manifest and that the "
		       "token's user can see the app";
	case 422:
		return "Heroku refused the values (all config vars of an app together are limited "
		       "to 32 KB)";
	case 429:
		return "Heroku's rate limit (4,500 requests an hour per account) is used up; rotor "
		       "tries again on its next pass";
	default:
		return status >= 500
		           ? "Heroku had a server error; rotor tries again on its next pass"
		           : "Heroku refused the request";
	}
}

/* Heroku's error id says more than the status for some replies. */
static const char *hint_for_reply(const struct rest_reply *r)
{
	if (strcmp(r->code, "two_factor") == 0)
		return "the app requires two-factor authentication: use a token of an "
		       "authorization "
		       "made for it (heroku authorizations:create)";
	if (strcmp(r->code, "suspended") == 0)
		return "the account or the app is suspended: rotor cannot change its config vars";
	if (strcmp(r->code, "delinquent") == 0 || r->status == 402)
		return "the account is delinquent (billing): Heroku refuses changes until it is "
		       "settled";
	return hint_for(r->status);
}

/* GET or PATCH /apps/APP/config-vars. */
static int config_vars(struct heroku *h, const struct rotor_consumer_ref *c, const char *method,
                       const char *body, size_t len, json_t **vars, char *req_id, size_t rlen,
                       struct rotor_error *err)
{
	char app[256], path[400], what[400];
	struct rest_reply r;
	struct rest_conn *conn = conn_of(h, c->connection ? c->connection : "");
	*vars = NULL;
	snprintf(what, sizeof(what), "Heroku %s /apps/%s/config-vars", method,
	         c->app ? c->app : "");
	if (!conn)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: no heroku connection named \"%s\" in the config", what,
		                       c->connection ? c->connection : "");
	rest_path_escape(app, sizeof(app), c->app ? c->app : "");
	snprintf(path, sizeof(path), "/apps/%s/config-vars", app);
	int rc = rest_call(conn, method, path, body, len, body != NULL, what, &r, err);
	if (rc)
		return rc;
	if (req_id)
		snprintf(req_id, rlen, "%s", r.request_id);
	if (r.status != 200) {
		rc = rest_fail(conn, &r, what, hint_for_reply(&r), err);
		rest_reply_dispose(&r);
		return rc;
	}
	if (!json_is_object(r.json)) {
		rotor_error_set_remote(err, 200, NULL, r.request_id);
		rc =
		    rotor_error_set(err, ROTOR_EINVALID,
		                    "%s: Heroku answered with JSON that is not an object of config "
		                    "vars (request %s)",
		                    what, r.request_id[0] ? r.request_id : "without id");
		rest_reply_dispose(&r);
		return rc;
	}
	*vars = json_incref(r.json);
	rest_reply_dispose(&r);
	return 0;
}

enum held { MISSING = 0, EQUAL, DIFFERS };

static enum held compare_akid(json_t *vars, const char *name, const char *want, char *got,
                              size_t glen)
{
	const char *v = json_string_value(json_object_get(vars, name));
	got[0] = '\0';
	if (!v)
		return MISSING;
	/* a key id is not a secret: it names what the app holds; anything else
	 * (the secret pasted in the wrong variable) is never shown */
	snprintf(got, glen, "%s",
	         rotor_aws_key_id_valid(v) ? v : "a value that is not an access key id");
	return strcmp(v, want) == 0 ? EQUAL : DIFFERS;
}

static enum held compare_secret(json_t *vars, const char *name, const struct rotor_secret *want)
{
	json_t *j = json_object_get(vars, name);
	if (!json_is_string(j))
		return MISSING;
	return rotor_secret_equal_bytes(want, json_string_value(j), json_string_length(j))
	           ? EQUAL
	           : DIFFERS;
}

static void describe(char *detail, size_t len, const char *akid_name, enum held a, const char *got,
                     const char *secret_name, enum held s)
{
	char one[200] = "", two[120] = "";
	if (a == MISSING)
		snprintf(one, sizeof(one), "%s is not set", akid_name);
	else if (a == DIFFERS)
		snprintf(one, sizeof(one), "%s holds %s", akid_name, got);
	if (s == MISSING)
		snprintf(two, sizeof(two), "%s is not set", secret_name);
	else if (s == DIFFERS)
		snprintf(two, sizeof(two), "%s differs", secret_name);
	snprintf(detail, len, "%s%s%s", one, one[0] && two[0] ? "; " : "", two);
}

static int heroku_observe(void *ctx, const struct rotor_consumer_ref *c,
                          const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
                          char *detail, size_t detail_len, struct rotor_error *err)
{
	const char *an, *sn;
	char got[64];
	json_t *vars = NULL;
	rotor_consumer_names(c, want, &an, &sn);
	int rc = config_vars(ctx, c, "GET", NULL, 0, &vars, NULL, 0, err);
	if (rc)
		return rc;
	enum held a = compare_akid(vars, an, want->akid, got, sizeof(got));
	enum held s = compare_secret(vars, sn, want->secret);
	json_decref(vars);
	*state = a == EQUAL && s == EQUAL ? ROTOR_CONSUMER_IN_SYNC : ROTOR_CONSUMER_DRIFTED;
	if (*state == ROTOR_CONSUMER_IN_SYNC)
		snprintf(detail, detail_len, "app %s holds %s", c->app, want->akid);
	else
		describe(detail, detail_len, an, a, got, sn, s);
	return 0;
}

/* Both values as Heroku holds them after the write; else an error naming
 * what it holds instead. */
static int check_held(json_t *vars, const struct rotor_consumer_ref *c,
                      const struct rotor_consumer_pair *p, const char *an, const char *sn,
                      const char *when, const char *req_id, struct rotor_error *err)
{
	char got[64], detail[400];
	enum held a = compare_akid(vars, an, p->akid, got, sizeof(got));
	enum held s = compare_secret(vars, sn, p->secret);
	if (a == EQUAL && s == EQUAL)
		return 0;
	describe(detail, sizeof(detail), an, a, got, sn, s);
	rotor_error_set_remote(err, 200, NULL, req_id);
	return rotor_error_set(
	    err, ROTOR_EINVALID,
	    "Heroku app %s %s does not hold the new pair: %s (request %s); rotor "
	    "leaves the old key Active and tries again on its next pass",
	    c->app, when, detail, req_id[0] ? req_id : "without id");
}

static int heroku_write(void *ctx, const struct rotor_consumer_ref *c,
                        const struct rotor_consumer_pair *p, char *record, size_t record_len,
                        struct rotor_error *err)
{
	(void)record_len;
	record[0] = '\0'; /* read back: no record needed */
	const char *an, *sn;
	char req_id[96] = "";
	json_t *vars = NULL;
	rotor_consumer_names(c, p, &an, &sn);
	json_t *body = json_object();
	if (!body || json_object_set_new(body, an, json_string(p->akid)) != 0 ||
	    json_object_set_new(
	        body, sn,
	        json_stringn(rotor_secret_bytes(p->secret), rotor_secret_len(p->secret))) != 0) {
		json_decref(body);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	size_t len = strlen(text);
	int rc = config_vars(ctx, c, "PATCH", text, len, &vars, req_id, sizeof(req_id), err);
	rotor_wipe(text, len);
	free(text);
	if (rc)
		return rc;
	rc = check_held(vars, c, p, an, sn, "after the write", req_id, err);
	json_decref(vars);
	if (rc)
		return rc;
	/* the read-back: what the app's next release really has */
	rc = config_vars(ctx, c, "GET", NULL, 0, &vars, req_id, sizeof(req_id), err);
	if (rc)
		return rc;
	rc = check_held(vars, c, p, an, sn, "read back", req_id, err);
	json_decref(vars);
	return rc;
}

static void heroku_close(struct rotor_consumer_ops *ops)
{
	struct heroku *h = ops->ctx;
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		rest_conn_dispose(&h->conns[i]);
	free(h->conns);
	free(h);
	ops->ctx = NULL;
}

static int heroku_open(struct rotor_consumer_ops *ops, const struct rotor_config *cfg,
                       struct rotor_error *err)
{
	struct heroku *h = calloc(1, sizeof(*h));
	memset(ops, 0, sizeof(*ops));
	if (!h || (cfg->nheroku && !(h->conns = calloc(cfg->nheroku, sizeof(*h->conns))))) {
		free(h);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	ops->kind = "heroku";
	ops->observe = heroku_observe;
	ops->write = heroku_write;
	ops->ctx = h;
	for (size_t i = 0; i < cfg->nheroku; i++) {
		const struct rotor_token_connection *t = &cfg->heroku[i];
		int rc =
		    rest_conn_init(&h->conns[i], &heroku, t->name, t->api_url, t->token.value, err);
		h->conns[i].timeout_ms = t->timeout > 0 ? t->timeout * 1000 : 30000;
		if (rc) {
			heroku_close(ops);
			return rc;
		}
		h->n++;
	}
	return 0;
}

const struct rotor_consumer_provider rotor_heroku_provider = {"heroku", heroku_open, heroku_close};
