/*
 * config.c: the controller config (rotor.yaml): parse and validate its bytes
 * into struct rotor_config, resolve its secret references, look entries up.
 *
 * Validation is exhaustive, like the manifest parser: every section is
 * checked even after an earlier one failed, and each problem is reported at
 * the node that causes it, so one `rotor validate` lists them all. Entries
 * are stored while parsing even when they are invalid, so that a later
 * duplicate name can point back at the first one; if anything was an error
 * the caller gets no config at all.
 *
 * Secret values never pass through the parser: the file holds references
 * ({env: NAME} or {file: PATH}) only. A literal where a reference belongs is
 * refused without being echoed, since it may be a real credential pasted in
 * by mistake. rotor_config_resolve_secrets loads the references later, into
 * the secret type, which registers each value with the redactor.
 */
#include "rotor/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotor/error.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "yamldoc.h"

#define NAME_MAX_LEN 63 /* connection and reload command names */
#define WHAT_MAX 256    /* a field's dotted path, for messages */
#define DEFAULT_WORKERS 4
#define DEFAULT_RESYNC ((int64_t)600)
#define DEFAULT_LISTEN "127.0.0.1:9464"
#define DEFAULT_SESSION_NAME "rotor"
#define DEFAULT_INFISICAL_RPM 30
#define DEFAULT_HEROKU_URL "https://api.heroku.com"
#define DEFAULT_GITHUB_URL "https://api.github.com"
#define DEFAULT_BRANCH "main"
#define DEFAULT_SOURCE_INTERVAL ((int64_t)60)
#define MIN_SOURCE_INTERVAL ((int64_t)10)
#define DEFAULT_RELOAD_TIMEOUT ((int64_t)30)
#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static const char *const partition_names[] = {"aws", "aws-cn", "aws-us-gov", NULL};
static const char *const infisical_api_names[] = {"v3", "v4", NULL};

/* Top-level directories where an allowed env-file directory would expose
 * system files to any manifest. */
static const char *const system_dirs[] = {
    "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/root", "/home",
    "/var", "/opt", "/srv", "/run",  "/tmp", "/dev",   "/proc", "/sys",
};

struct cparse {
	struct yctx y;            /* file name, diagnostics, error count */
	struct rotor_config *cfg; /* being filled; freed by the caller on error */
	int oom;                  /* an allocation of ours failed */
	/* where allowedDirs and reload are being read: "envFiles", or an ssh
	 * connection's "connections.ssh.NAME" (then cfg is its files part) */
	const char *files;
};

/* ---- small helpers ---------------------------------------------------- */

static char *xstrdup(struct cparse *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->oom = 1;
	return d;
}

/* Grows an array of `size`-byte elements by one zeroed element; returns the
 * new base (the caller stores it) or NULL with c->oom set. */
static void *grow(struct cparse *c, void *items, size_t n, size_t size)
{
	char *p = realloc(items, (n + 1) * size);
	if (!p) {
		c->oom = 1;
		return NULL;
	}
	memset(p + n * size, 0, size);
	return p;
}

static struct rotor_pos pos_of(const struct cparse *c, const struct ydoc_node *n)
{
	struct rotor_pos p = {c->cfg->origin, n ? n->line : 0, n ? n->col : 0};
	return p;
}

/* A section or list left empty (`controller:` alone) counts as absent. */
static const struct ydoc_node *present(const struct ydoc_node *n)
{
	return n && !rotor_ynode_is_null(n) ? n : NULL;
}

static const char *node_kind(const struct ydoc_node *n)
{
	if (n->type == YDOC_MAP)
		return "a mapping";
	if (n->type == YDOC_SEQ)
		return "a list";
	return rotor_ynode_is_null(n) ? "null" : "a scalar";
}

/* "prefix.name" into buf, for messages. */
static const char *field(char *buf, const char *prefix, const char *name)
{
	snprintf(buf, WHAT_MAX, "%s.%s", prefix, name);
	return buf;
}

static int is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Connection and reload names: [A-Za-z0-9_-], 1..63. */
static int valid_name(const struct ydoc_node *key)
{
	if (key->len == 0 || key->len > NAME_MAX_LEN || strlen(key->value) != key->len)
		return 0;
	for (const char *p = key->value; *p; p++)
		if (!is_alnum(*p) && *p != '-' && *p != '_')
			return 0;
	return 1;
}

static int has_space_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* ---- typed field readers ---------------------------------------------- */

/* A duration within [min, max] (max INT64_MAX: no upper bound). */
static void get_duration_in(struct cparse *c, const struct ydoc_node *n, const char *what,
                            int64_t min, int64_t max, int64_t *out)
{
	char lo[32], hi[32];
	int64_t v = 0;
	if (!n || rotor_yget_duration(&c->y, n, what, &v))
		return;
	if (v >= min && v <= max) {
		*out = v;
		return;
	}
	rotor_duration_format(lo, sizeof(lo), min);
	rotor_duration_format(hi, sizeof(hi), max);
	if (max == INT64_MAX)
		rotor_yerr(&c->y, n, "%s must be at least %s, not %s", what, lo, n->value);
	else
		rotor_yerr(&c->y, n, "%s must be between %s and %s, not %s", what, lo, hi,
		           n->value);
}

static void get_int_in(struct cparse *c, const struct ydoc_node *n, const char *what, int min,
                       int max, int *out)
{
	int64_t v = 0;
	if (n && rotor_yget_int(&c->y, n, what, min, max, &v) == 0)
		*out = (int)v;
}

enum path_problem {
	PATH_OK = 0,
	PATH_NOT_ABSOLUTE,
	PATH_NOT_RELATIVE,
	PATH_DOTS,
	PATH_ROOT,
};

/* Collapses repeated '/' and drops a trailing one; refuses "." and ".."
 * components (a path is compared by prefix later, so it must be literal).
 * out needs strlen(in) + 1 bytes. */
static enum path_problem normalise_path(const char *in, int absolute, char *out)
{
	size_t o = 0;
	const char *p = in;
	if (absolute != (*in == '/'))
		return absolute ? PATH_NOT_ABSOLUTE : PATH_NOT_RELATIVE;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return PATH_DOTS;
		if (absolute || o > 0)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	return absolute && o == 0 ? PATH_ROOT : PATH_OK;
}

/* An absolute path to a file (audit log, known_hosts), stored as given. */
static void get_file_path(struct cparse *c, const struct ydoc_node *n, const char *what, char **out)
{
	char *s = NULL;
	if (!n || rotor_yget_string(&c->y, n, what, &s))
		return;
	if (s[0] != '/') {
		rotor_yerr(&c->y, n, "%s must be an absolute path, not \"%s\"", what, s);
		free(s);
		return;
	}
	if (s[strlen(s) - 1] == '/') {
		rotor_yerr(&c->y, n, "%s must name a file, not a directory (\"%s\" ends with /)",
		           what, s);
		free(s);
		return;
	}
	free(*out);
	*out = s;
}

static int is_loopback(const char *host, size_t len)
{
	if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 1;
	if (len == 3 && memcmp(host, "::1", 3) == 0)
		return 1;
	if (len < 5 || memcmp(host, "127.", 4) != 0)
		return 0;
	for (size_t i = 4; i < len; i++)
		if (!is_digit(host[i]) && host[i] != '.')
			return 0;
	return 1;
}

/* A port: 1..65535, digits only. */
static int valid_port(const char *p, size_t len)
{
	long v = 0;
	if (len == 0 || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* Splits "host:port" or "[v6]:port" (port optional when !need_port).
 * Returns 0 and the host span, or -1 with *why set. */
static int split_host_port(const char *s, size_t len, int need_port, const char **host,
                           size_t *hostlen, const char **why)
{
	const char *colon;
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (!end || end == s + 1) {
			*why = "has a malformed [IPv6] address";
			return -1;
		}
		*host = s + 1;
		*hostlen = (size_t)(end - s - 1);
		colon = end + 1 < s + len ? end + 1 : NULL;
		if (colon && *colon != ':') {
			*why = "has a malformed [IPv6] address";
			return -1;
		}
	} else {
		colon = memchr(s, ':', len);
		*host = s;
		*hostlen = colon ? (size_t)(colon - s) : len;
	}
	if (*hostlen == 0) {
		*why = "has no host";
		return -1;
	}
	if (!colon && need_port) {
		*why = "has no port";
		return -1;
	}
	if (colon && !valid_port(colon + 1, (size_t)(s + len - colon - 1))) {
		*why = "has a port that is not a number between 1 and 65535";
		return -1;
	}
	return 0;
}

/* An http(s) URL to talk to an API (or fetch git over HTTP). The URL itself
 * is not echoed in errors: a malformed one may carry a pasted credential.
 * Plain http to a host that is not loopback is allowed for test rigs but
 * warned about: `risk` says what would travel in clear. */
static int check_url(struct cparse *c, const struct ydoc_node *n, const char *what, const char *url,
                     const char *risk)
{
	const char *rest, *host, *why = NULL;
	size_t alen, hostlen;
	int https = 0;
	if (strncasecmp(url, "https://", 8) == 0) {
		rest = url + 8;
		https = 1;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		rest = url + 7;
	} else {
		rotor_yerr(&c->y, n,
		           "%s must be an https:// URL (or http:// for a local test server)", what);
		return -1;
	}
	if (has_space_or_control(url)) {
		rotor_yerr(&c->y, n, "%s must not contain spaces or control characters", what);
		return -1;
	}
	alen = strcspn(rest, "/?#");
	if (memchr(rest, '@', alen)) {
		rotor_yerr(
		    &c->y, n,
		    "%s must not contain user info (user:password@): credentials come from a "
		    "secret reference",
		    what);
		return -1;
	}
	if (strpbrk(rest, "?#")) {
		rotor_yerr(&c->y, n, "%s must not have a query (?) or fragment (#)", what);
		return -1;
	}
	if (split_host_port(rest, alen, 0, &host, &hostlen, &why)) {
		rotor_yerr(&c->y, n, "%s %s", what, why);
		return -1;
	}
	if (!https && !is_loopback(host, hostlen))
		rotor_ywarn(&c->y, n, "%s uses plain http:// to %.*s: %s; use https://", what,
		            (int)hostlen, host, risk);
	return 0;
}

/* Drops trailing slashes of the URL's path, so callers can append "/v1/...". */
static void strip_url_slashes(char *url)
{
	char *path = strstr(url, "://");
	path = path ? path + 3 : url;
	path += strcspn(path, "/");
	size_t len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		path[--len] = '\0';
}

/* An API base URL (siteUrl, apiUrl, endpoints). */
static void get_api_url(struct cparse *c, const struct ydoc_node *n, const char *what, char **out)
{
	char *s = NULL;
	if (!n || rotor_yget_string(&c->y, n, what, &s))
		return;
	if (check_url(c, n, what, s, "credentials would travel unencrypted")) {
		free(s);
		return;
	}
	strip_url_slashes(s);
	free(*out);
	*out = s;
}

/* ---- secret references ------------------------------------------------ */

static int valid_env_name(const char *s)
{
	if (!*s || is_digit(*s) || strlen(s) > 255)
		return 0;
	for (; *s; s++)
		if (!is_alnum(*s) && *s != '_')
			return 0;
	return 1;
}

static void get_ref_env(struct cparse *c, const struct ydoc_node *n, const char *what,
                        struct rotor_secret_ref *ref)
{
	char *s = NULL;
	if (rotor_yget_string(&c->y, n, what, &s))
		return;
	/* Not echoed: a value that is no variable name may be the secret. */
	if (!valid_env_name(s)) {
		rotor_yerr(&c->y, n,
		           "%s must be an environment variable name: letters, digits and _, not "
		           "starting with a digit",
		           what);
		free(s);
		return;
	}
	ref->kind = ROTOR_REF_ENV;
	ref->name = s;
}

static void get_ref_file(struct cparse *c, const struct ydoc_node *n, const char *what,
                         struct rotor_secret_ref *ref)
{
	char *s = NULL;
	if (rotor_yget_string(&c->y, n, what, &s))
		return;
	if (s[0] != '/') {
		rotor_yerr(&c->y, n, "%s must be an absolute path", what);
		free(s);
		return;
	}
	ref->kind = ROTOR_REF_FILE;
	ref->name = s;
}

/* {env: NAME} or {file: /path}: exactly one. */
static void get_secret_ref(struct cparse *c, const struct ydoc_node *n, const char *what,
                           struct rotor_secret_ref *ref)
{
	struct yfield f[] = {{"env", 0, NULL}, {"file", 0, NULL}};
	char fw[WHAT_MAX];
	if (!n)
		return;
	if (n->type == YDOC_SCALAR && !rotor_ynode_is_null(n)) {
		rotor_yerr(
		    &c->y, n,
		    "%s must be {env: NAME} or {file: PATH}, never a literal secret: put the "
		    "value in an environment variable or a file",
		    what);
		return;
	}
	if (n->type != YDOC_MAP) {
		rotor_yerr(&c->y, n, "%s must be {env: NAME} or {file: PATH}, not %s", what,
		           node_kind(n));
		return;
	}
	rotor_ymap_fields(&c->y, n, what, f, NFIELDS(f));
	ref->pos = pos_of(c, n);
	if (f[0].node && f[1].node)
		rotor_yerr(&c->y, n, "%s must have only one of env and file", what);
	else if (f[0].node)
		get_ref_env(c, f[0].node, field(fw, what, "env"), ref);
	else if (f[1].node)
		get_ref_file(c, f[1].node, field(fw, what, "file"), ref);
	else
		rotor_yerr(&c->y, n, "%s must be {env: NAME} or {file: PATH}: neither is given",
		           what);
}

/* ---- connections ------------------------------------------------------- */

static int same_name(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Where a connection name was first defined (any kind), or NULL. */
static const struct rotor_pos *find_connection(const struct rotor_config *cfg, const char *name,
                                               const char **kind)
{
	const struct rotor_pos *pos = NULL;
	for (size_t i = 0; !pos && i < cfg->naws; i++)
		if (same_name(cfg->aws[i].name, name))
			pos = &cfg->aws[i].pos, *kind = "aws";
	for (size_t i = 0; !pos && i < cfg->ninfisical; i++)
		if (same_name(cfg->infisical[i].name, name))
			pos = &cfg->infisical[i].pos, *kind = "infisical";
	for (size_t i = 0; !pos && i < cfg->nheroku; i++)
		if (same_name(cfg->heroku[i].name, name))
			pos = &cfg->heroku[i].pos, *kind = "heroku";
	for (size_t i = 0; !pos && i < cfg->ngithub; i++)
		if (same_name(cfg->github[i].name, name))
			pos = &cfg->github[i].pos, *kind = "github";
	for (size_t i = 0; !pos && i < cfg->nssh; i++)
		if (same_name(cfg->ssh[i].name, name))
			pos = &cfg->ssh[i].pos, *kind = "ssh";
	return pos;
}

static void check_connection_name(struct cparse *c, const struct ydoc_node *key, const char *kind)
{
	const char *first_kind = NULL;
	const struct rotor_pos *first;
	if (!valid_name(key))
		rotor_yerr(
		    &c->y, key,
		    "connections.%s: connection name \"%s\" must be 1 to 63 letters, digits, - "
		    "or _",
		    kind, key->value);
	first = find_connection(c->cfg, key->value, &first_kind);
	if (first)
		rotor_yerr(
		    &c->y, key,
		    "connection \"%s\" is defined twice: first as connections.%s.%s at line %d, "
		    "column %d; names must be unique across all kinds",
		    key->value, first_kind, key->value, first->line, first->col);
}

/* The partition an ARN names, or -1. */
static int partition_of(const char *s, size_t len)
{
	for (int i = 0; partition_names[i]; i++)
		if (strlen(partition_names[i]) == len && memcmp(partition_names[i], s, len) == 0)
			return i;
	return -1;
}

/* arn:<partition>:iam::<12 digits>:role/<path/>name: the partition, or -1. */
static int role_arn_partition(const char *s)
{
	const char *p = s;
	size_t plen;
	int part;
	if (strncmp(p, "arn:", 4) != 0)
		return -1;
	p += 4;
	plen = strcspn(p, ":");
	part = partition_of(p, plen);
	p += plen;
	if (part < 0 || strncmp(p, ":iam::", 6) != 0)
		return -1;
	p += 6;
	for (int i = 0; i < 12; i++, p++)
		if (!is_digit(*p))
			return -1;
	if (strncmp(p, ":role/", 6) != 0)
		return -1;
	p += 6;
	if (!*p || p[strlen(p) - 1] == '/' || strlen(p) > 512)
		return -1;
	for (; *p; p++)
		if (!is_alnum(*p) && !strchr("+=,.@_-/", *p))
			return -1;
	return part;
}

static void get_role_arn(struct cparse *c, const struct ydoc_node *n, const char *what,
                         struct rotor_aws_connection *a)
{
	char *s = NULL;
	int part;
	if (!n || rotor_yget_string(&c->y, n, what, &s))
		return;
	part = role_arn_partition(s);
	if (part < 0) {
		rotor_yerr(&c->y, n,
		           "%s must look like arn:%s:iam::123456789012:role/NAME, not \"%s\"", what,
		           partition_names[a->partition], s);
		free(s);
		return;
	}
	if (part != (int)a->partition) {
		rotor_yerr(
		    &c->y, n,
		    "%s is in partition %s, but the connection's partition is %s: fix one of them",
		    what, partition_names[part], partition_names[a->partition]);
		free(s);
		return;
	}
	a->role_arn = s;
}

/* us-east-1, us-gov-west-1, cn-north-1: [a-z0-9-], a letter first, a digit
 * last, hyphen-separated words. */
static int looks_like_region(const char *s)
{
	size_t len = strlen(s);
	if (len < 4 || len > 32 || !(s[0] >= 'a' && s[0] <= 'z') || !is_digit(s[len - 1]) ||
	    !strchr(s, '-') || strstr(s, "--"))
		return 0;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !is_digit(*s) && *s != '-')
			return 0;
	return 1;
}

/* The partition a region belongs to, or -1 for ones rotor does not know
 * (the isolated us-iso* partitions). */
static int region_partition(const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return ROTOR_PARTITION_AWS_CN;
	if (strncmp(region, "us-gov-", 7) == 0)
		return ROTOR_PARTITION_AWS_US_GOV;
	if (strstr(region, "-iso"))
		return -1;
	return ROTOR_PARTITION_AWS;
}

static void get_region(struct cparse *c, const struct ydoc_node *n, const char *what,
                       struct rotor_aws_connection *a)
{
	char *s = NULL;
	int part;
	if (!n || rotor_yget_string(&c->y, n, what, &s))
		return;
	if (!looks_like_region(s)) {
		rotor_yerr(&c->y, n,
		           "%s: \"%s\" does not look like an AWS region such as us-east-1", what,
		           s);
		free(s);
		return;
	}
	part = region_partition(s);
	if (part >= 0 && part != (int)a->partition)
		rotor_ywarn(
		    &c->y, n,
		    "%s: %s is a region of partition %s, but the connection's partition is %s; "
		    "set partition: %s",
		    what, s, partition_names[part], partition_names[a->partition],
		    partition_names[part]);
	a->region = s;
}

/* STS RoleSessionName: [\w+=,.@-]{2,64}. */
static void get_session_name(struct cparse *c, const struct ydoc_node *n, const char *what,
                             char **out)
{
	char *s = NULL;
	size_t len;
	if (!n || rotor_yget_string(&c->y, n, what, &s))
		return;
	len = strlen(s);
	int ok = len >= 2 && len <= 64;
	for (const char *p = s; ok && *p; p++)
		ok = is_alnum(*p) || strchr("_+=,.@-", *p);
	if (!ok) {
		rotor_yerr(
		    &c->y, n,
		    "%s must be 2 to 64 letters, digits or any of _+=,.@- (an STS session name), "
		    "not \"%s\"",
		    what, s);
		free(s);
		return;
	}
	free(*out);
	*out = s;
}

static void get_endpoints(struct cparse *c, const struct ydoc_node *n, const char *what,
                          struct rotor_aws_connection *a)
{
	struct yfield f[] = {{"iam", 0, NULL}, {"sts", 0, NULL}};
	char fw[WHAT_MAX];
	if (!n || rotor_ymap_fields(&c->y, n, what, f, NFIELDS(f)))
		return;
	get_api_url(c, f[0].node, field(fw, what, "iam"), &a->iam_endpoint);
	get_api_url(c, f[1].node, field(fw, what, "sts"), &a->sts_endpoint);
}

static void parse_aws(struct cparse *c, const struct ydoc_node *key, const struct ydoc_node *val)
{
	struct yfield f[] = {
	    {"region", 1, NULL},    {"partition", 0, NULL},         {"profile", 0, NULL},
	    {"roleArn", 0, NULL},   {"externalId", 0, NULL},        {"sessionName", 0, NULL},
	    {"endpoints", 0, NULL}, {"requestsPerSecond", 0, NULL},
	};
	char what[WHAT_MAX], fw[WHAT_MAX];
	struct rotor_aws_connection *a = grow(c, c->cfg->aws, c->cfg->naws, sizeof(*a));
	int partition = ROTOR_PARTITION_AWS;
	if (!a)
		return;
	c->cfg->aws = a;
	a = &c->cfg->aws[c->cfg->naws++];
	a->name = xstrdup(c, key->value);
	a->session_name = xstrdup(c, DEFAULT_SESSION_NAME);
	a->requests_per_second = ROTOR_DEFAULT_IAM_RPS;
	a->pos = pos_of(c, key);
	snprintf(what, sizeof(what), "connections.aws.%s", key->value);
	if (rotor_ymap_fields(&c->y, val, what, f, NFIELDS(f)))
		return;
	/* The partition first: the region and roleArn are checked against it. */
	rotor_yget_enum(&c->y, f[1].node, field(fw, what, "partition"), partition_names,
	                &partition);
	a->partition = (enum rotor_partition)partition;
	get_region(c, f[0].node, field(fw, what, "region"), a);
	rotor_yget_string(&c->y, f[2].node, field(fw, what, "profile"), &a->profile);
	get_role_arn(c, f[3].node, field(fw, what, "roleArn"), a);
	get_secret_ref(c, f[4].node, field(fw, what, "externalId"), &a->external_id);
	get_session_name(c, f[5].node, field(fw, what, "sessionName"), &a->session_name);
	get_endpoints(c, f[6].node, field(fw, what, "endpoints"), a);
	get_int_in(c, f[7].node, field(fw, what, "requestsPerSecond"), 1, 1000,
	           &a->requests_per_second);
}

static void parse_infisical(struct cparse *c, const struct ydoc_node *key,
                            const struct ydoc_node *val)
{
	struct yfield f[] = {
	    {"siteUrl", 1, NULL},           {"api", 0, NULL},
	    {"clientId", 1, NULL},          {"clientSecret", 1, NULL},
	    {"requestsPerMinute", 0, NULL},
	};
	char what[WHAT_MAX], fw[WHAT_MAX];
	struct rotor_infisical_connection *s =
	    grow(c, c->cfg->infisical, c->cfg->ninfisical, sizeof(*s));
	int api = ROTOR_INFISICAL_V3;
	if (!s)
		return;
	c->cfg->infisical = s;
	s = &c->cfg->infisical[c->cfg->ninfisical++];
	s->name = xstrdup(c, key->value);
	s->requests_per_minute = DEFAULT_INFISICAL_RPM;
	s->pos = pos_of(c, key);
	snprintf(what, sizeof(what), "connections.infisical.%s", key->value);
	if (rotor_ymap_fields(&c->y, val, what, f, NFIELDS(f)))
		return;
	get_api_url(c, f[0].node, field(fw, what, "siteUrl"), &s->site_url);
	rotor_yget_enum(&c->y, f[1].node, field(fw, what, "api"), infisical_api_names, &api);
	s->api = (enum rotor_infisical_api)api;
	get_secret_ref(c, f[2].node, field(fw, what, "clientId"), &s->client_id);
	get_secret_ref(c, f[3].node, field(fw, what, "clientSecret"), &s->client_secret);
	get_int_in(c, f[4].node, field(fw, what, "requestsPerMinute"), 1, 10000,
	           &s->requests_per_minute);
}

/* github's app: {id, installationId, privateKey}. */
static void parse_github_app(struct cparse *c, const struct ydoc_node *n, const char *what,
                             struct rotor_token_connection *t)
{
	struct yfield f[] = {{"id", 1, NULL}, {"installationId", 1, NULL}, {"privateKey", 1, NULL}};
	char fw[WHAT_MAX];
	if (rotor_ymap_fields(&c->y, n, what, f, NFIELDS(f)))
		return;
	if (rotor_yget_int(&c->y, f[0].node, field(fw, what, "id"), 1, INT64_MAX / 2, &t->app_id) !=
	    0)
		t->app_id = 0;
	if (rotor_yget_int(&c->y, f[1].node, field(fw, what, "installationId"), 1, INT64_MAX / 2,
	                   &t->installation_id) != 0)
		t->installation_id = 0;
	get_secret_ref(c, f[2].node, field(fw, what, "privateKey"), &t->app_private_key);
}

/* Heroku and GitHub: an API URL with a default, and a token (GitHub: or
 * an App installation). */
static void parse_token_connection(struct cparse *c, const char *kind, const char *default_url,
                                   struct rotor_token_connection **items, size_t *n,
                                   const struct ydoc_node *key, const struct ydoc_node *val)
{
	int github = strcmp(kind, "github") == 0;
	struct yfield f[] = {
	    {"apiUrl", 0, NULL}, {"token", !github, NULL}, {"timeout", 0, NULL}, {"app", 0, NULL}};
	char what[WHAT_MAX], fw[WHAT_MAX];
	struct rotor_token_connection *t = grow(c, *items, *n, sizeof(*t));
	if (!t)
		return;
	*items = t;
	t = &t[(*n)++];
	t->name = xstrdup(c, key->value);
	t->api_url = xstrdup(c, default_url);
	t->timeout = 30;
	t->pos = pos_of(c, key);
	snprintf(what, sizeof(what), "connections.%s.%s", kind, key->value);
	if (rotor_ymap_fields(&c->y, val, what, f, NFIELDS(f) - !github))
		return;
	get_api_url(c, f[0].node, field(fw, what, "apiUrl"), &t->api_url);
	get_secret_ref(c, f[1].node, field(fw, what, "token"), &t->token);
	get_duration_in(c, f[2].node, field(fw, what, "timeout"), 1, 600, &t->timeout);
	if (github && f[3].node)
		parse_github_app(c, f[3].node, field(fw, what, "app"), t);
	if (github && !f[1].node == !f[3].node)
		rotor_yerr(
		    &c->y, val,
		    "%s needs exactly one of token (a fine-grained token with Secrets: read and "
		    "write) and app (a GitHub App installation: {id, installationId, "
		    "privateKey})",
		    what);
}

static void parse_heroku(struct cparse *c, const struct ydoc_node *key, const struct ydoc_node *val)
{
	parse_token_connection(c, "heroku", DEFAULT_HEROKU_URL, &c->cfg->heroku, &c->cfg->nheroku,
	                       key, val);
}

static void parse_github(struct cparse *c, const struct ydoc_node *key, const struct ydoc_node *val)
{
	parse_token_connection(c, "github", DEFAULT_GITHUB_URL, &c->cfg->github, &c->cfg->ngithub,
	                       key, val);
}

static void parse_allowed_dirs(struct cparse *c, const struct ydoc_node *n);
static void parse_reloads(struct cparse *c, const struct ydoc_node *n);

/* connections.ssh.NAME: a host, a user and its key, the pinned host keys,
 * and what manifests may name there (allowedDirs, reload), read with the
 * envFiles parsers into the connection's own files part. */
static void parse_ssh(struct cparse *c, const struct ydoc_node *key, const struct ydoc_node *val)
{
	struct yfield f[] = {{"address", 1, NULL},    {"port", 0, NULL},
	                     {"user", 1, NULL},       {"privateKey", 1, NULL},
	                     {"knownHosts", 1, NULL}, {"allowedDirs", 1, NULL},
	                     {"reload", 0, NULL}};
	char what[WHAT_MAX], fw[WHAT_MAX];
	struct rotor_ssh_connection *s = grow(c, c->cfg->ssh, c->cfg->nssh, sizeof(*s));
	if (!s)
		return;
	c->cfg->ssh = s;
	s = &s[c->cfg->nssh++];
	s->name = xstrdup(c, key->value);
	s->port = 22;
	s->pos = pos_of(c, key);
	s->files = calloc(1, sizeof(*s->files));
	if (!s->files) {
		c->oom = 1;
		return;
	}
	s->files->env_file_mode = 0600;
	snprintf(what, sizeof(what), "connections.ssh.%s", key->value);
	if (rotor_ymap_fields(&c->y, val, what, f, NFIELDS(f)))
		return;
	if (f[0].node &&
	    rotor_yget_string(&c->y, f[0].node, field(fw, what, "address"), &s->address) == 0 &&
	    (has_space_or_control(s->address) || strchr(s->address, '/') || !s->address[0]))
		rotor_yerr(&c->y, f[0].node,
		           "%s.address must be a host name or address, not \"%s\"", what,
		           s->address);
	get_int_in(c, f[1].node, field(fw, what, "port"), 1, 65535, &s->port);
	if (f[2].node &&
	    rotor_yget_string(&c->y, f[2].node, field(fw, what, "user"), &s->user) == 0 &&
	    (has_space_or_control(s->user) || !s->user[0] || s->user[0] == '-'))
		rotor_yerr(&c->y, f[2].node, "%s.user \"%s\" is not a user name", what, s->user);
	get_secret_ref(c, f[3].node, field(fw, what, "privateKey"), &s->private_key);
	get_file_path(c, f[4].node, field(fw, what, "knownHosts"), &s->known_hosts);
	struct rotor_config *outer = c->cfg;
	const char *files = c->files;
	c->cfg = s->files;
	c->files = what;
	parse_allowed_dirs(c, f[5].node);
	parse_reloads(c, f[6].node);
	c->cfg = outer;
	c->files = files;
}

/* connections.<kind>: a map of names, each parsed by `one`. */
static void parse_connection_kind(struct cparse *c, const struct ydoc_node *map, const char *kind,
                                  void (*one)(struct cparse *, const struct ydoc_node *,
                                              const struct ydoc_node *))
{
	if (!(map = present(map)))
		return;
	if (map->type != YDOC_MAP) {
		rotor_yerr(
		    &c->y, map,
		    "connections.%s must be a mapping of connection names to settings, not %s",
		    kind, node_kind(map));
		return;
	}
	for (size_t i = 0; i < map->npairs; i++) {
		check_connection_name(c, map->pairs[i].key, kind);
		one(c, map->pairs[i].key, map->pairs[i].value);
	}
}

static void parse_connections(struct cparse *c, const struct ydoc_node *n)
{
	struct yfield f[] = {
	    {"aws", 0, NULL},    {"infisical", 0, NULL}, {"heroku", 0, NULL},
	    {"github", 0, NULL}, {"ssh", 0, NULL},
	};
	if (!(n = present(n)) || rotor_ymap_fields(&c->y, n, "connections", f, NFIELDS(f)))
		return;
	parse_connection_kind(c, f[0].node, "aws", parse_aws);
	parse_connection_kind(c, f[1].node, "infisical", parse_infisical);
	parse_connection_kind(c, f[2].node, "heroku", parse_heroku);
	parse_connection_kind(c, f[3].node, "github", parse_github);
	parse_connection_kind(c, f[4].node, "ssh", parse_ssh);
}

/* ---- envFiles ---------------------------------------------------------- */

static void add_allowed_dir(struct cparse *c, const struct ydoc_node *n, const char *what)
{
	struct rotor_config *cfg = c->cfg;
	char *s = NULL, *norm = NULL;
	char **dirs;
	if (rotor_yget_string(&c->y, n, what, &s))
		return;
	norm = malloc(strlen(s) + 1);
	if (!norm) {
		c->oom = 1;
		goto done;
	}
	switch (normalise_path(s, 1, norm)) {
	case PATH_NOT_ABSOLUTE:
		rotor_yerr(&c->y, n, "%s must be an absolute directory, not \"%s\"", what, s);
		goto done;
	case PATH_DOTS:
		rotor_yerr(&c->y, n, "%s: \"%s\" must not contain . or .. components", what, s);
		goto done;
	case PATH_ROOT:
		rotor_yerr(
		    &c->y, n,
		    "%s: \"/\" would let a manifest write any file; name a dedicated directory",
		    what);
		goto done;
	default:
		break;
	}
	for (size_t i = 0; i < cfg->nallowed_dirs; i++)
		if (strcmp(cfg->allowed_dirs[i], norm) == 0) {
			rotor_ywarn(&c->y, n, "%s: %s is listed twice", what, norm);
			goto done;
		}
	for (size_t i = 0; i < NFIELDS(system_dirs); i++)
		if (strcmp(system_dirs[i], norm) == 0)
			rotor_ywarn(
			    &c->y, n,
			    "%s: %s is a system directory: a manifest could overwrite any file in "
			    "it; name a dedicated directory such as %s/myapp",
			    what, norm, norm);
	dirs = realloc(cfg->allowed_dirs, (cfg->nallowed_dirs + 1) * sizeof(*dirs));
	if (!dirs) {
		c->oom = 1;
		goto done;
	}
	cfg->allowed_dirs = dirs;
	cfg->allowed_dirs[cfg->nallowed_dirs++] = norm;
	norm = NULL;
done:
	free(norm);
	free(s);
}

static void parse_allowed_dirs(struct cparse *c, const struct ydoc_node *n)
{
	char what[WHAT_MAX];
	if (!(n = present(n)))
		return;
	if (n->type != YDOC_SEQ) {
		rotor_yerr(&c->y, n,
		           "%s.allowedDirs must be a list of absolute directories, not %s",
		           c->files, node_kind(n));
		return;
	}
	for (size_t i = 0; i < n->nitems; i++) {
		snprintf(what, sizeof(what), "%s.allowedDirs[%zu]", c->files, i);
		add_allowed_dir(c, n->items[i], what);
	}
}

static void get_argv(struct cparse *c, const struct ydoc_node *n, const char *what,
                     struct rotor_reload_command *r)
{
	char iw[WHAT_MAX];
	if (!n)
		return;
	if (n->type != YDOC_SEQ) {
		rotor_yerr(
		    &c->y, n,
		    "%s must be a list of strings such as [systemctl, restart, myapp.service], "
		    "not %s",
		    what, node_kind(n));
		return;
	}
	if (n->nitems == 0) {
		rotor_yerr(&c->y, n, "%s must not be empty: give the command and its arguments",
		           what);
		return;
	}
	r->argv = calloc(n->nitems + 1, sizeof(*r->argv));
	if (!r->argv) {
		c->oom = 1;
		return;
	}
	r->argc = n->nitems;
	for (size_t i = 0; i < n->nitems; i++) {
		snprintf(iw, sizeof(iw), "%s[%zu]", what, i);
		rotor_yget_string(&c->y, n->items[i], iw, &r->argv[i]);
	}
}

static const struct rotor_reload_command *find_reload(const struct rotor_config *cfg,
                                                      const char *name)
{
	for (size_t i = 0; i < cfg->nreloads; i++)
		if (same_name(cfg->reloads[i].name, name))
			return &cfg->reloads[i];
	return NULL;
}

static void parse_reload(struct cparse *c, const struct ydoc_node *key, const struct ydoc_node *val)
{
	struct yfield f[] = {{"argv", 1, NULL}, {"timeout", 0, NULL}};
	char what[WHAT_MAX], fw[WHAT_MAX];
	const struct rotor_reload_command *first = find_reload(c->cfg, key->value);
	struct rotor_reload_command *r;
	if (!valid_name(key))
		rotor_yerr(&c->y, key,
		           "%s.reload: command name \"%s\" must be 1 to 63 letters, digits, - or _",
		           c->files, key->value);
	if (first)
		rotor_yerr(&c->y, key,
		           "%s.reload.%s is defined twice (first at line %d, column %d)", c->files,
		           key->value, first->pos.line, first->pos.col);
	r = grow(c, c->cfg->reloads, c->cfg->nreloads, sizeof(*r));
	if (!r)
		return;
	c->cfg->reloads = r;
	r = &c->cfg->reloads[c->cfg->nreloads++];
	r->name = xstrdup(c, key->value);
	r->timeout = DEFAULT_RELOAD_TIMEOUT;
	r->pos = pos_of(c, key);
	snprintf(what, sizeof(what), "%s.reload.%s", c->files, key->value);
	if (rotor_ymap_fields(&c->y, val, what, f, NFIELDS(f)))
		return;
	get_argv(c, f[0].node, field(fw, what, "argv"), r);
	get_duration_in(c, f[1].node, field(fw, what, "timeout"), 1, 3600, &r->timeout);
}

static void parse_reloads(struct cparse *c, const struct ydoc_node *n)
{
	if (!(n = present(n)))
		return;
	if (n->type != YDOC_MAP) {
		rotor_yerr(
		    &c->y, n,
		    "%s.reload must be a mapping of command names to {argv, timeout}, not %s",
		    c->files, node_kind(n));
		return;
	}
	for (size_t i = 0; i < n->npairs; i++)
		parse_reload(c, n->pairs[i].key, n->pairs[i].value);
}

/* envFiles.mode: an octal string ("0600", "0640"). Env files hold a secret
 * access key: others may never read them, and nobody executes them. */
static void parse_env_file_mode(struct cparse *c, const struct ydoc_node *n)
{
	char *s = NULL, *end = NULL;
	if (!n || rotor_yget_string(&c->y, n, "envFiles.mode", &s) != 0 || !s)
		return;
	unsigned long mode = strtoul(s, &end, 8);
	if (*end || s[0] < '0' || s[0] > '7' || mode > 0777)
		rotor_yerr(&c->y, n,
		           "envFiles.mode must be an octal file mode such as \"0600\", not \"%s\"",
		           s);
	else if ((mode & 0400) == 0 || (mode & 0117) != 0)
		rotor_yerr(&c->y, n,
		           "envFiles.mode %s would let others read a secret access key (or make it "
		           "executable, or unreadable to its owner): use 0600, 0640 or 0660",
		           s);
	else
		c->cfg->env_file_mode = (unsigned)mode;
	free(s);
}

static void parse_env_files(struct cparse *c, const struct ydoc_node *n)
{
	struct yfield f[] = {{"allowedDirs", 0, NULL}, {"reload", 0, NULL}, {"mode", 0, NULL}};
	c->files = "envFiles";
	if (!(n = present(n)) || rotor_ymap_fields(&c->y, n, "envFiles", f, NFIELDS(f)))
		return;
	parse_allowed_dirs(c, f[0].node);
	parse_reloads(c, f[1].node);
	parse_env_file_mode(c, f[2].node);
}

/* ---- source ------------------------------------------------------------ */

enum git_transport {
	GIT_BAD = 0,
	GIT_HTTP,
	GIT_SSH,
	GIT_LOCAL,
	GIT_DAEMON, /* git://: a local test server only */
};

/* How libgit2 would reach the URL: https://, ssh:// or user@host:path,
 * file:// or an absolute path. */
static enum git_transport git_transport_of(const char *url)
{
	const char *colon, *slash;
	if (has_space_or_control(url))
		return GIT_BAD;
	if (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0)
		return GIT_HTTP;
	if (strncasecmp(url, "ssh://", 6) == 0)
		return url[6] && url[6] != '/' ? GIT_SSH : GIT_BAD;
	if (strncasecmp(url, "file://", 7) == 0)
		return url[7] == '/' ? GIT_LOCAL : GIT_BAD;
	if (strncasecmp(url, "git://", 6) == 0) {
		const char *h = url + 6;
		return strncmp(h, "127.0.0.1", 9) == 0 || strncmp(h, "localhost", 9) == 0 ||
		               strncmp(h, "[::1]", 5) == 0
		           ? GIT_DAEMON
		           : GIT_BAD;
	}
	if (url[0] == '/')
		return GIT_LOCAL;
	if (strstr(url, "://"))
		return GIT_BAD;
	colon = strchr(url, ':');
	slash = strchr(url, '/');
	if (colon && colon != url && colon[1] && (!slash || slash > colon))
		return GIT_SSH; /* scp-like: git@github.com:owner/repo.git */
	return GIT_BAD;
}

static void get_git_url(struct cparse *c, const struct ydoc_node *n, struct rotor_source_config *s)
{
	const char *what = "source.url";
	char *url = NULL;
	enum git_transport t;
	if (!n || rotor_yget_string(&c->y, n, what, &url))
		return;
	t = git_transport_of(url);
	if (t == GIT_BAD) {
		rotor_yerr(
		    &c->y, n,
		    "%s must be an https:// or ssh:// URL, user@host:path, file:// or an absolute "
		    "path (git://, unauthenticated and unencrypted, only for a server on this "
		    "machine)",
		    what);
		goto done;
	}
	if (t == GIT_HTTP && check_url(c, n, what, url,
	                               s->token.kind ? "the token would travel unencrypted"
	                                             : "the manifests could be altered in transit"))
		goto done;
	if (t != GIT_HTTP && s->token.kind)
		rotor_yerr(&c->y, n,
		           "%s: auth.token needs an https:// URL; for ssh use auth.sshKey", what);
	if (t != GIT_SSH && s->ssh_key.kind)
		rotor_yerr(&c->y, n, "%s: auth.sshKey needs an ssh:// or user@host:path URL", what);
	free(s->url);
	s->url = url;
	url = NULL;
done:
	free(url);
}

/* A git ref name, loosely after git-check-ref-format. */
static void get_branch(struct cparse *c, const struct ydoc_node *n, char **out)
{
	char *s = NULL;
	size_t len;
	if (!n || rotor_yget_string(&c->y, n, "source.branch", &s))
		return;
	len = strlen(s);
	if (has_space_or_control(s) || strpbrk(s, "~^:?*[\\") || strstr(s, "..") ||
	    strstr(s, "@{") || strstr(s, "//") || s[0] == '-' || s[0] == '/' || s[len - 1] == '/' ||
	    s[len - 1] == '.' || (len >= 5 && strcmp(s + len - 5, ".lock") == 0)) {
		rotor_yerr(&c->y, n, "source.branch: \"%s\" is not a valid branch name", s);
		free(s);
		return;
	}
	free(*out);
	*out = s;
}

/* A directory inside the repository, stored without slashes at the ends. */
static void get_repo_path(struct cparse *c, const struct ydoc_node *n, char **out)
{
	char *s = NULL, *norm = NULL;
	if (!n || rotor_yget_string(&c->y, n, "source.path", &s))
		return;
	norm = malloc(strlen(s) + 1);
	if (!norm) {
		c->oom = 1;
		goto done;
	}
	switch (normalise_path(s, 0, norm)) {
	case PATH_NOT_RELATIVE:
		rotor_yerr(&c->y, n,
		           "source.path is a directory inside the repository: write it without a "
		           "leading / (\"%s\")",
		           s);
		goto done;
	case PATH_DOTS:
		rotor_yerr(&c->y, n, "source.path: \"%s\" must not contain . or .. components", s);
		goto done;
	default:
		break;
	}
	free(*out);
	*out = norm;
	norm = NULL;
done:
	free(norm);
	free(s);
}

static void parse_source_auth(struct cparse *c, const struct ydoc_node *n,
                              struct rotor_source_config *s)
{
	struct yfield f[] = {{"token", 0, NULL}, {"sshKey", 0, NULL}, {"knownHosts", 0, NULL}};
	if (!n || rotor_ymap_fields(&c->y, n, "source.auth", f, NFIELDS(f)))
		return;
	if (f[0].node && f[1].node)
		rotor_yerr(&c->y, n, "source.auth must have only one of token and sshKey");
	else if (!f[0].node && !f[1].node)
		rotor_yerr(&c->y, n,
		           "source.auth must have token or sshKey (leave auth out for a public "
		           "repository)");
	if (f[1].node && !f[2].node)
		rotor_yerr(
		    &c->y, n,
		    "source.auth.knownHosts is required with sshKey: rotor never trusts an unknown "
		    "host key");
	if (f[2].node && !f[1].node)
		rotor_yerr(&c->y, f[2].node, "source.auth.knownHosts only applies with sshKey");
	get_secret_ref(c, f[0].node, "source.auth.token", &s->token);
	get_secret_ref(c, f[1].node, "source.auth.sshKey", &s->ssh_key);
	get_file_path(c, f[2].node, "source.auth.knownHosts", &s->known_hosts);
}

static void parse_source(struct cparse *c, const struct ydoc_node *n)
{
	struct yfield f[] = {
	    {"url", 1, NULL},      {"branch", 0, NULL},   {"path", 0, NULL},   {"auth", 0, NULL},
	    {"interval", 0, NULL}, {"cacheDir", 0, NULL}, {"verify", 0, NULL},
	};
	struct rotor_source_config *s = &c->cfg->source;
	if (!(n = present(n)))
		return;
	s->present = 1;
	s->pos = pos_of(c, n);
	s->branch = xstrdup(c, DEFAULT_BRANCH);
	s->path = xstrdup(c, "");
	s->interval = DEFAULT_SOURCE_INTERVAL;
	if (rotor_ymap_fields(&c->y, n, "source", f, NFIELDS(f)))
		return;
	/* auth before url: which URL schemes fit depends on it. */
	parse_source_auth(c, f[3].node, s);
	get_git_url(c, f[0].node, s);
	get_branch(c, f[1].node, &s->branch);
	get_repo_path(c, f[2].node, &s->path);
	get_duration_in(c, f[4].node, "source.interval", MIN_SOURCE_INTERVAL, INT64_MAX,
	                &s->interval);
	if (f[6].node) {
		struct yfield v[] = {{"allowedSigners", 0, NULL}, {"gpgKeyring", 0, NULL}};
		if (rotor_ymap_fields(&c->y, f[6].node, "source.verify", v, NFIELDS(v)) == 0) {
			if (!v[0].node && !v[1].node)
				rotor_yerr(
				    &c->y, f[6].node,
				    "source.verify needs allowedSigners (SSH signatures) or "
				    "gpgKeyring (OpenPGP): which keys may sign the commits rotor "
				    "reads");
			get_file_path(c, v[0].node, "source.verify.allowedSigners",
			              &s->verify_allowed_signers);
			get_file_path(c, v[1].node, "source.verify.gpgKeyring",
			              &s->verify_gpg_keyring);
		}
	}
	char *dir = NULL;
	if (f[5].node && rotor_yget_string(&c->y, f[5].node, "source.cacheDir", &dir) == 0) {
		if (dir[0] != '/')
			rotor_yerr(&c->y, f[5].node,
			           "source.cacheDir must be an absolute path, not "
			           "\"%s\"",
			           dir);
		else
			s->cache_dir = dir, dir = NULL;
		free(dir);
	}
}

/* ---- controller, audit ------------------------------------------------- */

static void get_listen(struct cparse *c, const struct ydoc_node *n, char **out)
{
	const char *what = "controller.listen", *host, *why = NULL;
	size_t hostlen;
	char *s = NULL;
	if (!n || rotor_yget_string(&c->y, n, what, &s))
		return;
	if (has_space_or_control(s) || strchr(s, '/')) {
		rotor_yerr(&c->y, n, "%s must be HOST:PORT such as 127.0.0.1:9464, not \"%s\"",
		           what, s);
		free(s);
		return;
	}
	if (split_host_port(s, strlen(s), 1, &host, &hostlen, &why)) {
		rotor_yerr(&c->y, n, "%s: \"%s\" %s; write HOST:PORT such as 127.0.0.1:9464", what,
		           s, why);
		free(s);
		return;
	}
	/* an address to bind, not a name to resolve: IPv4, [IPv6] or localhost */
	char addr[64], in[sizeof(struct in6_addr)];
	const char *colon = strrchr(s, ':');
	size_t al = (size_t)(colon - s);
	int v6 = al > 2 && s[0] == '[' && s[al - 1] == ']';
	snprintf(addr, sizeof(addr), "%.*s", (int)(v6 ? al - 2 : al), v6 ? s + 1 : s);
	if (al >= sizeof(addr) ||
	    (v6 ? inet_pton(AF_INET6, addr, in) != 1
	        : strcmp(addr, "localhost") != 0 && inet_pton(AF_INET, addr, in) != 1)) {
		rotor_yerr(&c->y, n,
		           "%s: \"%s\" is not an address to listen on; write IPv4:PORT such as "
		           "127.0.0.1:9464, [IPv6]:PORT such as [::1]:9464, or localhost:PORT",
		           what, s);
		free(s);
		return;
	}
	free(*out);
	*out = s;
}

static void parse_controller(struct cparse *c, const struct ydoc_node *n)
{
	struct yfield f[] = {
	    {"workers", 0, NULL}, {"resync", 0, NULL}, {"listen", 0, NULL}, {"webhook", 0, NULL}};
	if (!(n = present(n)) || rotor_ymap_fields(&c->y, n, "controller", f, NFIELDS(f)))
		return;
	get_int_in(c, f[0].node, "controller.workers", 1, 64, &c->cfg->workers);
	get_duration_in(c, f[1].node, "controller.resync", 1, INT64_MAX, &c->cfg->resync);
	get_listen(c, f[2].node, &c->cfg->listen);
	if (f[3].node) {
		struct yfield w[] = {{"github", 1, NULL}};
		struct yfield g[] = {{"secret", 1, NULL}};
		if (rotor_ymap_fields(&c->y, f[3].node, "controller.webhook", w, NFIELDS(w)) == 0 &&
		    rotor_ymap_fields(&c->y, w[0].node, "controller.webhook.github", g,
		                      NFIELDS(g)) == 0)
			get_secret_ref(c, g[0].node, "controller.webhook.github.secret",
			               &c->cfg->webhook_github_secret);
	}
}

static void parse_audit(struct cparse *c, const struct ydoc_node *n)
{
	struct yfield f[] = {{"path", 1, NULL}};
	if (!(n = present(n)) || rotor_ymap_fields(&c->y, n, "audit", f, NFIELDS(f)))
		return;
	get_file_path(c, f[0].node, "audit.path", &c->cfg->audit_path);
}

/* ---- notifications ----------------------------------------------------- */

const char *rotor_notify_event_name(enum rotor_notify_event e)
{
	static const char *const names[] = {"rotated", "deactivated", "deleted", "held",
	                                    "stalled", "failed",      "overdue", "reminder"};
	return (unsigned)e < ROTOR_EV__COUNT ? names[e] : "unknown";
}

static void parse_sink(struct cparse *c, const struct ydoc_node *n, size_t idx)
{
	struct yfield f[] = {{"name", 1, NULL},         {"webhook", 0, NULL},
	                     {"slack", 0, NULL},        {"events", 0, NULL},
	                     {"selector", 0, NULL},     {"dedup", 0, NULL},
	                     {"overdueGrace", 0, NULL}, {"remindBefore", 0, NULL}};
	char what[WHAT_MAX], fw[WHAT_MAX];
	struct rotor_notify_sink *s =
	    grow(c, c->cfg->notifications, c->cfg->nnotifications, sizeof(*s));
	if (!s)
		return;
	c->cfg->notifications = s;
	s = &s[c->cfg->nnotifications++];
	s->dedup = 6 * 3600;
	s->overdue_grace = 86400;
	s->remind_before = 3 * 86400;
	s->pos = pos_of(c, n);
	snprintf(what, sizeof(what), "notifications[%zu]", idx);
	if (rotor_ymap_fields(&c->y, n, what, f, NFIELDS(f)))
		return;
	if (rotor_yget_string(&c->y, f[0].node, field(fw, what, "name"), &s->name) == 0 &&
	    !valid_name(f[0].node))
		rotor_yerr(&c->y, f[0].node,
		           "%s.name \"%s\" must be 1 to 63 letters, digits, - or _", what, s->name);
	for (size_t i = 0; i < idx && s->name; i++)
		if (c->cfg->notifications[i].name &&
		    strcmp(c->cfg->notifications[i].name, s->name) == 0)
			rotor_yerr(&c->y, f[0].node, "%s.name \"%s\" is used twice", what, s->name);
	if (!f[1].node == !f[2].node)
		rotor_yerr(&c->y, n, "%s needs exactly one of webhook and slack", what);
	if (f[1].node) {
		struct yfield w[] = {{"url", 1, NULL}, {"secret", 0, NULL}};
		if (rotor_ymap_fields(&c->y, f[1].node, field(fw, what, "webhook"), w,
		                      NFIELDS(w)) == 0) {
			get_secret_ref(c, w[0].node, field(fw, what, "webhook.url"), &s->url);
			get_secret_ref(c, w[1].node, field(fw, what, "webhook.secret"), &s->secret);
		}
	} else if (f[2].node) {
		struct yfield w[] = {{"url", 1, NULL}};
		s->slack = 1;
		if (rotor_ymap_fields(&c->y, f[2].node, field(fw, what, "slack"), w, NFIELDS(w)) ==
		    0)
			get_secret_ref(c, w[0].node, field(fw, what, "slack.url"), &s->url);
	}
	if (f[3].node) {
		if (f[3].node->type != YDOC_SEQ || !f[3].node->nitems) {
			rotor_yerr(&c->y, f[3].node, "%s.events must be a list of events", what);
		} else {
			for (size_t i = 0; i < f[3].node->nitems; i++) {
				const struct ydoc_node *e = f[3].node->items[i];
				int k = 0;
				while (e->type == YDOC_SCALAR && k < ROTOR_EV__COUNT &&
				       strcmp(e->value,
				              rotor_notify_event_name((enum rotor_notify_event)k)))
					k++;
				if (k == ROTOR_EV__COUNT)
					rotor_yerr(&c->y, e,
					           "%s.events[%zu] must be one of rotated, "
					           "deactivated, deleted, "
					           "held, stalled, failed, overdue, reminder",
					           what, i);
				else
					s->events |= 1u << k;
			}
		}
	}
	if (f[4].node) {
		if (f[4].node->type != YDOC_MAP || !f[4].node->npairs) {
			rotor_yerr(&c->y, f[4].node,
			           "%s.selector must be a mapping of label to value", what);
		} else {
			size_t np = f[4].node->npairs;
			s->selector_keys = calloc(np, sizeof(char *));
			s->selector_values = calloc(np, sizeof(char *));
			if (!s->selector_keys || !s->selector_values) {
				c->oom = 1;
				return;
			}
			for (size_t i = 0; i < np; i++) {
				s->selector_keys[i] = xstrdup(c, f[4].node->pairs[i].key->value);
				rotor_yget_string(&c->y, f[4].node->pairs[i].value,
				                  field(fw, what, "selector"),
				                  &s->selector_values[i]);
				s->nselector++;
			}
		}
	}
	get_duration_in(c, f[5].node, field(fw, what, "dedup"), 0, INT64_MAX, &s->dedup);
	get_duration_in(c, f[6].node, field(fw, what, "overdueGrace"), 0, INT64_MAX,
	                &s->overdue_grace);
	get_duration_in(c, f[7].node, field(fw, what, "remindBefore"), 0, INT64_MAX,
	                &s->remind_before);
}

static void parse_notifications(struct cparse *c, const struct ydoc_node *n)
{
	if (!(n = present(n)))
		return;
	if (n->type != YDOC_SEQ) {
		rotor_yerr(&c->y, n,
		           "notifications must be a list of sinks ({name, webhook|slack, ...})");
		return;
	}
	for (size_t i = 0; i < n->nitems; i++)
		parse_sink(c, n->items[i], i);
}

/* ---- the document ------------------------------------------------------ */

static void check_header(struct cparse *c, const struct ydoc_node *root,
                         const struct ydoc_node *api, const struct ydoc_node *kind)
{
	if (!present(api))
		rotor_yerr(&c->y, api ? api : root,
		           "apiVersion is required: add apiVersion: rotor/v1");
	else if (api->type != YDOC_SCALAR)
		rotor_yerr(&c->y, api, "apiVersion must be \"rotor/v1\", not %s", node_kind(api));
	else if (strcmp(api->value, "rotor/v1") != 0)
		rotor_yerr(&c->y, api, "apiVersion must be \"rotor/v1\", not \"%s\"", api->value);
	if (!present(kind))
		rotor_yerr(&c->y, kind ? kind : root, "kind is required: add kind: Config");
	else if (kind->type != YDOC_SCALAR)
		rotor_yerr(&c->y, kind, "kind must be \"Config\", not %s", node_kind(kind));
	else if (strcmp(kind->value, "AccessKeyRotation") == 0)
		rotor_yerr(
		    &c->y, kind,
		    "kind is AccessKeyRotation: this is a manifest, not the controller config "
		    "(kind: Config)");
	else if (strcmp(kind->value, "Config") != 0)
		rotor_yerr(&c->y, kind, "kind must be \"Config\", not \"%s\"", kind->value);
}

static void parse_root(struct cparse *c, const struct ydoc_node *root)
{
	struct yfield f[] = {
	    {"apiVersion", 0, NULL}, {"kind", 0, NULL},     {"connections", 0, NULL},
	    {"envFiles", 0, NULL},   {"source", 0, NULL},   {"controller", 0, NULL},
	    {"audit", 0, NULL},      {"stateDir", 0, NULL}, {"notifications", 0, NULL},
	};
	if (rotor_ymap_fields(&c->y, root, "the config", f, NFIELDS(f)))
		return;
	if (f[7].node && rotor_yget_string(&c->y, f[7].node, "stateDir", &c->cfg->state_dir) == 0 &&
	    c->cfg->state_dir && c->cfg->state_dir[0] != '/')
		rotor_yerr(&c->y, f[7].node, "stateDir must be an absolute directory, not \"%s\"",
		           c->cfg->state_dir);
	check_header(c, root, f[0].node, f[1].node);
	parse_connections(c, f[2].node);
	parse_env_files(c, f[3].node);
	parse_source(c, f[4].node);
	parse_controller(c, f[5].node);
	parse_audit(c, f[6].node);
	parse_notifications(c, f[8].node);
}

/* The config is one document. Empty documents (a trailing ---) are ignored;
 * a second one with content is an error. */
static void parse_stream(struct cparse *c, const struct ydoc_stream *s, int syntax_failed)
{
	const struct ydoc_node *root = NULL;
	for (size_t i = 0; i < s->ndocs; i++) {
		const struct ydoc_node *doc = present(s->docs[i]);
		if (!doc)
			continue;
		if (!root) {
			root = doc;
			continue;
		}
		rotor_yerr(
		    &c->y, doc,
		    "the config must be a single YAML document; a second one starts here (remove "
		    "the ---)");
		break;
	}
	if (root)
		parse_root(c, root);
	else if (!syntax_failed) {
		rotor_diags_add(
		    c->y.diags, ROTOR_DIAG_ERROR, c->y.file, 1, 1,
		    "the config is empty: start with apiVersion: rotor/v1 and kind: Config");
		c->y.errors++;
	}
}

int rotor_config_parse(struct rotor_config **out, const char *origin, const char *data, size_t len,
                       struct rotor_diags *diags)
{
	struct ydoc_stream s;
	struct cparse c;
	int rc, yrc;
	*out = NULL;
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	if (len > ROTOR_CONFIG_FILE_MAX) {
		rotor_diags_add(diags, ROTOR_DIAG_ERROR, origin, 0, 0,
		                "the config is %zu bytes, more than the %zu allowed: is this the "
		                "right file?",
		                len, ROTOR_CONFIG_FILE_MAX);
		return ROTOR_EINVALID;
	}
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (!c.cfg)
		return ROTOR_ENOMEM;
	c.cfg->origin = xstrdup(&c, origin ? origin : "rotor.yaml");
	c.cfg->workers = DEFAULT_WORKERS;
	c.cfg->env_file_mode = 0600;
	c.cfg->resync = DEFAULT_RESYNC;
	c.cfg->listen = xstrdup(&c, DEFAULT_LISTEN);
	if (c.oom) {
		rc = ROTOR_ENOMEM;
		goto done;
	}
	c.y.file = c.cfg->origin;
	c.y.diags = diags;
	yrc = rotor_ydoc_parse(&s, c.cfg->origin, data ? data : "", data ? len : 0, diags);
	if (yrc == ROTOR_ENOMEM) {
		rc = ROTOR_ENOMEM;
		goto done;
	}
	parse_stream(&c, &s, yrc != 0);
	if (c.oom)
		rc = ROTOR_ENOMEM;
	else if (yrc || c.y.errors)
		rc = ROTOR_EINVALID;
	else
		rc = 0;
done:
	rotor_ydoc_dispose(&s);
	if (rc == 0)
		*out = c.cfg;
	else
		rotor_config_free(c.cfg);
	return rc;
}

/* ---- freeing ----------------------------------------------------------- */

static void dispose_ref(struct rotor_secret_ref *ref)
{
	free(ref->name);
	rotor_secret_free(ref->value);
	memset(ref, 0, sizeof(*ref));
}

static void free_token_connections(struct rotor_token_connection *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].api_url);
		dispose_ref(&t[i].token);
		dispose_ref(&t[i].app_private_key);
	}
	free(t);
}

void rotor_config_free(struct rotor_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->naws; i++) {
		struct rotor_aws_connection *a = &cfg->aws[i];
		free(a->name);
		free(a->region);
		free(a->profile);
		free(a->role_arn);
		dispose_ref(&a->external_id);
		free(a->session_name);
		free(a->iam_endpoint);
		free(a->sts_endpoint);
	}
	free(cfg->aws);
	for (size_t i = 0; i < cfg->ninfisical; i++) {
		struct rotor_infisical_connection *s = &cfg->infisical[i];
		free(s->name);
		free(s->site_url);
		dispose_ref(&s->client_id);
		dispose_ref(&s->client_secret);
	}
	free(cfg->infisical);
	free_token_connections(cfg->heroku, cfg->nheroku);
	free_token_connections(cfg->github, cfg->ngithub);
	for (size_t i = 0; i < cfg->nssh; i++) {
		free(cfg->ssh[i].name);
		free(cfg->ssh[i].address);
		free(cfg->ssh[i].user);
		dispose_ref(&cfg->ssh[i].private_key);
		free(cfg->ssh[i].known_hosts);
		rotor_config_free(cfg->ssh[i].files);
	}
	free(cfg->ssh);
	for (size_t i = 0; i < cfg->nnotifications; i++) {
		struct rotor_notify_sink *s = &cfg->notifications[i];
		free(s->name);
		dispose_ref(&s->url);
		dispose_ref(&s->secret);
		for (size_t j = 0; j < s->nselector; j++) {
			free(s->selector_keys[j]);
			free(s->selector_values[j]);
		}
		free(s->selector_keys);
		free(s->selector_values);
	}
	free(cfg->notifications);
	for (size_t i = 0; i < cfg->nallowed_dirs; i++)
		free(cfg->allowed_dirs[i]);
	free(cfg->allowed_dirs);
	for (size_t i = 0; i < cfg->nreloads; i++) {
		for (size_t j = 0; j < cfg->reloads[i].argc; j++)
			free(cfg->reloads[i].argv[j]);
		free(cfg->reloads[i].argv);
		free(cfg->reloads[i].name);
	}
	free(cfg->reloads);
	free(cfg->source.url);
	free(cfg->source.branch);
	free(cfg->source.path);
	dispose_ref(&cfg->source.token);
	dispose_ref(&cfg->source.ssh_key);
	dispose_ref(&cfg->webhook_github_secret);
	free(cfg->source.known_hosts);
	free(cfg->source.cache_dir);
	free(cfg->source.verify_allowed_signers);
	free(cfg->source.verify_gpg_keyring);
	free(cfg->listen);
	free(cfg->audit_path);
	free(cfg->state_dir);
	free(cfg->origin);
	rotor_wipe(cfg, sizeof(*cfg));
	free(cfg);
}

/* ---- lookups ----------------------------------------------------------- */

const struct rotor_aws_connection *rotor_config_aws(const struct rotor_config *cfg,
                                                    const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->naws; i++)
		if (same_name(cfg->aws[i].name, name))
			return &cfg->aws[i];
	return NULL;
}

const struct rotor_infisical_connection *rotor_config_infisical(const struct rotor_config *cfg,
                                                                const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->ninfisical; i++)
		if (same_name(cfg->infisical[i].name, name))
			return &cfg->infisical[i];
	return NULL;
}

static const struct rotor_token_connection *
find_token_connection(const struct rotor_token_connection *t, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (same_name(t[i].name, name))
			return &t[i];
	return NULL;
}

const struct rotor_token_connection *rotor_config_heroku(const struct rotor_config *cfg,
                                                         const char *name)
{
	return cfg ? find_token_connection(cfg->heroku, cfg->nheroku, name) : NULL;
}

const struct rotor_token_connection *rotor_config_github(const struct rotor_config *cfg,
                                                         const char *name)
{
	return cfg ? find_token_connection(cfg->github, cfg->ngithub, name) : NULL;
}

const struct rotor_ssh_connection *rotor_config_ssh(const struct rotor_config *cfg,
                                                    const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nssh; i++)
		if (same_name(cfg->ssh[i].name, name))
			return &cfg->ssh[i];
	return NULL;
}

const struct rotor_reload_command *rotor_config_reload(const struct rotor_config *cfg,
                                                       const char *name)
{
	return cfg && name ? find_reload(cfg, name) : NULL;
}

const char *rotor_config_connection_kind(const struct rotor_config *cfg, const char *name)
{
	const char *kind = NULL;
	if (!cfg || !name)
		return NULL;
	return find_connection(cfg, name, &kind) ? kind : NULL;
}
