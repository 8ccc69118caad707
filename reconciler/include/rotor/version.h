/* version.h: rotor's version and the run-time versions of its libraries. */
/* Thread rules: constant: any thread. */
#ifndef ROTOR_VERSION_H
#define ROTOR_VERSION_H

#include <stddef.h>

struct rotor_version_info {
	const char *name;
	char version[64];
};

const char *rotor_version(void);
/* Fills up to max entries, returns how many. */
size_t rotor_version_libraries(struct rotor_version_info *out, size_t max);

#endif
