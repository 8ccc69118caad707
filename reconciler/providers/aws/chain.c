/*
 * chain.c: where the manager's AWS credentials come from — the SDKs'
 * default chain, an optional role assumed on top, and a cache.
 *
 * Sources, in the SDKs' order (aws.md, "Credential sources"):
 *   1. environment     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. web identity    AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE → AssumeRoleWithWebIdentity
 *   3. shared files    ~/.aws/credentials [NAME], ~/.aws/config [profile NAME]
 *   4. container       AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI
 *   5. IMDSv2          token, role name, role credentials
 * then opts->role_arn, when set, is assumed with whatever the chain found.
 *
 * Two outcomes per source, as in the SDKs: "not configured" (its variables
 * are unset, the profile does not exist, IMDS does not answer) moves on to
 * the next source and adds a reason to the final "no AWS credentials: ..."
 * message; "configured but broken" (an access key id without a secret, an
 * unreadable token file, STS refusing the web identity token, a container
 * endpoint answering 401) stops the chain with that error, because falling
 * through would quietly run rotor as some other identity.
 *
 * A profile named by the connection (opts->profile) is a deliberate choice:
 * like botocore with an explicit profile_name, the environment's keys and
 * web identity are then not consulted, and only that profile is resolved —
 * a missing profile is an error rather than a fall-through to container or
 * instance credentials. AWS_PROFILE, by contrast, only picks which profile
 * step 3 reads, after the environment's keys.
 *
 * Caching: the final credentials are kept until 5 minutes before they
 * expire (long-term keys: for the life of the chain). A refresh that fails
 * while the cached credentials are still unexpired hands those out and logs
 * a warning, so a metadata-service blip does not stop a reconcile; the
 * refresh is tried again 30 s later. One mutex serialises get, so concurrent
 * workers wait for one refresh instead of stampeding the metadata service.
 *
 * Secrets: every value read from the environment, a file or a JSON reply
 * goes straight into rotor_aws_credentials_set (registered for redaction);
 * tokens read from files become a struct rotor_secret; file buffers and
 * JSON strings are wiped after use. Messages name variables, files, line
 * numbers and profiles, never a value.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "providers/aws/aws.h"
#include "providers/aws/chain_internal.h"
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "util/buf.h"

/* ---- small helpers ----------------------------------------------------- */

static char *dup_opt(const char *s, int *nomem)
{
	char *d;
	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*nomem = 1;
	return d;
}

/* An environment variable, or NULL when unset or empty (the SDKs agree). */
const char *rotor_chain_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

char *rotor_chain_trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

void rotor_chain_tried_add(struct resolve *r, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(r->tried) - r->tried_len;
	int n;
	if (room <= 1)
		return;
	if (r->tried_len) {
		n = snprintf(r->tried + r->tried_len, room, "; ");
		r->tried_len += (size_t)n < room ? (size_t)n : room - 1;
		room = sizeof(r->tried) - r->tried_len;
	}
	va_start(ap, fmt);
	n = vsnprintf(r->tried + r->tried_len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->tried_len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Reads a whole file into b (capped). Returns 0, 1 when it does not
 * exist, or an error naming `what`. */
static int read_capped(const char *path, size_t max, struct rotor_buf *b, const char *what,
                       struct rotor_error *err)
{
	char chunk[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;
	rotor_buf_init(b, max);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		return rotor_error_set(err, ROTOR_EIO, "%s: cannot open %.200s: %s", what, path,
		                       strerror(errno));
	}
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = rotor_error_set(err, ROTOR_EIO, "%s: cannot read %.200s: %s", what,
			                     path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		rc = rotor_buf_append(b, chunk, (size_t)got);
		if (rc) {
			rc = rc == ROTOR_ELIMIT
			         ? rotor_error_set(err, ROTOR_ELIMIT,
			                           "%s: %.200s is larger than %zu bytes", what,
			                           path, max)
			         : rotor_error_set(err, rc, "%s: out of memory reading %.200s",
			                           what, path);
			break;
		}
	}
	rotor_wipe(chunk, sizeof(chunk));
	close(fd);
	/* An empty file still gets a (NUL-terminated) buffer. */
	if (!rc && !b->data && rotor_buf_append(b, "", 0) != 0)
		rc = rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", what);
	if (rc)
		rotor_buf_dispose(b);
	return rc;
}

/* A token file (web identity, container authorization) as a secret:
 * re-read at every refresh, because Kubernetes and EKS rotate them. */
int rotor_chain_read_token_file(const char *path, const char *what, struct rotor_secret **out,
                                struct rotor_error *err)
{
	struct rotor_buf b;
	int rc = read_capped(path, TOKEN_FILE_MAX, &b, what, err);
	*out = NULL;
	if (rc == 1)
		return rotor_error_set(err, ROTOR_EIO, "%s: %.200s does not exist", what, path);
	if (rc)
		return rc;
	char *t = rotor_chain_trim(b.data);
	if (!*t)
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s: %.200s is empty", what, path);
	else if (strpbrk(t, "\r\n"))
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: %.200s holds more than one line",
		                     what, path);
	else
		rc = rotor_secret_from_str(out, t, ROTOR_SECRET_REDACT, err);
	rotor_buf_dispose(&b);
	return rc;
}

static const char *chain_region(const struct rotor_aws_chain *c)
{
	const char *r = c->region;
	if (!r)
		r = rotor_chain_env("AWS_REGION");
	if (!r)
		r = rotor_chain_env("AWS_DEFAULT_REGION");
	return r ? r : "us-east-1";
}

static enum rotor_aws_partition_id partition_of(const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return ROTOR_AWS_PARTITION_CN;
	if (strncmp(region, "us-gov-", 7) == 0)
		return ROTOR_AWS_PARTITION_US_GOV;
	return ROTOR_AWS_PARTITION_AWS;
}

/* ---- STS ------------------------------------------------------------------ */

/* The client signs with a fixed pair: the credentials one step down. */
static int fixed_get(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	return rotor_aws_credentials_copy(out, ctx, err);
}

/* An STS client for the chain's region and endpoint, signing with `as`
 * (NULL: unsigned, for AssumeRoleWithWebIdentity). */
static int sts_client(struct resolve *r, struct rotor_aws_credentials *as,
                      struct rotor_aws_client **out, struct rotor_error *err)
{
	struct rotor_aws_client_options o;
	const char *region = chain_region(r->chain);
	int rc;
	memset(&o, 0, sizeof(o));
	rc = rotor_aws_resolve_endpoints(partition_of(region), region, NULL, r->chain->sts_url,
	                                 NULL, &o.endpoint, err);
	if (rc)
		return rc;
	if (as) {
		o.creds.get = fixed_get;
		o.creds.ctx = as;
	}
	o.clock = r->chain->clock;
	o.http = r->chain->http;
	return rotor_aws_client_new(out, &o, err);
}

static int assume_role(struct resolve *r, struct rotor_aws_credentials *as, const char *role_arn,
                       const char *session, const struct rotor_secret *external_id, int duration,
                       struct rotor_aws_credentials *out, struct rotor_error *err)
{
	struct rotor_aws_client *sts = NULL;
	int rc = sts_client(r, as, &sts, err);
	if (!rc)
		rc = rotor_sts_assume_role(sts, role_arn, session, external_id, duration, out, err);
	rotor_aws_client_free(sts);
	return rc;
}

static int web_identity(struct resolve *r, const char *role_arn, const char *token_file,
                        const char *session, struct rotor_aws_credentials *out,
                        struct rotor_error *err)
{
	struct rotor_secret *token = NULL;
	struct rotor_aws_client *sts = NULL;
	int rc = rotor_chain_read_token_file(token_file, "web identity token", &token, err);
	if (!rc)
		rc = sts_client(r, NULL, &sts, err);
	if (!rc)
		rc = rotor_sts_assume_role_with_web_identity(sts, role_arn, session, token, 0, out,
		                                             err);
	rotor_aws_client_free(sts);
	rotor_secret_free(token);
	return rc;
}

static const char *session_or_default(const struct rotor_aws_chain *c)
{
	return c->session_name ? c->session_name : "rotor";
}

/* ---- 1. environment ------------------------------------------------------ */

/* 0: found; 1: not configured; < 0: configured but unusable. */
static int from_env(struct resolve *r, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	const char *akid = rotor_chain_env("AWS_ACCESS_KEY_ID");
	const char *secret = rotor_chain_env("AWS_SECRET_ACCESS_KEY");
	int rc;
	if (!akid && !secret) {
		rotor_chain_tried_add(r, "AWS_ACCESS_KEY_ID not set");
		return 1;
	}
	if (!akid || !secret)
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "AWS credentials from the environment: %s is set but %s is not",
		    akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		    akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	rc = rotor_aws_credentials_set(out, akid, secret, rotor_chain_env("AWS_SESSION_TOKEN"), 0,
	                               err);
	if (rc) {
		rotor_error_prefix(err, "AWS credentials from the environment");
		return rc;
	}
	snprintf(out->source, sizeof(out->source), "environment");
	return 0;
}

/* ---- 2. web identity ----------------------------------------------------- */

static int from_web_identity(struct resolve *r, struct rotor_aws_credentials *out,
                             struct rotor_error *err)
{
	const char *role = rotor_chain_env("AWS_ROLE_ARN");
	const char *file = rotor_chain_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *session = rotor_chain_env("AWS_ROLE_SESSION_NAME");
	int rc;
	if (!file) {
		rotor_chain_tried_add(
		    r, "no web identity token (AWS_WEB_IDENTITY_TOKEN_FILE not set)");
		return 1;
	}
	if (!role) {
		rotor_chain_tried_add(r, "no web identity role (AWS_ROLE_ARN not set)");
		return 1;
	}
	rc =
	    web_identity(r, role, file, session ? session : session_or_default(r->chain), out, err);
	if (rc) {
		rotor_error_prefix(err, "AWS credentials from web identity (AWS_ROLE_ARN %.120s)",
		                   role);
		return rc;
	}
	snprintf(out->source, sizeof(out->source), "web identity");
	return 0;
}

/* ---- 3. shared files ----------------------------------------------------- */

static int ini_add(struct ini *f, const char *section, const char *key, const char *value,
                   unsigned line)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct ini_entry *e = realloc(f->e, cap * sizeof(*e));
		if (!e)
			return ROTOR_ENOMEM;
		f->e = e;
		f->cap = cap;
	}
	f->e[f->n].section = section;
	f->e[f->n].key = key;
	f->e[f->n].value = value;
	f->e[f->n].line = line;
	f->n++;
	return 0;
}

/*
 * The INI dialect of botocore's configparser, as far as rotor needs it:
 * "[section]" headers (names case-sensitive, trimmed), "key = value" or
 * "key: value" (keys case-insensitive, both sides trimmed), whole-line
 * comments starting with '#' or ';'. There are no inline comments — a value
 * keeps everything after the delimiter, as botocore does. An indented line
 * under a key with an empty value belongs to a nested block ("s3 =" then
 * "  max_concurrent_requests = 10") and is skipped. The text is rewritten in
 * place: entries point into it. Errors give the line number only, since the
 * line may hold a secret.
 */
static int ini_parse(struct ini *f, struct rotor_error *err)
{
	char *p = f->text.data;
	const char *section = NULL;
	unsigned line = 0;
	int nested = 0;
	while (p && *p) {
		char *l = p, *eol = strchr(p, '\n');
		line++;
		if (eol) {
			*eol = '\0';
			p = eol + 1;
		} else {
			p = NULL;
		}
		int indented = *l == ' ' || *l == '\t';
		l = rotor_chain_trim(l);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *close = strrchr(l, ']');
			if (!close)
				return rotor_error_set(err, ROTOR_EINVALID,
				                       "%s:%u: a section header without ']'",
				                       f->shown, line);
			*close = '\0';
			section = rotor_chain_trim(l + 1);
			if (!*section)
				return rotor_error_set(err, ROTOR_EINVALID,
				                       "%s:%u: an empty section name", f->shown,
				                       line);
			nested = 0;
			if (ini_add(f, section, NULL, NULL, line))
				goto nomem;
			continue;
		}
		if (indented && nested)
			continue;
		size_t k = strcspn(l, "=:");
		if (!l[k])
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s:%u: expected \"[section]\" or \"key = value\"",
			                       f->shown, line);
		if (!section)
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s:%u: a setting before any [section]", f->shown,
			                       line);
		l[k] = '\0';
		char *key = rotor_chain_trim(l), *value = rotor_chain_trim(l + k + 1);
		if (!*key)
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s:%u: a setting without a name", f->shown, line);
		nested = *value == '\0';
		if (ini_add(f, section, key, value, line))
			goto nomem;
	}
	return 0;
nomem:
	return rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", f->shown);
}

/* The last value of key in section (later lines win), or NULL; an empty
 * value counts as unset. */
static const char *ini_get(const struct ini *f, const char *section, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < f->n; i++)
		if (f->e[i].key && strcmp(f->e[i].section, section) == 0 &&
		    strcasecmp(f->e[i].key, key) == 0)
			v = f->e[i].value;
	return v && *v ? v : NULL;
}

static int ini_has(const struct ini *f, const char *section)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->e[i].section, section) == 0)
			return 1;
	return 0;
}

static void ini_dispose(struct ini *f)
{
	rotor_buf_dispose(&f->text); /* wipes */
	free(f->e);
	f->e = NULL;
	f->n = f->cap = 0;
}

/* Loads one shared file: from `var` when set (a leading "~/" means HOME),
 * else HOME/rel. */
static int ini_load(struct ini *f, const char *var, const char *rel, struct rotor_error *err)
{
	char path[4096];
	const char *home = rotor_chain_env("HOME");
	const char *v = rotor_chain_env(var);
	int rc;
	if (v) {
		snprintf(f->shown, sizeof(f->shown), "%s", v);
		if (strncmp(v, "~/", 2) == 0) {
			if (!home) {
				f->state = 3;
				return 0;
			}
			snprintf(path, sizeof(path), "%s/%s", home, v + 2);
		} else {
			snprintf(path, sizeof(path), "%s", v);
		}
	} else {
		snprintf(f->shown, sizeof(f->shown), "~/%s", rel);
		if (!home) {
			f->state = 3;
			return 0;
		}
		snprintf(path, sizeof(path), "%s/%s", home, rel);
	}
	rc = read_capped(path, SHARED_FILE_MAX, &f->text, "shared AWS file", err);
	if (rc == 1) {
		f->state = 1;
		return 0;
	}
	if (rc)
		return rc;
	f->state = 2;
	return ini_parse(f, err);
}

static int load_files(struct resolve *r, struct rotor_error *err)
{
	int rc;
	if (r->files_loaded)
		return 0;
	r->files_loaded = 1;
	rc = ini_load(&r->cred, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", err);
	if (!rc)
		rc = ini_load(&r->conf, "AWS_CONFIG_FILE", ".aws/config", err);
	if (rc)
		rotor_error_prefix(err, "AWS shared files");
	return rc;
}

/* One profile seen through both files: the credentials file's [NAME] wins
 * over the config file's [profile NAME] ([default], or [profile default],
 * for the default profile), key by key, as in botocore. */
struct profile {
	const struct resolve *r;
	const char *name;
	char conf_section[PROFILE_NAME_MAX + 16];
	int is_default;
};

static void profile_open(struct profile *p, const struct resolve *r, const char *name)
{
	p->r = r;
	p->name = name;
	p->is_default = strcmp(name, "default") == 0;
	if (p->is_default)
		snprintf(p->conf_section, sizeof(p->conf_section), "default");
	else
		snprintf(p->conf_section, sizeof(p->conf_section), "profile %s", name);
}

static int profile_exists(const struct profile *p)
{
	return ini_has(&p->r->cred, p->name) || ini_has(&p->r->conf, p->conf_section) ||
	       (p->is_default && ini_has(&p->r->conf, "profile default"));
}

static const char *profile_get(const struct profile *p, const char *key)
{
	const char *v = ini_get(&p->r->cred, p->name, key);
	if (!v)
		v = ini_get(&p->r->conf, p->conf_section, key);
	if (!v && p->is_default)
		v = ini_get(&p->r->conf, "profile default", key);
	return v;
}

/* credential_source = Environment | Ec2InstanceMetadata | EcsContainer: the
 * base credentials of a role profile come from that source, which must work. */
static int from_credential_source(struct resolve *r, const char *profile, const char *source,
                                  struct rotor_aws_credentials *out, struct rotor_error *err)
{
	int rc;
	if (strcmp(source, "Environment") == 0) {
		rc = from_env(r, out, err);
		if (rc == 1)
			rc =
			    rotor_error_set(err, ROTOR_EAUTH,
			                    "profile \"%.64s\": credential_source Environment, but "
			                    "AWS_ACCESS_KEY_ID is not set",
			                    profile);
		return rc;
	}
	if (strcmp(source, "EcsContainer") == 0)
		return rotor_chain_from_container(r, 1, out, err);
	if (strcmp(source, "Ec2InstanceMetadata") == 0)
		return rotor_chain_from_imds(r, out, err);
	return rotor_error_set(err, ROTOR_EINVALID,
	                       "profile \"%.64s\": credential_source must be Environment, "
	                       "Ec2InstanceMetadata or EcsContainer",
	                       profile);
}

/*
 * Resolves profile `name`. Returns 0 (found), 1 (no such profile, or one
 * without credentials: a reason was added) or an error. `visited` holds the
 * profiles already on this role chain, to refuse loops.
 *
 * A role profile (role_arn) takes its base credentials from exactly one of
 * source_profile, credential_source or web_identity_token_file. For a
 * profile reached as someone's source_profile, static keys win over its own
 * role_arn (botocore's rule); a profile that names itself as its
 * source_profile uses its own static keys as the base.
 */
static int resolve_profile(struct resolve *r, const char *name, const char **visited, size_t depth,
                           struct rotor_aws_credentials *out, struct rotor_error *err)
{
	struct profile p;
	struct rotor_aws_credentials base;
	struct rotor_secret *external = NULL;
	int rc = 0;
	if (strlen(name) > PROFILE_NAME_MAX)
		return rotor_error_set(err, ROTOR_EINVALID, "profile name longer than %d bytes",
		                       PROFILE_NAME_MAX);
	if ((rc = load_files(r, err)) != 0)
		return rc;
	if (r->cred.state == 3 && r->conf.state == 3) {
		rotor_chain_tried_add(r, "no shared files (HOME not set)");
		return 1;
	}
	profile_open(&p, r, name);
	if (!profile_exists(&p)) {
		rotor_chain_tried_add(r, "profile \"%.64s\" not found in %s or %s", name,
		                      r->cred.shown, r->conf.shown);
		return 1;
	}
	const char *akid = profile_get(&p, "aws_access_key_id");
	const char *secret = profile_get(&p, "aws_secret_access_key");
	const char *token = profile_get(&p, "aws_session_token");
	const char *role = profile_get(&p, "role_arn");
	const char *src = profile_get(&p, "source_profile");
	const char *csrc = profile_get(&p, "credential_source");
	const char *wit = profile_get(&p, "web_identity_token_file");
	int has_static = akid && secret;

	if ((akid != NULL) != (secret != NULL))
		return rotor_error_set(err, ROTOR_EAUTH,
		                       "profile \"%.64s\": %s is set but %s is not", name,
		                       akid ? "aws_access_key_id" : "aws_secret_access_key",
		                       akid ? "aws_secret_access_key" : "aws_access_key_id");
	if (role && !(depth > 0 && has_static)) {
		const char *session = profile_get(&p, "role_session_name");
		const char *ext = profile_get(&p, "external_id");
		const char *dur = profile_get(&p, "duration_seconds");
		int duration = 0;
		if (!session)
			session = session_or_default(r->chain);
		if (profile_get(&p, "mfa_serial"))
			return rotor_error_set(err, ROTOR_EAUTH,
			                       "profile \"%.64s\" needs an MFA code (mfa_serial), "
			                       "which an unattended rotor cannot give",
			                       name);
		if ((src != NULL) + (csrc != NULL) + (wit != NULL) != 1)
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "profile \"%.64s\": role_arn needs exactly one of "
			                       "source_profile, credential_source and "
			                       "web_identity_token_file",
			                       name);
		if (dur) {
			char *end;
			long d = strtol(dur, &end, 10);
			if (*end || d < 900 || d > 43200)
				return rotor_error_set(
				    err, ROTOR_EINVALID,
				    "profile \"%.64s\": duration_seconds must be "
				    "900..43200",
				    name);
			duration = (int)d;
		}
		if (wit) {
			rc = web_identity(r, role, wit, session, out, err);
			if (rc) {
				rotor_error_prefix(err, "profile \"%.64s\" (web identity)", name);
				return rc;
			}
			snprintf(out->source, sizeof(out->source), "profile %.55s", name);
			return 0;
		}
		memset(&base, 0, sizeof(base));
		if (csrc) {
			rc = from_credential_source(r, name, csrc, &base, err);
		} else if (strcmp(src, name) == 0) {
			if (!has_static)
				return rotor_error_set(
				    err, ROTOR_EINVALID,
				    "profile \"%.64s\" is its own source_profile "
				    "but has no aws_access_key_id",
				    name);
			rc = rotor_aws_credentials_set(&base, akid, secret, token, 0, err);
		} else {
			for (size_t i = 0; i <= depth; i++)
				if (strcmp(visited[i], src) == 0)
					return rotor_error_set(err, ROTOR_EINVALID,
					                       "profile \"%.64s\": source_profile "
					                       "\"%.64s\" makes a loop",
					                       name, src);
			if (depth + 1 > MAX_SOURCE_HOPS)
				return rotor_error_set(
				    err, ROTOR_EINVALID,
				    "profile \"%.64s\": role chain longer than %d "
				    "source_profile hops",
				    visited[0], MAX_SOURCE_HOPS);
			visited[depth + 1] = src;
			rc = resolve_profile(r, src, visited, depth + 1, &base, err);
			if (rc == 1)
				rc = rotor_error_set(
				    err, ROTOR_EAUTH,
				    "profile \"%.64s\": its source_profile \"%.64s\" "
				    "is missing or has no credentials",
				    name, src);
		}
		if (rc) {
			rotor_aws_credentials_dispose(&base);
			return rc;
		}
		if (ext && (rc = rotor_secret_from_str(&external, ext, 0, err)) != 0) {
			rotor_aws_credentials_dispose(&base);
			return rc;
		}
		rc = assume_role(r, &base, role, session, external, duration, out, err);
		if (rc)
			rotor_error_prefix(err, "profile \"%.64s\" (with credentials from %s)",
			                   name, base.source[0] ? base.source : "its source");
		else
			snprintf(out->source, sizeof(out->source), "profile %.55s", name);
		rotor_secret_free(external);
		rotor_aws_credentials_dispose(&base);
		return rc;
	}
	if (has_static) {
		rc = rotor_aws_credentials_set(out, akid, secret, token, 0, err);
		if (rc) {
			rotor_error_prefix(err, "profile \"%.64s\"", name);
			return rc;
		}
		snprintf(out->source, sizeof(out->source), "profile %.55s", name);
		return 0;
	}
	if (profile_get(&p, "credential_process") || profile_get(&p, "sso_session") ||
	    profile_get(&p, "sso_start_url"))
		rotor_chain_tried_add(r,
		                      "profile \"%.64s\" has no credentials rotor can use "
		                      "(credential_process and SSO are not supported)",
		                      name);
	else
		rotor_chain_tried_add(r, "profile \"%.64s\" has no credentials", name);
	return 1;
}

static int from_profile(struct resolve *r, const char *name, struct rotor_aws_credentials *out,
                        struct rotor_error *err)
{
	const char *visited[MAX_SOURCE_HOPS + 2];
	visited[0] = name;
	return resolve_profile(r, name, visited, 0, out, err);
}

/* ---- the chain --------------------------------------------------------- */

static int resolve_base(struct resolve *r, struct rotor_aws_credentials *out,
                        struct rotor_error *err)
{
	struct rotor_aws_chain *c = r->chain;
	const char *profile;
	int rc;

	if (c->profile) {
		/* The connection chose this profile: it is the only source (see
		 * the comment at the top of the file). */
		rc = from_profile(r, c->profile, out, err);
		if (rc == 1)
			rc = rotor_error_set(err, ROTOR_EAUTH,
			                     "no AWS credentials: %s (the connection names this "
			                     "profile, so no other source is tried)",
			                     r->tried);
		return rc;
	}
	if ((rc = from_env(r, out, err)) <= 0)
		return rc;
	if ((rc = from_web_identity(r, out, err)) <= 0)
		return rc;
	profile = rotor_chain_env("AWS_PROFILE");
	if ((rc = from_profile(r, profile ? profile : "default", out, err)) <= 0)
		return rc;
	if ((rc = rotor_chain_from_container(r, 0, out, err)) <= 0)
		return rc;
	struct rotor_error imds;
	rotor_error_clear(&imds);
	if ((rc = rotor_chain_from_imds(r, out, &imds)) == 0)
		return 0;
	if (strncmp(imds.message, "instance metadata", 17) == 0)
		rotor_chain_tried_add(r, "%s", imds.message);
	else
		rotor_chain_tried_add(r, "instance metadata: %s", imds.message);
	return rotor_error_set(err, ROTOR_EAUTH, "no AWS credentials: %s", r->tried);
}

/* Resolves the chain and the role on top into *out. */
static int refresh(struct rotor_aws_chain *c, struct rotor_aws_credentials *out,
                   int64_t *refresh_at, struct rotor_error *err)
{
	struct resolve r;
	struct rotor_aws_credentials base;
	int rc;
	memset(&r, 0, sizeof(r));
	memset(&base, 0, sizeof(base));
	r.chain = c;
	r.now = c->clock->now(c->clock);
	rotor_buf_init(&r.cred.text, SHARED_FILE_MAX);
	rotor_buf_init(&r.conf.text, SHARED_FILE_MAX);

	rc = resolve_base(&r, &base, err);
	if (rc)
		goto done;
	if (c->role_arn) {
		rc = assume_role(&r, &base, c->role_arn, session_or_default(c), c->external_id,
		                 ROLE_DURATION_S, out, err);
		if (rc) {
			rotor_error_prefix(
			    err, "AWS credentials: assuming %.120s with credentials from %s",
			    c->role_arn, base.source);
			goto done;
		}
		snprintf(out->source, sizeof(out->source), "role %s via %s", c->role_arn,
		         base.source);
	} else {
		*out = base;
		memset(&base, 0, sizeof(base));
	}

	/* Expiring credentials are refreshed REFRESH_WINDOW_S early, but kept
	 * at least RETRY_AFTER_FAILURE_S when they arrive already inside the
	 * window, so a source that hands out short-lived credentials is not
	 * called on every get. */
	if (out->expiration == 0) {
		*refresh_at = r.refresh_by ? r.refresh_by : INT64_MAX;
	} else {
		int64_t at = out->expiration - REFRESH_WINDOW_S;
		if (at < r.now + RETRY_AFTER_FAILURE_S)
			at = r.now + RETRY_AFTER_FAILURE_S;
		if (at > out->expiration)
			at = out->expiration;
		*refresh_at = at;
	}
done:
	rotor_aws_credentials_dispose(&base);
	ini_dispose(&r.cred);
	ini_dispose(&r.conf);
	rotor_wipe(r.tried, sizeof(r.tried));
	return rc;
}

int rotor_aws_chain_new(struct rotor_aws_chain **out, const struct rotor_aws_chain_options *opts,
                        struct rotor_error *err)
{
	struct rotor_aws_chain *c;
	int nomem = 0, rc;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return rotor_error_set(err, ROTOR_ENOMEM, "AWS credentials: out of memory");
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return rotor_error_set(err, ROTOR_EINTERNAL, "AWS credentials: mutex init failed");
	}
	if (opts) {
		c->profile =
		    dup_opt(opts->profile && *opts->profile ? opts->profile : NULL, &nomem);
		c->region = dup_opt(opts->region && *opts->region ? opts->region : NULL, &nomem);
		c->sts_url =
		    dup_opt(opts->sts_url && *opts->sts_url ? opts->sts_url : NULL, &nomem);
		c->role_arn =
		    dup_opt(opts->role_arn && *opts->role_arn ? opts->role_arn : NULL, &nomem);
		c->session_name = dup_opt(
		    opts->session_name && *opts->session_name ? opts->session_name : NULL, &nomem);
		c->imds_url = dup_opt(opts->imds_url, &nomem);
		c->container_host_url = dup_opt(opts->container_host_url, &nomem);
		c->clock = opts->clock;
		c->http = opts->http;
	} else {
		rotor_http_options_init(&c->http);
	}
	if (!c->clock)
		c->clock = rotor_clock_real();
	if (!c->http.clock)
		c->http.clock = c->clock;
	if (nomem) {
		rotor_aws_chain_free(c);
		return rotor_error_set(err, ROTOR_ENOMEM, "AWS credentials: out of memory");
	}
	if (opts && opts->external_id &&
	    (rc = rotor_secret_dup(&c->external_id, opts->external_id, err)) != 0) {
		rotor_aws_chain_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void rotor_aws_chain_free(struct rotor_aws_chain *c)
{
	if (!c)
		return;
	rotor_aws_credentials_dispose(&c->cached);
	rotor_secret_free(c->external_id);
	free(c->profile);
	free(c->region);
	free(c->sts_url);
	free(c->role_arn);
	free(c->session_name);
	free(c->imds_url);
	free(c->container_host_url);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int rotor_aws_chain_get(struct rotor_aws_chain *c, struct rotor_aws_credentials *out,
                        struct rotor_error *err)
{
	struct rotor_aws_credentials fresh;
	int64_t now, at = 0;
	int rc;
	memset(out, 0, sizeof(*out));
	if (!c)
		return rotor_error_set(err, ROTOR_EINVALID, "AWS credentials: no chain");
	memset(&fresh, 0, sizeof(fresh));
	pthread_mutex_lock(&c->lock);
	now = c->clock->now(c->clock);
	if (c->have_cached && now < c->refresh_at) {
		rc = rotor_aws_credentials_copy(out, &c->cached, err);
		goto done;
	}
	rc = refresh(c, &fresh, &at, err);
	if (rc) {
		if (c->have_cached && c->cached.expiration != 0 && now < c->cached.expiration) {
			char until[ROTOR_TIME_STR_MAX];
			rotor_time_format(until, sizeof(until), c->cached.expiration);
			rotor_log(ROTOR_LOG_WARN, "aws",
			          "refreshing AWS credentials failed; using the current ones (%s, "
			          "valid until %s): %s",
			          c->cached.source, until, err ? err->message : "");
			c->refresh_at = now + RETRY_AFTER_FAILURE_S;
			if (c->refresh_at > c->cached.expiration)
				c->refresh_at = c->cached.expiration;
			rotor_error_clear(err);
			rc = rotor_aws_credentials_copy(out, &c->cached, err);
		}
		goto done;
	}
	rotor_aws_credentials_dispose(&c->cached);
	c->cached = fresh;
	memset(&fresh, 0, sizeof(fresh));
	c->have_cached = 1;
	c->refresh_at = at;
	if (c->cached.expiration) {
		char until[ROTOR_TIME_STR_MAX];
		rotor_time_format(until, sizeof(until), c->cached.expiration);
		rotor_log(ROTOR_LOG_DEBUG, "aws", "AWS credentials %s from %s, valid until %s",
		          c->cached.access_key_id, c->cached.source, until);
	} else {
		rotor_log(ROTOR_LOG_DEBUG, "aws", "AWS credentials %s from %s",
		          c->cached.access_key_id, c->cached.source);
	}
	rc = rotor_aws_credentials_copy(out, &c->cached, err);
done:
	pthread_mutex_unlock(&c->lock);
	rotor_aws_credentials_dispose(&fresh);
	return rc;
}

static int chain_provider_get(void *ctx, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	return rotor_aws_chain_get(ctx, out, err);
}

struct rotor_aws_creds_provider rotor_aws_chain_provider(struct rotor_aws_chain *chain)
{
	struct rotor_aws_creds_provider p = {chain_provider_get, chain};
	return p;
}
