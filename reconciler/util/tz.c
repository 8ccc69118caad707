/* tz.c: zone offsets from TZif files (util/tz.h). */
#include "util/tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/error.h"
#include "rotor/source.h"

#define TZ_MAX_ZONES 64
#define TZIF_MAX ((size_t)512 * 1024)

struct zone {
	char name[128];
	int ok;
	int64_t *when; /* transition times, ascending */
	int32_t *off;  /* the offset from each transition on */
	size_t n;
	int32_t first; /* before the first transition */
};

static struct zone zones[TZ_MAX_ZONES];
static size_t nzones;
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int rotor_tz_name_valid(const char *name)
{
	if (!name || !*name || strlen(name) >= 100 || name[0] == '/' || strstr(name, ".."))
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_+-/", *p)))
			return 0;
	return 1;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The 64-bit body of a version 2+ TZif file (after the v1 body). */
static int parse_tzif(struct zone *z, const unsigned char *d, size_t len)
{
	if (len < 44 || memcmp(d, "TZif", 4) != 0 || d[4] < '2')
		return -1;
	/* skip the v1 header and body */
	uint32_t isut = be32(d + 20), isstd = be32(d + 24), leap = be32(d + 28), tim = be32(d + 32),
	         typ = be32(d + 36), chr = be32(d + 40);
	size_t v1 = 44 + (size_t)tim * 5 + (size_t)typ * 6 + chr + (size_t)leap * 8 + isstd + isut;
	if (v1 + 44 > len)
		return -1;
	const unsigned char *h = d + v1;
	if (memcmp(h, "TZif", 4) != 0)
		return -1;
	isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28), tim = be32(h + 32),
	typ = be32(h + 36), chr = be32(h + 40);
	if (typ == 0 || tim > 10000 || typ > 256)
		return -1;
	size_t need = 44 + (size_t)tim * 9 + (size_t)typ * 6;
	if (v1 + need > len)
		return -1;
	const unsigned char *times = h + 44, *idx = times + (size_t)tim * 8, *types = idx + tim;
	z->when = calloc(tim ? tim : 1, sizeof(*z->when));
	z->off = calloc(tim ? tim : 1, sizeof(*z->off));
	if (!z->when || !z->off)
		return -1;
	for (uint32_t i = 0; i < tim; i++) {
		if (idx[i] >= typ)
			return -1;
		z->when[i] = be64(times + (size_t)i * 8);
		z->off[i] = (int32_t)be32(types + (size_t)idx[i] * 6);
	}
	z->n = tim;
	/* before the first transition: the first non-DST type (as zic writes it, type 0) */
	z->first = (int32_t)be32(types);
	(void)chr;
	return 0;
}

static struct zone *load(const char *name)
{
	for (size_t i = 0; i < nzones; i++)
		if (strcmp(zones[i].name, name) == 0)
			return &zones[i];
	if (nzones == TZ_MAX_ZONES)
		return NULL;
	struct zone *z = &zones[nzones++];
	memset(z, 0, sizeof(*z));
	snprintf(z->name, sizeof(z->name), "%s", name);
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
		z->ok = 1;
		return z;
	}
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	char *data = NULL;
	size_t len = 0;
	struct rotor_error err;
	if (rotor_source_read_file(&data, &len, path, TZIF_MAX, &err) == 0 &&
	    parse_tzif(z, (const unsigned char *)data, len) == 0)
		z->ok = 1;
	free(data);
	return z;
}

int rotor_tz_offset(const char *name, int64_t t, int32_t *offset)
{
	*offset = 0;
	if (!rotor_tz_name_valid(name))
		return -1;
	pthread_mutex_lock(&tz_lock);
	struct zone *z = load(name);
	int rc = z && z->ok ? 0 : -1;
	if (!rc) {
		*offset = z->first;
		for (size_t i = 0; i < z->n && z->when[i] <= t; i++)
			*offset = z->off[i];
	}
	pthread_mutex_unlock(&tz_lock);
	return rc;
}
