/*
 * test_infisical.c: the Infisical store (providers/store/infisical.c)
 * against the Infisical double (tests/doubles/infisical_double.py), plus a
 * tiny canned-reply server for the replies the double cannot make (an
 * `approval` answer, a hidden value, a huge Retry-After, a body that is not
 * JSON).
 *
 * Time: the double runs with --clock-file, and the store gets a test clock
 * whose now() is the same file's time and whose sleep_ms() moves that file
 * forward, so pacing, back-off and 429 waits take no real time and the
 * double's token TTLs and rate-limit windows move with them. One test uses
 * rotor_clock_real() with ROTOR_TEST_TIME pointing at the clock file, as the
 * CLI does under test.
 *
 * Every error message and every log line is checked for secret values: the
 * pair's secret, the client secret and every bearer token rotor sent (an
 * HTTP hook records them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "providers/store/store.h"
#include "rotor/clock.h"
#include "rotor/error.h"
#include "rotor/log.h"
#include "rotor/secret.h"
#include "rotor/timefmt.h"
#include "testsupport.h"
#include "util/http.h"

#define PROJECT "proj-rotor-0001"
#define ENV "prod"
#define FOLDER "/aws"
#define AKID_NAME "AWS_ACCESS_KEY_ID"
#define SECRET_NAME "AWS_SECRET_ACCESS_KEY"
#define CID "rotor-client-id-0001"
#define CSECRET "rotor-client-secret-0123456789abcdef"
#define WRONG_SECRET "wrong-client-secret-fedcba9876543210"
#define SHORT_CID "rotor-short-ttl-0001"
#define OLD_AKID "AKIAOLD0000000000001"
#define OLD_SECRET "oldSecretOldSecretOldSecretOldSecret0001"
#define NEW_AKID "AKIANEW0000000000002"
#define NEW_SECRET "newSecretNewSecretNewSecretNewSecret0002"
#define NEW2_AKID "AKIANEW0000000000003"
#define NEW2_SECRET "newSecretNewSecretNewSecretNewSecret0003"
#define NEW3_AKID "AKIANEW0000000000004"
#define NEW3_SECRET "newSecretNewSecretNewSecretNewSecret0004"

static struct test_server srv;
static char tmpdir[256];
static char clock_path[320];
static int64_t start_time;
static FILE *log_file;

static const struct rotor_store_ref REF = {PROJECT, ENV, FOLDER, AKID_NAME, SECRET_NAME};

/* ---- the shared clock --------------------------------------------------- */

static void clock_write(int64_t t)
{
	char tmp[400], text[40];
	rotor_time_format(text, sizeof(text), t);
	snprintf(tmp, sizeof(tmp), "%s.tmp", clock_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		fail_msg("cannot write %s", tmp);
	fprintf(f, "%s\n", text);
	fclose(f);
	if (rename(tmp, clock_path) != 0)
		fail_msg("cannot rename %s", tmp);
}

static int64_t t_now(struct rotor_clock *c)
{
	return c->fixed_ms / 1000;
}

static int64_t t_mono(struct rotor_clock *c)
{
	return c->fixed_ms;
}

/* Sleeping moves the double's clock too. */
static void t_sleep(struct rotor_clock *c, int64_t ms)
{
	if (ms <= 0)
		return;
	c->fixed_ms += ms;
	c->slept_ms += ms;
	clock_write(c->fixed_ms / 1000);
}

static struct rotor_clock tclk;

static void tclk_reset(void)
{
	memset(&tclk, 0, sizeof(tclk));
	tclk.now = t_now;
	tclk.monotonic_ms = t_mono;
	tclk.sleep_ms = t_sleep;
	tclk.fixed_ms = start_time * 1000;
	clock_write(start_time);
}

/* The test moves time (tokens age, windows pass). */
static void advance(int64_t seconds)
{
	tclk.fixed_ms += seconds * 1000;
	clock_write(tclk.fixed_ms / 1000);
}

/* ---- what rotor sent (an HTTP hook) ------------------------------------- */

struct seen {
	char method[8];
	char url[1024];
	char auth[2200];
	char *body;
};
#define MAX_SEEN 512
static struct seen seen[MAX_SEEN];
static size_t nseen;

static void on_before(void *ctx, const struct rotor_http_request *req, int attempt)
{
	(void)ctx;
	(void)attempt;
	if (nseen >= MAX_SEEN)
		return;
	struct seen *s = &seen[nseen++];
	snprintf(s->method, sizeof(s->method), "%s", req->method);
	snprintf(s->url, sizeof(s->url), "%s", req->url);
	s->auth[0] = '\0';
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, "Authorization") == 0)
			snprintf(s->auth, sizeof(s->auth), "%s", req->headers[i].value);
	s->body = NULL;
	if (req->body) {
		s->body = malloc(req->body_len + 1);
		memcpy(s->body, req->body, req->body_len);
		s->body[req->body_len] = '\0';
	}
}

static void seen_clear(void)
{
	for (size_t i = 0; i < nseen; i++)
		free(seen[i].body);
	nseen = 0;
}

/* The i-th request whose URL contains `part` (and method, if given). */
static const struct seen *seen_find(const char *method, const char *part, int nth)
{
	for (size_t i = 0; i < nseen; i++)
		if ((!method || strcmp(seen[i].method, method) == 0) && strstr(seen[i].url, part) &&
		    nth-- == 0)
			return &seen[i];
	return NULL;
}

/* ---- no secret anywhere -------------------------------------------------- */

static void assert_clean_text(const char *text, const char *where)
{
	static const char *const values[] = {OLD_SECRET,  NEW_SECRET, NEW2_SECRET,
	                                     NEW3_SECRET, CSECRET,    WRONG_SECRET};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strstr(text, values[i]))
			fail_msg("%s holds a secret value: %s", where, text);
	for (size_t i = 0; i < nseen; i++) {
		const char *tok = seen[i].auth[0] ? seen[i].auth + 7 : NULL;
		if (tok && strlen(tok) >= 8 && strstr(text, tok))
			fail_msg("%s holds a bearer token: %s", where, text);
	}
}

#define EXPECT_RC(call, code)                                                                      \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ != (code))                                                                 \
			fail_msg("%s: got %d (%s), want %d: %s", #call, rc_,                       \
			         rotor_error_code_name(rc_), (int)(code), err.message);            \
		if (rc_)                                                                           \
			assert_clean_text(err.message, "error message");                           \
	} while (0)

static void check_log(void)
{
	fflush(log_file);
	long n = ftell(log_file);
	if (n > 0) {
		char *text = calloc(1, (size_t)n + 1);
		rewind(log_file);
		size_t got = fread(text, 1, (size_t)n, log_file);
		text[got] = '\0';
		assert_clean_text(text, "the log");
		free(text);
	}
	rewind(log_file);
	if (ftruncate(fileno(log_file), 0) != 0)
		fail_msg("cannot truncate the log");
}

/* ---- the double's control API -------------------------------------------- */

static json_t *control(const char *method, const char *route, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *control(const char *method, const char *route, const char *fmt, ...)
{
	char url[256], body[4096];
	int status;
	snprintf(url, sizeof(url), "%s/_control/%s", srv.base_url, route);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(body, sizeof(body), fmt, ap);
		va_end(ap);
	}
	char *reply = test_http(method, url, fmt ? body : NULL, &status);
	json_error_t je;
	json_t *j = json_loads(reply ? reply : "", 0, &je);
	if (status != 200 || !j)
		fail_msg("control %s %s: HTTP %d: %s", method, route, status, reply);
	free(reply);
	return j;
}

#define CONTROL(...) json_decref(control(__VA_ARGS__))

static void seed(const char *env, const char *key, const char *value)
{
	CONTROL("POST", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\", \"secretValue\": \"%s\"}",
	        PROJECT, env, FOLDER, key, value);
}

static void seed_pair(const char *akid, const char *secret)
{
	seed(ENV, AKID_NAME, akid);
	seed(ENV, SECRET_NAME, secret);
}

/* Calls in the double's log for a route ("login", "list", "batch_update"),
 * optionally only of one api ("v3", "v4", "auth") and one status (0: any). */
static int count_calls(const char *route, const char *api, int status)
{
	json_t *j = control("GET", "calls", NULL);
	json_t *calls = json_object_get(j, "calls"), *c;
	size_t i;
	int n = 0;
	json_array_foreach(calls, i, c)
	{
		const char *r = json_string_value(json_object_get(c, "route"));
		const char *a = json_string_value(json_object_get(c, "api"));
		if (!r || strcmp(r, route) != 0)
			continue;
		if (api && (!a || strcmp(a, api) != 0))
			continue;
		if (status && json_integer_value(json_object_get(c, "status")) != status)
			continue;
		n++;
	}
	json_decref(j);
	return n;
}

static int count_writes(void)
{
	return count_calls("create", NULL, 0) + count_calls("update", NULL, 0) +
	       count_calls("batch_create", NULL, 0) + count_calls("batch_update", NULL, 0);
}

/* The double's record of one secret (with every version), or NULL. */
static json_t *state_secret(const char *env, const char *key)
{
	json_t *st = control("GET", "state", NULL), *p, *out = NULL;
	size_t i;
	json_array_foreach(json_object_get(st, "projects"), i, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "id")), PROJECT) != 0)
			continue;
		json_t *folder = json_object_get(
		    json_object_get(json_object_get(json_object_get(p, "environments"), env),
		                    "folders"),
		    FOLDER);
		json_t *s;
		size_t k;
		json_array_foreach(json_object_get(folder, "secrets"), k,
		                   s) if (strcmp(json_string_value(json_object_get(s, "secretKey")),
		                                 key) == 0) out = json_incref(s);
	}
	json_decref(st);
	return out;
}

/* Asserts the double holds `value` at `version` for key. */
static void assert_state(const char *key, const char *value, int version)
{
	json_t *s = state_secret(ENV, key);
	if (!s)
		fail_msg("the double holds no %s", key);
	json_t *versions = json_object_get(s, "versions");
	json_t *cur = json_array_get(versions, json_array_size(versions) - 1);
	assert_int_equal(json_integer_value(json_object_get(s, "version")), version);
	assert_string_equal(json_string_value(json_object_get(cur, "secretValue")), value);
	json_decref(s);
}

static void assert_state_absent(const char *key)
{
	json_t *s = state_secret(ENV, key);
	if (s)
		fail_msg("the double holds %s", key);
}

/* ---- the store under test ------------------------------------------------ */

struct mk {
	int v4;
	const char *cid;
	const char *csecret;
	struct rotor_clock *clock; /* NULL: tclk */
	const char *site;          /* NULL: the double */
	long retry_after_max_ms;   /* 0: default */
	int max_waits;             /* 0: default */
	const char *state_dir;     /* failed logins kept across runs here; NULL: not kept */
};

static struct rotor_store new_store(struct mk m)
{
	struct rotor_infisical_options o;
	struct rotor_http_options http;
	struct rotor_secret *id = NULL, *secret = NULL;
	struct rotor_store st;
	struct rotor_error err;
	rotor_http_options_init(&http);
	http.timeout_ms = 5000;
	http.backoff_base_ms = 20;
	http.backoff_max_ms = 100;
	http.hook.before = on_before;
	if (m.retry_after_max_ms)
		http.retry_after_max_ms = m.retry_after_max_ms;
	memset(&o, 0, sizeof(o));
	o.name = "infisical-test";
	o.site_url = m.site ? m.site : srv.base_url;
	o.api_v4 = m.v4;
	/* No REDACT flag: the store must register its own copies. */
	assert_int_equal(rotor_secret_from_str(&id, m.cid ? m.cid : CID, 0, &err), 0);
	assert_int_equal(rotor_secret_from_str(&secret, m.csecret ? m.csecret : CSECRET, 0, &err),
	                 0);
	o.client_id = id;
	o.client_secret = secret;
	o.requests_per_minute = 6000;
	o.clock = m.clock ? m.clock : &tclk;
	o.http = &http;
	o.max_rate_limit_waits = m.max_waits;
	o.state_dir = m.state_dir;
	if (rotor_infisical_new(&st, &o, &err) != 0)
		fail_msg("rotor_infisical_new: %s", err.message);
	rotor_secret_free(id);
	rotor_secret_free(secret);
	assert_string_equal(st.ops->kind, "infisical");
	return st;
}

static void done_store(struct rotor_store *st)
{
	rotor_store_free(st);
	check_log();
}

static int read_pair(struct rotor_store *st, const struct rotor_store_ref *ref,
                     struct rotor_store_pair *out, struct rotor_error *err)
{
	return st->ops->read_pair(st->ctx, ref, out, err);
}

static int write_pair(struct rotor_store *st, const struct rotor_store_ref *ref, const char *akid,
                      const char *secret_value, const struct rotor_store_pair *current,
                      struct rotor_store_pair *written, struct rotor_error *err)
{
	struct rotor_secret *secret = NULL;
	assert_int_equal(rotor_secret_from_str(&secret, secret_value, ROTOR_SECRET_REDACT, err), 0);
	int rc = st->ops->write_pair(st->ctx, ref, akid, secret, current, written, err);
	rotor_secret_free(secret);
	return rc;
}

static int read_version(struct rotor_store *st, int64_t akid_version, int64_t secret_version,
                        struct rotor_store_pair *out, struct rotor_error *err)
{
	return st->ops->read_version(st->ctx, &REF, akid_version, secret_version, out, err);
}

static void assert_pair(const struct rotor_store_pair *p, const char *akid, const char *secret,
                        int64_t akid_version, int64_t secret_version)
{
	assert_true(p->has_akid);
	assert_true(p->has_secret);
	assert_string_equal(p->akid, akid);
	assert_non_null(p->secret);
	assert_true(rotor_secret_equal_bytes(p->secret, secret, strlen(secret)));
	assert_int_equal(p->akid_version, akid_version);
	assert_int_equal(p->secret_version, secret_version);
}

/* ---- fixtures -------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rotor-infisical-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(clock_path, sizeof(clock_path), "%s/clock", tmpdir);
	start_time = rotor_time_from_civil(2026, 11, 22, 10, 0, 0);
	tclk_reset();
	setenv("ROTOR_TEST_TIME", clock_path, 1);
	const char *args[] = {"--clock-file", clock_path, NULL};
	if (test_server_start(&srv, "infisical_double.py", args) != 0)
		return -1;
	log_file = tmpfile();
	if (!log_file)
		return -1;
	rotor_log_setup(log_file, ROTOR_LOG_DEBUG, ROTOR_LOG_TEXT, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_server_stop(&srv);
	seen_clear();
	rotor_log_setup(NULL, ROTOR_LOG_WARN, ROTOR_LOG_TEXT, NULL);
	fclose(log_file);
	unlink(clock_path);
	rmdir(tmpdir);
	return 0;
}

/* A fresh double: project PROJECT with environments prod (folder /aws) and
 * staging (no /aws), identity CID with read/write on the project, and
 * SHORT_CID whose tokens live 300 s (at most 900 s). */
static int reset(void **state)
{
	(void)state;
	char url[128];
	int status;
	tclk_reset();
	seen_clear();
	snprintf(url, sizeof(url), "%s/_control/reset", srv.base_url);
	free(test_http("POST", url, "{}", &status));
	if (status != 200)
		return -1;
	CONTROL("POST", "projects",
	        "{\"id\": \"%s\", \"environments\": [\"prod\", \"staging\"], "
	        "\"folders\": {\"prod\": [\"/aws\"]}}",
	        PROJECT);
	CONTROL("POST", "identities",
	        "{\"clientId\": \"%s\", \"clientSecret\": \"%s\", \"projects\": "
	        "[{\"projectId\": \"%s\"}]}",
	        CID, CSECRET, PROJECT);
	CONTROL("POST", "identities",
	        "{\"clientId\": \"%s\", \"clientSecret\": \"%s\", \"accessTokenTTL\": 300, "
	        "\"accessTokenMaxTTL\": 900, \"projects\": [{\"projectId\": \"%s\"}]}",
	        SHORT_CID, CSECRET, PROJECT);
	return 0;
}

/* ---- a canned-reply server ------------------------------------------------- */

struct canned_route {
	const char *method;
	const char *path; /* prefix of the request path */
	int status;
	const char *headers; /* extra "Name: value\r\n" lines, or NULL */
	const char *body;
};

struct canned {
	int fd;
	int port;
	char base[64];
	pthread_t thread;
	const struct canned_route *volatile routes;
	int hits;
};

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *canned_main(void *arg)
{
	struct canned *c = arg;
	for (;;) {
		int fd = accept(c->fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		char buf[32768];
		size_t used = 0;
		char *end = NULL;
		while (used < sizeof(buf) - 1) {
			ssize_t n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
			if (n <= 0)
				break;
			used += (size_t)n;
			buf[used] = '\0';
			if ((end = strstr(buf, "\r\n\r\n")) != NULL)
				break;
		}
		if (!end) {
			close(fd);
			continue;
		}
		size_t clen = 0;
		for (char *line = strstr(buf, "\r\n"); line && line < end;
		     line = strstr(line + 2, "\r\n"))
			if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
				clen = strtoul(line + 17, NULL, 10);
		size_t have = used - (size_t)(end + 4 - buf);
		while (have < clen) {
			char tmp[4096];
			ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		char method[16] = "", path[1024] = "";
		sscanf(buf, "%15s %1023s", method, path);
		int status = 404;
		const char *headers = "",
		           *body = "{\"statusCode\": 404, \"message\": \"no route\"}";
		for (const struct canned_route *r = c->routes; r && r->method; r++)
			if (strcmp(r->method, method) == 0 &&
			    strncmp(path, r->path, strlen(r->path)) == 0) {
				status = r->status;
				headers = r->headers ? r->headers : "";
				body = r->body;
				break;
			}
		c->hits++;
		char head[1024];
		int hl = snprintf(head, sizeof(head),
		                  "HTTP/1.1 %d Canned\r\nContent-Type: application/json\r\n"
		                  "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
		                  status, strlen(body), headers);
		send_all(fd, head, (size_t)hl);
		send_all(fd, body, strlen(body));
		close(fd);
	}
}

static void canned_start(struct canned *c)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(c->fd, 16), 0);
	assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &len), 0);
	c->port = ntohs(a.sin_port);
	snprintf(c->base, sizeof(c->base), "http://127.0.0.1:%d", c->port);
	assert_int_equal(pthread_create(&c->thread, NULL, canned_main, c), 0);
}

static void canned_stop(struct canned *c)
{
	shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->thread, NULL);
	close(c->fd);
}

#define CANNED_LOGIN                                                                               \
	{                                                                                          \
		"POST", "/api/v1/auth/universal-auth/login", 200, NULL,                            \
		    "{\"accessToken\": \"canned.header.payload-signature-0123456789\", "           \
		    "\"expiresIn\": "                                                              \
		    "3600, \"accessTokenMaxTTL\": 7200, \"tokenType\": \"Bearer\"}"                \
	}

/* ---- tests: login and reading -------------------------------------------- */

static void test_login_and_adoption(void **state)
{
	(void)state;
	struct rotor_error err;
	for (int v4 = 0; v4 <= 1; v4++) {
		CONTROL("DELETE", "calls", NULL);
		seen_clear();
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		/* The store registered its copy of the client secret. */
		char probe[128];
		snprintf(probe, sizeof(probe), "x %s y", CSECRET);
		rotor_redact(probe, sizeof(probe));
		assert_string_equal(probe, "x [REDACTED] y");

		struct rotor_store_pair p;
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		assert_false(p.has_akid);
		assert_false(p.has_secret);
		assert_null(p.secret);
		assert_int_equal(p.akid_version, 0);
		rotor_store_pair_dispose(&p);
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		rotor_store_pair_dispose(&p);
		/* One login serves both reads, the list route of the right api. */
		assert_int_equal(count_calls("login", "auth", 200), 1);
		assert_int_equal(count_calls("list", v4 ? "v4" : "v3", 200), 2);
		const struct seen *list =
		    seen_find("GET", v4 ? "/api/v4/secrets?" : "/api/v3/secrets/raw?", 0);
		assert_non_null(list);
		assert_non_null(
		    strstr(list->url, v4 ? "projectId=" PROJECT : "workspaceId=" PROJECT));
		assert_non_null(strstr(list->url, "environment=prod"));
		assert_non_null(strstr(list->url, "secretPath=%2Faws"));
		/* "Bearer " and the token: exactly one space. */
		assert_int_equal(strncmp(list->auth, "Bearer ", 7), 0);
		assert_true(list->auth[7] != ' ' && strlen(list->auth) > 20);
		/* The login body carries the client id and secret, no auth header. */
		const struct seen *login = seen_find("POST", "/universal-auth/login", 0);
		assert_non_null(login);
		assert_string_equal(login->auth, "");
		assert_non_null(strstr(login->body, "\"clientId\":\"" CID "\""));
		done_store(&st);
	}
}

static void test_read_half_and_whole_pair(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	seed(ENV, "UNRELATED", "unrelated-value-not-ours");
	seed(ENV, AKID_NAME, OLD_AKID);
	for (int v4 = 0; v4 <= 1; v4++) {
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		assert_true(p.has_akid);
		assert_false(p.has_secret);
		assert_null(p.secret);
		assert_string_equal(p.akid, OLD_AKID);
		assert_int_equal(p.akid_version, 1);
		rotor_store_pair_dispose(&p);
		done_store(&st);
	}
	seed(ENV, SECRET_NAME, OLD_SECRET);
	seed(ENV, AKID_NAME, OLD_AKID); /* another writer: version 2, same value */
	for (int v4 = 0; v4 <= 1; v4++) {
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		assert_pair(&p, OLD_AKID, OLD_SECRET, 2, 1);
		/* The secret value is registered for redaction while held. */
		char probe[128];
		snprintf(probe, sizeof(probe), "[%s]", OLD_SECRET);
		rotor_redact(probe, sizeof(probe));
		assert_string_equal(probe, "[[REDACTED]]");
		rotor_store_pair_dispose(&p);
		done_store(&st);
	}
	/* Only the secret name: the other half. */
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, AKID_NAME);
	struct rotor_store st = new_store((struct mk){0});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_false(p.has_akid);
	assert_true(p.has_secret);
	assert_int_equal(p.secret_version, 1);
	rotor_store_pair_dispose(&p);
	done_store(&st);
}

static void test_missing_location(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p, w;
	memset(&w, 0, sizeof(w));
	struct rotor_store_ref no_folder = REF, no_env_folder = REF, no_env = REF, no_project = REF;
	no_folder.secret_path = "/nope";
	no_env_folder.environment = "staging";
	no_env.environment = "qa";
	no_project.project_id = "proj-missing-9999";
	for (int v4 = 0; v4 <= 1; v4++) {
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		EXPECT_RC(read_pair(&st, &no_folder, &p, &err), ROTOR_ENOTFOUND);
		assert_int_equal(err.http_status, 404);
		assert_non_null(strstr(err.message, "project " PROJECT));
		assert_non_null(strstr(err.message, "environment prod"));
		assert_non_null(strstr(err.message, "path /nope"));
		assert_false(p.has_akid || p.has_secret);

		EXPECT_RC(read_pair(&st, &no_env_folder, &p, &err), ROTOR_ENOTFOUND);
		assert_non_null(strstr(err.message, "environment staging"));
		assert_non_null(strstr(err.message, "path /aws"));

		EXPECT_RC(read_pair(&st, &no_env, &p, &err), ROTOR_ENOTFOUND);
		assert_non_null(strstr(err.message, "environment qa"));
		assert_non_null(strstr(err.message, "project " PROJECT));

		EXPECT_RC(read_pair(&st, &no_project, &p, &err), ROTOR_ENOTFOUND);
		assert_non_null(strstr(err.message, "project proj-missing-9999"));

		/* Writing into a missing folder: the same, nothing created. */
		EXPECT_RC(write_pair(&st, &no_folder, NEW_AKID, NEW_SECRET, &w, &p, &err),
		          ROTOR_ENOTFOUND);
		assert_non_null(strstr(err.message, "path /nope"));
		/* A 404 is not an expired token: one login only. */
		assert_int_equal(count_calls("login", NULL, 0), v4 ? 2 : 1);
		done_store(&st);
	}
}

static void test_rotated_secret_refused(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	seed_pair(OLD_AKID, OLD_SECRET);
	CONTROL("POST", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\", \"isRotatedSecret\": true}",
	        PROJECT, ENV, FOLDER, SECRET_NAME);
	for (int v4 = 0; v4 <= 1; v4++) {
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_ECONFLICT);
		assert_non_null(strstr(err.message, "Infisical's own secret rotation"));
		assert_non_null(strstr(err.message, SECRET_NAME));
		assert_false(p.has_akid || p.has_secret);
		assert_null(p.secret);
		done_store(&st);
	}
}

/* ---- tests: writing ------------------------------------------------------- */

static void test_write_v3(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair cur, w;
	struct rotor_store st = new_store((struct mk){0});

	/* Empty store: one POST batch creates both. */
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW_AKID, NEW_SECRET, 1, 1);
	assert_int_equal(count_writes(), 1);
	assert_int_equal(count_calls("batch_create", "v3", 200), 1);
	const struct seen *b = seen_find("POST", "/api/v3/secrets/batch/raw", 0);
	assert_non_null(b);
	assert_non_null(strstr(b->body, "\"workspaceId\":\"" PROJECT "\""));
	assert_null(strstr(b->body, "\"mode\""));
	assert_state(AKID_NAME, NEW_AKID, 1);
	assert_state(SECRET_NAME, NEW_SECRET, 1);
	rotor_store_pair_dispose(&cur);

	/* Both present: one PATCH batch; new versions read back. */
	EXPECT_RC(write_pair(&st, &REF, NEW2_AKID, NEW2_SECRET, &w, &cur, &err), 0);
	assert_pair(&cur, NEW2_AKID, NEW2_SECRET, 2, 2);
	assert_int_equal(count_writes(), 2);
	assert_int_equal(count_calls("batch_update", "v3", 200), 1);
	assert_state(AKID_NAME, NEW2_AKID, 2);
	assert_state(SECRET_NAME, NEW2_SECRET, 2);
	rotor_store_pair_dispose(&w);
	rotor_store_pair_dispose(&cur);

	/* Half a pair (the secret name was deleted by hand): create the
	 * missing name, then update the other. */
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, SECRET_NAME);
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	assert_true(cur.has_akid && !cur.has_secret);
	seen_clear();
	EXPECT_RC(write_pair(&st, &REF, NEW3_AKID, NEW3_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW3_AKID, NEW3_SECRET, 3, 1);
	assert_int_equal(count_calls("create", "v3", 200), 1);
	assert_int_equal(count_calls("update", "v3", 200), 1);
	assert_int_equal(count_writes(), 4);
	const struct seen *first = seen_find(NULL, "/api/v3/secrets/raw/", 0);
	const struct seen *second = seen_find(NULL, "/api/v3/secrets/raw/", 1);
	assert_non_null(first);
	assert_non_null(second);
	assert_string_equal(first->method, "POST");
	assert_non_null(strstr(first->url, "/raw/" SECRET_NAME));
	assert_string_equal(second->method, "PATCH");
	assert_non_null(strstr(second->url, "/raw/" AKID_NAME));
	rotor_store_pair_dispose(&cur);
	rotor_store_pair_dispose(&w);

	/* The other half: only the akid missing. */
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, AKID_NAME);
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW_AKID, NEW_SECRET, 1, 2);
	rotor_store_pair_dispose(&cur);
	rotor_store_pair_dispose(&w);
	done_store(&st);
}

static void test_write_v4(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair cur, w;
	struct rotor_store st = new_store((struct mk){.v4 = 1});

	/* Empty store: one upsert batch. */
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW_AKID, NEW_SECRET, 1, 1);
	assert_int_equal(count_writes(), 1);
	assert_int_equal(count_calls("batch_update", "v4", 200), 1);
	const struct seen *b = seen_find("PATCH", "/api/v4/secrets/batch", 0);
	assert_non_null(b);
	assert_non_null(strstr(b->body, "\"mode\":\"upsert\""));
	assert_non_null(strstr(b->body, "\"projectId\":\"" PROJECT "\""));
	assert_non_null(strstr(b->body, "\"skipMultilineEncoding\":true"));
	rotor_store_pair_dispose(&cur);

	/* Both present: failOnNotFound. */
	EXPECT_RC(write_pair(&st, &REF, NEW2_AKID, NEW2_SECRET, &w, &cur, &err), 0);
	assert_pair(&cur, NEW2_AKID, NEW2_SECRET, 2, 2);
	b = seen_find("PATCH", "/api/v4/secrets/batch", 1);
	assert_non_null(b);
	assert_non_null(strstr(b->body, "\"mode\":\"failOnNotFound\""));
	assert_int_equal(count_writes(), 2);
	rotor_store_pair_dispose(&w);
	rotor_store_pair_dispose(&cur);

	/* Half a pair: still one request (upsert). */
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, AKID_NAME);
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW3_AKID, NEW3_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW3_AKID, NEW3_SECRET, 1, 3);
	assert_int_equal(count_writes(), 3);
	b = seen_find("PATCH", "/api/v4/secrets/batch", 2);
	assert_non_null(strstr(b->body, "\"mode\":\"upsert\""));
	rotor_store_pair_dispose(&cur);
	rotor_store_pair_dispose(&w);

	/* A stale `current` (a name vanished since the read): failOnNotFound
	 * writes nothing and says not found. */
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, AKID_NAME);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), ROTOR_ENOTFOUND);
	assert_state(SECRET_NAME, NEW3_SECRET, 3);
	rotor_store_pair_dispose(&cur);
	done_store(&st);
}

static void test_failed_batch_leaves_pair(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair cur, w;
	seed_pair(OLD_AKID, OLD_SECRET);
	for (int v4 = 0; v4 <= 1; v4++) {
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
		/* v3: the transaction fails with a 500 every time (retried,
		 * then given up); v4: an error reply after the first write. */
		if (v4)
			CONTROL("POST", "faults",
			        "{\"rules\": [{\"match\": \"v4:batch_update_mid\", \"kind\": "
			        "\"error\", \"status\": 409, \"code\": \"Conflict\", \"message\": "
			        "\"could not serialize access\"}]}");
		else
			CONTROL("POST", "faults",
			        "{\"rules\": [{\"match\": \"batch_update_mid\", \"kind\": "
			        "\"error500\", \"count\": -1}]}");
		EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err),
		          v4 ? ROTOR_ECONFLICT : ROTOR_ETRANSIENT);
		assert_false(w.has_akid || w.has_secret);
		CONTROL("DELETE", "faults", NULL);
		/* Both unchanged, at version 1. */
		assert_state(AKID_NAME, OLD_AKID, 1);
		assert_state(SECRET_NAME, OLD_SECRET, 1);
		rotor_store_pair_dispose(&cur);
		EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
		assert_pair(&cur, OLD_AKID, OLD_SECRET, 1, 1);
		rotor_store_pair_dispose(&cur);
		done_store(&st);
	}
	/* A create batch dropped mid-way: nothing created. */
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, AKID_NAME);
	CONTROL("DELETE", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"%s\", \"secretPath\": \"%s\", "
	        "\"secretKey\": \"%s\"}",
	        PROJECT, ENV, FOLDER, SECRET_NAME);
	struct rotor_store st = new_store((struct mk){0});
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	CONTROL(
	    "POST", "faults",
	    "{\"rules\": [{\"match\": \"batch_create_mid\", \"kind\": \"drop\", \"count\": -1}]}");
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), ROTOR_ETRANSIENT);
	CONTROL("DELETE", "faults", NULL);
	assert_state_absent(AKID_NAME);
	assert_state_absent(SECRET_NAME);

	/* A create that committed but whose reply was lost: the transport
	 * sends it again, which finds the names (400); the store holds
	 * exactly this pair, so the write stands. */
	CONTROL("POST", "faults",
	        "{\"rules\": [{\"match\": \"batch_create\", \"kind\": \"drop_after\", "
	        "\"count\": 1}]}");
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW_AKID, NEW_SECRET, 1, 1);
	assert_int_equal(count_calls("batch_create", "v3", 400), 1);
	rotor_store_pair_dispose(&w);
	CONTROL("DELETE", "faults", NULL);
	rotor_store_pair_dispose(&cur);
	done_store(&st);
}

static void test_approval_and_odd_replies(void **state)
{
	(void)state;
	/* The double has no approval policies: a canned server answers the
	 * batch with {"approval": ...} as Infisical does for a human user
	 * under a change policy. */
	static const struct canned_route approval[] = {
	    CANNED_LOGIN,
	    {"GET", "/api/v3/secrets/raw?", 200, NULL, "{\"secrets\": [], \"imports\": []}"},
	    {"GET", "/api/v1/folders?", 200, NULL,
	     "{\"folders\": [{\"id\": \"f1\", \"name\": \"aws\"}]}"},
	    {"POST", "/api/v3/secrets/batch/raw", 200, NULL,
	     "{\"approval\": {\"id\": \"appr-1\", \"status\": \"open\", \"slug\": \"x\"}}"},
	    {"PATCH", "/api/v3/secrets/batch/raw", 200, NULL,
	     "{\"approval\": {\"id\": \"appr-2\", \"status\": \"open\"}}"},
	    {NULL, NULL, 0, NULL, NULL},
	};
	static const struct canned_route hidden[] = {
	    CANNED_LOGIN,
	    {"GET", "/api/v3/secrets/raw?", 200, NULL,
	     "{\"secrets\": [{\"secretKey\": \"AWS_SECRET_ACCESS_KEY\", \"secretValue\": "
	     "\"<hidden-by-infisical>\", \"secretValueHidden\": true, \"version\": 4}], "
	     "\"imports\": []}"},
	    {NULL, NULL, 0, NULL, NULL},
	};
	static const struct canned_route not_json[] = {
	    CANNED_LOGIN,
	    {"GET", "/api/v3/secrets/raw?", 200, NULL, "<html>proxy says hello</html>"},
	    {NULL, NULL, 0, NULL, NULL},
	};
	static const struct canned_route slow_down[] = {
	    CANNED_LOGIN,
	    {"GET", "/api/v3/secrets/raw?", 429, "Retry-After: 3600\r\n",
	     "{\"reqId\": \"req-canned\", \"statusCode\": 429, \"error\": "
	     "\"RateLimitExceeded\", \"message\": \"Rate limit exceeded. Please try again in "
	     "60 minutes\"}"},
	    {NULL, NULL, 0, NULL, NULL},
	};
	/* the last request of a window, answered 404: still that 404, not
	 * throttling (x-ratelimit-remaining: 0 alone is no wait) */
	static const struct canned_route last_in_window[] = {
	    CANNED_LOGIN,
	    {"GET", "/api/v3/secrets/raw?", 404, "x-ratelimit-remaining: 0\r\n",
	     "{\"statusCode\": 404, \"error\": \"NotFound\", \"message\": \"Project not "
	     "found\"}"},
	    {NULL, NULL, 0, NULL, NULL},
	};
	struct canned c;
	struct rotor_error err;
	struct rotor_store_pair cur, w;
	canned_start(&c);
	c.routes = approval;
	struct rotor_store st = new_store((struct mk){.site = c.base});
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "approval"));
	assert_false(w.has_akid || w.has_secret);
	cur.has_akid = cur.has_secret = 1;
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "approval"));
	cur.has_akid = cur.has_secret = 0;

	/* A value hidden from the identity is not a value. */
	c.routes = hidden;
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "hidden"));
	assert_false(cur.has_secret);

	/* A 200 that is not JSON (a proxy's page). */
	c.routes = not_json;
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "not JSON"));

	/* Retry-After of an hour: refused at once, not slept through. */
	c.routes = slow_down;
	int64_t slept = tclk.slept_ms;
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), ROTOR_ETHROTTLED);
	assert_true(tclk.slept_ms - slept < 10000);
	assert_non_null(strstr(err.message, "429"));
	c.routes = last_in_window;
	slept = tclk.slept_ms;
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), ROTOR_ENOTFOUND);
	assert_true(tclk.slept_ms - slept < 10000);
	done_store(&st);
	canned_stop(&c);
}

/* ---- tests: versions and rollback ---------------------------------------- */

static void test_read_version(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair cur, w, old;
	seed_pair(OLD_AKID, OLD_SECRET);
	for (int v4 = 0; v4 <= 1; v4++) {
		seen_clear();
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
		int64_t va = cur.akid_version, vs = cur.secret_version;
		EXPECT_RC(write_pair(&st, &REF, v4 ? NEW2_AKID : NEW_AKID,
		                     v4 ? NEW2_SECRET : NEW_SECRET, &cur, &w, &err),
		          0);
		assert_int_equal(w.akid_version, va + 1);
		assert_int_equal(w.secret_version, vs + 1);
		/* The previous pair, by version. */
		EXPECT_RC(read_version(&st, va, vs, &old, &err), 0);
		assert_pair(&old, v4 ? NEW_AKID : OLD_AKID, v4 ? NEW_SECRET : OLD_SECRET, va, vs);
		rotor_store_pair_dispose(&old);
		EXPECT_RC(read_version(&st, 1, 1, &old, &err), 0);
		assert_pair(&old, OLD_AKID, OLD_SECRET, 1, 1);
		rotor_store_pair_dispose(&old);
		const struct seen *g = seen_find("GET", "version=1", 0);
		assert_non_null(g);
		assert_non_null(strstr(g->url, v4 ? "/api/v4/secrets/" AKID_NAME "?"
		                                  : "/api/v3/secrets/raw/" AKID_NAME "?"));
		/* A version that never existed, or none recorded. */
		EXPECT_RC(read_version(&st, 99, 99, &old, &err), ROTOR_ENOTFOUND);
		assert_non_null(strstr(err.message, "version 99"));
		assert_false(old.has_akid || old.has_secret);
		EXPECT_RC(read_version(&st, 0, 1, &old, &err), ROTOR_ENOTFOUND);
		rotor_store_pair_dispose(&cur);
		rotor_store_pair_dispose(&w);
		done_store(&st);
	}
	/* Servers before late September 2024 said 400 for a missing secret. */
	CONTROL("POST", "settings", "{\"legacy_missing_secret_400\": true}");
	struct rotor_store st = new_store((struct mk){0});
	EXPECT_RC(read_version(&st, 99, 99, &old, &err), ROTOR_ENOTFOUND);
	done_store(&st);
}

static void test_version_not_honoured(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair cur, w, old;
	seed_pair(OLD_AKID, OLD_SECRET);
	seed_pair(NEW_AKID, NEW_SECRET); /* version 2 */
	CONTROL("POST", "settings", "{\"honour_version_param\": false}");
	struct rotor_store st = new_store((struct mk){0});
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW2_AKID, NEW2_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW2_AKID, NEW2_SECRET, 3, 3);
	/* The server answers the current version: rotor says it cannot. */
	EXPECT_RC(read_version(&st, 2, 2, &old, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "does not honour ?version="));
	assert_non_null(strstr(err.message, "answered version 3"));
	assert_false(old.has_akid || old.has_secret);
	assert_null(old.secret);
	/* ... or the oldest row. */
	CONTROL("POST", "settings", "{\"dishonoured_version\": \"oldest\"}");
	EXPECT_RC(read_version(&st, 2, 2, &old, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "answered version 1"));
	rotor_store_pair_dispose(&cur);
	rotor_store_pair_dispose(&w);
	done_store(&st);
}

/* ---- tests: tokens ---------------------------------------------------------- */

static void test_token_expiry_mid_pass(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	seed_pair(OLD_AKID, OLD_SECRET);
	/* The real clock reading ROTOR_TEST_TIME (the clock file). */
	struct rotor_store st =
	    new_store((struct mk){.cid = SHORT_CID, .clock = rotor_clock_real()});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	advance(400); /* past the 300 s TTL */
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_pair(&p, OLD_AKID, OLD_SECRET, 1, 1);
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("login", "auth", 200), 2);
	assert_int_equal(count_calls("login", NULL, 0), 2);
	assert_int_equal(count_calls("list", NULL, 200), 2);
	assert_int_equal(count_calls("list", NULL, 0), 2);

	/* A token rotor thinks valid but the server refuses (revoked): 401,
	 * one login, one retry. */
	CONTROL("POST", "revoke", "{\"clientId\": \"%s\"}", SHORT_CID);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("login", "auth", 200), 3);
	assert_int_equal(count_calls("list", NULL, 401), 1);
	assert_int_equal(count_calls("list", NULL, 200), 3);
	done_store(&st);

	/* A JWT past its max TTL by the server's clock (rotor's own clock
	 * stands still): 403 TokenError, one login, one retry. */
	CONTROL("DELETE", "calls", NULL);
	CONTROL("POST", "identities",
	        "{\"clientId\": \"rotor-jwt-0001\", \"clientSecret\": \"%s\", \"accessTokenTTL\": "
	        "0, \"accessTokenMaxTTL\": 600, \"projects\": [{\"projectId\": \"%s\"}]}",
	        CSECRET, PROJECT);
	struct rotor_clock still;
	rotor_clock_fixed_init(&still, tclk.fixed_ms / 1000);
	st = new_store((struct mk){.cid = "rotor-jwt-0001", .clock = &still});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	advance(700);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("list", NULL, 403), 1);
	assert_int_equal(count_calls("login", "auth", 200), 2);
	/* Refused twice in a row: one re-login only, then the error. */
	CONTROL(
	    "POST", "faults",
	    "{\"rules\": [{\"match\": \"list\", \"kind\": \"error\", \"status\": 401, \"code\": "
	    "\"UnauthorizedError\", \"message\": \"Token revoked\", \"count\": -1}]}");
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
	assert_int_equal(count_calls("login", "auth", 200), 3);
	CONTROL("DELETE", "faults", NULL);
	done_store(&st);
}

static void test_renewal(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	struct rotor_store st = new_store((struct mk){.cid = SHORT_CID});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	const struct seen *first = seen_find("GET", "/api/v3/secrets/raw?", 0);
	assert_non_null(first);
	char before[2200];
	snprintf(before, sizeof(before), "%s", first->auth);

	/* 250 s into a 300 s token: renewed ahead of expiry, and the new
	 * token (current servers sign a new one) replaces the old. */
	advance(250);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_int_equal(count_calls("renew", "auth", 200), 1);
	assert_int_equal(count_calls("login", NULL, 0), 1);
	const struct seen *renew = seen_find("POST", "/api/v1/auth/token/renew", 0);
	assert_non_null(renew);
	assert_string_equal(renew->auth, "");
	assert_non_null(strstr(renew->body, before + 7)); /* renews the token it held */
	const struct seen *second = seen_find("GET", "/api/v3/secrets/raw?", 1);
	assert_non_null(second);
	assert_string_not_equal(second->auth, before);

	/* Again: the renewed token is renewed in turn. */
	advance(250);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_int_equal(count_calls("renew", "auth", 200), 2);
	assert_int_equal(count_calls("login", NULL, 0), 1);

	/* 750 s into a token that lives at most 900 s: renewal could not
	 * extend it, so rotor logs in again instead of asking. */
	advance(250);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_int_equal(count_calls("renew", NULL, 0), 2);
	assert_int_equal(count_calls("login", "auth", 200), 2);
	assert_int_equal(count_calls("list", NULL, 200), 4);
	assert_int_equal(count_calls("list", NULL, 0), 4);

	/* 2024 servers renew the same string: that works as well. */
	CONTROL("POST", "settings", "{\"renew_same_token\": true}");
	seen_clear();
	advance(250);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_int_equal(count_calls("renew", "auth", 200), 3);
	const struct seen *r3 = seen_find("POST", "/api/v1/auth/token/renew", 0);
	const struct seen *l3 = seen_find("GET", "/api/v3/secrets/raw?", 0);
	assert_non_null(r3);
	assert_non_null(l3);
	assert_non_null(strstr(r3->body, l3->auth + 7));

	/* A renewal that is throttled while the token still lives: keep
	 * using the token instead of logging in. */
	CONTROL("POST", "faults",
	        "{\"rules\": [{\"match\": \"renew\", \"kind\": \"error\", \"status\": 503, "
	        "\"code\": \"ServiceUnavailable\", \"count\": -1}]}");
	advance(250);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_int_equal(count_calls("login", "auth", 200), 2);
	CONTROL("DELETE", "faults", NULL);
	assert_int_equal(count_calls("list", NULL, 0), 6);
	done_store(&st);
}

static void test_wrong_secret_no_login_storm(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	char dir[] = "/tmp/rotor-test-logins-XXXXXX";
	assert_non_null(mkdtemp(dir));
	/* Each CLI run is a new store on the same state directory. One failed
	 * login per run; after two failed runs, a five-minute pause across
	 * runs (issue 15: successive runs each tried twice and tripped the
	 * server's three-failure lock-out). */
	for (int run = 0; run < 3; run++) {
		struct rotor_store st =
		    new_store((struct mk){.csecret = WRONG_SECRET, .state_dir = dir});
		for (int i = 0; i < 2; i++) {
			EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
			assert_null(strstr(err.message, WRONG_SECRET));
			if (run < 2 && i == 0) {
				assert_int_equal(err.http_status, 401);
				assert_non_null(strstr(err.message, "clientSecret"));
			} else {
				assert_non_null(strstr(err.message, "not logging in again"));
			}
		}
		done_store(&st);
	}
	/* Two logins, never three: Infisical locks a client out after 3. */
	assert_int_equal(count_calls("login", NULL, 401), 2);
	assert_int_equal(count_calls("login", NULL, 0), 2);
	assert_int_equal(count_calls("list", NULL, 0), 0);
	json_t *state_ = control("GET", "state", NULL);
	json_t *lk = json_object_get(json_object_get(state_, "lockouts"), CID);
	assert_true(lk == NULL || json_is_null(json_object_get(lk, "lockedUntil")));
	json_decref(state_);
	/* After the pause: one more try, then quiet again. */
	advance(301);
	struct rotor_store st = new_store((struct mk){.csecret = WRONG_SECRET, .state_dir = dir});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
	assert_int_equal(count_calls("login", NULL, 0), 3);
	done_store(&st);
	/* A good login (past the pause) clears the count. */
	advance(301);
	st = new_store((struct mk){.state_dir = dir});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	done_store(&st);
	char path[128];
	snprintf(path, sizeof(path), "%s/infisical-infisical-test.logins", dir);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
}

static void test_unknown_client_id(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	/* Older servers: 404; current ones: 401 "Invalid credentials". Both
	 * are the same mistake: EAUTH, a hint naming clientId, no storm. */
	for (int current = 0; current <= 1; current++) {
		CONTROL("DELETE", "calls", NULL);
		CONTROL("POST", "settings", "{\"unknown_client_id_401\": %s}",
		        current ? "true" : "false");
		struct rotor_store st = new_store((struct mk){.cid = "no-such-client-id"});
		EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
		assert_int_equal(err.http_status, current ? 401 : 404);
		assert_non_null(strstr(err.message, "clientId"));
		EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
		assert_non_null(strstr(err.message, "not logging in again"));
		assert_int_equal(count_calls("login", NULL, 0), 1); /* one per run */
		done_store(&st);
	}
}

/* ---- tests: limits and failures -------------------------------------------- */

static void test_rate_limits(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	seed_pair(OLD_AKID, OLD_SECRET); /* a whole pair: one list per read, no folder check */
	struct rotor_store st = new_store((struct mk){0});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);

	/* Two 429s (Retry-After: 60): waited out. */
	CONTROL("POST", "faults",
	        "{\"rules\": [{\"match\": \"list\", \"kind\": \"throttle\", \"count\": 2}]}");
	int64_t slept = tclk.slept_ms;
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_true(tclk.slept_ms - slept >= 120000);
	assert_true(tclk.slept_ms - slept < 121000);
	assert_int_equal(count_calls("list", NULL, 429), 2);
	assert_int_equal(count_calls("list", NULL, 200), 2);

	/* A storm: three waits (the default), then ETHROTTLED. */
	CONTROL("POST", "faults",
	        "{\"rules\": [{\"match\": \"list\", \"kind\": \"throttle\", \"count\": -1}]}");
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_ETHROTTLED);
	assert_int_equal(err.http_status, 429);
	assert_non_null(strstr(err.message, "RateLimitExceeded"));
	assert_int_equal(count_calls("list", NULL, 429), 6);
	CONTROL("DELETE", "faults", NULL);
	done_store(&st);

	/* max_rate_limit_waits is honoured. */
	st = new_store((struct mk){.max_waits = 1});
	CONTROL("DELETE", "calls", NULL);
	CONTROL("POST", "faults",
	        "{\"rules\": [{\"match\": \"list\", \"kind\": \"throttle\", \"count\": -1}]}");
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_ETHROTTLED);
	assert_int_equal(count_calls("list", NULL, 429), 2);
	CONTROL("DELETE", "faults", NULL);
	done_store(&st);

	/* A real window without Retry-After, the wait named in the message
	 * ("in 40 seconds"): rotor waits exactly that. */
	CONTROL("POST", "settings",
	        "{\"secret_reads_per_minute\": 1, \"retry_after_header\": false, "
	        "\"rate_limit_message_seconds\": true}");
	st = new_store((struct mk){0});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	advance(20);
	slept = tclk.slept_ms;
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_true(tclk.slept_ms - slept >= 38000); /* 40 s, give or take the */
	assert_true(tclk.slept_ms - slept < 41000);  /* second pacing crossed */
	/* "in 1 minute": 60 s. */
	CONTROL("POST", "settings", "{\"rate_limit_message_seconds\": false}");
	slept = tclk.slept_ms;
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_true(tclk.slept_ms - slept >= 60000);
	assert_true(tclk.slept_ms - slept < 61000);
	done_store(&st);

	/* A wait longer than the transport allows: refused at once. */
	CONTROL("POST", "settings",
	        "{\"secret_reads_per_minute\": null, \"retry_after_header\": true}");
	st = new_store((struct mk){.retry_after_max_ms = 30000});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	CONTROL("POST", "faults",
	        "{\"rules\": [{\"match\": \"list\", \"kind\": \"throttle\", \"count\": -1}]}");
	slept = tclk.slept_ms;
	CONTROL("DELETE", "calls", NULL);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_ETHROTTLED);
	assert_true(tclk.slept_ms - slept < 1000);
	assert_int_equal(count_calls("list", NULL, 429), 1);
	CONTROL("DELETE", "faults", NULL);
	done_store(&st);
}

static void test_pacing(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	struct rotor_infisical_options o;
	struct rotor_secret *id = NULL, *secret = NULL;
	struct rotor_store st;
	/* Defaults: 30 a minute, one request every 2 s. */
	memset(&o, 0, sizeof(o));
	o.site_url = srv.base_url;
	rotor_secret_from_str(&id, CID, 0, &err);
	rotor_secret_from_str(&secret, CSECRET, 0, &err);
	o.client_id = id;
	o.client_secret = secret;
	o.clock = &tclk;
	seed_pair(OLD_AKID, OLD_SECRET); /* one list per read: no folder check */
	EXPECT_RC(rotor_infisical_new(&st, &o, &err), 0);
	int64_t slept = tclk.slept_ms;
	for (int i = 0; i < 3; i++) {
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		rotor_store_pair_dispose(&p);
		rotor_store_pair_dispose(&p);
	}
	/* 3 lists, 2 gaps of 2 s; the login rides in the first list's slot
	 * (a token is checked only once its request has a slot). */
	assert_int_equal(tclk.slept_ms - slept, 4000);
	assert_int_equal(count_calls("login", NULL, 200), 1);
	done_store(&st);
	/* Missing pieces are refused, not crashed on. */
	o.site_url = NULL;
	EXPECT_RC(rotor_infisical_new(&st, &o, &err), ROTOR_EINVALID);
	assert_null(st.ops);
	o.site_url = srv.base_url;
	o.client_secret = NULL;
	EXPECT_RC(rotor_infisical_new(&st, &o, &err), ROTOR_EINVALID);
	rotor_secret_free(id);
	rotor_secret_free(secret);
}

/* issue 15, what the real server of 2024 showed. */

/* A missing folder or environment lists as empty there: believed, it read
 * as "adopt: create a key" and every write then failed with 404, churning
 * a key per pass. rotor proves the folder with the folders route. */
static void test_missing_folder_is_not_empty(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	CONTROL("POST", "settings", "{\"preset\": \"server-2024\"}");
	struct rotor_store st = new_store((struct mk){0});
	/* the folder exists and is empty: an empty pair, no error */
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	assert_false(p.has_akid || p.has_secret);
	/* a folder that does not exist */
	struct rotor_store_ref missing = REF;
	missing.secret_path = "/awz";
	EXPECT_RC(read_pair(&st, &missing, &p, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "folder /awz does not exist in environment prod"));
	assert_non_null(strstr(err.message, "rotor creates no key until it exists"));
	assert_false(p.has_akid || p.has_secret);
	/* nested, under a parent that does not exist either */
	missing.secret_path = "/no/such/place";
	EXPECT_RC(read_pair(&st, &missing, &p, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "folder /no/such/place does not exist"));
	/* an environment that does not exist */
	missing = REF;
	missing.environment = "prdo";
	EXPECT_RC(read_pair(&st, &missing, &p, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "environment (or project) does not exist"));
	assert_non_null(strstr(err.message, "Environment with slug 'prdo' not found"));
	/* the list itself answered 200 each time: the folders route decided */
	assert_int_equal(count_calls("list", NULL, 200), 4);
	assert_int_equal(count_calls("folders", NULL, 0), 4);
	/* a whole pair needs no proof */
	seed_pair(OLD_AKID, OLD_SECRET);
	CONTROL("DELETE", "calls", NULL);
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("folders", NULL, 0), 0);
	done_store(&st);
}

/* That server throttles with HTTP 500 "Something went wrong" plus
 * Retry-After and x-ratelimit-remaining: 0, never 429. */
static void test_throttled_as_500(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	seed_pair(OLD_AKID, OLD_SECRET);
	CONTROL("POST", "settings",
	        "{\"rate_limit_as_500\": true, \"secret_reads_per_minute\": 1}");
	struct rotor_store st = new_store((struct mk){0});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0); /* 1 of 1: remaining 0 */
	rotor_store_pair_dispose(&p);
	done_store(&st);
	/* the window is spent: the 500's Retry-After is waited out, not
	 * retried at once (1 s, 2 s) and reported as a server failure */
	st = new_store((struct mk){0});
	CONTROL("DELETE", "calls", NULL);
	int64_t slept = tclk.slept_ms;
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("list", NULL, 500), 1);
	assert_true(tclk.slept_ms - slept >= 50000); /* the window's rest, not 1 s + 2 s */
	done_store(&st);
	CONTROL("POST", "settings",
	        "{\"rate_limit_as_500\": false, \"secret_reads_per_minute\": null}");
}

/* The token is checked after the request has its pacing slot: with a TTL
 * shorter than the wait for the slot, a token checked before the wait
 * lapsed on the way (every call then failed with 401). */
static void test_token_checked_after_pacing(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p;
	seed_pair(OLD_AKID, OLD_SECRET);
	CONTROL("POST", "identities",
	        "{\"clientId\": \"rotor-brief-0001\", \"clientSecret\": \"%s\", "
	        "\"accessTokenTTL\": 8, \"accessTokenMaxTTL\": 3600, \"projects\": "
	        "[{\"projectId\": \"%s\"}]}",
	        CSECRET, PROJECT);
	struct rotor_infisical_options o;
	struct rotor_secret *id = NULL, *secret = NULL;
	struct rotor_store st;
	memset(&o, 0, sizeof(o));
	o.name = "infisical-test";
	o.site_url = srv.base_url;
	rotor_secret_from_str(&id, "rotor-brief-0001", 0, &err);
	rotor_secret_from_str(&secret, CSECRET, 0, &err);
	o.client_id = id;
	o.client_secret = secret;
	o.clock = &tclk;
	o.requests_per_minute = 6; /* one request every 10 s, longer than... */
	EXPECT_RC(rotor_infisical_new(&st, &o, &err), 0);
	for (int i = 0; i < 4; i++) {
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		rotor_store_pair_dispose(&p);
	}
	assert_int_equal(count_calls("list", NULL, 401), 0);
	assert_int_equal(count_calls("list", NULL, 200), 4);
	done_store(&st);
	rotor_secret_free(id);
	rotor_secret_free(secret);
}

static void test_server_errors_retried(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p, w;
	seed_pair(OLD_AKID, OLD_SECRET);
	for (int v4 = 0; v4 <= 1; v4++) {
		CONTROL("DELETE", "calls", NULL);
		struct rotor_store st = new_store((struct mk){.v4 = v4});
		CONTROL(
		    "POST", "faults",
		    "{\"rules\": [{\"match\": \"list\", \"kind\": \"error500\", \"count\": 2}]}");
		EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
		assert_int_equal(count_calls("list", NULL, 500), 2);
		/* A 5xx on the write, once: retried, written once. */
		CONTROL("POST", "faults",
		        "{\"rules\": [{\"match\": \"batch_update\", \"kind\": \"error500\", "
		        "\"count\": 1}]}");
		EXPECT_RC(write_pair(&st, &REF, v4 ? NEW2_AKID : NEW_AKID,
		                     v4 ? NEW2_SECRET : NEW_SECRET, &p, &w, &err),
		          0);
		rotor_store_pair_dispose(&p);
		rotor_store_pair_dispose(&w);
		/* Down for good: ETRANSIENT after the transport's attempts. */
		CONTROL(
		    "POST", "faults",
		    "{\"rules\": [{\"match\": \"list\", \"kind\": \"error500\", \"count\": -1}]}");
		EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_ETRANSIENT);
		assert_non_null(strstr(err.message, "HTTP 500"));
		CONTROL("DELETE", "faults", NULL);
		done_store(&st);
	}
	assert_state(AKID_NAME, NEW2_AKID, 3);
	assert_state(SECRET_NAME, NEW2_SECRET, 3);
}

static void test_permissions_and_validation(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair p, w;
	CONTROL("POST", "identities",
	        "{\"clientId\": \"rotor-readonly\", \"clientSecret\": \"%s\", \"projects\": "
	        "[{\"projectId\": \"%s\", \"write\": false}]}",
	        CSECRET, PROJECT);
	CONTROL("POST", "identities",
	        "{\"clientId\": \"rotor-stranger\", \"clientSecret\": \"%s\", \"projects\": []}",
	        CSECRET);
	struct rotor_store st = new_store((struct mk){.cid = "rotor-readonly"});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), 0);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &p, &w, &err), ROTOR_EAUTH);
	assert_int_equal(err.http_status, 403);
	assert_non_null(strstr(err.message, "PermissionDenied"));
	assert_non_null(strstr(err.message, "write access"));
	assert_non_null(strstr(err.message, "path /aws"));
	/* A permission error is not an expired token. */
	assert_int_equal(count_calls("login", NULL, 0), 1);
	done_store(&st);

	st = new_store((struct mk){.cid = "rotor-stranger"});
	EXPECT_RC(read_pair(&st, &REF, &p, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "not a member"));
	/* issue 15: the hint says what fixes it, not "grant read access" */
	assert_non_null(strstr(err.message, "add the machine identity to project " PROJECT));
	assert_null(strstr(err.message, "grant the machine identity read access"));
	done_store(&st);

	/* A malformed request (a name with a space): 422, or 401
	 * ValidationFailure on servers of late 2024. A bug, not a token. */
	struct rotor_store_ref bad = REF;
	bad.akid_name = "BAD NAME";
	for (int v401 = 0; v401 <= 1; v401++) {
		CONTROL("DELETE", "calls", NULL);
		CONTROL("POST", "settings", "{\"validation_401\": %s}", v401 ? "true" : "false");
		st = new_store((struct mk){0});
		EXPECT_RC(read_pair(&st, &bad, &p, &err), 0);
		EXPECT_RC(write_pair(&st, &bad, NEW_AKID, NEW_SECRET, &p, &w, &err),
		          ROTOR_EINVALID);
		assert_int_equal(err.http_status, v401 ? 401 : 422);
		assert_non_null(strstr(err.message, "ValidationFailure"));
		assert_int_equal(count_calls("login", NULL, 0), 1);
		done_store(&st);
	}
}

static void test_server_2024(void **state)
{
	(void)state;
	struct rotor_error err;
	struct rotor_store_pair cur, w, old;
	CONTROL("POST", "settings", "{\"preset\": \"server-2024\"}");
	struct rotor_store st = new_store((struct mk){.cid = SHORT_CID});
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), 0);
	assert_false(cur.has_akid || cur.has_secret);
	EXPECT_RC(write_pair(&st, &REF, NEW_AKID, NEW_SECRET, &cur, &w, &err), 0);
	assert_pair(&w, NEW_AKID, NEW_SECRET, 1, 1);
	rotor_store_pair_dispose(&cur);
	/* Same-token renewal on the way. */
	advance(250);
	EXPECT_RC(write_pair(&st, &REF, NEW2_AKID, NEW2_SECRET, &w, &cur, &err), 0);
	assert_pair(&cur, NEW2_AKID, NEW2_SECRET, 2, 2);
	assert_int_equal(count_calls("renew", "auth", 200), 1);
	assert_int_equal(count_calls("batch_create", "v3", 200), 1);
	assert_int_equal(count_calls("batch_update", "v3", 200), 1);
	/* ?version is not honoured: rollback says so. */
	EXPECT_RC(read_version(&st, 1, 1, &old, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "does not honour"));
	/* Creating names that exist (a stale read): legacy wording, 400. */
	struct rotor_store_pair none;
	memset(&none, 0, sizeof(none));
	EXPECT_RC(write_pair(&st, &REF, NEW3_AKID, NEW3_SECRET, &none, &old, &err),
	          ROTOR_ECONFLICT);
	assert_non_null(strstr(err.message, "Secret already exist"));
	assert_state(AKID_NAME, NEW2_AKID, 2);
	/* A missing folder, 2024 style. */
	struct rotor_store_ref nofolder = REF;
	nofolder.secret_path = "/nope";
	EXPECT_RC(read_pair(&st, &nofolder, &old, &err), ROTOR_ENOTFOUND);
	assert_non_null(strstr(err.message, "path /nope"));
	rotor_store_pair_dispose(&cur);
	rotor_store_pair_dispose(&w);
	done_store(&st);

	/* api v4 against a 2024 server: no such routes; say so. */
	st = new_store((struct mk){.v4 = 1});
	EXPECT_RC(read_pair(&st, &REF, &cur, &err), ROTOR_EINVALID);
	assert_non_null(strstr(err.message, "v4"));
	assert_non_null(strstr(err.message, "v3"));
	done_store(&st);
}

/* Batched reads (issue 17): the refs of a pass named first, then the first
 * read of each answered from one recursive list of their common folder;
 * what the list cannot prove (a folder the identity may not read, which
 * the server leaves out silently; a half pair) is read on its own, with
 * its own error; every later read of a ref asks the server. */
static void test_batched_reads(void **state)
{
	(void)state;
	static const char *const folders[] = {"/team/a", "/team/b", "/team/hidden", "/team/half"};
	struct rotor_store_ref refs[4];
	for (int i = 0; i < 4; i++) {
		refs[i] = REF;
		refs[i].secret_path = folders[i];
		CONTROL("POST", "folders",
		        "{\"projectId\": \"%s\", \"environment\": \"prod\", \"path\": \"%s\"}",
		        PROJECT, folders[i]);
	}
	CONTROL("POST", "identities",
	        "{\"clientId\": \"batch-id\", \"clientSecret\": \"%s\", \"projects\": "
	        "[{\"projectId\": \"%s\", \"paths\": [\"/team\", \"/team/a\", \"/team/b\", "
	        "\"/team/half\"]}]}",
	        CSECRET, PROJECT);
	for (int i = 0; i < 4; i++) {
		char akid[32];
		snprintf(akid, sizeof(akid), "AKIABATCH00000000%03d", i);
		CONTROL(
		    "POST", "secrets",
		    "{\"projectId\": \"%s\", \"environment\": \"prod\", \"secretPath\": \"%s\", "
		    "\"secretKey\": \"%s\", \"secretValue\": \"%s\"}",
		    PROJECT, folders[i], AKID_NAME, akid);
		if (i != 3)
			CONTROL(
			    "POST", "secrets",
			    "{\"projectId\": \"%s\", \"environment\": \"prod\", \"secretPath\": "
			    "\"%s\", \"secretKey\": \"%s\", \"secretValue\": \"secret-%d\"}",
			    PROJECT, folders[i], SECRET_NAME, i);
	}
	struct rotor_store st = new_store((struct mk){.cid = "batch-id"});
	struct rotor_error err;
	struct rotor_store_pair p;
	assert_non_null(st.ops->expect);
	assert_int_equal(st.ops->expect(st.ctx, refs, 4, &err), 0);
	assert_int_equal(read_pair(&st, &refs[0], &p, &err), 0);
	assert_pair(&p, "AKIABATCH00000000000", "secret-0", 1, 1);
	rotor_store_pair_dispose(&p);
	assert_int_equal(read_pair(&st, &refs[1], &p, &err), 0);
	assert_pair(&p, "AKIABATCH00000000001", "secret-1", 1, 1);
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("list", NULL, 200), 1); /* one list for both */
	const struct seen *list = seen_find("GET", "recursive=true", 0);
	assert_non_null(list);
	assert_non_null(strstr(list->url, "secretPath=%2Fteam&"));
	assert_non_null(strstr(list->url, "include_imports=false"));
	/* left out of the list: read on its own, which answers 403 */
	assert_int_equal(read_pair(&st, &refs[2], &p, &err), ROTOR_EAUTH);
	assert_non_null(strstr(err.message, "/team/hidden"));
	/* a half pair is confirmed by a read of its own (and its folder check) */
	assert_int_equal(read_pair(&st, &refs[3], &p, &err), 0);
	assert_true(p.has_akid && !p.has_secret);
	rotor_store_pair_dispose(&p);
	/* a second read of a ref asks the server: a re-check sees a change */
	CONTROL("POST", "secrets",
	        "{\"projectId\": \"%s\", \"environment\": \"prod\", \"secretPath\": \"/team/a\", "
	        "\"secretKey\": \"%s\", \"secretValue\": \"AKIACHANGED000000001\"}",
	        PROJECT, AKID_NAME);
	int lists = count_calls("list", NULL, 0);
	assert_int_equal(read_pair(&st, &refs[0], &p, &err), 0);
	assert_string_equal(p.akid, "AKIACHANGED000000001");
	rotor_store_pair_dispose(&p);
	assert_int_equal(count_calls("list", NULL, 0), lists + 1);
	done_store(&st);
}

/* A server without `recursive` (2024) lists the one folder with no
 * secretPath: rotor notices and reads folder by folder, correctly. */
static void test_batched_reads_on_a_2024_server(void **state)
{
	(void)state;
	static const char *const folders[] = {"/x/a", "/x/b"};
	struct rotor_store_ref refs[2];
	CONTROL("POST", "settings", "{\"preset\": \"server-2024\"}");
	for (int i = 0; i < 2; i++) {
		refs[i] = REF;
		refs[i].secret_path = folders[i];
		CONTROL("POST", "folders",
		        "{\"projectId\": \"%s\", \"environment\": \"prod\", \"path\": \"%s\"}",
		        PROJECT, folders[i]);
		CONTROL(
		    "POST", "secrets",
		    "{\"projectId\": \"%s\", \"environment\": \"prod\", \"secretPath\": \"%s\", "
		    "\"secretKey\": \"%s\", \"secretValue\": \"AKIAOLDSERVER0000%03d\"}",
		    PROJECT, folders[i], AKID_NAME, i);
		CONTROL(
		    "POST", "secrets",
		    "{\"projectId\": \"%s\", \"environment\": \"prod\", \"secretPath\": \"%s\", "
		    "\"secretKey\": \"%s\", \"secretValue\": \"s-%d\"}",
		    PROJECT, folders[i], SECRET_NAME, i);
	}
	struct rotor_store st = new_store((struct mk){0});
	struct rotor_error err;
	struct rotor_store_pair p;
	assert_int_equal(st.ops->expect(st.ctx, refs, 2, &err), 0);
	for (int i = 0; i < 2; i++) {
		char akid[32], secret[8];
		snprintf(akid, sizeof(akid), "AKIAOLDSERVER0000%03d", i);
		snprintf(secret, sizeof(secret), "s-%d", i);
		assert_int_equal(read_pair(&st, &refs[i], &p, &err), 0);
		assert_pair(&p, akid, secret, 1, 1);
		rotor_store_pair_dispose(&p);
	}
	/* the recursive attempt, then one list per folder */
	assert_int_equal(count_calls("list", NULL, 200), 3);
	done_store(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_login_and_adoption, reset),
	    cmocka_unit_test_setup(test_batched_reads, reset),
	    cmocka_unit_test_setup(test_batched_reads_on_a_2024_server, reset),
	    cmocka_unit_test_setup(test_read_half_and_whole_pair, reset),
	    cmocka_unit_test_setup(test_missing_location, reset),
	    cmocka_unit_test_setup(test_rotated_secret_refused, reset),
	    cmocka_unit_test_setup(test_write_v3, reset),
	    cmocka_unit_test_setup(test_write_v4, reset),
	    cmocka_unit_test_setup(test_failed_batch_leaves_pair, reset),
	    cmocka_unit_test_setup(test_approval_and_odd_replies, reset),
	    cmocka_unit_test_setup(test_read_version, reset),
	    cmocka_unit_test_setup(test_version_not_honoured, reset),
	    cmocka_unit_test_setup(test_token_expiry_mid_pass, reset),
	    cmocka_unit_test_setup(test_renewal, reset),
	    cmocka_unit_test_setup(test_wrong_secret_no_login_storm, reset),
	    cmocka_unit_test_setup(test_unknown_client_id, reset),
	    cmocka_unit_test_setup(test_rate_limits, reset),
	    cmocka_unit_test_setup(test_pacing, reset),
	    cmocka_unit_test_setup(test_missing_folder_is_not_empty, reset),
	    cmocka_unit_test_setup(test_throttled_as_500, reset),
	    cmocka_unit_test_setup(test_token_checked_after_pacing, reset),
	    cmocka_unit_test_setup(test_server_errors_retried, reset),
	    cmocka_unit_test_setup(test_permissions_and_validation, reset),
	    cmocka_unit_test_setup(test_server_2024, reset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
