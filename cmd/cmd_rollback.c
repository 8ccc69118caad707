/*
 * cmd_rollback.c: `rotor rollback NAME` and `rotor resume NAME`.
 * Rollback reactivates the predecessor, restores the store's previous
 * version, re-propagates, deactivates the new key and suspends the
 * manifest until `rotor resume NAME`.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "session.h"

static int one_manifest(int argc, char **argv, const char *command, int rollback)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"lock-wait", required_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	struct session_options so = {.command = command, .mutates = 1, .lock_wait_ms = -1};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:w:", longopts, NULL)) != -1) {
		if (opt == 'w') {
			if (session_lock_wait_flag(optarg, &so))
				return EXIT_USAGE;
			continue;
		}
		if (opt != 'c') {
			fprintf(stderr,
			        "usage: rotor %s [--config FILE] [--lock-wait DURATION] NAME "
			        "[PATH...]\n",
			        command);
			return EXIT_USAGE;
		}
		so.config = optarg;
	}
	if (optind >= argc) {
		fprintf(stderr,
		        "usage: rotor %s [--config FILE] [--lock-wait DURATION] NAME [PATH...]\n",
		        command);
		return EXIT_USAGE;
	}
	so.only = argv[optind];
	so.paths = argv + optind + 1;
	so.npaths = (size_t)(argc - optind - 1);
	struct session s;
	int status = session_open(&s, &so);
	if (status)
		return status;
	struct rotor_error err;
	rotor_error_clear(&err);
	int was_suspended = 0;
	int rc = session_lock(&s, 0, &err);
	if (!rc)
		rc = rollback ? rotor_engine_rollback(s.engine, s.selected[0], stdout, &err)
		              : rotor_engine_resume(s.engine, s.selected[0], &was_suspended, &err);
	if (rc)
		fprintf(stderr, "rotor %s: %s\n", command, err.message);
	else if (rollback)
		printf("%s: rolled back to the previous key; suspended until `rotor resume %s`\n",
		       so.only, so.only);
	else if (was_suspended)
		printf("%s: resumed; the next pass manages it again\n", so.only);
	else if (s.selected[0]->suspend)
		printf("%s: not suspended by rotor rollback, so nothing to resume; its manifest "
		       "says spec.suspend: true: set it to false to manage it again\n",
		       so.only);
	else
		printf("%s: not suspended by rotor rollback; nothing was changed\n", so.only);
	session_close(&s);
	return rc ? EXIT_ERROR : EXIT_OK;
}

int cmd_rollback(int argc, char **argv)
{
	return one_manifest(argc, argv, "rollback", 1);
}

int cmd_resume(int argc, char **argv)
{
	return one_manifest(argc, argv, "resume", 0);
}
