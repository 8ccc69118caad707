/* fuzz_config.c: libFuzzer harness for the controller config parser. */
#include <stddef.h>
#include <stdint.h>

#include "rotor/config.h"
#include "rotor/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rotor_config *cfg = NULL;
	struct rotor_diags diags;
	rotor_diags_init(&diags);
	if (rotor_config_parse(&cfg, "rotor.yaml", (const char *)data, size, &diags) == 0)
		rotor_config_free(cfg);
	rotor_diags_dispose(&diags);
	return 0;
}
