/*
 * cmd_validate.c: `rotor validate [--config FILE] [--format text|json] PATH...`
 *
 * Checks manifests (and, with a config, everything they name in it) and
 * prints every problem as file:line:col: message. Needs no network and no
 * secrets: config secret references that cannot be loaded here are
 * warnings, since they may exist only on the controller's machine.
 * Exit: 0 valid, 3 invalid, 2 usage, 1 other error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "rotor/error.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: rotor validate [--config FILE] [--format text|json] [--revision REF] "
	           "[PATH...]\n");
}

static int print_json(const struct rotor_diags *d, const struct rotor_manifest_set *set,
                      int config_checked, const char *config_path)
{
	json_t *root = json_object();
	json_t *list = json_array();
	for (size_t i = 0; i < d->n; i++) {
		const struct rotor_diag *x = &d->items[i];
		json_array_append_new(
		    list, json_pack("{s:s, s:i, s:i, s:s, s:s}", "file", x->file, "line", x->line,
		                    "column", x->col, "severity",
		                    x->severity == ROTOR_DIAG_WARNING ? "warning" : "error",
		                    "message", x->message));
	}
	json_object_set_new(root, "valid", json_boolean(d->nerrors == 0));
	json_object_set_new(root, "manifests", json_integer((json_int_t)set->n));
	json_object_set_new(root, "documents", json_integer((json_int_t)set->documents));
	json_object_set_new(root, "files", json_integer((json_int_t)set->nfiles));
	json_object_set_new(root, "errors", json_integer((json_int_t)d->nerrors));
	json_object_set_new(root, "warnings", json_integer((json_int_t)d->nwarnings));
	json_object_set_new(root, "config",
	                    config_checked ? json_string(config_path) : json_null());
	json_object_set_new(root, "diagnostics", list);
	json_object_set_new(root, "truncated", json_boolean(d->truncated));
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return EXIT_ERROR;
	printf("%s\n", s);
	free(s);
	return d->nerrors ? EXIT_INVALID : EXIT_OK;
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cmd_validate(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"format", required_argument, NULL, 'f'},
	    {"revision", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_flag = NULL, *format = "text", *revision = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:f:R:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_flag = optarg;
			break;
		case 'R':
			revision = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "rotor validate: --format must be text or json, not \"%s\"\n",
		        format);
		return EXIT_USAGE;
	}
	int json = strcmp(format, "json") == 0;
	struct rotor_diags diags;
	struct rotor_manifest_set set;
	struct rotor_config *cfg = NULL;
	char why[512] = "";
	int status = EXIT_OK;
	rotor_diags_init(&diags);
	rotor_manifest_set_init(&set);

	/* validate alone does not fall back to ./rotor.yaml: a config is only
	 * checked when the caller asks for it. */
	const char *config_path = cmd_config_path(config_flag, 0);
	if (config_path) {
		if (cmd_load_config(config_path, &cfg, &diags) == 0)
			rotor_config_resolve_secrets(cfg, ROTOR_DIAG_WARNING, &diags);
	}
	int rc = cmd_load_manifests(&set, argv + optind, (size_t)(argc - optind), cfg, revision,
	                            NULL, &diags, why, sizeof(why));
	if (rc != 0 && rc != ROTOR_EINVALID) {
		fprintf(stderr, "rotor validate: %s\n", why);
		status = EXIT_ERROR;
		goto done;
	}
	if (rc == ROTOR_EINVALID && why[0]) {
		fprintf(stderr, "rotor validate: %s\n", why);
		usage(stderr);
		status = EXIT_USAGE;
		goto done;
	}
	rotor_diags_sort(&diags);
	if (json) {
		status = print_json(&diags, &set, config_path && cfg, config_path);
		goto done;
	}
	if (!config_path)
		fprintf(stderr,
		        "note: no --config or $ROTOR_CONFIG: skipped the checks against the "
		        "controller config (connections, envFile paths, reload commands)\n");
	rotor_diags_print(&diags, stderr);
	if (diags.nerrors) {
		printf("invalid: %zu %s, %zu %s (%zu %s read)\n", diags.nerrors,
		       plural(diags.nerrors, "error", "errors"), diags.nwarnings,
		       plural(diags.nwarnings, "warning", "warnings"), set.documents,
		       plural(set.documents, "manifest", "manifests"));
		status = EXIT_INVALID;
	} else if (diags.nwarnings) {
		printf("%zu %s OK, %zu %s\n", set.n, plural(set.n, "manifest", "manifests"),
		       diags.nwarnings, plural(diags.nwarnings, "warning", "warnings"));
	} else {
		printf("%zu %s OK\n", set.n, plural(set.n, "manifest", "manifests"));
	}
done:
	fflush(stdout);
	rotor_config_free(cfg);
	rotor_manifest_set_dispose(&set);
	rotor_diags_dispose(&diags);
	return status;
}
