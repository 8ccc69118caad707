/*
 * sigv4.c: AWS Signature Version 4 for one request, with the signature in the
 * Authorization header (the only form rotor sends), and the lifecycle of
 * struct rotor_aws_credentials. Pure: the time comes in as `now`; nothing here
 * reads a clock or touches the network. tests/unit/test_sigv4.c checks it
 * against AWS's own test suite and AWS's documented IAM example.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/aws/aws.h"
#include "rotor/error.h"
#include "rotor/secret.h"
#include "util/buf.h"
#include "util/digest.h"
#include "util/http.h"

/* Hard caps on what a caller may hand in. rotor signs small Query-protocol
 * requests; anything near these limits is a bug upstream, so it is refused
 * with ROTOR_EINVALID rather than signed. */
#define SIGV4_MAX_HEADERS 64  /* input headers */
#define SIGV4_MAX_NAME 256    /* bytes in one header name */
#define SIGV4_MAX_VALUE 8192  /* bytes in one header value */
#define SIGV4_MAX_TOKEN 16384 /* bytes in a session token (STS tokens run to a few KiB) */
#define SIGV4_MAX_SECRET 256  /* bytes in a secret access key (AWS issues 40) */
#define SIGV4_MAX_PATH 8192   /* bytes in the raw path */
#define SIGV4_MAX_QUERY 16384 /* bytes in the raw query string */
#define SIGV4_MAX_PARAMS 256  /* query parameters */
#define SIGV4_MAX_WORD 64     /* bytes in method, region, service */
#define SIGV4_MAX_CANON ((size_t)1 << 20) /* the canonical request as a whole */

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SHA256_LEN 32

/* One header as it goes into the canonical request. */
struct canon_header {
	char *name;   /* lower-cased copy, owned */
	char *value;  /* trimmed, blank runs collapsed, owned */
	size_t order; /* position in the input: same-name values keep their order */
};

/* One query parameter, both halves already in canonical (encoded) form. */
struct canon_param {
	char *key;   /* owned */
	char *value; /* owned */
};

/* ---- small helpers ------------------------------------------------- */

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends s[0..len) URI-encoded: unreserved bytes as they are, '/' as it is
 * when keep_slash, every other byte as %XX with upper-case hex. */
static int encode_append(struct rotor_buf *b, const char *s, size_t len, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc;
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			rc = rotor_buf_append(b, &s[i], 1);
		} else {
			char esc[3] = {'%', digits[c >> 4], digits[c & 0x0f]};
			rc = rotor_buf_append(b, esc, sizeof(esc));
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* A malloc'd copy of s[0..len) percent-decoded; a '%' not followed by two
 * hex digits stays a literal '%'. '+' stays '+': SigV4 is not form decoding. */
static char *percent_decode(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t n = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
			out[n++] = (char)((hi << 4) | lo);
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* A malloc'd canonical (encoded) copy of s[0..len). */
static int encode_dup(char **out, const char *s, size_t len)
{
	struct rotor_buf b;
	rotor_buf_init(&b, 3 * len + 1);
	int rc = encode_append(&b, s, len, 0);
	if (rc) {
		rotor_buf_dispose(&b);
		return rc;
	}
	*out = rotor_buf_detach(&b, NULL);
	return *out ? 0 : ROTOR_ENOMEM;
}

static int sha256_hex(char hex[2 * SHA256_LEN + 1], const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) || md_len != SHA256_LEN)
		return ROTOR_EINTERNAL;
	rotor_hex(hex, md, SHA256_LEN);
	return 0;
}

static int hmac_sha256(unsigned char out[SHA256_LEN], const void *key, size_t key_len,
                       const void *msg, size_t msg_len)
{
	unsigned int out_len = 0;
	if (key_len > SIGV4_MAX_SECRET + 4 ||
	    !HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len) ||
	    out_len != SHA256_LEN)
		return ROTOR_EINTERNAL;
	return 0;
}

/* Printable ASCII without blanks, for method, region and service. */
static int is_word(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > SIGV4_MAX_WORD)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* ---- canonical URI ------------------------------------------------- */

/*
 * Normalisation (normalize_path) follows RFC 3986 section 5.2.4, plus the
 * SigV4 rule that empty segments vanish, so "//example//" signs as
 * "/example/". The path is split on '/', and a stack of segments is kept:
 * "." is dropped, ".." pops, "" (a repeated slash) is skipped. Whether the
 * result ends in '/' is decided by the last step: a path that ended in '/',
 * ".", or ".." keeps a trailing slash ("/a/b/.." is "/a/"), one that ended in
 * a name does not. The result always starts with '/', and an empty stack is
 * just "/". Encoding happens after normalisation, segment by segment, so an
 * encoded "%2E%2E" is a name, never a parent reference.
 *
 * The path is taken as raw (decoded) bytes and encoded exactly once; '%' in
 * it becomes %25. IAM and STS are always signed for "/".
 */
static int canonical_uri(struct rotor_buf *b, const char *path, int normalize)
{
	size_t len = path ? strlen(path) : 0;
	int rc;
	if (len == 0)
		return rotor_buf_puts(b, "/");
	if (!normalize) {
		if (path[0] != '/' && (rc = rotor_buf_puts(b, "/")) != 0)
			return rc;
		return encode_append(b, path, len, 1);
	}

	size_t nmax = 1;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			nmax++;
	struct seg {
		const char *s;
		size_t len;
	} *stack = calloc(nmax, sizeof(*stack));
	if (!stack)
		return ROTOR_ENOMEM;

	size_t n = 0;
	int trailing = 0;
	const char *p = path, *end = path + len;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *seg_end = slash ? slash : end;
		size_t seg_len = (size_t)(seg_end - p);
		if (seg_len == 0) {
			if (!slash)
				trailing = 1; /* the path ended in '/' */
		} else if (seg_len == 1 && p[0] == '.') {
			trailing = 1;
		} else if (seg_len == 2 && p[0] == '.' && p[1] == '.') {
			if (n > 0)
				n--;
			trailing = 1;
		} else {
			stack[n].s = p;
			stack[n].len = seg_len;
			n++;
			trailing = 0;
		}
		if (!slash)
			break;
		p = slash + 1;
	}

	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = rotor_buf_puts(b, "/");
		if (rc == 0)
			rc = encode_append(b, stack[i].s, stack[i].len, 0);
	}
	if (rc == 0 && (n == 0 || trailing))
		rc = rotor_buf_puts(b, "/");
	free(stack);
	return rc;
}

/* ---- canonical query ----------------------------------------------- */

static int param_cmp(const void *a, const void *b)
{
	const struct canon_param *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->value, y->value);
}

static void params_free(struct canon_param *params, size_t n)
{
	for (size_t i = 0; params && i < n; i++) {
		free(params[i].key);
		free(params[i].value);
	}
	free(params);
}

/* Splits on '&', each piece into key and value at its first '=' (a piece
 * without one has an empty value), decodes both, encodes them again with
 * the unreserved set, sorts by key then value, and joins "k=v" with '&'.
 * Decoding first makes "%7E" and "~", or "%2f" and "%2F", sign alike. */
static int canonical_query(struct rotor_buf *b, const char *query, struct rotor_error *err)
{
	size_t len = query ? strlen(query) : 0;
	if (len == 0)
		return 0;
	if (len > SIGV4_MAX_QUERY)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "SigV4: the query string is %zu bytes, over the %d-byte cap",
		                       len, SIGV4_MAX_QUERY);
	size_t nmax = 1;
	for (size_t i = 0; i < len; i++)
		if (query[i] == '&')
			nmax++;
	if (nmax > SIGV4_MAX_PARAMS)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "SigV4: the query string has over %d parameters",
		                       SIGV4_MAX_PARAMS);
	struct canon_param *params = calloc(nmax, sizeof(*params));
	if (!params)
		return rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");

	size_t n = 0;
	int rc = 0;
	const char *p = query, *end = query + len;
	while (p <= end && rc == 0) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *piece_end = amp ? amp : end;
		size_t piece_len = (size_t)(piece_end - p);
		if (piece_len > 0) {
			const char *eq = memchr(p, '=', piece_len);
			size_t key_len = eq ? (size_t)(eq - p) : piece_len;
			const char *val = eq ? eq + 1 : piece_end;
			size_t val_len = (size_t)(piece_end - val);
			size_t dlen = 0;
			char *dec = percent_decode(p, key_len, &dlen);
			rc = dec ? encode_dup(&params[n].key, dec, dlen) : ROTOR_ENOMEM;
			free(dec);
			if (rc == 0) {
				dec = percent_decode(val, val_len, &dlen);
				rc = dec ? encode_dup(&params[n].value, dec, dlen) : ROTOR_ENOMEM;
				free(dec);
			}
			n++;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	if (rc == 0) {
		qsort(params, n, sizeof(*params), param_cmp);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = rotor_buf_printf(b, "%s%s=%s", i ? "&" : "", params[i].key,
			                      params[i].value);
	}
	params_free(params, n);
	if (rc == ROTOR_ENOMEM)
		return rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");
	if (rc)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "SigV4: the canonical query is too large");
	return 0;
}

/* ---- canonical headers --------------------------------------------- */

static int header_cmp(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void headers_free(struct canon_header *hs, size_t n)
{
	for (size_t i = 0; hs && i < n; i++) {
		free(hs[i].name);
		if (hs[i].value) {
			/* may be the session token */
			OPENSSL_cleanse(hs[i].value, strlen(hs[i].value));
			free(hs[i].value);
		}
	}
	free(hs);
}

/* A header name is a visible-ASCII token without ':'. */
static int valid_name(const char *name, size_t len)
{
	if (len == 0 || len > SIGV4_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == ':')
			return 0;
	}
	return 1;
}

/* Fills h from one header: the name lower-cased; the value with blanks
 * (space, tab) trimmed from both ends and every inner run of them turned
 * into one space. Control bytes (CR and LF above all) are refused: they
 * would let one header smuggle in another. Returns 0, ROTOR_EINVALID (why
 * says what, never quoting the value, which may be the session token) or
 * ROTOR_ENOMEM. */
static int canon_header_fill(struct canon_header *h, const char *name, const char *value,
                             size_t max_value, size_t order, char *why, size_t why_len)
{
	size_t nlen = name ? strlen(name) : 0;
	size_t vlen = value ? strlen(value) : 0;
	if (!valid_name(name, nlen)) {
		snprintf(
		    why, why_len,
		    "the name is empty, over %d bytes, or holds a blank, ':' or a control byte",
		    SIGV4_MAX_NAME);
		return ROTOR_EINVALID;
	}
	if (vlen > max_value) {
		snprintf(why, why_len, "%.64s: the value is %zu bytes, over the size cap of %zu",
		         name, vlen, max_value);
		return ROTOR_EINVALID;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(why, why_len,
			         "%.64s: the value holds a control byte (CR, LF, ...)", name);
			return ROTOR_EINVALID;
		}
	}
	h->order = order;
	h->name = malloc(nlen + 1);
	h->value = malloc(vlen + 1);
	if (!h->name || !h->value)
		return ROTOR_ENOMEM;
	for (size_t i = 0; i < nlen; i++) {
		char c = name[i];
		h->name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	h->name[nlen] = '\0';

	size_t n = 0;
	int blank = 0;
	for (size_t i = 0; i < vlen; i++) {
		char c = value[i];
		if (c == ' ' || c == '\t') {
			blank = 1;
			continue;
		}
		if (blank && n > 0)
			h->value[n++] = ' ';
		blank = 0;
		h->value[n++] = c;
	}
	h->value[n] = '\0';
	return 0;
}

/* x-amz-date must be YYYYMMDD'T'HHMMSS'Z'. */
static int valid_amz_date(const char *s)
{
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return 0;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

/* Writes v as exactly n decimal digits (v is known to fit). */
static void put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

static int format_amz_date(char out[17], int64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;
	if ((int64_t)t != now || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
	    tm.tm_year + 1900 > 9999)
		return ROTOR_EINVALID;
	put_digits(out, tm.tm_year + 1900, 4);
	put_digits(out + 4, tm.tm_mon + 1, 2);
	put_digits(out + 6, tm.tm_mday, 2);
	out[8] = 'T';
	put_digits(out + 9, tm.tm_hour, 2);
	put_digits(out + 11, tm.tm_min, 2);
	put_digits(out + 13, tm.tm_sec, 2);
	out[15] = 'Z';
	out[16] = '\0';
	return 0;
}

/* ---- signing ------------------------------------------------------- */

/* kSigning from the secret; every intermediate is wiped before return. */
static int derive_signing_key(unsigned char key[SHA256_LEN], const struct rotor_secret *secret,
                              const char *date, const char *region, const char *service)
{
	unsigned char k_secret[4 + SIGV4_MAX_SECRET];
	unsigned char k_date[SHA256_LEN], k_region[SHA256_LEN], k_service[SHA256_LEN];
	size_t slen = rotor_secret_len(secret);
	int rc = ROTOR_EINTERNAL;
	if (slen <= SIGV4_MAX_SECRET) {
		memcpy(k_secret, "AWS4", 4);
		memcpy(k_secret + 4, rotor_secret_bytes(secret), slen);
		if ((rc = hmac_sha256(k_date, k_secret, 4 + slen, date, strlen(date))) == 0 &&
		    (rc = hmac_sha256(k_region, k_date, SHA256_LEN, region, strlen(region))) == 0 &&
		    (rc = hmac_sha256(k_service, k_region, SHA256_LEN, service, strlen(service))) ==
		        0)
			rc = hmac_sha256(key, k_service, SHA256_LEN, "aws4_request", 12);
	}
	OPENSSL_cleanse(k_secret, sizeof(k_secret));
	OPENSSL_cleanse(k_date, sizeof(k_date));
	OPENSSL_cleanse(k_region, sizeof(k_region));
	OPENSSL_cleanse(k_service, sizeof(k_service));
	if (rc)
		OPENSSL_cleanse(key, SHA256_LEN);
	return rc;
}

static int check_credentials(const struct rotor_aws_credentials *creds, struct rotor_error *err)
{
	if (!creds || !memchr(creds->access_key_id, '\0', sizeof(creds->access_key_id)) ||
	    creds->access_key_id[0] == '\0' || !creds->secret_access_key ||
	    rotor_secret_len(creds->secret_access_key) == 0)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "SigV4: no credentials to sign with (access key id or "
		                       "secret access key missing)");
	for (const char *p = creds->access_key_id; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '/' || *p == ',')
			return rotor_error_set(err, ROTOR_EINVALID,
			                       "SigV4: the access key id holds a byte that cannot "
			                       "go into a credential scope");
	if (rotor_secret_len(creds->secret_access_key) > SIGV4_MAX_SECRET)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "SigV4: the secret access key is over %d bytes",
		                       SIGV4_MAX_SECRET);
	return 0;
}

/*
 * Which headers get signed. The caller's headers, all of them, plus two the
 * signer owns:
 *   x-amz-date            from `now`, unless the caller already set one (a
 *                         retry that must re-send the same date, or a test);
 *   x-amz-security-token  the session token, when the credentials carry one
 *                         and sign_token is 1. IAM and STS want the token
 *                         inside the signature; sign_token 0 is the older
 *                         scheme (AWS's "post-sts-header-after" case) where
 *                         the token is added to the request after signing and
 *                         stays out of SignedHeaders. Either way the caller
 *                         sends the header; a caller that already put the
 *                         token among its headers gets it signed as given.
 * The token is a secret, and with sign_token 1 it does appear in the
 * canonical request, exactly as it appears on the wire; the secret access key
 * and the keys derived from it never appear in any output.
 */
int rotor_sigv4_sign(const struct rotor_sigv4_input *in, const struct rotor_aws_credentials *creds,
                     struct rotor_sigv4_output *out, struct rotor_error *err)
{
	struct canon_header *hs = NULL;
	size_t nhs = 0;
	struct rotor_buf canon, sts, signed_hdrs;
	unsigned char key[SHA256_LEN], mac[SHA256_LEN];
	char body_hash[2 * SHA256_LEN + 1], canon_hash[2 * SHA256_LEN + 1];
	char scope[16 + 3 * SIGV4_MAX_WORD];
	const char *date_value = NULL;
	char why[192] = "";
	int have_host = 0, have_token = 0;
	int rc = 0;

	rotor_buf_init(&canon, SIGV4_MAX_CANON);
	rotor_buf_init(&sts, 4096);
	rotor_buf_init(&signed_hdrs, sizeof(out->signed_headers) - 1);
	memset(out, 0, sizeof(*out));

	if (!in) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "SigV4: no request to sign");
		goto done;
	}
	if ((rc = check_credentials(creds, err)) != 0)
		goto done;
	if (!is_word(in->method) || !is_word(in->region) || !is_word(in->service)) {
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "SigV4: method, region and service must be 1-%d letters, "
		                     "digits, '-', '_' or '.'",
		                     SIGV4_MAX_WORD);
		goto done;
	}
	if (in->path && strlen(in->path) > SIGV4_MAX_PATH) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "SigV4: the path is over the %d-byte cap",
		                     SIGV4_MAX_PATH);
		goto done;
	}
	if (in->nheaders > SIGV4_MAX_HEADERS || (in->nheaders && !in->headers)) {
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "SigV4: %zu headers to sign; the cap is %d", in->nheaders,
		                     SIGV4_MAX_HEADERS);
		goto done;
	}
	if (in->body_len && !in->body) {
		rc = rotor_error_set(err, ROTOR_EINVALID, "SigV4: a body length without a body");
		goto done;
	}

	/* The headers: the caller's, then x-amz-date and the token if needed. */
	hs = calloc(in->nheaders + 2, sizeof(*hs));
	if (!hs) {
		rc = rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");
		goto done;
	}
	for (size_t i = 0; i < in->nheaders; i++) {
		rc = canon_header_fill(&hs[nhs], in->headers[i].name, in->headers[i].value,
		                       SIGV4_MAX_VALUE, i, why, sizeof(why));
		nhs++;
		if (rc == ROTOR_EINVALID) {
			rc = rotor_error_set(err, rc, "SigV4: header %zu: %s", i + 1, why);
			goto done;
		}
		if (rc) {
			rc = rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");
			goto done;
		}
		const char *name = hs[nhs - 1].name, *value = hs[nhs - 1].value;
		if (strcmp(name, "host") == 0 && value[0]) {
			have_host = 1;
		} else if (strcmp(name, "x-amz-date") == 0) {
			if (date_value) {
				rc = rotor_error_set(err, ROTOR_EINVALID,
				                     "SigV4: x-amz-date appears twice");
				goto done;
			}
			date_value = value;
		} else if (strcmp(name, "x-amz-security-token") == 0) {
			have_token = 1;
		} else if (strcmp(name, "authorization") == 0) {
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "SigV4: the request already has an Authorization "
			                     "header");
			goto done;
		}
	}
	if (!have_host) {
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "SigV4: the request has no host header; it must be signed");
		goto done;
	}
	if (date_value) {
		if (!valid_amz_date(date_value)) {
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "SigV4: x-amz-date \"%s\" is not YYYYMMDD'T'HHMMSS'Z'",
			                     date_value);
			goto done;
		}
		memcpy(out->amz_date, date_value, 17);
	} else {
		if (format_amz_date(out->amz_date, in->now) != 0) {
			rc = rotor_error_set(err, ROTOR_EINVALID,
			                     "SigV4: time %lld is outside years 0000-9999",
			                     (long long)in->now);
			goto done;
		}
		rc = canon_header_fill(&hs[nhs], "x-amz-date", out->amz_date, 16, in->nheaders, why,
		                       sizeof(why));
		nhs++;
		if (rc) {
			rc = rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");
			goto done;
		}
	}
	if (creds->session_token && in->sign_token && !have_token) {
		rc = canon_header_fill(&hs[nhs], "x-amz-security-token",
		                       rotor_secret_bytes(creds->session_token), SIGV4_MAX_TOKEN,
		                       in->nheaders + 1, why, sizeof(why));
		nhs++;
		if (rc == ROTOR_EINVALID) {
			rc = rotor_error_set(err, rc, "SigV4: the session token as %s", why);
			goto done;
		}
		if (rc) {
			rc = rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");
			goto done;
		}
	}
	qsort(hs, nhs, sizeof(*hs), header_cmp);

	/* The canonical request. */
	if ((rc = rotor_buf_printf(&canon, "%s\n", in->method)) != 0 ||
	    (rc = canonical_uri(&canon, in->path, in->normalize_path)) != 0 ||
	    (rc = rotor_buf_puts(&canon, "\n")) != 0)
		goto buf_failed;
	if ((rc = canonical_query(&canon, in->query, err)) != 0)
		goto done;
	if ((rc = rotor_buf_puts(&canon, "\n")) != 0)
		goto buf_failed;
	for (size_t i = 0; i < nhs; i++) {
		int first = i == 0 || strcmp(hs[i].name, hs[i - 1].name) != 0;
		int last = i + 1 == nhs || strcmp(hs[i].name, hs[i + 1].name) != 0;
		if (first) {
			if ((rc = rotor_buf_printf(&canon, "%s:", hs[i].name)) != 0)
				goto buf_failed;
			if (i > 0 && (rc = rotor_buf_puts(&signed_hdrs, ";")) != 0)
				goto signed_too_long;
			if ((rc = rotor_buf_puts(&signed_hdrs, hs[i].name)) != 0)
				goto signed_too_long;
		} else if ((rc = rotor_buf_puts(&canon, ",")) != 0) {
			goto buf_failed;
		}
		if ((rc = rotor_buf_puts(&canon, hs[i].value)) != 0 ||
		    (last && (rc = rotor_buf_puts(&canon, "\n")) != 0))
			goto buf_failed;
	}
	if ((rc = sha256_hex(body_hash, in->body ? in->body : "", in->body_len)) != 0) {
		rc = rotor_error_set(err, rc, "SigV4: SHA-256 failed");
		goto done;
	}
	if ((rc = rotor_buf_printf(&canon, "\n%s\n%s", signed_hdrs.data, body_hash)) != 0)
		goto buf_failed;

	/* The string to sign. */
	snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request", out->amz_date, in->region,
	         in->service);
	if ((rc = sha256_hex(canon_hash, canon.data, canon.len)) != 0) {
		rc = rotor_error_set(err, rc, "SigV4: SHA-256 failed");
		goto done;
	}
	if ((rc = rotor_buf_printf(&sts, SIGV4_ALGORITHM "\n%s\n%s\n%s", out->amz_date, scope,
	                           canon_hash)) != 0)
		goto buf_failed;

	/* The signature. */
	char date[9];
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	if ((rc = derive_signing_key(key, creds->secret_access_key, date, in->region,
	                             in->service)) != 0 ||
	    (rc = hmac_sha256(mac, key, SHA256_LEN, sts.data, sts.len)) != 0) {
		rc = rotor_error_set(err, rc, "SigV4: HMAC-SHA256 failed");
		goto done;
	}
	rotor_hex(out->signature, mac, SHA256_LEN);
	memcpy(out->signed_headers, signed_hdrs.data, signed_hdrs.len + 1);
	int n = snprintf(out->authorization, sizeof(out->authorization),
	                 SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
	                 creds->access_key_id, scope, out->signed_headers, out->signature);
	if (n < 0 || (size_t)n >= sizeof(out->authorization)) {
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "SigV4: the Authorization value is over %zu bytes",
		                     sizeof(out->authorization) - 1);
		goto done;
	}
	out->canonical_request = rotor_buf_detach(&canon, NULL);
	out->string_to_sign = rotor_buf_detach(&sts, NULL);
	if (!out->canonical_request || !out->string_to_sign)
		rc = rotor_error_set(err, ROTOR_ENOMEM, "SigV4: out of memory");
	goto done;

signed_too_long:
	rc = rotor_error_set(err, ROTOR_EINVALID,
	                     "SigV4: the signed header names are over %zu bytes together",
	                     sizeof(out->signed_headers) - 1);
	goto done;
buf_failed:
	if (rc == ROTOR_ENOMEM)
		rc = rotor_error_set(err, rc, "SigV4: out of memory");
	else
		rc = rotor_error_set(err, ROTOR_EINVALID,
		                     "SigV4: the canonical request is over %zu bytes",
		                     SIGV4_MAX_CANON);
done:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	headers_free(hs, nhs);
	rotor_buf_dispose(&canon);
	rotor_buf_dispose(&sts);
	rotor_buf_dispose(&signed_hdrs);
	if (rc)
		rotor_sigv4_output_dispose(out);
	return rc;
}

void rotor_sigv4_output_dispose(struct rotor_sigv4_output *out)
{
	if (!out)
		return;
	/* The canonical request may hold the session token. */
	if (out->canonical_request) {
		OPENSSL_cleanse(out->canonical_request, strlen(out->canonical_request));
		free(out->canonical_request);
	}
	free(out->string_to_sign);
	memset(out, 0, sizeof(*out));
}

/* ---- credentials --------------------------------------------------- */

void rotor_aws_credentials_dispose(struct rotor_aws_credentials *c)
{
	if (!c)
		return;
	rotor_secret_free(c->secret_access_key);
	rotor_secret_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int rotor_aws_credentials_copy(struct rotor_aws_credentials *dst,
                               const struct rotor_aws_credentials *src, struct rotor_error *err)
{
	struct rotor_aws_credentials tmp;
	int rc = 0;
	memset(&tmp, 0, sizeof(tmp));
	if (!dst || !src || dst == src)
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "copying AWS credentials: need two distinct structs");
	memcpy(tmp.access_key_id, src->access_key_id, sizeof(tmp.access_key_id));
	tmp.access_key_id[sizeof(tmp.access_key_id) - 1] = '\0';
	memcpy(tmp.source, src->source, sizeof(tmp.source));
	tmp.source[sizeof(tmp.source) - 1] = '\0';
	tmp.expiration = src->expiration;
	if (src->secret_access_key &&
	    (rc = rotor_secret_dup(&tmp.secret_access_key, src->secret_access_key, err)) != 0)
		goto fail;
	if (src->session_token &&
	    (rc = rotor_secret_dup(&tmp.session_token, src->session_token, err)) != 0)
		goto fail;
	*dst = tmp;
	return 0;
fail:
	rotor_aws_credentials_dispose(&tmp);
	memset(dst, 0, sizeof(*dst));
	return rc;
}

int rotor_aws_credentials_set(struct rotor_aws_credentials *c, const char *akid, const char *secret,
                              const char *token, int64_t expiration, struct rotor_error *err)
{
	struct rotor_aws_credentials tmp;
	int rc;
	memset(&tmp, 0, sizeof(tmp));
	if (!c)
		return rotor_error_set(err, ROTOR_EINVALID, "AWS credentials: nowhere to put them");
	memset(c, 0, sizeof(*c));
	if (!akid || !akid[0] || strlen(akid) >= sizeof(tmp.access_key_id))
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "AWS credentials: the access key id is empty or over %zu "
		                       "characters",
		                       sizeof(tmp.access_key_id) - 1);
	if (!secret || !secret[0])
		return rotor_error_set(err, ROTOR_EINVALID,
		                       "AWS credentials: the secret access key for %s is empty",
		                       akid);
	memcpy(tmp.access_key_id, akid, strlen(akid) + 1);
	tmp.expiration = expiration;
	if ((rc = rotor_secret_from_str(&tmp.secret_access_key, secret, ROTOR_SECRET_REDACT,
	                                err)) != 0)
		goto fail;
	if (token && token[0] &&
	    (rc = rotor_secret_from_str(&tmp.session_token, token, ROTOR_SECRET_REDACT, err)) != 0)
		goto fail;
	*c = tmp;
	return 0;
fail:
	rotor_aws_credentials_dispose(&tmp);
	return rc;
}
