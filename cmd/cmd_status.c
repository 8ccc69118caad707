/*
 * cmd_status.c: `rotor status [--config FILE] [NAME] [PATH...]`:
 * for each manifest, its keys (role, status, age, last use), the store's
 * version, each consumer, the status and the dated steps ahead.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "rotor/clock.h"
#include "rotor/timefmt.h"
#include "session.h"

static void print_manifest(const struct session *s, size_t i, int64_t now)
{
	const struct rotor_manifest *m = s->win[i];
	const struct rotor_observed *o = &s->obs[i];
	const struct rotor_manifest_plan *p = &s->plans[i];
	char age[32], t[32], used[160];
	printf("%s  (IAM user %s on %s, %s)\n", m->name, m->user, m->aws, rotor_mode_name(m->mode));
	printf("  status:  %s: %s\n", rotor_status_name(p->status), p->status_reason);
	if (!o->iam_known)
		printf("  keys:    unknown (%s)\n", o->iam_error);
	for (int k = 0; o->iam_known && k < o->nkeys; k++) {
		const struct rotor_obs_key *key = &o->keys[k];
		rotor_duration_human(age, sizeof(age), now - key->created);
		if (!key->last_used_known)
			snprintf(used, sizeof(used), "last use unknown");
		else if (!key->last_used)
			snprintf(used, sizeof(used), "never used");
		else {
			rotor_time_format(t, sizeof(t), key->last_used);
			snprintf(used, sizeof(used), "last used %s (%s, %s)", t, key->last_service,
			         key->last_region);
		}
		printf("  key:     %s  %-11s %-8s age %-8s %s\n", key->id,
		       rotor_role_name(p->roles[k]), key->active ? "Active" : "Inactive", age,
		       used);
	}
	if (!o->store_known)
		printf("  store:   unknown (%s)\n", o->store_error);
	else if (!o->store_has_akid)
		printf("  store:   %s: empty\n", m->store.secret_path);
	else
		printf("  store:   %s holds %s (version %lld)%s\n", m->store.secret_path,
		       o->store_akid, (long long)o->store_akid_version,
		       o->store_auth == 1   ? ", authenticates"
		       : o->store_auth == 0 ? ", DOES NOT AUTHENTICATE"
		                            : "");
	if (p->consumers && p->holding_akid[0])
		printf("  sync:    %d/%d consumers hold %s\n", p->consumers_holding, p->consumers,
		       p->holding_akid);
	for (int c = 0; c < o->nconsumers; c++) {
		const char *st = o->consumers[c].state == ROTOR_CONSUMER_IN_SYNC   ? "in sync"
		                 : o->consumers[c].state == ROTOR_CONSUMER_DRIFTED ? "drifted"
		                                                                   : "unknown";
		printf("  consumer: %s (%s): %s%s%s\n", m->consumers[c].name,
		       rotor_consumer_kind_name(m->consumers[c].kind), st,
		       o->consumers[c].detail[0] ? ": " : "", o->consumers[c].detail);
	}
	for (int a = 0; a < p->nactions; a++)
		printf("  pending: %s %s: %s\n", rotor_action_name(p->actions[a].kind),
		       p->actions[a].key_id, p->actions[a].reason);
	for (int f = 0; f < p->nforecast; f++) {
		rotor_time_format(t, sizeof(t), p->forecast[f].at);
		const char *kind = p->forecast[f].kind == ROTOR_FC_ROTATE       ? "rotate"
		                   : p->forecast[f].kind == ROTOR_FC_DEACTIVATE ? "deactivate"
		                                                                : "delete";
		printf("  next:    %-10s %s %s%s%s\n", kind, t, p->forecast[f].key_id,
		       p->forecast[f].key_id[0] ? ": " : "", p->forecast[f].note);
	}
	printf("\n");
}

static int print_window(struct session *s, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < s->nwin; i++)
		print_manifest(s, i, s->now);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"selector", required_argument, NULL, 'l'},
	    {"name", required_argument, NULL, 'n'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"revision", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct session_options so = {.command = "status"};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:n:P:R:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			so.only = optarg;
			break;
		case 'h':
			printf("usage: rotor status [--config FILE] [--selector k=v] [--parallel "
			       "N] [NAME] "
			       "[PATH...]\n");
			return EXIT_OK;
		case 'c':
		case 'l':
		case 'R':
			session_common_flag(opt, optarg, &so);
			break;
		case 'P':
			if (session_common_flag(opt, optarg, &so))
				return EXIT_USAGE;
			break;
		default:
			fprintf(stderr, "usage: rotor status [--config FILE] [--name NAME] "
			                "[--selector k=v] [--parallel N] [PATH...]\n");
			return EXIT_USAGE;
		}
	}
	/* `rotor status [NAME] [PATH...]`: a first word that is not a path on
	 * disk names a manifest (like rotate), so both forms read naturally. */
	struct stat st;
	if (!so.only && optind < argc && stat(argv[optind], &st) != 0)
		so.only = argv[optind++];
	so.paths = argv + optind;
	so.npaths = (size_t)(argc - optind);
	struct session s;
	int status = session_open(&s, &so);
	if (status)
		return status;
	session_print_source(&s);
	if (session_pass(&s, 0, 10, 0, print_window, NULL) != 0) {
		session_close(&s);
		return EXIT_ERROR;
	}
	status = s.observe_errors ? EXIT_ERROR : EXIT_OK;
	session_close(&s);
	return status;
}
