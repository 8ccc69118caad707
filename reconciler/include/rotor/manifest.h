/*
 * manifest.h: the desired state — AccessKeyRotation manifests, parsed and
 * validated from bytes (the parser never opens files; see source.h).
 *
 * A struct rotor_manifest_set owns every manifest and every string in it.
 * Parsing adds each problem it finds to a struct rotor_diags with its
 * position and keeps going; a manifest with errors is not added to the set.
 * Contract: ../shared/design/rotation.md §1, §5a; user doc: docs/manifest.md.
 */
/* Thread rules: parsing into a set: one thread per set; a loaded set is read-only
 * and may be read from any thread. */
#ifndef ROTOR_MANIFEST_H
#define ROTOR_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "rotor/diag.h"

struct rotor_config;

/* Defaults of §1. */
#define ROTOR_DEFAULT_CADENCE ((int64_t)90 * 86400)
#define ROTOR_DEFAULT_DEACTIVATE_AFTER ((int64_t)3600)
#define ROTOR_DEFAULT_DELETE_AFTER ((int64_t)7 * 86400)
#define ROTOR_DEFAULT_AKID_NAME "AWS_ACCESS_KEY_ID"
#define ROTOR_DEFAULT_SECRET_NAME "AWS_SECRET_ACCESS_KEY"

/* Caps that keep a hostile or broken repository from exhausting memory. */
#define ROTOR_MANIFEST_FILE_MAX ((size_t)1024 * 1024)       /* one file */
#define ROTOR_MANIFEST_TREE_MAX ((size_t)256 * 1024 * 1024) /* all files of a walk */
#define ROTOR_MANIFEST_MAX_CONSUMERS 64
#define ROTOR_MANIFEST_MAX_LABELS 32

enum rotor_mode {
	ROTOR_MODE_ENFORCE = 0, /* apply the plan */
	ROTOR_MODE_OBSERVE = 1, /* report what would be done; never mutate */
};

enum rotor_consumer_kind {
	ROTOR_CONSUMER_HEROKU = 0,
	ROTOR_CONSUMER_GITHUB = 1,
	ROTOR_CONSUMER_ENVFILE = 2,
	ROTOR_CONSUMER__COUNT
};

/* Where a value came from, for messages that point back at the manifest. */
struct rotor_pos {
	const char *file; /* owned by the set */
	int line, col;
};

struct rotor_label {
	char *key;
	char *value;
};

struct rotor_consumer {
	char *name; /* unique within the manifest */
	enum rotor_consumer_kind kind;
	char *connection;   /* heroku/github connection name; NULL for envFile */
	char *app;          /* heroku: app name or id */
	char *repository;   /* github: "owner/repo" */
	char *environment;  /* github: optional environment name */
	char *organization; /* github: an organisation secret instead of a repository's */
	char *visibility;   /* github organisation: all | private | selected */
	char **selected;    /* github organisation, visibility selected: owner/name */
	size_t nselected;
	char *path;      /* envFile: absolute path */
	char *reload;    /* envFile: optional reload command name */
	char *ssh;       /* envFile: the ssh connection of its host; NULL: this machine */
	char *akid_name; /* variable names; default the store's */
	char *secret_name;
	struct rotor_pos pos; /* the consumer's entry */
	struct rotor_pos connection_pos, path_pos, reload_pos, ssh_pos;
};

struct rotor_infisical_store {
	char *connection;
	char *project_id;
	char *environment;
	char *secret_path; /* default "/" */
	char *akid_name;   /* default AWS_ACCESS_KEY_ID */
	char *secret_name; /* default AWS_SECRET_ACCESS_KEY */
	struct rotor_pos connection_pos;
};

/* spec.windows[]: when rotor may change the user. */
#define ROTOR_MANIFEST_MAX_WINDOWS 16
struct rotor_window {
	unsigned days;          /* bit 0 Monday .. bit 6 Sunday */
	int start_min, end_min; /* minutes of the local day; start < end <= 1440 */
	char *time_zone;        /* IANA name; "UTC" by default */
	struct rotor_pos pos;
};

struct rotor_manifest {
	char *name; /* metadata.name: [a-z0-9-], 1..63 */
	struct rotor_label *labels;
	size_t nlabels;
	char *user;      /* IAM user name */
	char *aws;       /* AWS connection name */
	int64_t cadence; /* seconds */
	int64_t deactivate_after;
	int64_t delete_after;
	int64_t rotate_requested_at; /* Unix seconds; 0 when absent */
	int suspend;
	enum rotor_mode mode;
	struct rotor_infisical_store store;
	struct rotor_consumer *consumers;
	size_t nconsumers;
	struct rotor_window *windows; /* none: any time */
	size_t nwindows;
	struct rotor_pos pos; /* the document's start */
	struct rotor_pos name_pos, user_pos, aws_pos;
	int skipped; /* parse only: not a manifest (a kind: Config) */
};

struct rotor_manifest_set {
	struct rotor_manifest *items;
	size_t n, cap;
	char **files; /* origin names, owned */
	size_t nfiles;
	size_t bytes_read;     /* for the tree cap */
	size_t documents;      /* AccessKeyRotation documents seen, valid or not */
	const char *skip_path; /* a file the walk must not read (the --config file) */
};

void rotor_manifest_set_init(struct rotor_manifest_set *set);
void rotor_manifest_set_dispose(struct rotor_manifest_set *set);

/* Parses every document of one file's bytes and adds the valid manifests to
 * set. Returns 0 when the file added no errors, ROTOR_EINVALID otherwise,
 * ROTOR_ENOMEM on allocation failure. */
int rotor_manifest_parse(struct rotor_manifest_set *set, const char *origin, const char *data,
                         size_t len, struct rotor_diags *diags);

/* Checks across manifests: duplicate metadata.name, two manifests claiming
 * one (aws, user) pair. Returns 0 or ROTOR_EINVALID. */
/* Parses every manifest file under PATHs (rotor_source_walk's rules) into
 * set; problems go to diags. 0, ROTOR_EINVALID or ROTOR_ENOMEM. */
int rotor_manifest_load_paths(struct rotor_manifest_set *set, char *const *paths, size_t npaths,
                              struct rotor_diags *diags);
int rotor_manifest_set_check(const struct rotor_manifest_set *set, struct rotor_diags *diags);

/* The same from git (rotor/gitsource.h): the source's cache at rev (NULL:
 * the fetched branch head), or the repository around dir, narrowed to
 * paths. *commit gets the commit read. ROTOR_EINVALID (diags say why),
 * or another error in err (no such commit, no such path). */
struct rotor_git_source;
struct rotor_error;
int rotor_manifest_load_git(struct rotor_manifest_set *set, const struct rotor_git_source *src,
                            const char *rev, char commit[41], struct rotor_diags *diags,
                            struct rotor_error *err);
int rotor_manifest_load_git_local(struct rotor_manifest_set *set, const char *dir, const char *rev,
                                  char *const *paths, size_t npaths, char commit[41],
                                  struct rotor_diags *diags, struct rotor_error *err);

/* Every manifest a run reads: under paths, or (npaths 0) from cfg's git
 * source, fetched first, at rev (NULL: the branch head; *commit gets the
 * commit read, "" for paths); then checked across the set and, with cfg,
 * against it. ROTOR_EINVALID (diags say why), or another error in err
 * (the fetch, no such commit, out of memory). */
int rotor_manifest_load(struct rotor_manifest_set *set, const struct rotor_config *cfg,
                        char *const *paths, size_t npaths, const char *rev, char commit[41],
                        struct rotor_diags *diags, struct rotor_error *err);

/* Checks against a controller config: connections exist and have the right
 * kind, envFile paths lie inside an allowed directory, reload names exist. */
int rotor_manifest_set_check_config(const struct rotor_manifest_set *set,
                                    const struct rotor_config *cfg, struct rotor_diags *diags);

const struct rotor_manifest *rotor_manifest_set_find(const struct rotor_manifest_set *set,
                                                     const char *name);
const char *rotor_mode_name(enum rotor_mode mode);
const char *rotor_consumer_kind_name(enum rotor_consumer_kind kind);

#endif
