/* fuzz_aws_ini.c: libFuzzer harness for the shared AWS files
 * (~/.aws/credentials and ~/.aws/config, botocore's INI dialect) and the
 * profile resolution built on them: role_arn, source_profile chains,
 * credential_source, duration_seconds, and so on. Records (fuzzsupport.h):
 * the profile to resolve (an empty line: the chain's default order, which
 * reads [default]), the credentials file, the config file (a missing
 * record: no such file), then HTTP replies for the STS and instance
 * metadata calls a profile leads to. The files are written to the
 * temporary directory and read by the real chain
 * (providers/aws/chain.c) on a fixed clock, against the libcurl fake. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsupport.h"
#include "providers/aws/aws.h"
#include "rotor/clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void environment(void)
{
	fuzz_clear_aws_env();
	setenv("AWS_REGION", "us-east-1", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_records recs;
	struct rotor_aws_chain_options o;
	struct rotor_aws_chain *chain = NULL;
	struct rotor_aws_credentials creds;
	struct rotor_clock clock;
	struct rotor_error err;
	char profile[256];

	fuzz_setup();
	fuzz_http_check();
	environment();
	fuzz_split(data, size, &recs);
	fuzz_first_line(&recs.r[0], profile, sizeof(profile));
	/* The files, written in full (NUL bytes included) as a user's would
	 * be; a missing record is a missing file. */
	setenv("AWS_SHARED_CREDENTIALS_FILE",
	       fuzz_file("credentials", recs.n > 1 ? recs.r[1].data : NULL,
	                 recs.n > 1 ? recs.r[1].len : 0),
	       1);
	setenv(
	    "AWS_CONFIG_FILE",
	    fuzz_file("config", recs.n > 2 ? recs.r[2].data : NULL, recs.n > 2 ? recs.r[2].len : 0),
	    1);
	fuzz_http_serve(&recs, 3);
	rotor_clock_fixed_init(&clock, 1780272000); /* 2026-06-01T00:00:00Z */
	memset(&o, 0, sizeof(o));
	o.profile = profile[0] ? profile : NULL;
	o.region = "us-east-1";
	o.sts_url = "https://sts.fuzz.invalid/";
	o.clock = &clock;
	rotor_http_options_init(&o.http);
	o.http.clock = &clock;
	memset(&creds, 0, sizeof(creds));
	rotor_error_clear(&err);
	if (rotor_aws_chain_new(&chain, &o, &err) == 0)
		fuzz_report(profile[0] ? profile : "(default)",
		            rotor_aws_chain_get(chain, &creds, &err), &err);
	rotor_aws_credentials_dispose(&creds);
	rotor_aws_chain_free(chain);
	return 0;
}
