/*
 * tz.h (internal): UTC offsets of IANA time zones for rotation windows,
 * read from the system's compiled zone files (TZif, $TZDIR or
 * /usr/share/zoneinfo) without touching the process's TZ: the planner
 * stays free of global state. Past the file's last transition the last
 * offset holds (Debian ships "fat" files with transitions to 2037).
 * Thread rules: any thread (a locked cache of loaded zones).
 */
#ifndef ROTOR_TZ_H
#define ROTOR_TZ_H

#include <stdint.h>

/* A zone name as IANA writes it: letters, digits, '_', '+', '-', '/', no
 * "..". 1 when it looks like one. */
int rotor_tz_name_valid(const char *name);
/* The offset east of UTC, in seconds, at Unix time t; 0 on success, -1
 * when the zone cannot be loaded ("UTC" always can). */
int rotor_tz_offset(const char *name, int64_t t, int32_t *offset);

#endif
