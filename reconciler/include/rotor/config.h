/*
 * config.h: the controller config (rotor.yaml), never in git.
 *
 * It holds everything that carries authority: connections (endpoints and
 * credentials), the directories env files may be written into, the reload
 * commands, the git source, intervals, the listen address and the audit log.
 * Manifests refer to its entries by name only. A secret in the config is a
 * reference ({env: NAME} or {file: PATH}), never a literal; references are
 * resolved into struct rotor_secret (registered for redaction) by
 * rotor_config_resolve_secrets, separately from parsing, so `validate` can
 * check a config on a machine that does not hold the secrets.
 * Contract: ../shared/design/rotation.md §2; user doc: docs/config.md.
 */
/* Thread rules: parsing is pure (any thread, one config per call); a parsed config
 * is read-only after rotor_config_resolve_secrets and may then be read from
 * any thread; free it only after every engine built over it. */
#ifndef ROTOR_CONFIG_H
#define ROTOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/diag.h"
#include "rotor/manifest.h"

struct rotor_secret;

enum rotor_secret_ref_kind {
	ROTOR_REF_NONE = 0,
	ROTOR_REF_ENV = 1,
	ROTOR_REF_FILE = 2,
};

struct rotor_secret_ref {
	enum rotor_secret_ref_kind kind;
	char *name; /* env var name or file path */
	struct rotor_pos pos;
	struct rotor_secret *value; /* set by rotor_config_resolve_secrets */
};

enum rotor_partition {
	ROTOR_PARTITION_AWS = 0,
	ROTOR_PARTITION_AWS_CN = 1,
	ROTOR_PARTITION_AWS_US_GOV = 2,
};

/* AWS publishes no IAM rate; throttling ("Rate exceeded") is per account.
 * A conservative default, shared by every worker of a pass. */
#define ROTOR_DEFAULT_IAM_RPS 10

struct rotor_aws_connection {
	char *name;
	char *region; /* required */
	enum rotor_partition partition;
	char *profile;                       /* optional */
	char *role_arn;                      /* optional */
	struct rotor_secret_ref external_id; /* optional */
	char *session_name;                  /* optional; default "rotor" */
	char *iam_endpoint;                  /* optional override */
	char *sts_endpoint;                  /* optional override */
	int requests_per_second;             /* IAM pacing (STS gets twice this); default 10 */
	struct rotor_pos pos;
};

enum rotor_infisical_api {
	ROTOR_INFISICAL_V3 = 0,
	ROTOR_INFISICAL_V4 = 1,
};

struct rotor_infisical_connection {
	char *name;
	char *site_url; /* required */
	enum rotor_infisical_api api;
	struct rotor_secret_ref client_id;     /* required */
	struct rotor_secret_ref client_secret; /* required */
	int requests_per_minute;               /* default 30 */
	struct rotor_pos pos;
};

struct rotor_token_connection { /* heroku and github */
	char *name;
	char *api_url;                 /* default per kind */
	struct rotor_secret_ref token; /* required, but for a GitHub App */
	int64_t timeout;               /* one request, seconds; default 30 */
	/* github only: a GitHub App installation instead of a token
	 * (app: {id, installationId, privateKey}) */
	int64_t app_id, installation_id;         /* 0: no app */
	struct rotor_secret_ref app_private_key; /* PEM, RSA */
	struct rotor_pos pos;
};

/* connections.ssh.NAME: a host whose env files rotor keeps, over SSH. */
struct rotor_ssh_connection {
	char *name;
	char *address; /* host name or address */
	int port;      /* default 22 */
	char *user;
	struct rotor_secret_ref private_key; /* required: the key rotor logs in with */
	char *known_hosts;                   /* required: the pinned host key(s) */
	/* what a manifest may name on that host: a config of its own holding
	 * only allowed_dirs, reloads and env_file_mode (the envFiles shape) */
	struct rotor_config *files;
	struct rotor_pos pos;
};

/* notifications[]: where rotor tells people what it did or could not do. */
enum rotor_notify_event {
	ROTOR_EV_ROTATED = 0,
	ROTOR_EV_DEACTIVATED,
	ROTOR_EV_DELETED,
	ROTOR_EV_HELD,     /* the old key was used after the switch */
	ROTOR_EV_STALLED,  /* rotor will not act without a human */
	ROTOR_EV_FAILED,   /* a pass failed, with the error */
	ROTOR_EV_OVERDUE,  /* a key older than its cadence plus a grace */
	ROTOR_EV_REMINDER, /* a rotation comes that needs a human (observe mode) */
	ROTOR_EV__COUNT
};
const char *rotor_notify_event_name(enum rotor_notify_event e);

struct rotor_notify_sink {
	char *name;
	int slack;                      /* 1: a Slack incoming webhook; 0: a generic JSON webhook */
	struct rotor_secret_ref url;    /* required */
	struct rotor_secret_ref secret; /* webhook: optional HMAC-SHA256 key */
	unsigned events;                /* bit per enum rotor_notify_event; 0: all */
	char **selector_keys, **selector_values; /* manifest labels that must all match */
	size_t nselector;
	int64_t dedup; /* the same event for the same manifest: not again within; default 6h */
	int64_t overdue_grace; /* overdue past cadence + this; default 1d */
	int64_t remind_before; /* reminder this long before the rotation; default 3d */
	struct rotor_pos pos;
};

struct rotor_reload_command {
	char *name;
	char **argv; /* NULL-terminated, at least one element */
	size_t argc;
	int64_t timeout; /* seconds; default 30 */
	struct rotor_pos pos;
};

struct rotor_source_config {
	int present;
	char *url;
	char *branch;                    /* default "main" */
	char *path;                      /* default "" (repository root) */
	struct rotor_secret_ref token;   /* auth.token, optional */
	struct rotor_secret_ref ssh_key; /* auth.sshKey, optional */
	char *known_hosts;               /* auth.knownHosts */
	int64_t interval;                /* default 1m */
	char *cache_dir;                 /* cacheDir: where the bare cache lives; NULL: default */
	char *verify_allowed_signers;    /* verify.allowedSigners: SSH-signed commits only */
	char *verify_gpg_keyring;        /* verify.gpgKeyring: OpenPGP-signed commits only */
	struct rotor_pos pos;
};

struct rotor_config {
	char *origin; /* the file name, for messages */
	struct rotor_aws_connection *aws;
	size_t naws;
	struct rotor_infisical_connection *infisical;
	size_t ninfisical;
	struct rotor_token_connection *heroku;
	size_t nheroku;
	struct rotor_token_connection *github;
	size_t ngithub;
	struct rotor_ssh_connection *ssh;
	size_t nssh;
	struct rotor_notify_sink *notifications;
	size_t nnotifications;
	char **allowed_dirs; /* envFiles.allowedDirs, absolute, normalised */
	size_t nallowed_dirs;
	struct rotor_reload_command *reloads;
	size_t nreloads;
	unsigned env_file_mode; /* envFiles.mode: what env files are written with; default 0600 */
	struct rotor_source_config source;
	int workers;    /* controller.workers; default 4 */
	int64_t resync; /* controller.resync; default 10m */
	char *listen;   /* controller.listen; default 127.0.0.1:9464 */
	struct rotor_secret_ref webhook_github_secret; /* controller.webhook.github.secret */
	char *audit_path;                              /* audit.path; NULL: no audit log */
	char *state_dir; /* stateDir: per-user locks and login state; NULL: the default */
};

#define ROTOR_CONFIG_FILE_MAX ((size_t)1024 * 1024)

/* Parses the config's bytes. On success *out is a new config (free with
 * rotor_config_free); with any error diagnostic, *out is NULL and the
 * return is ROTOR_EINVALID. */
int rotor_config_parse(struct rotor_config **out, const char *origin, const char *data, size_t len,
                       struct rotor_diags *diags);
void rotor_config_free(struct rotor_config *cfg);

/* Loads every secret reference (env vars, files) into the secret type.
 * Problems are added to diags with `severity` (validate passes a warning:
 * the secrets may live only on the controller's machine). Returns 0 or
 * ROTOR_EINVALID when a reference could not be loaded and severity is an
 * error. */
int rotor_config_resolve_secrets(struct rotor_config *cfg, int severity, struct rotor_diags *diags);

const struct rotor_aws_connection *rotor_config_aws(const struct rotor_config *cfg,
                                                    const char *name);
const struct rotor_infisical_connection *rotor_config_infisical(const struct rotor_config *cfg,
                                                                const char *name);
const struct rotor_token_connection *rotor_config_heroku(const struct rotor_config *cfg,
                                                         const char *name);
const struct rotor_token_connection *rotor_config_github(const struct rotor_config *cfg,
                                                         const char *name);
const struct rotor_ssh_connection *rotor_config_ssh(const struct rotor_config *cfg,
                                                    const char *name);
const struct rotor_reload_command *rotor_config_reload(const struct rotor_config *cfg,
                                                       const char *name);
/* Which kind of connection a name is, for "names a heroku connection, not
 * an aws one" messages: "aws", "infisical", "heroku", "github" or NULL. */
const char *rotor_config_connection_kind(const struct rotor_config *cfg, const char *name);

#endif
