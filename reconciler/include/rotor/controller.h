/*
 * controller.h: `rotor controller`, the long-running reconciler (issue 19,
 * first part). It keeps a set of manifests (from the config's git source,
 * fetched every source.interval, or from PATHs re-read as often), and
 * reconciles each one when it falls due: at the moment its plan's forecast
 * names (the next rotation, deactivation, deletion), at controller.resync
 * at the latest (drift healing), and at once when a new revision adds or
 * changes it. controller.workers manifests at a time, each under the
 * user's lock (rotor/lock.h), so a human's rotor on another shell never
 * mutates the same user at once. A failing manifest backs off (capped,
 * with jitter) without slowing the others. An invalid revision is not
 * applied: the controller keeps the last good one and reports why.
 *
 * Endpoints on controller.listen (libmicrohttpd, loopback by default):
 * /healthz, /readyz, /status (JSON), /metrics (Prometheus text).
 *
 * Thread rules: rotor_controller_run runs on the caller's thread until
 * rotor_controller_stop (any thread, async-signal-safe) is called.
 */
#ifndef ROTOR_CONTROLLER_H
#define ROTOR_CONTROLLER_H

#include <stddef.h>

#include "rotor/config.h"
#include "rotor/error.h"

struct rotor_controller;

struct rotor_controller_options {
	const char *config_path; /* for SIGHUP's reload and messages */
	char *const *paths;      /* manifests from these paths; none: the config's source */
	size_t npaths;
	const char *listen; /* overrides controller.listen; "none": no endpoints */
};

/* Takes ownership of cfg. */
int rotor_controller_new(struct rotor_controller **out, struct rotor_config *cfg,
                         const struct rotor_controller_options *opts, struct rotor_error *err);
/* Runs until stopped; 0 after a clean stop (the actions in flight finished). */
int rotor_controller_run(struct rotor_controller *c, struct rotor_error *err);
/* Asks the controller to stop (a signal handler may call it). */
void rotor_controller_stop(struct rotor_controller *c);
/* Asks for a config reload at the next turn (SIGHUP). */
void rotor_controller_reload(struct rotor_controller *c);
void rotor_controller_free(struct rotor_controller *c);

#endif
