/*
 * test_chain.c: the AWS credential chain (providers/aws/chain.c) and
 * endpoint resolution (providers/aws/endpoints.c).
 *
 * Sources are exercised against tests/doubles/metadata_double.py (container
 * endpoint and IMDSv2) and, for everything that calls STS (a role on top,
 * web identity, profile role chains), tests/doubles/aws_double.py. Every
 * test starts from a scrubbed environment: no AWS_* variables, HOME a fresh
 * empty directory, and IMDS disabled unless the test points it at a double,
 * so nothing here ever reaches a real metadata service.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "providers/aws/aws.h"
#include "rotor/clock.h"
#include "rotor/error.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "testsupport.h"
#include "util/http.h"

#define ENV_AKID "AKIAENVIRONMENT00001"
#define ENV_SECRET "envSecretKeyEnvSecretKeyEnvSecretKey0001"
#define ENV_TOKEN "envSessionTokenEnvSessionToken0001"
#define MD_AKID "ASIAMETADATA00000001"
#define MD_SECRET "metadataSecretMetadataSecretMetadata0001"
#define MD_TOKEN "metadataSessionTokenMetadataSession0001"
#define MD_EXPIRATION "2030-01-01T00:00:00Z"
#define CONTAINER_TOKEN "Bearer containerAuthToken0001"
#define MANAGER_AKID "AKIAMANAGER000000001"
#define MANAGER_SECRET "managersecretmanagersecretmanagersecret1"
#define WEB_TOKEN "eyJhbGciOiJSUzI1NiJ9.webIdentityTokenForTests.sig0001"

static struct test_server md_auth;   /* --container-token CONTAINER_TOKEN */
static struct test_server md_open;   /* no container token */
static struct test_server md_norole; /* IMDS without an instance role */
static struct test_server aws;       /* IAM/STS double; port 0 when it did not start */
static char tmpdir[256];

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_STS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "ROTOR_TEST_TIME",
    NULL,
};

/* ---- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	const char *auth_args[] = {"--akid",        MD_AKID,       "--secret",
	                           MD_SECRET,       "--token",     MD_TOKEN,
	                           "--expiration",  MD_EXPIRATION, "--container-token",
	                           CONTAINER_TOKEN, NULL};
	const char *open_args[] = {"--akid", MD_AKID,        "--secret",    MD_SECRET, "--token",
	                           MD_TOKEN, "--expiration", MD_EXPIRATION, NULL};
	const char *aws_args[] = {"--manager-key", MANAGER_AKID ":" MANAGER_SECRET, NULL};
	rotor_log_setup(stderr, ROTOR_LOG_ERROR, ROTOR_LOG_TEXT, NULL);
	const char *norole_args[] = {"--no-role", NULL};
	if (test_server_start(&md_auth, "metadata_double.py", auth_args) != 0 ||
	    test_server_start(&md_open, "metadata_double.py", open_args) != 0 ||
	    test_server_start(&md_norole, "metadata_double.py", norole_args) != 0)
		return -1;
	/* The STS tests need the IAM/STS double; without it they skip. */
	if (test_server_start(&aws, "aws_double.py", aws_args) != 0)
		memset(&aws, 0, sizeof(aws));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	test_server_stop(&md_auth);
	test_server_stop(&md_open);
	test_server_stop(&md_norole);
	if (aws.port)
		test_server_stop(&aws);
	return 0;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			char sub[1024];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			struct stat st;
			if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
				remove_tree(sub);
			else
				unlink(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static int post(const struct test_server *s, const char *route, const char *body);

/* A scrubbed environment, an empty HOME and md_open's original
 * credentials for every test. */
static int setup(void **state)
{
	(void)state;
	if (post(&md_open, "credentials",
	         "{\"akid\": \"" MD_AKID "\", \"expiration\": \"" MD_EXPIRATION "\"}") != 200)
		return -1;
	for (size_t i = 0; aws_vars[i]; i++)
		unsetenv(aws_vars[i]);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rotor-test-chain-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	setenv("HOME", tmpdir, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_tree(tmpdir);
	return 0;
}

/* Writes tmpdir/rel (creating one level of directory) and returns its path. */
static const char *write_file(const char *rel, const char *content)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, 512, "%s/%s", tmpdir, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	mkdir(p, 0700);
	*slash = '/';
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return p;
}

/* Counts every HTTP attempt the chain makes and remembers the last few. */
struct calls {
	int n;
	int with_imds_token; /* GETs that carried X-aws-ec2-metadata-token */
	char methods[16][8];
	char urls[16][256];
};

static void on_before(void *ctx, const struct rotor_http_request *req, int attempt)
{
	struct calls *c = ctx;
	(void)attempt;
	if (c->n < 16) {
		snprintf(c->methods[c->n], sizeof(c->methods[0]), "%s", req->method);
		snprintf(c->urls[c->n], sizeof(c->urls[0]), "%s", req->url);
	}
	c->n++;
	for (size_t i = 0; i < req->nheaders; i++)
		if (!strcmp(req->headers[i].name, "X-aws-ec2-metadata-token") &&
		    req->headers[i].value[0])
			c->with_imds_token++;
}

static void chain_options(struct rotor_aws_chain_options *o, struct rotor_clock *clock,
                          struct calls *calls)
{
	memset(o, 0, sizeof(*o));
	rotor_http_options_init(&o->http);
	o->http.timeout_ms = 5000;
	o->http.backoff_base_ms = 10;
	o->clock = clock;
	o->region = "us-east-1";
	if (calls) {
		memset(calls, 0, sizeof(*calls));
		o->http.hook.before = on_before;
		o->http.hook.ctx = calls;
	}
}

/* One get through a fresh chain. */
static int chain_get_once(const struct rotor_aws_chain_options *o,
                          struct rotor_aws_credentials *out, struct rotor_error *err)
{
	struct rotor_aws_chain *chain = NULL;
	rotor_error_clear(err);
	memset(out, 0, sizeof(*out));
	assert_int_equal(rotor_aws_chain_new(&chain, o, err), 0);
	int rc = rotor_aws_chain_get(chain, out, err);
	rotor_aws_chain_free(chain);
	return rc;
}

/* A port nothing listens on: connection refused at once. */
static int closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void assert_no_secret(const char *msg)
{
	static const char *const secrets[] = {ENV_SECRET,
	                                      ENV_TOKEN,
	                                      MD_SECRET,
	                                      MD_TOKEN,
	                                      CONTAINER_TOKEN,
	                                      MANAGER_SECRET,
	                                      WEB_TOKEN,
	                                      "fileSecretFileSecretFileSecret00000001",
	                                      NULL};
	for (size_t i = 0; secrets[i]; i++)
		if (strstr(msg, secrets[i]))
			fail_msg("a secret leaked into: %s", msg);
}

static int post(const struct test_server *s, const char *route, const char *body)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/_control/%s", s->base_url, route);
	return test_http_post(url, body);
}

/* ---- endpoints ------------------------------------------------------------ */

static void test_endpoints_partitions(void **state)
{
	(void)state;
	struct rotor_aws_endpoint iam, sts;
	struct rotor_error err;
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-west-2", NULL,
	                                             NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "https://iam.amazonaws.com/");
	assert_string_equal(iam.region, "us-east-1");
	assert_string_equal(iam.service, "iam");
	assert_string_equal(sts.url, "https://sts.us-west-2.amazonaws.com/");
	assert_string_equal(sts.region, "us-west-2");
	assert_string_equal(sts.service, "sts");

	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_CN, "cn-northwest-1", NULL,
	                                             NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "https://iam.cn-north-1.amazonaws.com.cn/");
	assert_string_equal(iam.region, "cn-north-1");
	assert_string_equal(sts.url, "https://sts.cn-northwest-1.amazonaws.com.cn/");
	assert_string_equal(sts.region, "cn-northwest-1");

	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_US_GOV, "us-gov-east-1",
	                                             NULL, NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "https://iam.us-gov.amazonaws.com/");
	assert_string_equal(iam.region, "us-gov-west-1");
	assert_string_equal(sts.url, "https://sts.us-gov-east-1.amazonaws.com/");
	assert_string_equal(sts.region, "us-gov-east-1");

	/* Either output may be left out. */
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "eu-west-1", NULL,
	                                             NULL, NULL, &sts, &err),
	                 0);
	assert_string_equal(sts.url, "https://sts.eu-west-1.amazonaws.com/");
}

static void test_endpoints_overrides(void **state)
{
	(void)state;
	struct rotor_aws_endpoint iam, sts;
	struct rotor_error err;

	/* The connection's endpoints; the signing side does not move. */
	assert_int_equal(rotor_aws_resolve_endpoints(
	                     ROTOR_AWS_PARTITION_CN, "cn-north-1", "http://127.0.0.1:4566",
	                     "http://127.0.0.1:4567/sts/", &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "http://127.0.0.1:4566/");
	assert_string_equal(iam.region, "cn-north-1");
	assert_string_equal(iam.service, "iam");
	assert_string_equal(sts.url, "http://127.0.0.1:4567/sts/");
	assert_string_equal(sts.region, "cn-north-1");

	/* AWS_ENDPOINT_URL for both... */
	setenv("AWS_ENDPOINT_URL", "http://localhost:1111", 1);
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-2", NULL,
	                                             NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "http://localhost:1111/");
	assert_string_equal(iam.region, "us-east-1");
	assert_string_equal(sts.url, "http://localhost:1111/");
	assert_string_equal(sts.region, "us-east-2");

	/* ...the per-service variables beat it... */
	setenv("AWS_ENDPOINT_URL_IAM", "https://iam.example.test:2222/base", 1);
	setenv("AWS_ENDPOINT_URL_STS", "", 1); /* empty: unset */
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-2", NULL,
	                                             NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "https://iam.example.test:2222/base/");
	assert_string_equal(sts.url, "http://localhost:1111/");
	setenv("AWS_ENDPOINT_URL_STS", "http://[::1]:3333", 1);
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-2", NULL,
	                                             NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(sts.url, "http://[::1]:3333/");
	assert_string_equal(sts.region, "us-east-2");

	/* ...and the connection's endpoints beat them all. */
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-2",
	                                             "http://127.0.0.1:9/", NULL, &iam, &sts, &err),
	                 0);
	assert_string_equal(iam.url, "http://127.0.0.1:9/");
	assert_string_equal(sts.url, "http://[::1]:3333/");
}

static void test_endpoints_invalid(void **state)
{
	(void)state;
	struct rotor_aws_endpoint iam, sts;
	struct rotor_error err;
	static const char *const bad_regions[] = {"",           "US-EAST-1", "us-east",
	                                          "us--east-1", "us_east_1", "1us-east-1",
	                                          "us-east-1 ", NULL};
	rotor_error_clear(&err);
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, NULL, NULL, NULL,
	                                             &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "no region"));
	for (size_t i = 0; bad_regions[i]; i++) {
		rotor_error_clear(&err);
		assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS,
		                                             bad_regions[i], NULL, NULL, &iam, &sts,
		                                             &err),
		                 ROTOR_EINVALID);
		assert_true(strstr(err.message, "region") != NULL);
	}
	/* A region of another partition, with default URLs. */
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "cn-north-1", NULL,
	                                             NULL, &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "partition: aws-cn"));
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_CN, "us-gov-west-1", NULL,
	                                             NULL, &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "aws-us-gov"));
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-iso-east-1", NULL,
	                                             NULL, &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "isolated"));
	/* Bad override URLs name where they came from. */
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-1",
	                                             "ftp://x/", NULL, &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "connection endpoint iam"));
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-1", NULL,
	                                             "http://", &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "no host"));
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-1", NULL,
	                                             "http://h/?Action=x", &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "query"));
	setenv("AWS_ENDPOINT_URL_STS", "localhost:4566", 1);
	assert_int_equal(rotor_aws_resolve_endpoints(ROTOR_AWS_PARTITION_AWS, "us-east-1", NULL,
	                                             NULL, &iam, &sts, &err),
	                 ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "AWS_ENDPOINT_URL_STS"));
}

/* ---- 1. environment --------------------------------------------------------- */

static void test_env_credentials(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	chain_options(&o, NULL, &calls);
	setenv("AWS_ACCESS_KEY_ID", ENV_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.access_key_id, ENV_AKID);
	assert_string_equal(rotor_secret_bytes(c.secret_access_key), ENV_SECRET);
	assert_null(c.session_token);
	assert_int_equal(c.expiration, 0);
	assert_string_equal(c.source, "environment");
	/* The secret is registered for redaction while it lives. */
	char line[128];
	snprintf(line, sizeof(line), "oops %s", ENV_SECRET);
	assert_int_equal(rotor_redact(line, sizeof(line)), 1);
	assert_string_equal(line, "oops [REDACTED]");
	rotor_aws_credentials_dispose(&c);

	setenv("AWS_SESSION_TOKEN", ENV_TOKEN, 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_non_null(c.session_token);
	assert_string_equal(rotor_secret_bytes(c.session_token), ENV_TOKEN);
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 0);

	/* Half a pair is an error, not a fall-through. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "AWS_SECRET_ACCESS_KEY is not"));
	assert_no_secret(err.message);
}

/* ---- 3. shared files ------------------------------------------------------- */

static void write_shared_files(void)
{
	const char *cred = write_file(
	    "files/credentials", "# the credentials file\n"
	                         "[default]\n"
	                         "aws_access_key_id = AKIADEFAULT000000001\n"
	                         "aws_secret_access_key = defaultSecretDefaultSecretDefault0001\n"
	                         "\n"
	                         "[dev]\n"
	                         "aws_access_key_id=AKIADEV0000000000001\n"
	                         "aws_secret_access_key=devSecretDevSecretDevSecretDevSecret01\n"
	                         "aws_session_token = devSessionTokenDevSessionToken01\n"
	                         "[both]\n"
	                         "aws_access_key_id = AKIABOTHCREDFILE0001\n"
	                         "[profile cfg]\n"
	                         "aws_access_key_id = AKIANOTAPROFILENAME1\n"
	                         "aws_secret_access_key = notUsedNotUsedNotUsedNotUsedNotUsed01\n");
	const char *conf = write_file(
	    "files/config", "[default]\n"
	                    "region = eu-west-1\n"
	                    "[profile cfg]\n"
	                    "aws_access_key_id = AKIACONFIGPROFILE001\n"
	                    "aws_secret_access_key = cfgSecretCfgSecretCfgSecretCfgSecret01\n"
	                    "[cfg2]\n"
	                    "aws_access_key_id = AKIANOTINCONFIG00001\n"
	                    "aws_secret_access_key = cfg2SecretCfg2SecretCfg2SecretCfg201\n"
	                    "[profile both]\n"
	                    "aws_access_key_id = AKIABOTHCONFIG000001\n"
	                    "aws_secret_access_key = bothSecretBothSecretBothSecretBoth01\n"
	                    "[profile onlyregion]\n"
	                    "region = us-east-2\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
}

static void expect_profile(const struct rotor_aws_chain_options *o, const char *akid,
                           const char *source)
{
	struct rotor_aws_credentials c;
	struct rotor_error err;
	int rc = chain_get_once(o, &c, &err);
	if (rc)
		fail_msg("chain: %s", err.message);
	assert_string_equal(c.access_key_id, akid);
	assert_string_equal(c.source, source);
	rotor_aws_credentials_dispose(&c);
}

static void test_profile_selection(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	chain_options(&o, NULL, NULL);
	write_shared_files();

	expect_profile(&o, "AKIADEFAULT000000001", "profile default");
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIADEV0000000000001");
	assert_string_equal(rotor_secret_bytes(c.session_token),
	                    "devSessionTokenDevSessionToken01");
	rotor_aws_credentials_dispose(&c);
	/* [profile cfg] in config, not [profile cfg] of the credentials file. */
	setenv("AWS_PROFILE", "cfg", 1);
	expect_profile(&o, "AKIACONFIGPROFILE001", "profile cfg");
	/* The credentials file wins key by key over the config file. */
	setenv("AWS_PROFILE", "both", 1);
	expect_profile(&o, "AKIABOTHCREDFILE0001", "profile both");
	/* [cfg2] in the config file is not a profile. */
	setenv("AWS_PROFILE", "cfg2", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "profile \"cfg2\" not found in"));
	assert_non_null(strstr(err.message, "files/credentials or"));
	/* A profile without keys is reported as such. */
	setenv("AWS_PROFILE", "onlyregion", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "profile \"onlyregion\" has no credentials"));
	/* The connection's profile beats AWS_PROFILE. */
	o.profile = "dev";
	expect_profile(&o, "AKIADEV0000000000001", "profile dev");
}

static void test_profile_home(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	chain_options(&o, NULL, NULL);
	/* Nothing in HOME yet: the message names the default paths. */
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(
	    err.message, "profile \"default\" not found in ~/.aws/credentials or ~/.aws/config"));
	write_file(".aws/config", "[profile work]\n"
	                          "aws_access_key_id = AKIAHOMECONFIG000001\n"
	                          "aws_secret_access_key = homeSecretHomeSecretHomeSecretHome01\n");
	setenv("AWS_PROFILE", "work", 1);
	expect_profile(&o, "AKIAHOMECONFIG000001", "profile work");
	write_file(".aws/credentials",
	           "[work]\n"
	           "aws_access_key_id = AKIAHOMECREDS0000001\n"
	           "aws_secret_access_key = homeSecretHomeSecretHomeSecretHome02\n");
	expect_profile(&o, "AKIAHOMECREDS0000001", "profile work");
	/* "~/" in the variables means HOME. */
	write_file("elsewhere/creds",
	           "[work]\n"
	           "aws_access_key_id = AKIATILDE00000000001\n"
	           "aws_secret_access_key = tildeSecretTildeSecretTildeSecret001\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/elsewhere/creds", 1);
	expect_profile(&o, "AKIATILDE00000000001", "profile work");
}

static void test_precedence_env_profile(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	chain_options(&o, NULL, &calls);
	write_shared_files();
	setenv("AWS_ACCESS_KEY_ID", ENV_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET, 1);
	/* AWS_PROFILE only picks the profile for step 3: the environment wins. */
	setenv("AWS_PROFILE", "dev", 1);
	expect_profile(&o, ENV_AKID, "environment");
	/* A profile the connection names wins over the environment... */
	o.profile = "dev";
	expect_profile(&o, "AKIADEV0000000000001", "profile dev");
	/* ...and is the only source: when it is missing, nothing else is tried
	 * (not the environment, not the container endpoint). */
	o.profile = "nope";
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds", 1);
	o.container_host_url = md_open.base_url;
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "profile \"nope\" not found"));
	assert_non_null(strstr(err.message, "the connection names this profile"));
	assert_int_equal(calls.n, 0);
	assert_no_secret(err.message);
}

static void test_ini_dialect(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	chain_options(&o, NULL, NULL);
	const char *cred = write_file(
	    "ini/credentials", "; a comment\n"
	                       "   # another, indented\n"
	                       "[Dev]\n"
	                       "aws_access_key_id = AKIAUPPERCASESECTION\n"
	                       "aws_secret_access_key = upperSecretUpperSecretUpperSecret0001\n"
	                       "  [ dev ]  \r\n"
	                       "AWS_ACCESS_KEY_ID\t=\tAKIALOWERCASESECTION  \r\n"
	                       "s3 =\n"
	                       "    aws_access_key_id = AKIANESTEDNOTUSED001\n"
	                       "    max_concurrent_requests = 10\n"
	                       "Aws_Secret_Access_Key: lower#Secret;Lower/Secret+Lower000001\r\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", write_file("ini/config", ""), 1);
	o.profile = "dev";
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIALOWERCASESECTION");
	/* No inline comments: '#' and ';' belong to the value (botocore). */
	assert_string_equal(rotor_secret_bytes(c.secret_access_key),
	                    "lower#Secret;Lower/Secret+Lower000001");
	rotor_aws_credentials_dispose(&c);
	o.profile = "Dev";
	expect_profile(&o, "AKIAUPPERCASESECTION", "profile Dev");

	/* A malformed line: the message gives the line, never its content. */
	cred = write_file("ini/credentials", "[default]\n"
	                                     "aws_access_key_id = AKIAFILE000000000001\n"
	                                     "fileSecretFileSecretFileSecret00000001\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	o.profile = NULL;
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "credentials:3:"));
	assert_no_secret(err.message);
	/* Half a pair in a profile is an error too. */
	cred =
	    write_file("ini/credentials", "[default]\naws_access_key_id = AKIAFILE000000000001\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "aws_secret_access_key is not"));
}

static void test_profile_role_loops(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	chain_options(&o, NULL, &calls);
	setenv(
	    "AWS_CONFIG_FILE",
	    write_file(
	        "loop/config",
	        "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = b\n"
	        "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = a\n"
	        "[profile c1]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = c2\n"
	        "[profile c2]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = c3\n"
	        "[profile c3]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = c4\n"
	        "[profile c4]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = c5\n"
	        "[profile c5]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = c6\n"
	        "[profile c6]\naws_access_key_id = AKIADEEP000000000001\n"
	        "aws_secret_access_key = deepSecretDeepSecretDeepSecretDeep01\n"
	        "[profile both]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
	        "source_profile = c6\ncredential_source = Environment\n"
	        "[profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
	        "source_profile = c6\nmfa_serial = arn:aws:iam::123456789012:mfa/me\n"),
	    1);
	o.profile = "a";
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "loop"));
	o.profile = "c1";
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "longer than 4"));
	o.profile = "both";
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "exactly one of"));
	o.profile = "mfa";
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "mfa_serial"));
	assert_int_equal(calls.n, 0); /* refused before any STS call */
}

/* ---- 4. container ---------------------------------------------------------- */

static void test_container_with_token(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	char url[256];
	chain_options(&o, NULL, &calls);
	o.container_host_url = md_auth.base_url;
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN, 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.access_key_id, MD_AKID);
	assert_string_equal(rotor_secret_bytes(c.secret_access_key), MD_SECRET);
	assert_string_equal(rotor_secret_bytes(c.session_token), MD_TOKEN);
	assert_true(c.expiration == rotor_time_from_civil(2030, 1, 1, 0, 0, 0));
	assert_string_equal(c.source, "container");
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 1);
	assert_string_equal(calls.methods[0], "GET");
	snprintf(url, sizeof(url), "%s/creds", md_auth.base_url);
	assert_string_equal(calls.urls[0], url);

	/* The token file wins over the variable (and is re-read each time). */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrongwrongwrong", 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	       write_file("eks/token", CONTAINER_TOKEN "\n"), 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	rotor_aws_credentials_dispose(&c);

	/* FULL_URI to a loopback address. */
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.source, "container");
	rotor_aws_credentials_dispose(&c);

	/* A refused token stops the chain (no fall-through to IMDS). */
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	o.imds_url = md_open.base_url;
	calls.n = 0;
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "HTTP 401"));
	assert_non_null(strstr(err.message, "refused"));
	assert_no_secret(err.message);
	assert_int_equal(calls.n, 1);

	/* FULL_URI over plain http to another host is refused outright. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "FULL_URI"));
}

static void test_container_without_token(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	chain_options(&o, NULL, &calls);
	o.container_host_url = md_open.base_url;
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.access_key_id, MD_AKID);
	assert_string_equal(c.source, "container");
	rotor_aws_credentials_dispose(&c);
	/* The endpoint that wants a token says so. */
	o.container_host_url = md_auth.base_url;
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "AWS_CONTAINER_AUTHORIZATION_TOKEN"));
}

/* ---- 5. IMDSv2 ------------------------------------------------------------- */

static void test_imds(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	char url[256];
	chain_options(&o, NULL, &calls);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	o.imds_url = md_open.base_url;
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.access_key_id, MD_AKID);
	assert_string_equal(rotor_secret_bytes(c.secret_access_key), MD_SECRET);
	assert_string_equal(rotor_secret_bytes(c.session_token), MD_TOKEN);
	assert_true(c.expiration == rotor_time_from_civil(2030, 1, 1, 0, 0, 0));
	assert_string_equal(c.source, "instance metadata");
	rotor_aws_credentials_dispose(&c);
	/* Token first, then the role name and its credentials, both with the
	 * token (the double answers 401 without it). */
	assert_int_equal(calls.n, 3);
	assert_string_equal(calls.methods[0], "PUT");
	snprintf(url, sizeof(url), "%s/latest/api/token", md_open.base_url);
	assert_string_equal(calls.urls[0], url);
	assert_string_equal(calls.methods[1], "GET");
	snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/",
	         md_open.base_url);
	assert_string_equal(calls.urls[1], url);
	snprintf(url, sizeof(url),
	         "%s/latest/meta-data/iam/security-credentials/rotor-instance-role",
	         md_open.base_url);
	assert_string_equal(calls.urls[2], url);
	assert_int_equal(calls.with_imds_token, 2);
	/* AWS_EC2_METADATA_SERVICE_ENDPOINT works as the SDKs' equivalent. */
	o.imds_url = NULL;
	snprintf(url, sizeof(url), "%s/", md_open.base_url);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.source, "instance metadata");
	rotor_aws_credentials_dispose(&c);
}

static void test_imds_no_role(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	chain_options(&o, NULL, &calls);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	o.imds_url = md_norole.base_url;
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "no IAM role attached to the instance"));
	assert_int_equal(calls.n, 2);
}

static void test_imds_disabled(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	chain_options(&o, NULL, &calls);
	o.imds_url = md_open.base_url;
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(
	    strstr(err.message, "instance metadata disabled (AWS_EC2_METADATA_DISABLED"));
	assert_int_equal(calls.n, 0);
}

static void test_nothing_found(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	char imds[64];
	struct rotor_clock clk;
	rotor_clock_fixed_init(&clk, 1790000000);
	chain_options(&o, &clk, &calls);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	snprintf(imds, sizeof(imds), "http://127.0.0.1:%d", closed_port());
	o.imds_url = imds;
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_int_equal(strncmp(err.message, "no AWS credentials: ", 20), 0);
	assert_non_null(strstr(err.message, "AWS_ACCESS_KEY_ID not set"));
	assert_non_null(
	    strstr(err.message, "no web identity token (AWS_WEB_IDENTITY_TOKEN_FILE not set)"));
	assert_non_null(strstr(err.message, "profile \"default\" not found in ~/.aws/credentials "
	                                    "or ~/.aws/config"));
	assert_non_null(strstr(err.message, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
	assert_non_null(strstr(err.message, "instance metadata token"));
	assert_non_null(strstr(err.message, "could not connect"));
	assert_int_equal(calls.n, 2); /* two attempts at the token, then give up */
}

/* ---- caching -------------------------------------------------------------------- */

static void test_cache_and_refresh(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct calls calls;
	struct rotor_clock clk;
	struct rotor_aws_chain *chain = NULL;
	int64_t expiry = rotor_time_from_civil(2030, 1, 1, 0, 0, 0);
	rotor_clock_fixed_init(&clk, expiry - 86400);
	chain_options(&o, &clk, &calls);
	o.container_host_url = md_open.base_url;
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds", 1);
	assert_int_equal(rotor_aws_chain_new(&chain, &o, &err), 0);

	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	assert_int_equal(calls.n, 1);
	rotor_aws_credentials_dispose(&c);
	/* Cached: no second call, also through the provider interface. */
	struct rotor_aws_creds_provider p = rotor_aws_chain_provider(chain);
	assert_int_equal(p.get(p.ctx, &c, &err), 0);
	assert_string_equal(c.access_key_id, MD_AKID);
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 1);
	/* Six minutes before expiry: still cached. */
	rotor_clock_fixed_set(&clk, expiry - 360);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 1);

	/* Inside the 5-minute window: refreshed, and the new pair is used. */
	assert_int_equal(post(&md_open, "credentials",
	                      "{\"akid\": \"ASIAREFRESHED0000001\", "
	                      "\"expiration\": \"2030-01-02T00:00:00Z\"}"),
	                 200);
	rotor_clock_fixed_set(&clk, expiry - 299);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	assert_int_equal(calls.n, 2);
	assert_string_equal(c.access_key_id, "ASIAREFRESHED0000001");
	assert_true(c.expiration == expiry + 86400);
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 2);

	/* A failed refresh while the cached pair is still valid keeps it... */
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/gone", 1);
	rotor_clock_fixed_set(&clk, expiry + 86400 - 200);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	assert_string_equal(c.access_key_id, "ASIAREFRESHED0000001");
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 3);
	/* ...without retrying on every get... */
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	rotor_aws_credentials_dispose(&c);
	assert_int_equal(calls.n, 3);
	/* ...but not past its expiry. */
	rotor_clock_fixed_set(&clk, expiry + 86400 + 1);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "HTTP 404"));
	assert_int_equal(calls.n, 4);
	rotor_aws_chain_free(chain);
}

/* Many workers asking at once: one refresh, everyone gets the same pair. */
struct getter {
	struct rotor_aws_chain *chain;
	int rc;
	char akid[32];
};

static void *get_in_thread(void *arg)
{
	struct getter *g = arg;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	g->rc = rotor_aws_chain_get(g->chain, &c, &err);
	if (g->rc == 0)
		snprintf(g->akid, sizeof(g->akid), "%s", c.access_key_id);
	rotor_aws_credentials_dispose(&c);
	return NULL;
}

static void test_concurrent_gets(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_error err;
	struct calls calls;
	struct rotor_aws_chain *chain = NULL;
	pthread_t th[8];
	struct getter g[8];
	chain_options(&o, NULL, &calls);
	o.container_host_url = md_open.base_url;
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds", 1);
	assert_int_equal(rotor_aws_chain_new(&chain, &o, &err), 0);
	for (int i = 0; i < 8; i++) {
		memset(&g[i], 0, sizeof(g[i]));
		g[i].chain = chain;
		assert_int_equal(pthread_create(&th[i], NULL, get_in_thread, &g[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(g[i].rc, 0);
		assert_string_equal(g[i].akid, MD_AKID);
	}
	assert_int_equal(calls.n, 1);
	rotor_aws_chain_free(chain);
}

/* ---- STS: a role on top, web identity, profile role chains -------------- */

static int need_sts(void)
{
	if (!aws.port) {
		print_message("aws_double.py did not start: skipping\n");
		skip();
	}
	return 1;
}

static void test_role_on_top_of_env(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct rotor_secret *ext = NULL;
	need_sts();
	assert_int_equal(post(&aws, "roles", "{\"name\": \"rotor-top\", \"manager\": true}"), 200);
	assert_int_equal(
	    post(&aws, "roles", "{\"name\": \"rotor-ext\", \"external_id\": \"ext-5678-abcd\"}"),
	    200);
	chain_options(&o, NULL, NULL);
	o.sts_url = aws.base_url;
	setenv("AWS_ACCESS_KEY_ID", MANAGER_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", MANAGER_SECRET, 1);
	o.role_arn = "arn:aws:iam::123456789012:role/rotor-top";
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_int_equal(strncmp(c.access_key_id, "ASIA", 4), 0);
	assert_non_null(c.session_token);
	assert_true(c.expiration > 0);
	assert_string_equal(c.source,
	                    "role arn:aws:iam::123456789012:role/rotor-top via environment");
	rotor_aws_credentials_dispose(&c);

	/* The role's ExternalId must be sent. */
	o.role_arn = "arn:aws:iam::123456789012:role/rotor-ext";
	assert_int_equal(chain_get_once(&o, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "AccessDenied"));
	assert_non_null(strstr(err.message, "with credentials from environment"));
	assert_no_secret(err.message);
	assert_int_equal(rotor_secret_from_str(&ext, "ext-5678-abcd", 0, &err), 0);
	o.external_id = ext;
	o.session_name = "rotor-test";
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_int_equal(strncmp(c.access_key_id, "ASIA", 4), 0);
	rotor_aws_credentials_dispose(&c);
	rotor_secret_free(ext);
}

static void test_web_identity(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	struct rotor_aws_chain *chain = NULL;
	struct rotor_clock clk;
	need_sts();
	rotor_clock_fixed_init(&clk, (int64_t)time(NULL));
	assert_int_equal(post(&aws, "roles", "{\"name\": \"irsa\"}"), 200);
	assert_int_equal(post(&aws, "web-identity-tokens", "{\"token\": \"" WEB_TOKEN "\"}"), 200);
	chain_options(&o, &clk, NULL);
	o.sts_url = aws.base_url;
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", write_file("k8s/token", WEB_TOKEN), 1);
	setenv("AWS_ROLE_SESSION_NAME", "rotor-pod", 1);
	assert_int_equal(rotor_aws_chain_new(&chain, &o, &err), 0);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), 0);
	assert_int_equal(strncmp(c.access_key_id, "ASIA", 4), 0);
	assert_string_equal(c.source, "web identity");
	int64_t exp = c.expiration;
	assert_true(exp > clk.now(&clk));
	rotor_aws_credentials_dispose(&c);

	/* Kubernetes rotates the token: the file is read again at refresh. */
	write_file("k8s/token", "eyJ.a-token-sts-does-not-know.sig");
	rotor_clock_fixed_set(&clk, exp + 1);
	assert_int_equal(rotor_aws_chain_get(chain, &c, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "InvalidIdentityToken"));
	assert_non_null(strstr(err.message, "web identity"));
	assert_no_secret(err.message);
	rotor_aws_chain_free(chain);
}

static void test_profile_role_chain(void **state)
{
	(void)state;
	struct rotor_aws_chain_options o;
	struct rotor_aws_credentials c;
	struct rotor_error err;
	need_sts();
	assert_int_equal(
	    post(&aws, "roles", "{\"name\": \"profile-role\", \"external_id\": \"ext-profile-1\"}"),
	    200);
	chain_options(&o, NULL, NULL);
	/* The STS endpoint through the SDKs' variable this time. */
	setenv("AWS_ENDPOINT_URL_STS", aws.base_url, 1);
	write_file(".aws/credentials", "[base]\n"
	                               "aws_access_key_id = " MANAGER_AKID "\n"
	                               "aws_secret_access_key = " MANAGER_SECRET "\n");
	write_file(".aws/config", "[profile dev]\n"
	                          "role_arn = arn:aws:iam::123456789012:role/profile-role\n"
	                          "source_profile = base\n"
	                          "external_id = ext-profile-1\n"
	                          "role_session_name = dev-session\n"
	                          "duration_seconds = 900\n"
	                          "[profile viaenv]\n"
	                          "role_arn = arn:aws:iam::123456789012:role/profile-role\n"
	                          "credential_source = Environment\n"
	                          "external_id = ext-profile-1\n"
	                          "[profile chained]\n"
	                          "role_arn = arn:aws:iam::123456789012:role/profile-role\n"
	                          "source_profile = dev\n"
	                          "external_id = ext-profile-1\n");
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_int_equal(strncmp(c.access_key_id, "ASIA", 4), 0);
	assert_string_equal(c.source, "profile dev");
	rotor_aws_credentials_dispose(&c);
	/* Role on role: dev's session credentials assume the role again. */
	setenv("AWS_PROFILE", "chained", 1);
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.source, "profile chained");
	rotor_aws_credentials_dispose(&c);
	/* credential_source = Environment, with a role on top of the profile. */
	assert_int_equal(post(&aws, "roles", "{\"name\": \"top2\"}"), 200);
	setenv("AWS_ACCESS_KEY_ID", MANAGER_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", MANAGER_SECRET, 1);
	o.profile = "viaenv";
	o.role_arn = "arn:aws:iam::123456789012:role/top2";
	assert_int_equal(chain_get_once(&o, &c, &err), 0);
	assert_string_equal(c.source,
	                    "role arn:aws:iam::123456789012:role/top2 via profile viaenv");
	rotor_aws_credentials_dispose(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_endpoints_partitions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoints_overrides, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoints_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_credentials, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profile_selection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profile_home, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence_env_profile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_dialect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profile_role_loops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_with_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_without_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_imds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_imds_no_role, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_imds_disabled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_and_refresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_gets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_role_on_top_of_env, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_web_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profile_role_chain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
