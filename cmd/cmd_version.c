/* cmd_version.c: `rotor version` prints rotor's version and its libraries'. */
#include <stdio.h>

#include "commands.h"
#include "rotor/version.h"

int cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: rotor version\n");
		return EXIT_USAGE;
	}
	struct rotor_version_info v[16];
	size_t n = rotor_version_libraries(v, sizeof(v) / sizeof(v[0]));
	printf("rotor %s\n", rotor_version());
	for (size_t i = 0; i < n; i++)
		printf("  %-14s %s\n", v[i].name, v[i].version);
	return EXIT_OK;
}
