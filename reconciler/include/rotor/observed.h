/*
 * observed.h: what rotor saw of the real world for one manifest, the input
 * of the planner (together with the manifest and the time).
 *
 * Every part carries whether it was observed at all: a part that failed to
 * load is *unknown*, and the planner never treats unknown as absent. No
 * secret value appears here: the store's pair is reduced to its key id,
 * its versions, and whether it authenticated.
 */
/* Thread rules: plain data, owned by one thread (the reconcile's storage). */
#ifndef ROTOR_OBSERVED_H
#define ROTOR_OBSERVED_H

#include <stdint.h>
#include <string.h>

#include "rotor/manifest.h"

#define ROTOR_OBS_MAX_KEYS 8
#define ROTOR_OBS_ERROR_MAX 320

/* rotor's progress record for one key, kept in an IAM user tag whose key
 * is the access key id (see docs/rotation.md). 0 means "not recorded". */
struct rotor_key_record {
	int present;
	char manifest[64];
	int64_t created;       /* rotor created this key at */
	int64_t synced;        /* every consumer held this key from */
	int64_t inactive;      /* rotor (or an operator, as first seen) deactivated it at */
	int64_t store_version; /* the store version rotor wrote with this key */
};

struct rotor_obs_key {
	char id[32];
	int active;
	int64_t created;
	int last_used_known; /* GetAccessKeyLastUsed answered */
	int64_t last_used;   /* 0: never used */
	char last_service[64];
	char last_region[32];
	struct rotor_key_record record;
};

enum rotor_consumer_state {
	ROTOR_CONSUMER_UNKNOWN = 0, /* could not be observed */
	ROTOR_CONSUMER_IN_SYNC = 1, /* holds the store's current pair */
	ROTOR_CONSUMER_DRIFTED = 2, /* holds something else, or nothing */
};

struct rotor_obs_consumer {
	enum rotor_consumer_state state;
	char detail[ROTOR_OBS_ERROR_MAX]; /* why unknown, or what drifted */
	char record[256]; /* its last write's record (tag rotor:consumer:NAME), "" none */
};

struct rotor_observed {
	/* not observed at all: another rotor process holds the user (its lock) */
	char held_by[ROTOR_OBS_ERROR_MAX];
	/* IAM */
	int iam_known;
	char iam_error[ROTOR_OBS_ERROR_MAX];
	struct rotor_obs_key keys[ROTOR_OBS_MAX_KEYS];
	int nkeys;
	int64_t intent_at;         /* rotor's recorded intent to create a key; 0 none */
	int suspended_by_rollback; /* the user carries rotor rollback's suspension tag */
	char suspended_note[128];  /* that tag's value ("v1 by=rollback at=...") */
	/* the store */
	int store_known;
	char store_error[ROTOR_OBS_ERROR_MAX];
	int store_has_akid, store_has_secret;
	char store_akid[128];
	int64_t store_akid_version, store_secret_version;
	int store_auth; /* 1 authenticates as the user, 0 does not, -1 not checked */
	char store_auth_detail[ROTOR_OBS_ERROR_MAX];
	/* consumers, in the manifest's order */
	struct rotor_obs_consumer consumers[ROTOR_MANIFEST_MAX_CONSUMERS];
	int nconsumers;
	/* explicit requests */
	int rotate_now; /* `rotor rotate NAME` */
	/* `rotor rollback NAME`: the store's history, observed only when asked */
	int rollback;                             /* a rollback is requested */
	int rollback_history_known;               /* the history could be read */
	char rollback_prev_akid[32];              /* the key id the store held before; "" none */
	int64_t rollback_prev_akid_version;       /* the store version holding it */
	char rollback_error[ROTOR_OBS_ERROR_MAX]; /* why the history could not be read */
	/* housekeeping and trouble */
	char problem[ROTOR_OBS_ERROR_MAX]; /* the first part that failed to load, or "" */
	/* record tags nothing needs any more: of keys IAM no longer has, and of
	 * consumers no longer in the manifest (rotor:consumer:NAME) */
	char stale_records[ROTOR_OBS_MAX_KEYS][96];
	int nstale;
};

/* The key the store holds, as IAM lists it, or NULL (none, or not a key
 * of the user). */
static inline const struct rotor_obs_key *rotor_obs_stored_key(const struct rotor_observed *o)
{
	for (int i = 0; o && o->store_akid[0] && i < o->nkeys; i++)
		if (strcmp(o->keys[i].id, o->store_akid) == 0)
			return &o->keys[i];
	return NULL;
}

#endif
