/*
 * record.c: rotor's progress record, kept in IAM user tags.
 *
 * What IAM cannot tell — that rotor created a key, for which manifest,
 * when every consumer held it, when it was deactivated, which store
 * version rotor wrote — is kept with the resource so any machine sees the
 * same truth. Each key's record is a user tag whose key is the access key
 * id (the console shows it as that key's description). Values stay well
 * under IAM's 256 characters and use only its allowed characters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/engine.h"
#include "rotor/timefmt.h"

static void put_time(char *buf, size_t len, const char *name, int64_t t)
{
	char ts[ROTOR_TIME_STR_MAX];
	size_t used = strlen(buf);
	if (!t || used >= len)
		return;
	rotor_time_format(ts, sizeof(ts), t);
	snprintf(buf + used, len - used, " %s=%s", name, ts);
}

void rotor_record_format(char *buf, size_t len, const struct rotor_key_record *r)
{
	snprintf(buf, len, "rotor v1 m=%s", r->manifest);
	put_time(buf, len, "c", r->created);
	put_time(buf, len, "s", r->synced);
	put_time(buf, len, "i", r->inactive);
	if (r->store_version) {
		size_t used = strlen(buf);
		if (used < len)
			snprintf(buf + used, len - used, " sv=%lld", (long long)r->store_version);
	}
}

/* Walks "k=v" words after a prefix; unknown fields are ignored so a later
 * rotor can add some without breaking this one. */
static int parse_fields(const char *p, struct rotor_key_record *r, char *manifest, size_t mlen,
                        int64_t *at)
{
	char word[160];
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 0)
			break;
		if (n >= sizeof(word))
			return -1;
		memcpy(word, p, n);
		word[n] = '\0';
		p += n;
		char *eq = strchr(word, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *v = eq + 1;
		int64_t t = 0;
		if (strcmp(word, "m") == 0) {
			snprintf(manifest, mlen, "%s", v);
		} else if (strcmp(word, "sv") == 0 && r) {
			r->store_version = strtoll(v, NULL, 10);
		} else if (strcmp(word, "c") == 0 || strcmp(word, "s") == 0 ||
		           strcmp(word, "i") == 0 || strcmp(word, "at") == 0) {
			if (rotor_time_parse(&t, v, NULL, 0) != 0)
				return -1;
			if (r && word[0] == 'c')
				r->created = t;
			else if (r && word[0] == 's')
				r->synced = t;
			else if (r && word[0] == 'i')
				r->inactive = t;
			else if (at && word[0] == 'a')
				*at = t;
		}
	}
	return 0;
}

int rotor_record_parse(const char *value, struct rotor_key_record *r)
{
	memset(r, 0, sizeof(*r));
	if (strncmp(value, "rotor v1 ", 9) != 0)
		return -1;
	if (parse_fields(value + 9, r, r->manifest, sizeof(r->manifest), NULL) != 0) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	r->present = 1;
	return 0;
}

void rotor_intent_format(char *buf, size_t len, const char *manifest, int64_t at,
                         const char *holder)
{
	char ts[ROTOR_TIME_STR_MAX];
	rotor_time_format(ts, sizeof(ts), at);
	snprintf(buf, len, "v1 m=%s at=%s%s%s", manifest, ts, holder ? " h=" : "",
	         holder ? holder : "");
}

int rotor_intent_parse(const char *value, char *manifest, size_t mlen, int64_t *at)
{
	*at = 0;
	manifest[0] = '\0';
	if (strncmp(value, "v1 ", 3) != 0)
		return -1;
	if (parse_fields(value + 3, NULL, manifest, mlen, at) != 0 || !*at)
		return -1;
	return 0;
}

int rotor_intent_holder(const char *value, char *holder, size_t len)
{
	const char *h = strstr(value, " h=");
	holder[0] = '\0';
	if (!h)
		return -1;
	h += 3;
	size_t n = strcspn(h, " ");
	snprintf(holder, len, "%.*s", (int)n, h);
	return n ? 0 : -1;
}
