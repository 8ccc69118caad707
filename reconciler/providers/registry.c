/* registry.c: the providers rotor ships, by kind (see registry.h). */
#include "providers/registry.h"

/* Kinds the manifest accepts but this rotor cannot reach yet. */
static const struct rotor_consumer_provider github_provider = {"githubActions", NULL, NULL};

static const struct rotor_providers defaults = {
    &rotor_aws_query_provider,
    &rotor_infisical_provider,
    {
        [ROTOR_CONSUMER_HEROKU] = &rotor_heroku_provider,
        [ROTOR_CONSUMER_GITHUB] = &github_provider,
        [ROTOR_CONSUMER_ENVFILE] = &rotor_envfile_provider,
    },
};

const struct rotor_providers *rotor_providers_default(void)
{
	return &defaults;
}
