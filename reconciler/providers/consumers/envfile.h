/*
 * envfile.h (internal): what envfile.c and sshfile.c share: the dotenv
 * content rules (every other line kept, values quoted when needed, a name
 * set twice must hold the pair both times) applied to bytes, wherever the
 * file lives, and env files on a host reached over SSH.
 * Thread rules: pure functions; sshfile calls open a session of their own.
 */
#ifndef ROTOR_ENVFILE_H
#define ROTOR_ENVFILE_H

#include <stddef.h>

#include "providers/consumers/consumer.h"
#include "rotor/config.h"
#include "util/buf.h"

#define ROTOR_ENVFILE_MAX ((size_t)1024 * 1024) /* the largest env file read or written */

/* content against want: in sync or drifted (detail names what differs). */
int rotor_envfile_content_state(const struct rotor_buf *content, const struct rotor_consumer_ref *c,
                                const struct rotor_consumer_pair *want,
                                enum rotor_consumer_state *state, char *detail, size_t len,
                                struct rotor_error *err);
/* old with the pair in it, checked to read back as the pair. */
int rotor_envfile_content_with(const struct rotor_buf *old, const struct rotor_consumer_ref *c,
                               const struct rotor_consumer_pair *pair, struct rotor_buf *out,
                               struct rotor_error *err);

/* The length of the directory of files->allowed_dirs (an envFiles part)
 * that path lies below, lexically, with no '.' or '..' component; 0 when
 * none. */
size_t rotor_envfile_allowed_dir(const struct rotor_config *files, const char *path);

/* The file of c on the host of s (sshfile.c): observe, and write (temp file
 * in the same directory over SFTP, fsync, mode 0600, atomic replace, the
 * named reload, read back; a reload that fails puts the old content back). */
int rotor_sshfile_observe(const struct rotor_ssh_connection *s, const struct rotor_consumer_ref *c,
                          const struct rotor_consumer_pair *want, enum rotor_consumer_state *state,
                          char *detail, size_t len, struct rotor_error *err);
int rotor_sshfile_write(const struct rotor_ssh_connection *s, const struct rotor_consumer_ref *c,
                        const struct rotor_consumer_pair *pair, struct rotor_error *err);

#endif
