/* main.c: rotor's entry point; finds the subcommand in the table and runs it. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "rotor/secret.h"

const struct command rotor_commands[] = {
    {"plan", cmd_plan, "show what a pass would change, and why (never mutates)"},
    {"diff", cmd_diff, "what merging a change to the manifests would do (offline)"},
    {"apply", cmd_apply, "run one pass: observe, plan, apply"},
    {"status", cmd_status, "keys, store, consumers and the dated steps ahead"},
    {"rotate", cmd_rotate, "rotate one manifest now"},
    {"rollback", cmd_rollback, "go back to the previous key and suspend the manifest"},
    {"resume", cmd_resume, "manage a rolled-back manifest again"},
    {"controller", cmd_controller, "run as a long-lived reconciler with endpoints and webhooks"},
    {"discover", cmd_discover,
     "every IAM user of an account, its keys' age and last use, and which manifest manages it"},
    {"validate", cmd_validate, "check manifests (and, with --config, what they name in it)"},
    {"version", cmd_version, "print rotor's version and the versions of its libraries"},
    {"help", cmd_help, "list the commands"},
    {NULL, NULL, NULL},
};

int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: rotor COMMAND [--config FILE] [PATH...]\n\ncommands:\n");
	for (const struct command *c = rotor_commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\nexit status: 0 success, 1 error, 2 usage error, 3 invalid manifests or config\n");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	rotor_secret_harden_process();
	if (argc < 2) {
		cmd_help(0, NULL);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	if (strcmp(name, "--version") == 0)
		name = "version";
	for (const struct command *c = rotor_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "rotor: unknown command \"%s\"; run `rotor help` for the list\n", name);
	return EXIT_USAGE;
}
