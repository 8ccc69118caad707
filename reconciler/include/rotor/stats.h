/*
 * stats.h: process-wide counts of requests to each kind of remote and of
 * its throttling replies, for the controller's /metrics.
 * Thread rules: any thread (atomic counters).
 */
#ifndef ROTOR_STATS_H
#define ROTOR_STATS_H

#include <stdint.h>

enum rotor_remote {
	ROTOR_REMOTE_IAM = 0,
	ROTOR_REMOTE_STS = 1,
	ROTOR_REMOTE_INFISICAL = 2,
	ROTOR_REMOTE_HEROKU = 3,
	ROTOR_REMOTE_GITHUB = 4,
	ROTOR_REMOTE__COUNT
};

/* One request sent (every attempt, retries included); throttled when the
 * remote answered that it throttles. */
void rotor_stats_request(enum rotor_remote r, int throttled);
uint64_t rotor_stats_requests(enum rotor_remote r);
uint64_t rotor_stats_throttles(enum rotor_remote r);
const char *rotor_remote_name(enum rotor_remote r);

#endif
