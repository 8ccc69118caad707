/* fuzz_infisical_json.c: libFuzzer harness for Infisical's JSON replies.
 * The input's first record names store operations, in order ("read",
 * "write-new", "write-both", "write-akid", "write-secret", "version"; "v4"
 * switches to the v4 routes; none: one chosen by the first byte); every
 * further record is an HTTP reply (fuzzsupport.h). The operations run for
 * real through providers/store/infisical.c — login and renewal replies,
 * the list, read-one and batch replies, error bodies, 429 waits — on a
 * fixed clock, against the libcurl fake. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzzsupport.h"
#include "providers/store/store.h"
#include "rotor/clock.h"
#include "rotor/secret.h"
#include "util/http.h"

#define CLIENT_ID "fuzz-client-id-0001"
#define CLIENT_SECRET "fuzzclientsecretfuzzclientsecret0001"
#define PAIR_AKID "AKIAFUZZNEWKEY000001"
#define PAIR_SECRET "fuzzpairsecretfuzzpairsecretfuzzpair1234"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {"read",         "write-new", "write-both", "write-akid",
                                  "write-secret", "version",   "batch"};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static int run_op(size_t which, struct rotor_store *store, const struct rotor_secret *secret,
                  struct rotor_error *err)
{
	static const struct rotor_store_ref ref = {
	    .project_id = "6f1c0000-0000-4000-8000-000000000001",
	    .environment = "prod",
	    .secret_path = "/aws",
	    .akid_name = "AWS_ACCESS_KEY_ID",
	    .secret_name = "AWS_SECRET_ACCESS_KEY",
	};
	struct rotor_store_pair current, out;
	int rc;
	memset(&current, 0, sizeof(current));
	memset(&out, 0, sizeof(out));
	switch (which) {
	case 0:
		rc = store->ops->read_pair(store->ctx, &ref, &out, err);
		break;
	case 1:
	case 2:
	case 3:
	case 4:
		/* What the store held before: nothing, both, or half a pair. */
		current.has_akid = which == 2 || which == 3;
		current.has_secret = which == 2 || which == 4;
		current.akid_version = current.has_akid ? 3 : 0;
		current.secret_version = current.has_secret ? 3 : 0;
		rc = store->ops->write_pair(store->ctx, &ref, PAIR_AKID, secret, &current, &out,
		                            err);
		break;
	case 5:
		rc = store->ops->read_version(store->ctx, &ref, 3, 4, &out, err);
		break;
	default: {
		/* a pass's refs named first: the first reads come from one
		 * recursive list of their common folder (/aws) */
		struct rotor_store_ref refs[3] = {ref, ref, ref};
		refs[1].secret_path = "/aws/b";
		refs[2].secret_path = "/aws/c/";
		rc = store->ops->expect(store->ctx, refs, 3, err);
		for (int i = 0; !rc && i < 3; i++) {
			rc = store->ops->read_pair(store->ctx, &refs[i], &out, err);
			rotor_store_pair_dispose(&out);
		}
		break;
	}
	}
	rotor_store_pair_dispose(&out);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const secrets[] = {CLIENT_SECRET, PAIR_SECRET, NULL};
	struct fuzz_records recs;
	struct rotor_secret *id = NULL, *csecret = NULL, *pair = NULL;
	struct rotor_store store = {NULL, NULL};
	struct rotor_infisical_options o;
	struct rotor_http_options http;
	struct rotor_clock clock;
	struct rotor_error err;
	char line[256];

	fuzz_setup();
	fuzz_http_check();
	fuzz_split(data, size, &recs);
	fuzz_first_line(&recs.r[0], line, sizeof(line));
	fuzz_http_serve(&recs, 1);
	rotor_clock_fixed_init(&clock, 1780272000); /* 2026-06-01T00:00:00Z */
	rotor_http_options_init(&http);
	http.clock = &clock;
	memset(&o, 0, sizeof(o));
	o.name = "infisical-fuzz";
	o.site_url = "https://infisical.fuzz.invalid/";
	o.api_v4 = fuzz_has_word(line, "v4");
	o.clock = &clock;
	o.http = &http;
	if (rotor_secret_from_str(&id, CLIENT_ID, 0, &err) ||
	    rotor_secret_from_str(&csecret, CLIENT_SECRET, 0, &err) ||
	    rotor_secret_from_str(&pair, PAIR_SECRET, ROTOR_SECRET_REDACT, &err))
		goto done;
	o.client_id = id;
	o.client_secret = csecret;
	if (rotor_infisical_new(&store, &o, &err))
		goto done;

	int ran = 0;
	for (const char *p = line; *p; p += strcspn(p, " \t"), p += strspn(p, " \t")) {
		for (size_t i = 0; i < NOPS; i++) {
			size_t n = strlen(ops[i]);
			if (strncmp(p, ops[i], n) != 0 || (p[n] && p[n] != ' ' && p[n] != '\t'))
				continue;
			rotor_error_clear(&err);
			fuzz_poison_stack();
			fuzz_report(ops[i], run_op(i, &store, pair, &err), &err);
			fuzz_check_error(&err, secrets, data, size);
			ran = 1;
		}
	}
	if (!ran) {
		size_t which = size ? data[0] % NOPS : 0;
		rotor_error_clear(&err);
		fuzz_poison_stack();
		fuzz_report(ops[which], run_op(which, &store, pair, &err), &err);
		fuzz_check_error(&err, secrets, data, size);
	}
done:
	rotor_store_free(&store);
	rotor_secret_free(id);
	rotor_secret_free(csecret);
	rotor_secret_free(pair);
	return 0;
}
