/*
 * commands.h: the CLI's command table. Each subcommand lives in its own
 * cmd_<name>.c and is a function from argv to an exit status:
 * 0 success, 1 error, 2 usage error, 3 invalid manifests or config.
 * Only cmd/ decides exit statuses; the library returns error codes.
 */
#ifndef ROTOR_CMD_COMMANDS_H
#define ROTOR_CMD_COMMANDS_H

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_INVALID = 3,
};

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_controller(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_discover(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_help(int argc, char **argv);

/* The table, NULL-terminated, for `rotor help`. */
extern const struct command rotor_commands[];

#endif
