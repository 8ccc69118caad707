/* store.c: the store interface's shared pieces. */
#include "providers/store/store.h"
#include "rotor/secret.h"

#include <string.h>

void rotor_store_pair_dispose(struct rotor_store_pair *p)
{
	rotor_secret_free(p->secret);
	memset(p, 0, sizeof(*p));
}

void rotor_store_free(struct rotor_store *s)
{
	if (s && s->ops && s->ops->free)
		s->ops->free(s->ctx);
	if (s) {
		s->ops = NULL;
		s->ctx = NULL;
	}
}
