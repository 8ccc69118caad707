/*
 * registry.h (internal): the provider table the engine is built over — the
 * AWS provider, the store kinds and the consumer kinds. rotor's own table
 * is rotor_providers_default(); tests build the engine over fakes by
 * passing a table of their own in struct rotor_engine_options.
 *
 * A new consumer kind is one file under providers/consumers/ with its
 * descriptor (struct rotor_consumer_provider) and one line in registry.c;
 * a store kind likewise under providers/store/.
 * Thread rules: a table is constant; any thread.
 */
#ifndef ROTOR_REGISTRY_H
#define ROTOR_REGISTRY_H

#include "providers/aws/provider.h"
#include "providers/consumers/consumer.h"
#include "providers/store/store.h"
#include "rotor/manifest.h"

struct rotor_providers {
	const struct rotor_aws_provider *aws;
	const struct rotor_store_provider *store; /* spec.store.infisical */
	/* by kind; a descriptor whose open is NULL is a kind this rotor cannot
	 * reach yet (its consumers are observed as unknown) */
	const struct rotor_consumer_provider *consumers[ROTOR_CONSUMER__COUNT];
};

const struct rotor_providers *rotor_providers_default(void);

#endif
