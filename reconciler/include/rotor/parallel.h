/*
 * parallel.h: run one function over n items on a pool of threads — the
 * concurrent pass of `plan`, `apply` and `status` (--parallel N) and, later,
 * the controller's workers. Item i is handed to exactly one worker; items
 * start in index order; the call returns once every item is done.
 *
 * Thread rules: fn runs on up to `workers` threads at once (the calling
 * thread is one of them); whatever it touches besides item i must be safe
 * to share (the engine is: rotor/engine.h).
 */
#ifndef ROTOR_PARALLEL_H
#define ROTOR_PARALLEL_H

#include <stddef.h>

#define ROTOR_PARALLEL_DEFAULT 8
#define ROTOR_PARALLEL_MAX 64

/* Calls fn(ctx, i) for every i in [0, n). workers <= 1 (or a thread that
 * cannot be started) runs the rest on the calling thread. */
void rotor_parallel_for(size_t n, int workers, void (*fn)(void *ctx, size_t i), void *ctx);

#endif
