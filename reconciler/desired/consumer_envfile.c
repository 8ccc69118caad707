/* consumer_envfile.c: `envFile: {path, reload?, ssh?}` (consumer_kind.h): a
 * file on this machine, inside one of the config's envFiles.allowedDirs, or
 * with ssh on that connection's host, inside its own allowedDirs and with
 * one of its own reload commands. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "desired/consumer_kind.h"

static void parse(struct yctx *c, const struct ydoc_node *const *nodes,
                  const struct ydoc_node *akid, const struct ydoc_node *sak, const char *what,
                  struct rotor_consumer *out)
{
	char field[128];
	(void)akid;
	(void)sak;
	snprintf(field, sizeof(field), "%s.path", what);
	if (rotor_yget_string(c, nodes[0], field, &out->path) == 0 && out->path) {
		out->path_pos = rotor_ypos(c, nodes[0]);
		if (out->path[0] != '/')
			rotor_yerr(c, nodes[0], "%s must be an absolute path, not \"%s\"", field,
			           out->path);
		else if (strlen(out->path) > 1024)
			rotor_yerr(c, nodes[0], "%s is longer than 1024 characters", field);
	}
	snprintf(field, sizeof(field), "%s.reload", what);
	if (rotor_yget_string(c, nodes[1], field, &out->reload) == 0 && nodes[1])
		out->reload_pos = rotor_ypos(c, nodes[1]);
	snprintf(field, sizeof(field), "%s.ssh", what);
	if (rotor_yget_string(c, nodes[2], field, &out->ssh) == 0 && nodes[2])
		out->ssh_pos = rotor_ypos(c, nodes[2]);
}

/* Lexical check that path has no "." or ".." parts and lies below dir. */
static int path_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strncmp(path, dir, n) != 0 || path[n] != '/' || path[n + 1] == '\0')
		return 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += len;
	}
	return 1;
}

/* Walks the components below dir that exist on this machine and returns
 * the first that is a symbolic link (writing its path to buf), or 0. Where
 * the directory does not exist here (validate in a CI job), nothing is
 * checked: the env-file writer checks again, with O_NOFOLLOW, at write time. */
static int symlink_below(const char *path, const char *dir, char *buf, size_t len)
{
	size_t n = strlen(dir);
	if (strlen(path) >= len)
		return 0; /* too long to check here: refused by validation (1024) */
	snprintf(buf, len, "%s", path);
	for (size_t i = n + 1; i <= strlen(path); i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		buf[i] = '\0';
		struct stat st;
		if (lstat(buf, &st) != 0)
			return 0;
		if (S_ISLNK(st.st_mode))
			return 1;
		buf[i] = path[i];
	}
	return 0;
}

static void check_config(struct rotor_diags *d, const struct rotor_config *cfg,
                         const struct rotor_consumer *k)
{
	const char *dir = NULL, *origin = cfg->origin;
	char link[4096], where[200];
	const char *dirs_field = "envFiles.allowedDirs", *reload_field = "envFiles.reload";
	if (k->ssh) {
		const struct rotor_ssh_connection *s = rotor_config_ssh(cfg, k->ssh);
		rotor_check_connection(d, cfg, &k->ssh_pos, k->ssh, "ssh", "envFile.ssh",
		                       s != NULL);
		if (!s)
			return;
		cfg = s->files; /* that host's directories and commands */
		snprintf(where, sizeof(where), "connections.ssh.%s.", s->name);
		dirs_field = "allowedDirs", reload_field = "reload";
	}
	for (size_t i = 0; i < cfg->nallowed_dirs && !dir; i++)
		if (path_inside(k->path, cfg->allowed_dirs[i]))
			dir = cfg->allowed_dirs[i];
	if (!dir) {
		char list[512] = "";
		for (size_t i = 0; i < cfg->nallowed_dirs; i++) {
			size_t used = strlen(list);
			snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
			         cfg->allowed_dirs[i]);
		}
		rotor_diags_add(d, ROTOR_DIAG_ERROR, k->path_pos.file, k->path_pos.line,
		                k->path_pos.col,
		                "envFile path \"%s\" is not inside an allowed directory (%s; set "
		                "by %s%s in %s); '.' and '..' are not allowed",
		                k->path, cfg->nallowed_dirs ? list : "none configured",
		                k->ssh ? where : "", dirs_field, origin);
	} else if (!k->ssh && symlink_below(k->path, dir, link, sizeof(link))) {
		rotor_diags_add(d, ROTOR_DIAG_ERROR, k->path_pos.file, k->path_pos.line,
		                k->path_pos.col,
		                "envFile path \"%s\" passes through the symbolic link %s; rotor "
		                "does not follow links out of allowed directories",
		                k->path, link);
	}
	if (k->reload && !rotor_config_reload(cfg, k->reload))
		rotor_diags_add(d, ROTOR_DIAG_ERROR, k->reload_pos.file, k->reload_pos.line,
		                k->reload_pos.col,
		                "envFile reload \"%s\" is not defined in %s (add it "
		                "under %s%s)",
		                k->reload, origin, k->ssh ? where : "", reload_field);
}

static void targets(const struct rotor_consumer *k, consumer_target_fn add, void *ctx)
{
	char path[1024], key[1100];
	rotor_canon_path(path, sizeof(path), k->path ? k->path : "");
	snprintf(key, sizeof(key), "envfile\x1f%s\x1f%s", k->ssh ? k->ssh : "", path);
	add(ctx, &k->path_pos, k->ssh ? "env file over ssh" : "env file", path, key);
}

const struct consumer_kind rotor_consumer_kind_envfile = {
    "envFile",
    ROTOR_CONSUMER_ENVFILE,
    {{"path", 1}, {"reload", 0}, {"ssh", 0}},
    3,
    parse,
    check_config,
    targets,
};
