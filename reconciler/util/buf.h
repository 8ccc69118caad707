/*
 * buf.h: a growable byte buffer with a hard cap.
 *
 * Every buffer that grows from remote input has a maximum size; appending
 * past it fails with ROTOR_ELIMIT instead of growing without bound. A buffer
 * may hold secrets (a response carrying a new secret access key), so its
 * memory is wiped when it is reallocated and when it is disposed.
 */
/* Thread rules: a buffer belongs to one thread. */
#ifndef ROTOR_BUF_H
#define ROTOR_BUF_H

#include <stddef.h>

struct rotor_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len; /* bytes used, not counting the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard cap on len; 0 means ROTOR_BUF_DEFAULT_MAX */
};

#define ROTOR_BUF_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

void rotor_buf_init(struct rotor_buf *b, size_t max);
/* Returns 0, ROTOR_ELIMIT (would pass max) or ROTOR_ENOMEM. */
int rotor_buf_append(struct rotor_buf *b, const void *data, size_t len);
int rotor_buf_puts(struct rotor_buf *b, const char *s);
int rotor_buf_printf(struct rotor_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empties the buffer (wiping it) and keeps the allocation. */
void rotor_buf_reset(struct rotor_buf *b);
/* Wipes and frees the contents; the struct can be reused after init. */
void rotor_buf_dispose(struct rotor_buf *b);
/* Hands the data to the caller (who frees it) and empties the buffer. */
char *rotor_buf_detach(struct rotor_buf *b, size_t *len);

#endif
