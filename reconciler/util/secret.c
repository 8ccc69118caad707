/* secret.c: the secret type; wiped on free, registered with the redactor. */
#include "rotor/secret.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "rotor/log.h"

struct rotor_secret {
	size_t len;     /* bytes of value, not counting the NUL */
	int flags;      /* ROTOR_SECRET_* */
	int registered; /* 1 while the redactor knows this value */
	char *value;    /* len bytes + NUL */
};

int rotor_secret_new(struct rotor_secret **out, const void *bytes, size_t len, int flags,
                     struct rotor_error *err)
{
	struct rotor_secret *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s || len == (size_t)-1)
		goto nomem;
	s->value = malloc(len + 1);
	if (!s->value)
		goto nomem;
	if (len)
		memcpy(s->value, bytes, len);
	s->value[len] = '\0';
	s->len = len;
	s->flags = flags;
	if (flags & ROTOR_SECRET_REDACT)
		rotor_secret_register(s);
	*out = s;
	return 0;
nomem:
	free(s);
	return rotor_error_set(err, ROTOR_ENOMEM, "out of memory holding a secret");
}

int rotor_secret_from_str(struct rotor_secret **out, const char *str, int flags,
                          struct rotor_error *err)
{
	return rotor_secret_new(out, str, strlen(str), flags, err);
}

int rotor_secret_dup(struct rotor_secret **out, const struct rotor_secret *s,
                     struct rotor_error *err)
{
	return rotor_secret_new(out, s->value, s->len, s->flags, err);
}

void rotor_secret_register(struct rotor_secret *s)
{
	if (s && !s->registered && s->len >= ROTOR_REDACT_MIN) {
		rotor_redact_register(s->value, s->len);
		s->registered = 1;
	}
}

void rotor_secret_free(struct rotor_secret *s)
{
	if (!s)
		return;
	if (s->registered)
		rotor_redact_unregister(s->value);
	OPENSSL_cleanse(s->value, s->len + 1);
	free(s->value);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

const char *rotor_secret_bytes(const struct rotor_secret *s)
{
	return s ? s->value : NULL;
}

size_t rotor_secret_len(const struct rotor_secret *s)
{
	return s ? s->len : 0;
}

int rotor_secret_equal_bytes(const struct rotor_secret *a, const void *bytes, size_t len)
{
	if (!a || !bytes)
		return !a && !bytes;
	if (a->len != len)
		return 0;
	return CRYPTO_memcmp(a->value, bytes, len) == 0;
}

int rotor_secret_equal(const struct rotor_secret *a, const struct rotor_secret *b)
{
	if (!a || !b)
		return a == b;
	return rotor_secret_equal_bytes(a, b->value, b->len);
}

void rotor_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

void rotor_secret_harden_process(void)
{
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
