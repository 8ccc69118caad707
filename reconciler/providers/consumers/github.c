/*
 * github.c: the githubActions consumer: the pair as two GitHub Actions
 * secrets of a repository, of one of its environments, or of an
 * organisation (../shared/api/consumers.md, docs/consumers.md).
 *
 * Writing: fetch the target's public key, seal each value with libsodium's
 * crypto_box_seal, PUT both secrets (201 created, 204 updated), then read
 * their metadata. Values can never be read back, so "in sync" means:
 * rotor's last write was of this key id, recorded with both secrets'
 * updated_at right after it (the engine keeps the record in the user's tag
 * rotor:consumer:NAME), and neither updated_at has moved since; a later
 * change by anyone else is drift, and is rewritten. A rewrite restarts
 * nothing, so a lost record only costs a harmless write.
 *
 * Credentials: a token, or a GitHub App installation: a JWT (RS256, signed
 * with the App's private key by OpenSSL) exchanged for an installation
 * token, cached until five minutes before it expires (dropped at once on
 * a 401).
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/consumers/consumer.h"
#include "providers/consumers/restapi.h"
#include "rotor/clock.h"
#include "rotor/config.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"

#define KEY_REFRESH_S 300 /* an installation token is renewed this long before it expires */
#define VALUE_MAX (48 * 1024)

static const struct rest_vendor github = {
    "GitHub",
    ROTOR_REMOTE_GITHUB,
    "application/vnd.github+json",
    "X-GitHub-Api-Version: 2022-11-28",
    "X-GitHub-Request-Id",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    NULL,
    /* 5,000 an hour for a token: when few are left, one a second */
    50,
    1000,
};

struct gh_conn {
	struct rest_conn rest; /* first: the callbacks cast back */
	int64_t app_id, installation_id;
	struct rotor_secret *app_key; /* PEM */
	pthread_mutex_t lock;         /* the installation token */
	struct rotor_secret *inst_token;
	int64_t inst_expires;
};

struct gh {
	struct gh_conn *conns;
	size_t n;
};

/* ---- a GitHub App's installation token --------------------------------------------- */

static void b64url(char *out, size_t len, const unsigned char *in, size_t n)
{
	sodium_bin2base64(out, len, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* A JWT for the App: iat a minute back (clock drift), exp nine minutes on. */
static int app_jwt(struct gh_conn *g, char *out, size_t len, struct rotor_error *err)
{
	char header[64], payload[160], hb[128], pb[256], signing[512];
	int64_t now = rotor_clock_real()->now(rotor_clock_real());
	snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
	snprintf(payload, sizeof(payload), "{\"iat\":%lld,\"exp\":%lld,\"iss\":\"%lld\"}",
	         (long long)(now - 60), (long long)(now + 540), (long long)g->app_id);
	b64url(hb, sizeof(hb), (const unsigned char *)header, strlen(header));
	b64url(pb, sizeof(pb), (const unsigned char *)payload, strlen(payload));
	snprintf(signing, sizeof(signing), "%s.%s", hb, pb);
	BIO *bio =
	    BIO_new_mem_buf(rotor_secret_bytes(g->app_key), (int)rotor_secret_len(g->app_key));
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "GitHub App %lld: its privateKey is not an RSA private key in "
		    "PEM (download a new one from the App's settings)",
		    (long long)g->app_id);
	}
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok =
	    md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)signing, strlen(signing)) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	if (!ok)
		return rotor_error_set(err, ROTOR_EINTERNAL,
		                       "GitHub App %lld: signing its JWT failed",
		                       (long long)g->app_id);
	char sb[1400];
	b64url(sb, sizeof(sb), sig, siglen);
	int too_long = (size_t)snprintf(out, len, "%s.%s", signing, sb) >= len;
	/* the JWT is a credential for nine minutes: no copy of it is left */
	rotor_wipe(sb, sizeof(sb));
	rotor_wipe(sig, sizeof(sig));
	if (too_long)
		return rotor_error_set(err, ROTOR_EINTERNAL, "GitHub App JWT too long");
	return 0;
}

/* The JWT as the bearer of the exchange call itself. */
static int jwt_bearer(struct rest_conn *c, char *out, size_t len, struct rotor_error *err)
{
	return app_jwt((struct gh_conn *)c, out, len, err);
}

static int installation_token(struct gh_conn *g, struct rotor_error *err)
{
	struct rest_reply r;
	char path[96], what[160];
	snprintf(path, sizeof(path), "/app/installations/%lld/access_tokens",
	         (long long)g->installation_id);
	snprintf(what, sizeof(what), "GitHub POST %s", path);
	/* the same connection, authenticated by the App's JWT */
	int rc = rest_call_as(&g->rest, jwt_bearer, "POST", path, NULL, 0, 1, what, &r, err);
	if (rc)
		return rc;
	if (r.status != 201) {
		rc = rest_fail(&g->rest, &r, what,
		               r.status == 401 ? "the App's JWT was refused: check app.id and that "
		                                 "privateKey is the App's current key"
		               : r.status == 404
		                   ? "no such installation of this App: check app.installationId"
		                   : "GitHub refused the installation token",
		               err);
		rest_reply_dispose(&r);
		return rc;
	}
	const char *tok = json_string_value(json_object_get(r.json, "token"));
	const char *exp = json_string_value(json_object_get(r.json, "expires_at"));
	int64_t expires = 0;
	if (!tok || !*tok || !exp || rotor_time_parse(&expires, exp, NULL, 0) != 0) {
		rest_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: the reply has no token or expires_at", what);
	}
	struct rotor_secret *t = NULL;
	rc = rotor_secret_from_str(&t, tok, ROTOR_SECRET_REDACT, err);
	rest_reply_dispose(&r);
	if (rc)
		return rc;
	rotor_secret_free(g->inst_token);
	g->inst_token = t;
	g->inst_expires = expires;
	return 0;
}

static int app_bearer(struct rest_conn *c, char *out, size_t len, struct rotor_error *err)
{
	struct gh_conn *g = (struct gh_conn *)c;
	int rc = 0;
	pthread_mutex_lock(&g->lock);
	int64_t now = rotor_clock_real()->now(rotor_clock_real());
	if (!g->inst_token || now >= g->inst_expires - KEY_REFRESH_S)
		rc = installation_token(g, err);
	if (!rc)
		snprintf(out, len, "%s", rotor_secret_bytes(g->inst_token));
	pthread_mutex_unlock(&g->lock);
	return rc;
}

static void app_rejected(struct rest_conn *c)
{
	struct gh_conn *g = (struct gh_conn *)c;
	pthread_mutex_lock(&g->lock);
	rotor_secret_free(g->inst_token);
	g->inst_token = NULL;
	pthread_mutex_unlock(&g->lock);
}

/* ---- targets ------------------------------------------------------------------------ */

struct target {
	struct gh_conn *g;
	char base[600]; /* ".../secrets" of the repository, environment or organisation */
	char label[300];
	const struct rotor_consumer_ref *c;
};

static void split_repo(const char *repo, char *owner, size_t olen, char *name, size_t nlen)
{
	char o[200], n[200];
	const char *slash = strchr(repo, '/');
	snprintf(o, sizeof(o), "%.*s", slash ? (int)(slash - repo) : 0, repo);
	snprintf(n, sizeof(n), "%s", slash ? slash + 1 : repo);
	rest_path_escape(owner, olen, o);
	rest_path_escape(name, nlen, n);
}

static int target_of(struct gh *h, const struct rotor_consumer_ref *c, struct target *t,
                     struct rotor_error *err)
{
	char owner[300], name[300], env[300], org[200];
	memset(t, 0, sizeof(*t));
	t->c = c;
	for (size_t i = 0; i < h->n; i++)
		if (c->connection && strcmp(h->conns[i].rest.name, c->connection) == 0)
			t->g = &h->conns[i];
	if (!t->g)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "no github connection named \"%s\" in the config",
		                       c->connection ? c->connection : "");
	if (c->organization) {
		rest_path_escape(org, sizeof(org), c->organization);
		snprintf(t->base, sizeof(t->base), "/orgs/%s/actions/secrets", org);
		snprintf(t->label, sizeof(t->label), "organisation %s", c->organization);
	} else if (c->environment) {
		split_repo(c->repository ? c->repository : "", owner, sizeof(owner), name,
		           sizeof(name));
		rest_path_escape(env, sizeof(env), c->environment);
		snprintf(t->base, sizeof(t->base), "/repos/%s/%s/environments/%s/secrets", owner,
		         name, env);
		snprintf(t->label, sizeof(t->label), "%s environment %s", c->repository,
		         c->environment);
	} else {
		split_repo(c->repository ? c->repository : "", owner, sizeof(owner), name,
		           sizeof(name));
		snprintf(t->base, sizeof(t->base), "/repos/%s/%s/actions/secrets", owner, name);
		snprintf(t->label, sizeof(t->label), "%s", c->repository ? c->repository : "");
	}
	return 0;
}

static const char *hint_for(const struct target *t, long status)
{
	switch (status) {
	case 401:
		return t->g->app_id ? "the App's installation token was refused; rotor gets a new "
		                      "one on the next call"
		                    : "the connection's token is invalid or expired: update the "
		                      "config's token reference";
	case 403:
		return "the token may not manage these secrets: it needs Secrets: read and write "
		       "(and Environments: read for environment secrets; organisation secrets need "
		       "the organisation's Secrets permission), or the App is not installed there";
	case 404:
		return "no such repository, environment or organisation for this token (GitHub "
		       "also answers 404 when the token may not see it)";
	case 422:
		return "GitHub refused the secret (a key_id that is no longer current, or a name "
		       "or visibility it does not accept)";
	default:
		return status >= 500
		           ? "GitHub had a server error; rotor tries again on its next pass"
		           : "GitHub refused the request";
	}
}

/* One call on the target: METHOD base+suffix. */
static int call(struct target *t, const char *method, const char *suffix, const char *body,
                size_t len, struct rest_reply *r, char *what, size_t wlen, struct rotor_error *err)
{
	char path[800];
	snprintf(path, sizeof(path), "%s%s", t->base, suffix);
	snprintf(what, wlen, "GitHub %s %s", method, path);
	return rest_call(&t->g->rest, method, path, body, len, body != NULL, what, r, err);
}

/* "/NAME" of a secret: GitHub keeps names upper case. */
static void secret_suffix(char *out, size_t len, const char *name)
{
	snprintf(out, len, "/%s", name);
	for (char *p = out; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
}

/* A secret's updated_at; "" (and 0) when it does not exist. */
static int secret_updated(struct target *t, const char *name, char *out, size_t len,
                          struct rotor_error *err)
{
	char suffix[200], what[900];
	struct rest_reply r;
	secret_suffix(suffix, sizeof(suffix), name);
	out[0] = '\0';
	int rc = call(t, "GET", suffix, NULL, 0, &r, what, sizeof(what), err);
	if (rc)
		return rc;
	if (r.status == 404) {
		/* a missing secret and a missing repository both answer 404 "Not
		 * Found": the public key tells them apart */
		rest_reply_dispose(&r);
		rc = call(t, "GET", "/public-key", NULL, 0, &r, what, sizeof(what), err);
		if (rc)
			return rc;
		if (r.status == 200) {
			rest_reply_dispose(&r);
			return 0;
		}
	}
	if (r.status != 200) {
		rc = rest_fail(&t->g->rest, &r, what, hint_for(t, r.status), err);
		rest_reply_dispose(&r);
		return rc;
	}
	const char *u = json_string_value(json_object_get(r.json, "updated_at"));
	if (!u || !*u || strlen(u) > 40 || strchr(u, ' ')) {
		rest_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the reply has no updated_at",
		                       what);
	}
	snprintf(out, len, "%s", u);
	rest_reply_dispose(&r);
	return 0;
}

/* "v1 k=AKIA... a=UPDATED s=UPDATED" */
struct record {
	char akid[32], a[48], s[48];
};

static int record_parse(const char *v, struct record *rec)
{
	memset(rec, 0, sizeof(*rec));
	return v && sscanf(v, "v1 k=%31s a=%47s s=%47s", rec->akid, rec->a, rec->s) == 3 ? 0 : -1;
}

static int gh_observe(void *ctx, const struct rotor_consumer_ref *c,
                      const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
                      char *detail, size_t dlen, struct rotor_error *err)
{
	struct target t;
	struct record rec;
	char ua[48], us[48];
	const char *an, *sn;
	rotor_consumer_names(c, want, &an, &sn);
	int rc = target_of(ctx, c, &t, err);
	if (!rc)
		rc = secret_updated(&t, an, ua, sizeof(ua), err);
	if (!rc)
		rc = secret_updated(&t, sn, us, sizeof(us), err);
	if (rc)
		return rc;
	*state = ROTOR_CONSUMER_DRIFTED;
	int recorded = record_parse(want->record, &rec) == 0;
	if (!ua[0] || !us[0])
		snprintf(detail, dlen, "%s%s%s%s not set in %s", !ua[0] ? an : "",
		         !ua[0] && !us[0] ? " and " : "", !us[0] ? sn : "",
		         !ua[0] && !us[0] ? " are" : " is", t.label);
	else if (!recorded)
		snprintf(detail, dlen,
		         "no record of rotor's write to %s (GitHub secrets cannot be read back)",
		         t.label);
	else if (strcmp(rec.akid, want->akid) != 0)
		snprintf(detail, dlen, "rotor last wrote %s to %s", rec.akid, t.label);
	else if (strcmp(rec.a, ua) != 0 || strcmp(rec.s, us) != 0)
		snprintf(detail, dlen, "%s was changed at %s, after rotor's write",
		         strcmp(rec.a, ua) != 0 ? an : sn, strcmp(rec.a, ua) != 0 ? ua : us);
	else {
		*state = ROTOR_CONSUMER_IN_SYNC;
		snprintf(detail, dlen, "%s holds %s (written %s)", t.label, want->akid, rec.a);
	}
	return 0;
}

/* The public key: its id and 32 bytes. */
static int public_key(struct target *t, char *key_id, size_t klen, unsigned char pk[32],
                      struct rotor_error *err)
{
	char what[900];
	struct rest_reply r;
	int rc = call(t, "GET", "/public-key", NULL, 0, &r, what, sizeof(what), err);
	if (rc)
		return rc;
	if (r.status != 200) {
		rc = rest_fail(&t->g->rest, &r, what, hint_for(t, r.status), err);
		rest_reply_dispose(&r);
		return rc;
	}
	const char *id = json_string_value(json_object_get(r.json, "key_id"));
	const char *k = json_string_value(json_object_get(r.json, "key"));
	size_t n = 0;
	if (!id || !*id || strlen(id) >= klen || !k ||
	    sodium_base642bin(pk, 32, k, strlen(k), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != 32) {
		rest_reply_dispose(&r);
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: the reply is not a key_id and a base64 32-byte key",
		                       what);
	}
	snprintf(key_id, klen, "%s", id);
	rest_reply_dispose(&r);
	return 0;
}

/* The numeric ids of the selected repositories (organisation secrets). */
static int repo_ids(struct target *t, json_t *ids, struct rotor_error *err)
{
	for (size_t i = 0; i < t->c->nselected; i++) {
		char owner[300], name[300], path[700], what[800];
		struct rest_reply r;
		split_repo(t->c->selected[i], owner, sizeof(owner), name, sizeof(name));
		snprintf(path, sizeof(path), "/repos/%s/%s", owner, name);
		snprintf(what, sizeof(what), "GitHub GET %s", path);
		int rc = rest_call(&t->g->rest, "GET", path, NULL, 0, 0, what, &r, err);
		if (rc)
			return rc;
		json_t *id = json_object_get(r.json, "id");
		if (r.status != 200 || !json_is_integer(id)) {
			rc = r.status != 200
			         ? rest_fail(&t->g->rest, &r, what, hint_for(t, r.status), err)
			         : rotor_error_set(err, ROTOR_EINVALID,
			                           "%s: the reply has no numeric id", what);
			rest_reply_dispose(&r);
			return rc;
		}
		json_array_append_new(ids, json_integer(json_integer_value(id)));
		rest_reply_dispose(&r);
	}
	return 0;
}

/* PUT one secret: sealed for the public key. */
static int put_secret(struct target *t, const char *name, const void *value, size_t vlen,
                      const char *key_id, const unsigned char pk[32], json_t *ids,
                      struct rotor_error *err)
{
	char suffix[200], what[900];
	struct rest_reply r;
	if (vlen > VALUE_MAX)
		return rotor_error_set(err, ROTOR_EINVALID, "%s is larger than 48 KB", name);
	size_t sealed_len = crypto_box_SEALBYTES + vlen;
	unsigned char *sealed = malloc(sealed_len);
	size_t b64_len = sodium_base64_ENCODED_LEN(sealed_len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(b64_len);
	if (!sealed || !b64 || crypto_box_seal(sealed, value, vlen, pk) != 0) {
		free(sealed);
		free(b64);
		return rotor_error_set(err, ROTOR_ENOMEM, "sealing %s failed", name);
	}
	sodium_bin2base64(b64, b64_len, sealed, sealed_len, sodium_base64_VARIANT_ORIGINAL);
	free(sealed);
	json_t *body = json_pack("{s:s, s:s}", "encrypted_value", b64, "key_id", key_id);
	free(b64);
	if (body && t->c->organization) {
		json_object_set_new(body, "visibility", json_string(t->c->visibility));
		if (ids)
			json_object_set(body, "selected_repository_ids", ids);
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	secret_suffix(suffix, sizeof(suffix), name);
	int rc = call(t, "PUT", suffix, text, strlen(text), &r, what, sizeof(what), err);
	free(text);
	if (rc)
		return rc;
	if (r.status != 201 && r.status != 204)
		rc = rest_fail(&t->g->rest, &r, what, hint_for(t, r.status), err);
	rest_reply_dispose(&r);
	return rc;
}

static int gh_write(void *ctx, const struct rotor_consumer_ref *c,
                    const struct rotor_consumer_pair *p, char *record, size_t rlen,
                    struct rotor_error *err)
{
	struct target t;
	char key_id[128], ua[48], us[48];
	unsigned char pk[32];
	const char *an, *sn;
	json_t *ids = NULL;
	record[0] = '\0';
	rotor_consumer_names(c, p, &an, &sn);
	int rc = target_of(ctx, c, &t, err);
	if (!rc)
		rc = public_key(&t, key_id, sizeof(key_id), pk, err);
	if (!rc && c->organization && c->visibility && strcmp(c->visibility, "selected") == 0) {
		ids = json_array();
		rc = ids ? repo_ids(&t, ids, err)
		         : rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	if (!rc)
		rc = put_secret(&t, an, p->akid, strlen(p->akid), key_id, pk, ids, err);
	if (!rc)
		rc = put_secret(&t, sn, rotor_secret_bytes(p->secret), rotor_secret_len(p->secret),
		                key_id, pk, ids, err);
	json_decref(ids);
	/* what GitHub says now is rotor's write: recorded, so a later change
	 * by anyone else shows as a moved updated_at */
	if (!rc)
		rc = secret_updated(&t, an, ua, sizeof(ua), err);
	if (!rc)
		rc = secret_updated(&t, sn, us, sizeof(us), err);
	if (!rc && (!ua[0] || !us[0]))
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "GitHub accepted the secrets but %s does not list them "
		                     "afterwards; rotor tries again on its next pass",
		                     t.label);
	if (!rc)
		snprintf(record, rlen, "v1 k=%s a=%s s=%s", p->akid, ua, us);
	return rc;
}

/* ---- open / close -------------------------------------------------------------------- */

static void gh_close(struct rotor_consumer_ops *ops)
{
	struct gh *h = ops->ctx;
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		rest_conn_dispose(&h->conns[i].rest);
		rotor_secret_free(h->conns[i].app_key);
		rotor_secret_free(h->conns[i].inst_token);
		pthread_mutex_destroy(&h->conns[i].lock);
	}
	free(h->conns);
	free(h);
	ops->ctx = NULL;
}

static int gh_open(struct rotor_consumer_ops *ops, const struct rotor_config *cfg,
                   struct rotor_error *err)
{
	struct gh *h = calloc(1, sizeof(*h));
	memset(ops, 0, sizeof(*ops));
	if (!h || (cfg->ngithub && !(h->conns = calloc(cfg->ngithub, sizeof(*h->conns))))) {
		free(h);
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory");
	}
	if (sodium_init() < 0) {
		free(h->conns);
		free(h);
		return rotor_error_set(err, ROTOR_EINTERNAL, "libsodium could not be initialised");
	}
	ops->kind = "githubActions";
	ops->observe = gh_observe;
	ops->write = gh_write;
	ops->ctx = h;
	for (size_t i = 0; i < cfg->ngithub; i++) {
		const struct rotor_token_connection *t = &cfg->github[i];
		struct gh_conn *g = &h->conns[i];
		int rc = rest_conn_init(&g->rest, &github, t->name, t->api_url,
		                        t->app_id ? NULL : t->token.value, err);
		pthread_mutex_init(&g->lock, NULL);
		g->rest.timeout_ms = t->timeout > 0 ? t->timeout * 1000 : 30000;
		h->n++;
		if (!rc && t->app_id) {
			g->app_id = t->app_id;
			g->installation_id = t->installation_id;
			g->rest.bearer = app_bearer;
			g->rest.rejected = app_rejected;
			if (t->app_private_key.value)
				rc = rotor_secret_dup(&g->app_key, t->app_private_key.value, err);
			else
				g->rest.bearer =
				    NULL; /* no key: every call says the token is not set */
		}
		if (rc) {
			gh_close(ops);
			return rc;
		}
	}
	return 0;
}

const struct rotor_consumer_provider rotor_github_provider = {"githubActions", gh_open, gh_close};
