/* error.c: filling struct rotor_error; every message goes through the redactor. */
#include "rotor/error.h"

#include <stdio.h>
#include <string.h>

#include "rotor/log.h"

void rotor_error_clear(struct rotor_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

/* One line: control characters (a newline from a remote message) become spaces. */
static void flatten(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int rotor_error_setv(struct rotor_error *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	/* Redact before flattening: a secret holding a tab or a newline would
	 * no longer match once they became spaces. */
	rotor_redact(err->message, sizeof(err->message));
	flatten(err->message);
	return code;
}

int rotor_error_set(struct rotor_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rotor_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

static void copy_field(char *dst, size_t cap, const char *src)
{
	if (!src) {
		dst[0] = '\0';
		return;
	}
	snprintf(dst, cap, "%s", src);
	flatten(dst);
	rotor_redact(dst, cap);
}

void rotor_error_set_remote(struct rotor_error *err, int http_status, const char *remote_code,
                            const char *request_id)
{
	if (!err)
		return;
	err->http_status = http_status;
	copy_field(err->remote_code, sizeof(err->remote_code), remote_code);
	copy_field(err->request_id, sizeof(err->request_id), request_id);
}

void rotor_error_prefix(struct rotor_error *err, const char *fmt, ...)
{
	char prefix[256];
	char old[ROTOR_ERROR_MSG_MAX];
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
	rotor_redact(err->message, sizeof(err->message));
	flatten(err->message);
}

const char *rotor_error_code_name(int code)
{
	switch (code) {
	case ROTOR_OK:
		return "ok";
	case ROTOR_EINVALID:
		return "invalid";
	case ROTOR_ENOTFOUND:
		return "not-found";
	case ROTOR_ECONFLICT:
		return "conflict";
	case ROTOR_EAUTH:
		return "auth";
	case ROTOR_ETHROTTLED:
		return "throttled";
	case ROTOR_ETRANSIENT:
		return "transient";
	case ROTOR_ELIMIT:
		return "limit";
	case ROTOR_ENOMEM:
		return "out-of-memory";
	case ROTOR_EIO:
		return "io";
	case ROTOR_EINTERNAL:
		return "internal";
	case ROTOR_ESTOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

int rotor_error_is_retryable(int code)
{
	return code == ROTOR_ETHROTTLED || code == ROTOR_ETRANSIENT;
}
