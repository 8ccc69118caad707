/* version.c: the versions `rotor version` reports, read from each library at run time. */
#include "rotor/version.h"

#include <curl/curl.h>
#include <expat.h>
#include <git2.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <yaml.h>

const char *rotor_version(void)
{
	return ROTOR_VERSION;
}

size_t rotor_version_libraries(struct rotor_version_info *out, size_t max)
{
	size_t n = 0;
#define ADD(label, ...)                                                                            \
	do {                                                                                       \
		if (n < max) {                                                                     \
			out[n].name = label;                                                       \
			snprintf(out[n].version, sizeof(out[n].version), __VA_ARGS__);             \
			n++;                                                                       \
		}                                                                                  \
	} while (0)
	int gmaj = 0, gmin = 0, grev = 0;
	git_libgit2_version(&gmaj, &gmin, &grev);
	XML_Expat_Version ev = XML_ExpatVersionInfo();
	ADD("libcurl", "%s", curl_version_info(CURLVERSION_NOW)->version);
	ADD("OpenSSL", "%s", OpenSSL_version(OPENSSL_VERSION));
	ADD("libyaml", "%s", yaml_get_version_string());
	ADD("libgit2", "%d.%d.%d", gmaj, gmin, grev);
	ADD("jansson", "%s", jansson_version_str());
	ADD("expat", "%d.%d.%d", ev.major, ev.minor, ev.micro);
	ADD("libsodium", "%s", sodium_version_string());
	ADD("libmicrohttpd", "%s", MHD_get_version());
#undef ADD
	return n;
}
