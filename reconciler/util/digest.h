/*
 * digest.h: lower-case hex of bytes, and HMAC-SHA256 as hex (webhook
 * signatures: the controller checks GitHub's, notifications sign rotor's).
 * Thread rules: pure; any thread.
 */
#ifndef ROTOR_DIGEST_H
#define ROTOR_DIGEST_H

#include <stddef.h>

struct rotor_secret;

/* out gets 2 * n hex digits and a NUL. */
void rotor_hex(char *out, const unsigned char *in, size_t n);

/* HMAC-SHA256 of data with key, as 64 hex digits and a NUL. */
void rotor_hmac_sha256_hex(const struct rotor_secret *key, const void *data, size_t len,
                           char out[65]);

#endif
