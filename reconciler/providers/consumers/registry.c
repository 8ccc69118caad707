/* registry.c: the consumer kinds rotor knows, by kind. A new kind is one
 * file with its descriptor and one line here. */
#include "providers/consumers/consumer.h"
#include "rotor/manifest.h"

/* Kinds the manifest accepts but this rotor cannot reach yet. */
static const struct rotor_consumer_provider heroku_provider = {"heroku", NULL, NULL};
static const struct rotor_consumer_provider github_provider = {"githubActions", NULL, NULL};

static const struct rotor_consumer_provider *const registry[ROTOR_CONSUMER__COUNT] = {
    [ROTOR_CONSUMER_HEROKU] = &heroku_provider,
    [ROTOR_CONSUMER_GITHUB] = &github_provider,
    [ROTOR_CONSUMER_ENVFILE] = &rotor_envfile_provider,
};

const struct rotor_consumer_provider *rotor_consumer_provider_of(enum rotor_consumer_kind kind)
{
	return (unsigned)kind < ROTOR_CONSUMER__COUNT ? registry[kind] : &heroku_provider;
}
