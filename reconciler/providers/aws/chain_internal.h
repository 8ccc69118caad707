/*
 * chain_internal.h (internal): what chain.c (environment, web identity,
 * shared files, the chain and its cache) and metadata.c (container and
 * instance-metadata credentials) share.
 */
#ifndef ROTOR_CHAIN_INTERNAL_H
#define ROTOR_CHAIN_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/aws/aws.h"
#include "util/buf.h"
#include "util/http.h"

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

/* The per-refresh state. */
struct resolve {
	struct rotor_aws_chain *chain;
	int64_t now;
	char tried[1024]; /* "; "-separated reasons, for the final message */
	size_t tried_len;
	int files_loaded;
	struct ini cred, conf;
	int64_t refresh_by; /* set when a source gave no Expiration but should be re-read */
};

/* Notes one source that was tried and why it gave nothing. */
void rotor_chain_tried_add(struct resolve *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* getenv, with "" read as unset. */
const char *rotor_chain_env(const char *name);
/* Strips blanks and line ends at both ends, in place. */
char *rotor_chain_trim(char *s);
/* Reads a token file (capped) into a secret; 1 when it does not exist. */
int rotor_chain_read_token_file(const char *path, const char *what, struct rotor_secret **out,
                                struct rotor_error *err);

/* metadata.c: container credentials (AWS_CONTAINER_CREDENTIALS_*) and
 * IMDSv2. 0 with *out, 1 when the source is not set up (noted in r), or an
 * error. */
int rotor_chain_from_container(struct resolve *r, int required, struct rotor_aws_credentials *out,
                               struct rotor_error *err);
int rotor_chain_from_imds(struct resolve *r, struct rotor_aws_credentials *out,
                          struct rotor_error *err);

#endif
