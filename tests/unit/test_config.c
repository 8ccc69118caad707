/* test_config.c: the controller config (rotor.yaml): the contract's example,
 * defaults, every kind of error at its exact line:col, and secret resolving. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotor/config.h"
#include "rotor/diag.h"
#include "rotor/error.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "testsupport.h"

#define HEADER "apiVersion: rotor/v1\nkind: Config\n"

/* The example of rotation.md §2, verbatim. */
static const char contract_example[] =
    "apiVersion: rotor/v1\n"
    "kind: Config\n"
    "connections:\n"
    "  aws:\n"
    "    aws-prod:\n"
    "      region: us-east-1                  # signing region for STS; IAM follows the "
    "partition\n"
    "      partition: aws                     # optional: aws | aws-cn | aws-us-gov\n"
    "      profile: rotor                     # optional: else the default credential chain\n"
    "      roleArn: arn:aws:iam::123456789012:role/rotor   # optional, assumed on top\n"
    "      externalId: {env: ROTOR_EXTERNAL_ID}             # optional\n"
    "      endpoints: {iam: \"http://127.0.0.1:4566\", sts: \"http://127.0.0.1:4566\"}  # "
    "optional (testing)\n"
    "  infisical:\n"
    "    infisical-main:\n"
    "      siteUrl: https://app.infisical.com\n"
    "      api: v3                            # optional: v3 (raw routes, default) | v4\n"
    "      clientId: {env: INFISICAL_CLIENT_ID}\n"
    "      clientSecret: {file: /run/secrets/infisical-client-secret}\n"
    "      requestsPerMinute: 30              # optional: rotor's own pacing\n"
    "  heroku:\n"
    "    heroku-main:\n"
    "      apiUrl: https://api.heroku.com     # optional\n"
    "      token: {env: HEROKU_API_KEY}\n"
    "  github:\n"
    "    github-main:\n"
    "      apiUrl: https://api.github.com     # optional (GitHub Enterprise: "
    "https://HOST/api/v3)\n"
    "      token: {file: /run/secrets/github-token}\n"
    "envFiles:\n"
    "  allowedDirs: [/etc/raxx]\n"
    "  reload:\n"
    "    vault-host: {argv: [systemctl, restart, raxx-vault.service], timeout: 30s}\n"
    "source:                                  # optional: the controller's git source\n"
    "  url: https://github.com/raxx/key-rotations.git\n"
    "  branch: main\n"
    "  path: aws/\n"
    "  auth: {token: {env: GIT_TOKEN}}        # or {sshKey: {file: ...}, knownHosts: "
    "/etc/rotor/known_hosts}\n"
    "  interval: 1m\n"
    "controller:                              # optional\n"
    "  workers: 4\n"
    "  resync: 10m\n"
    "  listen: 127.0.0.1:9464\n"
    "audit:\n"
    "  path: /var/lib/rotor/audit.jsonl\n";

static int parse(const char *yaml, struct rotor_config **cfg, struct rotor_diags *d)
{
	rotor_diags_init(d);
	return rotor_config_parse(cfg, "rotor.yaml", yaml, strlen(yaml), d);
}

/* The diagnostic of that severity at line:col (line < 0: anywhere) whose
 * message contains want, or NULL. */
static const struct rotor_diag *find_diag(const struct rotor_diags *d, int severity, int line,
                                          int col, const char *want)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct rotor_diag *it = &d->items[i];
		if (it->severity == severity &&
		    (line < 0 || (it->line == line && it->col == col)) && strstr(it->message, want))
			return it;
	}
	return NULL;
}

static void expect_diag(const struct rotor_diags *d, int severity, int line, int col,
                        const char *want)
{
	if (find_diag(d, severity, line, col, want))
		return;
	rotor_diags_print(d, stdout);
	fail_msg("expected %s at %d:%d containing: %s",
	         severity == ROTOR_DIAG_ERROR ? "an error" : "a warning", line, col, want);
}

static void expect_nowhere(const struct rotor_diags *d, const char *secret)
{
	char line[2048];
	for (size_t i = 0; i < d->n; i++) {
		rotor_diag_format(&d->items[i], line, sizeof(line));
		if (strstr(line, secret))
			fail_msg("diagnostic echoes \"%s\": %s", secret, line);
	}
}

static void check_pos(const struct rotor_pos *p, const struct rotor_config *cfg, int line, int col)
{
	assert_ptr_equal(p->file, cfg->origin);
	assert_int_equal(p->line, line);
	assert_int_equal(p->col, col);
}

static void test_contract_example(void **state)
{
	(void)state;
	struct rotor_config *cfg = NULL;
	struct rotor_diags d;
	assert_int_equal(parse(contract_example, &cfg, &d), 0);
	if (d.n)
		rotor_diags_print(&d, stdout);
	assert_int_equal(d.n, 0); /* http to 127.0.0.1 is no warning */
	assert_non_null(cfg);
	assert_string_equal(cfg->origin, "rotor.yaml");

	assert_int_equal(cfg->naws, 1);
	const struct rotor_aws_connection *a = &cfg->aws[0];
	assert_string_equal(a->name, "aws-prod");
	check_pos(&a->pos, cfg, 5, 5);
	assert_string_equal(a->region, "us-east-1");
	assert_int_equal(a->partition, ROTOR_PARTITION_AWS);
	assert_string_equal(a->profile, "rotor");
	assert_string_equal(a->role_arn, "arn:aws:iam::123456789012:role/rotor");
	assert_int_equal(a->external_id.kind, ROTOR_REF_ENV);
	assert_string_equal(a->external_id.name, "ROTOR_EXTERNAL_ID");
	check_pos(&a->external_id.pos, cfg, 10, 19);
	assert_null(a->external_id.value);
	assert_string_equal(a->session_name, "rotor");
	assert_string_equal(a->iam_endpoint, "http://127.0.0.1:4566");
	assert_string_equal(a->sts_endpoint, "http://127.0.0.1:4566");

	assert_int_equal(cfg->ninfisical, 1);
	const struct rotor_infisical_connection *inf = &cfg->infisical[0];
	assert_string_equal(inf->name, "infisical-main");
	check_pos(&inf->pos, cfg, 13, 5);
	assert_string_equal(inf->site_url, "https://app.infisical.com");
	assert_int_equal(inf->api, ROTOR_INFISICAL_V3);
	assert_int_equal(inf->client_id.kind, ROTOR_REF_ENV);
	assert_string_equal(inf->client_id.name, "INFISICAL_CLIENT_ID");
	check_pos(&inf->client_id.pos, cfg, 16, 17);
	assert_int_equal(inf->client_secret.kind, ROTOR_REF_FILE);
	assert_string_equal(inf->client_secret.name, "/run/secrets/infisical-client-secret");
	check_pos(&inf->client_secret.pos, cfg, 17, 21);
	assert_int_equal(inf->requests_per_minute, 30);

	assert_int_equal(cfg->nheroku, 1);
	assert_string_equal(cfg->heroku[0].name, "heroku-main");
	check_pos(&cfg->heroku[0].pos, cfg, 20, 5);
	assert_string_equal(cfg->heroku[0].api_url, "https://api.heroku.com");
	assert_int_equal(cfg->heroku[0].token.kind, ROTOR_REF_ENV);
	assert_string_equal(cfg->heroku[0].token.name, "HEROKU_API_KEY");

	assert_int_equal(cfg->ngithub, 1);
	assert_string_equal(cfg->github[0].name, "github-main");
	assert_string_equal(cfg->github[0].api_url, "https://api.github.com");
	assert_int_equal(cfg->github[0].token.kind, ROTOR_REF_FILE);
	assert_string_equal(cfg->github[0].token.name, "/run/secrets/github-token");

	assert_int_equal(cfg->nallowed_dirs, 1);
	assert_string_equal(cfg->allowed_dirs[0], "/etc/raxx");
	assert_int_equal(cfg->nreloads, 1);
	const struct rotor_reload_command *r = &cfg->reloads[0];
	assert_string_equal(r->name, "vault-host");
	check_pos(&r->pos, cfg, 30, 5);
	assert_int_equal(r->argc, 3);
	assert_string_equal(r->argv[0], "systemctl");
	assert_string_equal(r->argv[1], "restart");
	assert_string_equal(r->argv[2], "raxx-vault.service");
	assert_null(r->argv[3]);
	assert_int_equal(r->timeout, 30);

	assert_true(cfg->source.present);
	check_pos(&cfg->source.pos, cfg, 32, 3);
	assert_string_equal(cfg->source.url, "https://github.com/raxx/key-rotations.git");
	assert_string_equal(cfg->source.branch, "main");
	assert_string_equal(cfg->source.path, "aws");
	assert_int_equal(cfg->source.token.kind, ROTOR_REF_ENV);
	assert_string_equal(cfg->source.token.name, "GIT_TOKEN");
	assert_int_equal(cfg->source.ssh_key.kind, ROTOR_REF_NONE);
	assert_null(cfg->source.known_hosts);
	assert_int_equal(cfg->source.interval, 60);

	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->resync, 600);
	assert_string_equal(cfg->listen, "127.0.0.1:9464");
	assert_string_equal(cfg->audit_path, "/var/lib/rotor/audit.jsonl");

	/* Lookups. */
	assert_ptr_equal(rotor_config_aws(cfg, "aws-prod"), a);
	assert_null(rotor_config_aws(cfg, "heroku-main"));
	assert_ptr_equal(rotor_config_infisical(cfg, "infisical-main"), inf);
	assert_ptr_equal(rotor_config_heroku(cfg, "heroku-main"), &cfg->heroku[0]);
	assert_null(rotor_config_heroku(cfg, "github-main"));
	assert_ptr_equal(rotor_config_github(cfg, "github-main"), &cfg->github[0]);
	assert_ptr_equal(rotor_config_reload(cfg, "vault-host"), r);
	assert_null(rotor_config_reload(cfg, "nope"));
	assert_string_equal(rotor_config_connection_kind(cfg, "aws-prod"), "aws");
	assert_string_equal(rotor_config_connection_kind(cfg, "infisical-main"), "infisical");
	assert_string_equal(rotor_config_connection_kind(cfg, "heroku-main"), "heroku");
	assert_string_equal(rotor_config_connection_kind(cfg, "github-main"), "github");
	assert_null(rotor_config_connection_kind(cfg, "vault-host"));
	assert_null(rotor_config_connection_kind(cfg, NULL));
	assert_null(rotor_config_aws(NULL, "aws-prod"));

	rotor_config_free(cfg);
	rotor_config_free(NULL);
	rotor_diags_dispose(&d);
}

static void test_defaults_and_normalisation(void **state)
{
	(void)state;
	static const char yaml[] = HEADER
	    "connections:\n"
	    "  aws:\n"
	    "    aws-cn: {region: cn-north-1, partition: aws-cn, roleArn: "
	    "\"arn:aws-cn:iam::123456789012:role/ops/rotor\"}\n"
	    "  infisical:\n"
	    "    i1: {siteUrl: \"https://infisical.example.com/\", clientId: {env: A},\n"
	    "         clientSecret: {env: B}, api: v4}\n"
	    "  heroku:\n"
	    "    h1: {token: {env: C}}\n"
	    "  github:\n"
	    "    ghe: {apiUrl: \"https://ghe.example.com/api/v3/\", token: {env: D}}\n"
	    "envFiles:\n"
	    "  allowedDirs: [\"//srv//raxx/\", /etc/raxx/]\n"
	    "  reload:\n"
	    "    r1: {argv: [/usr/local/bin/reload]}\n"
	    "source:\n"
	    "  url: git@github.com:raxx/key-rotations.git\n"
	    "  auth: {sshKey: {file: /etc/rotor/id_ed25519}, knownHosts: /etc/rotor/known_hosts}\n"
	    "controller:\n";
	struct rotor_config *cfg = NULL;
	struct rotor_diags d;
	assert_int_equal(parse(yaml, &cfg, &d), 0);
	if (d.n)
		rotor_diags_print(&d, stdout);
	assert_int_equal(d.n, 0);
	const struct rotor_aws_connection *a = rotor_config_aws(cfg, "aws-cn");
	assert_non_null(a);
	assert_int_equal(a->partition, ROTOR_PARTITION_AWS_CN);
	assert_string_equal(a->role_arn, "arn:aws-cn:iam::123456789012:role/ops/rotor");
	assert_string_equal(a->session_name, "rotor");
	assert_null(a->profile);
	assert_null(a->iam_endpoint);
	assert_null(a->sts_endpoint);
	assert_int_equal(a->external_id.kind, ROTOR_REF_NONE);
	const struct rotor_infisical_connection *inf = rotor_config_infisical(cfg, "i1");
	assert_string_equal(inf->site_url, "https://infisical.example.com");
	assert_int_equal(inf->api, ROTOR_INFISICAL_V4);
	assert_int_equal(inf->requests_per_minute, 30);
	assert_string_equal(rotor_config_heroku(cfg, "h1")->api_url, "https://api.heroku.com");
	assert_string_equal(rotor_config_github(cfg, "ghe")->api_url,
	                    "https://ghe.example.com/api/v3");
	assert_int_equal(cfg->nallowed_dirs, 2);
	assert_string_equal(cfg->allowed_dirs[0], "/srv/raxx");
	assert_string_equal(cfg->allowed_dirs[1], "/etc/raxx");
	const struct rotor_reload_command *r = rotor_config_reload(cfg, "r1");
	assert_int_equal(r->argc, 1);
	assert_null(r->argv[1]);
	assert_int_equal(r->timeout, 30);
	assert_true(cfg->source.present);
	assert_string_equal(cfg->source.branch, "main");
	assert_string_equal(cfg->source.path, "");
	assert_int_equal(cfg->source.interval, 60);
	assert_int_equal(cfg->source.ssh_key.kind, ROTOR_REF_FILE);
	assert_string_equal(cfg->source.known_hosts, "/etc/rotor/known_hosts");
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->resync, 600);
	assert_string_equal(cfg->listen, "127.0.0.1:9464");
	assert_null(cfg->audit_path);
	rotor_config_free(cfg);
	rotor_diags_dispose(&d);

	/* The smallest config: no source, nothing else. */
	assert_int_equal(parse(HEADER, &cfg, &d), 0);
	assert_false(cfg->source.present);
	assert_null(cfg->source.url);
	assert_int_equal(cfg->naws + cfg->ninfisical + cfg->nheroku + cfg->ngithub, 0);
	assert_int_equal(cfg->nallowed_dirs, 0);
	rotor_config_free(cfg);
	rotor_diags_dispose(&d);
}

/* One error case: the YAML, where the error is, what it says, and a string
 * that must appear in no message (a literal secret). */
struct bad_case {
	const char *yaml;
	int line, col;
	const char *want;
	const char *absent;
};

#define AWS_PROD HEADER "connections:\n  aws:\n    aws-prod:\n"
#define INFISICAL_MAIN                                                                             \
	HEADER "connections:\n  infisical:\n    infisical-main:\n"                                 \
	       "      siteUrl: https://app.infisical.com\n"                                        \
	       "      clientId: {env: INFISICAL_CLIENT_ID}\n"

static const struct bad_case bad_cases[] = {
    /* the document */
    {"apiVersion: rotor/v2\nkind: Config\n", 1, 13,
     "apiVersion must be \"rotor/v1\", not \"rotor/v2\"", NULL},
    {"apiVersion: rotor/v1\nkind: AccessKeyRotation\n", 2, 7,
     "kind is AccessKeyRotation: this is a manifest, not the controller config", NULL},
    {"kind: Config\n", 1, 1, "apiVersion is required: add apiVersion: rotor/v1", NULL},
    {HEADER "conections: {}\n", 3, 1,
     "unknown field \"conections\" in the config; did you mean \"connections\"?", NULL},
    {HEADER "---\n" HEADER, 4, 1, "the config must be a single YAML document", NULL},
    {"- apiVersion\n", 1, 1, "the config must be a mapping, not a list", NULL},
    {"", 1, 1, "the config is empty", NULL},
    {HEADER "connections: [\n", -1, 0, "YAML syntax error", NULL},
    /* aws */
    {AWS_PROD "      partition: aws\n", 6, 7, "connections.aws.aws-prod.region is required", NULL},
    {AWS_PROD "      regoin: us-east-1\n", 6, 7,
     "unknown field \"regoin\" in connections.aws.aws-prod; did you mean \"region\"?", NULL},
    {AWS_PROD "      region: US-East-1\n", 6, 15,
     "connections.aws.aws-prod.region: \"US-East-1\" does not look like an AWS region", NULL},
    {AWS_PROD "      region: us-east-1\n      partition: aws-gov\n", 7, 18,
     "connections.aws.aws-prod.partition must be one of aws, aws-cn, aws-us-gov, not "
     "\"aws-gov\"",
     NULL},
    {AWS_PROD "      region: us-east-1\n      roleArn: arn:aws:iam::1234:role/rotor\n", 7, 16,
     "connections.aws.aws-prod.roleArn must look like arn:aws:iam::123456789012:role/NAME, "
     "not \"arn:aws:iam::1234:role/rotor\"",
     NULL},
    {AWS_PROD "      region: cn-north-1\n      partition: aws-cn\n"
              "      roleArn: arn:aws:iam::123456789012:role/rotor\n",
     8, 16,
     "connections.aws.aws-prod.roleArn is in partition aws, but the connection's partition is "
     "aws-cn",
     NULL},
    {AWS_PROD "      region: us-east-1\n      sessionName: x\n", 7, 20,
     "connections.aws.aws-prod.sessionName must be 2 to 64 letters", NULL},
    {AWS_PROD "      region: us-east-1\n      endpoints:\n        iam: localhost:4566\n", 8, 14,
     "connections.aws.aws-prod.endpoints.iam must be an https:// URL", NULL},
    {AWS_PROD "      region: us-east-1\n      externalId: ext-7f3a9c\n", 7, 19,
     "connections.aws.aws-prod.externalId must be {env: NAME} or {file: PATH}, never a "
     "literal secret",
     "ext-7f3a9c"},
    /* secret references */
    {INFISICAL_MAIN "      clientSecret: sk-live-51HlvHJ2eZvKYlo2C\n", 8, 21,
     "connections.infisical.infisical-main.clientSecret must be {env: NAME} or {file: PATH}, "
     "never a literal secret",
     "sk-live-51HlvHJ2eZvKYlo2C"},
    {INFISICAL_MAIN "      clientSecret: {env: A, file: /run/x}\n", 8, 21,
     "clientSecret must have only one of env and file", NULL},
    {INFISICAL_MAIN "      clientSecret: {}\n", 8, 21,
     "clientSecret must be {env: NAME} or {file: PATH}: neither is given", NULL},
    {INFISICAL_MAIN "      clientSecret: {env: 1sk-live-x}\n", 8, 27,
     "clientSecret.env must be an environment variable name", "1sk-live-x"},
    {INFISICAL_MAIN "      clientSecret: {file: run/secret}\n", 8, 28,
     "clientSecret.file must be an absolute path", NULL},
    {INFISICAL_MAIN, 6, 7, "connections.infisical.infisical-main.clientSecret is required", NULL},
    {HEADER "connections:\n  github:\n    github-main:\n      token: [a]\n", 6, 14,
     "connections.github.github-main.token must be {env: NAME} or {file: PATH}, not a list", NULL},
    /* infisical */
    {HEADER "connections:\n  infisical:\n    infisical-main:\n      siteUrl: ftp://x\n"
            "      clientId: {env: A}\n      clientSecret: {env: B}\n",
     6, 16, "connections.infisical.infisical-main.siteUrl must be an https:// URL", NULL},
    {INFISICAL_MAIN "      clientSecret: {env: B}\n      requestsPerMinute: 0\n", 9, 26,
     "requestsPerMinute must be between 1 and 10000, not 0", NULL},
    {INFISICAL_MAIN "      clientSecret: {env: B}\n      api: v5\n", 9, 12,
     "connections.infisical.infisical-main.api must be one of v3, v4, not \"v5\"", NULL},
    /* names and tokens */
    {HEADER "connections:\n  aws:\n    shared:\n      region: us-east-1\n"
            "  heroku:\n    shared:\n      token: {env: HEROKU_API_KEY}\n",
     8, 5,
     "connection \"shared\" is defined twice: first as connections.aws.shared at line 5, "
     "column 5",
     NULL},
    {HEADER "connections:\n  aws:\n    \"aws prod!\":\n      region: us-east-1\n", 5, 5,
     "connection name \"aws prod!\" must be 1 to 63 letters, digits, - or _", NULL},
    {HEADER "connections:\n  heroku:\n    heroku-main:\n"
            "      apiUrl: https://user:hunter2@api.heroku.com\n"
            "      token: {env: HEROKU_API_KEY}\n",
     6, 15, "connections.heroku.heroku-main.apiUrl must not contain user info", "hunter2"},
    {HEADER "connections:\n  heroku:\n    heroku-main:\n      apiUrl: https://api.heroku.com\n", 6,
     7, "connections.heroku.heroku-main.token is required", NULL},
    /* envFiles */
    {HEADER "envFiles:\n  allowedDirs:\n    - etc/raxx\n", 5, 7,
     "envFiles.allowedDirs[0] must be an absolute directory, not \"etc/raxx\"", NULL},
    {HEADER "envFiles:\n  allowedDirs:\n    - /srv/../etc\n", 5, 7,
     "envFiles.allowedDirs[0]: \"/srv/../etc\" must not contain . or .. components", NULL},
    {HEADER "envFiles:\n  allowedDirs:\n    - //\n", 5, 7,
     "envFiles.allowedDirs[0]: \"/\" would let a manifest write any file", NULL},
    {HEADER "envFiles:\n  allowedDirs: /etc/raxx\n", 4, 16,
     "envFiles.allowedDirs must be a list of absolute directories, not a scalar", NULL},
    {HEADER "envFiles:\n  reload:\n    vault-host:\n      argv: []\n", 6, 13,
     "envFiles.reload.vault-host.argv must not be empty", NULL},
    {HEADER "envFiles:\n  reload:\n    vault-host:\n      argv: [systemctl, \"\"]\n", 6, 25,
     "envFiles.reload.vault-host.argv[1] must not be empty", NULL},
    {HEADER "envFiles:\n  reload:\n    vault-host:\n      argv: [true]\n      timeout: 2h\n", 7, 16,
     "envFiles.reload.vault-host.timeout must be between 1s and 1h, not 2h", NULL},
    {HEADER "envFiles:\n  reload:\n    vault-host: {timeout: 5s}\n", 5, 17,
     "envFiles.reload.vault-host.argv is required", NULL},
    {HEADER "envFiles:\n  reload:\n    vault-host: {argv: [a]}\n    vault-host: {argv: [b]}\n", 6,
     5, "envFiles.reload.vault-host is defined twice (first at line 5, column 5)", NULL},
    /* source */
    {HEADER "source:\n  url: https://github.com/raxx/x.git\n  auth:\n"
            "    token: {env: GIT_TOKEN}\n    sshKey: {file: /etc/rotor/id_ed25519}\n"
            "    knownHosts: /etc/rotor/known_hosts\n",
     6, 5, "source.auth must have only one of token and sshKey", NULL},
    {HEADER "source:\n  url: git@github.com:raxx/x.git\n  auth:\n"
            "    sshKey: {file: /etc/rotor/id_ed25519}\n",
     6, 5, "source.auth.knownHosts is required with sshKey", NULL},
    {HEADER "source:\n  url: git@github.com:raxx/x.git\n  auth: {token: {env: GIT_TOKEN}}\n", 4, 8,
     "source.url: auth.token needs an https:// URL", NULL},
    {HEADER "source:\n  url: ftp://example.com/x.git\n", 4, 8,
     "source.url must be an https:// or ssh:// URL", NULL},
    {HEADER "source:\n  url: https://github.com/raxx/x.git\n  interval: 5s\n", 5, 13,
     "source.interval must be at least 10s, not 5s", NULL},
    {HEADER "source:\n  branch: main\n", 4, 3, "source.url is required", NULL},
    {HEADER "source:\n  url: https://github.com/raxx/x.git\n  branch: a..b\n", 5, 11,
     "source.branch: \"a..b\" is not a valid branch name", NULL},
    {HEADER "source:\n  url: https://github.com/raxx/x.git\n  path: /aws\n", 5, 9,
     "source.path is a directory inside the repository: write it without a leading /", NULL},
    /* controller, audit */
    {HEADER "controller:\n  workers: 0\n", 4, 12,
     "controller.workers must be between 1 and 64, not 0", NULL},
    {HEADER "controller:\n  listen: 127.0.0.1:99999\n", 4, 11,
     "controller.listen: \"127.0.0.1:99999\" has a port that is not a number between 1 and "
     "65535",
     NULL},
    {HEADER "controller:\n  listen: localhost\n", 4, 11,
     "controller.listen: \"localhost\" has no port", NULL},
    {HEADER "controller:\n  listen: rotor.internal:9464\n", 4, 11,
     "controller.listen: \"rotor.internal:9464\" is not an address to listen on; write "
     "IPv4:PORT such as 127.0.0.1:9464, [IPv6]:PORT such as [::1]:9464, or localhost:PORT",
     NULL},
    {HEADER "controller:\n  listen: \"[::g]:9464\"\n", 4, 11,
     "controller.listen: \"[::g]:9464\" is not an address to listen on; write "
     "IPv4:PORT such as 127.0.0.1:9464, [IPv6]:PORT such as [::1]:9464, or localhost:PORT",
     NULL},
    {HEADER "controller:\n  resync: 0s\n", 4, 11, "controller.resync must be at least 1s, not 0s",
     NULL},
    {HEADER "controller:\n  resync: 10\n", 4, 11, "controller.resync: invalid duration", NULL},
    {HEADER "audit:\n  path: var/log/rotor.jsonl\n", 4, 9,
     "audit.path must be an absolute path, not \"var/log/rotor.jsonl\"", NULL},
    {HEADER "audit:\n  file: /var/log/rotor.jsonl\n", 4, 3, "audit.path is required", NULL},
    /* notifications */
    {HEADER "notifications:\n  - name: a\n", 4, 5,
     "notifications[0] needs exactly one of webhook and slack", NULL},
    {HEADER "notifications:\n  - name: a\n    slack: {url: {env: X}}\n    events: [nope]\n", 6, 14,
     "notifications[0].events[0] must be one of rotated, deactivated, deleted, held, stalled, "
     "failed, overdue, reminder",
     NULL},
};

static void test_each_error(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct rotor_config *cfg = (struct rotor_config *)1;
		struct rotor_diags d;
		int rc = parse(bc->yaml, &cfg, &d);
		if (rc != ROTOR_EINVALID || cfg != NULL) {
			rotor_diags_print(&d, stdout);
			fail_msg("case %zu (%s): rc %d, config %p", i, bc->want, rc, (void *)cfg);
		}
		expect_diag(&d, ROTOR_DIAG_ERROR, bc->line, bc->col, bc->want);
		if (bc->absent)
			expect_nowhere(&d, bc->absent);
		rotor_diags_dispose(&d);
	}
}

static void test_many_errors_all_reported(void **state)
{
	(void)state;
	static const char yaml[] = HEADER "connections:\n"
	                                  "  aws:\n"
	                                  "    aws-prod:\n"
	                                  "      region: nowhere\n"
	                                  "  infisical:\n"
	                                  "    infisical-main:\n"
	                                  "      siteUrl: https://app.infisical.com\n"
	                                  "      clientId: {env: INFISICAL_CLIENT_ID}\n"
	                                  "      clientSecret: hunter2-literal\n"
	                                  "envFiles:\n"
	                                  "  allowedDirs: [relative/dir]\n"
	                                  "controller:\n"
	                                  "  workers: 65\n"
	                                  "  lisen: 127.0.0.1:9464\n"
	                                  "audit:\n"
	                                  "  path: audit.jsonl\n";
	struct rotor_config *cfg = NULL;
	struct rotor_diags d;
	assert_int_equal(parse(yaml, &cfg, &d), ROTOR_EINVALID);
	assert_null(cfg);
	expect_diag(&d, ROTOR_DIAG_ERROR, 6, 15, "does not look like an AWS region");
	expect_diag(&d, ROTOR_DIAG_ERROR, 11, 21, "never a literal secret");
	expect_diag(&d, ROTOR_DIAG_ERROR, 13, 17, "envFiles.allowedDirs[0] must be an absolute");
	expect_diag(&d, ROTOR_DIAG_ERROR, 15, 12, "controller.workers must be between 1 and 64");
	expect_diag(&d, ROTOR_DIAG_ERROR, 16, 3,
	            "unknown field \"lisen\" in controller; did you mean \"listen\"?");
	expect_diag(&d, ROTOR_DIAG_ERROR, 18, 9, "audit.path must be an absolute path");
	assert_int_equal(d.nerrors, 6);
	expect_nowhere(&d, "hunter2");
	/* Sorted and printed as file:line:col: message. */
	char line[1024];
	rotor_diags_sort(&d);
	rotor_diag_format(&d.items[0], line, sizeof(line));
	assert_string_equal(line, "rotor.yaml:6:15: connections.aws.aws-prod.region: \"nowhere\" "
	                          "does not look like an AWS region such as us-east-1");
	rotor_diags_dispose(&d);
}

/* Warnings alone still give a config. */
static void test_warnings(void **state)
{
	(void)state;
	static const char yaml[] = HEADER "connections:\n"
	                                  "  aws:\n"
	                                  "    aws-cn:\n"
	                                  "      region: cn-north-1\n"
	                                  "  heroku:\n"
	                                  "    heroku-main:\n"
	                                  "      apiUrl: http://api.example.com\n"
	                                  "      token: {env: HEROKU_API_KEY}\n"
	                                  "  github:\n"
	                                  "    github-main:\n"
	                                  "      apiUrl: http://[::1]:8080/\n"
	                                  "      token: {env: GITHUB_TOKEN}\n"
	                                  "envFiles:\n"
	                                  "  allowedDirs: [/etc, /srv/raxx, /srv/raxx/]\n"
	                                  "source:\n"
	                                  "  url: http://git.example.com/raxx/x.git\n";
	struct rotor_config *cfg = NULL;
	struct rotor_diags d;
	assert_int_equal(parse(yaml, &cfg, &d), 0);
	assert_non_null(cfg);
	expect_diag(&d, ROTOR_DIAG_WARNING, 6, 15,
	            "region: cn-north-1 is a region of partition aws-cn, but the connection's "
	            "partition is aws; set partition: aws-cn");
	expect_diag(&d, ROTOR_DIAG_WARNING, 9, 15,
	            "connections.heroku.heroku-main.apiUrl uses plain http:// to api.example.com: "
	            "credentials would travel unencrypted; use https://");
	expect_diag(&d, ROTOR_DIAG_WARNING, 16, 17,
	            "envFiles.allowedDirs[0]: /etc is a system directory");
	expect_diag(&d, ROTOR_DIAG_WARNING, 16, 34,
	            "envFiles.allowedDirs[2]: /srv/raxx is listed twice");
	expect_diag(
	    &d, ROTOR_DIAG_WARNING, 18, 8,
	    "source.url uses plain http:// to git.example.com: the manifests could be altered "
	    "in transit");
	assert_int_equal(d.nwarnings, 5); /* not the loopback github URL */
	assert_int_equal(d.nerrors, 0);
	assert_string_equal(cfg->github[0].api_url, "http://[::1]:8080");
	assert_int_equal(cfg->nallowed_dirs, 2);
	rotor_config_free(cfg);
	rotor_diags_dispose(&d);
}

static void test_size_cap(void **state)
{
	(void)state;
	size_t len = ROTOR_CONFIG_FILE_MAX + 1;
	char *big = malloc(len);
	struct rotor_config *cfg = NULL;
	struct rotor_diags d;
	assert_non_null(big);
	memset(big, ' ', len);
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_parse(&cfg, "big.yaml", big, len, &d), ROTOR_EINVALID);
	assert_null(cfg);
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.items[0].file, "big.yaml");
	assert_non_null(strstr(d.items[0].message, "more than the 1048576 allowed"));
	rotor_diags_dispose(&d);
	free(big);
}

/* ---- resolving secrets ------------------------------------------------- */

/* A temporary file holding content, with the given mode; path into buf. */
static void temp_secret(char *path, size_t len, const char *content, mode_t mode)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, len, "%s/rotor-test-config-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static struct rotor_config *parse_ok(const char *yaml)
{
	struct rotor_config *cfg = NULL;
	struct rotor_diags d;
	if (parse(yaml, &cfg, &d) != 0) {
		rotor_diags_print(&d, stdout);
		fail_msg("config did not parse");
	}
	rotor_diags_dispose(&d);
	return cfg;
}

/* controller.listen takes IPv6 in brackets, and 0.0.0.0 for a pod's probes */
static void test_listen_addresses(void **state)
{
	(void)state;
	const char *ok[] = {"[::1]:9464", "[::]:9464", "0.0.0.0:9464", "localhost:9464"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char yaml[512];
		snprintf(yaml, sizeof(yaml), HEADER "controller:\n  listen: \"%s\"\n", ok[i]);
		struct rotor_config *cfg = parse_ok(yaml);
		assert_string_equal(cfg->listen, ok[i]);
		rotor_config_free(cfg);
	}
}

static void test_resolve_env_and_file(void **state)
{
	(void)state;
	char path[512], yaml[2048], buf[256];
	struct rotor_diags d;
	size_t before = rotor_redact_count();
	temp_secret(path, sizeof(path), "file-secret-Zq81xN\n", 0600);
	assert_int_equal(setenv("ROTOR_TEST_CLIENT_ID", "client-id-4d7e19", 1), 0);
	snprintf(yaml, sizeof(yaml),
	         HEADER "connections:\n  infisical:\n    infisical-main:\n"
	                "      siteUrl: https://app.infisical.com\n"
	                "      clientId: {env: ROTOR_TEST_CLIENT_ID}\n"
	                "      clientSecret: {file: %s}\n",
	         path);
	struct rotor_config *cfg = parse_ok(yaml);
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_resolve_secrets(cfg, ROTOR_DIAG_ERROR, &d), 0);
	if (d.n)
		rotor_diags_print(&d, stdout);
	assert_int_equal(d.n, 0);
	const struct rotor_infisical_connection *inf =
	    rotor_config_infisical(cfg, "infisical-main");
	assert_string_equal(rotor_secret_bytes(inf->client_id.value), "client-id-4d7e19");
	/* One trailing newline is stripped. */
	assert_string_equal(rotor_secret_bytes(inf->client_secret.value), "file-secret-Zq81xN");
	assert_int_equal(rotor_redact_count(), before + 2);

	/* Both values are redacted wherever they appear. */
	snprintf(buf, sizeof(buf), "id=%s secret=%s", "client-id-4d7e19", "file-secret-Zq81xN");
	assert_int_equal(rotor_redact(buf, sizeof(buf)), 2);
	assert_string_equal(buf, "id=[REDACTED] secret=[REDACTED]");

	/* Resolving again replaces the values, it does not leak or double them. */
	assert_int_equal(rotor_config_resolve_secrets(cfg, ROTOR_DIAG_ERROR, &d), 0);
	assert_int_equal(rotor_redact_count(), before + 2);

	rotor_config_free(cfg);
	assert_int_equal(rotor_redact_count(), before);
	rotor_diags_dispose(&d);
	unlink(path);
	unsetenv("ROTOR_TEST_CLIENT_ID");
}

static void test_resolve_group_readable_file_warns(void **state)
{
	(void)state;
	char path[512], yaml[2048], want[1024];
	struct rotor_diags d;
	temp_secret(path, sizeof(path), "heroku-token-0644\r\n", 0644);
	snprintf(yaml, sizeof(yaml),
	         HEADER "connections:\n  heroku:\n    heroku-main:\n      token: {file: %s}\n",
	         path);
	struct rotor_config *cfg = parse_ok(yaml);
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_resolve_secrets(cfg, ROTOR_DIAG_ERROR, &d), 0);
	snprintf(want, sizeof(want),
	         "connections.heroku.heroku-main.token: %s is readable by group or others (mode "
	         "0644): run chmod 600 %s",
	         path, path);
	expect_diag(&d, ROTOR_DIAG_WARNING, 6, 14, want);
	assert_int_equal(d.nerrors, 0);
	assert_string_equal(rotor_secret_bytes(cfg->heroku[0].token.value), "heroku-token-0644");
	rotor_config_free(cfg);
	rotor_diags_dispose(&d);
	unlink(path);
}

static void test_resolve_missing(void **state)
{
	(void)state;
	static const char yaml[] =
	    HEADER "connections:\n"
	           "  infisical:\n"
	           "    infisical-main:\n"
	           "      siteUrl: https://app.infisical.com\n"
	           "      clientId: {file: /nonexistent/rotor-test/client-id}\n"
	           "      clientSecret: {env: INFISICAL_CLIENT_SECRET}\n"
	           "  github:\n"
	           "    github-main:\n"
	           "      token: {env: ROTOR_TEST_EMPTY}\n";
	struct rotor_diags d;
	unsetenv("INFISICAL_CLIENT_SECRET");
	assert_int_equal(setenv("ROTOR_TEST_EMPTY", "", 1), 0);
	struct rotor_config *cfg = parse_ok(yaml);
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_resolve_secrets(cfg, ROTOR_DIAG_ERROR, &d), ROTOR_EINVALID);
	expect_diag(&d, ROTOR_DIAG_ERROR, 8, 21,
	            "connections.infisical.infisical-main.clientSecret: environment variable "
	            "INFISICAL_CLIENT_SECRET is not set");
	expect_diag(&d, ROTOR_DIAG_ERROR, 7, 17,
	            "connections.infisical.infisical-main.clientId: cannot read "
	            "/nonexistent/rotor-test/client-id: No such file or directory");
	expect_diag(
	    &d, ROTOR_DIAG_ERROR, 11, 14,
	    "connections.github.github-main.token: environment variable ROTOR_TEST_EMPTY is "
	    "empty");
	assert_int_equal(d.nerrors, 3);
	assert_null(cfg->infisical[0].client_secret.value);
	rotor_diags_dispose(&d);

	/* `validate` passes a warning: the secrets may live elsewhere. */
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_resolve_secrets(cfg, ROTOR_DIAG_WARNING, &d), 0);
	assert_int_equal(d.nerrors, 0);
	assert_int_equal(d.nwarnings, 3);
	expect_diag(&d, ROTOR_DIAG_WARNING, 8, 21, "INFISICAL_CLIENT_SECRET is not set");
	rotor_diags_dispose(&d);
	rotor_config_free(cfg);
	unsetenv("ROTOR_TEST_EMPTY");
}

static void test_resolve_empty_file_and_directory(void **state)
{
	(void)state;
	char path[512], yaml[2048], want[1024];
	struct rotor_diags d;
	temp_secret(path, sizeof(path), "\n", 0600);
	snprintf(yaml, sizeof(yaml),
	         HEADER "source:\n  url: https://github.com/raxx/x.git\n"
	                "  auth: {token: {file: %s}}\n"
	                "connections:\n  github:\n    github-main:\n      token: {file: /}\n",
	         path);
	struct rotor_config *cfg = parse_ok(yaml);
	rotor_diags_init(&d);
	assert_int_equal(rotor_config_resolve_secrets(cfg, ROTOR_DIAG_ERROR, &d), ROTOR_EINVALID);
	snprintf(want, sizeof(want), "source.auth.token: %s is empty", path);
	expect_diag(&d, ROTOR_DIAG_ERROR, 5, 17, want);
	expect_diag(&d, ROTOR_DIAG_ERROR, 9, 14,
	            "connections.github.github-main.token: / is not a regular file");
	rotor_config_free(cfg);
	rotor_diags_dispose(&d);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contract_example),
	    cmocka_unit_test(test_defaults_and_normalisation),
	    cmocka_unit_test(test_each_error),
	    cmocka_unit_test(test_many_errors_all_reported),
	    cmocka_unit_test(test_warnings),
	    cmocka_unit_test(test_size_cap),
	    cmocka_unit_test(test_listen_addresses),
	    cmocka_unit_test(test_resolve_env_and_file),
	    cmocka_unit_test(test_resolve_group_readable_file_warns),
	    cmocka_unit_test(test_resolve_missing),
	    cmocka_unit_test(test_resolve_empty_file_and_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
