/*
 * endpoints.c: where a connection's IAM and STS calls go, and how they are
 * signed.
 *
 * Precedence, per service: the connection's own `endpoints` (iam_url,
 * sts_url) > AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL_STS > AWS_ENDPOINT_URL
 * > the partition's defaults (IAM global, STS regional). An override moves
 * the URL only: the signing region and service are always the partition's
 * (IAM) or the connection's region (STS), as in the AWS SDKs, so a test
 * double or a VPC endpoint sees the same signature AWS would.
 *
 * Every URL comes out as scheme://authority/path/ with the path ending in
 * '/', because the Query protocol POSTs to the endpoint's path and SigV4
 * signs that path. An empty environment variable counts as unset (the SDKs
 * agree). Nothing here talks to the network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"

/* The facts of one partition. STS URLs are "https://sts." REGION SUFFIX. */
struct partition {
	const char *name; /* as in rotor.yaml: aws, aws-cn, aws-us-gov */
	const char *iam_url;
	const char *iam_region; /* IAM is global; it signs for this region */
	const char *sts_suffix; /* ".amazonaws.com/" */
};

static const struct partition partitions[] = {
    [ROTOR_AWS_PARTITION_AWS] = {"aws", "https://iam.amazonaws.com/", "us-east-1",
                                 ".amazonaws.com/"},
    [ROTOR_AWS_PARTITION_CN] = {"aws-cn", "https://iam.cn-north-1.amazonaws.com.cn/", "cn-north-1",
                                ".amazonaws.com.cn/"},
    [ROTOR_AWS_PARTITION_US_GOV] = {"aws-us-gov", "https://iam.us-gov.amazonaws.com/",
                                    "us-gov-west-1", ".amazonaws.com/"},
};

static int is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* us-east-1, us-gov-west-1, cn-north-1, ap-southeast-5: hyphen-separated
 * words of [a-z0-9], a letter first and a digit last (the same rule the
 * config parser applies, so a region it accepted is accepted here). */
static int region_ok(const char *s)
{
	size_t len = strlen(s);
	if (len < 4 || len >= sizeof(((struct rotor_aws_endpoint *)0)->region) || !is_lower(s[0]) ||
	    !is_digit(s[len - 1]) || !strchr(s, '-') || strstr(s, "--"))
		return 0;
	for (; *s; s++)
		if (!is_lower(*s) && !is_digit(*s) && *s != '-')
			return 0;
	return 1;
}

/* The partition a region belongs to; -1 for the isolated (us-iso*)
 * partitions, whose endpoints rotor does not know. */
static int region_partition(const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return ROTOR_AWS_PARTITION_CN;
	if (strncmp(region, "us-gov-", 7) == 0)
		return ROTOR_AWS_PARTITION_US_GOV;
	if (strstr(region, "-iso"))
		return -1;
	return ROTOR_AWS_PARTITION_AWS;
}

/* Copies an override URL into out->url, checked and with its path ending
 * in '/'. `origin` names where it came from for the message. A URL that
 * carries a query or fragment is refused: the Query protocol's body is the
 * whole request, and a stray "?x" would be signed into every call. */
static int set_url(struct rotor_aws_endpoint *out, const char *url, const char *origin,
                   struct rotor_error *err)
{
	const char *rest;
	size_t len = strlen(url);
	if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: \"%.200s\" is not an http:// or https:// URL", origin,
		                       url);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "%s: the URL contains a space or control character",
			                       origin);
	if (strpbrk(url, "?#"))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: \"%.200s\" has a query or fragment; give the endpoint "
		                       "as scheme://host[:port][/path]",
		                       origin, url);
	size_t host_len = strcspn(rest, "/");
	if (host_len == 0 || rest[0] == ':' || memchr(rest, '@', host_len))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "%s: \"%.200s\" has no host (or carries user info)", origin,
		                       url);
	int slash = url[len - 1] == '/';
	if (len + (slash ? 0 : 1) >= sizeof(out->url))
		return rotor_error_set(err, ROTOR_EINVALID, "%s: the URL is longer than %zu bytes",
		                       origin, sizeof(out->url) - 2);
	snprintf(out->url, sizeof(out->url), "%s%s", url, slash ? "" : "/");
	return 0;
}

/* An environment variable, or NULL when unset or empty. */
static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Picks the URL for one service: explicit > service variable > global
 * variable. Returns 1 when one was found (and set), 0 when the partition's
 * default applies, or a negative error. */
static int pick_override(struct rotor_aws_endpoint *out, const char *explicit_url, const char *what,
                         const char *service_var, struct rotor_error *err)
{
	char origin[96];
	const char *v;
	int rc;
	if (explicit_url) {
		snprintf(origin, sizeof(origin), "connection endpoint %s", what);
		rc = set_url(out, explicit_url, origin, err);
	} else if ((v = env(service_var)) != NULL) {
		rc = set_url(out, v, service_var, err);
	} else if ((v = env("AWS_ENDPOINT_URL")) != NULL) {
		rc = set_url(out, v, "AWS_ENDPOINT_URL", err);
	} else {
		return 0;
	}
	return rc ? rc : 1;
}

int rotor_aws_resolve_endpoints(enum rotor_aws_partition_id partition, const char *region,
                                const char *iam_url, const char *sts_url,
                                struct rotor_aws_endpoint *iam, struct rotor_aws_endpoint *sts,
                                struct rotor_error *err)
{
	struct rotor_aws_endpoint i, s;
	int iam_over = 0, sts_over = 0;
	memset(&i, 0, sizeof(i));
	memset(&s, 0, sizeof(s));
	if ((int)partition < 0 || (size_t)partition >= sizeof(partitions) / sizeof(partitions[0]))
		return rotor_error_set(err, ROTOR_EINVALID, "AWS endpoints: unknown partition %d",
		                       (int)partition);
	const struct partition *p = &partitions[partition];
	if (!region || !*region)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "AWS endpoints: no region (STS is regional and signs for "
		                       "the connection's region)");
	if (!region_ok(region))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "AWS endpoints: \"%.40s\" does not look like an AWS region "
		                       "such as us-east-1",
		                       region);
	if (iam) {
		iam_over = pick_override(&i, iam_url, "iam", "AWS_ENDPOINT_URL_IAM", err);
		if (iam_over < 0)
			return iam_over;
	}
	if (sts) {
		sts_over = pick_override(&s, sts_url, "sts", "AWS_ENDPOINT_URL_STS", err);
		if (sts_over < 0)
			return sts_over;
	}
	/* A default URL comes from the partition, so the region has to belong
	 * to it: partition aws with region cn-north-1 would sign a China
	 * account's calls for the wrong partition. With every URL overridden
	 * (a test double) the pairing does not matter and is not checked. */
	if ((iam && !iam_over) || (sts && !sts_over)) {
		int rp = region_partition(region);
		if (rp < 0)
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "AWS endpoints: region %s is in an isolated partition "
			    "whose endpoints rotor does not know; set the "
			    "connection's endpoints",
			    region);
		if (rp != (int)partition)
			return rotor_error_set(
			    err, ROTOR_EINVALID,
			    "AWS endpoints: region %s belongs to partition %s, not "
			    "%s; set the connection's partition: %s",
			    region, partitions[rp].name, p->name, partitions[rp].name);
	}
	if (iam) {
		if (!iam_over)
			snprintf(i.url, sizeof(i.url), "%s", p->iam_url);
		snprintf(i.region, sizeof(i.region), "%s", p->iam_region);
		snprintf(i.service, sizeof(i.service), "iam");
		*iam = i;
	}
	if (sts) {
		if (!sts_over)
			snprintf(s.url, sizeof(s.url), "https://sts.%s%s", region, p->sts_suffix);
		snprintf(s.region, sizeof(s.region), "%s", region);
		snprintf(s.service, sizeof(s.service), "sts");
		*sts = s;
	}
	return 0;
}
