/* privdir.c: a directory only rotor's user may write (see rotor/privdir.h). */
#include "rotor/privdir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rotor_private_dir_make(const char *dir, const char *what, const char *fix,
                           struct rotor_error *err)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return rotor_error_set(err, ROTOR_EIO, "%s %s: path too long", what, dir);
	for (char *p = path + 1;; p++) {
		int end = *p == '\0';
		if (*p == '/' || end) {
			*p = '\0';
			if (mkdir(path, 0700) != 0 && errno != EEXIST)
				return rotor_error_set(err, ROTOR_EIO,
				                       "cannot create the %s %s: %s (%s)", what,
				                       path, strerror(errno), fix);
			if (end)
				break;
			*p = '/';
		}
	}
	struct stat st;
	memset(&st, 0, sizeof(st));
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0)
		return rotor_error_set(err, ROTOR_EIO,
		                       "the %s %s is not a directory of this user that only it "
		                       "can write (owner %u, mode %04o): fix it, or %s",
		                       what, path, (unsigned)st.st_uid,
		                       (unsigned)(st.st_mode & 07777), fix);
	return 0;
}
