/* registry.c: the providers rotor ships, by kind (see registry.h). */
#include "providers/registry.h"

static const struct rotor_providers defaults = {
    &rotor_aws_query_provider,
    &rotor_infisical_provider,
    {
        [ROTOR_CONSUMER_HEROKU] = &rotor_heroku_provider,
        [ROTOR_CONSUMER_GITHUB] = &rotor_github_provider,
        [ROTOR_CONSUMER_ENVFILE] = &rotor_envfile_provider,
    },
};

const struct rotor_providers *rotor_providers_default(void)
{
	return &defaults;
}
