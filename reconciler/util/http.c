/*
 * http.c: the HTTP transport every provider talks through, on libcurl.
 *
 * A struct rotor_http owns one curl easy handle so that consecutive calls to
 * the same remote reuse the connection (and the TLS session). rotor_http_do
 * makes up to max_attempts attempts, each bounded by a timeout clipped to what
 * is left of the whole call's deadline, and sleeps between them through the
 * injectable clock (full-jitter exponential back-off, or exactly what the
 * server asked for with Retry-After). TLS is always verified, redirects are
 * never followed (they would carry signed headers elsewhere), only http and
 * https are allowed, and response bodies and headers are capped. Bodies may
 * hold secrets: they are never logged, and every buffer and header list that
 * held request or response data is wiped before it is freed. The strings in
 * the options (ca_bundle, user_agent) are borrowed and must outlive the handle;
 * a handle serves one thread at a time.
 */
#include "util/http.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rotor/clock.h"
#include "rotor/log.h"
#include "rotor/timefmt.h"
#include "util/retry.h"

/* Response headers of one attempt; curl itself refuses a header over 100 KB. */
#define HEADERS_MAX ((size_t)64 * 1024)

struct rotor_http {
	CURL *curl;                     /* kept between calls for connection reuse */
	struct rotor_http_options opts; /* a copy, zero fields replaced by defaults */
	char errbuf[CURL_ERROR_SIZE];   /* libcurl's detail for the last attempt */
};

/* Where one attempt's response goes, and why the callbacks stopped it. */
struct sink {
	struct rotor_http_response *res;
	int body_over;    /* the body passed max_response */
	int headers_over; /* the headers passed HEADERS_MAX */
	int nomem;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void rotor_http_options_init(struct rotor_http_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = 30000;
	opts->connect_timeout_ms = 10000;
	opts->deadline_ms = 120000;
	opts->max_response = (size_t)4 * 1024 * 1024;
	opts->max_attempts = 3;
	opts->backoff_base_ms = 1000;
	opts->backoff_max_ms = 20000;
	opts->retry_after_max_ms = 120000;
	opts->user_agent = "rotor/" ROTOR_VERSION;
	opts->classify = rotor_http_classify_default;
}

/* Callers that zeroed the struct instead of calling _init get the defaults. */
static void fill_defaults(struct rotor_http_options *o)
{
	struct rotor_http_options d;
	rotor_http_options_init(&d);
	if (o->timeout_ms <= 0)
		o->timeout_ms = d.timeout_ms;
	if (o->connect_timeout_ms <= 0)
		o->connect_timeout_ms = d.connect_timeout_ms;
	if (o->deadline_ms <= 0)
		o->deadline_ms = d.deadline_ms;
	if (o->max_response == 0)
		o->max_response = d.max_response;
	if (o->max_attempts <= 0)
		o->max_attempts = d.max_attempts;
	if (o->backoff_base_ms < 0)
		o->backoff_base_ms = 0;
	if (o->backoff_max_ms < o->backoff_base_ms)
		o->backoff_max_ms = o->backoff_base_ms;
	if (o->retry_after_max_ms < 0)
		o->retry_after_max_ms = 0;
	if (!o->user_agent)
		o->user_agent = d.user_agent;
	if (!o->classify)
		o->classify = d.classify;
	if (!o->clock)
		o->clock = rotor_clock_real();
}

int rotor_http_new(struct rotor_http **out, const struct rotor_http_options *opts,
                   struct rotor_error *err)
{
	struct rotor_http *h = NULL;
	int rc = 0;
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		rc = rotor_error_set(err, ROTOR_EINTERNAL, "libcurl initialisation failed: %s",
		                     curl_easy_strerror(global_rc));
		goto done;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = rotor_error_set(err, ROTOR_ENOMEM, "http: out of memory");
		goto done;
	}
	if (opts)
		h->opts = *opts;
	else
		rotor_http_options_init(&h->opts);
	fill_defaults(&h->opts);
	h->curl = curl_easy_init();
	if (!h->curl) {
		rc = rotor_error_set(err, ROTOR_ENOMEM, "http: curl_easy_init failed");
		goto done;
	}
	*out = h;
	h = NULL;
done:
	rotor_http_free(h);
	return rc;
}

void rotor_http_free(struct rotor_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

int rotor_http_request_header(struct rotor_http_request *req, const char *name, const char *value)
{
	if (!req || !name || !value)
		return ROTOR_EINVALID;
	if (req->nheaders >= ROTOR_HTTP_MAX_HEADERS)
		return ROTOR_ELIMIT;
	req->headers[req->nheaders].name = name;
	req->headers[req->nheaders].value = value;
	req->nheaders++;
	return 0;
}

void rotor_http_response_dispose(struct rotor_http_response *res)
{
	if (!res)
		return;
	rotor_buf_dispose(&res->body);
	rotor_buf_dispose(&res->headers);
	res->status = 0;
}

/* ---- response headers ---- */

int rotor_http_response_header(const struct rotor_http_response *res, const char *name, char *buf,
                               size_t len)
{
	size_t nlen = strlen(name);
	const char *p = res->headers.data;
	if (!p)
		return 0;
	while (*p) {
		const char *eol = strpbrk(p, "\r\n");
		const char *end = eol ? eol : p + strlen(p);
		if ((size_t)(end - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = end;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (len > 0) {
				size_t n = (size_t)(ve - v);
				if (n > len - 1)
					n = len - 1;
				memcpy(buf, v, n);
				buf[n] = '\0';
			}
			return 1;
		}
		p = end;
		while (*p == '\r' || *p == '\n')
			p++;
	}
	return 0;
}

/* ---- Retry-After ---- */

static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* An IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", into Unix seconds. */
static int parse_http_date(const char *s, int64_t *out)
{
	static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char wday[4], mon[4];
	int day, year, hh, mm, ss, used = -1;
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wday, &day, mon, &year,
	           &hh, &mm, &ss, &used) != 7 ||
	    used < 0 || s[used] != '\0')
		return -1;
	int m = name_index(mon, months, 12);
	if (name_index(wday, days, 7) < 0 || m < 0 || day < 1 || day > 31 || year < 1970 ||
	    hh > 23 || mm > 59 || ss > 60 || hh < 0 || mm < 0 || ss < 0)
		return -1;
	*out = rotor_time_from_civil(year, m + 1, day, hh, mm, ss);
	return 0;
}

int64_t rotor_http_parse_retry_after(const char *value, int64_t now)
{
	char tmp[64];
	size_t n;
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, value, n);
	tmp[n] = '\0';
	if (strspn(tmp, "0123456789") == n) {
		/* Absurd delays saturate rather than wrap; callers refuse them. */
		int64_t secs = 0;
		for (size_t i = 0; i < n; i++) {
			if (secs > (INT64_MAX / 1000 - 9) / 10)
				return INT64_MAX; /* secs * 1000 would overflow */
			secs = secs * 10 + (tmp[i] - '0');
		}
		return secs * 1000;
	}
	int64_t when;
	if (parse_http_date(tmp, &when) != 0)
		return -1;
	return when <= now ? 0 : (when - now) * 1000;
}

int rotor_http_status_kind(long status)
{
	switch (status) {
	case 401:
	case 403:
		return ROTOR_EAUTH;
	case 404:
		return ROTOR_ENOTFOUND;
	case 409:
		return ROTOR_ECONFLICT;
	case 429:
		return ROTOR_ETHROTTLED;
	default:
		return status >= 500 ? ROTOR_ETRANSIENT : ROTOR_EINVALID;
	}
}

enum rotor_http_verdict rotor_http_classify_none(void *ctx, const struct rotor_http_response *res,
                                                 int64_t *retry_after_ms)
{
	(void)ctx;
	(void)res;
	(void)retry_after_ms;
	return ROTOR_HTTP_DONE;
}

enum rotor_http_verdict rotor_http_classify_default(void *ctx,
                                                    const struct rotor_http_response *res,
                                                    int64_t *retry_after_ms)
{
	char value[64];
	(void)ctx;
	if (res->status != 429 && (res->status < 500 || res->status > 599))
		return ROTOR_HTTP_DONE;
	if (retry_after_ms &&
	    rotor_http_response_header(res, "Retry-After", value, sizeof(value))) {
		/* The classifier has no clock of the caller's; HTTP dates are
		 * measured against the process clock (ROTOR_TEST_TIME aware). */
		struct rotor_clock *c = rotor_clock_real();
		int64_t ms = rotor_http_parse_retry_after(value, c->now(c));
		if (ms >= 0)
			*retry_after_ms = ms;
	}
	return ROTOR_HTTP_RETRY;
}

/* ---- percent-encoding ---- */

static int encode(struct rotor_buf *b, const char *s, size_t len, int space_as_plus)
{
	static const char hex[] = "0123456789ABCDEF";
	char chunk[192];
	size_t used = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (used + 3 > sizeof(chunk)) {
			int rc = rotor_buf_append(b, chunk, used);
			if (rc)
				return rc;
			used = 0;
		}
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			chunk[used++] = (char)c;
		} else if (c == ' ' && space_as_plus) {
			chunk[used++] = '+';
		} else {
			chunk[used++] = '%';
			chunk[used++] = hex[c >> 4];
			chunk[used++] = hex[c & 15];
		}
	}
	int rc = rotor_buf_append(b, chunk, used);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

int rotor_http_urlencode(struct rotor_buf *b, const char *s, size_t len)
{
	return encode(b, s, len, 0);
}

int rotor_http_formencode(struct rotor_buf *b, const char *s, size_t len)
{
	return encode(b, s, len, 1);
}

/* ---- one attempt ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	int rc = rotor_buf_append(&s->res->body, ptr, n);
	if (rc == ROTOR_ELIMIT)
		s->body_over = 1;
	else if (rc)
		s->nomem = 1;
	return rc ? 0 : n; /* a short count makes curl abort the transfer */
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	/* A status line starts a new response (after a 100 Continue, say):
	 * keep the headers of the final one only. Skip the blank end line. */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		rotor_buf_reset(&s->res->headers);
		return n;
	}
	if (n == 2 && ptr[0] == '\r' && ptr[1] == '\n')
		return n;
	int rc = rotor_buf_append(&s->res->headers, ptr, n);
	if (rc == ROTOR_ELIMIT)
		s->headers_over = 1;
	else if (rc)
		s->nomem = 1;
	return rc ? 0 : n;
}

/* Reapplies every option: curl_easy_reset forgets the previous request's
 * method and body but keeps the live connections and the TLS session cache. */
static CURLcode attempt_once(struct rotor_http *h, const struct rotor_http_request *req,
                             struct curl_slist *hdrs, int64_t timeout_ms, struct sink *sink)
{
	CURL *c = h->curl;
	const struct rotor_http_options *o = &h->opts;
	int64_t connect_ms =
	    o->connect_timeout_ms < timeout_ms ? o->connect_timeout_ms : timeout_ms;

	curl_easy_reset(c);
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_bundle);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_response);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, sink);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	/* libcurl silently re-sends a request once when a reused connection
	 * turns out closed before any reply. For a call that must not run
	 * twice (CreateAccessKey), the first may have been carried out: use a
	 * fresh connection, where curl never re-sends. */
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, req->not_idempotent ? 1L : 0L);

	int is_post = strcmp(req->method, "POST") == 0;
	int sends_body = req->body || is_post || strcmp(req->method, "PUT") == 0 ||
	                 strcmp(req->method, "PATCH") == 0;
	if (sends_body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(req->body ? req->body_len : 0));
		if (!is_post)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		if (strcmp(req->method, "GET") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
	return curl_easy_perform(c);
}

/* Header values may be credentials (a bearer token): wipe curl's copies. */
static void free_headers(struct curl_slist *list)
{
	for (struct curl_slist *p = list; p; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(list);
}

/* The request headers as a curl list. Line breaks would let a value smuggle
 * in headers of its own, so they are refused. An empty value needs curl's
 * "Name;" form. "Expect:" stops curl's 100-continue pause on larger bodies. */
static int build_headers(struct curl_slist **out, const struct rotor_http_request *req,
                         const char *name, struct rotor_error *err)
{
	struct curl_slist *list = NULL, *next;
	struct rotor_buf line;
	int rc = 0, has_expect = 0;
	rotor_buf_init(&line, 16 * 1024);
	for (size_t i = 0; i < req->nheaders && i < ROTOR_HTTP_MAX_HEADERS; i++) {
		const struct rotor_http_header *hd = &req->headers[i];
		if (!hd->name || !hd->value || strpbrk(hd->name, "\r\n:") ||
		    strpbrk(hd->value, "\r\n")) {
			rc = rotor_error_set(err, ROTOR_EINVALID, "%s: malformed request header %s",
			                     name, hd->name ? hd->name : "(null)");
			goto done;
		}
		if (strcasecmp(hd->name, "Expect") == 0)
			has_expect = 1;
		rotor_buf_reset(&line);
		rc = hd->value[0] ? rotor_buf_printf(&line, "%s: %s", hd->name, hd->value)
		                  : rotor_buf_printf(&line, "%s;", hd->name);
		if (rc) {
			rc = rotor_error_set(err, rc, "%s: request header %s too large", name,
			                     hd->name);
			goto done;
		}
		next = curl_slist_append(list, line.data);
		if (!next)
			goto nomem;
		list = next;
	}
	if (!has_expect) {
		next = curl_slist_append(list, "Expect:");
		if (!next)
			goto nomem;
		list = next;
	}
	*out = list;
	list = NULL;
	goto done;
nomem:
	rc = rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", name);
done:
	rotor_buf_dispose(&line);
	free_headers(list);
	return rc;
}

/* ---- the retry loop ---- */

static int curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static const char *curl_brief(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return "timed out";
	case CURLE_COULDNT_CONNECT:
		return "could not connect";
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return "could not resolve host";
	case CURLE_PARTIAL_FILE:
		return "truncated response";
	case CURLE_GOT_NOTHING:
		return "empty reply";
	case CURLE_SEND_ERROR:
		return "send failed";
	case CURLE_RECV_ERROR:
		return "receive failed";
	case CURLE_SSL_CONNECT_ERROR:
		return "TLS handshake failed";
	case CURLE_PEER_FAILED_VERIFICATION:
		return "TLS verification failed";
	default:
		return "transfer failed";
	}
}

/* "ListAccessKeys(bob)", or the method and URL without query or fragment
 * (a presigned URL carries its signature in the query). */
static void call_name(char *out, size_t len, const struct rotor_http_request *req)
{
	if (req->what) {
		snprintf(out, len, "%s", req->what);
		return;
	}
	const char *url = req->url ? req->url : "(no URL)";
	int ulen = (int)strcspn(url, "?#");
	snprintf(out, len, "%s %.*s", req->method ? req->method : "(no method)", ulen, url);
}

static void format_wait(char *out, size_t len, int64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(out, len, "%lld s", (long long)(ms / 1000));
	else
		snprintf(out, len, "%lld ms", (long long)ms);
}

/* The outcome of the last attempt, for the error once retrying stops. */
struct last_outcome {
	CURLcode cc;                  /* CURLE_OK when a response arrived */
	long status;                  /* its HTTP status */
	char detail[CURL_ERROR_SIZE]; /* curl's own words on cc */
};

/* Retries exhausted (or no time left for another). A 429, and a 4xx that a
 * provider's classifier retried (AWS puts throttling in 400 bodies), means
 * throttled; a 5xx or a connection failure means transient. */
static int fail_exhausted(struct rotor_error *err, const char *name, const struct last_outcome *l,
                          int attempts, const char *why)
{
	const char *s = attempts == 1 ? "" : "s";
	if (l->cc == CURLE_OK) {
		int code =
		    l->status >= 400 && l->status < 500 ? ROTOR_ETHROTTLED : ROTOR_ETRANSIENT;
		return rotor_error_set(err, code, "%s: HTTP %ld after %d attempt%s%s", name,
		                       l->status, attempts, s, why);
	}
	return rotor_error_set(err, ROTOR_ETRANSIENT, "%s: %s after %d attempt%s%s (%s)", name,
	                       curl_brief(l->cc), attempts, s, why, l->detail);
}

int rotor_http_do(struct rotor_http *h, const struct rotor_http_request *req,
                  struct rotor_http_response *res, struct rotor_error *err)
{
	const struct rotor_http_options *o = &h->opts;
	struct rotor_clock *clk = o->clock;
	struct curl_slist *hdrs = NULL;
	struct last_outcome last;
	char name[256];
	int rc = 0, attempt = 0;
	int remote_status = 0; /* the last attempt's status, 0 when no reply came */
	int64_t remaining, timeout, wait;

	rotor_buf_init(&res->body, o->max_response);
	rotor_buf_init(&res->headers, HEADERS_MAX);
	res->status = 0;
	res->attempts = 0;
	call_name(name, sizeof(name), req);
	if (!req->method || !req->url) {
		rc =
		    rotor_error_set(err, ROTOR_EINVALID, "%s: request without method or URL", name);
		goto done;
	}
	rc = build_headers(&hdrs, req, name, err);
	if (rc)
		goto done;

	struct rotor_retry_policy policy = {o->max_attempts,       o->backoff_base_ms,
	                                    o->backoff_max_ms,     o->deadline_ms,
	                                    o->retry_after_max_ms, ROTOR_JITTER_FULL};
	struct rotor_retry retry;
	rotor_retry_begin(&retry, &policy, clk);
	for (attempt = 1;; attempt++) {
		remaining = rotor_retry_remaining_ms(&retry);
		timeout = o->timeout_ms < remaining ? o->timeout_ms : remaining;
		struct sink sink = {.res = res};
		int64_t retry_after = -1;

		rotor_buf_reset(&res->body);
		rotor_buf_reset(&res->headers);
		res->status = 0;
		res->attempts = attempt;
		if (o->hook.before)
			o->hook.before(o->hook.ctx, req, attempt);
		CURLcode cc = attempt_once(h, req, hdrs, timeout > 0 ? timeout : 1, &sink);
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &res->status);
		if (o->hook.after)
			o->hook.after(o->hook.ctx, req, attempt, res, (int)cc);

		remote_status = cc == CURLE_OK || sink.body_over || cc == CURLE_FILESIZE_EXCEEDED
		                    ? (int)res->status
		                    : 0;
		if (sink.body_over || cc == CURLE_FILESIZE_EXCEEDED) {
			rc =
			    rotor_error_set(err, ROTOR_ELIMIT, "%s: response larger than %zu bytes",
			                    name, o->max_response);
			goto done;
		}
		if (sink.headers_over) {
			rc = rotor_error_set(err, ROTOR_ELIMIT,
			                     "%s: response headers larger than %zu bytes", name,
			                     HEADERS_MAX);
			goto done;
		}
		if (sink.nomem || cc == CURLE_OUT_OF_MEMORY) {
			rc = rotor_error_set(err, ROTOR_ENOMEM, "%s: out of memory", name);
			goto done;
		}
		last.cc = cc;
		last.status = res->status;
		snprintf(last.detail, sizeof(last.detail), "%s",
		         h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
		if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
			rc = rotor_error_set(err, ROTOR_EINVALID, "%s: bad URL (%s)", name,
			                     last.detail);
			goto done;
		}
		if (cc != CURLE_OK && !curl_retryable(cc)) {
			rc = fail_exhausted(err, name, &last, attempt, "");
			goto done;
		}
		if (cc == CURLE_OK &&
		    o->classify(o->classify_ctx, res, &retry_after) == ROTOR_HTTP_DONE) {
			rc = 0;
			goto done;
		}
		/* One retry policy (util/retry.h): attempts, full-jitter back-off,
		 * the deadline, and a named wait taken exactly or refused. */
		remaining = rotor_retry_remaining_ms(&retry);
		enum rotor_retry_verdict v = rotor_retry_next(&retry, retry_after);
		if (v == ROTOR_RETRY_WAIT_TOO_LONG ||
		    (v == ROTOR_RETRY_DEADLINE && retry_after >= 0)) {
			char asked[32], limit[32];
			int past_max = v == ROTOR_RETRY_WAIT_TOO_LONG;
			format_wait(asked, sizeof(asked), retry_after);
			format_wait(limit, sizeof(limit),
			            past_max ? o->retry_after_max_ms
			                     : (remaining > 0 ? remaining : 0));
			rc = rotor_error_set(
			    err, ROTOR_ETHROTTLED,
			    "%s: HTTP %ld, server asked to wait %s, more than the %s %s", name,
			    last.status, asked, limit,
			    past_max ? "allowed" : "left before the deadline");
			goto done;
		}
		if (v != ROTOR_RETRY_AGAIN) {
			rc = fail_exhausted(err, name, &last, attempt,
			                    v == ROTOR_RETRY_DEADLINE ? ", deadline reached" : "");
			goto done;
		}
		wait = retry.waited;
		if (cc == CURLE_OK)
			rotor_log(ROTOR_LOG_DEBUG, "http",
			          "%s: HTTP %ld, retried after %lld ms (%d/%d)", name, last.status,
			          (long long)wait, attempt, o->max_attempts);
		else
			rotor_log(ROTOR_LOG_DEBUG, "http", "%s: %s, retried after %lld ms (%d/%d)",
			          name, curl_brief(cc), (long long)wait, attempt, o->max_attempts);
	}

done:
	/* Drop curl's pointers to the caller's body and our header list. */
	curl_easy_reset(h->curl);
	free_headers(hdrs);
	if (rc) {
		/* Also clears a status left in err by an earlier failure. */
		if (attempt > 0)
			rotor_error_set_remote(err, remote_status, NULL, NULL);
		rotor_http_response_dispose(res);
		res->attempts = attempt;
	}
	return rc;
}
