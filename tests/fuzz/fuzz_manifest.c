/* fuzz_manifest.c: libFuzzer harness for the manifest parser and the
 * cross-manifest checks. Built with clang -fsanitize=fuzzer by
 * scripts/fuzz.sh; the normal test run replays its corpus (replay.c). */
#include <stddef.h>
#include <stdint.h>

#include "rotor/diag.h"
#include "rotor/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rotor_manifest_set set;
	struct rotor_diags diags;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&diags);
	/* Parse the input twice as two files so duplicate checks run too. */
	rotor_manifest_parse(&set, "a.yaml", (const char *)data, size, &diags);
	rotor_manifest_parse(&set, "b.yaml", (const char *)data, size, &diags);
	rotor_manifest_set_check(&set, &diags);
	rotor_diags_sort(&diags);
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&diags);
	return 0;
}
