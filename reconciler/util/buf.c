/* buf.c: the capped, wiping byte buffer. */
#include "util/buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/error.h"

void rotor_buf_init(struct rotor_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : ROTOR_BUF_DEFAULT_MAX;
}

/* Grows to hold need bytes plus the NUL. realloc could leave a copy of a
 * secret behind in freed memory, so growth is malloc + copy + wipe + free. */
static int grow(struct rotor_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need + 1) {
		if (cap > (size_t)-1 / 2)
			return ROTOR_ENOMEM;
		cap *= 2;
	}
	if (cap > b->max + 1)
		cap = b->max + 1;
	char *data = malloc(cap);
	if (!data)
		return ROTOR_ENOMEM;
	if (b->data) {
		memcpy(data, b->data, b->len + 1);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	} else {
		data[0] = '\0';
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

int rotor_buf_append(struct rotor_buf *b, const void *data, size_t len)
{
	if (b->max == 0)
		b->max = ROTOR_BUF_DEFAULT_MAX;
	if (len > b->max - b->len)
		return ROTOR_ELIMIT;
	if (b->len + len + 1 > b->cap) {
		int rc = grow(b, b->len + len);
		if (rc)
			return rc;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int rotor_buf_puts(struct rotor_buf *b, const char *s)
{
	return rotor_buf_append(b, s, strlen(s));
}

int rotor_buf_printf(struct rotor_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return ROTOR_EINVALID;
	if ((size_t)n < sizeof(small)) {
		int rc = rotor_buf_append(b, small, (size_t)n);
		OPENSSL_cleanse(small, sizeof(small));
		return rc;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		return ROTOR_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = rotor_buf_append(b, big, (size_t)n);
	OPENSSL_cleanse(big, (size_t)n + 1);
	free(big);
	return rc;
}

void rotor_buf_reset(struct rotor_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		b->data[0] = '\0';
	}
	b->len = 0;
}

void rotor_buf_dispose(struct rotor_buf *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *rotor_buf_detach(struct rotor_buf *b, size_t *len)
{
	char *data = b->data;
	if (!data && rotor_buf_append(b, "", 0) == 0)
		data = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return data;
}
