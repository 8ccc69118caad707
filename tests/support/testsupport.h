/*
 * testsupport.h: shared helpers for the cmocka unit tests.
 *
 * Test doubles are Python 3 stdlib servers under tests/doubles/. Each one
 * takes `--port 0 --lifetime SECONDS`, binds 127.0.0.1, prints
 * "PORT <n>" on its first stdout line when ready, and exits by itself after
 * its lifetime so nothing hangs CI. test_server_start runs one and waits for
 * that line; test_server_stop kills it.
 */
#ifndef ROTOR_TESTSUPPORT_H
#define ROTOR_TESTSUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

struct test_server {
	pid_t pid;
	int port;
	char base_url[64]; /* "http://127.0.0.1:PORT" */
};

/* Starts tests/doubles/<script> with the given extra arguments (NULL-ended
 * array, may be NULL) and the interpreter ROTOR_PYTHON (or `python`, when
 * non-NULL). Returns 0, or -1 if the server did not announce a port within
 * 15 s. */
int test_server_start(struct test_server *s, const char *script, const char *const *args);
int test_server_start_with(struct test_server *s, const char *python, const char *script,
                           const char *const *args);
void test_server_stop(struct test_server *s);

/* Reads a whole file into a malloc'd NUL-terminated string; NULL on error. */
char *test_read_file(const char *path, size_t *len);

/* A path under the source tree, in a static buffer. */
const char *test_source_path(const char *rel);

/* A simple HTTP request to a double's control endpoint (for fault
 * injection); returns the HTTP status, or -1. body may be NULL. */
int test_http_post(const char *url, const char *body);

/* Any method; returns the malloc'd response body (or NULL) and sets
 * *status (-1 on a transport failure). body may be NULL. */
char *test_http(const char *method, const char *url, const char *body, int *status);

#endif
