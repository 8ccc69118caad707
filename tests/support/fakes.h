/*
 * fakes.h: in-process fakes of every provider the engine is built over —
 * AWS (IAM users, keys, last use, tags; STS), the store (versioned names)
 * and a consumer kind — for engine unit tests in simulated time. They keep
 * the rules the engine relies on (two keys a user, key ids as IAM issues
 * them, versions that only grow, a secret that authenticates only with its
 * own key while Active) and can fail any operation on demand.
 *
 * Thread rules: every fake is guarded by one mutex: any thread (the
 * concurrency test drives them from several workers at once).
 */
#ifndef ROTOR_TEST_FAKES_H
#define ROTOR_TEST_FAKES_H

#include <pthread.h>
#include <stdint.h>

#include "providers/registry.h"
#include "rotor/clock.h"

#define FAKE_MAX_USERS 128
#define FAKE_MAX_KEYS 4
#define FAKE_MAX_TAGS 50
#define FAKE_MAX_ENTRIES 512
#define FAKE_MAX_VERSIONS 16
#define FAKE_MAX_FAULTS 8

struct fake_key {
	char id[32];
	char secret[48];
	int active;
	int64_t created;
	int64_t last_used; /* 0: never */
	char service[32];
};

struct fake_user {
	char name[72];
	char arn[160];
	struct fake_key keys[FAKE_MAX_KEYS];
	int nkeys;
	struct {
		char key[128];
		char value[256];
	} tags[FAKE_MAX_TAGS];
	int ntags;
};

/* Fails calls of `op` (an api member's name, e.g. "create_access_key",
 * "read_pair", "write") once `after` more calls have succeeded, `times`
 * times, with rc (and remote_code for messages). */
struct fake_fault {
	char op[32];
	int after, times;
	int rc;
	char remote_code[48];
};

struct fake_entry {     /* one store name at one path */
	char path[256]; /* project/env/folder/name */
	char values[FAKE_MAX_VERSIONS][64];
	int nversions; /* versions 1..nversions */
};

struct fake_consumer_value {
	char target[256];
	char akid[32];
	char secret[64];
	int writes;
};

struct fake_world {
	pthread_mutex_t lock;
	struct rotor_clock *clock;
	struct fake_user users[FAKE_MAX_USERS];
	int nusers;
	int next_key;
	struct fake_fault faults[FAKE_MAX_FAULTS];
	int nfaults;
	int calls_create, calls_delete, calls_update;
	int max_keys_seen;            /* the most keys any user had at once */
	int limit_exceeded;           /* CreateAccessKey refused for a third key */
	int in_flight, max_in_flight; /* concurrent calls into the fake AWS */
	int handles_opened;           /* AWS handles the engine asked for */
	unsigned delay_us;            /* each AWS call lasts this long (outside the lock) */
	struct fake_entry entries[FAKE_MAX_ENTRIES];
	int nentries;
	struct fake_consumer_value consumers[FAKE_MAX_ENTRIES];
	int nconsumers;
};

/* The world every fake provider opens (one per test process). */
extern struct fake_world *fake;

void fake_world_init(struct fake_world *w, struct rotor_clock *clock);
void fake_world_dispose(struct fake_world *w);

/* The provider table: fake AWS, fake store (for spec.store.infisical) and
 * the fake consumer in place of envFile (its targets are the paths). */
const struct rotor_providers *fake_providers(void);

/* ---- set-up and inspection (take the lock themselves) ------------------ */

struct fake_user *fake_user_add(struct fake_world *w, const char *name);
struct fake_user *fake_user(struct fake_world *w, const char *name);
/* A key made outside rotor (legacy, or a stray); returns it. */
struct fake_key *fake_key_add(struct fake_world *w, const char *user, int64_t created);
struct fake_key *fake_key(struct fake_world *w, const char *user, const char *id);
/* Someone used the key at `when` (now if 0). */
void fake_key_use(struct fake_world *w, const char *user, const char *id, int64_t when,
                  const char *service);
int fake_active_keys(struct fake_world *w, const char *user);
const char *fake_tag(struct fake_world *w, const char *user, const char *key);

/* The store: the latest value of a name (NULL: none) and writing one as a
 * human would (a new version). path = "project/env/folder/name" as
 * fake_store_path builds it. */
const char *fake_store_get(struct fake_world *w, const char *path);
int fake_store_versions(struct fake_world *w, const char *path);
void fake_store_put(struct fake_world *w, const char *path, const char *value);
void fake_store_path(char *buf, size_t len, const char *project, const char *env,
                     const char *folder, const char *name);

/* A consumer target's value (NULL when never written) and drift by hand. */
const struct fake_consumer_value *fake_consumer_get(struct fake_world *w, const char *target);
void fake_consumer_set(struct fake_world *w, const char *target, const char *akid,
                       const char *secret);

void fake_fail(struct fake_world *w, const char *op, int after, int times, int rc,
               const char *remote_code);
void fake_faults_clear(struct fake_world *w);

#endif
