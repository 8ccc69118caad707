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
#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "util/buf.h"

#define REFRESH_WINDOW_S 300     /* refresh this long before expiry */
#define RETRY_AFTER_FAILURE_S 30 /* stale credentials: next refresh attempt */
#define NO_EXPIRY_REFRESH_S 900  /* metadata credentials without Expiration */
#define MAX_SOURCE_HOPS 4        /* source_profile hops in one role chain */
#define SHARED_FILE_MAX ((size_t)1 << 20)
#define TOKEN_FILE_MAX ((size_t)64 * 1024)
#define METADATA_REPLY_MAX ((size_t)64 * 1024)
#define ROLE_DURATION_S 3600 /* DurationSeconds for opts->role_arn */
#define DEFAULT_IMDS_URL "http://169.254.169.254"
#define DEFAULT_CONTAINER_HOST "http://169.254.170.2"
#define PROFILE_NAME_MAX 200

struct rotor_aws_chain {
	pthread_mutex_t lock; /* held for the whole of get, refresh included */
	char *profile;        /* the connection's profile; NULL: AWS_PROFILE/default */
	char *region;         /* for STS; NULL: AWS_REGION, AWS_DEFAULT_REGION, us-east-1 */
	char *sts_url;        /* NULL: resolved from the region (and AWS_ENDPOINT_URL*) */
	char *role_arn;       /* assumed on top when set */
	struct rotor_secret *external_id; /* owned copy, or NULL */
	char *session_name;               /* RoleSessionName; NULL: "rotor" */
	char *imds_url;                   /* test hook; NULL: env or 169.254.169.254 */
	char *container_host_url;         /* test hook; NULL: 169.254.170.2 */
	struct rotor_clock *clock;        /* never NULL */
	struct rotor_http_options http; /* for STS; metadata calls shorten it (strings borrowed) */
	struct rotor_aws_credentials cached; /* valid when have_cached */
	int have_cached;
	int64_t refresh_at; /* Unix seconds: refresh on the first get at or after */
};

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
static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* The per-refresh state: what was tried, and the shared files once read. */
struct ini_entry {
	const char *section; /* points into the file's (rewritten) text */
	const char *key;     /* NULL: the section header itself */
	const char *value;
	unsigned line;
};

struct ini {
	int state;             /* 0 not loaded, 1 no such file, 2 loaded, 3 no path (HOME unset) */
	char shown[300];       /* the path as a user knows it: "~/.aws/config" or the variable's */
	struct rotor_buf text; /* the file, rewritten in place into NUL-terminated fields */
	struct ini_entry *e;
	size_t n, cap;
};

struct resolve {
	struct rotor_aws_chain *chain;
	int64_t now;
	char tried[1024]; /* "; "-separated reasons, for the final message */
	size_t tried_len;
	int files_loaded;
	struct ini cred, conf;
	int64_t refresh_by; /* set when a source gave no Expiration but should be re-read */
};

static void tried_add(struct resolve *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tried_add(struct resolve *r, const char *fmt, ...)
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
static int read_token_file(const char *path, const char *what, struct rotor_secret **out,
                           struct rotor_error *err)
{
	struct rotor_buf b;
	int rc = read_capped(path, TOKEN_FILE_MAX, &b, what, err);
	*out = NULL;
	if (rc == 1)
		return rotor_error_set(err, ROTOR_EIO, "%s: %.200s does not exist", what, path);
	if (rc)
		return rc;
	char *t = trim(b.data);
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
		r = env("AWS_REGION");
	if (!r)
		r = env("AWS_DEFAULT_REGION");
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
	int rc = read_token_file(token_file, "web identity token", &token, err);
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
	const char *akid = env("AWS_ACCESS_KEY_ID");
	const char *secret = env("AWS_SECRET_ACCESS_KEY");
	int rc;
	if (!akid && !secret) {
		tried_add(r, "AWS_ACCESS_KEY_ID not set");
		return 1;
	}
	if (!akid || !secret)
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "AWS credentials from the environment: %s is set but %s is not",
		    akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		    akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	rc = rotor_aws_credentials_set(out, akid, secret, env("AWS_SESSION_TOKEN"), 0, err);
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
	const char *role = env("AWS_ROLE_ARN");
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *session = env("AWS_ROLE_SESSION_NAME");
	int rc;
	if (!file) {
		tried_add(r, "no web identity token (AWS_WEB_IDENTITY_TOKEN_FILE not set)");
		return 1;
	}
	if (!role) {
		tried_add(r, "no web identity role (AWS_ROLE_ARN not set)");
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
		l = trim(l);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *close = strrchr(l, ']');
			if (!close)
				return rotor_error_set(err, ROTOR_EINVALID,
				                       "%s:%u: a section header without ']'",
				                       f->shown, line);
			*close = '\0';
			section = trim(l + 1);
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
		char *key = trim(l), *value = trim(l + k + 1);
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
	const char *home = env("HOME");
	const char *v = env(var);
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

static int from_container(struct resolve *r, int required, struct rotor_aws_credentials *out,
                          struct rotor_error *err);
static int from_imds(struct resolve *r, struct rotor_aws_credentials *out, struct rotor_error *err);

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
		return from_container(r, 1, out, err);
	if (strcmp(source, "Ec2InstanceMetadata") == 0)
		return from_imds(r, out, err);
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
		tried_add(r, "no shared files (HOME not set)");
		return 1;
	}
	profile_open(&p, r, name);
	if (!profile_exists(&p)) {
		tried_add(r, "profile \"%.64s\" not found in %s or %s", name, r->cred.shown,
		          r->conf.shown);
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
		tried_add(r,
		          "profile \"%.64s\" has no credentials rotor can use "
		          "(credential_process and SSO are not supported)",
		          name);
	else
		tried_add(r, "profile \"%.64s\" has no credentials", name);
	return 1;
}

static int from_profile(struct resolve *r, const char *name, struct rotor_aws_credentials *out,
                        struct rotor_error *err)
{
	const char *visited[MAX_SOURCE_HOPS + 2];
	visited[0] = name;
	return resolve_profile(r, name, visited, 0, out, err);
}

/* ---- metadata services (4 and 5) ---------------------------------------- */

/* Fast-failing transport options: a laptop has no metadata service, and
 * the chain must get past it in a couple of seconds. */
static int metadata_http(const struct rotor_aws_chain *c, int attempts, long timeout_ms,
                         struct rotor_http **out, struct rotor_error *err)
{
	struct rotor_http_options o = c->http;
	o.connect_timeout_ms = 1000;
	o.timeout_ms = timeout_ms;
	o.deadline_ms = 6000;
	o.max_attempts = attempts;
	o.max_response = METADATA_REPLY_MAX;
	o.backoff_base_ms = 100;
	o.backoff_max_ms = 500;
	o.retry_after_max_ms = 1000;
	o.classify = rotor_http_classify_default;
	o.classify_ctx = NULL;
	return rotor_http_new(out, &o, err);
}

/* Wipes a JSON string in place before jansson frees it (the value is a
 * heap copy jansson owns; nothing else points at it). */
static void json_wipe_string(json_t *v)
{
	if (json_is_string(v))
		rotor_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static const char *json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* {AccessKeyId, SecretAccessKey, Token, Expiration} (the container
 * endpoint and IMDS alike; IMDS adds Code). */
static int parse_credentials_json(struct resolve *r, const struct rotor_buf *body, const char *what,
                                  int want_code, struct rotor_aws_credentials *out,
                                  struct rotor_error *err)
{
	json_error_t jerr;
	int64_t expiration = 0;
	char why[128];
	int rc = 0;
	json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
	if (!root)
		/* jerr.text may quote the reply, which may hold a secret. */
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: the reply is not JSON (line %d, column %d)", what,
		                       jerr.line, jerr.column);
	if (!json_is_object(root)) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: the reply is not a JSON object",
		                     what);
		goto done;
	}
	if (want_code) {
		const char *code = json_str(root, "Code");
		if (!code || strcmp(code, "Success") != 0) {
			rc = rotor_error_set(err, ROTOR_EAUTH, "%s: Code is %.40s, not Success",
			                     what, code ? code : "missing");
			goto done;
		}
	}
	const char *akid = json_str(root, "AccessKeyId");
	const char *secret = json_str(root, "SecretAccessKey");
	const char *token = json_str(root, "Token");
	const char *exp = json_str(root, "Expiration");
	if (!akid || !secret) {
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "%s: the reply has no AccessKeyId or SecretAccessKey", what);
		goto done;
	}
	if (exp && rotor_time_parse(&expiration, exp, why, sizeof(why)) != 0) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: unreadable Expiration: %s", what,
		                     why);
		goto done;
	}
	if (!exp)
		r->refresh_by = r->now + NO_EXPIRY_REFRESH_S;
	rc = rotor_aws_credentials_set(out, akid, secret, token, expiration, err);
	if (rc)
		rotor_error_prefix(err, "%s", what);
done:
	json_wipe_string(json_object_get(root, "SecretAccessKey"));
	json_wipe_string(json_object_get(root, "Token"));
	json_decref(root);
	return rc;
}

/* The host of an http:// URL, lower-cased and without port, for the
 * FULL_URI check. */
static void url_host(const char *url, char *host, size_t len)
{
	const char *p = strstr(url, "://");
	size_t n;
	host[0] = '\0';
	if (!p || len == 0)
		return;
	p += 3;
	n = strcspn(p, "/?#");
	if (memchr(p, '@', n))
		return; /* user info: refuse rather than parse */
	if (*p == '[') {
		const char *close = memchr(p, ']', n);
		if (!close)
			return;
		n = (size_t)(close - p) + 1;
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n >= len)
		return;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[n] = '\0';
}

/* The SDKs' rule for AWS_CONTAINER_CREDENTIALS_FULL_URI: https anywhere;
 * plain http only to loopback or to the ECS/EKS agents' link-local
 * addresses, so a misconfigured variable cannot send the authorization
 * token (or fetch credentials) across a network in clear text. */
static int full_uri_allowed(const char *url)
{
	char host[128];
	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	url_host(url, host, sizeof(host));
	if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
	    !strcmp(host, "169.254.170.2") || !strcmp(host, "169.254.170.23") ||
	    !strcmp(host, "[fd00:ec2::23]"))
		return 1;
	return strncmp(host, "127.", 4) == 0 && host[4] &&
	       strspn(host, "0123456789.") == strlen(host);
}

static int from_container(struct resolve *r, int required, struct rotor_aws_credentials *out,
                          struct rotor_error *err)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token_env = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	struct rotor_secret *token = NULL;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	char url[2048];
	const char *what = "container credentials";
	int rc = 0;

	memset(&res, 0, sizeof(res));
	if (!rel && !full) {
		if (required)
			return rotor_error_set(
			    err, ROTOR_EAUTH,
			    "container credentials: neither "
			    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor _FULL_URI is "
			    "set");
		tried_add(r, "no container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
		             "_FULL_URI not set)");
		return 1;
	}
	if (rel) {
		/* The relative URI carries the task's credential id: keep it out of
		 * messages (the request is named `what`, not by URL). */
		const char *host = r->chain->container_host_url ? r->chain->container_host_url
		                                                : DEFAULT_CONTAINER_HOST;
		size_t hl = strlen(host);
		while (hl > 0 && host[hl - 1] == '/')
			hl--;
		if (rel[0] != '/')
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "%s: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start "
			    "with '/'",
			    what);
		if (hl + strlen(rel) >= sizeof(url))
			return rotor_error_set(err, ROTOR_EINVALID, "%s: the URI is too long",
			                       what);
		snprintf(url, sizeof(url), "%.*s%s", (int)hl, host, rel);
	} else {
		if (!full_uri_allowed(full))
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "%s: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, "
			    "or http to a loopback address or the ECS/EKS agent",
			    what);
		if (strlen(full) >= sizeof(url))
			return rotor_error_set(err, ROTOR_EINVALID, "%s: the URI is too long",
			                       what);
		snprintf(url, sizeof(url), "%s", full);
	}
	if (token_file) {
		rc = read_token_file(token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token,
		                     err);
	} else if (token_env) {
		if (strpbrk(token_env, "\r\n"))
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "%s: AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line "
			                     "break",
			                     what);
		else
			rc = rotor_secret_from_str(&token, token_env, ROTOR_SECRET_REDACT, err);
	}
	if (rc)
		goto done;
	if ((rc = metadata_http(r->chain, 1, 2000, &h, err)) != 0)
		goto done;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.what = what;
	rotor_http_request_header(&req, "Accept", "application/json");
	if (token)
		rotor_http_request_header(&req, "Authorization", rotor_secret_bytes(token));
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status != 200) {
		rc = rotor_error_set(
		    err,
		    res.status >= 500   ? ROTOR_ETRANSIENT
		    : res.status == 429 ? ROTOR_ETHROTTLED
		                        : ROTOR_EAUTH,
		    "%s: the endpoint answered HTTP %ld%s", what, res.status,
		    res.status == 401 || res.status == 403
		        ? (token ? " (the authorization token was refused)"
		                 : " (no AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE] set)")
		        : "");
		rotor_error_set_remote(err, (int)res.status, NULL, NULL);
		goto done;
	}
	rc = parse_credentials_json(r, &res.body, what, 0, out, err);
	if (!rc)
		snprintf(out->source, sizeof(out->source), "container");
done:
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
	rotor_secret_free(token);
	return rc;
}

static int imds_disabled(void)
{
	const char *v = env("AWS_EC2_METADATA_DISABLED");
	return v && strcasecmp(v, "true") == 0;
}

/* IAM role names: [\w+=,.@-]{1,64}; anything else would change the URL. */
static int role_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-", *s))
			return 0;
	return 1;
}

/*
 * IMDSv2 only: PUT a session token, then the role name, then the role's
 * credentials, each GET carrying the token. No fallback to IMDSv1: an
 * instance that still allows v1 answers v2 too, and refusing v1 keeps a
 * server-side request forgery from reaching the credentials with a GET.
 * Returns 0 or an error; the caller decides whether an error is fatal.
 */
static int from_imds(struct resolve *r, struct rotor_aws_credentials *out, struct rotor_error *err)
{
	const char *base = r->chain->imds_url;
	struct rotor_http *h = NULL;
	struct rotor_http_request req;
	struct rotor_http_response res;
	struct rotor_secret *token = NULL;
	char url[1024], role[80];
	size_t bl;
	int rc;

	memset(&res, 0, sizeof(res));
	if (imds_disabled())
		return rotor_error_set(
		    err, ROTOR_EAUTH,
		    "instance metadata disabled (AWS_EC2_METADATA_DISABLED=true)");
	if (!base)
		base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!base)
		base = DEFAULT_IMDS_URL;
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (bl > 512)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "instance metadata: the URL is too long");
	if ((rc = metadata_http(r->chain, 2, 1000, &h, err)) != 0)
		return rc;

	/* 1. the session token */
	snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)bl, base);
	memset(&req, 0, sizeof(req));
	req.method = "PUT";
	req.url = url;
	req.what = "instance metadata token (PUT /latest/api/token)";
	rotor_http_request_header(&req, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status != 200) {
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s: HTTP %ld", req.what, res.status);
		goto done;
	}
	if (!res.body.data) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: an empty reply", req.what);
		goto done;
	}
	char *t = trim(res.body.data);
	if (!*t || strlen(t) > 4096 || strpbrk(t, "\r\n")) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: no usable token in the reply",
		                     req.what);
		goto done;
	}
	if ((rc = rotor_secret_from_str(&token, t, ROTOR_SECRET_REDACT, err)) != 0)
		goto done;
	rotor_http_response_dispose(&res);

	/* 2. the role attached to the instance */
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/", (int)bl,
	         base);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.what = "instance metadata role (GET /latest/meta-data/iam/security-credentials/)";
	rotor_http_request_header(&req, "X-aws-ec2-metadata-token", rotor_secret_bytes(token));
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status == 404) {
		rc = rotor_error_set(err, ROTOR_EAUTH,
		                     "instance metadata: no IAM role attached to the instance");
		goto done;
	}
	if (res.status != 200) {
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s: HTTP %ld", req.what, res.status);
		goto done;
	}
	char *list = res.body.data;
	if (list) {
		list[strcspn(list, "\r\n")] = '\0';
		list = trim(list);
	}
	if (!list || !role_name_ok(list)) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "%s: no valid role name in the reply",
		                     req.what);
		goto done;
	}
	snprintf(role, sizeof(role), "%s", list);
	rotor_http_response_dispose(&res);

	/* 3. the role's credentials */
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/%s", (int)bl,
	         base, role);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.what = "instance metadata credentials";
	rotor_http_request_header(&req, "X-aws-ec2-metadata-token", rotor_secret_bytes(token));
	if ((rc = rotor_http_do(h, &req, &res, err)) != 0)
		goto done;
	if (res.status != 200) {
		rc = rotor_error_set(err, ROTOR_EAUTH, "%s for role %s: HTTP %ld", req.what, role,
		                     res.status);
		goto done;
	}
	rc = parse_credentials_json(r, &res.body, "instance metadata credentials", 1, out, err);
	if (!rc)
		snprintf(out->source, sizeof(out->source), "instance metadata");
done:
	rotor_http_response_dispose(&res);
	rotor_http_free(h);
	rotor_secret_free(token);
	return rc;
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
	profile = env("AWS_PROFILE");
	if ((rc = from_profile(r, profile ? profile : "default", out, err)) <= 0)
		return rc;
	if ((rc = from_container(r, 0, out, err)) <= 0)
		return rc;
	struct rotor_error imds;
	rotor_error_clear(&imds);
	if ((rc = from_imds(r, out, &imds)) == 0)
		return 0;
	if (strncmp(imds.message, "instance metadata", 17) == 0)
		tried_add(r, "%s", imds.message);
	else
		tried_add(r, "instance metadata: %s", imds.message);
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
