/* stats.c: requests and throttles by remote (rotor/stats.h). */
#include "rotor/stats.h"

#include <stdatomic.h>

static atomic_uint_fast64_t requests[ROTOR_REMOTE__COUNT], throttles[ROTOR_REMOTE__COUNT];

void rotor_stats_request(enum rotor_remote r, int throttled)
{
	if ((unsigned)r >= ROTOR_REMOTE__COUNT)
		return;
	atomic_fetch_add(&requests[r], 1);
	if (throttled)
		atomic_fetch_add(&throttles[r], 1);
}

uint64_t rotor_stats_requests(enum rotor_remote r)
{
	return (unsigned)r < ROTOR_REMOTE__COUNT ? atomic_load(&requests[r]) : 0;
}

uint64_t rotor_stats_throttles(enum rotor_remote r)
{
	return (unsigned)r < ROTOR_REMOTE__COUNT ? atomic_load(&throttles[r]) : 0;
}

const char *rotor_remote_name(enum rotor_remote r)
{
	static const char *const names[] = {"iam", "sts", "infisical", "heroku", "github"};
	return (unsigned)r < ROTOR_REMOTE__COUNT ? names[r] : "unknown";
}
