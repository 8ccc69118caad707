/* fuzz_envfile.c: libFuzzer harness for the env-file reader and writer
 * (providers/consumers/envfile.c). The input is the file as found on disk;
 * an input starting with '@' names the file on its first line instead (a
 * path below the allowed directory, which holds a subdirectory and a
 * symbolic link to test the path checks). The real consumer observes the
 * file, then writes two pairs in turn (a plain key, as AWS's always are,
 * and one whose secret needs quoting); each write reads the file back.
 *
 * Invariants checked beyond the sanitizers: a write leaves the pair
 * readable (envfile_write verifies; a failed verification means the
 * writer and the reader disagree about the format), and nothing was
 * written through the symbolic link. The quoted pair is held to the first
 * only in a file without quote characters: a quote left open on an
 * earlier line closes on the first quote written after it, so writing a
 * quoted value there changes how the lines between are read (a known
 * limitation, tests/fuzz/regress/envfile/open-quote-before-quoted-value). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzsupport.h"
#include "providers/consumers/consumer.h"
#include "rotor/config.h"
#include "rotor/manifest.h"
#include "rotor/secret.h"

#define OLD_SECRET "fuzzoldsecretfuzzoldsecretfuzzoldsecret1"
#define PLAIN_SECRET "fuzzplainsecret/fuzzplainsecret+fuzz1234"
#define QUOTED_SECRET "fuzz \"quoted\" $secret `x` \\ 'y' #z\ttab\nline two"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char allowed[256];

/* A fresh allowed/ for every input, so that no file a write created
 * changes what the next input sees: it holds sub/ and link -> trap/ (all
 * inside the temporary directory; a write through the link would land in
 * trap/, which must stay empty). */
static void layout(void)
{
	char path[512], target[512];
	const char *tmp = fuzz_setup();
	fuzz_remove("allowed");
	fuzz_remove("trap");
	snprintf(allowed, sizeof(allowed), "%s/allowed", tmp);
	snprintf(path, sizeof(path), "%s/sub", allowed);
	snprintf(target, sizeof(target), "%s/trap", tmp);
	if (mkdir(allowed, 0700) || mkdir(path, 0700) || mkdir(target, 0700))
		abort();
	snprintf(path, sizeof(path), "%s/link", allowed);
	if (symlink(target, path))
		abort();
}

static void check_trap(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/trap", fuzz_setup());
	if (rmdir(path) != 0) {
		fprintf(stderr, "fuzz: something was written through the symbolic link\n");
		abort();
	}
}

static void write_pair(const struct rotor_consumer_ops *ops, const struct rotor_consumer_ref *c,
                       const char *akid, const char *value, int must_read_back, const uint8_t *data,
                       size_t size)
{
	const char *const secrets[] = {value, NULL}; /* what rotor holds meanwhile */
	struct rotor_consumer_pair pair = {NULL, akid, NULL, NULL, ""};
	struct rotor_secret *secret = NULL;
	struct rotor_error err;
	char unreadable[1200];
	rotor_error_clear(&err);
	if (rotor_secret_from_str(&secret, value, ROTOR_SECRET_REDACT, &err))
		abort();
	pair.secret = secret;
	fuzz_poison_stack();
	char record[ROTOR_CONSUMER_RECORD_MAX];
	int rc = ops->write(ops->ctx, c, &pair, record, sizeof(record), &err);
	fuzz_report(akid, rc, &err);
	fuzz_check_error(&err, secrets, data, size);
	snprintf(unreadable, sizeof(unreadable), "envFile \"%s\": read back after the write",
	         c->path);
	if (rc == ROTOR_EIO && must_read_back &&
	    strncmp(err.message, unreadable, strlen(unreadable)) == 0) {
		fprintf(stderr, "fuzz: envfile wrote a pair it cannot read back: %s\n",
		        err.message);
		abort();
	}
	rotor_secret_free(secret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const old_secret[] = {OLD_SECRET, NULL};
	struct rotor_config cfg;
	struct rotor_consumer_ref c;
	struct rotor_consumer_ops ops;
	struct rotor_consumer_pair want = {NULL, "AKIAFUZZOLDKEY000001", NULL, NULL, ""};
	struct rotor_secret *old = NULL;
	struct rotor_error err;
	enum rotor_consumer_state state;
	char *dirs[1], path[1024], name[256] = "app.env", detail[256];
	const char *content = size ? (const char *)data : "";
	size_t len = size;

	layout();
	if (size && data[0] == '@') {
		const char *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - content) - 1 : size - 1;
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, content + 1, n);
		name[n] = '\0';
		content = nl ? nl + 1 : content + size;
		len = size - (size_t)(content - (const char *)data);
	}
	snprintf(path, sizeof(path), "%s/%s", allowed, name);
	fuzz_file("allowed/app.env", content, len);

	memset(&cfg, 0, sizeof(cfg));
	dirs[0] = allowed;
	cfg.allowed_dirs = dirs;
	cfg.nallowed_dirs = 1;
	cfg.origin = "rotor.yaml";
	memset(&c, 0, sizeof(c));
	c.name = "app";
	c.path = path;
	if (rotor_envfile_ops(&ops, &cfg, &err) != 0)
		abort();

	rotor_error_clear(&err);
	if (rotor_secret_from_str(&old, OLD_SECRET, ROTOR_SECRET_REDACT, &err))
		abort();
	want.secret = old;
	fuzz_poison_stack();
	fuzz_report("observe",
	            ops.observe(ops.ctx, &c, &want, &state, detail, sizeof(detail), &err), &err);
	fuzz_check_error(&err, old_secret, data, size);
	rotor_secret_free(old);

	write_pair(&ops, &c, "AKIAFUZZNEWKEY000001", PLAIN_SECRET, 1, data, size);
	write_pair(&ops, &c, "AKIAFUZZNEWKEY000002", QUOTED_SECRET,
	           !memchr(content, '"', len) && !memchr(content, '\'', len), data, size);
	rotor_envfile_ops_dispose(&ops);
	check_trap();
	return 0;
}
