/*
 * cmd_discover.c: `rotor discover --aws CONNECTION [--all] [--older-than
 * 90d] [--path-prefix /x/] [--format text|markdown|json|csv] [--scaffold
 * DIR ...] [PATH...]`: every IAM user of the account(s), each key's age,
 * status and last use, and which manifest (from PATHs or the config's
 * source) manages the user; unmanaged users with keys older than the
 * threshold first. Read-only. --scaffold writes one manifest per unmanaged
 * user with keys, in observe mode, never over an existing file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"
#include "rotor/clock.h"
#include "rotor/discover.h"
#include "rotor/engine.h"
#include "rotor/log.h"
#include "rotor/timefmt.h"
#include "session.h"

#define USAGE                                                                                      \
	"usage: rotor discover [--config FILE] (--aws CONNECTION | --all) [--older-than "          \
	"DURATION]\n"                                                                              \
	"                      [--path-prefix /path/] [--format text|markdown|json|csv]\n"         \
	"                      [--scaffold DIR [--store-connection NAME] --project ID\n"           \
	"                       --environment SLUG [--store-path TEMPLATE]] [PATH...]\n"

struct found {
	const char *connection;
	struct rotor_discovered_user u;
	const char *managed_by; /* manifest name, or NULL */
	int64_t oldest;         /* the oldest key's creation; 0 without keys */
	int group;              /* 0 unmanaged + old, 1 unmanaged, 2 managed, 3 no keys */
};

struct walk {
	struct found *items;
	size_t n, cap;
	const char *connection;
	const struct rotor_manifest_set *set;
	int64_t now, older_than;
	int tty, oom;
};

static const char *manager_of(const struct rotor_manifest_set *set, const char *conn,
                              const char *user)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (strcmp(set->items[i].aws, conn) == 0 &&
		    strcasecmp(set->items[i].user, user) == 0)
			return set->items[i].name;
	return NULL;
}

static void each(void *ctx, const struct rotor_discovered_user *u)
{
	struct walk *w = ctx;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct found *f = realloc(w->items, cap * sizeof(*f));
		if (!f) {
			w->oom = 1;
			return;
		}
		w->items = f;
		w->cap = cap;
	}
	struct found *f = &w->items[w->n++];
	memset(f, 0, sizeof(*f));
	f->connection = w->connection;
	f->u = *u;
	f->managed_by = manager_of(w->set, w->connection, u->name);
	for (int k = 0; k < u->nkeys; k++)
		if (!f->oldest || u->keys[k].created < f->oldest)
			f->oldest = u->keys[k].created;
	f->group = !u->nkeys ? 3 : f->managed_by ? 2 : w->now - f->oldest > w->older_than ? 0 : 1;
	if (w->tty && w->n % 25 == 0)
		fprintf(stderr, "\rrotor discover: %s: %zu users...", w->connection, w->n);
}

static int by_group(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	if (x->group != y->group)
		return x->group - y->group;
	if (x->oldest != y->oldest)
		return x->oldest < y->oldest ? -1 : 1; /* the oldest key first */
	int c = strcmp(x->connection, y->connection);
	return c ? c : strcmp(x->u.name, y->u.name);
}

static const char *group_label(int g)
{
	static const char *const labels[] = {"unmanaged, old keys", "unmanaged", "managed",
	                                     "no keys"};
	return labels[g];
}

static void age(char *buf, size_t len, int64_t now, int64_t t)
{
	rotor_duration_human(buf, len, now > t ? now - t : 0);
}

static void last_use(char *buf, size_t len, const struct rotor_discovered_key *k)
{
	char t[32];
	if (!k->last_used_known)
		snprintf(buf, len, "last use unknown");
	else if (!k->last_used)
		snprintf(buf, len, "never used");
	else {
		rotor_time_format(t, sizeof(t), k->last_used);
		snprintf(buf, len, "last used %s (%s, %s)", t, k->service, k->region);
	}
}

static void print_text(const struct walk *w, const char *threshold)
{
	size_t old = 0, keys = 0;
	for (size_t i = 0; i < w->n; i++) {
		old += w->items[i].group == 0;
		keys += w->items[i].u.nkeys > 0;
	}
	printf("%zu user%s, %zu with access keys; %zu unmanaged with a key older than %s\n\n", w->n,
	       w->n == 1 ? "" : "s", keys, old, threshold);
	for (size_t i = 0; i < w->n; i++) {
		const struct found *f = &w->items[i];
		printf("%s %s/%s%s  (%s%s%s)\n",
		       f->group == 0   ? "!"
		       : f->group == 1 ? "?"
		                       : " ",
		       f->connection, f->u.path[0] ? f->u.path + 1 : "", f->u.name,
		       group_label(f->group), f->managed_by ? ": " : "",
		       f->managed_by ? f->managed_by : "");
		for (int k = 0; k < f->u.nkeys; k++) {
			char a[32], l[160];
			age(a, sizeof(a), w->now, f->u.keys[k].created);
			last_use(l, sizeof(l), &f->u.keys[k]);
			printf("    %s  %-8s  age %-9s %s\n", f->u.keys[k].id,
			       f->u.keys[k].active ? "Active" : "Inactive", a, l);
		}
		if (f->u.error[0])
			printf("    could not read its keys: %s\n", f->u.error);
	}
}

static void print_markdown(const struct walk *w, const char *threshold)
{
	printf("### rotor discover\n\n| | connection | user | path | key | status | age | last "
	       "use | managed by |\n|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < w->n; i++) {
		const struct found *f = &w->items[i];
		const char *flag = f->group == 0 ? ":warning:" : "";
		if (!f->u.nkeys)
			printf("| %s | %s | `%s` | `%s` | | | | | %s |\n", flag, f->connection,
			       f->u.name, f->u.path, f->managed_by ? f->managed_by : "");
		for (int k = 0; k < f->u.nkeys; k++) {
			char a[32], l[160];
			age(a, sizeof(a), w->now, f->u.keys[k].created);
			last_use(l, sizeof(l), &f->u.keys[k]);
			printf("| %s | %s | `%s` | `%s` | `%s` | %s | %s | %s | %s |\n", flag,
			       f->connection, f->u.name, f->u.path, f->u.keys[k].id,
			       f->u.keys[k].active ? "Active" : "Inactive", a, l,
			       f->managed_by ? f->managed_by : "**unmanaged**");
		}
	}
	printf("\n:warning: unmanaged, with a key older than %s\n", threshold);
}

static json_t *time_or_null(int64_t t)
{
	char s[32];
	if (!t)
		return json_null();
	rotor_time_format(s, sizeof(s), t);
	return json_string(s);
}

static void print_json(const struct walk *w, const char *threshold)
{
	json_t *root = json_object(), *users = json_array();
	json_object_set_new(root, "olderThan", json_string(threshold));
	for (size_t i = 0; i < w->n; i++) {
		const struct found *f = &w->items[i];
		json_t *u = json_object(), *keys = json_array();
		json_object_set_new(u, "connection", json_string(f->connection));
		json_object_set_new(u, "user", json_string(f->u.name));
		json_object_set_new(u, "path", json_string(f->u.path));
		json_object_set_new(u, "arn", json_string(f->u.arn));
		json_object_set_new(u, "created", time_or_null(f->u.created));
		json_object_set_new(u, "managedBy",
		                    f->managed_by ? json_string(f->managed_by) : json_null());
		json_object_set_new(u, "unmanagedOld", json_boolean(f->group == 0));
		for (int k = 0; k < f->u.nkeys; k++) {
			const struct rotor_discovered_key *x = &f->u.keys[k];
			json_t *j = json_object();
			json_object_set_new(j, "accessKeyId", json_string(x->id));
			json_object_set_new(j, "status",
			                    json_string(x->active ? "Active" : "Inactive"));
			json_object_set_new(j, "created", time_or_null(x->created));
			json_object_set_new(j, "ageSeconds", json_integer(w->now - x->created));
			json_object_set_new(j, "lastUsed",
			                    x->last_used_known ? time_or_null(x->last_used)
			                                       : json_null());
			json_object_set_new(j, "lastUsedService",
			                    x->last_used ? json_string(x->service) : json_null());
			json_object_set_new(j, "lastUsedRegion",
			                    x->last_used ? json_string(x->region) : json_null());
			json_array_append_new(keys, j);
		}
		json_object_set_new(u, "keys", keys);
		json_object_set_new(u, "error",
		                    f->u.error[0] ? json_string(f->u.error) : json_null());
		json_array_append_new(users, u);
	}
	json_object_set_new(root, "users", users);
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s)
		printf("%s\n", s);
	free(s);
}

/* RFC 4180: quoted when needed, quotes doubled. */
static void csv_field(const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	fputs(last ? "\r\n" : ",", stdout);
}

static void print_csv(const struct walk *w)
{
	printf("connection,user,path,managed_by,unmanaged_old,access_key_id,status,created,"
	       "age_days,last_used,last_used_service,last_used_region\r\n");
	for (size_t i = 0; i < w->n; i++) {
		const struct found *f = &w->items[i];
		for (int k = 0; k < (f->u.nkeys ? f->u.nkeys : 1); k++) {
			const struct rotor_discovered_key *x = f->u.nkeys ? &f->u.keys[k] : NULL;
			char created[32] = "", used[32] = "", days[24] = "";
			if (x) {
				rotor_time_format(created, sizeof(created), x->created);
				if (x->last_used)
					rotor_time_format(used, sizeof(used), x->last_used);
				snprintf(days, sizeof(days), "%lld",
				         (long long)((w->now - x->created) / 86400));
			}
			csv_field(f->connection, 0);
			csv_field(f->u.name, 0);
			csv_field(f->u.path, 0);
			csv_field(f->managed_by ? f->managed_by : "", 0);
			csv_field(f->group == 0 ? "true" : "false", 0);
			csv_field(x ? x->id : "", 0);
			csv_field(x ? (x->active ? "Active" : "Inactive") : "", 0);
			csv_field(created, 0);
			csv_field(days, 0);
			csv_field(used, 0);
			csv_field(x && x->last_used ? x->service : "", 0);
			csv_field(x && x->last_used ? x->region : "", 1);
		}
	}
}

/* ---- --scaffold ------------------------------------------------------------------- */

struct scaffold {
	const char *dir, *store_connection, *project, *environment, *path_template;
	char (*used)[64]; /* manifest names given in this run */
	size_t nused;
};

/* A manifest name from a user name: [a-z0-9-], 1..63, no leading or
 * trailing '-', "-" for every run of other characters. */
static void manifest_name(char *out, size_t len, const char *user)
{
	size_t o = 0;
	int dash = 0;
	for (const char *p = user; *p && o + 1 < len && o < 63; p++) {
		unsigned char c = (unsigned char)*p;
		if (isalnum(c)) {
			if (dash && o)
				out[o++] = '-';
			dash = 0;
			if (o < 63)
				out[o++] = (char)tolower(c);
		} else {
			dash = 1;
		}
	}
	while (o && out[o - 1] == '-')
		o--;
	out[o] = '\0';
	if (!o)
		snprintf(out, len, "user");
}

/* The template with {user}, {name} and {path} (the IAM path without its
 * slashes at the ends) filled in. */
static void store_path(char *out, size_t len, const char *tpl, const struct found *f,
                       const char *name)
{
	char path[512];
	const char *p = f->u.path[0] == '/' ? f->u.path + 1 : f->u.path;
	snprintf(path, sizeof(path), "%s", p);
	size_t pl = strlen(path);
	while (pl && path[pl - 1] == '/')
		path[--pl] = '\0';
	size_t o = 0;
	for (const char *t = tpl; *t && o + 1 < len;) {
		const char *v = NULL;
		size_t skip = 0;
		if (strncmp(t, "{user}", 6) == 0)
			v = f->u.name, skip = 6;
		else if (strncmp(t, "{name}", 6) == 0)
			v = name, skip = 6;
		else if (strncmp(t, "{path}", 6) == 0)
			v = path, skip = 6;
		if (v) {
			o += (size_t)snprintf(out + o, len - o, "%s", v);
			t += skip;
		} else {
			out[o++] = *t++;
		}
		if (o >= len)
			o = len - 1;
	}
	out[o] = '\0';
	/* no empty folders: "//" collapsed, no trailing '/' but the root */
	char *d = out;
	for (char *s = out; *s; s++)
		if (!(s[0] == '/' && s[1] == '/'))
			*d++ = *s;
	*d = '\0';
	size_t n = strlen(out);
	if (n > 1 && out[n - 1] == '/')
		out[n - 1] = '\0';
}

static int scaffold_one(struct scaffold *s, const struct found *f, const struct rotor_config *cfg,
                        int *written, int *kept)
{
	char name[64], base[64], file[4096], secret_path[1024], text[4096];
	manifest_name(base, sizeof(base), f->u.name);
	/* two users may map to one name (ci.bot and ci-bot, or one user in two
	 * accounts under --all): the later ones get -2, -3 ... */
	snprintf(name, sizeof(name), "%s", base);
	for (int k = 2;; k++) {
		size_t i = 0;
		while (i < s->nused && strcmp(s->used[i], name) != 0)
			i++;
		if (i == s->nused)
			break;
		snprintf(name, sizeof(name), "%.55s-%d", base, k);
	}
	if (s->used)
		snprintf(s->used[s->nused++], sizeof(s->used[0]), "%s", name);
	snprintf(file, sizeof(file), "%s/%s.yaml", s->dir, name);
	store_path(secret_path, sizeof(secret_path), s->path_template, f, name);
	snprintf(text, sizeof(text),
	         "# Scaffolded by rotor discover: observe mode first (`rotor plan` shows what "
	         "would\n# happen); set mode: enforce once the plan is what you want.\n"
	         "apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata:\n  name: %s\n"
	         "spec:\n  user: \"%s\"\n  aws: %s\n  mode: observe\n  cadence: 90d\n"
	         "  deactivateAfter: 1d\n  deleteAfter: 7d\n  store:\n    infisical:\n"
	         "      connection: %s\n      projectId: \"%s\"\n      environment: %s\n"
	         "      secretPath: \"%s\"\n",
	         name, f->u.name, f->connection, s->store_connection, s->project, s->environment,
	         secret_path);
	/* it must be a valid manifest (against the config too) before it is written */
	struct rotor_manifest_set set;
	struct rotor_diags d;
	rotor_manifest_set_init(&set);
	rotor_diags_init(&d);
	int bad = rotor_manifest_parse(&set, file, text, strlen(text), &d) != 0 ||
	          rotor_manifest_set_check_config(&set, cfg, &d) != 0;
	if (bad) {
		rotor_diags_print(&d, stderr);
		fprintf(stderr,
		        "rotor discover: the manifest for %s would be invalid: not written\n",
		        f->u.name);
	}
	rotor_diags_dispose(&d);
	rotor_manifest_set_dispose(&set);
	if (bad)
		return -1;
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		if (errno == EEXIST) {
			fprintf(stderr, "rotor discover: %s exists: not overwritten\n", file);
			(*kept)++;
			return 0;
		}
		fprintf(stderr, "rotor discover: cannot create %s: %s\n", file, strerror(errno));
		return -1;
	}
	size_t len = strlen(text);
	int ok = write(fd, text, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "rotor discover: writing %s failed\n", file);
		return -1;
	}
	(*written)++;
	return 0;
}

/* ---- the command --------------------------------------------------------------------- */

int cmd_discover(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"aws", required_argument, NULL, 'a'},
	    {"all", no_argument, NULL, 'A'},
	    {"older-than", required_argument, NULL, 'o'},
	    {"path-prefix", required_argument, NULL, 'p'},
	    {"format", required_argument, NULL, 'f'},
	    {"scaffold", required_argument, NULL, 's'},
	    {"store-connection", required_argument, NULL, 'S'},
	    {"project", required_argument, NULL, 'P'},
	    {"environment", required_argument, NULL, 'E'},
	    {"store-path", required_argument, NULL, 'T'},
	    {"page-size", required_argument, NULL, 'z'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_flag = NULL, *aws = NULL, *older = "90d", *prefix = NULL,
	           *format = "text";
	struct scaffold sc = {NULL, NULL, NULL, NULL, "/aws/{name}", NULL, 0};
	int all = 0, page_size = 0, opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_flag = optarg;
			break;
		case 'a':
			aws = optarg;
			break;
		case 'A':
			all = 1;
			break;
		case 'o':
			older = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 's':
			sc.dir = optarg;
			break;
		case 'S':
			sc.store_connection = optarg;
			break;
		case 'P':
			sc.project = optarg;
			break;
		case 'E':
			sc.environment = optarg;
			break;
		case 'T':
			sc.path_template = optarg;
			break;
		case 'z':
			page_size = cmd_parse_count(optarg);
			if (page_size < 1 || page_size > 1000) {
				fprintf(stderr, "rotor discover: --page-size must be 1..1000\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(USAGE, stdout);
			return EXIT_OK;
		default:
			fputs(USAGE, stderr);
			return EXIT_USAGE;
		}
	}
	int64_t older_than = 0;
	char why[128];
	if (rotor_duration_parse(&older_than, older, why, sizeof(why)) != 0) {
		fprintf(stderr, "rotor discover: --older-than \"%s\": %s\n", older, why);
		return EXIT_USAGE;
	}
	if (!!aws == !!all) {
		fprintf(stderr, "rotor discover: give --aws CONNECTION or --all\n%s", USAGE);
		return EXIT_USAGE;
	}
	if (strcmp(format, "text") && strcmp(format, "markdown") && strcmp(format, "json") &&
	    strcmp(format, "csv")) {
		fprintf(stderr, "rotor discover: --format must be text, markdown, json or csv\n");
		return EXIT_USAGE;
	}
	if (prefix && (prefix[0] != '/' || prefix[strlen(prefix) - 1] != '/')) {
		fprintf(stderr,
		        "rotor discover: --path-prefix must start and end with '/' (\"/ci/\")\n");
		return EXIT_USAGE;
	}
	session_log_setup(ROTOR_LOG_WARN);
	const char *path = NULL;
	struct rotor_config *cfg = NULL;
	int loaded = cmd_config_resolved("discover", config_flag, &path, &cfg);
	if (loaded)
		return loaded;
	struct rotor_diags diags;
	if (aws && !rotor_config_aws(cfg, aws)) {
		fprintf(stderr, "rotor discover: no aws connection named \"%s\" in %s\n", aws,
		        path);
		rotor_config_free(cfg);
		return EXIT_USAGE;
	}
	if (sc.dir) {
		if (!sc.store_connection && cfg->ninfisical == 1)
			sc.store_connection = cfg->infisical[0].name;
		if (!sc.store_connection || !sc.project || !sc.environment) {
			fprintf(stderr,
			        "rotor discover: --scaffold needs --project and --environment (and "
			        "--store-connection when the config has more than one infisical "
			        "connection)\n");
			rotor_config_free(cfg);
			return EXIT_USAGE;
		}
		struct stat st;
		if (stat(sc.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "rotor discover: --scaffold %s is not a directory\n",
			        sc.dir);
			rotor_config_free(cfg);
			return EXIT_USAGE;
		}
	}
	/* which manifests exist: PATHs, or the config's source when it has one */
	struct rotor_manifest_set set;
	rotor_manifest_set_init(&set);
	int have_set = 0;
	if (optind < argc || cfg->source.present) {
		char commit[41] = "", err_why[ROTOR_ERROR_MSG_MAX] = "";
		rotor_diags_init(&diags);
		int rc = cmd_load_manifests(&set, argv + optind, (size_t)(argc - optind), cfg, NULL,
		                            commit, &diags, err_why, sizeof(err_why));
		if (rc) {
			rotor_diags_sort(&diags);
			rotor_diags_print(&diags, stderr);
			if (err_why[0])
				fprintf(stderr, "rotor discover: %s\n", err_why);
			rotor_diags_dispose(&diags);
			rotor_manifest_set_dispose(&set);
			rotor_config_free(cfg);
			return rc == ROTOR_EINVALID ? EXIT_INVALID : EXIT_ERROR;
		}
		rotor_diags_dispose(&diags);
		have_set = 1;
	}
	struct rotor_engine *e = NULL;
	struct rotor_error err;
	rotor_error_clear(&err);
	if (rotor_engine_new(&e, cfg, NULL, &err) != 0) {
		fprintf(stderr, "rotor discover: %s\n", err.message);
		rotor_manifest_set_dispose(&set);
		rotor_config_free(cfg);
		return EXIT_ERROR;
	}
	struct walk w;
	memset(&w, 0, sizeof(w));
	w.set = have_set ? &set : NULL;
	w.now = rotor_clock_real()->now(rotor_clock_real());
	w.older_than = older_than;
	w.tty = isatty(STDERR_FILENO);
	int status = EXIT_OK;
	for (size_t i = 0; i < cfg->naws; i++) {
		if (aws && strcmp(cfg->aws[i].name, aws) != 0)
			continue;
		w.connection = cfg->aws[i].name;
		rotor_error_clear(&err);
		if (rotor_engine_discover(e, w.connection, prefix, page_size, each, &w, &err) !=
		    0) {
			fprintf(stderr, "%srotor discover: %s\n", w.tty ? "\n" : "", err.message);
			status = EXIT_ERROR;
		}
	}
	if (w.tty)
		fprintf(stderr, "\r%60s\r", "");
	if (w.oom) {
		fprintf(stderr, "rotor discover: out of memory\n");
		status = EXIT_ERROR;
	}
	qsort(w.items, w.n, sizeof(*w.items), by_group);
	for (size_t i = 0; i < w.n; i++)
		if (w.items[i].u.error[0])
			status = EXIT_ERROR; /* a partial report is not a success */
	if (strcmp(format, "json") == 0)
		print_json(&w, older);
	else if (strcmp(format, "csv") == 0)
		print_csv(&w);
	else if (strcmp(format, "markdown") == 0)
		print_markdown(&w, older);
	else
		print_text(&w, older);
	if (sc.dir) {
		int written = 0, kept = 0;
		sc.used = calloc(w.n ? w.n : 1, sizeof(*sc.used));
		for (size_t i = 0; i < w.n; i++)
			if (w.items[i].group <= 1 &&
			    scaffold_one(&sc, &w.items[i], cfg, &written, &kept))
				status = EXIT_ERROR;
		fprintf(stderr,
		        "rotor discover: scaffolded %d manifest%s in %s (%d existing kept)\n",
		        written, written == 1 ? "" : "s", sc.dir, kept);
		free(sc.used);
	}
	free(w.items);
	rotor_engine_free(e);
	rotor_manifest_set_dispose(&set);
	rotor_config_free(cfg);
	return status;
}
