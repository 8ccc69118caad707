/* testsupport.c: starting and stopping the Python test doubles, file helpers. */
#include "testsupport.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *test_source_path(const char *rel)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", ROTOR_SOURCE_DIR, rel);
	return path;
}

int test_server_start(struct test_server *s, const char *script, const char *const *args)
{
	return test_server_start_with(s, NULL, script, args);
}

int test_server_start_with(struct test_server *s, const char *python, const char *script,
                           const char *const *args)
{
	int fds[2];
	char script_path[4096];
	memset(s, 0, sizeof(*s));
	snprintf(script_path, sizeof(script_path), "%s/tests/doubles/%s", ROTOR_SOURCE_DIR, script);
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		const char *argv[64];
		size_t n = 0;
		argv[n++] = python ? python : ROTOR_PYTHON;
		argv[n++] = script_path;
		argv[n++] = "--port";
		argv[n++] = "0";
		argv[n++] = "--lifetime";
		argv[n++] = "300";
		for (size_t i = 0; args && args[i] && n < 62; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	s->pid = pid;
	char line[256];
	size_t used = 0;
	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	time_t start = time(NULL);
	while (time(NULL) - start < 15) {
		int r = poll(&p, 1, 500);
		if (r <= 0)
			continue;
		ssize_t got = read(fds[0], line + used, sizeof(line) - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
		line[used] = '\0';
		char *nl = strchr(line, '\n');
		if (nl) {
			*nl = '\0';
			if (sscanf(line, "PORT %d", &s->port) == 1) {
				snprintf(s->base_url, sizeof(s->base_url), "http://127.0.0.1:%d",
				         s->port);
				close(fds[0]);
				return 0;
			}
			break;
		}
	}
	close(fds[0]);
	test_server_stop(s);
	return -1;
}

void test_server_stop(struct test_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 50; i++) {
			if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = 0;
				return;
			}
			usleep(20000);
		}
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *data = malloc(cap);
	while (data) {
		size_t got = fread(data + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (cap - n - 1 == 0) {
			char *bigger = realloc(data, cap * 2);
			if (!bigger) {
				free(data);
				data = NULL;
				break;
			}
			data = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (!data)
		return NULL;
	data[n] = '\0';
	if (len)
		*len = n;
	return data;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

int test_http_post(const char *url, const char *body)
{
	CURL *c = curl_easy_init();
	long status = -1;
	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return (int)status;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
	char **buf = ud;
	size_t add = size * nmemb, old = *buf ? strlen(*buf) : 0;
	char *bigger = realloc(*buf, old + add + 1);
	if (!bigger)
		return 0;
	memcpy(bigger + old, ptr, add);
	bigger[old + add] = '\0';
	*buf = bigger;
	return add;
}

char *test_http(const char *method, const char *url, const char *body, int *status)
{
	CURL *c = curl_easy_init();
	char *out = NULL;
	long code = -1;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	*status = -1;
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	*status = (int)code;
	if (!out)
		out = strdup("");
	return out;
}
