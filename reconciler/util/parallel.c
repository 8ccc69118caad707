/* parallel.c: a pool of threads over n items (rotor/parallel.h). */
#include "rotor/parallel.h"

#include <pthread.h>
#include <stdatomic.h>

struct job {
	size_t n;
	atomic_size_t next;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
};

static void *work(void *arg)
{
	struct job *j = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->n)
			return NULL;
		j->fn(j->ctx, i);
	}
}

void rotor_parallel_for(size_t n, int workers, void (*fn)(void *ctx, size_t i), void *ctx)
{
	struct job j = {.n = n, .fn = fn, .ctx = ctx};
	pthread_t t[ROTOR_PARALLEL_MAX];
	int started = 0;
	atomic_init(&j.next, 0);
	if (workers > ROTOR_PARALLEL_MAX)
		workers = ROTOR_PARALLEL_MAX;
	if ((size_t)workers > n)
		workers = (int)n;
	/* the calling thread is a worker too */
	for (int w = 1; w < workers; w++) {
		if (pthread_create(&t[started], NULL, work, &j) != 0)
			break;
		started++;
	}
	work(&j);
	for (int w = 0; w < started; w++)
		pthread_join(t[w], NULL);
}
