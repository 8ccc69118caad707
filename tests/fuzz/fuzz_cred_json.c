/* fuzz_cred_json.c: libFuzzer harness for the credential replies of the
 * container endpoint and of IMDSv2 (JSON, plus IMDS's token and role-name
 * lines). The input's first record picks the source: "container" (the
 * relative URI), "full" (the full URI with an authorization token) or
 * "imds", and may add "role" (a role assumed on top: an STS reply follows)
 * and "refresh" (a second get after the first credentials expired); every
 * further record is an HTTP reply (fuzzsupport.h). Credentials come from
 * the real chain (providers/aws/chain.c) on a fixed clock, with no other
 * source configured, against the libcurl fake. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "providers/aws/aws.h"
#include "rotor/clock.h"

#define CONTAINER_TOKEN "fuzz-container-authorization-token-0001"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Only the source under test may be configured. */
static void environment(const char *source)
{
	fuzz_clear_aws_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", fuzz_file("no-credentials", NULL, 0), 1);
	setenv("AWS_CONFIG_FILE", fuzz_file("no-config", NULL, 0), 1);
	setenv("AWS_REGION", "us-east-1", 1);
	if (strcmp(source, "container") == 0) {
		setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/fuzz-task", 1);
	} else if (strcmp(source, "full") == 0) {
		setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:51679/credentials",
		       1);
		setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *secrets[2] = {NULL, NULL};
	static const char *const sources[] = {"container", "full", "imds"};
	struct fuzz_records recs;
	struct rotor_aws_chain_options o;
	struct rotor_aws_chain *chain = NULL;
	struct rotor_aws_credentials creds;
	struct rotor_clock clock;
	struct rotor_error err;
	const char *source = NULL;
	char line[256];

	fuzz_setup();
	fuzz_http_check();
	fuzz_split(data, size, &recs);
	fuzz_first_line(&recs.r[0], line, sizeof(line));
	fuzz_http_serve(&recs, 1);
	for (size_t i = 0; i < 3 && !source; i++)
		if (fuzz_has_word(line, sources[i]))
			source = sources[i];
	if (!source)
		source = sources[size ? data[0] % 3 : 0];
	environment(source);
	/* rotor holds the container token only while it calls the container
	 * endpoint: with a role on top, the STS call comes after. */
	if (strcmp(source, "full") == 0 && !fuzz_has_word(line, "role"))
		secrets[0] = CONTAINER_TOKEN;
	rotor_clock_fixed_init(&clock, 1780272000); /* 2026-06-01T00:00:00Z */
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.sts_url = "https://sts.fuzz.invalid/";
	if (fuzz_has_word(line, "role"))
		o.role_arn = "arn:aws:iam::123456789012:role/rotor";
	o.clock = &clock;
	rotor_http_options_init(&o.http);
	o.http.clock = &clock;
	memset(&creds, 0, sizeof(creds));
	rotor_error_clear(&err);
	if (rotor_aws_chain_new(&chain, &o, &err) == 0) {
		fuzz_poison_stack();
		fuzz_report(source, rotor_aws_chain_get(chain, &creds, &err), &err);
		fuzz_check_error(&err, secrets, data, size);
		rotor_aws_credentials_dispose(&creds);
		if (fuzz_has_word(line, "refresh")) {
			/* An hour on: the cached pair, a refresh, or the
			 * cached pair again when the refresh fails. */
			rotor_clock_fixed_advance(&clock, 3600);
			rotor_error_clear(&err);
			fuzz_poison_stack();
			fuzz_report("refresh", rotor_aws_chain_get(chain, &creds, &err), &err);
			fuzz_check_error(&err, secrets, data, size);
			rotor_aws_credentials_dispose(&creds);
		}
	}
	rotor_aws_chain_free(chain);
	return 0;
}
