/* digest.c: hex and HMAC-SHA256 (util/digest.h). */
#include "util/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rotor/secret.h"

void rotor_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

void rotor_hmac_sha256_hex(const struct rotor_secret *key, const void *data, size_t len,
                           char out[65])
{
	unsigned char mac[32];
	unsigned int n = sizeof(mac);
	HMAC(EVP_sha256(), rotor_secret_bytes(key), (int)rotor_secret_len(key),
	     (const unsigned char *)data, len, mac, &n);
	rotor_hex(out, mac, n);
}
