/* fuzzsupport.c: records, the libcurl fake and temporary files for the fuzz
 * harnesses (see fuzzsupport.h). */
#define _GNU_SOURCE /* nftw, memmem */
#include "fuzzsupport.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rotor/error.h"
#include "rotor/log.h"

static const char SEPARATOR[] = "\n%%\n";

void fuzz_split(const uint8_t *data, size_t size, struct fuzz_records *out)
{
	const char *p = (const char *)data, *end = p + size;
	size_t seplen = sizeof(SEPARATOR) - 1;
	out->n = 0;
	for (;;) {
		const char *sep = NULL;
		if (out->n + 1 < FUZZ_MAX_RECORDS)
			for (const char *q = p; (size_t)(end - q) >= seplen; q++)
				if (memcmp(q, SEPARATOR, seplen) == 0) {
					sep = q;
					break;
				}
		out->r[out->n].data = p;
		out->r[out->n].len = sep ? (size_t)(sep - p) : (size_t)(end - p);
		out->n++;
		if (!sep)
			return;
		p = sep + seplen;
	}
}

void fuzz_first_line(const struct fuzz_record *rec, char *buf, size_t len)
{
	size_t n = 0;
	while (n < rec->len && rec->data[n] != '\n' && n + 1 < len)
		n++;
	memcpy(buf, rec->data, n);
	buf[n] = '\0';
	if (n && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
}

int fuzz_has_word(const char *line, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = line; *p;) {
		size_t n = strcspn(p, " \t");
		if (n == wl && memcmp(p, word, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " \t");
	}
	return 0;
}

/* ---- the libcurl fake ---------------------------------------------------- */

/* What rotor told the (one) handle it is about to perform, and the replies
 * left. rotor sets every option before each attempt (after
 * curl_easy_reset), so one set of options is enough. */
static struct {
	struct fuzz_records recs;
	size_t next;
	size_t requests;
	int probed;
	long status; /* of the last reply, for CURLINFO_RESPONSE_CODE */
	curl_write_callback write_cb, header_cb;
	void *write_data, *header_data;
	char *errbuf;
	curl_off_t max_size;
} fake;

CURLcode __wrap_curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode __wrap_curl_easy_perform(CURL *curl);
CURLcode __wrap_curl_easy_getinfo(CURL *curl, CURLINFO info, ...);
CURLcode __real_curl_easy_getinfo(CURL *curl, CURLINFO info, ...);

CURLcode __wrap_curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	(void)curl;
	va_start(ap, option);
	switch (option) {
	case CURLOPT_WRITEFUNCTION:
		fake.write_cb = va_arg(ap, curl_write_callback);
		break;
	case CURLOPT_WRITEDATA:
		fake.write_data = va_arg(ap, void *);
		break;
	case CURLOPT_HEADERFUNCTION:
		fake.header_cb = va_arg(ap, curl_write_callback);
		break;
	case CURLOPT_HEADERDATA:
		fake.header_data = va_arg(ap, void *);
		break;
	case CURLOPT_ERRORBUFFER:
		fake.errbuf = va_arg(ap, char *);
		break;
	case CURLOPT_MAXFILESIZE_LARGE:
		fake.max_size = va_arg(ap, curl_off_t);
		break;
	default:
		break;
	}
	va_end(ap);
	return CURLE_OK;
}

CURLcode __wrap_curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	va_start(ap, info);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (info == CURLINFO_RESPONSE_CODE) {
		*(long *)arg = fake.status;
		return CURLE_OK;
	}
	return __real_curl_easy_getinfo(curl, info, arg);
}

/* Hands one chunk to a callback in a buffer of exactly its size, so that
 * AddressSanitizer sees a read past it. */
static int deliver(curl_write_callback cb, void *ud, const char *p, size_t n)
{
	char *copy = malloc(n ? n : 1);
	if (!copy)
		abort();
	memcpy(copy, p, n);
	size_t took = cb(copy, 1, n, ud);
	free(copy);
	return took == n ? 0 : -1;
}

static void fail_with(const char *why)
{
	if (fake.errbuf)
		snprintf(fake.errbuf, CURL_ERROR_SIZE, "fuzz: %s", why);
}

CURLcode __wrap_curl_easy_perform(CURL *curl)
{
	if (!curl) {
		fake.probed = 1;
		return CURLE_BAD_FUNCTION_ARGUMENT;
	}
	fake.requests++;
	fake.status = 0;
	if (fake.errbuf)
		fake.errbuf[0] = '\0';
	if (fake.next >= fake.recs.n) {
		fail_with("no reply left");
		return CURLE_COULDNT_CONNECT;
	}
	const struct fuzz_record *rec = &fake.recs.r[fake.next++];
	const char *p = rec->data, *end = p + rec->len;

	/* The status line: "!N" is libcurl error N, digits a status. */
	int is_error = p < end && *p == '!';
	long num = 0;
	if (is_error)
		p++;
	while (p < end && *p >= '0' && *p <= '9' && num < 100000)
		num = num * 10 + (*p++ - '0');
	while (p < end && *p != '\n')
		p++;
	if (p < end)
		p++;
	if (is_error) {
		fail_with("scripted transport error");
		return num > 0 && num < CURL_LAST ? (CURLcode)num : CURLE_RECV_ERROR;
	}
	fake.status = num ? num : 200;

	char line[64];
	int n = snprintf(line, sizeof(line), "HTTP/1.1 %ld\r\n", fake.status);
	if (fake.header_cb && deliver(fake.header_cb, fake.header_data, line, (size_t)n))
		return CURLE_WRITE_ERROR;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t len = (size_t)(le - p);
		if (len && p[len - 1] == '\r')
			len--;
		if (len == 0) {
			p = nl ? nl + 1 : end;
			break; /* the blank line: the body follows */
		}
		char *h = malloc(len + 2);
		if (!h)
			abort();
		memcpy(h, p, len);
		memcpy(h + len, "\r\n", 2);
		int bad = fake.header_cb && deliver(fake.header_cb, fake.header_data, h, len + 2);
		free(h);
		if (bad)
			return CURLE_WRITE_ERROR;
		p = nl ? nl + 1 : end;
	}
	if (fake.header_cb && deliver(fake.header_cb, fake.header_data, "\r\n", 2))
		return CURLE_WRITE_ERROR;

	size_t body = (size_t)(end - p);
	if (fake.max_size > 0 && (curl_off_t)body > fake.max_size) {
		fail_with("maximum file size exceeded");
		return CURLE_FILESIZE_EXCEEDED;
	}
	while (p < end && fake.write_cb) {
		size_t chunk = (size_t)(end - p) > CURL_MAX_WRITE_SIZE ? CURL_MAX_WRITE_SIZE
		                                                       : (size_t)(end - p);
		if (deliver(fake.write_cb, fake.write_data, p, chunk))
			return CURLE_WRITE_ERROR;
		p += chunk;
	}
	return CURLE_OK;
}

void fuzz_http_serve(const struct fuzz_records *recs, size_t first)
{
	fake.recs = *recs;
	fake.next = first;
	fake.requests = 0;
}

size_t fuzz_http_requests(void)
{
	return fake.requests;
}

void fuzz_http_check(void)
{
	if (fake.probed)
		return;
	curl_easy_perform(NULL);
	if (!fake.probed) {
		fputs("fuzz: the libcurl fake is not linked in (-Wl,--wrap=curl_easy_perform); "
		      "refusing to run a harness that would use the network\n",
		      stderr);
		abort();
	}
}

/* ---- process set-up and files --------------------------------------------- */

static char tmpdir[256];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_setup(void)
{
	if (tmpdir[0])
		return tmpdir;
	FILE *devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	rotor_log_setup(devnull, ROTOR_LOG_DEBUG, ROTOR_LOG_JSON, NULL);
	const char *base = getenv("TMPDIR");
	if (access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	snprintf(tmpdir, sizeof(tmpdir), "%s/rotor-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_tmpdir);
	return tmpdir;
}

const char *fuzz_file(const char *name, const void *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", fuzz_setup(), name);
	if (!data) {
		if (unlink(path) != 0 && errno != ENOENT)
			abort();
		return path;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		abort();
	}
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w <= 0)
			abort();
		p += w;
		len -= (size_t)w;
	}
	close(fd);
	return path;
}

void fuzz_report(const char *step, int rc, const struct rotor_error *err)
{
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("ROTOR_FUZZ_VERBOSE") != NULL;
	if (!verbose)
		return;
	if (rc)
		fprintf(stderr, "  %s: %s (HTTP %d, %s, request %s): %s [%zu requests]\n", step,
		        rotor_error_code_name(rc), err->http_status, err->remote_code,
		        err->request_id, err->message, fake.requests);
	else
		fprintf(stderr, "  %s: ok [%zu requests]\n", step, fake.requests);
}

__attribute__((noinline)) void fuzz_poison_stack(void)
{
	/* Through a volatile pointer: a plain memset of a dead array may be
	 * optimised away. */
	static void *(*volatile fill)(void *, int, size_t) = memset;
	unsigned char block[64 * 1024];
	fill(block, FUZZ_POISON, sizeof(block));
}

void fuzz_remove(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", fuzz_setup(), name);
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void check_field(const char *what, const char *s, size_t cap, const char *const *secrets,
                        int poison_is_a_finding)
{
	size_t len = strnlen(s, cap);
	for (size_t i = 0; secrets && secrets[i]; i++) {
		size_t sl = strlen(secrets[i]);
		if (sl >= ROTOR_REDACT_MIN && sl <= len && memmem(s, len, secrets[i], sl)) {
			fprintf(stderr, "fuzz: secret %zu appears in the error's %s: \"%.*s\"\n", i,
			        what, (int)len, s);
			abort();
		}
	}
	if (poison_is_a_finding && memchr(s, FUZZ_POISON, len)) {
		fprintf(stderr, "fuzz: the error's %s holds uninitialised bytes: \"%.*s\"\n", what,
		        (int)len, s);
		abort();
	}
}

void fuzz_check_error(const struct rotor_error *err, const char *const *secrets,
                      const uint8_t *data, size_t size)
{
	int poison = memchr(data, FUZZ_POISON, size) == NULL;
	check_field("message", err->message, sizeof(err->message), secrets, poison);
	check_field("remote code", err->remote_code, sizeof(err->remote_code), secrets, poison);
	check_field("request id", err->request_id, sizeof(err->request_id), secrets, poison);
}

void fuzz_clear_aws_env(void)
{
	static const char *const unset[] = {
	    "AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY",
	    "AWS_SESSION_TOKEN",
	    "AWS_ROLE_ARN",
	    "AWS_WEB_IDENTITY_TOKEN_FILE",
	    "AWS_ROLE_SESSION_NAME",
	    "AWS_PROFILE",
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    "AWS_EC2_METADATA_DISABLED",
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	    "AWS_ENDPOINT_URL",
	    "AWS_ENDPOINT_URL_STS",
	    NULL,
	};
	for (size_t i = 0; unset[i]; i++)
		unsetenv(unset[i]);
}
