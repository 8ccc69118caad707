/*
 * cmd_controller.c: `rotor controller [--config FILE] [--listen HOST:PORT]
 * [PATH...]`: the long-running reconciler (rotor/controller.h). SIGTERM and
 * SIGINT stop it (the reconciles in flight finish; exit 0); SIGHUP reloads
 * the config, keeping the old one when the new one is invalid.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "rotor/config.h"
#include "rotor/controller.h"
#include "rotor/log.h"
#include "session.h"

static struct rotor_controller *running;

static void on_stop(int sig)
{
	(void)sig;
	if (running)
		rotor_controller_stop(running);
}

static void on_hup(int sig)
{
	(void)sig;
	if (running)
		rotor_controller_reload(running);
}

int cmd_controller(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_flag = NULL, *listen = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:L:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_flag = optarg;
			break;
		case 'L':
			listen = optarg;
			break;
		case 'h':
			printf("usage: rotor controller [--config FILE] [--listen HOST:PORT|none] "
			       "[PATH...]\n");
			return EXIT_OK;
		default:
			fprintf(stderr, "usage: rotor controller [--config FILE] [--listen "
			                "HOST:PORT|none] [PATH...]\n");
			return EXIT_USAGE;
		}
	}
	session_log_setup(ROTOR_LOG_INFO); /* a service: its steps are logged */
	const char *path = NULL;
	struct rotor_config *cfg = NULL;
	int status = cmd_config_resolved("controller", config_flag, &path, &cfg);
	if (status)
		return status;
	struct rotor_controller_options o = {path, argv + optind, (size_t)(argc - optind), listen};
	struct rotor_controller *c = NULL;
	struct rotor_error err;
	rotor_error_clear(&err);
	if (rotor_controller_new(&c, cfg, &o, &err) != 0) {
		fprintf(stderr, "rotor controller: %s\n", err.message);
		return err.code == ROTOR_EINVALID ? EXIT_INVALID : EXIT_ERROR;
	}
	running = c;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	int rc = rotor_controller_run(c, &err);
	if (rc)
		fprintf(stderr, "rotor controller: %s\n", err.message);
	running = NULL;
	rotor_controller_free(c);
	if (rc == ROTOR_EINVALID) /* a listen address it cannot use */
		return listen ? EXIT_USAGE : EXIT_INVALID;
	return rc ? EXIT_ERROR : EXIT_OK;
}
