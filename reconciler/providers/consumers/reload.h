/*
 * reload.h (internal): running a named reload command (reload.c).
 * Thread rules: any thread; each call runs and reaps its own child.
 */
#ifndef ROTOR_RELOAD_H
#define ROTOR_RELOAD_H

#include "rotor/config.h"
#include "rotor/error.h"

struct rotor_secret;

/* Runs cmd; it must exit 0 within its timeout. secret is what the written
 * file now holds: output that shows it is withheld from the error. */
int rotor_reload_run(const struct rotor_reload_command *cmd, const struct rotor_secret *secret,
                     struct rotor_error *err);

#endif
